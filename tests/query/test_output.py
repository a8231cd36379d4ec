"""Result writers: what they print must read back to the same values."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from duckpond.errors import ConfigError
from duckpond.query import preview, render_preview, write
from duckpond.query.csvread import read_csv

from .conftest import UTC_US


def written(result: pa.Table | pa.RecordBatchReader, fmt: str) -> bytes:
    out = io.BytesIO()
    write(result, fmt, out)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_csv_floats_read_back_exactly(values: list[float]) -> None:
    text = written(pa.table({"x": pa.array(values, pa.float64())}), "csv").decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["x"]
    assert [float(r[0]) for r in rows[1:]] == values


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1))
def test_csv_float32_reads_back_exactly(values: list[float]) -> None:
    text = written(pa.table({"x": pa.array(values, pa.float32())}), "csv").decode()
    back = [np.float32(line) for line in text.splitlines()[1:]]
    assert back == [np.float32(v) for v in values]


def test_csv_floats_are_shortest_not_padded() -> None:
    text = written(pa.table({"x": [0.1, 1 / 3, 1e20, 0.1 + 0.2]}), "csv").decode()
    assert text.splitlines()[1:] == ["0.1", "0.3333333333333333", "1e+20", "0.30000000000000004"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet=st.characters(exclude_categories=["Cs"]))),
        min_size=1,
        max_size=10,
    )
)
def test_csv_strings_round_trip(values: list[str | None]) -> None:
    text = written(pa.table({"s": pa.array(values, pa.string())}), "csv")
    back = list(csv.reader(io.StringIO(text.decode(), newline="")))
    # An empty field is how CSV writes a missing value; an empty string comes quoted.
    assert back[0] == ["s"]
    got = [r[0] if r else "" for r in back[1:]]
    assert got == ["" if v is None else v for v in values]
    raw_lines = text.decode()
    if "" in values:
        assert '""' in raw_lines


def test_csv_timestamps_are_iso_8601_utc_and_read_back() -> None:
    ts = pa.array([0, 90_000_000, None], UTC_US)
    text = written(pa.table({"t": ts, "v": [1, 2, 3]}), "csv").decode()
    assert text.splitlines() == [
        "t,v",
        "1970-01-01T00:00:00Z,1",
        "1970-01-01T00:01:30Z,2",
        ",3",
    ]
    assert read_csv(text.encode()).column("t").to_pylist() == ts.to_pylist()


def test_fractional_seconds_are_kept() -> None:
    ts = pa.array([1, 1_500_000], UTC_US)
    text = written(pa.table({"t": ts}), "csv").decode()
    assert text.splitlines()[1:] == ["1970-01-01T00:00:00.000001Z", "1970-01-01T00:00:01.500000Z"]
    assert read_csv(text.encode()).column("t").to_pylist() == ts.to_pylist()


def test_zoned_timestamps_print_in_utc() -> None:
    ts = pa.array([0], pa.timestamp("s", tz="Europe/Paris"))
    assert written(pa.table({"t": ts}), "csv").decode().splitlines()[1] == "1970-01-01T00:00:00Z"


def test_json_is_an_array_of_row_objects() -> None:
    table = pa.table(
        {
            "t": pa.array([0, None], UTC_US),
            "x": [0.1, float("nan")],
            "n": pa.array([1, None], pa.int64()),
            "s": ['say "hi"\\', "tab\there\x01"],
            "b": [True, False],
            "d": pa.array([0, 1], pa.date32()),
            "l": [[1, 2], None],
        }
    )
    rows = json.loads(written(table, "json"))
    assert rows == [
        {
            "t": "1970-01-01T00:00:00Z",
            "x": 0.1,
            "n": 1,
            "s": 'say "hi"\\',
            "b": True,
            "d": "1970-01-01",
            "l": [1, 2],
        },
        {
            "t": None,
            "x": None,
            "n": None,
            "s": "tab\there\x01",
            "b": False,
            "d": "1970-01-02",
            "l": None,
        },
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_json_floats_read_back_exactly(values: list[float]) -> None:
    rows = json.loads(written(pa.table({"x": pa.array(values, pa.float64())}), "json"))
    assert [r["x"] for r in rows] == values


def test_json_of_nothing() -> None:
    assert json.loads(written(pa.table({"a": pa.array([], pa.int64())}), "json")) == []


def test_parquet_round_trip_from_a_stream() -> None:
    table = pa.table({"t": pa.array([1, 2], UTC_US), "v": [1.5, math.pi]})
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=1))
    back = pq.read_table(io.BytesIO(written(reader, "parquet")))
    assert back.equals(table)


def test_stream_is_written_batch_by_batch() -> None:
    schema = pa.schema([("i", pa.int64())])
    seen: list[int] = []

    def batches():  # type: ignore[no-untyped-def]
        for i in range(3):
            seen.append(i)
            yield pa.record_batch([pa.array([i])], schema=schema)

    out = io.BytesIO()
    assert write(pa.RecordBatchReader.from_batches(schema, batches()), "csv", out) == 3
    assert out.getvalue() == b"i\n0\n1\n2\n"


def test_unknown_format() -> None:
    with pytest.raises(ConfigError, match="xml"):
        write(pa.table({"a": [1]}), "xml", io.BytesIO())


def test_preview_keeps_the_head_and_counts_all() -> None:
    table = pa.table({"i": list(range(1000)), "t": pa.array(range(1000), UTC_US)})
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=7))
    view = preview(reader, limit=10)
    assert view.total == 1000
    assert view.head.column("i").to_pylist() == list(range(10))
    console = Console(record=True, width=100)
    console.print(render_preview(view))
    text = console.export_text()
    assert "10 of 1000 rows" in text
    assert "timestamp[us, tz=UTC]" in text
    assert "1970-01-01T00:00:00.000009Z" in text


def test_preview_of_a_short_result() -> None:
    view = preview(pa.table({"x": [0.1, None]}))
    console = Console(record=True, width=80)
    console.print(render_preview(view))
    text = console.export_text()
    assert "2 rows" in text
    assert "0.1" in text and "null" in text
