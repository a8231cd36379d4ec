"""The local mirror through ``Pond``: real ponds and real host folders on tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond.errors import ConfigError, ReadOnlyError
from duckpond.pond import Pond


@pytest.fixture
def pond(tmp_path: Path) -> Pond:
    p = Pond.init(tmp_path / "pond", command=["test"])
    with p.transaction() as tx:
        tx.mkdir("/raw", "/data")
        tx.write_file("/raw/notes.txt", b"field notes\n")
        tx.write_file("/raw/cal.csv", b"sensor,offset\nA,0.1\n")
        tx.write_table("/data/sites.table", pa.table({"site": ["a", "b"], "depth": [1.5, 2.5]}))
        tx.write_series(
            "/data/temp.series",
            pa.table(
                {
                    "timestamp": pa.array([0, 60_000_000], pa.timestamp("us", "UTC")),
                    "t": [10.0, 11.0],
                }
            ),
        )
    return p


def record(dir: Path) -> dict:
    """The record as one document: its header line and its files line."""
    header, files = (dir / ".pond-mirror").read_text().splitlines()
    return json.loads(header) | {"files": json.loads(files)}


def test_first_mirror_writes_every_kind_of_node(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    report = pond.mirrors.write(out)
    assert (out / "raw/notes.txt").read_bytes() == b"field notes\n"
    assert pq.read_table(out / "data/sites.table.parquet").column("site").to_pylist() == ["a", "b"]
    assert pq.read_table(out / "data/temp.series.parquet").column("t").to_pylist() == [10.0, 11.0]
    assert sorted(report.written) == [
        "/data/sites.table",
        "/data/temp.series",
        "/raw/cal.csv",
        "/raw/notes.txt",
    ]
    doc = record(out)
    assert doc["txn"] == pond.last_txn
    entry = doc["files"]["raw/notes.txt"]
    assert entry["path"] == "/raw/notes.txt" and entry["version"] == 1
    assert entry["node"] == pond.root.get("/raw/notes.txt").node_id
    # Nothing of the run is left behind but the record and its lock.
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [
        ".pond-mirror",
        ".pond-mirror.lock",
    ]


def test_second_run_is_incremental_and_removes_what_the_pond_removed(
    pond: Pond, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    before = os.stat(out / "raw/cal.csv")
    pond.write_bytes("/raw/notes.txt", b"field notes, day 2\n")
    pond.remove("/data/sites.table")
    report = pond.mirrors.write(out)
    assert report.written == ["/raw/notes.txt"]
    assert report.removed == ["/data/sites.table"]
    assert report.removed_hosts["/data/sites.table"] == "data/sites.table.parquet"
    assert report.unchanged == 4  # /raw, /data, cal.csv, temp.series
    assert (out / "raw/notes.txt").read_bytes() == b"field notes, day 2\n"
    assert not (out / "data/sites.table.parquet").exists()
    after = os.stat(out / "raw/cal.csv")
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert pond.mirrors.write(out).written == []


def test_deleting_the_folder_loses_nothing(pond: Pond, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "m"
    pond.mirrors.write(out)
    shutil.rmtree(out)
    pond.mirrors.write(out)
    assert (out / "raw/cal.csv").read_bytes() == b"sensor,offset\nA,0.1\n"
    (out / "raw/cal.csv").unlink()
    assert pond.mirrors.write(out).written == ["/raw/cal.csv"]


def test_csv_tables_and_patterns(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    report = pond.mirrors.write(out, ["/data/*"], tables="csv")
    assert sorted(report.written) == ["/data/sites.table", "/data/temp.series"]
    assert (out / "data/sites.table.csv").read_text().splitlines()[0] == "site,depth"
    assert not (out / "raw").exists()
    # The record keeps the choice: a bare run mirrors the same way.
    pond.write_table("/data/sites.table", pa.table({"site": ["c"], "depth": [3.0]}))
    again = pond.mirrors.write(out)
    assert again.written == ["/data/sites.table"]
    assert "c" in (out / "data/sites.table.csv").read_text()
    # Switching to Parquet rewrites every table, under its new extension.
    switched = pond.mirrors.write(out, tables="parquet")
    assert sorted(switched.written) == ["/data/sites.table", "/data/temp.series"]
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "sites.table.parquet",
        "temp.series.parquet",
    ]


def test_a_host_edit_is_never_overwritten(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/notes.txt").write_bytes(b"edited on the host\n")
    quiet = pond.mirrors.write(out)
    assert [n.path for n in quiet.edited] == ["/raw/notes.txt"] and not quiet.conflicts
    pond.write_bytes("/raw/notes.txt", b"changed in the pond\n")
    report = pond.mirrors.write(out)
    assert [n.path for n in report.conflicts] == ["/raw/notes.txt"]
    assert (out / "raw/notes.txt").read_bytes() == b"edited on the host\n"
    # A file the mirror did not write is never replaced either.
    pond.write_bytes("/raw/new.txt", b"pond")
    (out / "raw/new.txt").write_bytes(b"mine")
    third = pond.mirrors.write(out)
    assert "/raw/new.txt" in [n.path for n in third.conflicts]
    assert (out / "raw/new.txt").read_bytes() == b"mine"


def test_sync_brings_edits_new_files_and_deletions_back_as_one_transaction(
    pond: Pond, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/notes.txt").write_bytes(b"edited\n")
    (out / "raw/new.txt").write_bytes(b"new\n")
    (out / "fresh").mkdir()
    (out / "fresh/deep.txt").write_bytes(b"deep\n")
    (out / "raw/cal.csv").unlink()
    before = pond.last_txn
    result = pond.mirrors.sync(out, delete=True)
    assert pond.last_txn == before + 1 == result.sync.txn_seq
    assert result.sync.changed == ["/raw/notes.txt"]
    assert sorted(result.sync.created) == ["/fresh", "/fresh/deep.txt", "/raw/new.txt"]
    assert result.sync.deleted == ["/raw/cal.csv"]
    assert pond.read_bytes("/raw/notes.txt") == b"edited\n"
    assert [v.version for v in pond.history("/raw/notes.txt")] == [1, 2]
    assert pond.read_bytes("/fresh/deep.txt") == b"deep\n"
    assert not pond.root.exists("/raw/cal.csv")
    # The mirror now agrees with the pond: nothing to write, nothing to sync.
    assert pond.mirrors.write(out).written == []
    assert pond.mirrors.sync(out).sync.txn_seq is None


def test_sync_without_delete_keeps_removed_files_and_the_mirror_restores_them(
    pond: Pond, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/cal.csv").unlink()
    result = pond.mirrors.sync(out)
    assert result.sync.txn_seq is None
    assert any("--delete" in n.reason for n in result.sync.kept)
    assert (out / "raw/cal.csv").read_bytes() == b"sensor,offset\nA,0.1\n"


def test_a_conflict_keeps_both_versions(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/notes.txt").write_bytes(b"host version\n")
    pond.write_bytes("/raw/notes.txt", b"pond version\n")
    result = pond.mirrors.sync(out)
    [conflict] = result.sync.conflicts
    assert conflict.path == "/raw/notes.txt"
    assert conflict.kept_as.startswith("/raw/notes.txt.conflict-")
    assert pond.read_bytes("/raw/notes.txt") == b"pond version\n"
    assert pond.read_bytes(conflict.kept_as) == b"host version\n"
    # Both are on the host after the sync's mirror run.
    assert (out / "raw/notes.txt").read_bytes() == b"pond version\n"
    kept = out / conflict.kept_as.lstrip("/")
    assert kept.read_bytes() == b"host version\n"
    assert pond.mirrors.sync(out).sync.txn_seq is None


def test_a_new_host_file_where_the_pond_made_one_is_a_conflict(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/b.txt").write_bytes(b"host b")
    pond.write_bytes("/raw/b.txt", b"pond b")
    result = pond.mirrors.sync(out)
    [conflict] = result.sync.conflicts
    assert pond.read_bytes("/raw/b.txt") == b"pond b"
    assert pond.read_bytes(conflict.kept_as) == b"host b"
    assert (out / "raw/b.txt").read_bytes() == b"pond b"


def test_tables_are_read_only_in_a_mirror(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "data/sites.table.parquet").write_bytes(b"not parquet any more")
    (out / "data/temp.series.parquet").write_bytes(b"nor this")
    # A plain run says the truth: these edits never come back, and how to undo them.
    plain = pond.mirrors.write(out)
    assert sorted(n.path for n in plain.edited) == ["/data/sites.table", "/data/temp.series"]
    for note in plain.edited:
        assert "read-only in a mirror: the edit is left" in note.reason
        assert "--sync" not in note.reason and "delete the host file" in note.reason
    (out / "data/temp.series.parquet").unlink()
    assert pond.mirrors.write(out).written == ["/data/temp.series"]
    before = pond.last_txn
    result = pond.mirrors.sync(out)
    assert pond.last_txn == before
    assert [n.path for n in result.sync.kept] == ["/data/sites.table"]
    assert "read-only" in result.sync.kept[0].reason
    # Said once, by the sync, not again by its mirror run; the edit is left.
    assert not result.mirror.edited and not result.mirror.conflicts
    assert (out / "data/sites.table.parquet").read_bytes() == b"not parquet any more"


def test_new_host_files_outside_the_patterns_stay_out(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out, ["/raw/*.txt"])
    (out / "raw/other.csv").write_bytes(b"x")
    (out / "raw/.notes.txt.swp").write_bytes(b"editor")
    (out / "raw/more.txt").write_bytes(b"more")
    result = pond.mirrors.sync(out)
    assert result.sync.created == ["/raw/more.txt"]
    assert sorted(n.path for n in result.sync.kept) == ["/raw/.notes.txt.swp", "/raw/other.csv"]
    assert not pond.root.exists("/raw/other.csv")


def test_at_txn_mirrors_a_past_state_and_refuses_sync(pond: Pond, tmp_path: Path) -> None:
    first = pond.last_txn
    pond.write_bytes("/raw/notes.txt", b"later\n")
    out = tmp_path / "past"
    past = Pond.open(pond.path, at_txn=first)
    report = past.mirrors.write(out)
    assert report.at_txn == first
    assert (out / "raw/notes.txt").read_bytes() == b"field notes\n"
    with pytest.raises(ReadOnlyError):
        past.mirrors.sync(out)
    # The next run at the present brings it forward.
    assert pond.mirrors.write(out).written == ["/raw/notes.txt"]


def test_sync_refuses_a_folder_that_is_not_a_mirror(pond: Pond, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="not a mirror"):
        pond.mirrors.sync(tmp_path / "plain")


def test_a_damaged_record_is_refused_not_guessed(pond: Pond, tmp_path: Path) -> None:
    from duckpond.errors import FormatError

    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / ".pond-mirror").write_text('{"format": "something else"}')
    with pytest.raises(FormatError):
        pond.mirrors.write(out)


def test_sync_delete_removes_a_folder_after_its_files(pond: Pond, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "m"
    pond.mirrors.write(out, ["/raw/**"])
    shutil.rmtree(out / "raw")
    result = pond.mirrors.sync(out, delete=True)
    assert sorted(result.sync.deleted) == ["/raw", "/raw/cal.csv", "/raw/notes.txt"]
    assert not pond.root.exists("/raw")
    assert pond.root.exists("/data/sites.table")


def test_a_run_after_new_versions_only_still_sees_host_edits_and_removals(
    pond: Pond, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/cal.csv").write_bytes(b"host edit")
    (out / "data/temp.series.parquet").unlink()
    pond.write_bytes("/raw/notes.txt", b"v2")  # a new version: nothing else moved
    report = pond.mirrors.write(out)
    assert sorted(report.written) == ["/data/temp.series", "/raw/notes.txt"]
    assert [n.path for n in report.edited] == ["/raw/cal.csv"]
    assert report.unchanged == 3  # /raw, /data, sites.table
    assert (out / "raw/cal.csv").read_bytes() == b"host edit"
    assert record(out)["txn"] == pond.last_txn


def test_one_run_at_a_time_in_a_folder(pond: Pond, tmp_path: Path) -> None:
    import subprocess
    import sys

    from duckpond.errors import LockTimeoutError

    out = tmp_path / "m"
    pond.mirrors.write(out)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(out / '.pond-mirror.lock')!r}, os.O_RDWR)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            'os.write(fd, b\'{"pid": 1, "command": ["pond", "mirror"]}\')\n'
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        slow = Pond.open(pond.path, lock_timeout=0.2)
        with pytest.raises(LockTimeoutError, match="another mirror run is under way"):
            slow.mirrors.write(out)
    finally:
        holder.kill()
        holder.wait()


def test_a_reader_never_sees_half_a_file(pond: Pond, tmp_path: Path) -> None:
    import threading

    old, new = b"a" * 4_000_000, b"b" * 4_000_000
    pond.write_bytes("/raw/big.bin", old)
    out = tmp_path / "m"
    pond.mirrors.write(out)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = (out / "raw/big.bin").read_bytes()
            seen.add(data[:1] + data[-1:] + str(len(data)).encode())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(3):
            pond.write_bytes("/raw/big.bin", new if i % 2 == 0 else old)
            pond.mirrors.write(out)
    finally:
        stop.set()
        reader.join()
    assert seen <= {b"aa4000000", b"bb4000000"}


def test_a_conflict_undone_on_the_host_is_brought_up_to_date(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    original = (out / "raw/notes.txt").read_bytes()
    (out / "raw/notes.txt").write_bytes(b"host")
    pond.write_bytes("/raw/notes.txt", b"pond v2")
    assert [n.path for n in pond.mirrors.write(out).conflicts] == ["/raw/notes.txt"]
    pond.write_bytes("/raw/cal.csv", b"other change")  # the next run may look only at this
    (out / "raw/notes.txt").write_bytes(original)  # the user undoes the edit
    report = pond.mirrors.write(out)
    assert sorted(report.written) == ["/raw/cal.csv", "/raw/notes.txt"]
    assert (out / "raw/notes.txt").read_bytes() == b"pond v2"


def test_a_mirror_never_goes_in_or_around_the_pond(pond: Pond, tmp_path: Path) -> None:
    for folder in (pond.path, pond.path / "data" / "m", tmp_path):
        with pytest.raises(ConfigError, match="pond's own directory"):
            pond.mirrors.write(folder)


def test_a_file_left_out_by_new_patterns_is_never_synced(pond: Pond, tmp_path: Path) -> None:
    out = tmp_path / "m"
    pond.mirrors.write(out)
    (out / "raw/notes.txt").write_bytes(b"edited before the patterns changed\n")
    narrowed = pond.mirrors.write(out, ["/data/**"])
    [note] = narrowed.conflicts
    assert note.path == "/raw/notes.txt"
    assert "outside the mirror's patterns" in note.reason and "removed" not in note.reason
    # The unedited file outside the new patterns went; the edited one is the user's.
    assert not (out / "raw/cal.csv").exists()
    assert (out / "raw/notes.txt").read_bytes() == b"edited before the patterns changed\n"
    before = pond.last_txn
    for delete in (False, True):
        result = pond.mirrors.sync(out, delete=delete)
        assert pond.last_txn == before and not result.sync.changed
        kept = {n.path: n.reason for n in result.sync.kept}
        assert "outside the mirror's patterns" in kept["/raw/notes.txt"]
    assert pond.read_bytes("/raw/notes.txt") == b"field notes\n"
    # Removed on the host, it is still not the mirror's to delete from the pond.
    (out / "raw/notes.txt").unlink()
    pond.mirrors.sync(out, delete=True)
    assert pond.read_bytes("/raw/notes.txt") == b"field notes\n"
