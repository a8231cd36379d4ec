"""SQL over pond files: checked against pandas and pyarrow run on the same source data."""

from __future__ import annotations

import gc
import random
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from duckpond.errors import ConfigError, FormatError, QueryError
from duckpond.query import (
    QuerySession,
    cat,
    create_engine,
    query,
    read_node,
    read_source,
    run_query,
)
from duckpond.query import engine as engine_module
from duckpond.query.engine import referenced_names
from duckpond.tinyfs import FILE_DATA, FILE_TABLE, WD, FactoryContext

from .conftest import (
    HOUR,
    UTC_US,
    CountingPersistence,
    DiskPersistence,
    add_version,
    hourly,
    parquet_bytes,
)


def temps(seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return lambda n: pa.array([round(rng.uniform(-5, 30), 3) for _ in range(n)])


def three_versions(wd: WD, path: str = "/data/site.series") -> pa.Table:
    """Hours 0-9, 10-19, 20-29, one version each; return all rows as written."""
    tables = [hourly(10 * v, 10, temp=temps(v)) for v in range(3)]
    for table in tables:
        add_version(wd, path, table)
    return pa.concat_tables(tables)


def frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


# -- reading a series -------------------------------------------------------------------


def test_series_is_all_versions_in_order(wd: WD) -> None:
    written = three_versions(wd)
    got = cat(wd, "/data/site.series").read_all()
    assert got.equals(written)


def test_filter_matches_pandas(wd: WD) -> None:
    written = frame(three_versions(wd))
    got = cat(
        wd, "/data/site.series", sql="SELECT timestamp, temp FROM source WHERE temp > 20"
    ).read_all()
    expected = written[written.temp > 20].sort_values("timestamp")
    assert sorted(got.column("timestamp").to_pylist()) == list(expected.timestamp)
    assert sorted(got.column("temp").to_pylist()) == sorted(expected.temp)


def test_hourly_aggregates_match_pandas(wd: WD) -> None:
    written = frame(three_versions(wd))
    got = frame(
        cat(
            wd,
            "/data/site.series",
            sql="SELECT date_trunc('hour', timestamp) AS hour, avg(temp) AS avg, "
            "min(temp) AS min, max(temp) AS max, count(*) AS n "
            "FROM source GROUP BY 1 ORDER BY 1",
        ).read_all()
    )
    expected = (
        written.set_index("timestamp")
        .temp.resample("1h")
        .agg(["mean", "min", "max", "count"])
        .reset_index()
    )
    assert list(got.hour) == list(expected.timestamp)
    assert got["avg"].tolist() == pytest.approx(expected["mean"].tolist(), rel=1e-12)
    assert got["min"].tolist() == expected["min"].tolist()
    assert got["max"].tolist() == expected["max"].tolist()
    assert got["n"].tolist() == expected["count"].tolist()


def test_time_range_spans_versions_start_inclusive_end_exclusive(wd: WD) -> None:
    written = three_versions(wd)
    start, end = 8 * HOUR, 22 * HOUR
    got = cat(wd, "/data/site.series", start=start, end=end).read_all()
    ts = written.column("timestamp").cast(pa.int64()).to_pylist()
    expected = written.filter(pa.array([start <= t < end for t in ts]))
    assert got.equals(expected)
    assert got.column("timestamp")[0].value == start
    assert got.column("timestamp")[-1].value < end


def test_time_range_accepts_datetimes(wd: WD) -> None:
    three_versions(wd)
    start = datetime(1970, 1, 1, 12, tzinfo=UTC)
    end = datetime(1970, 1, 1, 13)  # naive means UTC
    got = cat(wd, "/data/site.series", sql="SELECT count(*) AS n FROM source", start=start, end=end)
    assert got.read_all().column("n").to_pylist() == [4]


def test_versions_outside_the_range_are_not_read(wd: WD, persistence: CountingPersistence) -> None:
    three_versions(wd)
    node_id = wd.get("/data/site.series").node_id
    persistence.reads.clear()
    session = QuerySession(wd)
    session.register("source", "/data/site.series", start=12 * HOUR, end=15 * HOUR)
    n = session.sql("SELECT count(*) AS n FROM source").column("n").to_pylist()
    assert n == [12]
    assert session.versions_read == [("/data/site.series", 2)]
    assert set(persistence.reads) == {(node_id, 2)}


def test_range_touching_a_version_boundary(wd: WD) -> None:
    three_versions(wd)
    session = QuerySession(wd)
    # Version 1 ends at 9:45, version 2 starts at 10:00: [9:45, 10:00) is version 1 only.
    session.register("source", "/data/site.series", start=9 * HOUR + 3 * HOUR // 4, end=10 * HOUR)
    assert session.sql("SELECT count(*) AS n FROM source").column("n").to_pylist() == [1]
    assert session.versions_read == [("/data/site.series", 1)]


def test_range_with_no_version_gives_no_rows_but_keeps_columns(wd: WD) -> None:
    three_versions(wd)
    got = cat(wd, "/data/site.series", sql="SELECT * FROM source", start=100 * HOUR).read_all()
    assert got.num_rows == 0
    assert got.column_names == ["timestamp", "temp"]


def test_bad_ranges(wd: WD) -> None:
    three_versions(wd)
    with pytest.raises(ConfigError, match="before"):
        cat(wd, "/data/site.series", start=5, end=5)
    wd.write_file("/data/plain.table", _table_bytes(pa.table({"v": [1]})), node_type=FILE_TABLE)
    with pytest.raises(ConfigError, match="timestamp column"):
        cat(wd, "/data/plain.table", start=0)


def test_added_column_reads_as_null_in_older_versions(wd: WD) -> None:
    add_version(wd, "/data/s.series", hourly(0, 2, temp=[1.0] * 8))
    add_version(wd, "/data/s.series", hourly(2, 2, temp=[2.0] * 8, humidity=[50] * 8))
    got = cat(wd, "/data/s.series").read_all()
    assert got.column_names == ["timestamp", "temp", "humidity"]
    assert got.column("humidity").to_pylist() == [None] * 8 + [50] * 8
    via_sql = cat(
        wd, "/data/s.series", sql="SELECT count(*) AS n, count(humidity) AS h FROM source"
    ).read_all()
    assert via_sql.to_pylist() == [{"n": 16, "h": 8}]


def test_glob_unions_by_column_name(wd: WD) -> None:
    add_version(wd, "/data/a.series", hourly(0, 1, temp=[1.0] * 4))
    # Same columns in another order, plus one the first lacks.
    b = hourly(0, 1, temp=[2.0] * 4, depth=[3] * 4).select(["depth", "temp", "timestamp"])
    add_version(wd, "/data/b.series", b)
    got = cat(
        wd,
        "/data/*.series",
        sql="SELECT temp, depth FROM source ORDER BY temp, timestamp",
    ).read_all()
    assert got.column("temp").to_pylist() == [1.0] * 4 + [2.0] * 4
    assert got.column("depth").to_pylist() == [None] * 4 + [3] * 4
    plain = cat(wd, "/data/*.series").read_all()
    assert plain.column_names == ["timestamp", "temp", "depth"]
    assert plain.num_rows == 8


def test_glob_matching_nothing(wd: WD) -> None:
    with pytest.raises(FileNotFoundError):
        cat(wd, "/data/*.nothing")


def test_table_is_its_latest_version(wd: WD) -> None:
    wd.write_file("/data/t", _table_bytes(pa.table({"v": [1, 2]})), node_type=FILE_TABLE)
    wd.write_file("/data/t", _table_bytes(pa.table({"v": [3]})), node_type=FILE_TABLE)
    assert cat(wd, "/data/t", sql="SELECT sum(v) AS s FROM source").read_all()["s"][0].as_py() == 3


def test_raw_csv_file_is_queryable(wd: WD) -> None:
    wd.write_file("/data/raw.csv", b"timestamp,v\n2024-01-01,1\n2024-01-02,2\n")
    got = cat(wd, "/data/raw.csv", sql="SELECT sum(v) AS s FROM source").read_all()
    assert got["s"][0].as_py() == 3


def test_raw_bytes_are_not_a_table(wd: WD) -> None:
    wd.write_file("/data/blob.bin", b"\x00\x01", node_type=FILE_DATA)
    with pytest.raises(FormatError, match="cannot be read as a table"):
        cat(wd, "/data/blob.bin")


def test_directory_is_not_a_table(wd: WD) -> None:
    with pytest.raises(IsADirectoryError):
        cat(wd, "/data")


# -- large versions on disk -------------------------------------------------------------------


def test_versions_on_disk_are_read_by_path_not_copied(disk_wd: WD, disk: DiskPersistence) -> None:
    big = hourly(0, 200, temp=temps(1))  # well above the 2 KiB threshold
    small = hourly(200, 1, temp=[1.0] * 4)
    add_version(disk_wd, "/data/s.series", big)
    add_version(disk_wd, "/data/s.series", small)
    node_id = disk_wd.get("/data/s.series").node_id
    assert (node_id, 1) in disk.blobs and (node_id, 2) not in disk.blobs
    disk.reads.clear()
    got = cat(disk_wd, "/data/s.series", sql="SELECT count(*) AS n, max(temp) AS m FROM source")
    row = got.read_all().to_pylist()[0]
    assert row["n"] == 804
    assert row["m"] == pytest.approx(max(big.column("temp").to_pylist()))
    # Only the inline version went through read_bytes.
    assert set(disk.reads) == {(node_id, 2)}
    assert cat(disk_wd, "/data/s.series").read_all().equals(pa.concat_tables([big, small]))


def test_range_filter_applies_inside_disk_versions(disk_wd: WD) -> None:
    add_version(disk_wd, "/data/s.series", hourly(0, 200, temp=temps(2)))
    sql = "SELECT min(timestamp) AS lo, max(timestamp) AS hi, count(*) AS n FROM source"
    got = cat(disk_wd, "/data/s.series", sql=sql, start=10 * HOUR, end=20 * HOUR).read_all()
    row = got.to_pylist()[0]
    assert row["n"] == 40
    assert row["lo"] == datetime(1970, 1, 1, 10, tzinfo=UTC)
    assert row["hi"] == datetime(1970, 1, 1, 19, 45, tzinfo=UTC)
    plain = cat(disk_wd, "/data/s.series", start=10 * HOUR, end=20 * HOUR).read_all()
    assert plain.num_rows == 40


def test_schema_evolution_across_disk_and_inline_versions(disk_wd: WD) -> None:
    add_version(disk_wd, "/data/s.series", hourly(0, 200, temp=temps(3)))
    add_version(disk_wd, "/data/s.series", hourly(200, 1, temp=[0.0] * 4, extra=[7] * 4))
    got = cat(disk_wd, "/data/s.series", sql="SELECT sum(extra) AS e, count(*) AS n FROM source")
    assert got.read_all().to_pylist() == [{"e": 28, "n": 804}]


def test_many_disk_versions_scan_as_one_table(disk_wd: WD) -> None:
    # Disk versions are scanned together; columns added later read as NULL before,
    # integers widen to floats, and columns keep their order of first appearance.
    versions = [
        hourly(0, 100, temp=temps(4), count=pa.array(range(400), pa.int64())),
        hourly(100, 100, temp=temps(5), count=pa.array([0.5] * 400)),
        hourly(200, 100, temp=temps(6), extra=[3] * 400),
    ]
    for table in versions:
        add_version(disk_wd, "/data/s.series", table)
    sql = "SELECT * FROM source ORDER BY timestamp"
    got = cat(disk_wd, "/data/s.series", sql=sql).read_all()
    assert got.column_names == ["timestamp", "temp", "count", "extra"]
    assert got.schema.field("count").type == pa.float64()
    assert got.num_rows == 1200
    assert got.column("count").to_pylist()[399:401] == [399.0, 0.5]
    assert got.column("extra").null_count == 800
    totals = "SELECT count(*) AS n, sum(extra) AS e, min(timestamp) AS lo FROM source"
    bounded = cat(disk_wd, "/data/s.series", sql=totals, start=150 * HOUR, end=250 * HOUR)
    assert bounded.read_all().to_pylist() == [
        {"n": 400, "e": 600, "lo": datetime(1970, 1, 7, 6, tzinfo=UTC)}
    ]


def test_scan_links_are_reused_and_removed_when_unused(
    disk_wd: WD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for v in range(3):
        add_version(disk_wd, "/data/s.series", hourly(100 * v, 100, temp=temps(v)))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(engine_module, "_LISTINGS", OrderedDict())
    sql = "SELECT count(*) AS n FROM source"
    stream = cat(disk_wd, "/data/s.series", sql=sql)
    assert len(list(scratch.iterdir())) == 1, "disk versions are scanned through links"
    assert cat(disk_wd, "/data/s.series", sql=sql).read_all().to_pylist() == [{"n": 1200}]
    assert len(list(scratch.iterdir())) == 1, "the same versions reuse their links"
    add_version(disk_wd, "/data/s.series", hourly(300, 100, temp=temps(3)))
    assert cat(disk_wd, "/data/s.series", sql=sql).read_all().to_pylist() == [{"n": 1600}]
    assert len(list(scratch.iterdir())) == 2
    engine_module._LISTINGS.clear()
    gc.collect()
    assert len(list(scratch.iterdir())) == 1, "a stream still reading keeps its links"
    assert stream.read_all().to_pylist() == [{"n": 1200}]
    del stream
    gc.collect()
    assert not list(scratch.iterdir())


# -- pond query: quoted paths and system tables -------------------------------------------------


def test_quoted_pond_paths_are_tables(wd: WD) -> None:
    written = three_versions(wd, "/data/seattle.series")
    got = query(wd, 'SELECT avg(temp) AS t FROM "/data/seattle.series"').read_all()
    assert got["t"][0].as_py() == pytest.approx(pd.Series(written["temp"].to_pylist()).mean())


def test_quoted_paths_join(wd: WD) -> None:
    add_version(wd, "/data/a.series", hourly(0, 1, temp=[1.0, 2.0, 3.0, 4.0]))
    add_version(wd, "/data/b.series", hourly(0, 1, temp=[10.0, 20.0, 30.0, 40.0]))
    got = query(
        wd,
        'SELECT sum(a.temp + b.temp) AS s FROM "/data/a.series" a '
        'JOIN "/data/b.series" b ON a.timestamp = b.timestamp',
    ).read_all()
    assert got["s"][0].as_py() == 110.0


def test_strings_and_comments_name_no_tables() -> None:
    quoted, words = referenced_names(
        """SELECT "col", '"/not/a/table"' -- "/nor/this"
        FROM "/data/x.series" /* "/nor/that" */ JOIN nodes"""
    )
    assert quoted == ["col", "/data/x.series"]
    assert "nodes" in words


def test_system_tables(wd: WD) -> None:
    three_versions(wd)
    wd.mkdir("/data/sub")
    nodes = query(wd, "SELECT * FROM nodes").read_all()
    assert "content" not in nodes.column_names
    series = nodes.filter(pa.compute.equal(nodes["file_type"], "file:series"))
    assert series["version"].to_pylist() == [1, 2, 3]
    assert series["min_event_time"].type == UTC_US
    assert series["max_event_time"][2].value == 29 * HOUR + 3 * HOUR // 4

    entries = query(wd, "SELECT path, type FROM entries ORDER BY path").read_all()
    assert entries.to_pylist() == [
        {"path": "/data", "type": "directory"},
        {"path": "/data/site.series", "type": "file:series"},
        {"path": "/data/sub", "type": "directory"},
    ]

    joined = query(
        wd,
        "SELECT e.path, count(*) AS versions FROM nodes n JOIN entries e USING (node_id) "
        "WHERE n.file_type = 'file:series' GROUP BY e.path",
    ).read_all()
    assert joined.to_pylist() == [{"path": "/data/site.series", "versions": 3}]

    txns = query(wd, "SELECT txn_seq, versions FROM transactions ORDER BY txn_seq").read_all()
    seqs = txns["txn_seq"].to_pylist()
    assert seqs == sorted(set(nodes["txn_seq"].to_pylist()))
    assert sum(txns["versions"].to_pylist()) == nodes.num_rows


def test_nodes_from_an_oplog_when_the_persistence_has_one(wd: WD) -> None:
    class WithOplog(CountingPersistence):
        def all_rows(self) -> pa.Table:
            return pa.table(
                {
                    "part_id": ["p"],
                    "node_id": ["n"],
                    "file_type": ["file:series"],
                    "version": pa.array([1], pa.int64()),
                    "txn_seq": pa.array([7], pa.int64()),
                    "timestamp": pa.array([0], UTC_US),
                    "content": pa.array([b"x"], pa.binary()),
                    "sha256": ["00"],
                    "size": pa.array([1], pa.int64()),
                    "min_event_time": pa.array([HOUR], pa.int64()),
                    "max_event_time": pa.array([2 * HOUR], pa.int64()),
                    "attributes": [None],
                }
            )

    from duckpond.tinyfs import FS

    root = FS(WithOplog()).root()
    nodes = query(root, "SELECT * FROM nodes").read_all()
    assert nodes.num_rows == 1
    assert "content" not in nodes.column_names
    assert nodes["min_event_time"][0].value == HOUR
    txns = query(root, "SELECT txn_seq FROM transactions").read_all()
    assert txns["txn_seq"].to_pylist() == [7]


# -- errors ---------------------------------------------------------------------------------------


def test_bad_sql_is_a_one_line_query_error(wd: WD) -> None:
    with pytest.raises(QueryError) as info:
        query(wd, "SELEC 1")
    assert "\n" not in str(info.value)
    assert "SELEC" in str(info.value)


def test_unknown_table_names_the_known_ones(wd: WD) -> None:
    three_versions(wd)
    with pytest.raises(QueryError) as info:
        cat(wd, "/data/site.series", sql="SELECT * FROM sauce")
    assert "sauce" in str(info.value)
    assert "source" in str(info.value)


def test_unknown_column(wd: WD) -> None:
    three_versions(wd)
    with pytest.raises(QueryError, match="humidity"):
        cat(wd, "/data/site.series", sql="SELECT humidity FROM source")


def test_error_while_streaming_is_a_query_error(wd: WD) -> None:
    three_versions(wd)
    reader = cat(wd, "/data/site.series", sql="SELECT 1 / (count(*) - count(*)) FROM source")
    with pytest.raises(QueryError, match="Divide by zero"):
        reader.read_all()


def test_missing_pond_file_in_query(wd: WD) -> None:
    with pytest.raises(FileNotFoundError):
        query(wd, 'SELECT * FROM "/data/none.series"')


def test_unknown_engine() -> None:
    with pytest.raises(ConfigError, match="duckdb"):
        create_engine("duckdb")


# -- streaming ------------------------------------------------------------------------------------


def test_stream_yields_batches_with_schema_first(disk_wd: WD) -> None:
    add_version(disk_wd, "/data/s.series", hourly(0, 2000, temp=temps(4)))
    reader = cat(disk_wd, "/data/s.series", sql="SELECT timestamp, temp * 2 AS t2 FROM source")
    assert reader.schema.names == ["timestamp", "t2"]
    total = sum(batch.num_rows for batch in reader)
    assert total == 8000


def _table_bytes(table: pa.Table) -> bytes:
    return parquet_bytes(table)


def test_symlinks_read_through_to_their_target(wd: WD) -> None:
    add_version(wd, "/data/a.series", hourly(0, 1, temp=[1.0] * 4))
    wd.mkdir("/links")
    wd.symlink("/data/a.series", "/links/a.series")
    wd.symlink("/nowhere", "/links/broken.series")
    assert cat(wd, "/links/a.series").read_all().num_rows == 4
    # A glob skips the dangling link and reads the good one.
    assert cat(wd, "/links/*.series").read_all().num_rows == 4


def test_registering_a_name_again_replaces_it(wd: WD) -> None:
    add_version(wd, "/data/a.series", hourly(0, 1, temp=[1.0] * 4))
    add_version(wd, "/data/b.series", hourly(0, 2, temp=[1.0] * 8))
    session = QuerySession(wd)
    session.register("source", "/data/a.series")
    session.register("source", "/data/b.series")
    assert session.sql("SELECT count(*) AS n FROM source").column("n").to_pylist() == [8]


def test_pond_api_helpers(wd: WD) -> None:
    written = three_versions(wd)
    assert read_source(wd, None, "/data/site.series").equals(written)
    assert read_node(wd.get("/data/site.series"), start=10 * HOUR).equals(written.slice(40))
    got = run_query(wd, None, 'SELECT count(*) AS n FROM "/data/site.series"')
    assert got.column("n").to_pylist() == [120]


def test_dynamic_table_output_is_read_through_the_protocol(disk_wd: WD) -> None:
    from duckpond.tinyfs import DYNAMIC_FILE, MappingResolver

    class Counting:
        def __init__(self, config: Mapping[str, Any], ctx: FactoryContext) -> None:
            self.n = int(config["n"])

        def schema(self) -> pa.Schema:
            return pa.schema([("v", pa.int64())])

        def batches(self) -> Iterator[pa.RecordBatch]:
            for start in range(0, self.n, 2):
                values = list(range(start, min(start + 2, self.n)))
                yield pa.record_batch([pa.array(values, pa.int64())], schema=self.schema())

        def event_range(self) -> tuple[int, int] | None:
            return None

    disk_wd.fs.set_resolver(MappingResolver({"test-query-counting": Counting}))
    disk_wd.create_dynamic("/data/dyn", DYNAMIC_FILE, "test-query-counting", {"n": 5})
    for target in ("/data/dyn", "table:///data/dyn"):
        got = cat(disk_wd, target, sql="SELECT sum(v) AS s FROM source").read_all()
        assert got.column("s").to_pylist() == [10]
    assert read_node(disk_wd.get("/data/dyn")).column("v").to_pylist() == [0, 1, 2, 3, 4]
