"""The pipeline through ``duckpond.Pond``: the ``pond.pipeline`` facet (apply, resources, run,
build_site)."""

from __future__ import annotations

from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.errors import ConfigError, LockTimeoutError, ReadOnlyError
from duckpond.pipeline.run import RunLock
from duckpond.pond import Facet, PondPipeline

from .conftest import doc, yaml_file


def test_apply_run_and_resources(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.txt").write_text("hello")
    f = yaml_file(
        tmp_path / "r.yaml", doc("Inbox", "{{ name }}", f"{{pattern: '{inbox}/*', settle: 0s}}")
    )
    pond = Pond.init(tmp_path / "pond")
    dry = pond.pipeline.apply([f], {"name": "drop"}, dry_run=True)
    assert dry.dry_run and [i.action for i in dry.items] == ["created"]
    assert pond.pipeline.resources() == []
    applied = pond.pipeline.apply([f], {"name": "drop"})
    assert applied.txn_seq == 2 and applied.directories == ["/inbox/drop"]
    again = pond.pipeline.apply([f], {"name": "drop"})
    assert again.txn_seq is None and not again.changed
    assert again.items[0].uuid == applied.items[0].uuid
    report = pond.pipeline.run()
    assert report.ok and [r.name for r in report.results] == ["drop"]
    assert report.results[0].details["new"] == 1 and report.results[0].txn_seq == 3
    assert pond.read_bytes("/inbox/drop/a.txt") == b"hello"
    [info] = pond.pipeline.resources()
    assert (info.name, info.kind, info.last_outcome) == ("drop", "Inbox", "ok")
    assert pond.sql("SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 1}]
    with pytest.raises(ConfigError, match="no resource named 'other'"):
        pond.pipeline.run(["other"])


def test_the_pipeline_verbs_are_a_facet_of_the_pond_and_only_there(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    facet = pond.pipeline
    assert isinstance(facet, PondPipeline) and isinstance(facet, Facet)
    assert facet.pond is pond
    # One name per verb: the facet's, not a second copy on Pond.
    for verb in ("apply", "resources", "run", "build_site", "hydrovu_locations"):
        assert callable(getattr(facet, verb))
        assert not hasattr(pond, verb)
    pond.mkdir("/d")
    past = Pond.open(pond.path, at_txn=1)
    assert past.pipeline.resources() == []
    with pytest.raises(ReadOnlyError, match="cannot run resources"):
        past.pipeline.run()


def test_site_build_and_errors_through_the_facet(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    with pytest.raises(ConfigError, match="no Site resource named 'public'"):
        pond.pipeline.build_site("public")
    inbox = tmp_path / "in"
    inbox.mkdir()
    f = yaml_file(tmp_path / "r.yaml", doc("Inbox", "drop", f"{{pattern: '{inbox}/*'}}"))
    pond.pipeline.apply([f])
    with pytest.raises(ConfigError, match="not a Site"):
        pond.pipeline.build_site("drop")
    with pytest.raises(ConfigError, match="not a HydroVu"):
        pond.pipeline.hydrovu_locations("drop")


def test_a_held_run_lock_refuses_at_once_without_waiting(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    with RunLock(pond.path, 0):
        # Another process's run holds it; in this process the lock is re-entrant,
        # so look from a child process as cron would.
        import subprocess
        import sys

        code = (
            "import sys; from duckpond import Pond\n"
            "try:\n    Pond.open(sys.argv[1]).pipeline.run(wait=False)\n"
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
