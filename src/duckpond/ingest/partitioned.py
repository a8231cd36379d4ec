"""``pond export``: tables and series as Hive-partitioned files, with a manifest.

Each exported output (a table or series of the pond, stored or computed) becomes
a folder named by its pond path under the export directory::

    OUT/manifest.json
    OUT/data/a.series/year=2025/month=06/data.parquet     (--partition month)
    OUT/data/a.series/year=2025/data.parquet              (--partition year)
    OUT/data/lookup/data.parquet                          (a table without a time column)

Partitions are periods of event time in UTC: a row belongs to the partition whose
[start, end) holds its time.  Rows are read through the reader the caller gives
(``Pond.cat``), so a derived series exports as a stored one does.  A stored table or
series is read one partition at a time, with that time range, so it is never held
in memory whole; which periods can hold rows comes from the event-time ranges the
pond records per version, and a period read empty gets no file.  A computed output
is read once (the query layer gathers it whole on any read), put in time order and
cut into partitions, rather than computed again for each.

A file's bytes depend on its rows alone: Parquet row groups (and CSV chunks) hold
``ROW_GROUP_ROWS`` rows whatever batches the rows arrived in, so the same rows stored
in other versions, or a computed output read back from the cache, hash the same.

The manifest (``manifest.json``, ``MANIFEST_VERSION``) lists every file written:
its pond path, partition, the period's [start, end) and the first and last event
times of its rows (ISO 8601, UTC), rows, sha256 and bytes; and every output's
schema, rows and time range.  It is what makes a re-export incremental: each
partition is computed into a temporary file beside its destination and renamed
into place only if its sha256 differs from the manifest's (or the file is missing
or has another size); otherwise the temporary file is dropped and the existing
file is left untouched (same inode, same mtime).  Files the previous manifest
listed that this export does not produce are removed, so the directory mirrors
what the last export selected; files the manifest never listed are never touched.
Every file and the manifest are written atomically (temporary name + rename); a
temporary file left by an export that died is removed by the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, FormatError
from ..tinyfs import FILE_SERIES, NodePath, TableOutput

if TYPE_CHECKING:
    import pyarrow as pa

PARTITIONS = ("year", "month")
FORMATS = ("parquet", "csv")
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_TEMP_MARK = ".pond-tmp-"
ROW_GROUP_ROWS = 131_072
"""Rows per Parquet row group (and per CSV chunk) of an exported file."""

Reader = Callable[[str, "datetime | None", "datetime | None"], "pa.RecordBatchReader"]
"""Rows of one pond path with event times in [start, end) (None: unbounded), streamed."""


@dataclass(frozen=True)
class Period:
    """One partition: event times ``start <= t < end`` (microseconds, UTC) and its key."""

    key: tuple[tuple[str, int], ...]
    start: int
    end: int

    @property
    def dirname(self) -> str:
        """``year=2025/month=06``: the Hive folder names."""
        return "/".join(f"{name}={value:02d}" for name, value in self.key)

    def clipped(self, low: int | None, high: int | None) -> Period:
        start = self.start if low is None else max(self.start, low)
        end = self.end if high is None else min(self.end, high)
        return Period(self.key, start, end)


@dataclass
class ExportResult:
    """What an export did; file names are relative to the export directory, POSIX style."""

    out_dir: Path
    outputs: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rows: int = 0

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST

    def to_json(self) -> dict[str, Any]:
        return {
            "dir": str(self.out_dir),
            "manifest": str(self.manifest),
            "outputs": self.outputs,
            "written": self.written,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "rows": self.rows,
        }

    def summary(self) -> str:
        return (
            f"exported {len(self.outputs)} output(s), {self.rows} rows to {self.out_dir}: "
            f"{len(self.written)} file(s) written, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed"
        )


# -- periods --------------------------------------------------------------------------------


def _micros(value: datetime) -> int:
    from ..timeparse import to_micros

    return to_micros(value)


def _when(us: int) -> datetime:
    from ..timeparse import from_micros

    return from_micros(us)


def _iso(us: int) -> str:
    from ..timeparse import iso

    text = iso(_when(us))
    assert text is not None
    return text


def period_of(us: int, partition: str) -> Period:
    """The partition (``year`` or ``month``, UTC) that holds event time ``us``."""
    when = _when(us)
    if partition == "year":
        start = datetime(when.year, 1, 1, tzinfo=UTC)
        end = datetime(when.year + 1, 1, 1, tzinfo=UTC)
        return Period((("year", when.year),), _micros(start), _micros(end))
    start = datetime(when.year, when.month, 1, tzinfo=UTC)
    after = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    end = datetime(*after, 1, tzinfo=UTC)
    return Period((("year", when.year), ("month", when.month)), _micros(start), _micros(end))


def periods_over(spans: Sequence[tuple[int, int]], partition: str) -> list[Period]:
    """Every partition that meets one of the inclusive [low, high] spans, in time order."""
    found: dict[int, Period] = {}
    for low, high in spans:
        period = period_of(low, partition)
        while True:
            found.setdefault(period.start, period)
            if period.end > high:
                break
            period = period_of(period.end, partition)
    return [found[k] for k in sorted(found)]


# -- what an output is -----------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSource:
    """One output to export: its node, its time column and the spans its rows may cover.

    ``spans`` None means the ranges are unknown and the rows must be scanned once.
    """

    np: NodePath
    time_column: str | None
    spans: list[tuple[int, int]] | None


def export_source(np: NodePath) -> ExportSource:
    from ..query.canonical import find_timestamp_column
    from .versions import version_schema

    if np.is_dynamic():
        out = np.output()
        if not isinstance(out, TableOutput):
            raise FormatError(f"{np.path} is computed as bytes, not a table")
        column = find_timestamp_column(out.schema())
        span = out.event_range()
        # A computed output may know its range only once read: then a scan finds it.
        return ExportSource(np, column, [span] if span is not None else None)
    versions = np.node.versions()
    # A series is all its versions; a table is its latest one.
    current = versions if np.node_type == FILE_SERIES else versions[-1:]
    stored = current[-1].attributes.get("timestamp_column")
    column = stored if isinstance(stored, str) else None
    if column is None:
        column = find_timestamp_column(version_schema(np, current[-1].version))
    if column is None:
        return ExportSource(np, None, None)
    spans = [
        (v.min_event_time, v.max_event_time)
        for v in current
        if v.min_event_time is not None and v.max_event_time is not None
    ]
    if len(spans) < len(current) and any(v.size for v in current):
        # A version written before ranges were recorded: its rows say.
        return ExportSource(np, column, None)
    return ExportSource(np, column, spans)


def _scan_span(read: Reader, path: str, column: str) -> list[tuple[int, int]]:
    from ..query.canonical import event_range

    low: int | None = None
    high: int | None = None
    for batch in read(path, None, None):
        span = event_range(batch, column) if batch.num_rows else None
        if span is not None:
            low = span[0] if low is None else min(low, span[0])
            high = span[1] if high is None else max(high, span[1])
    return [] if low is None or high is None else [(low, high)]


# -- the manifest ----------------------------------------------------------------------------


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of a previous export into ``out_dir``, or None if there is none.

    Raises ``FormatError`` for a ``manifest.json`` that is not a pond export's.
    """
    path = out_dir / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError:
        manifest = None
    if (
        not isinstance(manifest, dict)
        or manifest.get("manifest_version") != MANIFEST_VERSION
        or not isinstance(manifest.get("files"), list)
    ):
        raise FormatError(
            f"{path} is not a pond export manifest; export into another directory"
        ) from None
    return manifest


def _atomic_write(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}{_TEMP_MARK}{os.getpid()}")
    try:
        with temp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# -- writing one partition --------------------------------------------------------------------


@dataclass
class _Written:
    rows: int
    low: int | None
    high: int | None
    schema: pa.Schema | None


def _watch(
    reader: pa.RecordBatchReader, column: str | None, seen: _Written
) -> Iterator[pa.RecordBatch]:
    """``reader``'s batches, noting the event-time span of ``column`` in ``seen``."""
    from ..query.canonical import event_range

    for batch in reader:
        if column is not None and batch.num_rows:
            span = event_range(batch, column)
            if span is not None:
                seen.low = span[0] if seen.low is None else min(seen.low, span[0])
                seen.high = span[1] if seen.high is None else max(seen.high, span[1])
        yield batch


def _fixed_chunks(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` again, in batches of exactly ``rows`` rows (the last may be short)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0

    def combined() -> pa.RecordBatch:
        return pending[0] if len(pending) == 1 else pa.concat_batches(pending)

    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield combined()
                pending, count = [], 0
    if count:
        yield combined()


def _write_rows(reader: pa.RecordBatchReader, column: str | None, fmt: str, temp: Path) -> _Written:
    """Stream ``reader`` into ``temp`` as ``fmt``; rows, event-time span and schema written."""
    import pyarrow as pa

    from ..query import output
    from ..query.canonical import plain_schema

    seen = _Written(0, None, None, plain_schema(reader.schema))
    # Same rows, same bytes: row groups (and CSV quoting, decided per batch) follow fixed
    # row counts, never the batches the rows happened to arrive in (a computed output
    # read from the cache comes in other batches than when it was computed).
    batches = _fixed_chunks(_watch(reader, column, seen), ROW_GROUP_ROWS)
    stream = pa.RecordBatchReader.from_batches(reader.schema, batches)
    with temp.open("wb") as fh:
        seen.rows = output.write(stream, fmt, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return seen


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Layout:
    """The manifest being built: file records and their event-time spans.

    ``partition`` consumes one partition's rows; this base class only counts them
    (``plan_export``), ``_Exporter`` also writes them.
    """

    def __init__(self, out_dir: Path, fmt: str) -> None:
        self.out_dir = out_dir
        self.fmt = fmt
        self.files: list[dict[str, Any]] = []
        # Each file's event-time span in microseconds, beside ``files`` (ISO text sorts badly).
        self.spans: list[tuple[int | None, int | None]] = []
        self.result = ExportResult(out_dir)

    def partition(
        self,
        src: ExportSource,
        reader: pa.RecordBatchReader,
        rel_dir: PurePosixPath,
        period: Period | None,
    ) -> pa.Schema | None:
        """Count one partition; its schema (None if it has no rows)."""
        from ..query.canonical import plain_schema

        rel = rel_dir / f"data.{self.fmt}"
        done = _Written(0, None, None, plain_schema(reader.schema))
        for batch in _watch(reader, src.time_column, done):
            done.rows += batch.num_rows
        if done.rows == 0:
            return None
        self._record(src, rel, period, done, {})
        return done.schema

    def _record(
        self,
        src: ExportSource,
        rel: PurePosixPath,
        period: Period | None,
        done: _Written,
        extra: dict[str, Any],
    ) -> None:
        self.result.rows += done.rows
        self.spans.append((done.low, done.high))
        self.files.append(
            {
                "file": str(rel),
                "path": src.np.path,
                "partition": dict(period.key) if period is not None else {},
                "start": _iso(period.start) if period is not None else None,
                "end": _iso(period.end) if period is not None else None,
                "min_event_time": _iso(done.low) if done.low is not None else None,
                "max_event_time": _iso(done.high) if done.high is not None else None,
                "rows": done.rows,
                **extra,
            }
        )


class _Exporter(_Layout):
    """One export run: the previous manifest, what is being produced, and the counts."""

    def __init__(self, out_dir: Path, fmt: str, previous: dict[str, Any] | None) -> None:
        super().__init__(out_dir, fmt)
        self.before: dict[str, dict[str, Any]] = {
            f["file"]: f
            for f in (previous or {}).get("files", [])
            if isinstance(f, dict) and isinstance(f.get("file"), str)
        }

    def partition(
        self,
        src: ExportSource,
        reader: pa.RecordBatchReader,
        rel_dir: PurePosixPath,
        period: Period | None,
    ) -> pa.Schema | None:
        """Write one partition if its content changed; its schema (None if it has no rows)."""
        rel = rel_dir / f"data.{self.fmt}"
        target = self.out_dir.joinpath(*rel.parts)
        made = _make_dirs(target.parent)
        _drop_orphans(target)
        temp = target.with_name(f".{target.name}{_TEMP_MARK}{os.getpid()}")
        try:
            done = _write_rows(reader, src.time_column, self.fmt, temp)
            if done.rows == 0:
                temp.unlink()
                for directory in reversed(made):
                    _rmdir_if_empty(directory)
                return None
            digest = _sha256(temp)
            size = temp.stat().st_size
            old = self.before.get(str(rel))
            same = (
                old is not None
                and old.get("sha256") == digest
                and target.is_file()
                and target.stat().st_size == size
            )
            if same:
                temp.unlink()
                self.result.unchanged.append(str(rel))
            else:
                os.replace(temp, target)
                self.result.written.append(str(rel))
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self._record(src, rel, period, done, {"sha256": digest, "bytes": size})
        return done.schema

    def remove_stale(self) -> None:
        """Delete the files the previous manifest listed that this export did not produce."""
        produced = {f["file"] for f in self.files}
        for rel in sorted(set(self.before) - produced):
            parts = PurePosixPath(rel).parts
            if not parts or ".." in parts or PurePosixPath(rel).is_absolute():
                continue  # never outside the export directory, whatever the manifest says
            target = self.out_dir.joinpath(*parts)
            target.unlink(missing_ok=True)
            self.result.removed.append(rel)
            parent = target.parent
            while parent != self.out_dir and self.out_dir in parent.parents:
                if not _rmdir_if_empty(parent):
                    break
                parent = parent.parent


def _drop_orphans(target: Path) -> None:
    """Remove temporary files for ``target`` left by an export that died before its rename."""
    for temp in target.parent.glob(f".{target.name}{_TEMP_MARK}*"):
        pid = temp.name.rsplit(_TEMP_MARK, 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            temp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; the ones created, outermost first."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    missing.reverse()
    for directory in missing:
        directory.mkdir()
    return missing


def _rmdir_if_empty(directory: Path) -> bool:
    # Something another program put there meanwhile keeps the directory.
    try:
        directory.rmdir()
    except OSError:
        return False
    return True


def _relative_dir(pond_path: str) -> PurePosixPath:
    parts = [p for p in pond_path.split("/") if p]
    if not parts:
        raise ConfigError("the pond root is a directory, not a table or series")
    if parts[0] == MANIFEST:
        raise ConfigError(f"{pond_path} would overwrite the export's {MANIFEST}")
    return PurePosixPath(*parts)


# -- the export --------------------------------------------------------------------------------


def export_partitioned(
    nodes: Sequence[NodePath],
    out_dir: Path,
    read: Reader,
    *,
    partition: str = "month",
    format: str = "parquet",
    start: datetime | None = None,
    end: datetime | None = None,
) -> ExportResult:
    """Export ``nodes`` (tables and series) under ``out_dir``; see the module docstring.

    ``read(path, start, end)`` gives a node's rows with event times in [start, end)
    (both aware datetimes or None): ``Pond.cat``.  ``partition`` is ``year`` or
    ``month`` (UTC); ``format`` is ``parquet`` or ``csv``; ``start`` (inclusive) and
    ``end`` (exclusive) limit the rows of timed outputs (a table without a time column
    is exported whole).  Raises ``ConfigError`` for a bad option and ``FormatError`` for a
    ``manifest.json`` in ``out_dir`` that is not a pond export's.
    """
    _check_options(partition, format)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(20, "not a directory", str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = _Exporter(out_dir, format, read_manifest(out_dir))
    manifest = _build(exporter, nodes, read, partition, start, end)
    text = (json.dumps(manifest, indent=2) + "\n").encode()
    path = out_dir / MANIFEST
    # An export that changed nothing leaves the manifest alone too (no timestamp in it).
    if not path.is_file() or path.read_bytes() != text:
        _atomic_write(path, text)
    return exporter.result


def plan_export(
    nodes: Sequence[NodePath],
    read: Reader,
    *,
    partition: str = "month",
    format: str = "parquet",
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """The manifest ``export_partitioned`` would write, without writing anything.

    Every file record has what the written manifest has except ``sha256`` and
    ``bytes`` (which only the written bytes can tell); the rows are read to be counted.
    """
    _check_options(partition, format)
    return _build(_Layout(Path("."), format), nodes, read, partition, start, end)


def _check_options(partition: str, format: str) -> None:
    if partition not in PARTITIONS:
        raise ConfigError(f"unknown partition {partition!r} (choose {' or '.join(PARTITIONS)})")
    if format not in FORMATS:
        raise ConfigError(f"cannot export as {format!r} (choose {' or '.join(FORMATS)})")


def _build(
    layout: _Layout,
    nodes: Sequence[NodePath],
    read: Reader,
    partition: str,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """Every node's partitions through ``layout``; the manifest."""
    from ..query.sources import TimeRange

    limits = TimeRange.of(start, end)
    outputs: list[dict[str, Any]] = []
    for np in nodes:
        outputs.append(_export_one(layout, np, read, partition, limits))
        layout.result.outputs.append(np.path)
    if isinstance(layout, _Exporter):
        layout.remove_stale()
    return {
        "manifest_version": MANIFEST_VERSION,
        "format": layout.fmt,
        "partition": partition,
        "time_zone": "UTC",
        "start": _iso(limits.start) if limits.start is not None else None,
        "end": _iso(limits.end) if limits.end is not None else None,
        "outputs": outputs,
        "files": layout.files,
    }


def _export_one(
    exporter: _Layout, np: NodePath, read: Reader, partition: str, limits: Any
) -> dict[str, Any]:
    """Write one output's partitions; its manifest record."""
    from ..query.canonical import event_range, schema_json
    from ..query.sources import TimeRange, filter_table

    src = export_source(np)
    rel_dir = _relative_dir(np.path)
    first = len(exporter.files)
    schema: pa.Schema | None = None
    column = src.time_column
    if column is None:
        # No time column: one file, whatever --start/--end say.
        schema = exporter.partition(src, read(np.path, None, None), rel_dir, None)
    else:
        whole: pa.Table | None = None
        if np.is_dynamic():
            # The query layer gathers a computed output whole on every read anyway: read it
            # once and cut it here, rather than computing it again for each partition.
            low, high = limits.start, limits.end
            whole = read(
                np.path, None if low is None else _when(low), None if high is None else _when(high)
            ).read_all()
            # In time order, as a stored series reads: an engine may return rows of a query
            # without ORDER BY in another order each time, which would change every file.
            whole = whole.sort_by(column)
            span = event_range(whole, column) if whole.num_rows else None
            spans = [span] if span is not None else []
        elif src.spans is not None:
            spans = src.spans
        else:
            spans = _scan_span(read, np.path, column)
        for full in periods_over(spans, partition):
            period = full.clipped(limits.start, limits.end)
            if period.start >= period.end:
                continue
            if whole is not None:
                cut = filter_table(whole, column, TimeRange(period.start, period.end))
                reader = cut.to_reader()
            else:
                reader = read(np.path, _when(period.start), _when(period.end))
            got = exporter.partition(src, reader, rel_dir / full.dirname, period)
            schema = schema or got
    if schema is None:
        # Nothing in range: the output is still described, with no files.
        from ..query.canonical import plain_schema

        schema = plain_schema(read(np.path, None, None).schema)
    files = exporter.files[first:]
    lows = [low for low, _ in exporter.spans[first:] if low is not None]
    highs = [high for _, high in exporter.spans[first:] if high is not None]
    return {
        "path": np.path,
        "type": np.node_type,
        "dir": str(rel_dir),
        "timestamp_column": src.time_column,
        "schema": schema_json(schema),
        "rows": sum(f["rows"] for f in files),
        "min_event_time": _iso(min(lows)) if lows else None,
        "max_event_time": _iso(max(highs)) if highs else None,
        "files": [f["file"] for f in files],
    }
