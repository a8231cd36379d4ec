"""Reduce in a local calendar, checked against pandas ``resample`` on tz-aware indexes."""

from __future__ import annotations

from datetime import timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from duckpond.errors import ConfigError
from duckpond.pipeline.timeseries import ReduceConfig, outputs, reduce_full, reduce_update
from duckpond.pipeline.timeseries.calendar import Buckets

from .helpers import HOUR, US, Store, readings

NEW_YORK = "America/New_York"
ALL = ("avg", "min", "max", "count", "sum")
# 2024-03-10 (clocks forward) and 2024-11-03 (clocks back) are inside this span.
START = int(pd.Timestamp("2024-02-20", tz="UTC").value // 1000)


def pandas_local(raw: pa.Table, rule: str, tz: object) -> pd.DataFrame:
    """pandas' buckets of ``raw`` in ``tz`` (left-closed, left-labelled), non-empty ones."""
    frame = raw.to_pandas().set_index("timestamp")
    frame.index = pd.DatetimeIndex(frame.index).tz_convert(tz)
    frame = frame.astype("float64")
    resampled = frame.resample(rule, label="left", closed="left")
    sizes = resampled.size()
    out = pd.DataFrame(index=sizes.index)
    for column in frame.columns:
        out[f"{column}.avg"] = resampled[column].mean()
        out[f"{column}.min"] = resampled[column].min()
        out[f"{column}.max"] = resampled[column].max()
        out[f"{column}.count"] = resampled[column].count()
        out[f"{column}.sum"] = resampled[column].sum(min_count=1)
    return out[sizes > 0]


def assert_same(ours: pa.Table, expected: pd.DataFrame) -> None:
    frame = ours.to_pandas().set_index("timestamp")
    # The same instants: our starts are UTC, pandas' are local; both name one instant.
    assert list(frame.index) == [t.tz_convert("UTC") for t in expected.index]
    assert list(frame.columns) == list(expected.columns)
    for column in expected.columns:
        assert np.allclose(
            frame[column].astype("float64").to_numpy(),
            expected[column].to_numpy(dtype="float64"),
            rtol=1e-12,
            atol=1e-9,
            equal_nan=True,
        ), column


@pytest.fixture(scope="module")
def year() -> pa.Table:
    # Ten-minute readings for most of a year, with NULLs.
    return readings(START, 36 * 24 * 6 * 8, 10 * 60 * US, seed=11, nulls=0.05)


def test_local_days_weeks_months_quarters_years_match_pandas(year: pa.Table) -> None:
    # Weeks do not nest in months: two Reduce configs.
    months = ReduceConfig.parse(["1h", "1d", "1mo", "3mo", "1y"], ALL, timezone=NEW_YORK)
    weeks = ReduceConfig.parse(["1d", "1w"], ALL, timezone=NEW_YORK)
    out = {**outputs(reduce_full(months, year)), **outputs(reduce_full(weeks, year))}
    # (1h is left out: the hour clocks go back in is one bucket here, two in pandas.)
    for name, rule in [
        ("1d", "D"),
        ("1w", "W-MON"),
        ("1mo", "MS"),
        ("3mo", "QS-JAN"),
        ("1y", "YS"),
    ]:
        assert_same(out[f"res={name}.series"], pandas_local(year, rule, NEW_YORK))


def test_local_days_are_23_and_25_hours_across_dst(year: pa.Table) -> None:
    config = ReduceConfig.parse(["1d"], ["count"], timezone=NEW_YORK)
    daily = outputs(reduce_full(config, year))["res=1d.series"]
    starts = pd.DatetimeIndex(daily.column("timestamp").to_pandas()).tz_convert(NEW_YORK)
    hours = (starts[1:] - starts[:-1]) / pd.Timedelta(hours=1)
    lengths = dict(zip(starts.strftime("%Y-%m-%d"), hours, strict=False))
    assert lengths["2024-03-10"] == 23
    assert lengths["2024-11-03"] == 25
    assert lengths["2024-06-01"] == 24
    assert all(t.hour == 0 and t.minute == 0 for t in starts)
    counts = dict(
        zip(starts.strftime("%Y-%m-%d"), daily.column("Depth.m.count").to_pylist(), strict=True)
    )
    assert counts["2024-03-10"] == 23 * 6
    assert counts["2024-11-03"] == 25 * 6


def test_a_fixed_offset_counts_hours_and_days_there(year: pa.Table) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    config = ReduceConfig.parse(["1h", "1d"], ALL, timezone="+05:30")
    out = outputs(reduce_full(config, year))
    assert_same(out["res=1h.series"], pandas_local(year, "1h", india))
    assert_same(out["res=1d.series"], pandas_local(year, "D", india))


def test_weeks_start_on_the_weekday_given(year: pa.Table) -> None:
    monday = outputs(reduce_full(ReduceConfig.parse(["1w"], ALL), year))["res=1w.series"]
    assert_same(monday, pandas_local(year, "W-MON", "UTC"))
    sunday = ReduceConfig.parse(["1d", "2w"], ALL, timezone=NEW_YORK, week_start="sunday")
    starts = outputs(reduce_full(sunday, year))["res=2w.series"].column("timestamp").to_pandas()
    local = pd.DatetimeIndex(starts).tz_convert(NEW_YORK)
    assert set(local.day_name()) == {"Sunday"}
    wall = local.tz_localize(None)
    assert set((wall[1:] - wall[:-1]).days) == {14}


def test_the_repeated_local_hour_is_one_bucket_of_two_hours() -> None:
    buckets = Buckets.parse("1h", NEW_YORK)
    # 2024-11-03 05:30Z is 01:30 EDT, 06:30Z is 01:30 EST: one local hour 01:00.
    first = int(pd.Timestamp("2024-11-03T05:00Z").value // 1000)
    times = np.array([first + 30 * 60 * US, first + HOUR + 30 * 60 * US, first + 2 * HOUR])
    starts = buckets.floor(times)
    assert starts.tolist() == [first, first, first + 2 * HOUR]
    assert buckets.following(starts[:1]).tolist() == [first + 2 * HOUR]
    # Clocks forward: the 6h bucket from local midnight holds five hours.
    night = int(pd.Timestamp("2024-03-10T05:00Z").value // 1000)
    six = Buckets.parse("6h", NEW_YORK)
    assert six.floor(np.array([night + 4 * HOUR])).tolist() == [night]
    assert six.following(np.array([night])).tolist() == [night + 5 * HOUR]


def test_incremental_updates_in_local_months_equal_full(year: pa.Table) -> None:
    config = ReduceConfig.parse(["1h", "1d", "1mo", "1y"], ALL, timezone=NEW_YORK)
    store = Store()
    partials = None
    for piece in [year.slice(0, 20_000), year.slice(20_000, 15_000), year.slice(35_000)]:
        result = reduce_update(partials, [store.append(piece)], store.read, config)
        partials = result.partials
        full = reduce_full(config, store.versions)
        for ours, theirs in zip(partials.tables, full.tables, strict=True):
            assert ours.equals(theirs)
        # Appended after the newest bucket: nothing late; only the new rows' local hours
        # recomputed (the hour clocks go back in is one of two).
        assert result.late_rows == 0
        assert result.late_buckets == 0
        hours = np.unique(piece.column("timestamp").cast(pa.int64()).to_numpy() // HOUR)
        repeated = int(pd.Timestamp("2024-11-03T05:00Z").value // 1000 // HOUR)
        assert result.recomputed_buckets == len(hours) - int(repeated + 1 in hours)


def test_a_version_with_scattered_rows_recomputes_only_their_buckets(year: pa.Table) -> None:
    config = ReduceConfig.parse(["1h", "1d"], ALL, allowed_lateness="1d", timezone=NEW_YORK)
    store = Store()
    first = reduce_update(None, [store.append(year)], store.read, config).partials
    # Two corrections, months apart: two hours recomputed, not the months between.
    fix = year.take([100, 40_000])
    fix = fix.set_column(1, "Temperature.C", pa.array([99.0, -99.0]))
    result = reduce_update(first, [store.append(fix)], store.read, config)
    assert result.recomputed_buckets == 2
    assert result.late_rows == 2
    assert result.late_buckets == 2
    full = reduce_full(config, store.versions)
    for ours, theirs in zip(result.partials.tables, full.tables, strict=True):
        assert ours.equals(theirs)


@pytest.mark.parametrize(
    ("resolutions", "message"),
    [
        (["1w", "1mo"], "1mo is not a whole multiple of 1w"),
        (["5h", "1d"], "1d is not a whole multiple of 5h"),
        (["2d", "1mo"], "1mo is not a whole multiple of 2d"),
        (["2mo", "3mo"], "3mo is not a whole multiple of 2mo"),
        (["1mo", "1y", "12mo"], "same length"),
    ],
)
def test_calendar_units_must_nest(resolutions: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ReduceConfig.parse(resolutions, timezone=NEW_YORK)


def test_nesting_calendar_units_are_accepted() -> None:
    config = ReduceConfig.parse(["15m", "6h", "1d", "1mo", "3mo", "1y"], timezone=NEW_YORK)
    assert [r.name for r in config.resolutions] == ["15m", "6h", "1d", "1mo", "3mo", "1y"]
    assert [r.name for r in ReduceConfig.parse(["1w", "1d", "4w"]).resolutions] == [
        "1d",
        "1w",
        "4w",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone: 'Mars/Olympus'"),
        # A folder of the tz database is no zone (it was an OS error naming its path).
        ({"timezone": "Pacific"}, "unknown time zone: 'Pacific'"),
        ({"timezone": "Etc"}, "unknown time zone: 'Etc'"),
        ({"week_start": "someday"}, "not a weekday: 'someday'"),
    ],
)
def test_bad_zone_or_weekday_is_named(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ReduceConfig.parse(["1d"], **kwargs)


@pytest.mark.parametrize(
    "tz",
    [
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
        "Europe/London",
        "Asia/Tehran",
    ],
)
def test_the_fast_zone_arithmetic_agrees_with_arrow(tz: str) -> None:
    from duckpond.pipeline.timeseries import calendar

    rng = np.random.default_rng(7)
    start = int(pd.Timestamp("1995-01-01", tz="UTC").value // 1000)
    end = int(pd.Timestamp("2030-01-01", tz="UTC").value // 1000)
    times = np.sort(rng.integers(start, end, 200_000))
    # Every minute around each change too, where the fast path hands over to Arrow.
    changes = pd.date_range("1995-01-01", "2030-01-01", freq="h", tz=tz)
    offsets = np.array([t.utcoffset().total_seconds() for t in changes])
    moments = changes[1:][offsets[1:] != offsets[:-1]].asi8 // 1000
    near = (moments[:, None] + np.arange(-180, 180)[None, :] * 60_000_000).ravel()
    times = np.concatenate([times, near])
    buckets = Buckets.parse("1h", tz)
    wall = buckets._to_wall(times)
    assert np.array_equal(wall, calendar._arrow_wall(times, tz))
    for unit in ("1h", "1d", "1mo"):
        b = Buckets.parse(unit, tz)
        floors = b._floor_wall(wall)
        assert np.array_equal(b._to_utc(floors), calendar._arrow_utc(floors, tz)), unit


def test_civil_month_arithmetic_agrees_with_numpy() -> None:
    from duckpond.pipeline.timeseries import calendar

    days = np.arange(-200_000, 200_000, 7, dtype=np.int64)  # 1422 to 2517
    wall = days * calendar.DAY + 12_345
    months = Buckets._months(wall)
    expected = wall.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    assert np.array_equal(months, expected)
    starts = calendar._month_starts(months)
    assert np.array_equal(
        starts, months.astype("datetime64[M]").astype("datetime64[us]").astype(np.int64)
    )
