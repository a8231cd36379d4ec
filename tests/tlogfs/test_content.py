"""Content storage: inline below 64 KiB, content-addressed blobs from 64 KiB up."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duckpond.tinyfs.persistence import ROOT_ID
from duckpond.tlogfs import LARGE_FILE_THRESHOLD, DeltaPersistence

from .conftest import add_file, commit_file
from .test_persistence import data_rows

BLOBS = Path("data") / "_large_files"

SIZES = [0, 1, LARGE_FILE_THRESHOLD - 1, LARGE_FILE_THRESHOLD, LARGE_FILE_THRESHOLD + 1]


def pattern(size: int) -> bytes:
    """Every byte value, repeated: catches any text or encoding mangling."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def blob_names(pond_dir: Path) -> set[str]:
    return {p.name for p in (pond_dir / BLOBS).iterdir()}


def stored_content(pond_dir: Path, node_id: str, version: int = 1) -> bytes | None:
    """The ``content`` column of one row, as the Parquet file holds it."""
    rows = data_rows(pond_dir).filter(
        (pc.field("node_id") == node_id) & (pc.field("version") == version)
    )
    value: bytes | None = rows.column("content")[0].as_py()
    return value


@pytest.mark.parametrize("size", SIZES)
def test_size_boundary(pond_dir: Path, store: DeltaPersistence, size: int) -> None:
    data = pattern(size)
    f = commit_file(store, "f", data)
    info = store.latest(f)
    assert info.size == size
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    large = size >= LARGE_FILE_THRESHOLD
    if large:
        path = store.local_path(f)
        assert path is not None and path.name == f"sha256={info.sha256}"
        assert path.read_bytes() == data
        assert stored_content(pond_dir, f) is None
    else:
        assert store.local_path(f) is None
        assert stored_content(pond_dir, f) == data
        assert blob_names(pond_dir) == set()
    assert store.read_bytes(f) == data
    assert DeltaPersistence.open(pond_dir).read_bytes(f) == data


def test_every_byte_value_inline_and_large(pond_dir: Path, store: DeltaPersistence) -> None:
    store.begin()
    small = add_file(store, "small", bytes(range(256)))
    large = add_file(store, "large", bytes(range(255, -1, -1)) * 300)
    store.commit()
    fresh = DeltaPersistence.open(pond_dir)
    assert fresh.read_bytes(small) == bytes(range(256))
    assert fresh.read_bytes(large) == bytes(range(255, -1, -1)) * 300


@pytest.mark.slow
def test_ten_megabytes(pond_dir: Path, store: DeltaPersistence) -> None:
    data = os.urandom(10 * 1024 * 1024)
    f = commit_file(store, "big", data)
    fresh = DeltaPersistence.open(pond_dir)
    assert fresh.read_bytes(f) == data
    assert fresh.latest(f).size == len(data)
    path = fresh.local_path(f)
    assert path is not None and path.stat().st_size == len(data)


def test_same_bytes_share_one_blob(pond_dir: Path, store: DeltaPersistence) -> None:
    data = os.urandom(LARGE_FILE_THRESHOLD * 2)
    a = commit_file(store, "a", data)
    store.begin()
    b = add_file(store, "b", data)
    c = add_file(store, "c", data)
    store.write_version(a, data)
    store.commit()
    assert blob_names(pond_dir) == {f"sha256={hashlib.sha256(data).hexdigest()}"}
    assert store.local_path(a) == store.local_path(b) == store.local_path(c)
    # Rolling back a transaction must not delete a blob that committed rows share.
    store.begin()
    add_file(store, "d", data)
    store.rollback()
    assert DeltaPersistence.open(pond_dir).read_bytes(c) == data


def test_blobs_are_written_before_the_commit_and_no_temporaries_remain(
    pond_dir: Path, store: DeltaPersistence
) -> None:
    data = os.urandom(LARGE_FILE_THRESHOLD)
    store.begin()
    add_file(store, "f", data)
    # Durable before the Delta commit that names it.
    assert blob_names(pond_dir) == {f"sha256={hashlib.sha256(data).hexdigest()}"}
    store.commit()
    assert not [n for n in blob_names(pond_dir) if not n.startswith("sha256=")]


def test_a_large_directory_goes_to_a_blob(pond_dir: Path, store: DeltaPersistence) -> None:
    store.begin()
    for i in range(1500):
        add_file(store, f"file-with-a-longish-name-{i:05}", b"")
    assert store.local_path(ROOT_ID) is None  # not a blob until committed
    store.commit()
    root = store.latest(ROOT_ID)
    assert root.size >= LARGE_FILE_THRESHOLD
    assert store.local_path(ROOT_ID) is not None
    assert stored_content(pond_dir, ROOT_ID, 1) is not None  # the empty root
    assert stored_content(pond_dir, ROOT_ID, 2) is None
    fresh = DeltaPersistence.open(pond_dir)
    assert len(fresh.read_dir(ROOT_ID)) == 1500


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    txns=st.lists(
        st.lists(
            st.one_of(
                st.binary(max_size=300),
                st.integers(LARGE_FILE_THRESHOLD - 2, LARGE_FILE_THRESHOLD + 2).map(pattern),
            ),
            min_size=0,
            max_size=3,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_every_version_reads_back_at_every_past_state(
    tmp_path_factory: pytest.TempPathFactory, txns: list[list[bytes]]
) -> None:
    """Model check: version v of the file, at txn n, is what was written."""
    pond_dir = tmp_path_factory.mktemp("prop") / "pond"
    store = DeltaPersistence.create(pond_dir)
    store.begin()
    f = add_file(store, "f", b"")
    store.commit()
    written: list[tuple[int, bytes]] = [(2, b"")]  # (txn, bytes) per version
    for contents in txns:
        store.begin()
        for data in contents:
            store.write_version(f, data)
        seq = store.commit()
        written.extend((seq, data) for data in contents if seq is not None)
    for at_txn in range(2, store.last_txn + 1):
        past = DeltaPersistence.open(pond_dir, at_txn=at_txn)
        expected = [data for txn, data in written if txn <= at_txn]
        assert [v.version for v in past.versions(f)] == list(range(1, len(expected) + 1))
        for version, data in enumerate(expected, start=1):
            assert past.read_bytes(f, version) == data
        assert past.all_rows().schema.field("size").type == pa.int64()


def test_a_transaction_too_big_for_one_batch_is_still_one_commit(
    pond_dir: Path, store: DeltaPersistence, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckpond.tlogfs.commits as commits

    # Stands in for Arrow's 2 GiB-per-array limit without writing gigabytes.
    monkeypatch.setattr(commits, "_BATCH_CONTENT_LIMIT", 1000)
    store.begin()
    ids = [add_file(store, f"f{i}", bytes([i]) * 600) for i in range(5)]
    store.commit()
    assert DeltaTable(pond_dir / "data").version() == 1
    fresh = DeltaPersistence.open(pond_dir)
    assert [fresh.read_bytes(f) for f in ids] == [bytes([i]) * 600 for i in range(5)]
