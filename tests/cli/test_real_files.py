"""Real files in, right values out (issue 8, sections 1, 3 and 5).

Each test is one input of a kind that broke the pond: Arrow types at its edges
(view types, pandas/polars/Parquet sources, zones, NaN, widening), a series as
one consistent series (event-time order, overlapping re-imports, the time
column), and read commands that only read.
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond import Pond

from .conftest import PondRunner, write

UTC_US = pa.timestamp("us", tz="UTC")


def api(pond_dir: Path) -> Pond:
    return Pond.open(pond_dir)


def csv_rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.strip().splitlines()]


def parquet_file(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def scalar(pond: PondRunner, *args: str) -> Any:
    """The one value of a one-row, one-column result printed as JSON."""
    rows = json.loads(pond.ok(*args, "--format", "json").stdout)
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return next(iter(rows[0].values()))


def readings(start: datetime, count: int, step: timedelta, value: Any) -> str:
    lines = ["timestamp,temp"]
    for i in range(count):
        stamp = (start + i * step).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{stamp},{value(i)}")
    return "\n".join(lines) + "\n"


# -- 1. Arrow types at the pond's edges -----------------------------------------------------


@pytest.fixture
def big_series(pond: PondRunner, host: Path) -> PondRunner:
    """A series stored as a blob (>= 64 KiB) with a text column."""
    lines = ["timestamp,site,temp"]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(12_000):
        stamp = (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{stamp},site-{i % 7}-with-a-longer-name-{i * 7919 % 10007},{i / 8}")
    src = write(host / "big.csv", "\n".join(lines) + "\n")
    assert src.stat().st_size >= 64 << 10
    pond.ok("copy", "--format", "series", str(src), "/big.series")
    assert pond.json("list", "/big.series")[0]["size"] >= 64 << 10
    return pond


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "table"])
def test_a_large_series_with_text_writes_in_every_format(big_series: PondRunner, fmt: str) -> None:
    pond = big_series
    sql = "SELECT site FROM source ORDER BY timestamp"
    out = pond.ok("cat", "/big.series", "--sql", sql, "--format", fmt).stdout_bytes
    query = 'SELECT site FROM "/big.series" ORDER BY timestamp'
    assert pond.ok("query", query, "--format", fmt).stdout_bytes == out
    if fmt == "csv":
        lines = out.decode().splitlines()
        assert lines[:2] == ["site", "site-0-with-a-longer-name-0"]
        assert len(lines) == 12_001
    elif fmt == "json":
        assert json.loads(out)[1] == {"site": "site-1-with-a-longer-name-7919"}
    elif fmt == "parquet":
        table = pq.read_table(io.BytesIO(out))
        assert table.schema.field("site").type == pa.string()
        assert table.num_rows == 12_000
    else:
        assert "site-0-with-a-longer-name-0" in out.decode()


def test_a_large_series_reads_text_as_string(big_series: PondRunner, pond_dir: Path) -> None:
    table = api(pond_dir).sql('SELECT site, temp FROM "/big.series"')
    assert table.schema.field("site").type == pa.string()


def test_polars_text_is_stored_as_string_and_appends_with_every_source(
    pond: PondRunner, pond_dir: Path, host: Path
) -> None:
    import pandas as pd
    import polars as pl

    def at(hour: int) -> datetime:
        return datetime(2025, 3, 1, hour, tzinfo=UTC)

    p = api(pond_dir)
    p.write_series("/mix.series", pl.DataFrame({"timestamp": [at(0)], "site": ["polars"]}))
    assert pond.json("describe", "/mix.series")[0]["columns"][1] == {
        "name": "site",
        "type": "string",
    }
    p.write_series(
        "/mix.series",
        pd.DataFrame({"timestamp": [pd.Timestamp(at(1))], "site": pd.array(["pandas"])}),
    )
    p.write_series(
        "/mix.series",
        pa.table(
            {"timestamp": pa.array([at(2)], UTC_US), "site": pa.array(["arrow"], pa.large_string())}
        ),
    )
    src = write(host / "c.csv", "timestamp,site\n2025-03-01T03:00:00Z,csv\n")
    pond.ok("copy", "--format", "series", str(src), "/mix.series")
    table = pa.table({"timestamp": pa.array([at(4)], UTC_US), "site": ["parquet"]})
    pq.write_table(
        table.cast(pa.schema([("timestamp", UTC_US), ("site", pa.string_view())])),
        host / "v.parquet",
    )
    pond.ok("copy", "--format", "series", str(host / "v.parquet"), "/mix.series")
    p.write_series("/mix.series", pl.DataFrame({"timestamp": [at(5)], "site": ["polars again"]}))
    out = pond.ok("cat", "/mix.series", "--format", "csv").stdout
    assert [row[1] for row in csv_rows(out)[1:]] == [
        "polars",
        "pandas",
        "arrow",
        "csv",
        "parquet",
        "polars again",
    ]
    columns = pond.json("describe", "/mix.series")[0]["columns"]
    assert columns == [
        {"name": "timestamp", "type": "timestamp[us, tz=UTC]"},
        {"name": "site", "type": "string"},
    ]


def test_describe_reports_the_schema_reads_return(pond: PondRunner, host: Path) -> None:
    first = "timestamp,rain,flag\n2025-01-01T00:00:00Z,0,\n2025-01-01T01:00:00Z,0,\n"
    second = "timestamp,rain,flag\n2025-01-01T02:00:00Z,0.5,ok\n"
    pond.ok("copy", "--format", "series", str(write(host / "1.csv", first)), "/r.series")
    pond.ok("copy", "--format", "series", str(write(host / "2.csv", second)), "/r.series")
    columns = {c["name"]: c["type"] for c in pond.json("describe", "/r.series")[0]["columns"]}
    assert columns == {"timestamp": "timestamp[us, tz=UTC]", "rain": "double", "flag": "string"}
    out = pond.ok("cat", "/r.series", "--format", "parquet").stdout_bytes
    read = pq.read_table(io.BytesIO(out)).schema
    assert {f.name: str(f.type) for f in read} == columns
    sql = pond.ok("cat", "/r.series", "--sql", "SELECT * FROM source", "--format", "parquet")
    read = pq.read_table(io.BytesIO(sql.stdout_bytes)).schema
    assert {f.name: str(f.type) for f in read} == columns
    assert scalar(pond, "cat", "/r.series", "--sql", "SELECT sum(rain) FROM source") == 0.5


def test_zoned_parquet_appends_to_a_csv_series_in_utc(pond: PondRunner, host: Path) -> None:
    src = write(host / "a.csv", "timestamp,temp\n2025-06-01T00:00:00Z,1.0\n")
    pond.ok("copy", "--format", "series", str(src), "/s.series")
    rome = pa.array([1748736000 * 10**9 + 3600 * 10**9], pa.timestamp("ns", tz="Europe/Rome"))
    parquet_file(host / "rome.parquet", pa.table({"timestamp": rome, "temp": [2.0]}))
    pond.ok("copy", "--format", "series", str(host / "rome.parquet"), "/s.series")
    out = pond.ok("cat", "/s.series", "--format", "csv").stdout
    assert csv_rows(out)[1:] == [["2025-06-01T00:00:00Z", "1"], ["2025-06-01T01:00:00Z", "2"]]


def test_naive_parquet_copied_with_a_zone_gets_that_zone(pond: PondRunner, host: Path) -> None:
    naive = pa.array([datetime(2025, 6, 1, 12, 0)], pa.timestamp("ms"))
    parquet_file(host / "naive.parquet", pa.table({"timestamp": naive, "temp": [3.0]}))
    pond.ok(
        "copy",
        "--format",
        "series",
        "--tz",
        "Europe/Rome",
        str(host / "naive.parquet"),
        "/n.series",
    )
    out = pond.ok("cat", "/n.series", "--format", "csv").stdout
    # 12:00 in Rome in June (CEST, UTC+2) is 10:00 UTC.
    assert csv_rows(out)[1] == ["2025-06-01T10:00:00Z", "3"]
    assert pond.json("describe", "/n.series")[0]["min_event_time"].startswith("2025-06-01T10:00")


def test_canonical_parquet_is_stored_byte_for_byte(pond: PondRunner, host: Path) -> None:
    table = pa.table(
        {"timestamp": pa.array([0, 60_000_000], UTC_US), "temp": [1.0, 2.0], "site": ["a", "b"]}
    )
    src = parquet_file(host / "ok.parquet", table)
    pond.ok("copy", "--format", "series", str(src), "/ok.series")
    assert pond.cat_bytes("/ok.series", "--format", "raw") == src.read_bytes()


def nan_sources(host: Path, pond_dir: Path, pond: PondRunner) -> list[str]:
    import pandas as pd
    import polars as pl

    stamps = [datetime(2025, 1, 1, h, tzinfo=UTC) for h in range(3)]
    values = [1.0, float("nan"), 3.0]
    p = api(pond_dir)
    p.write_series("/pandas.series", pd.DataFrame({"timestamp": stamps, "v": values}))
    p.write_series("/polars.series", pl.DataFrame({"timestamp": stamps, "v": values}))
    parquet_file(
        host / "nan.parquet", pa.table({"timestamp": pa.array(stamps, UTC_US), "v": values})
    )
    pond.ok("copy", "--format", "series", str(host / "nan.parquet"), "/parquet.series")
    csv = "timestamp,v\n2025-01-01T00:00:00Z,1.0\n2025-01-01T01:00:00Z,\n2025-01-01T02:00:00Z,3.0\n"
    pond.ok("copy", "--format", "series", str(write(host / "nan.csv", csv)), "/csv.series")
    return ["/pandas.series", "/polars.series", "/parquet.series", "/csv.series"]


def test_nan_is_stored_as_null_whatever_the_source(
    pond: PondRunner, pond_dir: Path, host: Path
) -> None:
    for path in nan_sources(host, pond_dir, pond):
        sql = "SELECT avg(v) AS a, count(v) AS n FROM source"
        rows = json.loads(pond.ok("cat", path, "--sql", sql, "--format", "json").stdout)
        assert rows == [{"a": 2.0, "n": 2}], path
        assert json.loads(pond.ok("cat", path, "--format", "json").stdout)[1]["v"] is None


def test_int_then_float_versions_read_as_float(pond: PondRunner, pond_dir: Path) -> None:
    p = api(pond_dir)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    p.write_series("/w.series", pa.table({"timestamp": pa.array([t0], UTC_US), "v": [1]}))
    t1 = t0 + timedelta(hours=1)
    p.write_series("/w.series", pa.table({"timestamp": pa.array([t1], UTC_US), "v": [1.5]}))
    assert p.read_table("/w.series").column("v").to_pylist() == [1.0, 1.5]
    assert scalar(pond, "cat", "/w.series", "--sql", "SELECT sum(v) FROM source") == 2.5


# -- 3. a series stays one consistent series ---------------------------------------------------


def test_overlapping_reimports_keep_one_row_per_time(pond: PondRunner, host: Path) -> None:
    start = datetime(2025, 5, 1, tzinfo=UTC)
    step = timedelta(minutes=15)

    def temp(i: int) -> float:
        return round(10 + 3 * math.sin(i / 10) + (i % 7) / 10, 2)

    day = write(host / "day.csv", readings(start, 96, step, temp))
    both = write(host / "two-days.csv", readings(start, 192, step, temp))
    for src in (day, day, both):
        pond.ok("copy", "--format", "series", str(src), "/t.series")
    true_avg = sum(temp(i) for i in range(192)) / 192
    sql = "SELECT count(*) AS n, avg(temp) AS a FROM source"
    rows = json.loads(pond.ok("cat", "/t.series", "--sql", sql, "--format", "json").stdout)
    assert rows[0]["n"] == 192
    assert rows[0]["a"] == pytest.approx(true_avg, abs=1e-12)
    query = 'SELECT count(*) AS n FROM "/t.series"'
    assert json.loads(pond.ok("query", query, "--format", "json").stdout) == [{"n": 192}]
    out = pond.ok("cat", "/t.series", "--format", "csv").stdout
    assert len(csv_rows(out)) == 193
    # Every stored row, on request.
    out = pond.ok("cat", "/t.series", "--all-versions", "--format", "csv").stdout
    assert len(csv_rows(out)) == 1 + 96 + 192
    rows = json.loads(
        pond.ok("cat", "/t.series", "--all-versions", "--sql", sql, "--format", "json").stdout
    )
    assert rows[0]["n"] == 288
    # A time range reads the same merged rows.
    ranged = pond.ok(
        "cat",
        "/t.series",
        "--start",
        "2025-05-01T12:00Z",
        "--end",
        "2025-05-02T12:00Z",
        "--format",
        "csv",
    ).stdout
    assert len(csv_rows(ranged)) == 1 + 96


def test_a_newer_version_replaces_rows_at_the_same_times(
    pond: PondRunner, pond_dir: Path, host: Path
) -> None:
    first = "timestamp,temp\n2025-01-01T00:00:00Z,1.0\n2025-01-01T01:00:00Z,2.0\n"
    fixed = "timestamp,temp\n2025-01-01T01:00:00Z,20.0\n2025-01-01T02:00:00Z,30.0\n"
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", first)), "/f.series")
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", fixed)), "/f.series")
    out = pond.ok("cat", "/f.series", "--format", "csv").stdout
    assert csv_rows(out)[1:] == [
        ["2025-01-01T00:00:00Z", "1"],
        ["2025-01-01T01:00:00Z", "20"],
        ["2025-01-01T02:00:00Z", "30"],
    ]
    assert api(pond_dir).read_table("/f.series").column("temp").to_pylist() == [1.0, 20.0, 30.0]
    every = api(pond_dir).read_table("/f.series", all_versions=True)
    assert every.column("temp").to_pylist() == [1.0, 2.0, 20.0, 30.0]


def test_a_series_reads_in_event_time_order(pond: PondRunner, host: Path) -> None:
    later = "timestamp,temp\n2025-01-02T00:00:00Z,3.0\n2025-01-02T01:00:00Z,4.0\n"
    shuffled = "timestamp,temp\n2025-01-01T01:00:00Z,2.0\n2025-01-01T00:00:00Z,1.0\n"
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", later)), "/o.series")
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", shuffled)), "/o.series")
    out = pond.ok("cat", "/o.series", "--format", "csv").stdout
    assert [r[1] for r in csv_rows(out)[1:]] == ["1", "2", "3", "4"]


def test_a_version_with_another_time_column_is_refused(pond: PondRunner, host: Path) -> None:
    first = "timestamp,temp\n2025-01-01T00:00:00Z,1.0\n"
    second = "date,temp\n2025-01-02T00:00:00Z,2.0\n"
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", first)), "/d.series")
    message = pond.fails(
        "copy", "--format", "series", str(write(host / "b.csv", second)), "/d.series"
    )
    assert "'date'" in message and "'timestamp'" in message


def test_an_empty_time_cell_is_refused_naming_the_row(pond: PondRunner, host: Path) -> None:
    csv = "timestamp,temp\n2025-01-01T00:00:00Z,1.0\n,2.0\n2025-01-01T02:00:00Z,3.0\n"
    message = pond.fails("copy", "--format", "series", str(write(host / "e.csv", csv)), "/e.series")
    assert "e.csv: data row 2 has no time in column 'timestamp'" in message


# -- 5. read commands only read --------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1 AS a) TO '{out}'",
        "CREATE TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT 1",
        "INSERT INTO t VALUES (1)",
        "SET datafusion.execution.batch_size = 10",
    ],
)
def test_queries_only_read(pond: PondRunner, host: Path, pond_dir: Path, sql: str) -> None:
    src = write(host / "a.csv", "timestamp,temp\n2025-01-01T00:00:00Z,1.0\n")
    pond.ok("copy", "--format", "series", str(src), "/a.series")
    for target in (host / "out.csv", pond_dir / "out.csv"):
        text = sql.format(out=target)
        pond.fails("query", text)
        pond.fails("cat", "/a.series", "--sql", text)
        assert not target.exists()


def test_copy_is_refused_with_a_message_that_says_so(pond: PondRunner, host: Path) -> None:
    message = pond.fails("query", f"COPY (SELECT 1 AS a) TO '{host / 'x.csv'}'")
    assert message.startswith("queries only read: COPY is not allowed")
    assert not (host / "x.csv").exists()
    message = pond.fails("query", "create table t as select 1")
    assert message.startswith("queries only read: CREATE is not allowed")


def test_columns_that_do_not_unify_are_a_clean_error(pond: PondRunner, host: Path) -> None:
    a = "timestamp,x\n2025-01-01T00:00:00Z,1.5\n"
    b = "timestamp,x\n2025-01-01T00:00:00Z,2025-01-01T00:00:00Z\n"
    pond.ok("mkdir", "/g")
    pond.ok("copy", "--format", "series", str(write(host / "a.csv", a)), "/g/a.series")
    pond.ok("copy", "--format", "series", str(write(host / "b.csv", b)), "/g/b.series")
    plain = pond.fails("cat", "/g/*.series", "--format", "csv")
    assert "compatible columns" in plain
    assert pond.fails("cat", "/g/*.series", "--sql", "SELECT * FROM source") == plain
    assert pond.fails("query", 'SELECT * FROM "/g/*.series"') == plain


def test_zoned_frames_of_any_unit_are_stored_in_utc_microseconds(
    pond: PondRunner, pond_dir: Path
) -> None:
    import pandas as pd
    import polars as pl

    p = api(pond_dir)
    rome = pd.Timestamp("2025-06-01 12:00:00.123456789", tz="Europe/Rome")
    p.write_series("/z.series", pd.DataFrame({"timestamp": [rome], "v": [1.0]}))
    tokyo = datetime(2025, 6, 1, 21, 0, tzinfo=UTC)
    frame = pl.DataFrame({"timestamp": [tokyo], "v": [2.0]}).with_columns(
        pl.col("timestamp").dt.cast_time_unit("ms").dt.convert_time_zone("Asia/Tokyo")
    )
    p.write_series("/z.series", frame)
    table = p.read_table("/z.series")
    assert table.schema.field("timestamp").type == UTC_US
    assert table.column("timestamp").to_pylist() == [
        datetime(2025, 6, 1, 10, 0, 0, 123456, tzinfo=UTC),
        tokyo,
    ]
