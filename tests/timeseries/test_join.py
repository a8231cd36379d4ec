"""Join and Pivot: stitched instruments, outer joins, empty inputs."""

from __future__ import annotations

import pyarrow as pa
import pytest

from duckpond.errors import ConfigError, FormatError
from duckpond.pipeline.timeseries import JoinInput, ReduceConfig, join, outputs, pivot, reduce_full

from .helpers import HOUR, T0, assert_matches_pandas, readings, series


def times(table: pa.Table) -> list[int]:
    return table.column("timestamp").cast(pa.int64()).to_pylist()


def test_scopes_are_full_outer_joined_on_timestamp() -> None:
    a = series([T0, T0 + 2 * HOUR], **{"Temperature.C": [1.0, 2.0]})
    b = series([T0 + HOUR, T0 + 2 * HOUR, T0 - HOUR], **{"Depth.m": [10, 20, 30]})
    out = join([JoinInput("BDock", a), JoinInput("Silver", b)])
    assert out.schema.names == ["timestamp", "BDock.Temperature.C", "Silver.Depth.m"]
    assert out.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert times(out) == [T0 - HOUR, T0, T0 + HOUR, T0 + 2 * HOUR]
    assert out.column("BDock.Temperature.C").to_pylist() == [None, 1.0, None, 2.0]
    assert out.column("Silver.Depth.m").to_pylist() == [30, None, 10, 20]


def test_a_replaced_instrument_is_stitched_onto_its_successor() -> None:
    old = series(
        [T0 + i * HOUR for i in range(10)], **{"Temperature.C": [float(i) for i in range(10)]}
    )
    # The new sonde overlaps the old one from hour 6 (both in the water), and reports DO too.
    new = series(
        [T0 + i * HOUR for i in range(6, 14)],
        **{"Temperature.C": [100.0 + i for i in range(6, 14)], "DO.mg/L": [8.0] * 8},
    )
    out = join([JoinInput("BDock", old), JoinInput("BDock", new)])
    assert out.schema.names == ["timestamp", "BDock.Temperature.C", "BDock.DO.mg/L"]
    assert times(out) == [T0 + i * HOUR for i in range(14)]
    assert out.column("BDock.Temperature.C").to_pylist() == [
        *map(float, range(6)),
        *(100.0 + i for i in range(6, 14)),
    ]
    assert out.column("BDock.DO.mg/L").to_pylist() == [None] * 6 + [8.0] * 8


def test_declared_ranges_limit_each_instrument() -> None:
    old = series([T0 + i * HOUR for i in range(10)], v=[float(i) for i in range(10)])
    new = series([T0 + i * HOUR for i in range(4, 12)], v=[100.0 + i for i in range(4, 12)])
    # The old sonde was deployed until hour 8; the new one only counts from hour 8.
    out = join([JoinInput("S", old, end=T0 + 8 * HOUR), JoinInput("S", new, begin=T0 + 8 * HOUR)])
    assert out.column("S.v").to_pylist() == [*map(float, range(8)), 108.0, 109.0, 110.0, 111.0]
    # The later input wins over its whole declared range, even where it has no readings.
    out = join(
        [JoinInput("S", old), JoinInput("S", new.slice(4), begin=T0 + 5 * HOUR, end=T0 + 12 * HOUR)]
    )
    assert times(out) == [T0 + i * HOUR for i in range(5)] + [T0 + i * HOUR for i in range(8, 12)]


def test_equal_times_within_a_scope_keep_the_last_row() -> None:
    a = series([T0, T0 + HOUR, T0], v=[1.0, 2.0, 3.0])
    out = join([JoinInput("S", a)])
    assert times(out) == [T0, T0 + HOUR]
    assert out.column("S.v").to_pylist() == [3.0, 2.0]


def test_empty_inputs_give_empty_scopes() -> None:
    a = series([T0], v=[1.0])
    known_but_empty = series([], w=pa.array([], type=pa.float64()))
    out = join(
        [
            JoinInput("A", a),
            JoinInput("B", known_but_empty),
            JoinInput("C", None),
            JoinInput("D", []),
        ]
    )
    assert out.schema.names == ["timestamp", "A.v", "B.w"]
    assert out.column("B.w").to_pylist() == [None]
    assert join([]).schema.names == ["timestamp"]
    assert join([JoinInput("C", None)]).num_rows == 0


def test_join_errors() -> None:
    with pytest.raises(FormatError, match="no 'timestamp' column"):
        join([JoinInput("A", pa.table({"v": [1.0]}))])
    clash_a = series([T0], **{"b.c": [1.0]})
    clash_b = series([T0], c=[2.0])
    with pytest.raises(ConfigError, match=r"'a\.b\.c'"):
        join([JoinInput("a", clash_a), JoinInput("a.b", clash_b)])
    with pytest.raises(FormatError, match="incompatible types"):
        join([JoinInput("A", series([T0], v=[1.0])), JoinInput("A", series([T0 + 1], v=["x"]))])


def test_reduce_over_a_join_matches_pandas() -> None:
    a = readings(T0, 500, 600_000_000, seed=20, nulls=0.1)
    b = readings(T0 + 300 * 600_000_000, 500, 900_000_000, seed=21)
    joined = join([JoinInput("A", a), JoinInput("B", b.select(["timestamp", "Temperature.C"]))])
    config = ReduceConfig.parse(["1h", "1d"], ["avg", "min", "max", "count", "sum"])
    out = outputs(reduce_full(config, joined))
    assert "A.Temperature.C.avg" in out["res=1h.series"].schema.names
    for resolution in config.resolutions:
        assert_matches_pandas(out[resolution.output], joined, resolution.micros, config)


def test_pivot_sites_side_by_side() -> None:
    noyo = series([T0, T0 + HOUR], **{"Temperature.C": [1.0, 2.0], "Depth.m": [5.0, 6.0]})
    silver = series([T0 + HOUR, T0 + 2 * HOUR], **{"Temperature.C": [10.0, 20.0], "pH": [8.0, 8.1]})
    out = pivot([("noyo", noyo), ("silver", silver)], ["Temperature.C", "Depth.m"])
    assert out.schema.names == [
        "timestamp",
        "noyo.Temperature.C",
        "noyo.Depth.m",
        "silver.Temperature.C",
        "silver.Depth.m",
    ]
    assert times(out) == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert out.column("noyo.Temperature.C").to_pylist() == [1.0, 2.0, None]
    assert out.column("silver.Temperature.C").to_pylist() == [None, 10.0, 20.0]
    assert out.column("silver.Depth.m").to_pylist() == [None, None, None]
    assert out.schema.field("silver.Depth.m").type == pa.float64()


def test_pivot_globs_every_column_and_empty_sites() -> None:
    noyo = series([T0], **{"Temperature.C": [1.0], "Depth.m": [5.0]})
    out = pivot([("noyo", noyo), ("gone", None)], ["T*"])
    assert out.schema.names == ["timestamp", "noyo.Temperature.C"]
    out = pivot([("noyo", noyo)])
    assert out.schema.names == ["timestamp", "noyo.Temperature.C", "noyo.Depth.m"]
    with pytest.raises(ConfigError, match="site 'noyo' given twice"):
        pivot([("noyo", noyo), ("noyo", noyo)])


def test_a_declared_range_wins_even_without_readings() -> None:
    old = series([T0 + i * HOUR for i in range(6)], v=[float(i) for i in range(6)])
    nothing_yet = series([], v=pa.array([], type=pa.float64()))
    out = join(
        [JoinInput("S", old), JoinInput("S", nothing_yet, begin=T0 + 4 * HOUR, end=T0 + 9 * HOUR)]
    )
    assert out.column("S.v").to_pylist() == [0.0, 1.0, 2.0, 3.0]
    # Without both bounds an input with no readings covers nothing.
    out = join([JoinInput("S", old), JoinInput("S", nothing_yet, begin=T0 + 4 * HOUR)])
    assert out.num_rows == 6
