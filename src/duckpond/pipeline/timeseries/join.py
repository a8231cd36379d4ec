"""Join: series of several scopes side by side on ``timestamp``, columns ``<scope>.<column>``.

Inputs of one scope are unioned by column name; where two overlap in time, the later
input in the list wins for the later one's range (a replaced instrument's data stitched
onto its successor's).  An input's range is its declared ``[begin, end)`` (even without
readings in it); a bound not declared is its own first or last reading.  Within a scope, one row per time remains (the last of equal times,
so a later version's reading replaces an earlier one).  Scopes are full-outer-joined on
``timestamp``; the output is sorted by time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import ConfigError
from ._arrow import TIME, Tabular, as_table, latest_per_time, micros, time_type, union

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa


@dataclass(frozen=True)
class JoinInput:
    """One input of a Join: its scope, its rows (None or empty: an empty input) and the
    time it is limited to, ``[begin, end)`` in microseconds since the epoch UTC (either
    bound None for open)."""

    scope: str
    data: Tabular
    begin: int | None = None
    end: int | None = None


def _limit(table: pa.Table, begin: int | None, end: int | None) -> pa.Table:
    import pyarrow as pa

    if begin is None and end is None:
        return table
    times = micros(table)
    mask = times == times  # all true
    if begin is not None:
        mask &= times >= begin
    if end is not None:
        mask &= times < end
    return table.filter(pa.array(mask))


def _span(table: pa.Table, begin: int | None, end: int | None) -> tuple[int, int] | None:
    """An input's range ``[begin, end)``: declared bounds as given, the others from its
    first and last reading; None when it has no readings and a bound is not declared."""
    if begin is not None and end is not None:
        return begin, end
    if table.num_rows == 0:
        return None
    times = micros(table)
    return (
        begin if begin is not None else int(times[0]),
        end if end is not None else int(times[-1]) + 1,
    )


def stitch(inputs: Sequence[JoinInput]) -> pa.Table | None:
    """The rows of one scope's inputs, later inputs winning over their range, one row per
    time, sorted; None when no input has a known schema.  Columns keep their own names."""
    import pyarrow as pa

    result: pa.Table | None = None
    for item in inputs:
        table = as_table(item.data)
        if table is None:
            continue
        table = latest_per_time(_limit(table, item.begin, item.end))
        if result is None:
            result = table
            continue
        span = _span(table, item.begin, item.end)
        if span is not None:
            old = micros(result)
            result = result.filter(pa.array((old < span[0]) | (old >= span[1])))
        result = latest_per_time(union([result, table]))
    return result


def _sorted_unique(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The distinct values, sorted.  ``np.unique`` of numpy 2.4 hashes first and took 1.9 s
    for 600k times here; a sort and a mask take 10 ms."""
    import numpy as np

    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def align(frames: Sequence[tuple[str, pa.Table | None]]) -> pa.Table:
    """Tables with unique sorted times side by side: ``timestamp`` (the union of their
    times, sorted) and ``<prefix>.<column>`` for every other column, NULL where a table has
    no row at that time.  A None table contributes no columns.  Raises ``ConfigError`` when
    two output columns would share a name."""
    import numpy as np
    import pyarrow as pa

    known = [(prefix, table) for prefix, table in frames if table is not None]
    all_times = _sorted_unique(
        np.concatenate([micros(t) for _, t in known]) if known else np.array([], dtype=np.int64)
    )
    names = [TIME]
    columns: list[pa.Array | pa.ChunkedArray] = [
        pa.array(all_times, type=pa.int64()).cast(time_type())
    ]
    for prefix, table in known:
        times = micros(table)
        position = np.searchsorted(times, all_times)
        clipped = np.minimum(position, max(len(times) - 1, 0))
        present = (
            (position < len(times)) & (times[clipped] == all_times)
            if len(times)
            else np.zeros(len(all_times), dtype=bool)
        )
        indices = pa.array(clipped, mask=~present, type=pa.int64())
        for name in table.schema.names:
            if name == TIME:
                continue
            out = f"{prefix}.{name}"
            if out in names:
                raise ConfigError(f"two joined columns would both be named {out!r}")
            column = table.column(name)
            names.append(out)
            columns.append(
                column.take(indices) if len(times) else pa.nulls(len(all_times), column.type)
            )
    return pa.Table.from_arrays(columns, names=names)


def join(inputs: Sequence[JoinInput]) -> pa.Table:
    """Join the inputs (see the module's docstring): ``timestamp[us, UTC]`` then
    ``<scope>.<column>`` per scope in order of first appearance.  An empty input gives its
    scope's columns (all NULL) if its schema is known, else nothing; no input at all gives
    a table with only ``timestamp``.  Raises ``FormatError`` for an input without a
    timestamp column or with incompatible column types within a scope."""
    scopes: dict[str, list[JoinInput]] = {}
    for item in inputs:
        scopes.setdefault(item.scope, []).append(item)
    return align([(scope, stitch(items)) for scope, items in scopes.items()])
