"""Faults at random instants: the remote restorable after each, the next push completing.

``kill -9`` of ``pond backup push``; ``kill -9`` of the S3 server mid-push, restarted on the
same directory; an endpoint nobody answers.  Ten trials each, on a pond whose push takes
long enough (many versions, some megabytes of blobs) for the kills to land inside it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.backup import Remote, push, restore
from duckpond.testing.s3server import S3Server

from .conftest import backup_doc, snapshot

TRIALS = 10
POND = Path(sys.executable).with_name("pond")


def _grow(pond: Pond, rng: random.Random, commits: int) -> None:
    for i in range(commits):
        pond.write_bytes(f"/d/f{pond.last_txn}.bin", rng.randbytes(rng.choice([300, 400_000])))
        if i % 5 == 0:
            pond.write_bytes("/d/log.txt", f"{pond.last_txn}\n".encode())


def _restorable(url: str, where: Path, pushed_at_least: int) -> int:
    """Restore ``url`` into ``where``; the restore must be a clean pond at some committed txn
    (or, before the first push got a version through, there is no backup yet)."""
    if pushed_at_least == 0 and Remote(url).tip() < 0:
        return 0
    report = restore(url, where)
    restored = Pond.open(where)
    assert restored.fsck().ok
    assert report.txn_seq >= pushed_at_least
    shutil.rmtree(where)
    return report.txn_seq


def _env(server: S3Server, pond_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "POND"}
    env.update(server.env())
    env["POND"] = str(pond_dir)
    return env


@pytest.fixture
def own_server(tmp_path: Path) -> S3Server:
    server = S3Server(tmp_path / "weed", buckets=["faults"])
    server.start()
    yield server  # type: ignore[misc]
    server.stop()


def _pond_with_backup(tmp_path: Path, server: S3Server, url: str) -> Pond:
    pond = Pond.init(tmp_path / "pond")
    pond.mkdir("/d")
    doc = tmp_path / "backup.yaml"
    doc.write_text(backup_doc("offsite", url, endpoint=server.endpoint, allow_http="true"))
    pond.pipeline.apply([str(doc)])
    return pond


def test_kill_9_of_push_at_random_instants(own_server: S3Server, tmp_path: Path) -> None:
    rng = random.Random(16)
    url = "s3://faults/kill-push"
    pond = _pond_with_backup(tmp_path, own_server, url)
    env = _env(own_server, pond.path)
    os.environ.update(own_server.env())
    pushed = 0
    interrupted = 0
    # The kill instant is drawn from [longest / 4, longest]; a push that finished before its kill
    # shrinks ``longest`` (a fast machine, a fast push), so the kills land inside pushes on any
    # machine.  Trials go on past TRIALS, up to 4x, until three kills landed inside a push.
    longest = 2.5
    trial = 0
    while trial < TRIALS or (interrupted < 3 and trial < 4 * TRIALS):
        _grow(pond, rng, 6)
        child = subprocess.Popen(
            [str(POND), "backup", "push"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(rng.uniform(longest / 4, longest))
        if child.poll() is None:
            interrupted += 1
        else:
            longest = max(0.15, longest * 0.6)
        child.send_signal(signal.SIGKILL)
        child.wait()
        pushed = _restorable(url, tmp_path / f"r{trial}", pushed)
        assert pushed <= pond.last_txn
        trial += 1
    print(f"{interrupted} of {trial} kills landed inside a push")
    assert interrupted >= 3, f"the kills never landed inside a push ({trial} trials)"
    report = push(pond.path, Remote(url), "offsite")
    assert report.last_txn == pond.last_txn
    restore(url, tmp_path / "final")
    assert snapshot(tmp_path / "final") == snapshot(pond.path)


@pytest.mark.slow
def test_kill_9_of_the_server_mid_push_then_restart(own_server: S3Server, tmp_path: Path) -> None:
    rng = random.Random(17)
    url = "s3://faults/kill-server"
    pond = _pond_with_backup(tmp_path, own_server, url)
    os.environ.update(own_server.env())
    pushed = 0
    failed = 0
    longest = 2.5  # shrinks when a push finished before the kill, as in the test above
    trial = 0
    while trial < TRIALS or (failed < 3 and trial < 4 * TRIALS):
        _grow(pond, rng, 6)
        env = _env(own_server, pond.path)
        child = subprocess.Popen(
            [str(POND), "backup", "push"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(rng.uniform(longest / 4, longest))
        if child.poll() is not None:
            longest = max(0.15, longest * 0.6)
        own_server.kill()
        _, err = child.communicate(timeout=120)
        if child.returncode != 0:
            failed += 1
            lines = err.decode().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
        own_server.start()
        os.environ.update(own_server.env())
        pushed = _restorable(url, tmp_path / f"r{trial}", pushed)
        trial += 1
    print(f"{failed} of {trial} server kills landed inside a push")
    assert failed >= 3, f"the server was never killed inside a push ({trial} trials)"
    report = push(pond.path, Remote(url), "offsite")
    assert report.last_txn == pond.last_txn
    restore(url, tmp_path / "final")
    assert snapshot(tmp_path / "final") == snapshot(pond.path)


def test_unreachable_endpoint_is_one_line_and_exit_1(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    doc = tmp_path / "backup.yaml"
    doc.write_text(backup_doc("offsite", "s3://nowhere/p", endpoint="http://127.0.0.1:9"))
    pond.pipeline.apply([str(doc)])
    env = {k: v for k, v in os.environ.items() if k != "POND"}
    env.update(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s", POND=str(pond.path))
    before = snapshot(pond.path)
    # (An endpoint lost in the middle of a push is the server-kill test above.)
    started = time.monotonic()
    result = subprocess.run(
        [str(POND), "backup", "push"], env=env, capture_output=True, timeout=120
    )
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert lines == ["error: s3://nowhere/p: the endpoint cannot be reached (http://127.0.0.1:9)"]
    assert time.monotonic() - started < 60
    assert snapshot(pond.path) == before
    listed = Pond.open(pond.path).backups.list()
    assert listed[0].last_outcome == "failed" and "cannot be reached" in (
        listed[0].last_error or ""
    )
