"""Compaction and checkpoints keep commits and opens flat without costing time travel."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from duckpond.tinyfs.persistence import ROOT_ID
from duckpond.tlogfs import DeltaPersistence, fsck

from .conftest import add_dir, add_file


def active_files(pond_dir: Path) -> int:
    dt = DeltaTable(pond_dir / "data")
    return int(pa.RecordBatchReader.from_stream(dt.get_add_actions()).read_all().num_rows)


def last_checkpoint(pond_dir: Path) -> int | None:
    path = pond_dir / "data" / "_delta_log" / "_last_checkpoint"
    return int(json.loads(path.read_text())["version"]) if path.exists() else None


def grow(store: DeltaPersistence, commits: int) -> tuple[str, dict[int, bytes]]:
    """One transaction per commit, each adding a file and a version of a shared file."""
    store.begin()
    d = add_dir(store, "d")
    shared = add_file(store, "shared", b"v0", parent=d)
    store.commit()
    contents = {store.last_txn: b"v0"}
    for i in range(commits):
        store.begin()
        add_file(store, f"f{i}", f"file {i}".encode(), parent=d if i % 2 else ROOT_ID)
        data = f"v{i + 1}".encode()
        store.write_version(shared, data)
        contents[store.commit() or 0] = data
    return shared, contents


def check_time_travel(pond_dir: Path, shared: str, contents: dict[int, bytes]) -> None:
    for txn, data in contents.items():
        past = DeltaPersistence.open(pond_dir, at_txn=txn)
        assert past.read_bytes(shared) == data
        root = past.read_dir(ROOT_ID)
        d = past.read_dir(root["d"].node_id)
        assert len(root) + len(d) - 2 == txn - 2  # files f0.. made so far, plus d and shared


def test_maintenance_compacts_and_checkpoints(pond_dir: Path) -> None:
    store = DeltaPersistence.create(pond_dir, maintenance_interval=10)
    reader = DeltaPersistence.open(pond_dir)  # knows only the files of txn 1
    shared, contents = grow(store, 34)
    history = DeltaTable(pond_dir / "data").history()
    optimizes = [c for c in history if c["operation"] == "OPTIMIZE"]
    assert len(optimizes) == 3
    assert all("txn_seq" not in c for c in optimizes)
    assert (last_checkpoint(pond_dir) or 0) >= 30
    # Maintenance commits are not pond transactions.
    assert [t.txn_seq for t in store.transactions()] == list(range(36, 0, -1))
    assert store.last_txn == 36
    # Three partitions (root, d, and nothing else): compaction keeps files few.
    assert active_files(pond_dir) <= 3 + 2 * 10
    check_time_travel(pond_dir, shared, contents)
    # The writer's own index survived the files moving under it.
    assert store.read_bytes(shared, 5) == contents[6]
    # An old handle still reads from the files compaction replaced (never vacuumed).
    assert reader.read_dir(ROOT_ID) == {}
    assert reader.read_bytes(ROOT_ID) == DeltaPersistence.open(pond_dir, at_txn=1).read_bytes(
        ROOT_ID
    )
    assert fsck(pond_dir).ok
    config = DeltaTable(pond_dir / "data").metadata().configuration
    assert config["delta.enableExpiredLogCleanup"] == "false"


@pytest.mark.slow
def test_default_interval_keeps_time_travel(pond_dir: Path) -> None:
    store = DeltaPersistence.create(pond_dir)
    shared, contents = grow(store, 110)
    assert last_checkpoint(pond_dir) is not None
    assert any(c["operation"] == "OPTIMIZE" for c in DeltaTable(pond_dir / "data").history())
    sample = {t: contents[t] for t in list(contents)[::10]}
    check_time_travel(pond_dir, shared, sample)
    assert store.transactions()[0].txn_seq == 112


def test_explicit_maintenance(pond_dir: Path, store: DeltaPersistence) -> None:
    shared, contents = grow(store, 5)
    before = active_files(pond_dir)
    store.maintain()
    assert active_files(pond_dir) < before
    assert last_checkpoint(pond_dir) == DeltaTable(pond_dir / "data").version()
    check_time_travel(pond_dir, shared, contents)


def test_transactions_limit_reads_newest_and_skips_maintenance(tmp_path: Path) -> None:
    store = DeltaPersistence.create(tmp_path / "p", maintenance_interval=3)
    for i in range(10):
        store.begin()
        add_file(store, f"f{i}", b"x")
        store.commit({"command": ["t", str(i)]})
    everything = store.transactions()
    assert [t.txn_seq for t in everything] == list(range(11, 0, -1))
    assert [t.txn_seq for t in store.transactions(2)] == [11, 10]
    assert store.transactions(20) == everything
    past = DeltaPersistence.open(tmp_path / "p", at_txn=4)
    assert [t.txn_seq for t in past.transactions(2)] == [4, 3]


def test_a_busy_directory_is_compacted_between_full_maintenance(tmp_path: Path) -> None:
    from duckpond.tlogfs.persistence import PARTITION_FILE_LIMIT

    store = DeltaPersistence.create(tmp_path / "p", maintenance_interval=1000)
    for i in range(PARTITION_FILE_LIMIT * 2 + 5):
        store.begin()
        add_file(store, f"f{i}", f"v{i}".encode())
        store.commit()
    actions = pa.RecordBatchReader.from_stream(
        DeltaTable(tmp_path / "p" / "data").get_add_actions(flatten=True)
    ).read_all()
    parts = actions.column("partition.part_id").to_pylist()
    assert parts.count(ROOT_ID) <= PARTITION_FILE_LIMIT
    # Compaction keeps every row: the newest state and every past one read back.
    reopened = DeltaPersistence.open(tmp_path / "p")
    assert len(reopened.read_dir(ROOT_ID)) == PARTITION_FILE_LIMIT * 2 + 5
    past = DeltaPersistence.open(tmp_path / "p", at_txn=6)
    assert sorted(past.read_dir(ROOT_ID)) == [f"f{i}" for i in range(5)]
    assert [t.txn_seq for t in reopened.transactions(1)] == [PARTITION_FILE_LIMIT * 2 + 6]


def test_a_compaction_keeps_the_writers_reads_right_without_reloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer that compacted a crowded partition reads every version of every node
    exactly as before, and indexes only the files the compaction wrote: no file it
    had read is read again (before, its whole index started over)."""
    from duckpond.tlogfs import maintenance
    from duckpond.tlogfs.persistence import PARTITION_FILE_LIMIT

    # A commit's file is about 4 KB: compaction packs two or three into one, and
    # leaves the first commit's larger file alone.
    monkeypatch.setattr(maintenance, "PARTITION_COMPACT_BYTES", 12_000)
    store = DeltaPersistence.create(tmp_path / "p", maintenance_interval=1000)
    index = store._view.index
    loaded: list[str] = []
    load_file = index._load_file

    def counting(f: object) -> set[str]:
        loaded.append(f.path)  # type: ignore[attr-defined]
        return load_file(f)  # type: ignore[arg-type]

    monkeypatch.setattr(index, "_load_file", counting)
    store.begin()
    d = add_dir(store, "d")
    nodes = [add_file(store, f"s{n}", f"s{n} v1".encode(), parent=d) for n in range(3)]
    store.commit()
    expected = {node: [f"s{n} v1".encode()] for n, node in enumerate(nodes)}
    commits = PARTITION_FILE_LIMIT * 5
    for i in range(commits):
        store.begin()
        for n, node in enumerate(nodes):
            size = 5000 if i == 0 else 60 + i % 7 * 20
            data = random.Random(i * 3 + n).randbytes(size)
            store.write_version(node, data)
            expected[node].append(data)
        if i % 10 == 0:
            add_file(store, f"f{i}", b"x")  # the root's partition, untouched by compaction
        store.commit()
        for node, contents in expected.items():
            versions = store.versions(node)
            assert [v.version for v in versions] == list(range(1, len(contents) + 1))
            assert [store.read_bytes(node, v.version) for v in versions] == contents
    history = DeltaTable(tmp_path / "p" / "data").history()
    assert sum(c["operation"] == "OPTIMIZE" for c in history) >= 3
    assert len(loaded) == len(set(loaded)), "a data file was indexed twice"
    # The large file was left alone by every compaction, beside their files.
    first = {p for p in loaded[:3] if "part_id=" + d in p}
    assert first and first <= set(store.snapshot_files())
    # A fresh reader agrees with the writer.
    reopened = DeltaPersistence.open(tmp_path / "p")
    for node, contents in expected.items():
        assert [reopened.read_bytes(node, v) for v in range(1, len(contents) + 1)] == contents
    assert fsck(tmp_path / "p").ok
