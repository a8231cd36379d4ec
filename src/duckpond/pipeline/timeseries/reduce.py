"""Reduce: time series downsampled to several resolutions, incrementally.

Every resolution keeps *partials* per bucket and source column: ``<column>.sum``,
``<column>.count`` (non-NULL values), ``<column>.min`` and ``<column>.max``, as far as the
aggregations need them.  The finest resolution's partials come from raw rows; each coarser
resolution's come from the next finer partials (sums of sums and counts, never averages of
averages).  Outputs (``res=<R>.series``) are read off the partials: ``<column>.<agg>``.

Buckets are counted in a time zone (UTC by default) as people count them: local days,
weeks from Monday, calendar months and years (``calendar.Buckets``); each is labelled by
its start (``[start, next start)``), stored as a UTC instant.
NULL values are skipped as SQL does; NaN is a value (an average over a NaN is NaN), as in
SQL.  Every row given is aggregated: removing duplicate readings is the input's business
(Join keeps the latest row per time).

Sums are floating point: a full computation and an incremental one over the same rows
give the same results, but rows read in another order or other batch boundaries may
change a sum or an average in its last bits.  Counts, minima and maxima are exact.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from ...errors import ConfigError
from ._arrow import TIME, Tabular, batches, micros, union, with_time
from .calendar import Buckets, parse_weekday
from .durations import parse_duration

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

AggType = Literal["avg", "min", "max", "count", "sum"]
AGG_TYPES: tuple[str, ...] = get_args(AggType)

# The partials each aggregation is read from, and how partials of one kind combine.
_NEEDS: dict[str, tuple[str, ...]] = {
    "avg": ("sum", "count"),
    "sum": ("sum",),
    "count": ("count",),
    "min": ("min",),
    "max": ("max",),
}
_PARTS = ("sum", "count", "min", "max")
_COMBINE = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}

DEFAULT_LATENESS = 86_400_000_000  # 1d in microseconds


@dataclass(frozen=True)
class Resolution:
    """One output resolution: its name as written (``1h``, the ``res=1h.series`` label)
    and its buckets (``calendar.Buckets``: unit, count, zone, first weekday)."""

    name: str
    buckets: Buckets

    @property
    def micros(self) -> int:
        """The nominal length in microseconds (months and years by their mean length)."""
        return self.buckets.nominal

    @property
    def output(self) -> str:
        """The output's file name, ``res=<name>.series``."""
        return f"res={self.name}.series"


@dataclass(frozen=True)
class Aggregation:
    """One aggregation: its type and the columns it applies to (names or ``*`` globs;
    None means every numeric column)."""

    type: AggType
    columns: tuple[str, ...] | None = None

    def applies_to(self, column: str) -> bool:
        if self.columns is None:
            return True
        return any(fnmatch.fnmatchcase(column, pattern) for pattern in self.columns)


@dataclass(frozen=True)
class ReduceConfig:
    """What to compute: resolutions finest first, aggregations, and the allowed lateness
    (microseconds) beyond which late data is counted."""

    resolutions: tuple[Resolution, ...]
    aggregations: tuple[Aggregation, ...]
    allowed_lateness: int = DEFAULT_LATENESS

    @classmethod
    def parse(
        cls,
        resolutions: Sequence[str],
        aggregations: Sequence[Aggregation | str] = ("avg", "min", "max"),
        allowed_lateness: str = "1d",
        *,
        timezone: str = "UTC",
        week_start: str = "monday",
    ) -> ReduceConfig:
        """A config from the spec's texts; raises ``ConfigError`` naming what is wrong.

        ``timezone`` (IANA name or ``+HH:MM``) is where buckets are counted;
        ``week_start`` the weekday ``w`` buckets start on.
        """
        aggs: list[Aggregation] = []
        for agg in aggregations:
            if isinstance(agg, str):
                if agg not in AGG_TYPES:
                    raise ConfigError(
                        f"unknown aggregation {agg!r} (choose from {', '.join(AGG_TYPES)})"
                    )
                agg = Aggregation(agg)  # type: ignore[arg-type]
            elif agg.type not in AGG_TYPES:
                raise ConfigError(
                    f"unknown aggregation {agg.type!r} (choose from {', '.join(AGG_TYPES)})"
                )
            aggs.append(agg)
        if not aggs:
            raise ConfigError("no aggregations given")
        return cls(
            parse_resolutions(resolutions, timezone, parse_weekday(week_start)),
            tuple(aggs),
            parse_duration(allowed_lateness),
        )

    @property
    def finest(self) -> Resolution:
        return self.resolutions[0]

    def parts_for(self, column: str) -> tuple[str, ...]:
        """The partials kept for a numeric source column (none if no aggregation applies)."""
        wanted = {
            part for agg in self.aggregations if agg.applies_to(column) for part in _NEEDS[agg.type]
        }
        return tuple(part for part in _PARTS if part in wanted)

    def outputs_for(self, column: str) -> tuple[str, ...]:
        """The aggregation types computed for a source column, in the order given."""
        seen: list[str] = []
        for agg in self.aggregations:
            if agg.applies_to(column) and agg.type not in seen:
                seen.append(agg.type)
        return tuple(seen)


def parse_resolutions(
    texts: Sequence[str], timezone: str = "UTC", week_start: int = 0
) -> tuple[Resolution, ...]:
    """Resolutions sorted finest first; each bucket must be whole buckets of the next finer
    (``1h`` in ``1d`` in ``1mo`` in ``3mo`` in ``1y``; ``1w`` in no month).

    Raises ``ConfigError`` naming the offending pair (or the bad text or zone).
    """
    if not texts:
        raise ConfigError("no resolutions given")
    found = sorted(
        (Resolution(text, Buckets.parse(text, timezone, week_start)) for text in texts),
        key=lambda r: r.micros,
    )
    for finer, coarser in itertools.pairwise(found):
        if coarser.buckets == finer.buckets or coarser.micros == finer.micros:
            raise ConfigError(f"resolutions {finer.name} and {coarser.name} are the same length")
        if not finer.buckets.nests_in(coarser.buckets):
            raise ConfigError(
                f"resolutions must nest: {coarser.name} is not a whole multiple of {finer.name}"
            )
    return tuple(found)


@dataclass(frozen=True)
class Partials:
    """The state of a Reduce: one table of partials per resolution, finest first.

    Each table has ``timestamp`` (bucket start, ``timestamp[us, UTC]``), sorted, one row per
    bucket that holds at least one row, then ``<column>.<part>`` for each source column.
    The tables are plain Arrow: a cache can store and reload them as they are.
    """

    config: ReduceConfig
    tables: tuple[pa.Table, ...]

    @property
    def newest_bucket(self) -> int | None:
        """The start of the newest finest bucket (microseconds), None when empty."""
        finest = self.tables[0]
        if finest.num_rows == 0:
            return None
        return int(micros(finest)[-1])


@dataclass(frozen=True)
class Change:
    """A new input version: its event-time range as the oplog records it (``min_time`` and
    ``max_time``, both inclusive, microseconds since the epoch UTC) and, to count late
    rows exactly, optionally its times."""

    min_time: int
    max_time: int
    times: pa.Array | pa.ChunkedArray | None = field(default=None, compare=False)


ReadRange = Callable[[int, int], Tabular]
"""Reads every input row with ``start <= timestamp < end`` (microseconds, UTC)."""


@dataclass(frozen=True)
class UpdateResult:
    """What an incremental update produced: the new partials, the finest buckets it
    recomputed, and the late data it applied (rows and finest buckets older than the
    allowed lateness before the previous newest bucket)."""

    partials: Partials
    recomputed_buckets: int
    late_rows: int
    late_buckets: int


# ---------------------------------------------------------------------------- computing


def _is_numeric(type_: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(type_) or pa.types.is_floating(type_))


def _part_type(source: pa.DataType, part: str) -> pa.DataType:
    import pyarrow as pa

    if part == "count":
        return pa.int64()
    return pa.int64() if pa.types.is_integer(source) else pa.float64()


def _raw_partials(config: ReduceConfig, piece: pa.Table | pa.RecordBatch) -> pa.Table:
    """The finest partials of one piece of raw rows."""
    import pyarrow as pa

    buckets = config.finest.buckets.floor(micros(piece))
    # Columns go by position-based names, so no user name can clash with pyarrow's
    # ``<column>_<aggregation>`` result names.
    names = [TIME]
    arrays: list[pa.Array | pa.ChunkedArray] = [pa.array(buckets, type=pa.int64())]
    aggs: list[tuple[str, str]] = []
    out_names: list[str] = []
    out_types: list[pa.DataType] = []
    for field_ in piece.schema:
        if field_.name == TIME or not _is_numeric(field_.type):
            continue
        parts = config.parts_for(field_.name)
        if not parts:
            continue
        key = f"c{len(names)}"
        names.append(key)
        arrays.append(piece.column(field_.name))
        for part in parts:
            aggs.append((key, part))
            out_names.append(f"{field_.name}.{part}")
            out_types.append(_part_type(field_.type, part))
    table = pa.Table.from_arrays(arrays, names=names)
    # One thread: the order values are summed in is then fixed, so results repeat exactly.
    grouped = table.group_by(TIME, use_threads=False).aggregate(aggs)
    columns = [grouped.column(TIME).cast(pa.timestamp("us", tz="UTC"))]
    for (key, part), type_ in zip(aggs, out_types, strict=True):
        columns.append(grouped.column(f"{key}_{part}").cast(type_))
    return pa.Table.from_arrays(columns, names=[TIME, *out_names])


def _combine(parts: pa.Table, buckets: Buckets | None) -> pa.Table:
    """Partials with equal buckets combined (after re-bucketing to ``buckets`` if given),
    sorted by bucket, counts of absent columns 0."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if buckets is not None:
        parts = with_time(parts, buckets.floor(micros(parts)))
    names = [name for name in parts.schema.names if name != TIME]
    keys = [f"c{index}" for index in range(len(names))]
    aggs = [(key, _COMBINE[name.rsplit(".", 1)[1]]) for key, name in zip(keys, names, strict=True)]
    grouped = parts.rename_columns([TIME, *keys]).group_by(TIME, use_threads=False).aggregate(aggs)
    columns = [grouped.column(TIME)]
    for (key, combine), name in zip(aggs, names, strict=True):
        column = grouped.column(f"{key}_{combine}")
        if name.endswith(".count"):
            column = pc.fill_null(column, 0)
        columns.append(column.cast(parts.schema.field(name).type))
    table = pa.Table.from_arrays(columns, names=[TIME, *names])
    return table.sort_by(TIME)


def _empty_partials() -> pa.Table:
    import pyarrow as pa

    return pa.table({TIME: pa.array([], type=pa.timestamp("us", tz="UTC"))})


COALESCE_ROWS = 65_536
"""Raw rows gathered into one piece before its partials are computed: a series is read
version by version, and a station's versions hold a row or a few each, where a
group-by costs about 0.1 ms whatever its size."""


def _coalesced(data: Tabular) -> Iterator[pa.Table | pa.RecordBatch]:
    """The pieces of ``data``, consecutive ones with the same columns joined until they
    hold ``COALESCE_ROWS`` rows (memory holds one joined piece at a time)."""

    pending: list[pa.Table | pa.RecordBatch] = []
    rows = 0
    for piece in batches(data):
        if pending and (rows >= COALESCE_ROWS or not piece.schema.equals(pending[0].schema)):
            yield _joined(pending)
            pending, rows = [], 0
        pending.append(piece)
        rows += piece.num_rows
    if pending:
        yield _joined(pending)


def _joined(pieces: list[pa.Table | pa.RecordBatch]) -> pa.Table | pa.RecordBatch:
    import pyarrow as pa

    if len(pieces) == 1:
        return pieces[0]
    tables = [pa.Table.from_batches([p]) if isinstance(p, pa.RecordBatch) else p for p in pieces]
    return pa.concat_tables(tables)


def _finest_from_raw(config: ReduceConfig, data: Tabular) -> pa.Table:
    pieces = [_raw_partials(config, piece) for piece in _coalesced(data)]
    if not pieces:
        return _empty_partials()
    return _combine(_fill_counts(union(pieces)), None)


def _fill_counts(table: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    for index, name in enumerate(table.schema.names):
        if name.endswith(".count") and table.column(index).null_count:
            table = table.set_column(index, name, pc.fill_null(table.column(index), 0))
    return table


def reduce_full(config: ReduceConfig, data: Tabular) -> Partials:
    """Partials of every resolution from all raw rows of the input.

    ``data`` is a table, batches (streamed: memory holds one batch and the partials) or
    None; it needs a ``timestamp`` column.  Pieces may differ in columns (a column added
    half-way): absent values count as NULL.  Raises ``FormatError`` for a missing or
    non-timestamp time column.
    """
    tables = [_finest_from_raw(config, data)]
    for resolution in config.resolutions[1:]:
        tables.append(_combine(tables[-1], resolution.buckets))
    return Partials(config, tuple(tables))


def _touched(buckets: Buckets, changes: Sequence[Change]) -> Iterable[tuple[int, int]]:
    """The ``[start, end)`` of every finest bucket a change's rows fall in."""
    import numpy as np

    for change in changes:
        if change.times is not None and len(change.times):
            import pyarrow as pa

            starts = np.unique(buckets.floor(micros(pa.table({TIME: change.times}))))
        else:
            starts = buckets.floor(np.array([change.min_time, change.max_time], dtype=np.int64))
            if starts[0] != starts[1]:
                yield int(starts[0]), int(buckets.following(starts[1:])[0])
                continue
            starts = starts[:1]
        yield from zip(starts.tolist(), buckets.following(starts).tolist(), strict=True)


def _merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _inside(
    times: npt.NDArray[np.int64], intervals: list[tuple[int, int]]
) -> npt.NDArray[np.bool_]:
    import numpy as np

    if not intervals:
        return np.zeros(len(times), dtype=bool)
    # The intervals are sorted and disjoint: each time's candidate is the last one
    # starting at or before it.
    starts = np.array([start for start, _ in intervals], dtype=np.int64)
    ends = np.array([end for _, end in intervals], dtype=np.int64)
    index = np.searchsorted(starts, times, side="right") - 1
    found = index >= 0
    return np.asarray(found & (times < ends[np.maximum(index, 0)]), dtype=np.bool_)


def _replace_rows(old: pa.Table, intervals: list[tuple[int, int]], new: pa.Table) -> pa.Table:
    """``old`` with its rows in ``intervals`` replaced by ``new``, sorted by time."""
    import pyarrow as pa

    kept = old.filter(pa.array(~_inside(micros(old), intervals)))
    return _fill_counts(union([kept, new])).sort_by(TIME)


def _within(piece: pa.Table | pa.RecordBatch, start: int, end: int) -> pa.Table | pa.RecordBatch:
    import numpy as np
    import pyarrow as pa

    times = micros(piece)
    mask = (times >= start) & (times < end)
    return piece if bool(np.all(mask)) else piece.filter(pa.array(mask))


def reduce_update(
    previous: Partials | None,
    changes: Sequence[Change],
    read: ReadRange,
    config: ReduceConfig | None = None,
) -> UpdateResult:
    """Partials after new input versions, recomputing only the buckets they touch.

    For each change, the finest buckets holding its rows (``times``; without them, every
    bucket overlapping ``[min_time, max_time]``) are recomputed from every raw row in them (``read(start, end)`` is called once per merged interval of
    buckets; rows it returns outside the interval are ignored), then only the coarser
    buckets containing them are rebuilt from the finer partials.  The result equals
    ``reduce_full`` over all rows.  Late data (older than the previous newest finest bucket
    minus ``allowed_lateness``) is applied and counted.  ``config`` defaults to the
    previous partials' config; one of the two is required.
    """
    import numpy as np
    import pyarrow as pa

    if config is None:
        if previous is None:
            raise ConfigError("reduce_update needs previous partials or a config")
        config = previous.config
    elif previous is not None and previous.config != config:
        raise ConfigError("the Reduce config changed: recompute the partials in full")
    old = (
        previous.tables
        if previous is not None
        else tuple(_empty_partials() for _ in config.resolutions)
    )
    if not changes:
        return UpdateResult(Partials(config, old), 0, 0, 0)

    intervals = _merge_intervals(_touched(config.finest.buckets, changes))
    fresh: list[pa.Table] = []
    for start, end in intervals:
        rows = [_within(piece, start, end) for piece in batches(read(start, end))]
        fresh.append(_finest_from_raw(config, rows))
    finest = _replace_rows(old[0], intervals, union(fresh))
    tables = [finest]
    for level, resolution in enumerate(config.resolutions[1:], start=1):
        coarse = resolution.buckets
        starts = np.array([start for start, _ in intervals], dtype=np.int64)
        lasts = np.array([end - 1 for _, end in intervals], dtype=np.int64)
        intervals = _merge_intervals(
            zip(
                coarse.floor(starts).tolist(),
                coarse.following(coarse.floor(lasts)).tolist(),
                strict=True,
            )
        )
        finer = tables[-1]
        touched = finer.filter(pa.array(_inside(micros(finer), intervals)))
        tables.append(_replace_rows(old[level], intervals, _combine(touched, coarse)))

    late_rows = late_buckets = 0
    newest = previous.newest_bucket if previous is not None else None
    recomputed = micros(union(fresh))
    if newest is not None:
        threshold = newest - config.allowed_lateness
        late_buckets = int(np.count_nonzero(recomputed < threshold))
        for change in changes:
            if change.times is not None:
                late_rows += _count_before(change.times, threshold)
    return UpdateResult(Partials(config, tuple(tables)), len(recomputed), late_rows, late_buckets)


def _count_before(times: pa.Array | pa.ChunkedArray, threshold: int) -> int:
    import pyarrow as pa

    probe = pa.table({TIME: times})
    return int((micros(probe) < threshold).sum())


# ---------------------------------------------------------------------------- outputs


def outputs(partials: Partials) -> dict[str, pa.Table]:
    """Each resolution's output table by file name (``res=1h.series``): ``timestamp`` (the
    bucket start) and ``<column>.<agg>`` for each source column and aggregation (``avg``
    float64, NULL where the bucket has no value; ``count`` int64; ``sum``, ``min``, ``max``
    int64 for integer columns, float64 otherwise)."""
    return {
        resolution.output: output_table(partials.config, table)
        for resolution, table in zip(partials.config.resolutions, partials.tables, strict=True)
    }


def output_table(config: ReduceConfig, table: pa.Table) -> pa.Table:
    """One resolution's output from its partials (see ``outputs``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sources: list[str] = []
    for name in table.schema.names:
        if name != TIME:
            source = name.rsplit(".", 1)[0]
            if source not in sources:
                sources.append(source)
    names = [TIME]
    columns: list[pa.ChunkedArray | pa.Array] = [table.column(TIME)]
    for source in sources:
        for agg in config.outputs_for(source):
            if agg == "avg":
                total = table.column(f"{source}.sum").cast(pa.float64())
                count = table.column(f"{source}.count")
                column = pc.if_else(
                    pc.greater(count, 0), pc.divide(total, count.cast(pa.float64())), None
                )
            else:
                column = table.column(f"{source}.{agg}")
            names.append(f"{source}.{agg}")
            columns.append(column)
    return pa.Table.from_arrays(columns, names=names)


__all__ = [
    "AGG_TYPES",
    "Aggregation",
    "Change",
    "Partials",
    "ReadRange",
    "ReduceConfig",
    "Resolution",
    "UpdateResult",
    "output_table",
    "outputs",
    "parse_resolutions",
    "reduce_full",
    "reduce_update",
]
