"""A series reads in event-time order; overlapping versions merge, newest rows winning.

What makes it cost nothing when versions do not overlap: each such version
stays a plain part (a file on disk, handed to the engine by path), and only a
group of overlapping versions is read into memory.
"""

from __future__ import annotations

import pyarrow as pa

from duckpond.query import QuerySession
from duckpond.query.output import write_csv, write_json, write_parquet
from duckpond.tinyfs import WD

from .conftest import HOUR, UTC_US, DiskPersistence, add_version, hourly


def series(wd: WD, *tables: pa.Table, path: str = "/data/s.series") -> str:
    for table in tables:
        add_version(wd, path, table)
    return path


def values(table: pa.Table) -> list[float]:
    return [float(v) for v in table.column("v").to_pylist()]


def test_versions_that_do_not_overlap_are_plain_file_parts(
    disk_wd: WD, disk: DiskPersistence
) -> None:
    path = series(
        disk_wd,
        hourly(48, 24, 60, v=lambda n: [2.0] * n),
        hourly(0, 24, 60, v=lambda n: [0.0] * n),
        hourly(24, 24, 60, v=lambda n: [1.0] * n),
    )
    parts = QuerySession(disk_wd, persistence=disk).parts(path)
    assert all(p.path is not None for p in parts)
    # Ordered by event time, not by version.
    assert [p.label.rsplit("@", 1)[1] for p in parts] == ["v2", "v3", "v1"]
    table = QuerySession(disk_wd, persistence=disk).scan(path).read_all()
    assert values(table) == [0.0] * 1440 + [1.0] * 1440 + [2.0] * 1440


def test_only_overlapping_versions_are_merged(disk_wd: WD, disk: DiskPersistence) -> None:
    path = series(
        disk_wd,
        hourly(0, 24, 60, v=lambda n: [0.0] * n),
        hourly(100, 24, 60, v=lambda n: [5.0] * n),
        hourly(12, 24, 60, v=lambda n: [1.0] * n),
    )
    parts = QuerySession(disk_wd, persistence=disk).parts(path)
    assert [p.path is None for p in parts] == [True, False]
    table = QuerySession(disk_wd, persistence=disk).scan(path).read_all()
    assert values(table) == [0.0] * 720 + [1.0] * 1440 + [5.0] * 1440
    times = table.column("timestamp").cast(pa.int64()).to_pylist()
    assert times == sorted(times) and len(set(times)) == len(times)
    every = QuerySession(disk_wd, persistence=disk, all_versions=True).scan(path).read_all()
    assert every.num_rows == 1440 * 3


def test_touching_ranges_overlap_at_the_shared_time(wd: WD) -> None:
    path = series(
        wd,
        pa.table({"timestamp": pa.array([0, HOUR], UTC_US), "v": [1.0, 2.0]}),
        pa.table({"timestamp": pa.array([HOUR, 2 * HOUR], UTC_US), "v": [20.0, 30.0]}),
    )
    assert values(QuerySession(wd).scan(path).read_all()) == [1.0, 20.0, 30.0]
    assert QuerySession(wd).sql(f'SELECT sum(v) AS s FROM "{path}"').to_pylist() == [{"s": 51.0}]


def test_rows_of_one_version_at_one_time_are_all_kept(wd: WD) -> None:
    # Only a newer version replaces rows; a version's own rows are kept as stored.
    path = series(
        wd,
        pa.table({"timestamp": pa.array([0, 0, HOUR], UTC_US), "v": [1.0, 2.0, 3.0]}),
        pa.table({"timestamp": pa.array([HOUR], UTC_US), "v": [30.0]}),
    )
    assert values(QuerySession(wd).scan(path).read_all()) == [1.0, 2.0, 30.0]


def test_writers_write_view_types() -> None:
    import io

    import pyarrow.parquet as pq

    table = pa.table(
        {
            "s": pa.array(["a", None, "c,d"], pa.string_view()),
            "b": pa.array([b"x", None, b"z"], pa.binary_view()),
        }
    )
    out = io.BytesIO()
    write_csv(table, out)
    lines = out.getvalue().decode().splitlines()
    assert lines[0] == "s,b" and lines[1].startswith('"a",') and len(lines) == 4
    out = io.BytesIO()
    write_json(table, out)
    assert b'"c,d"' in out.getvalue()
    out = io.BytesIO()
    write_parquet(table, out)
    assert pq.read_table(io.BytesIO(out.getvalue())).schema.field("s").type == pa.string()
