"""Real-shaped series, a versioned store, and pandas as the independent reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from duckpond.pipeline.timeseries import Change, ReduceConfig

US = 1_000_000
HOUR = 3600 * US
DAY = 24 * HOUR
T0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp()) * US
TS = pa.timestamp("us", tz="UTC")


def series(times: Sequence[int] | np.ndarray, **columns: Sequence[object] | np.ndarray) -> pa.Table:
    """A table of ``timestamp`` (microseconds) and the given columns."""
    data: dict[str, pa.Array] = {"timestamp": pa.array(np.asarray(times, dtype=np.int64)).cast(TS)}
    for name, values in columns.items():
        data[name] = pa.array(values)
    return pa.table(data)


def readings(start: int, count: int, step: int, seed: int, nulls: float = 0.0) -> pa.Table:
    """A sonde's readings: temperature, conductivity, depth every ``step`` microseconds."""
    rng = np.random.default_rng(seed)
    times = start + np.arange(count, dtype=np.int64) * step
    temp = 12 + 3 * np.sin(np.arange(count) / 96) + rng.normal(0, 0.2, count)
    cond = rng.normal(52000, 800, count)
    mask = rng.random(count) < nulls
    return pa.table(
        {
            "timestamp": pa.array(times).cast(TS),
            "Temperature.C": pa.array(temp, mask=mask),
            "Conductivity.uS/cm": pa.array(cond),
            "Depth.m": pa.array(rng.integers(0, 40, count), type=pa.int32()),
        }
    )


@dataclass
class Store:
    """A series as the pond holds it: versions in order, each with its event-time range."""

    versions: list[pa.Table] = field(default_factory=list)

    def append(self, table: pa.Table) -> Change:
        self.versions.append(table)
        times = table.column("timestamp").cast(pa.int64()).to_numpy()
        return Change(int(times.min()), int(times.max()), table.column("timestamp"))

    def read(self, start: int, end: int) -> list[pa.Table]:
        """Every row in ``[start, end)``, one piece per version, in version order."""
        out = []
        for table in self.versions:
            times = table.column("timestamp").cast(pa.int64()).to_numpy()
            out.append(table.filter(pa.array((times >= start) & (times < end))))
        return out

    def all(self) -> pa.Table:
        return pa.concat_tables(self.versions, promote_options="permissive")


_PANDAS = {"avg": "mean", "min": "min", "max": "max", "count": "count", "sum": "sum"}


def pandas_reduce(raw: pa.Table, micros: int, config: ReduceConfig) -> pd.DataFrame:
    """The reference: pandas ``resample`` (left-closed, left-labelled, origin the epoch),
    keeping the buckets that hold at least one row, columns ``<column>.<agg>``."""
    frame = raw.to_pandas()
    index = pd.DatetimeIndex(frame.pop("timestamp")).tz_convert(None)
    frame.index = index
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    frame = frame[numeric].astype("float64")
    rule = pd.Timedelta(microseconds=micros)
    resampled = frame.resample(rule, label="left", closed="left", origin="epoch")
    sizes = resampled.size()
    out = pd.DataFrame(index=sizes.index)
    for column in numeric:
        for agg in config.outputs_for(column):
            if agg == "sum":
                out[f"{column}.sum"] = resampled[column].sum(min_count=1)
            else:
                out[f"{column}.{agg}"] = getattr(resampled[column], _PANDAS[agg])()
    out = out[sizes > 0]
    out.index = out.index.tz_localize("UTC")
    return out


def assert_matches_pandas(
    output: pa.Table, raw: pa.Table, micros: int, config: ReduceConfig
) -> None:
    """``output`` (one resolution) equals the pandas reference within float rounding."""
    expected = pandas_reduce(raw, micros, config)
    ours = output.to_pandas().set_index("timestamp")
    assert list(ours.columns) == list(expected.columns)
    assert list(ours.index) == list(expected.index)
    for column in expected.columns:
        left = ours[column].astype("float64").to_numpy()
        right = expected[column].to_numpy(dtype="float64")
        assert np.array_equal(np.isnan(left), np.isnan(right)), column
        assert np.allclose(left, right, rtol=1e-12, atol=1e-9, equal_nan=True), column
