"""Reduce against pandas ``resample`` on real-shaped data, full and incremental."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from duckpond.errors import ConfigError, FormatError
from duckpond.pipeline.timeseries import (
    Aggregation,
    Partials,
    ReduceConfig,
    outputs,
    reduce_full,
    reduce_update,
)

from .helpers import DAY, HOUR, T0, US, Store, assert_matches_pandas, readings, series

ALL = ("avg", "min", "max", "count", "sum")
CONFIG = ReduceConfig.parse(["1h", "6h", "1d", "7d"], ALL)


def check_against_pandas(partials: Partials, raw: pa.Table) -> None:
    out = outputs(partials)
    assert list(out) == ["res=1h.series", "res=6h.series", "res=1d.series", "res=7d.series"]
    for resolution in partials.config.resolutions:
        assert_matches_pandas(out[resolution.output], raw, resolution.micros, partials.config)


def run_versions(store: Store, versions: list[pa.Table], config: ReduceConfig = CONFIG) -> Partials:
    """Each version appended and applied incrementally; asserts each step equals a full
    recomputation exactly and returns the last partials."""
    partials: Partials | None = None
    for version in versions:
        change = store.append(version)
        result = reduce_update(partials, [change], store.read, config)
        partials = result.partials
        full = reduce_full(config, store.versions)
        for ours, theirs in zip(partials.tables, full.tables, strict=True):
            assert ours.equals(theirs)
    assert partials is not None
    return partials


def test_gaps_and_nulls() -> None:
    first = readings(T0, 2000, 15 * 60 * US, seed=1, nulls=0.1)
    # Three days without readings, then hourly readings: buckets in the gap stay absent.
    after = readings(T0 + 2000 * 15 * 60 * US + 3 * DAY, 500, HOUR, seed=2, nulls=0.1)
    store = Store()
    partials = run_versions(store, [first, after])
    raw = store.all()
    check_against_pandas(partials, raw)
    hourly = outputs(partials)["res=1h.series"]
    assert hourly.num_rows == 2000 // 4 + 500
    assert hourly.schema.field("Depth.m.max").type == pa.int64()
    assert hourly.schema.field("Temperature.C.avg").type == pa.float64()


def test_full_computation_from_batches_equals_pandas() -> None:
    raw = readings(T0 - 40 * DAY, 30_000, 7 * 60 * US, seed=3, nulls=0.05)
    partials = reduce_full(CONFIG, raw.to_batches(max_chunksize=4096))
    check_against_pandas(partials, raw)


def test_times_before_the_epoch_bucket_by_floor() -> None:
    raw = series([-HOUR - 1, -HOUR, -1, 0, 1], v=[1.0, 2.0, 3.0, 4.0, 5.0])
    partials = reduce_full(CONFIG, raw)
    check_against_pandas(partials, raw)
    hourly = outputs(partials)["res=1h.series"]
    assert hourly.column("timestamp").cast(pa.int64()).to_pylist() == [-2 * HOUR, -HOUR, 0]
    assert hourly.column("v.count").to_pylist() == [1, 2, 2]


def test_duplicates_across_versions_count_as_rows() -> None:
    first = readings(T0, 300, 10 * 60 * US, seed=4)
    # The collector fetched the last 20 readings again: every row given is aggregated.
    again = pa.concat_tables(
        [first.slice(280), readings(T0 + 300 * 10 * 60 * US, 300, 10 * 60 * US, seed=5)]
    )
    store = Store()
    partials = run_versions(store, [first, again])
    check_against_pandas(partials, store.all())


def test_column_added_half_way() -> None:
    first = readings(T0, 400, 15 * 60 * US, seed=6)
    second = readings(T0 + 400 * 15 * 60 * US, 400, 15 * 60 * US, seed=7)
    second = second.append_column("DO.mg/L", pa.array(np.linspace(7, 9, 400)))
    store = Store()
    partials = run_versions(store, [first, second])
    raw = store.all()
    check_against_pandas(partials, raw)
    daily = outputs(partials)["res=1d.series"]
    counts = daily.column("DO.mg/L.count").to_pylist()
    assert counts[0] == 0 and counts[-1] > 0
    assert daily.column("DO.mg/L.avg").to_pylist()[0] is None


def test_buckets_straddling_versions_and_edges() -> None:
    # Every 20 minutes from 00:10, versions split at 01:30 and 06:10 (inside 1h and 6h
    # buckets), some readings exactly on hour edges and one microsecond before them.
    times = [T0 + 10 * 60 * US + i * 20 * 60 * US for i in range(60)]
    times += [T0 + 3 * HOUR, T0 + 6 * HOUR - 1, T0 + 6 * HOUR, T0 + DAY - 1, T0 + DAY]
    times.sort()
    values = np.arange(len(times), dtype=float)
    raw = series(times, v=values, n=np.arange(len(times)))
    t = np.asarray(times)
    cuts = [
        0,
        int(np.searchsorted(t, T0 + 90 * 60 * US)),
        int(np.searchsorted(t, T0 + 6 * HOUR + 600 * US)),
        len(t),
    ]
    store = Store()
    partials = run_versions(store, [raw.slice(a, b - a) for a, b in itertools.pairwise(cuts)])
    check_against_pandas(partials, raw)
    six = outputs(partials)["res=6h.series"]
    edge = six.filter(pa.compute.equal(six.column("timestamp").cast(pa.int64()), T0 + 6 * HOUR))
    # T0+6h-1us belongs to the bucket before; T0+6h opens its own.
    assert edge.column("n.min").to_pylist() == [t.tolist().index(T0 + 6 * HOUR)]


def test_empty_inputs() -> None:
    empty = readings(T0, 0, HOUR, seed=8)
    partials = reduce_full(CONFIG, empty)
    for table in outputs(partials).values():
        assert table.num_rows == 0
        assert "Temperature.C.avg" in table.schema.names
    assert all(t.num_rows == 0 for t in outputs(reduce_full(CONFIG, None)).values())
    # An empty new version changes nothing.
    store = Store()
    partials = run_versions(store, [readings(T0, 100, HOUR, seed=9)])
    same = reduce_update(partials, [], store.read)
    assert same.partials.tables == partials.tables and same.recomputed_buckets == 0


def test_incremental_recomputes_only_touched_buckets() -> None:
    store = Store()
    partials = run_versions(store, [readings(T0, 24 * 30, HOUR, seed=10)])
    reads: list[tuple[int, int]] = []

    def read(start: int, end: int) -> list[pa.Table]:
        reads.append((start, end))
        return store.read(start, end)

    change = store.append(readings(T0 + 24 * 30 * HOUR, 3, HOUR, seed=11))
    result = reduce_update(partials, [change], read)
    assert reads == [(T0 + 720 * HOUR, T0 + 723 * HOUR)]
    assert result.recomputed_buckets == 3
    assert result.late_rows == 0
    full = reduce_full(CONFIG, store.versions)
    assert all(a.equals(b) for a, b in zip(result.partials.tables, full.tables, strict=True))


def test_late_data_is_applied_and_counted_beyond_the_allowed_lateness() -> None:
    store = Store()
    partials = run_versions(store, [readings(T0, 24 * 10, HOUR, seed=12)])
    newest = T0 + 239 * HOUR
    within = series([newest - 20 * HOUR, newest - 20 * HOUR + 1], **{"Temperature.C": [1.0, 2.0]})
    result = reduce_update(partials, [store.append(within)], store.read)
    assert (result.late_rows, result.late_buckets) == (0, 0)
    late = series([T0 + HOUR + 5, T0 + 2 * DAY, newest], **{"Temperature.C": [3.0, 4.0, 5.0]})
    result = reduce_update(result.partials, [store.append(late)], store.read)
    assert result.late_rows == 2
    assert result.late_buckets >= 2
    full = reduce_full(CONFIG, store.versions)
    assert all(a.equals(b) for a, b in zip(result.partials.tables, full.tables, strict=True))
    check_against_pandas(result.partials, store.all())


def test_aggregation_columns_and_globs() -> None:
    config = ReduceConfig.parse(
        ["1h"],
        [
            Aggregation("avg"),
            Aggregation("max", ("Temp*", "Depth.m")),
            Aggregation("count", ("*.m",)),
        ],
    )
    raw = readings(T0, 50, 10 * 60 * US, seed=13).append_column("site", pa.array(["a"] * 50))
    out = outputs(reduce_full(config, raw))["res=1h.series"]
    assert out.schema.names == [
        "timestamp",
        "Temperature.C.avg",
        "Temperature.C.max",
        "Conductivity.uS/cm.avg",
        "Depth.m.avg",
        "Depth.m.max",
        "Depth.m.count",
    ]
    assert_matches_pandas(out, raw.drop_columns(["site"]), config.finest.micros, config)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown aggregation 'median'"):
        ReduceConfig.parse(["1h"], ["median"])
    with pytest.raises(ConfigError, match="not a whole multiple"):
        ReduceConfig.parse(["1h", "90m"])
    partials = reduce_full(CONFIG, None)
    with pytest.raises(ConfigError, match="config changed"):
        reduce_update(partials, [], Store().read, ReduceConfig.parse(["1h"]))


def test_input_without_a_time_column_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="no 'timestamp' column"):
        reduce_full(CONFIG, pa.table({"t": [1]}))
    with pytest.raises(FormatError, match="not a timestamp"):
        reduce_full(CONFIG, pa.table({"timestamp": [1]}))


def test_rows_read_outside_the_requested_buckets_are_ignored() -> None:
    store = Store()
    partials = run_versions(store, [readings(T0, 48, HOUR, seed=14)])
    change = store.append(readings(T0 + 48 * HOUR, 2, HOUR, seed=15))
    # A reader that returns whole versions, not just the requested range.
    result = reduce_update(partials, [change], lambda start, end: store.versions)
    full = reduce_full(CONFIG, store.versions)
    assert all(a.equals(b) for a, b in zip(result.partials.tables, full.tables, strict=True))
    assert result.recomputed_buckets == 2


def test_several_new_versions_in_one_update_read_each_merged_interval_once() -> None:
    store = Store()
    partials = run_versions(store, [readings(T0, 24 * 20, HOUR, seed=16)])
    reads: list[tuple[int, int]] = []

    def read(start: int, end: int) -> list[pa.Table]:
        reads.append((start, end))
        return store.read(start, end)

    changes = [
        store.append(series([T0 + 2 * HOUR + 5, T0 + 3 * HOUR], **{"Temperature.C": [1.0, 2.0]})),
        store.append(series([T0 + 3 * HOUR + 7], **{"Temperature.C": [3.0]})),
        store.append(series([T0 + 10 * DAY], **{"Temperature.C": [4.0]})),
    ]
    result = reduce_update(partials, changes, read)
    assert reads == [(T0 + 2 * HOUR, T0 + 4 * HOUR), (T0 + 10 * DAY, T0 + 10 * DAY + HOUR)]
    assert result.late_rows == 4
    full = reduce_full(CONFIG, store.versions)
    assert all(a.equals(b) for a, b in zip(result.partials.tables, full.tables, strict=True))
    check_against_pandas(result.partials, store.all())


def test_one_row_versions_are_reduced_in_joined_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    # A station's series is read a version (a row or a few) at a time; the partials are
    # computed over pieces joined up to COALESCE_ROWS rows, split where the columns change,
    # and come out equal to those of the rows as one table.
    from duckpond.pipeline.timeseries import reduce as module

    monkeypatch.setattr(module, "COALESCE_ROWS", 1000)
    raw = readings(T0, 2500, 15 * 60 * US, seed=3, nulls=0.1)
    wider = raw.slice(2400).append_column("Extra", pa.array([1.5] * 100))
    pieces = [*raw.slice(0, 2400).to_batches(max_chunksize=1), *wider.to_batches(max_chunksize=1)]
    joined = list(module._coalesced(iter(pieces)))
    assert [piece.num_rows for piece in joined] == [1000, 1000, 400, 100]
    assert joined[-1].schema.names[-1] == "Extra"
    whole = reduce_full(
        CONFIG, pa.concat_tables([raw.slice(0, 2400), wider], promote_options="default")
    )
    for ours, theirs in zip(reduce_full(CONFIG, iter(pieces)).tables, whole.tables, strict=True):
        assert ours.equals(theirs)
