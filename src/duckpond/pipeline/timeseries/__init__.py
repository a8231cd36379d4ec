"""Time-series computations of the Join, Pivot and Reduce kinds, on Arrow data.

Pure functions with no pond access: a kind reads its inputs, calls these, and stores or
returns the results.  Times are the ``timestamp`` column, ``timestamp[us, UTC]``; ranges
are microseconds since the epoch UTC.
"""

from __future__ import annotations

from .durations import format_duration, parse_duration
from .join import JoinInput, join
from .pivot import pivot
from .reduce import (
    Aggregation,
    Change,
    Partials,
    ReduceConfig,
    Resolution,
    UpdateResult,
    outputs,
    parse_resolutions,
    reduce_full,
    reduce_update,
)

__all__ = [
    "Aggregation",
    "Change",
    "JoinInput",
    "Partials",
    "ReduceConfig",
    "Resolution",
    "UpdateResult",
    "format_duration",
    "join",
    "outputs",
    "parse_duration",
    "parse_resolutions",
    "pivot",
    "reduce_full",
    "reduce_update",
]
