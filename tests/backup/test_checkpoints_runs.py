"""What lives beside the Delta log entries: checkpoints and the run records (runs.jsonl)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from deltalake import DeltaTable

from duckpond import Pond
from duckpond.backup import Remote, push, restore
from duckpond.backup.layout import LAST_CHECKPOINT_KEY, checkpoint_key, log_key, record_key
from duckpond.errors import CorruptDataError
from duckpond.testing.s3server import S3Server
from duckpond.tlogfs.runlog import RUNS_FILE, append_record, read_records

from .conftest import snapshot


def _checkpoints(objects: dict[str, bytes]) -> list[str]:
    return sorted(k for k in objects if k.endswith(".checkpoint.parquet"))


def _named(remote: Remote) -> set[str]:
    return set(remote.recorded())


def test_checkpoints_are_pushed_named_and_restored(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.mkdir("/raw")
    for i in range(8):
        pond.write_bytes(f"/raw/f{i}.txt", f"{i}\n".encode())
    pond.maintenance.maintain()  # compacts, then checkpoints the compaction's version
    data = pond.path / "data"
    first_cp = DeltaTable(str(data)).version()
    assert (pond.path / checkpoint_key(first_cp)).exists()
    remote = Remote(s3_url, create=True)
    push(pond.path, remote, "offsite")
    objects = s3_server.objects(s3_url)
    assert _checkpoints(objects) == [checkpoint_key(first_cp)]
    assert objects[checkpoint_key(first_cp)] == (pond.path / checkpoint_key(first_cp)).read_bytes()
    assert json.loads(objects[LAST_CHECKPOINT_KEY])["version"] == first_cp
    assert checkpoint_key(first_cp) in _named(Remote(s3_url))

    # A checkpoint written after its version was pushed goes with the next push.
    pond.write_bytes("/raw/late.txt", b"late")
    push(pond.path, remote, "offsite")
    late_cp = DeltaTable(str(data)).version()
    DeltaTable(str(data)).create_checkpoint()
    pond.write_bytes("/raw/after.txt", b"after")
    report = push(pond.path, Remote(s3_url), "offsite")
    assert report.ok
    objects = s3_server.objects(s3_url)
    assert _checkpoints(objects) == [checkpoint_key(first_cp), checkpoint_key(late_cp)]
    assert json.loads(objects[LAST_CHECKPOINT_KEY])["version"] == late_cp
    assert checkpoint_key(late_cp) in _named(Remote(s3_url))
    # Known sent: the next push neither sends nor asks for it again.
    pond.write_bytes("/raw/more.txt", b"more")
    again = push(pond.path, Remote(s3_url), "offsite")
    assert again.objects_sent == 3  # the data file, its record, its log entry

    dest = tmp_path / "restored"
    restore(s3_url, dest)
    log = dest / "data" / "_delta_log"
    assert (dest / checkpoint_key(late_cp)).read_bytes() == (
        pond.path / checkpoint_key(late_cp)
    ).read_bytes()
    hint = json.loads((log / "_last_checkpoint").read_text())
    assert hint["version"] == late_cp
    assert (
        hint["size"] == json.loads((data / "_delta_log" / "_last_checkpoint").read_text())["size"]
    )
    # The restored table reads from its checkpoint: without the log entries before it.
    for v in range(late_cp):
        (dest / log_key(v)).rename(tmp_path / f"{v}.json")
    assert DeltaTable(str(dest / "data")).version() == DeltaTable(str(data)).version()
    for v in range(late_cp):
        (tmp_path / f"{v}.json").rename(dest / log_key(v))
    assert snapshot(dest) == snapshot(pond.path)
    with Pond.open(dest) as restored:
        assert restored.fsck().ok
    # Read in place, the remote's hint names a checkpoint that is there.
    with Pond.open(s3_url) as in_place:
        assert in_place.last_txn == pond.last_txn


def test_run_records_are_pushed_in_pieces_and_restored_whole(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/a.txt", b"a")
    for i in range(3):
        append_record(pond.path, {"run": i, "outcome": "ok"})
    with open(pond.path / RUNS_FILE, "ab") as f:
        f.write(b'{"run": 3, "x": "to')  # a line still being written: not sent yet
    remote = Remote(s3_url, create=True)
    push(pond.path, remote, "offsite")
    at_first = pond.last_txn
    pieces = [k for k in s3_server.objects(s3_url) if k.startswith("runs/")]
    assert len(pieces) == 1
    assert s3_server.objects(s3_url)[pieces[0]].count(b"\n") == 3

    # The torn line completed, more runs; then a push interrupted after its records were
    # written (its log entry removed, as if killed before it), and more runs meanwhile:
    # the next push keeps the interrupted push's record and completes.
    with open(pond.path / RUNS_FILE, "ab") as f:
        f.write(b'rn"}\n')
    append_record(pond.path, {"run": 4})
    pond.write_bytes("/a.txt", b"b")
    push(pond.path, Remote(s3_url), "offsite")
    newest = Remote(s3_url).tip()
    kept_record = s3_server.objects(s3_url)[record_key(newest)]
    s3_server.store(s3_url).delete(log_key(newest))
    (pond.path / "backups" / "offsite.json").unlink()  # the pond's record of it is gone too
    append_record(pond.path, {"run": 5})
    report = push(pond.path, Remote(s3_url), "offsite")
    assert report.ok and report.to_version == newest
    assert s3_server.objects(s3_url)[record_key(newest)] == kept_record
    pond.write_bytes("/a.txt", b"c")  # run 5 goes with this push
    push(pond.path, Remote(s3_url), "offsite")

    dest = tmp_path / "restored"
    restore(s3_url, dest)
    assert (dest / RUNS_FILE).read_bytes() == (pond.path / RUNS_FILE).read_bytes()
    assert [r["run"] for r in read_records(dest)] == [0, 1, 2, 3, 4, 5]
    # At an older transaction, the run records pushed with it.
    older = tmp_path / "older"
    restore(s3_url, older, at_txn=at_first)
    assert [r["run"] for r in read_records(older)] == [0, 1, 2]
    # A piece missing from the remote stops a restore, naming it.
    s3_server.store(s3_url).delete(pieces[0])
    with pytest.raises(CorruptDataError, match=re.escape(pieces[0])):
        restore(s3_url, tmp_path / "broken")
    assert not (tmp_path / "broken").exists()


def test_verify_deep_names_run_records_a_restore_would_refuse(tmp_path: Path) -> None:
    """Pieces of run records that do not follow each other (as a push that sent them again
    from byte 0 once left) are named by ``verify --deep``, not first found by a restore."""
    from duckpond.backup import verify
    from duckpond.backup.layout import PushRecord, RemoteObject, runs_key, sha256_hex

    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/a.txt", b"a")
    append_record(pond.path, {"run": 0})
    url = f"file://{tmp_path / 'nas'}"
    push(pond.path, Remote(url, create=True), "nas")
    append_record(pond.path, {"run": 1})
    pond.write_bytes("/a.txt", b"b")
    push(pond.path, Remote(url), "nas")
    assert verify(pond.path, Remote(url), deep=True).problems == []

    # The newest record rewritten (a valid record) to name all the run records again
    # as one piece from byte 0: the bytes are right, the pieces overlap.
    remote = Remote(url)
    tip = remote.tip()
    record, _ = remote.record(tip)
    runs = (pond.path / RUNS_FILE).read_bytes()
    again = RemoteObject(runs_key(0, sha256_hex(runs)), sha256_hex(runs), len(runs))
    objects = (*tuple(o for o in record.objects if not o.key.startswith("runs/")), again)
    remote.put(again.key, runs)
    forged = PushRecord(
        record.pond_id, tip, record.txn_seq, record.previous, objects, record.runs_end
    )
    (tmp_path / "nas" / record_key(tip)).write_bytes(forged.encode())

    problems = verify(pond.path, Remote(url), deep=True).problems
    assert any(key.startswith("runs/") and "those before end at" in what for key, what in problems)
    with pytest.raises(CorruptDataError, match="those before end at"):
        restore(url, tmp_path / "refused")
