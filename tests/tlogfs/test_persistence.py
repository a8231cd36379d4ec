"""DeltaPersistence: creating, opening, transactions, time travel, the table's shape."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from duckpond.errors import (
    ConfigError,
    PondCorruptError,
    PondExistsError,
    PondNotFoundError,
    ReadOnlyError,
    RemoteError,
    TransactionError,
)
from duckpond.tinyfs.persistence import (
    DIRECTORY,
    FILE_DATA,
    FILE_SERIES,
    ROOT_ID,
    DirEntry,
    Persistence,
)
from duckpond.tlogfs import DeltaPersistence, TxnRecord, uuid7
from duckpond.tlogfs.oplog import SCHEMA, decode_entries

from .conftest import RunPython, add_dir, add_file, commit_file


def delta(pond_dir: Path) -> DeltaTable:
    return DeltaTable(pond_dir / "data")


def data_rows(pond_dir: Path) -> pa.Table:
    """Every row of the oplog, read straight from the Parquet files, part_id included."""
    dt = delta(pond_dir)
    actions = pa.RecordBatchReader.from_stream(dt.get_add_actions(flatten=True)).read_all()
    tables = []
    for path, part in zip(
        actions.column("path").to_pylist(),
        actions.column("partition.part_id").to_pylist(),
        strict=True,
    ):
        t = pq.read_table(pond_dir / "data" / path)
        tables.append(t.append_column("part_id", pa.array([part] * t.num_rows, pa.string())))
    return pa.concat_tables(tables)


# -- creating and opening --------------------------------------------------------------


def test_create_commits_the_root_as_transaction_one(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    assert store.last_txn == 1
    assert not store.read_only
    assert store.read_dir(ROOT_ID) == {}
    root = store.latest(ROOT_ID)
    assert (root.node_type, root.version, root.txn_seq) == (DIRECTORY, 1, 1)
    dt = delta(pond_dir)
    assert dt.version() == 0
    assert dt.metadata().partition_columns == ["part_id"]
    assert dt.metadata().configuration["delta.enableExpiredLogCleanup"] == "false"
    assert dt.history()[0]["txn_seq"] == 1
    assert (pond_dir / "data" / "_large_files").is_dir()


def test_table_schema_is_the_designed_one(pond_dir: Path, store: DeltaPersistence) -> None:
    schema = pa.schema(delta(pond_dir).schema())
    assert schema.names == SCHEMA.names
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("content").type == pa.binary()
    assert schema.field("content").nullable
    assert schema.field("attributes").type == pa.string()
    assert store.all_rows().schema.names == [n for n in SCHEMA.names if n != "content"]


def test_create_refuses_an_existing_pond(pond_dir: Path, store: DeltaPersistence) -> None:
    with pytest.raises(PondExistsError):
        DeltaPersistence.create(pond_dir)
    assert delta(pond_dir).version() == 0


def test_create_in_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "pond").mkdir()
    assert DeltaPersistence.create(tmp_path / "pond").last_txn == 1


def test_open_missing_pond(tmp_path: Path) -> None:
    with pytest.raises(PondNotFoundError):
        DeltaPersistence.open(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PondNotFoundError):
        DeltaPersistence.open(tmp_path / "empty")


def test_open_something_that_is_not_a_pond(tmp_path: Path) -> None:
    (tmp_path / "p1" / "data").mkdir(parents=True)
    with pytest.raises(PondCorruptError):
        DeltaPersistence.open(tmp_path / "p1")
    log = tmp_path / "p2" / "data" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("not json\n")
    with pytest.raises(PondCorruptError):
        DeltaPersistence.open(tmp_path / "p2")


def test_open_a_delta_table_of_something_else(tmp_path: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(tmp_path / "p" / "data", pa.table({"x": [1]}))
    with pytest.raises(PondCorruptError, match="missing columns"):
        DeltaPersistence.open(tmp_path / "p")


def test_reopen_in_a_new_process(
    pond_dir: Path, store: DeltaPersistence, run_python: RunPython
) -> None:
    store.begin()
    d = add_dir(store, "sub")
    f = add_file(store, "a.txt", b"hello", parent=d)
    big = add_file(store, "big.bin", bytes(range(256)) * 400, parent=d)
    store.commit()
    store.begin()
    store.write_version(f, b"hello again", attributes={"k": [1, 2]})
    store.commit()
    out = run_python(
        """
        import hashlib, json, sys
        from duckpond.tlogfs import DeltaPersistence
        from duckpond.tinyfs.persistence import ROOT_ID
        p = DeltaPersistence.open(sys.argv[1])
        sub = p.read_dir(ROOT_ID)["sub"].node_id
        entries = p.read_dir(sub)
        f = entries["a.txt"].node_id
        print(json.dumps({
            "last": p.last_txn,
            "names": sorted(entries),
            "v1": p.read_bytes(f, 1).decode(),
            "v2": p.read_bytes(f).decode(),
            "attrs": dict(p.latest(f).attributes),
            "big": hashlib.sha256(p.read_bytes(entries["big.bin"].node_id)).hexdigest(),
        }))
        """,
        str(pond_dir),
    )
    seen = json.loads(out.stdout)
    assert seen == {
        "last": 3,
        "names": ["a.txt", "big.bin"],
        "v1": "hello",
        "v2": "hello again",
        "attrs": {"k": [1, 2]},
        "big": store.latest(big).sha256,
    }


# -- transactions --------------------------------------------------------------------------


def test_transactions_are_numbered_one_two_three(store: DeltaPersistence) -> None:
    assert commit_file(store, "a", b"1") and store.last_txn == 2
    store.begin()
    assert store.commit() is None  # empty: no Delta commit, no number used
    commit_file(store, "b", b"2")
    assert store.last_txn == 3
    assert [t.txn_seq for t in store.transactions()] == [3, 2, 1]


def test_commit_metadata_is_in_the_delta_log(pond_dir: Path, store: DeltaPersistence) -> None:
    store.begin()
    add_file(store, "a", b"x")
    before = datetime.now(UTC)
    seq = store.commit({"command": ["pond", "copy", "a", "/"], "changes": 2})
    after = datetime.now(UTC)
    newest = store.transactions()[0]
    assert newest.txn_seq == seq == 2
    assert newest.command == ["pond", "copy", "a", "/"]
    assert newest.extra["changes"] == 2
    assert newest.user
    assert before <= newest.timestamp <= after
    assert newest.timestamp.tzinfo is not None
    # Stored as Delta commit info, readable without touching data files.
    info = delta(pond_dir).history(limit=1)[0]
    assert info["txn_seq"] == 2
    assert json.loads(info["command"]) == ["pond", "copy", "a", "/"]
    first = store.transactions()[-1]
    assert first.txn_seq == 1 and isinstance(first.command, list)


def test_commit_metadata_may_not_shadow_reserved_keys(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    store.begin()
    add_file(store, "a", b"x")
    with pytest.raises(ValueError, match="txn_seq"):
        store.commit({"txn_seq": 99})
    assert not store.in_transaction
    assert delta(pond_dir).version() == 0
    assert store.read_dir(ROOT_ID) == {}


def test_one_transaction_is_one_delta_commit(pond_dir: Path, store: DeltaPersistence) -> None:
    store.begin()
    d = add_dir(store, "d")
    for i in range(5):
        add_file(store, f"f{i}", b"x" * i, parent=d)
    store.commit()
    assert delta(pond_dir).version() == 1


def test_rollback_leaves_no_trace(pond_dir: Path, store: DeltaPersistence) -> None:
    commit_file(store, "keep", b"k")
    files_before = sorted(p.name for p in (pond_dir / "data").rglob("*"))
    store.begin()
    d = add_dir(store, "gone")
    add_file(store, "big", b"\x01" * 100_000, parent=d)
    assert "gone" in store.read_dir(ROOT_ID)
    store.rollback()
    assert delta(pond_dir).version() == 1
    assert set(store.read_dir(ROOT_ID)) == {"keep"}
    assert sorted(p.name for p in (pond_dir / "data").rglob("*")) == files_before
    with pytest.raises(FileNotFoundError):
        store.node_type(d)
    # The next transaction takes the number the rolled-back one would have had.
    commit_file(store, "next", b"n")
    assert store.last_txn == 3


def test_writes_outside_a_transaction_fail(store: DeltaPersistence) -> None:
    with pytest.raises(TransactionError):
        store.create_node(ROOT_ID, FILE_DATA, b"x")
    with pytest.raises(TransactionError):
        store.update_dir(ROOT_ID, delete=frozenset({"x"}))
    store.begin()
    with pytest.raises(TransactionError):
        store.begin()
    store.rollback()


def test_a_transaction_sees_its_own_writes(store: DeltaPersistence) -> None:
    f = commit_file(store, "f", b"one")
    store.begin()
    store.write_version(f, b"two")
    info = store.write_version(f, b"three")
    # Each write_version is a version, even twice in one transaction.
    assert info.version == 3 and info.txn_seq == 3
    assert store.read_bytes(f) == b"three"
    assert store.read_bytes(f, 2) == b"two"
    assert [v.version for v in store.versions(f)] == [1, 2, 3]
    store.commit()
    assert [(v.version, v.txn_seq) for v in store.versions(f)] == [(1, 2), (2, 3), (3, 3)]
    assert store.read_bytes(f, 2) == b"two"


def test_a_directory_changed_many_times_is_written_once(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    store.begin()
    for i in range(10):
        add_file(store, f"f{i}", b"")
    store.update_dir(ROOT_ID, delete=frozenset({"f3"}))
    assert store.latest(ROOT_ID).version == 2
    store.commit()
    rows = data_rows(pond_dir).filter(pa.compute.equal(pa.compute.field("node_id"), ROOT_ID))
    assert sorted(rows.column("version").to_pylist()) == [1, 2]
    # The row holds the directory's whole entry table, so no history replay is needed.
    final = rows.filter(pa.compute.equal(pa.compute.field("version"), 2))
    entries = decode_entries(final.column("content")[0].as_py())
    assert sorted(entries) == [f"f{i}" for i in range(10) if i != 3]
    assert final.column("part_id")[0].as_py() == ROOT_ID


def test_rows_are_partitioned_by_directory(pond_dir: Path, store: DeltaPersistence) -> None:
    store.begin()
    d = add_dir(store, "d")
    f = add_file(store, "f", b"x", parent=d)
    store.commit()
    rows = data_rows(pond_dir)
    parts = dict(
        zip(rows.column("node_id").to_pylist(), rows.column("part_id").to_pylist(), strict=True)
    )
    assert parts == {ROOT_ID: ROOT_ID, d: d, f: d}
    assert (pond_dir / "data" / f"part_id={d}").is_dir()


def test_a_moved_file_keeps_its_partition_and_is_found(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    store.begin()
    a = add_dir(store, "a")
    b = add_dir(store, "b")
    f = add_file(store, "f", b"1", parent=a)
    store.commit()
    store.begin()
    store.update_dir(a, delete=frozenset({"f"}))
    store.update_dir(b, insert={"f": DirEntry("f", f, FILE_DATA)})
    store.write_version(f, b"2")
    store.commit()
    fresh = DeltaPersistence.open(pond_dir)
    b_entries = fresh.read_dir(fresh.read_dir(ROOT_ID)["b"].node_id)
    assert fresh.read_bytes(b_entries["f"].node_id) == b"2"
    assert set(
        data_rows(pond_dir)
        .filter(pa.compute.equal(pa.compute.field("node_id"), f))
        .column("part_id")
        .to_pylist()
    ) == {a}


def test_attributes_and_event_ranges_round_trip(pond_dir: Path, store: DeltaPersistence) -> None:
    store.begin()
    s = store.create_node(
        ROOT_ID, FILE_SERIES, b"PAR1", attributes={"ts": "time"}, event_range=(5, 9)
    )
    store.update_dir(ROOT_ID, insert={"s": DirEntry("s", s, FILE_SERIES)})
    store.commit()
    info = DeltaPersistence.open(pond_dir).latest(s)
    assert (info.node_type, info.min_event_time, info.max_event_time) == (FILE_SERIES, 5, 9)
    assert info.attributes == {"ts": "time"}


def test_unknown_nodes_and_versions(store: DeltaPersistence) -> None:
    f = commit_file(store, "f", b"x")
    with pytest.raises(FileNotFoundError):
        store.latest(uuid7())
    with pytest.raises(FileNotFoundError):
        store.read_bytes(f, 2)
    with pytest.raises(NotADirectoryError):
        store.read_dir(f)
    store.begin()
    with pytest.raises(IsADirectoryError):
        store.write_version(ROOT_ID, b"")
    with pytest.raises(NotADirectoryError):
        store.create_node(f, FILE_DATA, b"")
    store.rollback()


def test_concurrent_commit_is_refused(pond_dir: Path, store: DeltaPersistence) -> None:
    # Two handles in one process share the (re-entrant) lock, so only the
    # Delta commit check stands between them: the second must not land.
    other = DeltaPersistence.open(pond_dir)
    store.begin()
    other.begin()
    add_file(store, "a", b"a")
    add_file(other, "b", b"b")
    store.commit()
    with pytest.raises(TransactionError, match="transaction 2"):
        other.commit()
    assert [t.txn_seq for t in DeltaPersistence.open(pond_dir).transactions()] == [2, 1]
    # The loser catches up at its next begin.
    other.begin()
    assert set(other.read_dir(ROOT_ID)) == {"a"}
    add_file(other, "b", b"b")
    assert other.commit() == 3


# -- time travel -----------------------------------------------------------------------


def test_open_at_a_past_transaction_is_read_only(pond_dir: Path, store: DeltaPersistence) -> None:
    f = commit_file(store, "f", b"v1")  # txn 2
    store.begin()
    store.write_version(f, b"v2")
    add_file(store, "g", b"g")
    store.commit()  # txn 3
    past = DeltaPersistence.open(pond_dir, at_txn=2)
    assert past.read_only and past.last_txn == 2
    assert set(past.read_dir(ROOT_ID)) == {"f"}
    assert past.read_bytes(f) == b"v1"
    assert [v.version for v in past.versions(f)] == [1]
    assert [t.txn_seq for t in past.transactions()] == [2, 1]
    assert past.all_rows().num_rows == 3  # root v1, root v2, f v1
    with pytest.raises(ReadOnlyError):
        past.begin()
    assert DeltaPersistence.open(pond_dir, at_txn=1).read_dir(ROOT_ID) == {}


def test_open_at_an_impossible_transaction(pond_dir: Path, store: DeltaPersistence) -> None:
    for bad in (0, -1, 2):
        with pytest.raises(ConfigError, match="transactions 1 to 1"):
            DeltaPersistence.open(pond_dir, at_txn=bad)
    with pytest.raises(ConfigError):
        DeltaPersistence.open(pond_dir, at_txn=1, at=datetime.now(UTC))


def test_open_at_a_time(pond_dir: Path, store: DeltaPersistence) -> None:
    commit_file(store, "a", b"a")
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    commit_file(store, "b", b"b")
    assert set(DeltaPersistence.open(pond_dir, at=between).read_dir(ROOT_ID)) == {"a"}
    now = DeltaPersistence.open(pond_dir, at=datetime.now(UTC))
    assert now.last_txn == 3 and now.read_only
    # A naive time is UTC, as in deltalake.
    naive = between.replace(tzinfo=None)
    assert DeltaPersistence.open(pond_dir, at=naive).last_txn == 2
    with pytest.raises(ConfigError, match="before"):
        DeltaPersistence.open(pond_dir, at=datetime.now(UTC) - timedelta(days=1))


# -- reading -----------------------------------------------------------------------------


def test_all_rows_is_the_index(store: DeltaPersistence) -> None:
    store.begin()
    d = add_dir(store, "d")
    f = add_file(store, "f", b"abc", parent=d)
    store.commit()
    rows = store.all_rows()
    assert "content" not in rows.column_names
    by_node = {r["node_id"]: r for r in rows.to_pylist() if r["version"] == 1}
    assert by_node[f]["part_id"] == d and by_node[f]["size"] == 3 and by_node[f]["txn_seq"] == 2
    assert rows.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert rows.num_rows == 4  # root v1 and v2, d, f


def test_uuid7_ids_are_time_ordered_and_valid() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid.UUID(i).version for i in ids} == {7}
    assert {uuid.UUID(i).variant for i in ids} == {uuid.RFC_4122}


def test_node_ids_are_uuid7(store: DeltaPersistence) -> None:
    f = commit_file(store, "f", b"")
    assert uuid.UUID(f).version == 7


def test_a_reader_keeps_its_snapshot_until_it_refreshes(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    reader = DeltaPersistence.open(pond_dir)
    assert reader.read_dir(ROOT_ID) == {}
    commit_file(store, "new", b"n")
    assert reader.read_dir(ROOT_ID) == {} and reader.last_txn == 1
    reader.refresh()
    assert set(reader.read_dir(ROOT_ID)) == {"new"} and reader.last_txn == 2


def test_reading_a_path_reads_only_the_partitions_along_it(
    pond_dir: Path, store: DeltaPersistence, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = []
    for i in range(12):
        store.begin()
        d = add_dir(store, f"d{i}")
        add_file(store, "f", f"file {i}".encode(), parent=d)
        store.commit()
        dirs.append(d)
    opened: list[str] = []
    real = pq.ParquetFile

    def counting(path: str, *args: object, **kwargs: object) -> pq.ParquetFile:
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", counting)
    fresh = DeltaPersistence.open(pond_dir)
    d5 = fresh.read_dir(ROOT_ID)["d5"].node_id
    assert fresh.read_bytes(fresh.read_dir(d5)["f"].node_id) == b"file 5"
    assert opened
    assert {Path(p).parent.name for p in opened} <= {f"part_id={ROOT_ID}", f"part_id={d5}"}


def test_it_is_a_tinyfs_persistence(store: DeltaPersistence) -> None:
    typed: Persistence = store  # mypy checks the protocol's signatures here
    assert isinstance(typed, Persistence)


def test_a_transaction_record_is_typed_and_prints_as_pond_log_json(
    store: DeltaPersistence,
) -> None:
    store.begin()
    add_file(store, "a", b"x")
    store.commit({"command": ["pond", "copy", "a", "/"], "changes": 1})
    record = store.transactions()[0]
    assert isinstance(record, TxnRecord)
    assert record.timestamp.utcoffset() == timedelta(0)
    assert record.delta_version == 1
    assert record.extra == {"changes": 1}
    with pytest.raises(AttributeError):
        record.txn_seq = 3  # type: ignore[misc]
    assert record.to_json() == {
        "txn_seq": 2,
        "timestamp": record.timestamp.isoformat().replace("+00:00", "Z"),
        "command": ["pond", "copy", "a", "/"],
        "user": record.user,
        "changes": 2,  # the file's version and its directory's
        "content_removed": False,
    }


def test_reading_many_versions_opens_their_data_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opening a data file parses its footer, which lists every row group: a reader going
    # through the versions a file holds, row group after row group, opens it once.
    from duckpond import Pond
    from duckpond.tlogfs import index

    pond = Pond.init(tmp_path / "p")
    with pond.transaction() as tx:
        for i in range(600):  # one data file of three row groups (256 rows each)
            tx.write_file(f"/f{i}", f"content {i}".encode())
    pond.close()
    opened: list[object] = []
    real = index.pq.ParquetFile

    def counting(source: object, *args: object, **kwargs: object) -> pq.ParquetFile:
        opened.append(source)
        return real(source, *args, **kwargs)

    with Pond.open(tmp_path / "p") as again:
        monkeypatch.setattr(index.pq, "ParquetFile", counting)
        for i in range(600):
            assert again.read_bytes(f"/f{i}") == f"content {i}".encode()
    # Once to index its rows, once for their contents (not once a row group).
    assert max(Counter(map(str, opened)).values()) <= 2, Counter(map(str, opened))


def test_opening_lists_again_when_a_listed_log_entry_was_trimmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another machine's maintain may remove log entries (after a newer checkpoint)
    between a reader's listing and its read: the open lists again.  The race itself is
    in tests/cli/test_s3pond_commands.py; here the first open fails as deltalake fails
    then (its message), and only that kind of failure is retried."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError

    from duckpond.tlogfs import persistence

    pond_dir = tmp_path / "pond"
    DeltaPersistence.create(pond_dir).close()
    calls = []

    def flaky(uri: str, storage_options: object = None) -> DeltaTable:
        calls.append(uri)
        if len(calls) == 1:
            raise DeltaError(
                "Kernel error: File not found: x/data/_delta_log/00000000000000000018.json"
            )
        return DeltaTable(uri, storage_options=storage_options)

    monkeypatch.setattr(persistence, "DeltaTable", flaky)
    opened = DeltaPersistence.open_remote(f"file://{pond_dir}")
    assert len(calls) == 2 and opened.table.version() >= 0
    opened.close()

    def broken(uri: str, storage_options: object = None) -> DeltaTable:
        calls.append(uri)
        raise DeltaError("Kernel error: Invalid JSON in log record")

    monkeypatch.setattr(persistence, "DeltaTable", broken)
    calls.clear()
    with pytest.raises(RemoteError, match="Invalid JSON"):
        DeltaPersistence.open_remote(f"file://{pond_dir}")
    assert len(calls) == 1
