"""Real files in, right values out (issue 8): empty versions, describe's counts and
sizes, and the source path of each row over a glob."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.errors import FormatError

from .conftest import PondRunner, write

UTC_US = pa.timestamp("us", tz="UTC")


def test_an_empty_series_version_is_refused_alike(
    pond: PondRunner, pond_dir: Path, host: Path
) -> None:
    src = write(host / "h.csv", "timestamp,v\n")
    message = pond.fails("copy", "--format", "series", str(src), "/h.series")
    assert str(src) in message and "no data rows" in message
    empty = pa.table({"timestamp": pa.array([], UTC_US), "v": pa.array([], pa.float64())})
    p = Pond.open(pond_dir)
    with pytest.raises(FormatError, match="no data rows"):
        p.write_series("/h.series", empty)
    assert pond.paths("/") == []


def test_an_empty_table_is_allowed_alike(pond: PondRunner, pond_dir: Path, host: Path) -> None:
    src = write(host / "h.csv", "timestamp,v\n")
    pond.ok("copy", "--format", "table", str(src), "/h.table")
    assert pond.json("describe", "/h.table")[0]["rows"] == 0
    assert [c["name"] for c in pond.json("describe", "/h.table")[0]["columns"]] == [
        "timestamp",
        "v",
    ]
    empty = pa.table({"timestamp": pa.array([], UTC_US), "v": pa.array([], pa.float64())})
    p = Pond.open(pond_dir)
    p.write_table("/e.table", empty)
    assert p.read_table("/e.table").num_rows == 0


def readings(day: int, values: list[float]) -> str:
    lines = ["timestamp,temp"]
    lines += [f"2025-01-0{day}T0{h}:00:00Z,{v}" for h, v in enumerate(values)]
    return "\n".join(lines) + "\n"


def test_describe_rows_are_what_reads_return(pond: PondRunner, host: Path) -> None:
    pond.ok(
        "copy",
        "--format",
        "series",
        str(write(host / "a.csv", readings(1, [1, 2, 3]))),
        "/s.series",
    )
    pond.ok(
        "copy", "--format", "series", str(write(host / "b.csv", readings(1, [4, 5]))), "/s.series"
    )
    pond.ok("copy", "--format", "series", str(write(host / "c.csv", readings(2, [6]))), "/s.series")
    described = pond.json("describe", "/s.series")[0]
    read = json.loads(pond.ok("cat", "/s.series", "--format", "json").stdout)
    assert described["rows"] == len(read) == 4
    assert described["stored_rows"] == 6
    text = pond.ok("describe", "/s.series").stdout
    assert "rows:     4 (6 stored)" in text


def test_sizes_say_what_they_measure(pond: PondRunner, host: Path) -> None:
    pond.ok(
        "copy", "--format", "series", str(write(host / "a.csv", readings(1, [1, 2]))), "/s.series"
    )
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", readings(2, [3]))), "/s.series")
    pond.ok("copy", str(write(host / "n.txt", "one")), "/n.txt")
    pond.ok("copy", str(write(host / "n.txt", "three")), "/n.txt")
    series, data = pond.json("describe", "/s.series")[0], pond.json("describe", "/n.txt")[0]
    listed = {e["path"]: e["size"] for e in pond.json("list", "/")}
    assert series["size_of"] == "all versions" and series["size"] > series["latest_size"]
    assert listed["/s.series"] == series["latest_size"]
    assert data["size_of"] == "latest version" and data["size"] == data["latest_size"] == 5
    assert "bytes (all versions)" in pond.ok("describe", "/s.series").stdout
    assert "bytes (latest version)" in pond.ok("describe", "/n.txt").stdout
    assert "latest size" in pond.ok("list", "-l", "/").stdout.splitlines()[0]


def test_cat_with_path_over_a_glob(pond: PondRunner, pond_dir: Path, host: Path) -> None:
    pond.ok(
        "copy", "--format", "series", str(write(host / "a.csv", readings(1, [1, 2]))), "/a.series"
    )
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", readings(2, [3]))), "/b.series")
    rows = json.loads(pond.ok("cat", "/*.series", "--with-path", "--format", "json").stdout)
    assert [(r["path"], r["temp"]) for r in rows] == [
        ("/a.series", 1),
        ("/a.series", 2),
        ("/b.series", 3),
    ]
    sql = "SELECT path, sum(temp) AS s FROM source GROUP BY path ORDER BY path"
    got = json.loads(
        pond.ok("cat", "/*.series", "--with-path", "--sql", sql, "--format", "json").stdout
    )
    assert got == [{"path": "/a.series", "s": 3}, {"path": "/b.series", "s": 3}]
    table = Pond.open(pond_dir).cat("/*.series", with_path=True).read_all()
    assert table.column("path").to_pylist() == ["/a.series", "/a.series", "/b.series"]
    plain = json.loads(pond.ok("cat", "/*.series", "--format", "json").stdout)
    assert "path" not in plain[0]
