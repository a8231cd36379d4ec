"""What the Join, Pivot and Reduce kinds share: matching input series, reading their rows
streamed as Arrow batches with the time column named ``timestamp``, naming by captures,
and a table output computed once.

An input is a physical ``file:series`` or ``file:table`` (read version by version from
Parquet, streamed without pre-buffering), or a dynamic file whose output is a table (a
Join or Pivot output, read through its ``TableOutput``).  Times are microseconds since
the epoch, UTC; ranges are ``[start, end)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import ConfigError, FormatError
from ...ingest.describe import DERIVATION_KEY
from ...tinyfs import WD, NodePath, TableOutput
from ...tinyfs.persistence import FILE_SERIES, FILE_TABLE
from ..timeseries._arrow import TIME

if TYPE_CHECKING:
    import pyarrow as pa

# Where a computed output says what it was computed from: a JSON object in its Arrow
# schema metadata, which survives the output cache; ``pond describe`` shows it.
DESCRIBE_KEY = DERIVATION_KEY


@dataclass(frozen=True)
class Match:
    """One file an input pattern matched: its path now, its glob captures, its node."""

    path: str
    captures: tuple[str, ...]
    node: NodePath


def matches(root: WD, pattern: str) -> list[Match]:
    """The files (tables, series, dynamic tables) ``pattern`` matches, in path order.

    Symlinks are followed; directories are skipped.  A pattern matching nothing gives
    an empty list, not an error.
    """
    out: list[Match] = []
    for m in root.glob(pattern):
        np = m.node_path
        if np.is_symlink():
            try:
                np = NodePath(root.get(np.path).node, np.path)
            except (FileNotFoundError, NotADirectoryError):
                continue
        if np.is_dir() or not np.is_file():
            continue
        out.append(Match(np.path, tuple(m.captures), np))
    return out


_CAPTURE = re.compile(r"\$(\d+)")


def substitute(template: str, captures: Sequence[str], what: str) -> str:
    """``template`` with ``$0``, ``$1``... replaced by the captures; ``ConfigError`` naming
    ``what`` when a number has no capture."""

    def one(m: re.Match[str]) -> str:
        index = int(m.group(1))
        if index >= len(captures):
            raise ConfigError(
                f"{what}: {template!r} uses ${index} but the pattern captured "
                f"{len(captures)} value(s)"
            )
        return captures[index]

    return _CAPTURE.sub(one, template)


def stem(path: str) -> str:
    """A file's name without its extension (``/a/BDock.series`` -> ``BDock``)."""
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def _renamed(batch: pa.RecordBatch, column: str | None) -> pa.RecordBatch:
    """``batch`` with its time column called ``timestamp`` (it may be stored under another)."""
    import pyarrow as pa

    if column is None:
        raise FormatError(f"no timestamp column (columns: {', '.join(batch.schema.names)})")
    if column == TIME:
        return batch
    names = [TIME if name == column else name for name in batch.schema.names if name != TIME]
    arrays = [batch.column(name) for name in batch.schema.names if name != TIME]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def rows(
    root: WD, np: NodePath, start: int | None = None, end: int | None = None
) -> Iterator[pa.RecordBatch]:
    """The rows of one input with ``start <= timestamp < end`` (None: unbounded), as
    batches whose time column is ``timestamp``.

    A series is read version by version, oldest first, skipping versions whose recorded
    event range misses the range; Parquet is streamed a batch at a time.  A dynamic
    input is read through its table output.  Raises ``FormatError`` for an input that
    is not a table or has no timestamp column.
    """
    import pyarrow as pa

    from ...query.canonical import find_timestamp_column
    from ...query.sources import PondReader, TimeRange, scan_parts

    span = TimeRange(start, end)
    if np.is_dynamic():
        out = np.output()
        if not isinstance(out, TableOutput):
            raise FormatError(f"{np.path} is computed as bytes, not a table")
        pieces = getattr(out, "pieces", None)
        if callable(pieces):
            # A Join: its scopes' rows one after the other, never the joined table.  A
            # scope without rows still gives its columns, as the joined table has them.
            for piece in pieces(start, end) if span.bounded else pieces():
                if piece.num_rows == 0 and not span.bounded:
                    yield pa.RecordBatch.from_pylist([], schema=piece.schema)
                yield from _slices(piece.to_batches(), TIME, start, end)
            return
        known = out.event_range()
        if span.bounded and known is not None and not span.overlaps(*known):
            return
        column = find_timestamp_column(out.schema())
        yield from _slices(out.batches(), column, start, end)
        return
    if np.node_type not in (FILE_SERIES, FILE_TABLE):
        raise FormatError(f"{np.path} is a {np.node_type}, not a table or series")
    reader = PondReader.of(root)
    parts = (
        reader.series_parts(np, span)
        if np.node_type == FILE_SERIES
        else [reader.table_part(np, span)]
    )
    for part in parts:
        column = part.timestamp_column or find_timestamp_column(part.schema())
        for batch in scan_parts([part], span):
            yield _renamed(batch, column)


def _slices(
    wholes: Iterable[pa.RecordBatch], column: str | None, start: int | None, end: int | None
) -> Iterator[pa.RecordBatch]:
    """Batches cut to at most ``SCAN_BATCH_ROWS`` rows (slices, no copy) and to the range:
    a computed table may come as one batch of millions of rows, and what a consumer builds
    per batch should stay small."""
    from ...query.sources import SCAN_BATCH_ROWS

    for whole in wholes:
        for offset in range(0, whole.num_rows, SCAN_BATCH_ROWS):
            batch = _renamed(whole.slice(offset, SCAN_BATCH_ROWS), column)
            if start is not None or end is not None:
                batch = batch.filter(_mask(batch, start, end))
            if batch.num_rows:
                yield batch


def _mask(batch: pa.RecordBatch, start: int | None, end: int | None) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    ints = batch.column(TIME).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    mask = None
    if start is not None:
        mask = pc.greater_equal(ints, start)
    if end is not None:
        below = pc.less(ints, end)
        mask = below if mask is None else pc.and_(mask, below)
    return mask


def read_table(root: WD, np: NodePath) -> pa.Table | None:
    """Every row of one input as one table (pieces with other columns unioned), or None
    when it has no rows."""
    from ..timeseries._arrow import as_table

    return as_table(list(rows(root, np)))


class ComputedTable:
    """A ``TableOutput`` over a table computed on first use (then kept for this read)."""

    def __init__(
        self,
        compute: Callable[[], pa.Table],
        names: Callable[[], list[str] | None] | None = None,
    ) -> None:
        self._compute = compute
        self._names = names
        self._table: pa.Table | None = None

    def column_names(self) -> list[str] | None:
        """The columns the table will have, when known without computing it (else None):
        what ``pond apply`` checks settings that name columns against."""
        return self._names() if self._names is not None else None

    def table(self) -> pa.Table:
        if self._table is None:
            self._table = self._compute()
        return self._table

    def schema(self) -> pa.Schema:
        return self.table().schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        return iter(self.table().to_batches())

    def event_range(self) -> tuple[int, int] | None:
        from ..timeseries._arrow import micros

        table = self.table()
        if table.num_rows == 0 or TIME not in table.schema.names:
            return None
        times = micros(table)
        return int(times.min()), int(times.max())


def with_description(table: pa.Table, description: Mapping[str, Any]) -> pa.Table:
    """``table`` whose schema metadata says what it was computed from (``pond describe``)."""
    metadata = dict(table.schema.metadata or {})
    metadata[DESCRIBE_KEY] = json.dumps(description).encode()
    return table.replace_schema_metadata(metadata)


def input_record(np: NodePath) -> dict[str, Any]:
    """How ``describe`` names one input: path, node id, type, and the version read."""
    info = np.info()
    return {
        "path": np.path,
        "node_id": np.node_id,
        "type": np.node_type,
        "version": info.version,
    }


def pond_dir_of(root: WD) -> Any:
    """The pond directory under the persistence ``root`` reads through, None if it has none
    (an in-memory pond).  A factory's view wraps the pond's persistence in recording
    layers; the directory is found beneath them."""
    p: Any = root.fs.persistence
    for _ in range(64):
        found = getattr(p, "pond_dir", None)
        if found is not None:
            return found
        p = getattr(p, "base", None)
        if p is None:
            return None
    return None


def base_persistence(root: WD) -> Any:
    """The persistence beneath the recording layers of factory views (reads not recorded)."""
    p: Any = root.fs.persistence
    while getattr(p, "base", None) is not None:
        p = p.base
    return p


def stored_columns(np: NodePath) -> tuple[list[str], list[str]] | None:
    """(numeric columns, every column but timestamps) of a stored table or series, from
    its attributes or Parquet footers; None for a computed one (its columns are known
    only by computing it) or one that cannot be read."""
    from ...errors import PondError
    from ...ingest.versions import parquet_columns

    if np.is_dynamic():
        return None
    try:
        columns = parquet_columns(np)
    except (PondError, OSError, ValueError):
        return None
    numeric = [c["name"] for c in columns if c["type"].startswith(_NUMERIC_TYPES)]
    names = [c["name"] for c in columns if not c["type"].startswith("timestamp")]
    return numeric, names


# Arrow's names of the types Reduce aggregates (integers and floats of every width).
_NUMERIC_TYPES = ("int", "uint", "float", "double", "halffloat")


def unmatched(
    patterns: Sequence[str], among: Sequence[str], names: Sequence[str], what: str
) -> list[str]:
    """For each of ``patterns`` (names or ``*`` globs) matching none of ``among``: the
    problem, saying ``what`` it should match, listing ``names`` (the input's columns)
    and the closest of them."""
    import difflib
    import fnmatch

    found = []
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(name, pattern) for name in among):
            continue
        close = difflib.get_close_matches(pattern, names, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        found.append(f"{pattern!r} matches no {what} (columns: {', '.join(names)}){hint}")
    return found
