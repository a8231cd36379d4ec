"""Join, Pivot and Reduce as pipeline kinds, through the CLI: ``pond apply -f``, ``pond cat
... --format csv``, ``pond describe``; results against pandas, computed independently."""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duckpond.pipeline.timeseries import Aggregation, ReduceConfig

from ..cli.conftest import PondRunner
from ..timeseries.helpers import DAY, HOUR, T0, pandas_reduce, series

MINUTE = 60_000_000


def put(pond: PondRunner, host: Path, path: str, table: pa.Table) -> None:
    """Add ``table`` as a new version of the series at ``path`` (created if missing)."""
    source = host / f"v{len(list(host.glob('*.parquet')))}.parquet"
    pq.write_table(table, source)
    pond.ok("mkdir", "-p", path.rsplit("/", 1)[0])
    pond.ok("copy", str(source), path, "--format", "series")


def apply(pond: PondRunner, host: Path, text: str) -> None:
    doc = host / "pipeline.yaml"
    doc.write_text(text)
    pond.ok("apply", "-f", str(doc))


def read_csv(pond: PondRunner, path: str, *extra: str) -> pd.DataFrame:
    out = pond.ok("cat", path, "--format", "csv", *extra).stdout
    frame = pd.read_csv(io.StringIO(out))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.set_index("timestamp")


def describe(pond: PondRunner, path: str) -> dict[str, Any]:
    [described] = pond.json("describe", path)
    assert isinstance(described, dict)
    return described


def frame_of(table: pa.Table, prefix: str) -> pd.DataFrame:
    df = table.to_pandas().set_index("timestamp")
    df.columns = [f"{prefix}.{c}" for c in df.columns]
    return df


def assert_same(ours: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(ours.columns) == list(expected.columns)
    assert list(ours.index) == list(expected.index)
    for column in expected.columns:
        left = ours[column].to_numpy(dtype="float64")
        right = expected[column].to_numpy(dtype="float64")
        assert np.allclose(left, right, rtol=1e-12, atol=1e-9, equal_nan=True), column


def reference(raw: pd.DataFrame | pa.Table, micros: int, config: ReduceConfig) -> pd.DataFrame:
    table = raw if isinstance(raw, pa.Table) else pa.Table.from_pandas(raw.reset_index())
    return pandas_reduce(table, micros, config)


def sonde(start: int, count: int, step: int, seed: int) -> pa.Table:
    """Readings whose values are multiples of 1/4, so sums are exact in any order."""
    rng = np.random.default_rng(seed)
    times = start + np.arange(count, dtype=np.int64) * step
    return series(
        times,
        temp=rng.integers(0, 80, count) / 4,
        cond=rng.integers(100, 200, count),
    )


# ---------------------------------------------------------------------------- Join, Pivot


def test_join_matches_pandas_outer_join(pond: PondRunner, host: Path) -> None:
    a = sonde(T0, 30, 10 * MINUTE, 1)
    b = sonde(T0 + 5 * MINUTE, 30, 20 * MINUTE, 2).drop_columns(["cond"])
    put(pond, host, "/raw/a.series", a)
    put(pond, host, "/raw/b.series", b)
    apply(
        pond,
        host,
        """
apiVersion: duckpond/v1
kind: Join
name: both
spec:
  inputs:
    - {pattern: /raw/a.series, scope: A}
    - {pattern: /raw/b.series, scope: B, range: {begin: "2024-03-01T02:00Z"}}
    - {pattern: /raw/missing*.series, scope: Gone}
""",
    )
    ours = read_csv(pond, "/join/both")
    b_kept = frame_of(b, "B")
    b_kept = b_kept[b_kept.index >= pd.Timestamp("2024-03-01T02:00Z")]
    expected = frame_of(a, "A").join(b_kept, how="outer").sort_index()
    assert_same(ours, expected)
    described = describe(pond, "/join/both")["derivation"]
    assert described["kind"] == "Join"
    assert [(i["path"], i["scope"], i["version"]) for i in described["inputs"]] == [
        ("/raw/a.series", "A", 1),
        ("/raw/b.series", "B", 1),
    ]


def test_join_stitches_a_replaced_instrument_by_scope_capture(pond: PondRunner, host: Path) -> None:
    old = sonde(T0, 12, HOUR, 3)
    new = sonde(T0 + 6 * HOUR, 12, HOUR, 4)
    put(pond, host, "/raw/site/old.series", old)
    put(pond, host, "/raw/site/new.series", new)
    apply(
        pond,
        host,
        """
apiVersion: duckpond/v1
kind: Join
name: stitched
spec:
  inputs:
    - {pattern: "/raw/*/old.series", scope: "$0"}
    - {pattern: "/raw/*/new.series", scope: "$0"}
""",
    )
    ours = read_csv(pond, "/join/stitched")
    old_df = frame_of(old, "site")
    expected = pd.concat([old_df[old_df.index < new_first(new)], frame_of(new, "site")])
    assert_same(ours, expected)


def new_first(table: pa.Table) -> pd.Timestamp:
    return pd.Timestamp(table.column("timestamp")[0].as_py())


def test_pivot_names_sites_by_first_capture(pond: PondRunner, host: Path) -> None:
    north = sonde(T0, 10, HOUR, 5)
    south = sonde(T0 + 3 * HOUR, 10, 30 * MINUTE, 6)
    put(pond, host, "/sites/north/data.series", north)
    put(pond, host, "/sites/south/data.series", south)
    apply(
        pond,
        host,
        """
apiVersion: duckpond/v1
kind: Pivot
name: temps
spec: {pattern: "/sites/*/data.series", columns: [temp]}
""",
    )
    ours = read_csv(pond, "/pivot/temps")
    expected = (
        frame_of(north.select(["timestamp", "temp"]), "north")
        .join(frame_of(south.select(["timestamp", "temp"]), "south"), how="outer")
        .sort_index()
    )
    assert_same(ours, expected)
    # A Reduce reads a Pivot's output as it reads a series.
    apply(pond, host, REDUCE.format(pattern="/pivot/temps"))
    assert_same(read_csv(pond, "/reduce/down/res=6h.series"), reference(expected, 6 * HOUR, CONFIG))


# ---------------------------------------------------------------------------- Reduce


REDUCE = """
apiVersion: duckpond/v1
kind: Reduce
name: down
spec:
  in_pattern: {pattern}
  resolutions: [1h, 6h, 1d]
  aggregations: [{{type: avg}}, {{type: min}}, {{type: max}}, {{type: count}}, {{type: sum}}]
"""
CONFIG = ReduceConfig.parse(
    ["1h", "6h", "1d"],
    [Aggregation(t) for t in ("avg", "min", "max", "count", "sum")],  # type: ignore[arg-type]
)
RESOLUTIONS = {"1h": HOUR, "6h": 6 * HOUR, "1d": DAY}


def test_reduce_matches_pandas_resample(pond: PondRunner, host: Path) -> None:
    # Gaps, a second version straddling bucket edges, and readings exactly on edges.
    first = sonde(T0, 100, 10 * MINUTE, 7)
    second = sonde(T0 + 2 * DAY + 17 * MINUTE, 80, 15 * MINUTE, 8)
    put(pond, host, "/raw/s.series", first)
    put(pond, host, "/raw/s.series", second)
    apply(pond, host, REDUCE.format(pattern="/raw/s.series"))
    assert pond.paths("/reduce/down/") == [
        "/reduce/down/res=1d.series",
        "/reduce/down/res=1h.series",
        "/reduce/down/res=6h.series",
    ]
    raw = pa.concat_tables([first, second])
    for name, micros in RESOLUTIONS.items():
        ours = read_csv(pond, f"/reduce/down/res={name}.series")
        assert_same(ours, reference(raw, micros, CONFIG))


def test_reduce_over_a_join_over_series(pond: PondRunner, host: Path) -> None:
    a = sonde(T0, 200, 10 * MINUTE, 9)
    b = sonde(T0 + 7 * MINUTE, 100, 20 * MINUTE, 10)
    put(pond, host, "/raw/a.series", a)
    put(pond, host, "/raw/b.series", b)
    apply(
        pond,
        host,
        """
apiVersion: duckpond/v1
kind: Join
name: ab
spec:
  inputs:
    - {pattern: /raw/a.series, scope: A}
    - {pattern: /raw/b.series, scope: B}
---
"""
        + REDUCE.format(pattern="/join/ab"),
    )
    joined = frame_of(a, "A").join(frame_of(b, "B"), how="outer").sort_index()
    for name, micros in RESOLUTIONS.items():
        assert_same(
            read_csv(pond, f"/reduce/down/res={name}.series"), reference(joined, micros, CONFIG)
        )
    described = describe(pond, "/reduce/down/res=6h.series")["derivation"]
    assert described["inputs"][0]["path"] == "/join/ab"
    read_ids = {i["node_id"] for i in described["input_versions"]}
    series_ids = {e["node_id"] for e in pond.json("list", "/raw/*.series")}
    assert series_ids <= read_ids

    # A new version of one series reaches the Reduce through the Join, incrementally.
    more = sonde(T0 + 2 * DAY, 6, 10 * MINUTE, 11)
    put(pond, host, "/raw/a.series", more)
    joined = (
        frame_of(pa.concat_tables([a, more]), "A").join(frame_of(b, "B"), how="outer").sort_index()
    )
    assert_same(read_csv(pond, "/reduce/down/res=1h.series"), reference(joined, HOUR, CONFIG))
    update = describe(pond, "/reduce/down/res=1h.series")["derivation"]["update"]
    assert update["mode"] == "incremental"
    # The new readings' hour alone: no scope stitches inputs, so nothing else can change.
    assert update["recomputed_buckets"] == 1


def test_incremental_update_recomputes_only_touched_buckets(pond: PondRunner, host: Path) -> None:
    base = sonde(T0, 3 * 144, 10 * MINUTE, 12)  # three days every 10 minutes
    put(pond, host, "/raw/s.series", base)
    apply(pond, host, REDUCE.format(pattern="/raw/s.series"))
    before = {
        n: pond.ok("cat", f"/reduce/down/res={n}.series", "--format", "csv").stdout
        for n in RESOLUTIONS
    }
    assert describe(pond, "/reduce/down/res=1h.series")["derivation"]["update"]["mode"] == "full"

    # Two hours of new readings from 00:30 on day 4: three 1h buckets.
    added = sonde(T0 + 3 * DAY + 30 * MINUTE, 12, 10 * MINUTE, 13)
    put(pond, host, "/raw/s.series", added)
    after = {
        n: pond.ok("cat", f"/reduce/down/res={n}.series", "--format", "csv").stdout
        for n in RESOLUTIONS
    }
    derivation = describe(pond, "/reduce/down/res=1h.series")["derivation"]
    assert derivation["update"] == {
        "mode": "incremental",
        "recomputed_buckets": 3,
        "late_rows": 0,
        "late_buckets": 0,
    }
    assert after != before
    assert [v["version"] for v in derivation["input_versions"] if v["type"] == "file:series"] == [2]

    # The same as a computation from scratch, with the cache deleted.
    shutil.rmtree(pond.dir / "cache")
    fresh = {
        n: pond.ok("cat", f"/reduce/down/res={n}.series", "--format", "csv").stdout
        for n in RESOLUTIONS
    }
    assert fresh == after
    assert describe(pond, "/reduce/down/res=1h.series")["derivation"]["update"]["mode"] == "full"
    raw = pa.concat_tables([base, added])
    for name, micros in RESOLUTIONS.items():
        assert_same(
            read_csv(pond, f"/reduce/down/res={name}.series"), reference(raw, micros, CONFIG)
        )


def test_late_data_is_applied_and_counted(pond: PondRunner, host: Path) -> None:
    base = sonde(T0, 5 * 24, HOUR, 14)  # five days, hourly
    put(pond, host, "/raw/s.series", base)
    apply(pond, host, REDUCE.format(pattern="/raw/s.series"))
    pond.ok("cat", "/reduce/down/res=1d.series", "--format", "csv")
    # Two readings three days before the newest bucket: older than allowed_lateness (1d).
    late = series([T0 + DAY + 5 * MINUTE, T0 + DAY + 6 * MINUTE], temp=[1.0, 2.0], cond=[150, 151])
    put(pond, host, "/raw/s.series", late)
    ours = read_csv(pond, "/reduce/down/res=1d.series")
    assert_same(ours, reference(pa.concat_tables([base, late]), DAY, CONFIG))
    assert ours.loc[pd.Timestamp(T0 + DAY, unit="us", tz="UTC"), "temp.count"] == 26
    derivation = describe(pond, "/reduce/down/res=1d.series")["derivation"]
    assert derivation["update"]["late_rows"] == 2
    assert derivation["update"]["late_buckets"] == 1
    assert derivation["late_rows_total"] == 2
    # Readings within the allowed lateness are not counted as late.
    recent = series([T0 + 4 * DAY + 30 * MINUTE], temp=[3.0], cond=[160])
    put(pond, host, "/raw/s.series", recent)
    derivation = describe(pond, "/reduce/down/res=1d.series")["derivation"]
    assert derivation["update"]["late_rows"] == 0
    assert derivation["late_rows_total"] == 2


def test_describe_shows_resolution_aggregations_inputs_and_versions(
    pond: PondRunner, host: Path
) -> None:
    put(pond, host, "/raw/s.series", sonde(T0, 10, HOUR, 15))
    put(pond, host, "/raw/s.series", sonde(T0 + DAY, 10, HOUR, 16))
    apply(pond, host, REDUCE.format(pattern="/raw/s.series"))
    described = describe(pond, "/reduce/down/res=6h.series")
    derivation = described["derivation"]
    assert derivation["kind"] == "Reduce"
    assert derivation["resolution"] == "6h"
    assert [a["type"] for a in derivation["aggregations"]] == ["avg", "min", "max", "count", "sum"]
    assert derivation["allowed_lateness"] == "1d"
    [node] = pond.json("list", "/raw/s.series")
    assert derivation["inputs"] == [
        {"path": "/raw/s.series", "node_id": node["node_id"], "type": "file:series", "version": 2}
    ]
    assert {"node_id": node["node_id"], "type": "file:series", "version": 2} in derivation[
        "input_versions"
    ]
    text = pond.ok("describe", "/reduce/down/res=6h.series").stdout
    assert "resolution: 6h" in text and "/raw/s.series" in text
    assert {c["name"] for c in described["columns"]} >= {"temp.avg", "cond.sum", "temp.count"}


def test_reduce_per_match_outputs_named_by_out_pattern(pond: PondRunner, host: Path) -> None:
    put(pond, host, "/sites/north/data.series", sonde(T0, 48, HOUR, 17))
    put(pond, host, "/sites/south/data.series", sonde(T0, 24, HOUR, 18))
    apply(
        pond,
        host,
        """
apiVersion: duckpond/v1
kind: Reduce
name: per-site
spec:
  in_pattern: "/sites/*/data.series"
  out_pattern: "site=$0"
  resolutions: [1d]
  aggregations: [{type: count, columns: [temp]}]
""",
    )
    assert pond.paths("/reduce/per-site/**") == [
        "/reduce/per-site/site=north",
        "/reduce/per-site/site=north/res=1d.series",
        "/reduce/per-site/site=south",
        "/reduce/per-site/site=south/res=1d.series",
    ]
    north = read_csv(pond, "/reduce/per-site/site=north/res=1d.series")
    assert list(north.columns) == ["temp.count"]
    assert list(north["temp.count"]) == [24, 24]
    assert list(read_csv(pond, "/reduce/per-site/site=south/res=1d.series")["temp.count"]) == [24]


def test_input_matching_nothing_gives_empty_output(pond: PondRunner, host: Path) -> None:
    apply(pond, host, REDUCE.format(pattern="/raw/*.series"))
    assert pond.paths("/reduce/down/") == []
    apply(
        pond,
        host,
        """
apiVersion: duckpond/v1
kind: Join
name: none
spec:
  inputs: [{pattern: /raw/nothing.series, scope: X}]
""",
    )
    assert pond.ok("cat", "/join/none", "--format", "csv").stdout.strip() == "timestamp"


def test_resolutions_that_do_not_nest_fail_at_apply(pond: PondRunner, host: Path) -> None:
    doc = host / "bad.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/s.series").replace("[1h, 6h, 1d]", "[1h, 90m, 1d]"))
    message = pond.fails("apply", "-f", str(doc))
    assert "spec.resolutions" in message
    assert "90m" in message and "1h" in message and "nest" in message


def test_time_travel_reads_the_reduce_as_it_was(pond: PondRunner, host: Path) -> None:
    put(pond, host, "/raw/s.series", sonde(T0, 24, HOUR, 19))
    apply(pond, host, REDUCE.format(pattern="/raw/s.series"))
    then = pond.json("log")[0]["txn_seq"]
    old = pond.ok("cat", "/reduce/down/res=1d.series", "--format", "csv").stdout
    put(pond, host, "/raw/s.series", sonde(T0 + 2 * HOUR + 1, 3, MINUTE, 20))
    now = pond.ok("cat", "/reduce/down/res=1d.series", "--format", "csv").stdout
    assert now != old
    past = pond.ok("cat", "/reduce/down/res=1d.series", "--format", "csv", "--at-txn", str(then))
    assert past.stdout == old
    # The past read did not disturb the kept state: the present is still right.
    assert pond.ok("cat", "/reduce/down/res=1d.series", "--format", "csv").stdout == now


@pytest.mark.parametrize("bad", ["{type: median}", "{type: avg, colums: [x]}"])
def test_bad_aggregation_names_the_field(pond: PondRunner, host: Path, bad: str) -> None:
    doc = host / "bad.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/s.series").replace("{type: sum}", bad))
    message = pond.fails("apply", "-f", str(doc))
    assert "spec.aggregations.4" in message


def test_incremental_reduce_over_a_stitched_join_equals_a_fresh_one(
    pond: PondRunner, host: Path
) -> None:
    # A replaced instrument: the new one's readings win over the old one's from its first
    # to its last reading, so new readings after a gap take over the old readings between.
    put(pond, host, "/raw/old.series", sonde(T0, 11, HOUR, 21))
    put(pond, host, "/raw/new.series", sonde(T0 + 2 * HOUR, 3, HOUR, 22))
    apply(
        pond,
        host,
        """
apiVersion: duckpond/v1
kind: Join
name: swap
spec:
  inputs:
    - {pattern: /raw/old.series, scope: S}
    - {pattern: /raw/new.series, scope: S}
---
"""
        + REDUCE.format(pattern="/join/swap"),
    )
    pond.ok("cat", "/reduce/down/res=1h.series", "--format", "csv")
    put(pond, host, "/raw/new.series", sonde(T0 + 8 * HOUR, 2, HOUR, 23))
    updated = {
        n: pond.ok("cat", f"/reduce/down/res={n}.series", "--format", "csv").stdout
        for n in RESOLUTIONS
    }
    assert describe(pond, "/reduce/down/res=1h.series")["derivation"]["update"]["mode"] == (
        "incremental"
    )
    shutil.rmtree(pond.dir / "cache")
    fresh = {
        n: pond.ok("cat", f"/reduce/down/res={n}.series", "--format", "csv").stdout
        for n in RESOLUTIONS
    }
    assert updated == fresh
    # From 02:00 to 09:00 only the new instrument counts: the old one's readings from 05:00
    # to 07:00 are gone, and those hours with them.
    hours = [t.hour for t in read_csv(pond, "/reduce/down/res=1h.series").index]
    assert hours == [0, 1, 2, 3, 4, 8, 9, 10]

    # A late reading of the old instrument inside the new one's span (where the new one
    # has none) is replaced by the new instrument's span: nothing changes.
    put(pond, host, "/raw/old.series", series([T0 + 6 * HOUR + 30 * MINUTE], temp=[5.0], cond=[1]))
    again = {
        n: pond.ok("cat", f"/reduce/down/res={n}.series", "--format", "csv").stdout
        for n in RESOLUTIONS
    }
    assert describe(pond, "/reduce/down/res=1h.series")["derivation"]["update"]["mode"] == (
        "incremental"
    )
    assert again == fresh


def test_site_charts_a_reduce_over_a_join(pond: PondRunner, host: Path) -> None:
    # The chain PIPELINE.md's example declares: series -> Join -> Reduce -> Site.
    put(pond, host, "/hydrovu/noyo/BDockAT500.series", sonde(T0, 48, HOUR, 24))
    put(pond, host, "/hydrovu/noyo/BDockVulink.series", sonde(T0 + DAY, 48, HOUR, 25))
    out = host / "www"
    apply(
        pond,
        host,
        f"""
apiVersion: duckpond/v1
kind: Join
name: bdock
spec:
  inputs: [{{pattern: "/hydrovu/noyo/BDock*.series", scope: BDock}}]
---
apiVersion: duckpond/v1
kind: Reduce
name: bdock-down
spec:
  in_pattern: /join/bdock
  resolutions: [1h, 6h, 1d]
---
apiVersion: duckpond/v1
kind: Site
name: public
spec:
  title: Noyo Harbor water
  charts: [{{pattern: "/reduce/bdock-down/*"}}]
  out: {out}
""",
    )
    pond.ok("run")
    assert (out / "index.html").exists()
    charted = sorted(p.name for p in (out / "data").iterdir())
    assert charted == ["bdock-down-bdock-cond", "bdock-down-bdock-temp"]
    # The Vulink replaced the AT500 from its first reading on: 24 + 48 hourly readings.
    vulink = sonde(T0 + DAY, 48, HOUR, 25).column("temp").to_pylist()
    hourly = read_csv(pond, "/reduce/bdock-down/res=1h.series")
    assert len(hourly) == 72
    assert list(hourly["BDock.temp.avg"])[24:] == vulink


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order=st.permutations(range(6)),
    cuts=st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True),
)
def test_any_arrival_order_and_split_reads_as_a_fresh_computation(
    tmp_path_factory: pytest.TempPathFactory, order: list[int], cuts: list[int]
) -> None:
    """Readings arriving as versions in any order and split (late ones included), each
    read incrementally, end where one computation from scratch ends."""
    from duckpond import Pond

    where = tmp_path_factory.mktemp("prop")
    # Six blocks of readings over four days, some hours apart: block order is arrival order.
    blocks = [sonde(T0 + i * 16 * HOUR, 20, 17 * MINUTE, 30 + i) for i in range(6)]
    arriving = [blocks[i] for i in order]
    bounds = [0, *sorted(cuts), 6]
    versions = [
        pa.concat_tables(arriving[lo:hi]) for lo, hi in itertools.pairwise(bounds) if hi > lo
    ]
    doc = where / "reduce.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/s.series"))
    seen: dict[str, pa.Table] = {}
    with Pond.init(where / "inc") as pond:
        pond.mkdir("/raw")
        pond.pipeline.apply([doc])
    for version in versions:
        with Pond.open(where / "inc") as pond:
            pond.write_series("/raw/s.series", version)
        with Pond.open(where / "inc") as pond:
            for name in RESOLUTIONS:
                seen[name] = pond.read_table(f"/reduce/down/res={name}.series")
    shutil.rmtree(where / "inc" / "cache")
    with Pond.open(where / "inc") as pond:
        for name in RESOLUTIONS:
            fresh = pond.read_table(f"/reduce/down/res={name}.series")
            assert fresh.equals(seen[name]), name


def test_reduce_in_a_local_calendar_matches_pandas_across_dst(pond: PondRunner, host: Path) -> None:
    # Ten-minute readings from 2024-03-01 to 2024-04-15: clocks go forward on 03-10.
    raw = sonde(T0, 45 * 144, 10 * MINUTE, 31)
    put(pond, host, "/raw/s.series", raw)
    apply(
        pond,
        host,
        REDUCE.format(pattern="/raw/s.series").replace(
            "[1h, 6h, 1d]", "[1h, 1d, 1mo]\n  timezone: America/New_York"
        ),
    )
    frame = raw.to_pandas().set_index("timestamp").astype("float64")
    frame.index = pd.DatetimeIndex(frame.index).tz_convert("America/New_York")
    for name, rule in (("1d", "D"), ("1mo", "MS")):
        resampled = frame.resample(rule, label="left", closed="left")
        expected = pd.DataFrame(
            {
                f"{column}.{agg}": getattr(resampled[column], how)()
                for column in frame.columns
                for agg, how in (
                    ("avg", "mean"),
                    ("min", "min"),
                    ("max", "max"),
                    ("count", "count"),
                )
            }
            | {f"{column}.sum": resampled[column].sum() for column in frame.columns}
        )
        expected = expected[
            [f"{c}.{a}" for c in frame.columns for a in ("avg", "min", "max", "count", "sum")]
        ]
        expected.index = expected.index.tz_convert("UTC")
        assert_same(read_csv(pond, f"/reduce/down/res={name}.series"), expected)
    daily = read_csv(pond, "/reduce/down/res=1d.series")
    spring = daily.index.get_loc(pd.Timestamp("2024-03-10T05:00Z"))
    assert daily.index[spring + 1] - daily.index[spring] == pd.Timedelta(hours=23)
    assert describe(pond, "/reduce/down/res=1d.series")["derivation"]["timezone"] == (
        "America/New_York"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("[1h, 6h, 1d]\n  timezone: Mars/Olympus", "spec.timezone: unknown time zone"),
        ("[1h, 6h, 1d]\n  timezone: America", "spec.timezone: unknown time zone"),
        ("[1d, 1w, 1mo]", "1mo is not a whole multiple of 1w"),
        ("[1h, 6h, 1d]\n  week_start: someday", "spec.week_start: not a weekday"),
    ],
)
def test_calendar_settings_are_checked_at_apply(
    pond: PondRunner, host: Path, change: str, message: str
) -> None:
    doc = host / "bad.yaml"
    doc.write_text(REDUCE.format(pattern="/raw/s.series").replace("[1h, 6h, 1d]", change))
    assert message in pond.fails("apply", "-f", str(doc))
