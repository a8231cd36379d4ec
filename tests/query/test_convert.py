"""CSV and Parquet input for tables and series: query.csvread, query.parquet, query.canonical
and the version facts of ingest.versions."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond.errors import ConfigError, FormatError
from duckpond.ingest.versions import parquet_columns, parquet_rows
from duckpond.query import csvread, parquet
from duckpond.query.canonical import event_range, find_timestamp_column
from duckpond.query.csvread import CsvOptions, _prefetched, csv_to_parquet, read_csv
from duckpond.query.parquet import as_arrow, check_parquet, parquet_file, table_to_parquet

from .conftest import UTC_US, parquet_bytes


def us(text: str) -> int:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)


def read_back(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def test_csv_types_are_inferred_and_naive_times_are_utc() -> None:
    csv = b"timestamp,temp,site,count\n2024-05-01 00:00:00,12.5,a,3\n2024-05-01 01:00:00,13,b,\n"
    out = csv_to_parquet(csv, require_timestamp=True)
    table = read_back(out.data)
    assert table.schema.field("timestamp").type == UTC_US
    assert table.schema.field("temp").type == pa.float64()
    assert table.schema.field("count").type == pa.int64()
    assert table.column("count").to_pylist() == [3, None]
    assert out.rows == 2
    assert out.timestamp_column == "timestamp"
    assert out.event_range == (us("2024-05-01T00:00:00"), us("2024-05-01T01:00:00"))


def test_attributes_record_column_schema_and_rows() -> None:
    out = csv_to_parquet(b"time,v\n2024-01-01T00:00:00Z,1\n", require_timestamp=True)
    assert out.attributes() == {
        "timestamp_column": "time",
        "schema": [
            {"name": "time", "type": "timestamp[us, tz=UTC]"},
            {"name": "v", "type": "int64"},
        ],
        "rows": 1,
        "sorted": True,
    }


def test_tz_option_applies_to_naive_times_only() -> None:
    naive = b"ts,v\n2024-01-15 12:00:00,1\n"
    zoned = b"ts,v\n2024-01-15T12:00:00+00:00,1\n"
    # PST is UTC-8 in January.
    assert csv_to_parquet(naive, tz="America/Los_Angeles", require_timestamp=True).event_range == (
        us("2024-01-15T20:00:00"),
        us("2024-01-15T20:00:00"),
    )
    # Where every time says its own zone the option would do nothing: refused, not ignored.
    with pytest.raises(FormatError, match=r"tz='America/Los_Angeles'|tz: 'America/Los_Angeles'"):
        csv_to_parquet(zoned, tz="America/Los_Angeles", require_timestamp=True)
    # A zoned column beside a naive one keeps its own zone; the naive one is read in tz.
    both = b"ts,logged\n2024-01-15 12:00:00,2024-01-15T12:00:00+00:00\n"
    out = read_back(csv_to_parquet(both, tz="America/Los_Angeles").data)
    assert out.column("ts").to_pylist() == [datetime(2024, 1, 15, 20, tzinfo=UTC)]
    assert out.column("logged").to_pylist() == [datetime(2024, 1, 15, 12, tzinfo=UTC)]


def test_offsets_are_converted_to_utc() -> None:
    out = csv_to_parquet(b"ts,v\n2024-01-01T02:00:00+02:00,1\n", require_timestamp=True)
    assert read_back(out.data).column("ts").to_pylist() == [datetime(2024, 1, 1, tzinfo=UTC)]


def test_nanoseconds_are_truncated_to_microseconds() -> None:
    out = csv_to_parquet(b"ts,v\n2024-01-01 00:00:00.123456789,1\n", require_timestamp=True)
    column = read_back(out.data).column("ts")
    assert column.type == UTC_US
    assert column[0].value == us("2024-01-01T00:00:00") + 123456


def test_repeated_local_hour_is_refused_rather_than_guessed() -> None:
    # 01:30 happens twice in New York on 2024-11-03.
    with pytest.raises(FormatError, match="America/New_York"):
        csv_to_parquet(b"ts,v\n2024-11-03 01:30:00,1\n", tz="America/New_York")


def test_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        CsvOptions(tz="Mars/Olympus")


def test_delimiter_and_headerless_input() -> None:
    table = read_csv(b"1;2.5\n3;4.5\n", CsvOptions(delimiter=";", has_header=False))
    assert table.column_names == ["f0", "f1"]
    assert table.column("f1").to_pylist() == [2.5, 4.5]


def test_other_common_timestamp_layout() -> None:
    table = read_csv(b"ts,v\n2024/03/01 10:15:00,1\n")
    assert table.schema.field("ts").type == UTC_US


def test_bad_csv_is_a_one_line_format_error() -> None:
    with pytest.raises(FormatError) as info:
        csv_to_parquet(b"a,b\n1,2\n3\n")
    message = str(info.value)
    assert "\n" not in message
    assert "Expected 2 columns, got 1" in message


def test_empty_csv_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="Empty CSV"):
        csv_to_parquet(b"")


# Small inputs are read whole (on every core), larger ones streamed: both must agree.
BOTH_READERS = pytest.mark.parametrize("whole_read_bytes", [0, 1 << 26], ids=["stream", "whole"])


@BOTH_READERS
def test_types_widen_when_a_later_block_disagrees(
    monkeypatch: pytest.MonkeyPatch, whole_read_bytes: int
) -> None:
    # Force many blocks, so the streaming reader fixes int64 long before it sees 1.5.
    monkeypatch.setattr(csvread, "CSV_BLOCK_SIZE", 1 << 12)
    monkeypatch.setattr(csvread, "WHOLE_READ_BYTES", whole_read_bytes)
    csv = b"v,s\n" + b"1,x\n" * 5000 + b"1.5,y\n"
    out = csv_to_parquet(csv)
    table = read_back(out.data)
    assert table.schema.field("v").type == pa.float64()
    assert table.num_rows == out.rows == 5001
    assert table.column("v")[-1].as_py() == 1.5


@BOTH_READERS
def test_large_csv_streams_into_several_row_groups(
    monkeypatch: pytest.MonkeyPatch, whole_read_bytes: int
) -> None:
    monkeypatch.setattr(csvread, "CSV_BLOCK_SIZE", 1 << 14)
    monkeypatch.setattr(csvread, "WHOLE_READ_BYTES", whole_read_bytes)
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 5000)
    lines = [
        f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z,{i}" for i in range(20_000)
    ]
    csv = ("timestamp,v\n" + "\n".join(lines) + "\n").encode()
    out = csv_to_parquet(csv, require_timestamp=True)
    meta = pq.ParquetFile(io.BytesIO(out.data)).metadata
    # Blocks of ~1,000 rows are gathered into row groups of at least 5,000.
    assert 1 < meta.num_row_groups <= 4
    assert meta.num_rows == 20_000
    assert read_back(out.data).column("v").to_pylist() == list(range(20_000))


def test_csv_from_a_host_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"timestamp,v\n2024-01-01T00:00Z,1\n")
    assert read_csv(path).num_rows == 1


def test_series_needs_a_timestamp_column() -> None:
    with pytest.raises(FormatError, match="timestamp column"):
        csv_to_parquet(b"a,b\n1,2\n", require_timestamp=True)
    # A table does not.
    assert csv_to_parquet(b"a,b\n1,2\n").timestamp_column is None


def test_parquet_without_magic_suggests_raw_data() -> None:
    with pytest.raises(FormatError) as info:
        check_parquet(b"timestamp,v\n1,2\n", name="x.parquet")
    assert "not Parquet" in str(info.value)
    assert "--format data" in str(info.value)


def test_parquet_with_magic_but_garbage_inside() -> None:
    with pytest.raises(FormatError, match="not readable Parquet"):
        check_parquet(b"PAR1" + b"\x00" * 32 + b"PAR1")


def test_parquet_is_described_and_kept_byte_for_byte() -> None:
    table = pa.table(
        {"event_time": pa.array([1, 5, 9], UTC_US), "v": [1.0, 2.0, 3.0]},
    )
    data = parquet_bytes(table)
    out = check_parquet(data, require_timestamp=True)
    assert out.data is data
    assert out.rows == 3
    assert out.timestamp_column == "event_time"
    assert out.event_range == (1, 9)


def test_find_timestamp_column() -> None:
    ts = pa.timestamp("us", tz="UTC")
    assert find_timestamp_column(pa.schema([("v", pa.int64()), ("time", ts)])) == "time"
    # The preferred name wins over a later candidate.
    schema = pa.schema([("ts", ts), ("timestamp", ts)])
    assert find_timestamp_column(schema) == "timestamp"
    # Any case of a known name.
    assert find_timestamp_column(pa.schema([("TIME", ts), ("other", ts)])) == "TIME"
    # The only timestamp column, whatever its name.
    assert find_timestamp_column(pa.schema([("when", ts), ("v", pa.int64())])) == "when"
    # A known name holding text is not usable.
    assert find_timestamp_column(pa.schema([("time", pa.string())])) is None
    # Two unnamed candidates: no guess.
    assert find_timestamp_column(pa.schema([("a", ts), ("b", ts)])) is None
    assert find_timestamp_column(pa.schema([("a", ts), ("b", ts)]), "b") == "b"
    with pytest.raises(FormatError, match="no column 'c'"):
        find_timestamp_column(pa.schema([("a", ts)]), "c")
    with pytest.raises(FormatError, match="not timestamps"):
        find_timestamp_column(pa.schema([("a", pa.int64())]), "a")


def test_event_range_normalizes_units() -> None:
    table = pa.table({"t": pa.array([2, 1, None], pa.timestamp("s"))})
    assert event_range(table, "t") == (1_000_000, 2_000_000)
    assert event_range(pa.table({"t": pa.array([None], UTC_US)}), "t") is None


def test_compressed_host_csv(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(b"timestamp;v\n2024-01-01 00:00:00;1\n"))
    out = csv_to_parquet(path, delimiter=";", require_timestamp=True)
    assert out.rows == 1
    assert out.event_range == (us("2024-01-01T00:00:00"), us("2024-01-01T00:00:00"))


def test_type_widening_also_works_on_compressed_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    monkeypatch.setattr(csvread, "CSV_BLOCK_SIZE", 1 << 12)
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(b"v\n" + b"1\n" * 5000 + b"x\n"))
    table = read_back(csv_to_parquet(path).data)
    assert table.schema.field("v").type == pa.string()
    assert table.num_rows == 5001


def test_parquet_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_text("a,b\n")
    with pytest.raises(FormatError, match=r"fake\.parquet is not Parquet"):
        parquet_file(path)


def test_table_to_parquet_normalizes_timestamps() -> None:
    table = pa.table({"t": pa.array([1], pa.timestamp("s")), "v": [1]})
    out = table_to_parquet(table, require_timestamp=True)
    assert read_back(out.data).schema.field("t").type == UTC_US
    assert out.event_range == (1_000_000, 1_000_000)


def test_as_arrow_from_pandas_polars_and_dicts() -> None:
    import pandas as pd
    import polars as pl

    expected = {"a": [1, 2], "b": ["x", "y"]}
    assert as_arrow(pd.DataFrame(expected)).to_pydict() == expected
    assert as_arrow(pl.DataFrame(expected)).to_pydict() == expected
    assert as_arrow(expected).to_pydict() == expected
    with pytest.raises(FormatError):
        as_arrow(42)


def test_rows_and_columns_of_stored_versions() -> None:
    from duckpond.tinyfs import FILE_SERIES, FILE_TABLE, FS, MemoryPersistence

    wd = FS(MemoryPersistence()).root()
    first = csv_to_parquet(b"timestamp,v\n2024-01-01T00:00Z,1\n", require_timestamp=True)
    second = csv_to_parquet(b"timestamp,v,w\n2024-01-02,2,a\n2024-01-03,3,b\n")
    for out in (first, second):
        wd.write_file(
            "/s",
            out.data,
            node_type=FILE_SERIES,
            attributes=out.attributes(),
            event_range=out.event_range,
        )
    np = wd.get("/s")
    assert [parquet_rows(np, v) for v in (1, 2)] == [1, 2]
    assert [c["name"] for c in parquet_columns(np)] == ["timestamp", "v", "w"]
    # Without stored attributes the footer answers.
    wd.write_file("/t", parquet_bytes(pa.table({"k": [1, 2, 3]})), node_type=FILE_TABLE)
    assert parquet_rows(wd.get("/t")) == 3
    assert parquet_columns(wd.get("/t")) == [{"name": "k", "type": "int64"}]


def test_prefetch_keeps_order_raises_producer_errors_and_stops_with_its_consumer() -> None:
    assert list(_prefetched(iter(range(100)), depth=2)) == list(range(100))

    def failing() -> Iterator[int]:
        yield from range(3)
        raise FormatError("bad block")

    got: list[int] = []
    with pytest.raises(FormatError, match="bad block"):
        got.extend(_prefetched(failing()))
    assert got == [0, 1, 2]

    before = threading.active_count()
    endless = _prefetched(itertools.count(), depth=2)
    assert next(endless) == 0
    endless.close()  # the consumer gives up: the helper thread must end, not block
    assert threading.active_count() == before


@pytest.mark.parametrize(
    "csv",
    [
        b'timestamp,v,s\n2024-01-01T00:00:00Z,1,a\n2024-01-01T00:01:00Z,,\n2024-01-01 00:02,3,""\n',
        b"t;x\n2024/01/01 00:00:00;1.5\n2024/01/01 00:00:01;nan\n",
        b"a,b\n" + b"1,x\n" * 3000 + b"2.5,\n",
    ],
)
def test_whole_and_streaming_reads_store_the_same(
    monkeypatch: pytest.MonkeyPatch, csv: bytes
) -> None:
    delimiter = ";" if b";" in csv.splitlines()[0] else ","
    monkeypatch.setattr(csvread, "CSV_BLOCK_SIZE", 1 << 12)
    whole = csv_to_parquet(csv, delimiter=delimiter)
    monkeypatch.setattr(csvread, "WHOLE_READ_BYTES", 0)
    streamed = csv_to_parquet(csv, delimiter=delimiter)
    assert read_back(whole.data).equals(read_back(streamed.data))
    assert whole.attributes() == streamed.attributes()
    assert whole.event_range == streamed.event_range


def test_parquet_out_of_order_is_rewritten_sorted() -> None:
    table = pa.table({"event_time": pa.array([5, 1, 9], UTC_US), "v": [1.0, 2.0, 3.0]})
    out = check_parquet(parquet_bytes(table), require_timestamp=True)
    assert read_back(out.data).column("v").to_pylist() == [2.0, 1.0, 3.0]
    assert out.attributes()["sorted"] is True


def test_parquet_in_other_types_is_rewritten_canonical() -> None:
    rome = pa.array([0, 3_600_000_000_000], pa.timestamp("ns", tz="Europe/Rome"))
    table = pa.table(
        {
            "timestamp": rome,
            "s": pa.array(["a", "b"], pa.large_string()),
            "v": [float("nan"), 1.0],
        }
    )
    out = check_parquet(parquet_bytes(table), require_timestamp=True)
    back = read_back(out.data)
    assert back.schema.field("timestamp").type == UTC_US
    assert back.schema.field("s").type == pa.string()
    assert back.column("v").to_pylist() == [None, 1.0]
    assert back.column("timestamp").cast(pa.int64()).to_pylist() == [0, 3_600_000_000]


def test_a_series_row_without_a_time_is_refused_by_row() -> None:
    table = pa.table({"timestamp": pa.array([0, None, 2], UTC_US), "v": [1.0, 2.0, 3.0]})
    with pytest.raises(FormatError, match=r"x\.parquet: data row 2 has no time"):
        check_parquet(parquet_bytes(table), require_timestamp=True, name="x.parquet")
    with pytest.raises(FormatError, match="data row 2 has no time in column 'timestamp'"):
        table_to_parquet(table, require_timestamp=True)
