"""The query layer over a real pond: Delta oplog, blobs on disk, commit metadata."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond.query import QuerySession, cat, query
from duckpond.tinyfs import FS, WD
from duckpond.tlogfs import LARGE_FILE_THRESHOLD, DeltaPersistence

from .conftest import HOUR, add_version, hourly, parquet_bytes


@pytest.fixture
def pond(tmp_path: Path) -> Iterator[tuple[WD, DeltaPersistence]]:
    persistence = DeltaPersistence.create(tmp_path / "pond")
    fs = FS(persistence)
    root = fs.root()
    with fs.transaction({"command": ["pond", "mkdir", "/data"]}):
        root.mkdir("/data")
    yield root, persistence
    persistence.close()


def noise(seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return lambda n: pa.array([rng.random() for _ in range(n)])


def test_large_versions_are_scanned_from_their_blob_files(
    pond: tuple[WD, DeltaPersistence],
) -> None:
    wd, persistence = pond
    big = hourly(0, 1000, temp=noise(1))
    assert len(parquet_bytes(big)) >= LARGE_FILE_THRESHOLD
    small = hourly(1000, 1, temp=[0.5] * 4)
    with wd.fs.transaction({"command": ["pond", "copy", "big.csv", "/data/s.series"]}):
        add_version(wd, "/data/s.series", big)
    with wd.fs.transaction({"command": ["pond", "copy", "small.csv", "/data/s.series"]}):
        add_version(wd, "/data/s.series", small)
    node_id = wd.get("/data/s.series").node_id
    assert persistence.local_path(node_id, 1) is not None
    assert persistence.local_path(node_id, 2) is None

    session = QuerySession(wd)
    session.register("source", "/data/s.series")
    got = session.sql("SELECT count(*) AS n, sum(temp) AS s FROM source").to_pylist()[0]
    assert got["n"] == 4004
    assert got["s"] == pytest.approx(sum(big["temp"].to_pylist()) + 2.0)
    assert cat(wd, "/data/s.series").read_all().equals(pa.concat_tables([big, small]))

    ranged = QuerySession(wd)
    ranged.register("source", "/data/s.series", start=1000 * HOUR)
    assert ranged.sql("SELECT count(*) AS n FROM source").column("n").to_pylist() == [4]
    assert ranged.versions_read == [("/data/s.series", 2)]


def test_system_tables_come_from_the_oplog(pond: tuple[WD, DeltaPersistence]) -> None:
    wd, _ = pond
    with wd.fs.transaction({"command": ["pond", "copy", "a", "/data/a.series"]}):
        add_version(wd, "/data/a.series", hourly(0, 1, temp=[1.0] * 4))
    with wd.fs.transaction({"command": ["pond", "rm", "/data/a.series"]}):
        wd.remove("/data/a.series")

    # The removed series is gone from entries but its version is still in nodes.
    series = query(wd, "SELECT count(*) AS n FROM nodes WHERE file_type = 'file:series'")
    assert series.read_all().column("n").to_pylist() == [1]
    paths = query(wd, "SELECT path FROM entries").read_all().column("path").to_pylist()
    assert paths == ["/data"]

    txns = query(wd, "SELECT txn_seq, command FROM transactions ORDER BY txn_seq").read_all()
    assert txns.column("txn_seq").to_pylist() == [1, 2, 3, 4]
    assert txns.column("command").to_pylist()[1:] == [
        ["pond", "mkdir", "/data"],
        ["pond", "copy", "a", "/data/a.series"],
        ["pond", "rm", "/data/a.series"],
    ]


def test_time_travel_reads_the_past_state(tmp_path: Path) -> None:
    persistence = DeltaPersistence.create(tmp_path / "pond")
    wd = FS(persistence).root()
    add_version(wd, "/a.series", hourly(0, 1, temp=[1.0] * 4))
    add_version(wd, "/a.series", hourly(1, 1, temp=[2.0] * 4))
    persistence.close()
    past = DeltaPersistence.open(tmp_path / "pond", at_txn=2)
    got = cat(FS(past).root(), "/a.series", sql="SELECT avg(temp) AS t FROM source").read_all()
    assert got.column("t").to_pylist() == [1.0]
    past.close()
