"""Where query rows come from: pond nodes and host files, as a list of parts.

A *part* is one Parquet file on disk (handed to the engine by path, so a
large series version is never copied through Python) or one Arrow table in
memory (inline versions, CSV, JSON lines).  With a time range, series
versions whose recorded [min_event_time, max_event_time] misses it are not
read at all.

A series reads in event-time order, and where versions overlap in time a
newer version's rows replace an older version's rows at the same times (as
a time-series database treats points), so importing an overlapping export
again changes nothing.  The recorded ranges say which versions overlap:
versions that overlap no other are plain parts, ordered by their first
time, and cost nothing extra; only a group of overlapping versions is read
into memory and merged.  ``all_versions`` reads every stored row instead, in
the order stored.
"""

from __future__ import annotations

import errno
import glob as host_glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigError, FormatError, SymlinkLoopError, flatten
from ..tinyfs import WD, NodePath, Persistence, TableOutput, VersionInfo
from ..tinyfs.glob import has_wildcard
from ..tinyfs.persistence import FILE_TYPES
from .canonical import find_timestamp_column
from .parquet import is_parquet

if TYPE_CHECKING:
    import pyarrow as pa

TimeBound = int | datetime | None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Rows per batch when a Parquet file is streamed without the engine: small enough that a
# 10M-row series streams in a few MB, large enough to keep per-batch overhead negligible.
SCAN_BATCH_ROWS = 65_536


@runtime_checkable
class BlobLocator(Protocol):
    """A persistence that keeps large versions as files on the local disk (tlogfs does)."""

    def local_path(self, node_id: str, version: int) -> Path | None: ...


def to_micros(value: int | datetime) -> int:
    """Microseconds since the epoch, UTC; a naive datetime is taken to be UTC."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class TimeRange:
    """Event times ``start <= t < end`` in microseconds; None is unbounded."""

    start: int | None = None
    end: int | None = None

    @classmethod
    def of(cls, start: TimeBound = None, end: TimeBound = None) -> TimeRange:
        low = None if start is None else to_micros(start)
        high = None if end is None else to_micros(end)
        if low is not None and high is not None and low >= high:
            raise ConfigError("--start must be before --end (start is inclusive, end exclusive)")
        return cls(low, high)

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    def overlaps(self, low: int | None, high: int | None) -> bool:
        """Whether [low, high] may hold a row in range; an unknown span always may."""
        if low is None or high is None:
            return True
        if self.start is not None and high < self.start:
            return False
        return not (self.end is not None and low >= self.end)

    def bounds_for(self, typ: pa.DataType) -> tuple[Any, Any]:
        """The range as scalars of a timestamp column's own type, rounded so that the
        comparisons ``>= start`` and ``< end`` keep their meaning in coarser units."""
        import pyarrow as pa

        per_unit = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}[typ.unit]
        scale = 1_000 if typ.unit == "ns" else 1

        def convert(us: int | None) -> Any:
            if us is None:
                return None
            value = -(-us // per_unit) * scale  # ceiling division
            return pa.scalar(value, type=typ)

        return convert(self.start), convert(self.end)


@dataclass(frozen=True)
class Part:
    """One Parquet file on disk, or one table in memory (already cut to the time range)."""

    label: str
    path: Path | None = None
    table: pa.Table | None = None
    timestamp_column: str | None = None
    # A series version stored before versions were kept sorted: a plain read sorts it.
    needs_sort: bool = False

    def schema(self) -> pa.Schema:
        import pyarrow.parquet as pq

        if self.table is not None:
            return self.table.schema
        assert self.path is not None
        return pq.read_schema(self.path)


def filter_table(table: pa.Table, column: str | None, time_range: TimeRange) -> pa.Table:
    """Rows of ``table`` whose ``column`` lies in the range."""
    mask = _range_mask(table, column, time_range)
    return table if mask is None else table.filter(mask)


def _range_mask(
    data: pa.Table | pa.RecordBatch, column: str | None, time_range: TimeRange
) -> Any | None:
    import pyarrow.compute as pc

    if not time_range.bounded or column is None:
        return None
    values = data.column(column)
    low, high = time_range.bounds_for(values.type)
    mask = None
    if low is not None:
        mask = pc.greater_equal(values, low)
    if high is not None:
        below = pc.less(values, high)
        mask = below if mask is None else pc.and_(mask, below)
    return mask


def require_timestamp(label: str, column: str | None, time_range: TimeRange) -> None:
    if time_range.bounded and column is None:
        raise ConfigError(f"--start/--end need a timestamp column, and {label} has none")


@dataclass
class PondReader:
    """Reads pond nodes as parts; records every version it loads (tests check pruning)."""

    wd: WD
    persistence: Persistence
    versions_read: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def of(cls, wd: WD, persistence: Persistence | None = None) -> PondReader:
        return cls(wd, persistence if persistence is not None else wd.fs.persistence)

    def match(self, pattern: str, *, literal: bool = False) -> list[NodePath]:
        """The files a path or glob names; a glob must match at least one file.

        An existing path is taken literally even when it has glob characters
        (``/export[1].csv``), and ``literal`` never globs (a path a glob matched).
        """
        if not literal and has_wildcard(pattern):
            try:
                self.wd.get(pattern)
                literal = True
            except (FileNotFoundError, NotADirectoryError, SymlinkLoopError, ValueError):
                pass
        if literal or not has_wildcard(pattern):
            np = self.wd.get(pattern)
            if np.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", np.path)
            return [np]
        files = []
        for m in self.wd.glob(pattern):
            np = m.node_path
            if np.is_symlink():
                # A glob reports a link itself; what it reads through is its target.
                try:
                    np = NodePath(self.wd.get(np.path).node, np.path)
                except (FileNotFoundError, NotADirectoryError, SymlinkLoopError):
                    continue
            if np.is_file():
                files.append(np)
        if not files:
            raise FileNotFoundError(errno.ENOENT, "no file matches", pattern)
        return files

    def _local(self, np: NodePath, version: int) -> Path | None:
        # Dynamic nodes have no stored content to point at: their bytes are computed.
        if np.node_type in FILE_TYPES and self._locator is not None:
            return self._locator.local_path(np.node_id, version)
        return None

    @cached_property
    def _locator(self) -> BlobLocator | None:
        # A runtime Protocol check walks the class each time: once per reader, not per version.
        return self.persistence if isinstance(self.persistence, BlobLocator) else None

    def version_part(
        self,
        np: NodePath,
        info: VersionInfo,
        time_range: TimeRange,
        column: str | None,
        *,
        latest: bool = False,
        series: bool = True,
    ) -> Part:
        """One stored version as a part: by path when its bytes are a file on disk."""
        label = f"{np.path}@v{info.version}"
        self.versions_read.append((np.path, info.version))
        path = self._local(np, info.version)
        unsorted = series and info.attributes.get("sorted") is not True
        if path is not None:
            return Part(label, path=Path(path), timestamp_column=column, needs_sort=unsorted)
        data = np.read_bytes(None if latest else info.version)
        table = read_parquet_bytes(data, label)
        column = column or find_timestamp_column(table.schema)
        table = filter_table(table, column, time_range)
        return Part(label, table=table, timestamp_column=column, needs_sort=unsorted)

    def dynamic_part(self, np: NodePath, time_range: TimeRange) -> Part:
        """A dynamic file's table output as one part, read through the output protocol.

        An output whose declared event range misses ``time_range`` is not
        computed beyond its schema.  The batches are gathered into one
        in-memory table: the engine registers parts as tables or files.
        """
        import pyarrow as pa

        out = np.output()
        if not isinstance(out, TableOutput):
            raise FormatError(f"{np.path} is computed as bytes, not a table")
        self.versions_read.append((np.path, np.info().version))
        schema = out.schema()
        column = find_timestamp_column(schema)
        require_timestamp(np.path, column, time_range)
        span = out.event_range()
        if time_range.bounded and span is not None and not time_range.overlaps(*span):
            return Part(np.path, table=schema.empty_table(), timestamp_column=column)
        table = pa.Table.from_batches(list(out.batches()), schema=schema)
        return Part(np.path, table=filter_table(table, column, time_range), timestamp_column=column)

    def series_parts(
        self, np: NodePath, time_range: TimeRange, *, all_versions: bool = False
    ) -> list[Part]:
        """A series' versions as parts, skipping those outside the time range.

        By default in event-time order, overlapping versions merged (newest rows win
        at equal times); with ``all_versions``, every version as stored, oldest first.
        """
        if np.is_dynamic():
            return [self.dynamic_part(np, time_range)]
        versions = np.node.versions()
        column = _stored_timestamp_column(versions)
        if column is None and (time_range.bounded or not all_versions):
            # Old versions may predate the attribute; the schema still says.
            column = find_timestamp_column(self._schema_of(np, versions[-1]))
        require_timestamp(np.path, column, time_range)
        chosen = [
            info
            for info in versions
            if not time_range.bounded
            or time_range.overlaps(info.min_event_time, info.max_event_time)
        ]
        if all_versions or column is None:
            parts = [self.version_part(np, info, time_range, column) for info in chosen]
        else:
            parts = []
            for group in overlap_groups(chosen):
                if len(group) == 1:
                    parts.append(self.version_part(np, group[0], time_range, column))
                else:
                    parts.append(self.merged_part(np, group, time_range, column))
        if not parts:
            # Nothing in range still has columns: a query over it must plan, and return no rows.
            empty = self._schema_of(np, versions[-1]).empty_table()
            parts = [Part(f"{np.path} (no version in range)", table=empty, timestamp_column=column)]
        return parts

    def merged_part(
        self, np: NodePath, group: Sequence[VersionInfo], time_range: TimeRange, column: str
    ) -> Part:
        """Overlapping versions as one table in event-time order, where at each time only
        the newest version that has rows there is kept."""
        import pyarrow as pa

        tables = []
        for info in group:
            part = self.version_part(np, info, time_range, column)
            table = part.table if part.table is not None else _read_part_file(part, time_range)
            rank = pa.array([info.version] * table.num_rows, pa.int64())
            tables.append(table.append_column(_VERSION_COLUMN, rank))
        try:
            merged = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            message = flatten(str(exc))
            raise FormatError(
                f"{np.path}: versions do not share compatible columns: {message}"
            ) from None
        label = f"{np.path}@v{group[0].version}..v{group[-1].version} (merged)"
        return Part(label, table=newest_rows(merged, column), timestamp_column=column)

    def table_part(self, np: NodePath, time_range: TimeRange) -> Part:
        if np.is_dynamic():
            return self.dynamic_part(np, time_range)
        info = np.info()
        column = _stored_timestamp_column([info])
        part = self.version_part(np, info, time_range, column, latest=True, series=False)
        if part.timestamp_column is None and part.path is not None:
            part = Part(part.label, part.path, None, find_timestamp_column(part.schema()))
        require_timestamp(np.path, part.timestamp_column, time_range)
        return part

    def latest_bytes(self, np: NodePath) -> bytes:
        self.versions_read.append((np.path, np.info().version))
        return np.read_bytes()

    def _schema_of(self, np: NodePath, info: VersionInfo) -> pa.Schema:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self._local(np, info.version)
        if path is not None:
            return pq.read_schema(path)
        return pq.read_schema(pa.BufferReader(np.read_bytes(info.version)))


_VERSION_COLUMN = "__duckpond_version"


def overlap_groups(versions: Sequence[VersionInfo]) -> list[list[VersionInfo]]:
    """Versions in event-time order, grouped where their [min, max] ranges overlap.

    Ranges that touch (one's max is another's min) overlap: both may hold that time.
    A version without a range (no rows, or written before ranges were kept) stays
    alone, first, in version order.  Within a group, versions keep version order.
    """
    unknown = [[v] for v in versions if v.min_event_time is None or v.max_event_time is None]
    known = sorted(
        (v for v in versions if v.min_event_time is not None and v.max_event_time is not None),
        key=lambda v: (v.min_event_time, v.version),
    )
    groups: list[list[VersionInfo]] = []
    end: int | None = None
    for info in known:
        assert info.min_event_time is not None and info.max_event_time is not None
        if groups and end is not None and info.min_event_time <= end:
            groups[-1].append(info)
            end = max(end, info.max_event_time)
        else:
            groups.append([info])
            end = info.max_event_time
    for group in groups:
        group.sort(key=lambda v: v.version)
    return unknown + groups


def newest_rows(table: pa.Table, column: str) -> pa.Table:
    """``table`` (with a version column) sorted by ``column``, keeping at each time only the
    rows of the newest version that has that time; the version column is dropped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table.drop_columns([_VERSION_COLUMN])
    # Stable: rows of one version at one time keep their stored order.
    order = pc.sort_indices(table, [(column, "ascending"), (_VERSION_COLUMN, "descending")])
    table = table.take(order)
    times = table.column(column)
    versions = table.column(_VERSION_COLUMN)
    n = table.num_rows
    # A run of equal times starts where the time changes; its first row has the newest
    # version, and a row is kept when its version is that one.  A null time is a run alone.
    changed = pc.fill_null(pc.not_equal(times.slice(1), times.slice(0, n - 1)), True)
    starts = pa.concat_arrays([pa.array([True]), *changed.chunks]) if n > 1 else pa.array([True])
    run = pc.subtract(pc.cumulative_sum(starts.cast(pa.int64())), 1)
    newest = pc.take(pc.filter(versions, starts), run)
    keep = pc.equal(versions, newest)
    return table.filter(keep).drop_columns([_VERSION_COLUMN])


def _read_part_file(part: Part, time_range: TimeRange) -> pa.Table:
    import pyarrow.parquet as pq

    assert part.path is not None
    table = pq.read_table(part.path)
    return filter_table(table, part.timestamp_column, time_range)


def _stored_timestamp_column(versions: Sequence[VersionInfo]) -> str | None:
    for info in reversed(versions):
        column = info.attributes.get("timestamp_column")
        if isinstance(column, str) and column:
            return column
    return None


def read_parquet_bytes(data: bytes, label: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not is_parquet(data):
        raise FormatError(f"{label} is not Parquet")
    try:
        # Inline versions are small: ParquetFile without threads is several times faster
        # than read_table's dataset machinery, which matters for a series of many versions.
        return pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"{label} is not readable Parquet: {flatten(str(exc))}") from None


def check_parquet_file(path: Path) -> None:
    """Refuse a host file that is not Parquet before the engine fails on it less clearly."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(size - 4, 0))
        tail = f.read(4)
    if size < 8 or head != b"PAR1" or tail != b"PAR1":
        raise FormatError(f"{path} is not Parquet (no PAR1 magic bytes)")


def host_paths(pattern: str) -> list[Path]:
    """Host files named by a path or glob (``**`` allowed), sorted; at least one must exist.
    An existing file is taken literally even when its name has glob characters."""
    if has_wildcard(pattern) and not Path(pattern).exists():
        found = sorted(Path(p) for p in host_glob.glob(pattern, recursive=True))
        files = [p for p in found if p.is_file()]
        if not files:
            raise FileNotFoundError(errno.ENOENT, "no file matches", pattern)
        return files
    path = Path(pattern)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", pattern)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such file", pattern)
    return [path]


# -- reading parts without an engine, in order ------------------------------------------------


def unified_schema(parts: Sequence[Part]) -> pa.Schema:
    """Every column of every part, by name, first appearance first; types widened to agree."""
    import pyarrow as pa

    if not parts:
        return pa.schema([])
    try:
        return pa.unify_schemas([p.schema() for p in parts], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        message = flatten(str(exc))
        raise FormatError(f"the parts do not share compatible columns: {message}") from None


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch with exactly ``schema``'s columns: missing ones are NULL, others cast."""
    import pyarrow as pa

    columns = []
    for f in schema:
        index = batch.schema.get_field_index(f.name)
        if index < 0:
            columns.append(pa.nulls(batch.num_rows, f.type))
        else:
            column = batch.column(index)
            columns.append(column if column.type == f.type else column.cast(f.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def scan_parts(parts: Sequence[Part], time_range: TimeRange) -> Iterator[pa.RecordBatch]:
    """The rows of the parts in order, conformed to one schema, cut to the time range.

    This is ``SELECT *`` without an engine: an engine may interleave parts, and a
    plain read of a series must come out in version order.
    """
    schema = unified_schema(parts)
    for part in parts:
        if part.needs_sort and part.timestamp_column is not None:
            # Stored before versions were kept sorted: ordered here, in memory.
            part = _sorted_part(part, time_range)
        for batch in _part_batches(part, time_range):
            mask = _range_mask(batch, part.timestamp_column, time_range) if part.path else None
            if mask is not None:
                batch = batch.filter(mask)
            if batch.num_rows:
                yield conform(batch, schema)


def _sorted_part(part: Part, time_range: TimeRange) -> Part:
    import pyarrow.compute as pc

    assert part.timestamp_column is not None
    table = part.table if part.table is not None else _read_part_file(part, time_range)
    order = pc.sort_indices(table, [(part.timestamp_column, "ascending")])
    return Part(part.label, table=table.take(order), timestamp_column=part.timestamp_column)


def _part_batches(part: Part, time_range: TimeRange) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    if part.table is not None:
        yield from part.table.to_batches(max_chunksize=SCAN_BATCH_ROWS)
        return
    assert part.path is not None
    pf = pq.ParquetFile(part.path)
    groups = _row_groups(pf, part.timestamp_column, time_range)
    if groups:
        yield from pf.iter_batches(batch_size=SCAN_BATCH_ROWS, row_groups=groups)


def _row_groups(pf: Any, column: str | None, time_range: TimeRange) -> list[int]:
    """Row groups whose timestamp statistics may hold rows in range (all without stats)."""
    meta = pf.metadata
    every = list(range(meta.num_row_groups))
    if column is None or not time_range.bounded:
        return every
    index = pf.schema_arrow.get_field_index(column)
    keep = []
    for i in every:
        stats = meta.row_group(i).column(index).statistics
        low = _stat_micros(stats, "min")
        high = _stat_micros(stats, "max")
        if low is None or high is None or time_range.overlaps(low, high):
            keep.append(i)
    return keep


def _stat_micros(stats: Any, which: str) -> int | None:
    """A timestamp statistic in microseconds, or None when there is none to trust."""
    if stats is None or not stats.has_min_max:
        return None
    # pyarrow gives datetimes here (pandas Timestamps for nanoseconds, also datetimes);
    # truncating nanoseconds only ever keeps a row group that could have been skipped.
    value = getattr(stats, which)
    return to_micros(value) if isinstance(value, datetime) else None
