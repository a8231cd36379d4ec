"""``pond run`` with a Backup: nothing new is decided from local files, anything new is pushed."""

from __future__ import annotations

import shutil
from pathlib import Path

from duckpond import Pond
from duckpond.backup.state import state_path
from duckpond.pipeline.run import RunResult
from duckpond.testing.s3server import S3Server

from .conftest import apply_text, backup_doc, snapshot


def backup_run(pond: Pond) -> RunResult:
    report = pond.pipeline.run()
    [result] = report.results
    assert result.outcome == "ok", result.error
    return result


def test_nothing_new_commits_nothing_and_asks_no_remote_but_something_new_is_pushed(
    tmp_path: Path,
) -> None:
    remote = tmp_path / "remote"
    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/a.txt", b"first")
    apply_text(pond, tmp_path, backup_doc("offsite", f"file://{remote}"))
    first = backup_run(pond)
    assert "pushed" in first.summary and first.details["objects_sent"] > 0
    newest = pond.last_txn

    quiet = backup_run(pond)
    assert "nothing new" in quiet.summary and quiet.details == {}
    assert quiet.txn_seq is None and pond.last_txn == newest
    assert pond.backups.list()[0].lag_txns == 0

    # The remote is not looked at when the local record says it holds everything.
    shutil.rmtree(remote)
    assert "nothing new" in backup_run(pond).summary
    assert not remote.exists()

    # Something new: pushed, and the remote (emptied meanwhile) is whole again.
    pond.write_bytes("/b.txt", b"second")
    again = backup_run(pond)
    assert "pushed" in again.summary and again.details["objects_sent"] > 0
    assert pond.backups.list()[0].lag_txns == 0
    restored = tmp_path / "restored"
    Pond.restore(f"file://{remote}", restored)
    assert snapshot(restored) == snapshot(pond.path)


def test_a_missing_or_failed_local_record_makes_the_run_look_at_the_remote(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/a.txt", b"first")
    doc = backup_doc("offsite", s3_url, endpoint=s3_server.endpoint, allow_http="true")
    apply_text(pond, tmp_path, doc)
    backup_run(pond)
    assert "nothing new" in backup_run(pond).summary

    # No record: the run cannot tell, so it pushes (finding the remote up to date).
    state_path(pond.path, "offsite").unlink()
    looked = backup_run(pond)
    assert "pushed" in looked.summary and looked.details["objects_sent"] == 0
    assert state_path(pond.path, "offsite").exists()
    assert pond.backups.list()[0].lag_txns == 0
    assert "nothing new" in backup_run(pond).summary

    # A failed last attempt is retried through the remote, not hidden by the record.
    path = state_path(pond.path, "offsite")
    path.write_text(path.read_text().replace('"outcome": "ok"', '"outcome": "failed"'))
    assert "nothing new" not in backup_run(pond).summary
    assert "nothing new" in backup_run(pond).summary
