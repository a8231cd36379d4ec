"""The pipeline through ``duckpond.Pond``: apply, resources, run."""

from __future__ import annotations

from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.errors import ConfigError, LockTimeoutError
from duckpond.pipeline.run import RunLock

from .conftest import doc, yaml_file


def test_apply_run_and_resources(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.txt").write_text("hello")
    f = yaml_file(
        tmp_path / "r.yaml", doc("Inbox", "{{ name }}", f"{{pattern: '{inbox}/*', settle: 0s}}")
    )
    pond = Pond.init(tmp_path / "pond")
    dry = pond.apply([f], {"name": "drop"}, dry_run=True)
    assert dry.dry_run and [i.action for i in dry.items] == ["created"]
    assert pond.resources() == []
    applied = pond.apply([f], {"name": "drop"})
    assert applied.txn_seq == 2 and applied.directories == ["/inbox/drop"]
    again = pond.apply([f], {"name": "drop"})
    assert again.txn_seq is None and not again.changed
    assert again.items[0].uuid == applied.items[0].uuid
    report = pond.run()
    assert report.ok and [r.name for r in report.results] == ["drop"]
    assert report.results[0].details["new"] == 1 and report.results[0].txn_seq == 3
    assert pond.read_bytes("/inbox/drop/a.txt") == b"hello"
    [info] = pond.resources()
    assert (info.name, info.kind, info.last_outcome) == ("drop", "Inbox", "ok")
    assert pond.sql("SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 1}]
    with pytest.raises(ConfigError, match="no resource named 'other'"):
        pond.run(["other"])


def test_a_held_run_lock_refuses_at_once_without_waiting(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    with RunLock(pond.path, 0):
        # Another process's run holds it; in this process the lock is re-entrant,
        # so look from a child process as cron would.
        import subprocess
        import sys

        code = (
            "import sys; from duckpond import Pond\n"
            "try:\n    Pond.open(sys.argv[1]).run(wait=False)\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n"
        )
        from ..cli.conftest import child_env

        out = subprocess.run(
            [sys.executable, "-c", code, str(pond.path)],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=60,
        )
    assert out.stdout.startswith(f"{LockTimeoutError.__name__} another pond run is under way: pid ")
