"""recover cleans what a crashed writer leaves; fsck proves every version's bytes."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from duckpond.tinyfs.persistence import ROOT_ID
from duckpond.tlogfs import LARGE_FILE_THRESHOLD, DeltaPersistence, fsck, recover

from .conftest import RunPython, add_file, child_env, commit_file, script

CRASH = """
    import os, sys
    from duckpond.tlogfs import DeltaPersistence
    from duckpond.tinyfs.persistence import ROOT_ID, DirEntry, FILE_DATA
    p = DeltaPersistence.open(sys.argv[1])
    p.begin()
    node = p.create_node(ROOT_ID, FILE_DATA, open(sys.argv[2], "rb").read())
    p.update_dir(ROOT_ID, insert={"lost": DirEntry("lost", node, FILE_DATA)})
    os._exit(3)  # dies mid-transaction: no commit, no rollback, no lock release
"""


def blobs(pond_dir: Path) -> Path:
    return pond_dir / "data" / "_large_files"


def test_staged_uploads_left_by_a_kill_are_debris_not_strays(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    """object_store writes "<name>#<n>" and renames it; a kill -9 between leaves the staged
    file.  fsck counts it as debris (not a stray), and recover removes it."""
    commit_file(store, "kept", b"x" * 10)
    data = pond_dir / "data"
    part = next(p for p in data.iterdir() if p.name.startswith("part_id="))
    parquet = next(part.glob("*.parquet"))
    staged = [
        part / f"{parquet.name}#1",
        data / "_delta_log" / f"{99:020d}.json#3",
    ]
    for path in staged:
        path.write_bytes(b"half")
    # A name that only looks staged is still a stray.
    odd = part / "notes.txt#1"
    odd.write_bytes(b"?")
    before = fsck(pond_dir)
    assert before.debris_files == 2
    assert [p.kind for p in before.problems] == ["stray file"], before.problems
    assert before.problems[0].path.endswith("notes.txt#1")
    odd.unlink()
    report = recover(pond_dir, lock_timeout=1)
    assert sorted(report.removed_temp_files) == sorted(str(p.relative_to(data)) for p in staged)
    assert not any(p.exists() for p in staged)
    after = fsck(pond_dir)
    assert after.ok and after.debris_files == 0


def test_recover_after_a_crash(
    pond_dir: Path, store: DeltaPersistence, run_python: RunPython
) -> None:
    kept = os.urandom(LARGE_FILE_THRESHOLD)
    commit_file(store, "kept", kept)
    lost = os.urandom(LARGE_FILE_THRESHOLD + 10)
    source = pond_dir.parent / "lost.bin"
    source.write_bytes(lost)
    crashed = run_python(CRASH, str(pond_dir), str(source), check=False)
    assert crashed.returncode == 3
    lost_digest = hashlib.sha256(lost).hexdigest()
    assert (blobs(pond_dir) / f"sha256={lost_digest}").exists()
    assert (pond_dir / "write.lock").read_text() != ""  # the dead writer's record
    (blobs(pond_dir) / ".tmp-interrupted").write_bytes(b"partial")

    # The crash left the pond at its last commit.
    assert set(DeltaPersistence.open(pond_dir).read_dir(ROOT_ID)) == {"kept"}
    report = recover(pond_dir, lock_timeout=1)
    assert report.removed_blobs == [lost_digest]
    assert report.removed_temp_files == [".tmp-interrupted"]
    assert report.bytes_freed == len(lost) + len(b"partial")
    assert report.stale_lock is not None and report.stale_lock["pid"] > 0
    assert (pond_dir / "write.lock").read_text() == ""
    assert {p.name for p in blobs(pond_dir).iterdir()} == {
        f"sha256={hashlib.sha256(kept).hexdigest()}"
    }
    assert (
        DeltaPersistence.open(pond_dir).read_bytes(
            DeltaPersistence.open(pond_dir).read_dir(ROOT_ID)["kept"].node_id
        )
        == kept
    )
    assert "1 orphan blob(s)" in report.summary() and "stale lock" in report.summary()
    assert json.loads(json.dumps(report.to_json()))["removed_blobs"] == [lost_digest]
    again = recover(pond_dir)
    assert again.clean and again.summary() == "nothing to recover"
    assert fsck(pond_dir).ok


def test_fsck_of_a_healthy_pond(pond_dir: Path, store: DeltaPersistence) -> None:
    store.begin()
    add_file(store, "small", b"abc")
    add_file(store, "large", b"L" * LARGE_FILE_THRESHOLD)
    add_file(store, "same", b"L" * LARGE_FILE_THRESHOLD)
    store.commit()
    report = fsck(pond_dir)
    assert report.ok, report.problems
    assert report.versions_checked == 5  # root v1, root v2, three files
    assert report.blobs_checked == 1
    assert report.bytes_checked >= 2 * LARGE_FILE_THRESHOLD + 3
    assert report.unreferenced_blobs == 0


def test_fsck_detects_a_tampered_blob(pond_dir: Path, store: DeltaPersistence) -> None:
    data = os.urandom(LARGE_FILE_THRESHOLD * 2)
    f = commit_file(store, "f", data)
    blob = store.local_path(f)
    assert blob is not None
    blob.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    report = fsck(pond_dir)
    assert not report.ok
    [problem] = report.of_kind("sha256 mismatch")
    assert (problem.node_id, problem.version) == (f, 1)
    assert f"(node {f} version 1): recorded" in report.summary()
    as_json = json.loads(json.dumps(report.to_json()))
    assert as_json["ok"] is False and as_json["problems"][0]["kind"] == "sha256 mismatch"


def test_fsck_detects_a_missing_blob_and_a_truncated_one(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    a = commit_file(store, "a", b"a" * LARGE_FILE_THRESHOLD)
    b = commit_file(store, "b", b"b" * LARGE_FILE_THRESHOLD)
    path_a, path_b = store.local_path(a), store.local_path(b)
    assert path_a is not None and path_b is not None
    path_a.unlink()
    path_b.write_bytes(b"b" * 10)
    report = fsck(pond_dir)
    assert [p.node_id for p in report.of_kind("missing blob")] == [a]
    assert [p.node_id for p in report.of_kind("size mismatch")] == [b]
    assert [p.node_id for p in report.of_kind("sha256 mismatch")] == [b]


def test_fsck_counts_unreferenced_blobs_and_recover_removes_them(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    orphan = os.urandom(LARGE_FILE_THRESHOLD)
    digest = hashlib.sha256(orphan).hexdigest()
    (blobs(pond_dir) / f"sha256={digest}").write_bytes(orphan)
    report = fsck(pond_dir)
    assert report.ok and report.unreferenced_blobs == 1
    assert recover(pond_dir).removed_blobs == [digest]
    assert fsck(pond_dir).unreferenced_blobs == 0


WRITER = """
    import os, sys
    from duckpond.tlogfs import DeltaPersistence
    from duckpond.tinyfs.persistence import ROOT_ID, DirEntry, FILE_DATA
    p = DeltaPersistence.open(sys.argv[1], maintenance_interval=7)
    i = 0
    while True:
        i += 1
        p.begin()
        size = 70_000 if i % 3 == 0 else 100
        node = p.create_node(ROOT_ID, FILE_DATA, os.urandom(size))
        p.update_dir(ROOT_ID, insert={f"{os.getpid()}-{i}": DirEntry(f"{os.getpid()}-{i}", node, FILE_DATA)})
        p.commit()
        if i == 1:
            print("running", flush=True)
"""


@pytest.mark.slow
def test_killing_a_writer_at_any_moment_loses_nothing_committed(
    tmp_path: Path, pond_dir: Path, store: DeltaPersistence
) -> None:
    path = script(tmp_path, "writer.py", WRITER)
    rng = random.Random(7)
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, str(path), str(pond_dir)],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "running"
        time.sleep(rng.uniform(0.05, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        recover(pond_dir, lock_timeout=5)
        fresh = DeltaPersistence.open(pond_dir)
        seqs = [t.txn_seq for t in fresh.transactions()]
        assert seqs == list(range(fresh.last_txn, 0, -1))
        # Every committed transaction added exactly one name to the root.
        assert len(fresh.read_dir(ROOT_ID)) == fresh.last_txn - 1
        report = fsck(pond_dir)
        assert report.ok, report.problems
        assert report.unreferenced_blobs == 0


def _foreign_append(pond_dir: Path, txn_seq: int, rows_txn: int) -> None:
    """Append, behind the pond's back, a copy of the root's first row as another commit."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    dt = DeltaTable(pond_dir / "data")
    first = sorted((pond_dir / "data").glob("part_id=*/*.parquet"))[0]
    row = pq.read_table(first).slice(0, 1)
    row = row.set_column(
        row.schema.get_field_index("txn_seq"), "txn_seq", pa.array([rows_txn], pa.int64())
    )
    row = row.append_column("part_id", pa.array([first.parent.name.split("=", 1)[1]]))
    write_deltalake(
        dt,
        row.select(pa.schema(dt.schema()).names),
        mode="append",
        commit_properties=CommitProperties(custom_metadata={"txn_seq": txn_seq, "command": "[]"}),
    )


def test_fsck_detects_a_duplicate_and_a_missing_transaction(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    commit_file(store, "a", b"a")  # txn 2
    assert fsck(pond_dir).ok
    _foreign_append(pond_dir, txn_seq=2, rows_txn=4)
    kinds = {(p.kind, p.version) for p in fsck(pond_dir).problems}
    assert ("duplicate transaction", 2) in kinds
    assert ("missing transaction", 3) in kinds
