"""Synthetic Reduce outputs for the site tests: per resolution, avg/min/max of a daily wave."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pyarrow as pa

from duckpond.pipeline.site import SeriesData, parse_resolution

RESOLUTIONS = ("1h", "6h", "1d")
# The last bucket is in mid-summer, far from daylight-saving changes in either hemisphere's
# northern zones, so the week before it has a fixed offset in the test zone.
END = datetime(2025, 7, 15, tzinfo=UTC)
DAYS = 400
GAP = (datetime(2025, 7, 10, tzinfo=UTC), datetime(2025, 7, 11, 12, tzinfo=UTC))


def reduce_table(
    res: str, params: dict[str, float], *, days: int = DAYS, prefix: str = ""
) -> pa.Table:
    """A table like Reduce's ``res=<res>.series``: bucket starts with avg/min/max per parameter.

    ``params`` maps a parameter name to its mean level; buckets inside GAP are missing.
    """
    step = parse_resolution(res) // 1000
    end_s = int(END.timestamp())
    start_s = end_s - days * 86400
    first = start_s - start_s % step
    times: list[int] = []
    t = first
    gap0, gap1 = (int(g.timestamp()) for g in GAP)
    while t <= end_s:
        if not gap0 <= t < gap1:
            times.append(t)
        t += step
    columns: dict[str, pa.Array] = {
        "timestamp": pa.array([x * 1_000_000 for x in times], pa.timestamp("us", "UTC"))
    }
    for name, level in params.items():
        # A seasonal swing, a daily cycle and a slower wobble: a chart a person can read.
        avg = [
            level
            + 4 * math.sin(2 * math.pi * x / 31_557_600)
            + 0.8 * math.sin(2 * math.pi * x / 86400)
            + 0.6 * math.sin(x / 4.1e5) * math.sin(x / 1.7e6)
            for x in times
        ]
        spread = [0.2 + 0.0004 * step / 60 for _ in times]
        columns[f"{prefix}{name}.avg"] = pa.array(avg, pa.float64())
        columns[f"{prefix}{name}.min"] = pa.array([a - s for a, s in zip(avg, spread, strict=True)])
        columns[f"{prefix}{name}.max"] = pa.array([a + s for a, s in zip(avg, spread, strict=True)])
    return pa.table(columns)


def series(name: str, params: dict[str, float], *, days: int = DAYS) -> SeriesData:
    """One matched series with the three test resolutions."""
    return SeriesData(
        name=name,
        path=f"/reduce/{name.lower()}",
        resolutions={r: reduce_table(r, params, days=days) for r in RESOLUTIONS},
    )
