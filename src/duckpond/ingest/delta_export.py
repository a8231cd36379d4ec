"""``pond export --format delta``: each table or series as a standalone Delta table.

Other engines (Polars, DataFusion, pyarrow through deltalake, Dask, Spark, Trino) read
Delta Lake natively, so an export in that format is the pond's data handed over in
the form they expect, one table per output::

    OUT/data/a.series/_delta_log/...      a standard Delta table: the rows of /data/a.series
    OUT/data/a.series/part-....parquet
    OUT/reduce/down/res=1h.series/...     a computed output, the same way

Each table has the columns the pond gives (``pond cat``), the event-time column as
the pond has it (``timestamp[us, UTC]``), and its rows as ``pond cat`` returns them: a
series' versions as one, newer rows replacing older ones at the same time.

A re-export is incremental, and one that finds nothing new commits nothing.  What a
table last received is recorded in the custom metadata of the commit that wrote it
(key ``STATE_KEY``, JSON; see ``ExportState``), so the state travels with the table
and is committed atomically with its rows:

- A stored series: the versions after the recorded one are new.  When all of them
  lie after the last exported event time their rows are appended; otherwise the rows
  from their earliest event time on are replaced (a Delta overwrite with a predicate
  on the time column), since the pond's newer-wins reading may change older rows.
- A stored table: a new latest version replaces the whole table.
- A computed output: computed whole and compared with the table's rows, both in time
  order; identical rows commit nothing, otherwise the rows from the first difference
  on are replaced (a downsampled series usually changes only at its end).
- Anything else that no longer fits (another node at the path, a schema that changed,
  versions without recorded event times) is a whole overwrite, schema included.

The destination is a local directory or, given ``storage_options`` for the object
store, a URL that deltalake understands (``s3://bucket/lake``).  Every write is one
Delta commit through deltalake, atomic on its own: an export that dies half-way
leaves each table at one of its commits, and the next export carries on from there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..tinyfs import FILE_SERIES, NodePath
from .partitioned import ExportSource, Reader, export_source

if TYPE_CHECKING:
    import pyarrow as pa

STATE_KEY = "duckpond.export"
"""The commit metadata key holding ``ExportState`` as JSON."""
STATE_VERSION = 1


@dataclass(frozen=True)
class ExportState:
    """What one exported Delta table holds of its pond output, as of its last export.

    ``version`` is the last node version exported (stored outputs; 0 for a computed
    one), ``max_event_time`` the latest event time in the table (microseconds UTC, None
    without a time column or rows).
    """

    path: str
    node_id: str
    node_type: str
    version: int
    timestamp_column: str | None
    max_event_time: int | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "state_version": STATE_VERSION,
                "path": self.path,
                "node_id": self.node_id,
                "type": self.node_type,
                "version": self.version,
                "timestamp_column": self.timestamp_column,
                "max_event_time": self.max_event_time,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: object) -> ExportState | None:
        """The state in ``text``, or None if it is not one this module wrote."""
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("state_version") != STATE_VERSION:
            return None
        try:
            return cls(
                path=str(data["path"]),
                node_id=str(data["node_id"]),
                node_type=str(data["type"]),
                version=int(data["version"]),
                timestamp_column=_opt_str(data.get("timestamp_column")),
                max_event_time=_opt_int(data.get("max_event_time")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _opt_int(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class TableExport:
    """What happened to one output's table: ``action`` is ``create``, ``append``,
    ``replace`` (rows from ``since`` on), ``overwrite`` or ``unchanged``."""

    path: str
    table: str
    action: str
    rows: int = 0
    since: int | None = None

    def to_json(self) -> dict[str, Any]:
        from ..timeparse import from_micros, iso

        return {
            "path": self.path,
            "table": self.table,
            "action": self.action,
            "rows": self.rows,
            "since": iso(from_micros(self.since)) if self.since is not None else None,
        }


@dataclass
class DeltaExportResult:
    """What a Delta export did: one record per output, in the order exported."""

    out: str
    tables: list[TableExport] = field(default_factory=list)

    @property
    def outputs(self) -> list[str]:
        return [t.path for t in self.tables]

    @property
    def committed(self) -> list[str]:
        """The pond paths whose table received a commit."""
        return [t.path for t in self.tables if t.action != "unchanged"]

    @property
    def rows(self) -> int:
        """Rows written by this export (unchanged tables count none)."""
        return sum(t.rows for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        return {
            "dir": self.out,
            "format": "delta",
            "outputs": self.outputs,
            "committed": self.committed,
            "rows": self.rows,
            "tables": [t.to_json() for t in self.tables],
        }

    def summary(self) -> str:
        unchanged = len(self.tables) - len(self.committed)
        return (
            f"exported {len(self.tables)} output(s) as Delta tables to {self.out}: "
            f"{len(self.committed)} committed ({self.rows} rows), {unchanged} unchanged"
        )


# -- where a table goes ----------------------------------------------------------------------


def table_location(out: str, pond_path: str) -> str:
    """The Delta table of ``pond_path`` under ``out`` (a directory or a URL)."""
    parts = [p for p in pond_path.split("/") if p]
    if not parts:
        raise ConfigError("the pond root is a directory, not a table or series")
    return "/".join([out.rstrip("/"), *parts])


def _is_url(out: str) -> bool:
    return "://" in out


# -- reading what a table holds --------------------------------------------------------------


def _open_table(uri: str, storage_options: dict[str, str] | None) -> Any | None:
    """The Delta table at ``uri``, or None if there is none yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        return None


def _last_state(table: Any) -> ExportState | None:
    """The state recorded by the newest commit of ours (a maintenance commit has none)."""
    for commit in table.history():
        state = ExportState.from_json(commit.get(STATE_KEY))
        if state is not None:
            return state
    return None


def _table_rows(table: Any) -> pa.Table:
    import pyarrow as pa

    # scan(), not to_pyarrow_table(): DESIGN.md, "Dependencies" (an abort at exit).
    return pa.RecordBatchReader.from_stream(table.scan()).read_all()


def _table_schema(table: Any) -> pa.Schema:
    import pyarrow as pa

    return pa.schema(table.schema().to_arrow())


# -- writing ----------------------------------------------------------------------------------


@dataclass
class _Rows:
    """A stream of rows to write, in the plain types the pond stores, counted as they go."""

    reader: pa.RecordBatchReader
    rows: int = 0

    def stream(self) -> pa.RecordBatchReader:
        import pyarrow as pa

        from ..query.canonical import plain_schema

        schema = plain_schema(self.reader.schema)
        return pa.RecordBatchReader.from_batches(schema, self._batches(schema))

    def _batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        for batch in self.reader:
            if not batch.num_rows:
                continue
            self.rows += batch.num_rows
            yield batch.cast(schema) if batch.schema != schema else batch


def _write(
    uri: str,
    rows: _Rows,
    state: ExportState,
    storage_options: dict[str, str] | None,
    *,
    mode: str,
    predicate: str | None = None,
    description: str | None = None,
) -> None:
    """One Delta commit of ``rows`` to ``uri`` whose metadata records ``state``.

    ``mode`` ``overwrite`` without a predicate replaces the table, schema included
    (creating it if missing); with a predicate it replaces the rows that match;
    ``append`` adds rows.
    """
    from deltalake import CommitProperties, write_deltalake

    props = CommitProperties(custom_metadata={STATE_KEY: state.to_json()})
    if mode == "overwrite" and predicate is None:
        write_deltalake(
            uri,
            rows.stream(),
            mode="overwrite",
            schema_mode="overwrite",
            description=description,
            storage_options=storage_options,
            commit_properties=props,
        )
    elif mode == "append":
        write_deltalake(
            uri,
            rows.stream(),
            mode="append",
            storage_options=storage_options,
            commit_properties=props,
        )
    else:
        write_deltalake(
            uri,
            rows.stream(),
            mode="overwrite",
            predicate=predicate,
            storage_options=storage_options,
            commit_properties=props,
        )


def _predicate_from(column: str, since: int) -> str:
    """A deltalake predicate: ``column`` at or after ``since`` (microseconds UTC)."""
    from ..timeparse import from_micros

    quoted = '"' + column.replace('"', '""') + '"'
    when = from_micros(since).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{quoted} >= '{when}'"


def _same_columns(a: pa.Schema, b: pa.Schema) -> bool:
    """Same column names and types, whatever the string and binary layouts."""
    return [(f.name, _plain_type(f.type)) for f in a] == [(f.name, _plain_type(f.type)) for f in b]


def _plain_type(typ: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    if pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return pa.string()
    if pa.types.is_large_binary(typ) or pa.types.is_binary_view(typ):
        return pa.binary()
    return typ


def _describe(np: NodePath, column: str | None) -> str:
    timed = f"; event time column {column!r}" if column is not None else ""
    return f"DuckPond export of {np.path} ({np.node_type}{timed})"


# -- the export ---------------------------------------------------------------------------------


def export_delta(
    nodes: Sequence[NodePath],
    out: str,
    read: Reader,
    *,
    storage_options: dict[str, str] | None = None,
) -> DeltaExportResult:
    """Export each of ``nodes`` (tables and series) as a Delta table under ``out``.

    ``out`` is a local directory (created if missing) or an object store URL that
    ``storage_options`` opens; ``read(path, start, end)`` gives a node's rows
    (``Pond.cat``).  Each table is appended to or partly replaced as the module
    docstring says, one commit per table that changed.  Raises ``NotADirectoryError``
    when ``out`` is an existing file, and the errors of deltalake for a table it
    cannot write (translated at the ``Pond`` boundary).
    """
    from pathlib import Path

    if not _is_url(out):
        where = Path(out).expanduser().absolute()
        if where.exists() and not where.is_dir():
            raise NotADirectoryError(20, "not a directory", str(where))
        where.mkdir(parents=True, exist_ok=True)
        out = str(where)
    result = DeltaExportResult(out)
    for np in nodes:
        uri = table_location(out, np.path)
        result.tables.append(_export_one(np, uri, read, storage_options))
    return result


def _export_one(
    np: NodePath, uri: str, read: Reader, storage_options: dict[str, str] | None
) -> TableExport:
    src = export_source(np)
    table = _open_table(uri, storage_options)
    before = _last_state(table) if table is not None else None
    fits = (
        before is not None
        and before.node_id == np.node_id
        and before.node_type == np.node_type
        and before.timestamp_column == src.time_column
    )
    job = _Job(np, src, uri, table, before if fits else None, read, storage_options)
    return job.computed() if np.is_dynamic() else job.stored()


@dataclass
class _Job:
    """Exporting one output: its source, its table (None if new) and the table's state
    (None unless it was written from this same node, with the same time column)."""

    np: NodePath
    src: ExportSource
    uri: str
    table: Any | None
    before: ExportState | None
    read: Reader
    storage_options: dict[str, str] | None

    @property
    def column(self) -> str | None:
        return self.src.time_column

    def _rows(self, start: int | None = None) -> _Rows:
        from ..timeparse import from_micros

        low: datetime | None = from_micros(start) if start is not None else None
        return _Rows(self.read(self.np.path, low, None))

    def _overwrite(self, rows: _Rows, state: ExportState) -> TableExport:
        _write(
            self.uri,
            rows,
            state,
            self.storage_options,
            mode="overwrite",
            description=_describe(self.np, self.column),
        )
        action = "create" if self.table is None else "overwrite"
        return TableExport(self.np.path, self.uri, action, rows.rows)

    def _replace(self, rows: _Rows, state: ExportState, since: int) -> TableExport:
        assert self.column is not None
        if self.table is not None and not _same_columns(
            rows.reader.schema, _table_schema(self.table)
        ):
            # Columns changed: the older rows cannot stay as they are.
            return self._overwrite(self._rows(), state)
        before = self.before
        appending = before is not None and (
            before.max_event_time is not None and since > before.max_event_time
        )
        predicate = None if appending else _predicate_from(self.column, since)
        _write(
            self.uri,
            rows,
            state,
            self.storage_options,
            mode="append" if appending else "overwrite",
            predicate=predicate,
        )
        return TableExport(
            self.np.path, self.uri, "append" if appending else "replace", rows.rows, since
        )

    def stored(self) -> TableExport:
        """A stored table or series: new versions since the recorded one decide."""
        versions = self.np.node.versions()
        latest = versions[-1].version
        current = versions if self.np.node_type == FILE_SERIES else versions[-1:]
        highs = [v.max_event_time for v in current]
        high = max(h for h in highs if h is not None) if any(h is not None for h in highs) else None
        state = ExportState(
            self.np.path, self.np.node_id, self.np.node_type, latest, self.column, high
        )
        before = self.before
        if before is None or before.version > latest:
            return self._overwrite(self._rows(), state)
        if before.version == latest:
            return TableExport(self.np.path, self.uri, "unchanged")
        new = [v for v in versions if v.version > before.version]
        lows = [v.min_event_time for v in new]
        if self.np.node_type != FILE_SERIES or self.column is None or None in lows:
            # A table's new version replaces it; a version without a recorded range
            # (written before ranges were kept, or empty) cannot say where it lands.
            return self._overwrite(self._rows(), state)
        since = min(low for low in lows if low is not None)
        return self._replace(self._rows(since), state, since)

    def computed(self) -> TableExport:
        """A computed output: compared with the table, replaced from its first difference."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from ..query.canonical import event_range, plain_schema, to_utc_micros_type

        whole = self.read(self.np.path, None, None).read_all()
        whole = whole.cast(plain_schema(whole.schema))
        whole = _ordered(whole, self.column)
        span = event_range(whole, self.column) if self.column and whole.num_rows else None
        state = ExportState(
            self.np.path,
            self.np.node_id,
            self.np.node_type,
            0,
            self.column,
            span[1] if span is not None else None,
        )
        if (
            self.table is None
            or self.before is None
            or not _same_columns(whole.schema, _table_schema(self.table))
        ):
            return self._overwrite(_Rows(whole.to_reader()), state)
        old = _ordered(_table_rows(self.table).select(whole.column_names), self.column)
        first = _first_difference(old, whole)
        if first is None:
            return TableExport(self.np.path, self.uri, "unchanged")
        since = _time_at(old, whole, self.column, first) if self.column else None
        if since is None:
            return self._overwrite(_Rows(whole.to_reader()), state)
        times = to_utc_micros_type(whole.column(self.column))
        tail = whole.filter(pc.greater_equal(times, pa.scalar(since, pa.timestamp("us", "UTC"))))
        return self._replace(_Rows(tail.to_reader()), state, since)


def _ordered(table: pa.Table, column: str | None) -> pa.Table:
    """``table`` sorted by its time column, then by every other sortable column."""
    import pyarrow as pa

    keys = [] if column is None else [column]
    keys += [
        f.name
        for f in table.schema
        if f.name != column
        and not pa.types.is_nested(f.type)
        and not pa.types.is_dictionary(f.type)
    ]
    return table.sort_by([(k, "ascending") for k in keys]) if keys and table.num_rows else table


def _first_difference(old: pa.Table, new: pa.Table) -> int | None:
    """The first row index where two tables of the same columns differ; None if equal."""
    import pyarrow.compute as pc

    n = min(old.num_rows, new.num_rows)
    if n:
        same: Any = None
        for name in new.column_names:
            a, b = old.column(name).slice(0, n), new.column(name).slice(0, n)
            # Missing on both sides is the same value; equal() alone would say null.
            eq = pc.coalesce(pc.equal(a, b), pc.and_(pc.is_null(a), pc.is_null(b)))
            same = eq if same is None else pc.and_(same, eq)
        first = pc.index(same, False).as_py()
        if first >= 0:
            return int(first)
    return None if old.num_rows == new.num_rows else n


def _time_at(old: pa.Table, new: pa.Table, column: str, index: int) -> int | None:
    """The earliest event time (microseconds) at row ``index`` of either table."""
    from ..query.canonical import to_utc_micros_type

    times = []
    for table in (old, new):
        if index < table.num_rows:
            value = to_utc_micros_type(table.column(column)).slice(index, 1)[0]
            if not value.is_valid:
                return None
            times.append(int(value.value))
    return min(times) if times else None
