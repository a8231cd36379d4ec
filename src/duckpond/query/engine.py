"""SQL over pond files, host files and the oplog.

``Engine`` is the small interface a SQL engine implements; ``ENGINES`` maps
a name to one (DataFusion today; DuckDB could join it and pass the same
tests).  ``QuerySession`` is what the pond API uses: it turns paths, globs
and URLs into parts (see ``sources``), registers them with the engine, and
finds the tables a query names on its own: pond files written as quoted
identifiers (``FROM "/data/seattle.series"``) and the system tables.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError, FormatError, QueryError, flatten
from ..tinyfs import FILE_SERIES, WD, NodePath, Persistence
from .canonical import plain_batch, plain_schema
from .csvread import CsvOptions
from .sources import Part, PondReader, TimeBound, TimeRange, scan_parts, unified_schema
from .system import SYSTEM_TABLES
from .urls import PondURL, ReadContext, is_url, parse_url, read_parts

if TYPE_CHECKING:
    import tempfile

    import pyarrow as pa


class Engine(Protocol):
    """A SQL engine over Arrow data: tables in, Arrow out."""

    name: str

    def register_parts(self, name: str, parts: Sequence[Part], time_range: TimeRange) -> None:
        """Make ``parts`` one table ``name``: unioned by column name, cut to the range."""
        ...

    def register_table(self, name: str, table: pa.Table) -> None: ...

    def has_table(self, name: str) -> bool: ...

    def sql(self, query: str) -> pa.Table: ...

    def stream(self, query: str) -> pa.RecordBatchReader:
        """The result a batch at a time, so a large result never sits in memory."""
        ...


def condense_error(
    exc: BaseException, tables: Sequence[str] = (), query: str | None = None
) -> QueryError:
    """An engine's error as one line; an unknown table also lists the known ones, and a
    refused statement is named by the query's first word."""
    message = flatten(str(exc))
    message = re.sub(r"^(DataFusion error: )+", "", message)
    refused = re.search(r"(DDL|DML|Statement) not supported: (\w+)", message)
    if refused:
        first = re.match(r"\s*(\w+)", query or "")
        verb = first[1].upper() if first else refused[2]
        return QueryError(
            f"queries only read: {verb} is not allowed (no DDL, DML or COPY); "
            "run a SELECT and save its result with --format"
        )
    if tables and re.search(r"table '[^']*' not found", message):
        message += f" (tables: {', '.join(sorted(tables))})"
    return QueryError(message)


class DataFusionEngine:
    """Apache DataFusion: Parquet on disk is scanned in place, in parallel."""

    name = "datafusion"

    def __init__(self) -> None:
        from datafusion import SessionConfig, SessionContext

        # Version pruning by event time is ours (from the oplog), so the per-file
        # statistics DataFusion would gather by reading every footer buy nothing.
        config = (
            SessionConfig()
            .set("datafusion.execution.collect_statistics", "false")
            # Text read from Parquet as Utf8, the type the pond stores, not Utf8View.
            .set("datafusion.execution.parquet.schema_force_view_types", "false")
        )
        self._ctx = SessionContext(config)
        self._options = _read_only()
        self._tables: set[str] = set()
        self._links: list[tempfile.TemporaryDirectory[str]] = []

    def register_parts(self, name: str, parts: Sequence[Part], time_range: TimeRange) -> None:
        import pyarrow as pa

        try:
            frames = self._frames(parts, time_range)
            if not frames:
                frames = [self._ctx.from_arrow(unified_schema(parts).empty_table())]
            self._replace(name, _union_all(frames))
        except FormatError:
            raise
        except Exception as exc:
            if isinstance(exc, pa.ArrowException) or "rror during planning" in str(exc):
                # Columns that cannot be unified: said the way a plain read says it.
                unified_schema(parts)
            raise condense_error(exc) from None

    def _frames(self, parts: Sequence[Part], time_range: TimeRange) -> list[Any]:
        import pyarrow as pa

        frames: list[Any] = []
        pending: list[pa.Table] = []
        files: list[Part] = []

        def flush_tables() -> None:
            # Neighbouring in-memory parts (inline versions) become one table: a series of
            # thousands of small versions is then one scan, not a union of thousands.
            if pending:
                table = pa.concat_tables(pending, promote_options="permissive")
                frames.append(self._ctx.from_arrow(table))
                pending.clear()

        def flush_files() -> None:
            if files:
                frames.extend(self._parquet_frames(files, time_range))
                files.clear()

        for part in parts:
            if part.table is not None:
                flush_files()
                pending.append(part.table)
            else:
                flush_tables()
                files.append(part)
        flush_tables()
        flush_files()
        return frames

    def _parquet_frames(self, parts: Sequence[Part], time_range: TimeRange) -> list[Any]:
        """Neighbouring Parquet files as few scans as possible.

        Files with the same timestamp column whose schemas unify become one
        listing table: DataFusion then plans one scan over all of them, which on
        a 100-version series is some 40% faster than a union of 100 scans.
        """
        groups: dict[str | None, list[Part]] = {}
        for part in parts:
            groups.setdefault(part.timestamp_column, []).append(part)
        frames: list[Any] = []
        for group in groups.values():
            frame = self._listing_frame(group, time_range) if len(group) > 1 else None
            if frame is None:
                frames.extend(self._parquet_frame(part, time_range) for part in group)
            else:
                frames.append(frame)
        return frames

    def _listing_frame(self, parts: Sequence[Part], time_range: TimeRange) -> Any | None:
        """One scan over several files, or None when their schemas do not unify."""
        listing = _listing(parts)
        if listing is None:
            return None
        self._links.append(listing.links)  # held as long as this engine and its streams
        frame = self._ctx.read_parquet(listing.links.name, schema=listing.schema)
        return self._time_filter(frame, listing.schema, parts[0].timestamp_column, time_range)

    def _parquet_frame(self, part: Part, time_range: TimeRange) -> Any:
        assert part.path is not None
        # Blobs are named by their hash, with no extension for DataFusion to filter on.
        frame = self._ctx.read_parquet(str(part.path), file_extension="")
        if part.timestamp_column is None or not time_range.bounded:
            return frame
        return self._time_filter(frame, part.schema(), part.timestamp_column, time_range)

    def _time_filter(
        self, frame: Any, schema: pa.Schema, column: str | None, time_range: TimeRange
    ) -> Any:
        from datafusion import col, lit

        if column is None or not time_range.bounded:
            return frame
        low, high = time_range.bounds_for(schema.field(column).type)
        if low is not None:
            frame = frame.filter(col(column) >= lit(low))
        if high is not None:
            frame = frame.filter(col(column) < lit(high))
        return frame

    def register_table(self, name: str, table: pa.Table) -> None:
        self._replace(name, self._ctx.from_arrow(table))

    def _replace(self, name: str, frame: Any) -> None:
        if name in self._tables:
            self._ctx.deregister_table(name)
        self._ctx.register_view(name, frame)
        self._tables.add(name)

    def has_table(self, name: str) -> bool:
        return name in self._tables

    def _frame(self, query: str) -> Any:
        try:
            return self._ctx.sql_with_options(query, self._options)
        except Exception as exc:
            raise condense_error(exc, sorted(self._tables), query) from None

    def sql(self, query: str) -> pa.Table:
        import pyarrow as pa

        frame = self._frame(query)
        try:
            batches = frame.collect()
            schema = frame.schema()
        except Exception as exc:
            raise condense_error(exc, sorted(self._tables)) from None
        plain = plain_schema(schema)
        return pa.Table.from_batches([plain_batch(b, plain) for b in batches], schema=plain)

    def stream(self, query: str) -> pa.RecordBatchReader:
        import pyarrow as pa

        frame = self._frame(query)
        try:
            schema = frame.schema()
            stream = frame.execute_stream()
        except Exception as exc:
            raise condense_error(exc, sorted(self._tables)) from None
        tables = sorted(self._tables)
        links = self._links  # the files of a listing scan must outlive the stream
        plain = plain_schema(schema)

        def batches() -> Iterator[pa.RecordBatch]:
            assert links is not None
            try:
                for batch in stream:
                    yield plain_batch(batch.to_pyarrow(), plain)
            except QueryError:
                raise
            except Exception as exc:
                raise condense_error(exc, tables) from None

        return pa.RecordBatchReader.from_batches(plain, batches())


def _read_only() -> Any:
    """SQL options that allow queries only: no DDL (CREATE ...), no DML (INSERT, COPY ...
    TO, which would write host files), no statements (SET)."""
    from datafusion import SQLOptions

    return SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


@dataclass(frozen=True)
class _Listing:
    """A private directory of links naming exactly some Parquet files, and their schema."""

    links: tempfile.TemporaryDirectory[str]
    schema: pa.Schema


# Recent listings by the files they name (path, mtime, size): a process that queries
# the same series again (a site build, a notebook) neither links nor reads footers
# again.  A directory is removed once neither this cache nor any engine holds it.
_LISTINGS: OrderedDict[tuple[tuple[str, int, int], ...], _Listing] = OrderedDict()
_LISTINGS_KEPT = 32
_LISTINGS_LOCK = threading.Lock()


def _listing(parts: Sequence[Part]) -> _Listing | None:
    """The listing for these files (made, or found again), or None when their schemas do
    not unify or links cannot be made here."""
    import os
    import tempfile

    try:
        paths = [os.path.abspath(part.path) for part in parts if part.path is not None]
        key = tuple((p, (st := os.stat(p)).st_mtime_ns, st.st_size) for p in paths)
    except OSError:
        return None
    with _LISTINGS_LOCK:
        found = _LISTINGS.get(key)
        if found is not None:
            _LISTINGS.move_to_end(key)
            return found
    try:
        schema = unified_schema(parts)
    except FormatError:
        return None
    # DataFusion scans a directory, not a list of files: links name exactly these.
    links = tempfile.TemporaryDirectory(prefix="duckpond-scan-")
    try:
        for i, path in enumerate(paths):
            os.symlink(path, os.path.join(links.name, f"{i:06d}.parquet"))
    except OSError:
        links.cleanup()
        return None
    listing = _Listing(links, schema)
    with _LISTINGS_LOCK:
        _LISTINGS[key] = listing
        while len(_LISTINGS) > _LISTINGS_KEPT:
            _LISTINGS.popitem(last=False)
    return listing


def _union_all(frames: list[Any]) -> Any:
    """Union by column name, pairwise, so the plan is log(n) deep rather than n."""
    while len(frames) > 1:
        paired = [a.union_by_name(b) for a, b in zip(frames[::2], frames[1::2], strict=False)]
        if len(frames) % 2:
            paired.append(frames[-1])
        frames = paired
    return frames[0]


ENGINES: dict[str, Callable[[], Engine]] = {
    "datafusion": DataFusionEngine,
}


def create_engine(name: str = "datafusion") -> Engine:
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ConfigError(f"unknown SQL engine {name!r} (known: {', '.join(ENGINES)})") from None
    return factory()


# -- finding the tables a query names -----------------------------------------------------

_TOKENS = re.compile(
    r"""
      '(?:[^']|'')*'          # a string literal: its content names nothing
    | --[^\n]*                # a line comment
    | /\*.*?\*/               # a block comment
    | "(?P<quoted>(?:[^"]|"")*)"
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.X | re.S,
)


def referenced_names(query: str) -> tuple[list[str], set[str]]:
    """Quoted identifiers (in order, unescaped) and bare words (lower-cased) in a query."""
    quoted: list[str] = []
    words: set[str] = set()
    for m in _TOKENS.finditer(query):
        if m["quoted"] is not None:
            name = m["quoted"].replace('""', '"')
            if name not in quoted:
                quoted.append(name)
        elif m["word"] is not None:
            words.add(m["word"].lower())
    return quoted, words


def _names_data(name: str) -> bool:
    """A quoted identifier that is a pond path, glob or URL rather than a column."""
    return name.startswith("/") or (is_url(name) and ":///" in name)


class QuerySession:
    """SQL over one pond (or none, for host URLs only).

    Tables are registered on demand: ``register`` for ``source``, and, when a
    query runs, every quoted pond path or URL it names and every system table.
    """

    def __init__(
        self,
        wd: WD | None = None,
        *,
        persistence: Persistence | None = None,
        engine: str = "datafusion",
        csv: CsvOptions | None = None,
        all_versions: bool = False,
        with_path: bool = False,
    ) -> None:
        self.pond = PondReader.of(wd, persistence) if wd is not None else None
        self.engine = create_engine(engine)
        self.csv = csv or CsvOptions()
        # Series read every stored row in stored order, not merged by event time.
        self.all_versions = all_versions
        # The target's rows carry a ``path`` column naming the file each came from.
        self.with_path = with_path

    @property
    def versions_read(self) -> list[tuple[str, int]]:
        """(path, version) of every pond file version loaded or handed to the engine."""
        return [] if self.pond is None else list(self.pond.versions_read)

    def parts(self, target: str, *, start: TimeBound = None, end: TimeBound = None) -> list[Part]:
        """The parts a pond path, glob or URL names, cut to ``[start, end)``."""
        time_range = TimeRange.of(start, end)
        ctx = ReadContext(self.pond, time_range, self.csv, self.all_versions)
        url = parse_url(target)
        if not self.with_path:
            return read_parts(url, ctx)
        return _with_path(url, ctx)

    def register(
        self, name: str, target: str, *, start: TimeBound = None, end: TimeBound = None
    ) -> None:
        """Make ``target`` (pond path, glob or URL) the table ``name``."""
        self.engine.register_parts(
            name, self.parts(target, start=start, end=end), TimeRange.of(start, end)
        )

    def scan(
        self, target: str, *, start: TimeBound = None, end: TimeBound = None
    ) -> pa.RecordBatchReader:
        """Every row of ``target`` in order (a series: event-time order), without SQL.

        This is what ``cat`` without ``--sql`` should use: an engine may interleave
        parts, while a plain read keeps the parts' order.
        """
        import pyarrow as pa

        parts = self.parts(target, start=start, end=end)
        batches = scan_parts(parts, TimeRange.of(start, end))
        return pa.RecordBatchReader.from_batches(unified_schema(parts), batches)

    def prepare(self, query: str) -> None:
        """Register the pond files, URLs and system tables ``query`` names."""
        quoted, words = referenced_names(query)
        for name in quoted:
            if _names_data(name) and not self.engine.has_table(name):
                self.register(name, name)
        if self.pond is None:
            return
        for name, build in SYSTEM_TABLES.items():
            if name in words and not self.engine.has_table(name):
                self.engine.register_table(name, build(self.pond.persistence))

    def sql(self, query: str) -> pa.Table:
        """Run ``query`` and return the whole result."""
        self.prepare(query)
        return self.engine.sql(query)

    def stream(self, query: str) -> pa.RecordBatchReader:
        """Run ``query`` and return its result as a stream of record batches."""
        self.prepare(query)
        return self.engine.stream(query)


DEFAULT_SOURCE = "source"
PATH_COLUMN = "path"


def _with_path(url: PondURL, ctx: ReadContext) -> list[Part]:
    """One in-memory part per file ``url`` names, each row with the file's path in a
    ``path`` column (a pond path, or a host path for ``host+`` URLs)."""
    import dataclasses

    import pyarrow as pa

    if url.host or ctx.pond is None:
        groups = [(part.label, [part]) for part in read_parts(url, ctx)]
    else:
        matched = ctx.pond.match(url.path, literal=url.literal)
        groups = [
            (np.path, read_parts(dataclasses.replace(url, path=np.path, literal=True), ctx))
            for np in matched
        ]
    out = []
    for label, parts in groups:
        schema = unified_schema(parts)
        if PATH_COLUMN in schema.names:
            raise QueryError(
                f"{label} already has a column {PATH_COLUMN!r}; read it without --with-path"
            )
        table = pa.Table.from_batches(list(scan_parts(parts, ctx.time_range)), schema=schema)
        table = table.append_column(PATH_COLUMN, pa.array([label] * table.num_rows, pa.string()))
        column = parts[0].timestamp_column if parts else None
        out.append(Part(label, table=table, timestamp_column=column))
    return out


def cat(
    wd: WD | None,
    target: str,
    *,
    sql: str | None = None,
    start: TimeBound = None,
    end: TimeBound = None,
    persistence: Persistence | None = None,
    csv: CsvOptions | None = None,
    engine: str = "datafusion",
    all_versions: bool = False,
    with_path: bool = False,
) -> pa.RecordBatchReader:
    """``pond cat TARGET [--sql ...] [--start --end]`` as a stream of record batches.

    ``with_path`` adds a ``path`` column naming each row's file (for a glob).

    Without SQL a series comes in event-time order; with it, ``target`` is the table
    ``source``, and the query may also name other pond files in double quotes.  Where
    series versions overlap in time, a newer version's rows replace an older one's at
    the same times, unless ``all_versions`` asks for every stored row (in stored order).
    """
    session = QuerySession(
        wd,
        persistence=persistence,
        engine=engine,
        csv=csv,
        all_versions=all_versions,
        with_path=with_path,
    )
    if sql is None:
        return session.scan(target, start=start, end=end)
    session.register(DEFAULT_SOURCE, target, start=start, end=end)
    return session.stream(sql)


def query(
    wd: WD | None,
    sql: str,
    *,
    persistence: Persistence | None = None,
    engine: str = "datafusion",
) -> pa.RecordBatchReader:
    """``pond query SQL``: the system tables and any quoted pond paths, as a stream."""
    return QuerySession(wd, persistence=persistence, engine=engine).stream(sql)


def run_query(wd: WD | None, persistence: Persistence | None, sql: str) -> pa.Table:
    """``Pond.sql``: a whole query result over the system tables and quoted pond paths."""
    return QuerySession(wd, persistence=persistence).sql(sql)


def read_source(
    wd: WD | None,
    persistence: Persistence | None,
    target: str,
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    all_versions: bool = False,
) -> pa.Table:
    """``Pond.read_table``: a pond path, glob or URL read whole (see ``cat`` for the order)."""
    session = QuerySession(wd, persistence=persistence, all_versions=all_versions)
    return session.scan(target, start=start, end=end).read_all()


def scan_node(
    np: NodePath, *, start: TimeBound = None, end: TimeBound = None
) -> pa.RecordBatchReader:
    """One table or series node as a stream of batches (a series as ``cat`` reads it)."""
    import pyarrow as pa

    fs = np.node.fs
    reader = PondReader.of(fs.root(), fs.persistence)
    time_range = TimeRange.of(start, end)
    if np.node_type == FILE_SERIES:
        parts = reader.series_parts(np, time_range)
    else:
        parts = [reader.table_part(np, time_range)]
    return pa.RecordBatchReader.from_batches(unified_schema(parts), scan_parts(parts, time_range))


def read_node(np: NodePath, *, start: TimeBound = None, end: TimeBound = None) -> pa.Table:
    """One table or series node as one Arrow table (a series as ``cat`` reads it)."""
    return scan_node(np, start=start, end=end).read_all()
