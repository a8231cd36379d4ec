"""The committed rows of the oplog, read from the Delta snapshot's Parquet files.

Only row metadata is indexed; content is read when asked for, one Parquet
row group at a time, and kept in a small cache (data files are immutable).

Rows are loaded one partition at a time, on demand.  A node's rows all live
in one partition (a directory's own id, or a file's first parent's id), and
reading a directory tells us which partition each child lives in, so
resolving a path reads only the partitions along it.  A lookup that misses
loads everything, which is what a cold start of the old design did anyway.

Time travel is a filter: the oplog is append-only (but for the versions
``pond maintain --keep`` deletes, which no kept transaction reads), so the
state after transaction N is the rows with ``txn_seq <= N`` of the newest snapshot.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import PondCorruptError
from .arrays import int64s, strings
from .oplog import INDEX_SCHEMA, METADATA_COLUMNS, PARTITION_COLUMN

# Bounds memory held by decoded content columns; one row group can exceed it
# and is then kept alone.
CONTENT_CACHE_BYTES = 64 * 1024 * 1024
# Data files kept open for reading content (each holds a file descriptor and its footer).
_OPEN_FILES = 8


@dataclass(slots=True)
class Row:
    """One version of one node, without its content."""

    part_id: str
    node_id: str
    file_type: str
    version: int
    txn_seq: int
    timestamp_us: int
    sha256: str
    size: int
    min_event_time: int | None
    max_event_time: int | None
    attributes: str | None
    # Where the content is: a Parquet file and the row's position in it.
    # None for rows of the open transaction.
    path: str | None = None
    position: int = -1


@dataclass(slots=True)
class _DataFile:
    path: str
    part_id: str
    min_txn: int | None
    max_txn: int | None
    min_node: str | None
    max_node: str | None

    def may_hold(self, node_id: str) -> bool:
        if self.min_node is None or self.max_node is None:
            return True
        # A writer may truncate string statistics; a truncated max is a prefix.
        return self.min_node <= node_id and (
            node_id <= self.max_node or node_id.startswith(self.max_node)
        )


def _column(table: pa.Table, name: str) -> list[Any]:
    if name not in table.column_names:
        return [None] * table.num_rows
    column = table.column(name)
    if pa.types.is_timestamp(column.type):
        # Integers, not datetimes; view() rather than cast(), which would
        # import pyarrow.compute (60 ms) on the first read of a process.
        return [v for chunk in column.chunks for v in chunk.view(pa.int64()).to_pylist()]
    values: list[Any] = column.to_pylist()
    return values


class RowIndex:
    """Committed rows visible at ``limit`` (None: all), by node, loaded by partition."""

    def __init__(
        self,
        table_root: Path,
        limit: int | None = None,
        opener: Callable[[str], Any] | None = None,
    ) -> None:
        self._root = table_root
        # How a data file is opened: its path, or (a pond read in place) its fetched bytes.
        self._open: Callable[[str], Any] = opener or (lambda path: path)
        self._limit = limit
        self._known: set[str] = set()
        self._unloaded: dict[str, list[_DataFile]] = {}
        self._loaded: set[str] = set()
        self._rows: dict[str, list[Row]] = {}
        self._hints: dict[str, str] = {}
        self._row_groups: dict[str, list[int]] = {}
        self._content: OrderedDict[tuple[str, int], pa.ChunkedArray] = OrderedDict()
        self._content_bytes = 0
        # Data files open for content reads (full path -> ParquetFile), newest used last:
        # opening one parses its footer, which lists every row group (a compacted file
        # of a year's series: over a thousand), so a reader going through many versions
        # must not open it again for each row group.
        self._parquet: OrderedDict[str, pq.ParquetFile] = OrderedDict()
        self._files: dict[str, _DataFile] = {}
        # Per loaded data file (full path): how many rows of each node it holds.
        self._file_nodes: dict[str, dict[str, int]] = {}
        # Rows read by _load_file and not yet merged into _rows (by _merge_loaded).
        self._pending: dict[str, list[Row]] = {}
        self.max_txn = 0

    # -- the file listing ----------------------------------------------------

    def sync(self, add_actions: pa.Table) -> None:
        """Bring the index to a snapshot given by its add actions (``get_add_actions(flatten=True)``).

        New files are indexed; the rows of files that disappeared (compaction rewrote
        them, or ``pond maintain`` removed them) are dropped, and those of their
        replacements read from the new files alone, so a compaction costs what it
        rewrote, not what the partition holds (see ``_sync_listing``).
        """
        self._sync_listing(self._read_listing(add_actions))

    def sync_files(self, files: Iterable[tuple[str, str, int, int, str, str]]) -> None:
        """Bring the index to a snapshot given as its data files, without the Delta library.

        Each file is ``(path relative to the table root, part_id, min txn_seq,
        max txn_seq, min node_id, max node_id)``, as its ``add`` action's
        statistics give them (a mirror reading the Delta log's newest entries).
        """
        self._sync_listing({f[0]: _DataFile(*f) for f in files})

    def _sync_listing(self, files: dict[str, _DataFile]) -> None:
        gone = self._known - files.keys()
        if gone:
            self._forget(gone)
        new = [f for path, f in files.items() if path not in self._known]
        self._known = set(files)
        self._files = files
        new.sort(key=lambda f: f.min_txn or 0)
        unknown: set[str] = set()
        for f in new:
            if f.max_txn is None:
                # Written without statistics: only reading it tells which txns it holds.
                unknown.add(f.part_id)
            else:
                self.max_txn = max(self.max_txn, f.max_txn)
            if self._limit is not None and f.min_txn is not None and f.min_txn > self._limit:
                continue
            if f.part_id in self._loaded:
                self._load_file(f)
            else:
                self._unloaded.setdefault(f.part_id, []).append(f)
        self._merge_loaded()
        for part_id in unknown:
            self.load_partition(part_id)

    def _read_listing(self, add_actions: pa.Table) -> dict[str, _DataFile]:
        paths = _column(add_actions, "path")
        parts = _column(add_actions, f"partition.{PARTITION_COLUMN}")
        stats = [
            _column(add_actions, name)
            for name in ("min.txn_seq", "max.txn_seq", "min.node_id", "max.node_id")
        ]
        files: dict[str, _DataFile] = {}
        for path, part, *ranges in zip(paths, parts, *stats, strict=True):
            if part is None:
                raise PondCorruptError(f"data file without a {PARTITION_COLUMN}: {path}")
            files[path] = _DataFile(path, part, *ranges)
        return files

    def clear_cache(self) -> None:
        self._content.clear()
        self._content_bytes = 0
        self._close_files(list(self._parquet))

    def _forget(self, gone: set[str]) -> None:
        """Drop what the index knows of the data files ``gone`` (relative paths): their
        rows, row groups and cached content.  A file of a partition not loaded yet is
        only struck from the listing.

        Each file's rows per node were counted when it was loaded; a compaction
        rewrites a partition's newest files, whose rows are the tail of each node's
        list, so they are cut off the end in O(rows dropped); otherwise the node's
        list is filtered whole.
        """
        for part_id, unloaded in list(self._unloaded.items()):
            kept = [f for f in unloaded if f.path not in gone]
            if len(kept) != len(unloaded):
                self._unloaded[part_id] = kept
        full_gone = {str(self._root / path) for path in gone}
        dropped: dict[str, int] = {}
        for full in full_gone:
            for node_id, count in self._file_nodes.pop(full, {}).items():
                dropped[node_id] = dropped.get(node_id, 0) + count
            self._row_groups.pop(full, None)
        for node_id, count in dropped.items():
            rows = self._rows.get(node_id)
            if rows is None:
                continue
            tail = rows[-count:] if count <= len(rows) else None
            if tail is not None and all(r.path in full_gone for r in tail):
                del rows[-count:]
            else:
                rows[:] = [r for r in rows if r.path not in full_gone]
            if not rows:
                del self._rows[node_id]
        for key in [k for k in self._content if k[0] in full_gone]:
            self._content_bytes -= self._content.pop(key).nbytes
        self._close_files([path for path in self._parquet if path in full_gone])
        self._known -= gone
        self._files = {p: f for p, f in self._files.items() if p not in gone}

    def changed_since(self, txn: int) -> dict[str, set[str]] | None:
        """Node id -> the entry types of its rows committed after ``txn`` (and visible).

        Reads only the data files whose statistics say they hold such rows, and
        only three columns of them.  None when a file has no statistics.
        """
        changes = self.changes_since(txn)
        if changes is None:
            return None
        changed: dict[str, set[str]] = {}
        for node_id, _, file_type in changes:
            changed.setdefault(node_id, set()).add(file_type)
        return changed

    def changes_since(self, txn: int) -> list[tuple[str, str, str]] | None:
        """``(node id, partition id, entry type)`` of each visible row committed after ``txn``.

        The partition is where the node's rows live: a directory's own id, a file's
        first parent's.  As cheap as ``changed_since``; None when a file has no statistics.
        """
        changes: list[tuple[str, str, str]] = []
        for f in self._files.values():
            if f.max_txn is None:
                return None
            if f.max_txn <= txn or (
                self._limit is not None and f.min_txn is not None and f.min_txn > self._limit
            ):
                continue
            full = str(self._root / f.path)
            try:
                # ParquetFile, not read_table: that would import pyarrow.dataset (0.3 s).
                # Through the opener: a pond read in place from a store has no local files.
                table = pq.ParquetFile(self._open(full)).read(
                    columns=["node_id", "file_type", "txn_seq"]
                )
            except (OSError, pa.ArrowInvalid) as e:
                raise PondCorruptError(f"cannot read oplog data file {full}: {e}") from e
            for node_id, file_type, txn_seq in zip(
                *(_column(table, name) for name in ("node_id", "file_type", "txn_seq")),
                strict=True,
            ):
                if txn_seq > txn and (self._limit is None or txn_seq <= self._limit):
                    changes.append((node_id, f.part_id, file_type))
        return changes

    # -- rows ----------------------------------------------------------------

    def hint(self, node_id: str, part_id: str) -> None:
        """Record where a node's rows probably are (learnt from a directory listing)."""
        self._hints[node_id] = part_id

    def lookup(self, node_id: str) -> list[Row] | None:
        """A node's committed rows, oldest first, or None if it has none."""
        rows = self._rows.get(node_id)
        if rows is not None:
            return rows
        # Rows only ever enter by whole partitions, so a node seen is complete.
        first = self._hints.get(node_id, node_id)
        if first in self._unloaded:
            self.load_partition(first)
            if node_id in self._rows:
                return self._rows[node_id]
        # A moved file lives in its first parent's partition, an unknown id
        # in none: the files' node_id ranges narrow the search.
        candidates = [
            part
            for part, files in self._unloaded.items()
            if any(f.may_hold(node_id) for f in files)
        ]
        for part in candidates:
            self.load_partition(part)
            if node_id in self._rows:
                return self._rows[node_id]
        return None

    def load_partition(self, part_id: str) -> None:
        files = self._unloaded.pop(part_id, [])
        self._loaded.add(part_id)
        for f in files:
            self._load_file(f)
        self._merge_loaded()

    def load_all(self) -> None:
        for part_id in list(self._unloaded):
            self.load_partition(part_id)

    def all_rows(self) -> Iterator[Row]:
        self.load_all()
        for rows in self._rows.values():
            yield from rows

    def table(self) -> pa.Table:
        """Every visible row's metadata, as the query layer's ``nodes`` table."""
        rows = sorted(self.all_rows(), key=lambda r: (r.txn_seq, r.node_id, r.version))
        return pa.Table.from_arrays(
            [
                strings([r.part_id for r in rows]),
                strings([r.node_id for r in rows]),
                strings([r.file_type for r in rows]),
                int64s([r.version for r in rows]),
                int64s([r.txn_seq for r in rows]),
                int64s([r.timestamp_us for r in rows], INDEX_SCHEMA.field("timestamp").type),
                strings([r.sha256 for r in rows]),
                int64s([r.size for r in rows]),
                int64s([r.min_event_time for r in rows]),
                int64s([r.max_event_time for r in rows]),
                strings([r.attributes for r in rows]),
            ],
            schema=INDEX_SCHEMA,
        )

    def _load_file(self, f: _DataFile) -> set[str]:
        """Index one data file's visible rows; return the nodes it touched."""
        full = str(self._root / f.path)
        try:
            parquet = pq.ParquetFile(self._open(full))
            table = parquet.read(columns=METADATA_COLUMNS)
        except (OSError, pa.ArrowInvalid) as e:
            raise PondCorruptError(f"cannot read oplog data file {full}: {e}") from e
        meta = parquet.metadata
        offsets = [0]
        for i in range(meta.num_row_groups):
            offsets.append(offsets[-1] + meta.row_group(i).num_rows)
        self._row_groups[full] = offsets[:-1]
        cols = [_column(table, name) for name in METADATA_COLUMNS]
        touched: set[str] = set()
        counts: dict[str, int] = {}
        for position, values in enumerate(zip(*cols, strict=True)):
            node_id, file_type, version, txn_seq, ts, sha, size, lo, hi, attrs = values
            self.max_txn = max(self.max_txn, txn_seq)
            if self._limit is not None and txn_seq > self._limit:
                continue
            row = Row(
                f.part_id,
                node_id,
                file_type,
                version,
                txn_seq,
                ts,
                sha,
                size,
                lo,
                hi,
                attrs,
                full,
                position,
            )
            self._pending.setdefault(node_id, []).append(row)
            touched.add(node_id)
            counts[node_id] = counts.get(node_id, 0) + 1
        self._file_nodes[full] = counts
        return touched

    def _merge_loaded(self) -> None:
        """Merge the rows ``_load_file`` read into each node's list, in version order.

        Rows read mostly come after a node's rows known already (a commit's, or a
        compaction's of the newest files, whose rows were cut off the end): they are
        sorted among themselves and appended, and only a list they would interleave
        with is sorted whole."""
        version = attrgetter("version")
        for node_id, new in self._pending.items():
            if any(a.version > b.version for a, b in pairwise(new)):
                new.sort(key=version)
            rows = self._rows.get(node_id)
            if rows is None:
                self._rows[node_id] = new
                continue
            interleaved = rows[-1].version > new[0].version
            rows.extend(new)
            if interleaved:
                rows.sort(key=version)
        self._pending.clear()

    # -- content -------------------------------------------------------------

    def content(self, row: Row) -> bytes | None:
        """A committed row's inline content; None if it lives in a blob."""
        if row.path is None:
            raise ValueError("row has no data file")
        offsets = self._row_groups[row.path]
        group = bisect.bisect_right(offsets, row.position) - 1
        key = (row.path, group)
        column = self._content.get(key)
        if column is None:
            column = self._parquet_file(row.path).read_row_group(group, columns=["content"])
            column = column.column(0)
            self._remember(key, column)
        else:
            self._content.move_to_end(key)
        value: bytes | None = column[row.position - offsets[group]].as_py()
        return value

    def _parquet_file(self, path: str) -> pq.ParquetFile:
        """Data file ``path`` opened for reading (kept open for the next row group)."""
        parquet = self._parquet.get(path)
        if parquet is not None:
            self._parquet.move_to_end(path)
            return parquet
        try:
            parquet = pq.ParquetFile(self._open(path))
        except FileNotFoundError:
            # Compaction replaced the file and pond maintain removed it since we looked.
            raise PondCorruptError(
                f"oplog data file {path} is gone (the pond was maintained "
                "while this reader ran): open the pond again"
            ) from None
        self._parquet[path] = parquet
        if len(self._parquet) > _OPEN_FILES:
            self._close_files([next(iter(self._parquet))])
        return parquet

    def _close_files(self, paths: list[str]) -> None:
        for path in paths:
            self._parquet.pop(path).close()

    def _remember(self, key: tuple[str, int], column: pa.ChunkedArray) -> None:
        self._content[key] = column
        self._content_bytes += column.nbytes
        while self._content_bytes > CONTENT_CACHE_BYTES and len(self._content) > 1:
            _, old = self._content.popitem(last=False)
            self._content_bytes -= old.nbytes
