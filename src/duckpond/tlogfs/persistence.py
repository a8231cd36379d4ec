"""TLogFS: TinyFS persistence on a Delta Lake operation log.

The pond's Delta table (``$POND/data``) holds one row per version of each
node (DESIGN.md, "On-disk format").  A transaction buffers its writes in
memory and commits them as one record batch in one Delta commit, whose
commit metadata records ``txn_seq``, the command line, the user and the
time.  Content of 64 KiB or more goes to content-addressed blobs, written
before the commit that names them.

Choices worth knowing:

- Each ``write_version`` is a version, even twice in one transaction; a
  directory changed many times in one transaction gets one version, its
  final entry table, written at commit.
- ``begin`` takes the writer lock (re-entrant, so a caller may already hold
  it) and refreshes to the newest snapshot; ``commit`` and ``rollback``
  release it.  The commit refuses to land if another process committed in
  between, which the lock should make impossible anyway.
- A store opened at a past transaction or time is read-only, even when that
  happens to be the newest transaction: a view pinned to a past state must
  not move.
- Every ``maintenance_interval`` Delta versions past the last checkpoint, a
  commit compacts small files and writes a checkpoint, so commit and open
  costs stay flat.  Those commits carry no ``txn_seq`` and are not pond
  transactions.  Nothing here ever vacuums: old files are what time travel
  reads in other engines, and rows never leave the log.

Not thread-safe: one instance belongs to one thread at a time.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sys
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
from deltalake import (
    CommitProperties,
    DeltaTable,
    PostCommitHookProperties,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import DeltaError

from ..errors import (
    ConfigError,
    PondCorruptError,
    PondExistsError,
    PondNotFoundError,
    ReadOnlyError,
    TransactionError,
)
from ..tinyfs.ids import uuid7
from ..tinyfs.persistence import (
    DIRECTORY,
    NODE_TYPES,
    ROOT_ID,
    DirEntry,
    VersionInfo,
    is_dir_type,
)
from .arrays import binaries, int64s, strings
from .blobs import BlobStore
from .index import Row, RowIndex
from .layout import DATA_DIR, LARGE_FILE_THRESHOLD, LARGE_FILES_DIR
from .lock import DEFAULT_TIMEOUT, WriterLock
from .oplog import PARTITION_COLUMN, SCHEMA, decode_entries, encode_entries

MAINTENANCE_INTERVAL = 100
# Data files one partition may gather before it is compacted on its own.
PARTITION_FILE_LIMIT = 16

TABLE_CONFIGURATION = {
    # Without this, Delta drops log entries older than logRetentionDuration
    # once checkpoints exist, silently ending time travel to them.
    "delta.enableExpiredLogCleanup": "false",
    # The oplog only grows: refuse deletes and updates by any writer.
    # Compaction is still allowed (its removes carry dataChange=false).
    "delta.appendOnly": "true",
}

# We checkpoint on our own schedule, together with compaction.
_HOOKS = PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False)
# Small row groups: reading one version's content decodes one row group.
_WRITER = WriterProperties(max_row_group_size=256, compression="ZSTD")

# Keys of Delta's own commit info, which pond metadata must not shadow.
_DELTA_COMMIT_KEYS = frozenset(
    {
        "timestamp",
        "operation",
        "operationParameters",
        "operationMetrics",
        "engineInfo",
        "clientVersion",
        "version",
        "readVersion",
        "isolationLevel",
        "isBlindAppend",
        "userMetadata",
        "userId",
        "userName",
    }
)
_RESERVED_METADATA = _DELTA_COMMIT_KEYS | {"txn_seq", "time"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BATCH_CONTENT_LIMIT = 1 << 30
_DIR_CACHE_SIZE = 1024


def _now_us() -> int:
    return time.time_ns() // 1000


def _datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # No passwd entry (containers): the uid still says who it was.
        return str(os.getuid())


def _as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@dataclass
class _PendingDir:
    """A directory's entry table as the open transaction leaves it."""

    node_id: str
    version: int
    entries: dict[str, DirEntry]
    timestamp_us: int
    _encoded: tuple[bytes, str] | None = field(default=None, repr=False)

    def encoded(self) -> bytes:
        return self._encode()[0]

    def _encode(self) -> tuple[bytes, str]:
        if self._encoded is None:
            data = encode_entries(self.entries)
            self._encoded = (data, hashlib.sha256(data).hexdigest())
        return self._encoded

    def touch(self) -> None:
        self._encoded = None
        self.timestamp_us = _now_us()

    def row(self, txn_seq: int) -> Row:
        data, digest = self._encode()
        return Row(
            part_id=self.node_id,
            node_id=self.node_id,
            file_type=DIRECTORY,
            version=self.version,
            txn_seq=txn_seq,
            timestamp_us=self.timestamp_us,
            sha256=digest,
            size=len(data),
            min_event_time=None,
            max_event_time=None,
            attributes=None,
        )


class DeltaPersistence:
    """The ``Persistence`` protocol over ``<pond>/data``; make one with ``create`` or ``open``."""

    def __init__(
        self,
        pond_dir: Path,
        table: DeltaTable,
        *,
        at_txn: int | None = None,
        at: datetime | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
        maintenance_interval: int = MAINTENANCE_INTERVAL,
    ) -> None:
        if at_txn is not None and at is not None:
            raise ConfigError("give a transaction or a time to read at, not both")
        self.pond_dir = pond_dir
        self._data_dir = pond_dir / DATA_DIR
        self._dt = table
        self._blobs = BlobStore(self._data_dir / LARGE_FILES_DIR)
        self._lock = WriterLock(pond_dir, lock_timeout)
        self._maintenance_interval = maintenance_interval
        self._dirs: OrderedDict[tuple[str, int], dict[str, DirEntry]] = OrderedDict()

        if at is not None:
            at_txn = self._txn_at(_as_utc(at))
        # One listing of the data files: an index limited to at_txn still counts
        # every transaction in max_txn, which bounds at_txn.
        self._index = RowIndex(self._data_dir, limit=at_txn)
        self._index.sync(self._add_actions())
        last = self._index.max_txn
        if last < 1:
            raise PondCorruptError(f"{self._data_dir} holds no pond transactions")
        if at_txn is not None and not 1 <= at_txn <= last:
            raise ConfigError(f"no transaction {at_txn}: this pond has transactions 1 to {last}")
        self._last_txn = at_txn if at_txn is not None else last
        self._read_only = at_txn is not None
        self._at_txn = at_txn

        self._in_txn = False
        self._pending: dict[str, list[Row]] = {}
        self._pending_content: dict[tuple[str, int], bytes] = {}
        self._pending_dirs: dict[str, _PendingDir] = {}
        self._new_nodes: set[str] = set()
        self._new_blobs: set[str] = set()

    # -- making and opening ponds ------------------------------------------------

    @classmethod
    def create(
        cls,
        pond_dir: str | os.PathLike[str],
        *,
        metadata: Mapping[str, Any] | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
        maintenance_interval: int = MAINTENANCE_INTERVAL,
    ) -> DeltaPersistence:
        """Create a pond whose transaction 1 makes the empty root directory."""
        pond = Path(pond_dir)
        data = pond / DATA_DIR
        if pond.exists() and not pond.is_dir():
            raise PondExistsError(f"{pond} exists and is not a directory")
        pond.mkdir(parents=True, exist_ok=True)
        with WriterLock(pond, lock_timeout):
            if data.exists() and any(data.iterdir()):
                raise PondExistsError(f"a pond already exists at {pond}")
            (data / LARGE_FILES_DIR).mkdir(parents=True, exist_ok=True)
            root = _PendingDir(ROOT_ID, 1, {}, _now_us())
            commit_metadata = _commit_metadata(1, metadata)
            # The table and the root row are one Delta commit (version 0):
            # there is never a pond without its first transaction.
            write_deltalake(
                data,
                _record_batches([root.row(1)], {(ROOT_ID, 1): root.encoded()}),
                mode="error",
                partition_by=[PARTITION_COLUMN],
                configuration=TABLE_CONFIGURATION,
                writer_properties=_WRITER,
                commit_properties=CommitProperties(custom_metadata=commit_metadata),
                post_commithook_properties=_HOOKS,
            )
        return cls.open(pond, lock_timeout=lock_timeout, maintenance_interval=maintenance_interval)

    @classmethod
    def open(
        cls,
        pond_dir: str | os.PathLike[str],
        *,
        at_txn: int | None = None,
        at: datetime | None = None,
        lock_timeout: float = DEFAULT_TIMEOUT,
        maintenance_interval: int = MAINTENANCE_INTERVAL,
    ) -> DeltaPersistence:
        """Open a pond, at its newest state or read-only as of ``at_txn`` or ``at``."""
        pond = Path(pond_dir)
        data = pond / DATA_DIR
        if not data.is_dir():
            raise PondNotFoundError(f"no pond at {pond}")
        try:
            table = DeltaTable(data)
        except DeltaError as e:
            raise PondCorruptError(f"{data} is not a readable Delta table: {_first_line(e)}") from e
        names = set(pa.schema(table.schema()).names)
        missing = [n for n in SCHEMA.names if n not in names]
        if missing:
            raise PondCorruptError(
                f"{data} is not a pond oplog (missing columns: {', '.join(missing)})"
            )
        return cls(
            pond,
            table,
            at_txn=at_txn,
            at=at,
            lock_timeout=lock_timeout,
            maintenance_interval=maintenance_interval,
        )

    def close(self) -> None:
        """Roll back an open transaction and drop cached content."""
        if self._in_txn:
            self.rollback()
        self._dirs.clear()
        self._index.clear_cache()

    def __enter__(self) -> DeltaPersistence:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- state -----------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def in_transaction(self) -> bool:
        return self._in_txn

    @property
    def last_txn(self) -> int:
        """The newest transaction visible: the pinned one for a past view."""
        return self._last_txn

    # -- reads -----------------------------------------------------------------

    def _committed(self, node_id: str) -> list[Row]:
        if node_id in self._new_nodes:
            return []
        return self._index.lookup(node_id) or []

    def _head(self, node_id: str) -> Row:
        """The newest row of a node, the open transaction's included."""
        pending_dir = self._pending_dirs.get(node_id)
        if pending_dir is not None:
            return pending_dir.row(self._last_txn + 1)
        pending = self._pending.get(node_id)
        if pending:
            return pending[-1]
        rows = self._committed(node_id)
        if not rows:
            raise FileNotFoundError(f"no such node: {node_id}")
        return rows[-1]

    def node_type(self, node_id: str) -> str:
        # A directory changed in this transaction is a directory: asking its
        # head row would re-encode its whole entry table on every insert.
        if node_id in self._pending_dirs:
            return DIRECTORY
        return self._head(node_id).file_type

    def latest(self, node_id: str) -> VersionInfo:
        return _info(self._head(node_id))

    def versions(self, node_id: str) -> list[VersionInfo]:
        rows = [*self._committed(node_id), *self._pending.get(node_id, [])]
        pending_dir = self._pending_dirs.get(node_id)
        if pending_dir is not None:
            rows.append(pending_dir.row(self._last_txn + 1))
        if not rows:
            raise FileNotFoundError(f"no such node: {node_id}")
        return [_info(r) for r in rows]

    def read_dir(self, dir_id: str) -> Mapping[str, DirEntry]:
        pending_dir = self._pending_dirs.get(dir_id)
        if pending_dir is not None:
            return dict(pending_dir.entries)
        return dict(self._committed_entries(dir_id))

    def _committed_entries(self, dir_id: str) -> dict[str, DirEntry]:
        head = self._head(dir_id)
        if head.file_type != DIRECTORY:
            raise NotADirectoryError(f"not a directory: {dir_id}")
        key = (dir_id, head.version)
        entries = self._dirs.get(key)
        if entries is not None:
            self._dirs.move_to_end(key)
            return entries
        entries = decode_entries(self._row_bytes(head))
        for entry in entries.values():
            # Directories are their own partition; everything else sits in its parent's.
            self._index.hint(
                entry.node_id, entry.node_id if entry.node_type == DIRECTORY else dir_id
            )
        self._dirs[key] = entries
        if len(self._dirs) > _DIR_CACHE_SIZE:
            self._dirs.popitem(last=False)
        return entries

    def read_bytes(self, node_id: str, version: int | None = None) -> bytes:
        if version is None:
            pending_dir = self._pending_dirs.get(node_id)
            if pending_dir is not None:
                return pending_dir.encoded()
        return self._row_bytes(self._row(node_id, version))

    def _row(self, node_id: str, version: int | None) -> Row:
        if version is None:
            return self._head(node_id)
        pending_dir = self._pending_dirs.get(node_id)
        if pending_dir is not None and pending_dir.version == version:
            return pending_dir.row(self._last_txn + 1)
        rows = [*self._committed(node_id), *self._pending.get(node_id, [])]
        if not rows and pending_dir is None:
            raise FileNotFoundError(f"no such node: {node_id}")
        # Versions are 1..n, so the list position is the first guess.
        if 0 < version <= len(rows) and rows[version - 1].version == version:
            return rows[version - 1]
        for row in rows:
            if row.version == version:
                return row
        raise FileNotFoundError(f"node {node_id} has no version {version}")

    def _row_bytes(self, row: Row) -> bytes:
        if row.path is None and row.file_type == DIRECTORY:
            return self._pending_dirs[row.node_id].encoded()
        if row.size < LARGE_FILE_THRESHOLD:
            if row.path is None:
                inline = self._pending_content.get((row.node_id, row.version))
            else:
                inline = self._index.content(row)
            if inline is not None:
                return inline
        try:
            return self._blobs.get(row.sha256)
        except FileNotFoundError:
            raise PondCorruptError(
                f"version {row.version} of node {row.node_id} names a missing blob "
                f"sha256={row.sha256} (run fsck)"
            ) from None

    def local_path(self, node_id: str, version: int | None = None) -> Path | None:
        """The blob file holding a large version's bytes, or None if they are inline."""
        row = self._row(node_id, version)
        # A directory's table reaches a blob only when its transaction commits.
        pending_dir = row.path is None and row.file_type == DIRECTORY
        if row.size < LARGE_FILE_THRESHOLD or pending_dir:
            return None
        return self._blobs.path(row.sha256)

    def all_rows(self) -> pa.Table:
        """Every committed, visible version's metadata (no content), for SQL system tables."""
        return self._index.table()

    # -- transaction history ------------------------------------------------------

    def transactions(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The pond transactions visible here, newest first, from the Delta commit log.

        With ``limit``, only the newest commits are read (more if maintenance
        commits or a past view hide some), so ``pond log -n 5`` costs the same
        on a pond of any age.
        """
        ask = None if limit is None else limit + 8
        while True:
            commits = self._dt.history(ask)
            found = [_transaction(c) for c in commits if "txn_seq" in c]
            visible = [t for t in found if t["txn_seq"] <= self._last_txn]
            if ask is None or limit is None or len(visible) >= limit or len(commits) < ask:
                break
            ask *= 4
        visible.sort(key=lambda t: t["txn_seq"], reverse=True)
        return visible if limit is None else visible[:limit]

    def _txn_at(self, at: datetime) -> int:
        found = [_transaction(c) for c in self._dt.history() if "txn_seq" in c]
        before = [t["txn_seq"] for t in found if t["timestamp"] <= at]
        if not before:
            first = min((t["timestamp"] for t in found), default=None)
            since = f" (the first was at {first.isoformat()})" if first else ""
            raise ConfigError(f"no transaction at or before {at.isoformat()}{since}")
        return int(max(before))

    # -- writes -------------------------------------------------------------------

    def _require_txn(self) -> None:
        if not self._in_txn:
            raise TransactionError("write outside a transaction")

    def create_node(
        self,
        parent_id: str,
        node_type: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> str:
        self._require_txn()
        if node_type not in NODE_TYPES:
            raise ValueError(f"unknown node type {node_type!r}")
        if not is_dir_type(self.node_type(parent_id)):
            raise NotADirectoryError(f"not a directory: {parent_id}")
        node_id = uuid7()
        self._new_nodes.add(node_id)
        if node_type == DIRECTORY:
            if content:
                raise ValueError("a directory's content is its entries: use update_dir")
            self._pending_dirs[node_id] = _PendingDir(node_id, 1, {}, _now_us())
        else:
            self._add_version(parent_id, node_id, node_type, 1, content, attributes, event_range)
        return node_id

    def write_version(
        self,
        node_id: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> VersionInfo:
        self._require_txn()
        head = self._head(node_id)
        if head.file_type == DIRECTORY:
            raise IsADirectoryError(f"a directory's versions come from update_dir: {node_id}")
        row = self._add_version(
            head.part_id,
            node_id,
            head.file_type,
            head.version + 1,
            content,
            attributes,
            event_range,
        )
        return _info(row)

    def _add_version(
        self,
        part_id: str,
        node_id: str,
        node_type: str,
        version: int,
        content: bytes,
        attributes: Mapping[str, Any] | None,
        event_range: tuple[int, int] | None,
    ) -> Row:
        data = bytes(content)
        digest = hashlib.sha256(data).hexdigest()
        if len(data) >= LARGE_FILE_THRESHOLD:
            # Written now, not at commit, so a big transaction does not hold
            # all its bytes in memory; rollback deletes what it created.
            if self._blobs.put(digest, data):
                self._new_blobs.add(digest)
        else:
            self._pending_content[(node_id, version)] = data
        row = Row(
            part_id=part_id,
            node_id=node_id,
            file_type=node_type,
            version=version,
            txn_seq=self._last_txn + 1,
            timestamp_us=_now_us(),
            sha256=digest,
            size=len(data),
            min_event_time=event_range[0] if event_range else None,
            max_event_time=event_range[1] if event_range else None,
            attributes=json.dumps(dict(attributes), sort_keys=True) if attributes else None,
        )
        self._pending.setdefault(node_id, []).append(row)
        return row

    def update_dir(
        self,
        dir_id: str,
        *,
        insert: Mapping[str, DirEntry] = {},
        delete: frozenset[str] = frozenset(),
    ) -> None:
        self._require_txn()
        pending_dir = self._pending_dirs.get(dir_id)
        if pending_dir is None:
            head = self._head(dir_id)
            entries = dict(self._committed_entries(dir_id))
            pending_dir = _PendingDir(dir_id, head.version + 1, entries, _now_us())
            self._pending_dirs[dir_id] = pending_dir
        for name in delete:
            pending_dir.entries.pop(name, None)
        pending_dir.entries.update(insert)
        pending_dir.touch()

    # -- transactions -------------------------------------------------------------

    def begin(self) -> None:
        if self._read_only:
            raise ReadOnlyError(
                f"this pond is open as of transaction {self._last_txn}, a past state; "
                "it cannot be written"
            )
        if self._in_txn:
            raise TransactionError("a transaction is already open")
        self._lock.acquire()
        try:
            self.refresh()
        except BaseException:
            self._lock.release()
            raise
        self._in_txn = True

    def refresh(self) -> None:
        """Catch up with commits other processes made since we last looked.

        ``begin`` does this under the lock; a long-lived reader may call it
        between reads.  A past view never moves.
        """
        if self._read_only or self._in_txn:
            return
        before = self._dt.version()
        # Delta versions are consecutive files: if the next one is absent,
        # nothing changed, and we skip update_incremental (about 10 ms once
        # a hundred commits separate us from the last checkpoint).
        next_commit = self._data_dir / "_delta_log" / f"{before + 1:020d}.json"
        if not next_commit.exists():
            return
        self._dt.update_incremental()
        if self._dt.version() != before:
            self._index.sync(self._add_actions())
            self._last_txn = max(self._last_txn, self._index.max_txn)

    def commit(self, metadata: Mapping[str, Any] | None = None) -> int | None:
        self._require_txn()
        if not self._pending and not self._pending_dirs:
            self._end_txn()
            return None
        txn_seq = self._last_txn + 1
        try:
            commit_metadata = _commit_metadata(txn_seq, metadata)
            rows = [row for rows in self._pending.values() for row in rows]
            contents = dict(self._pending_content)
            for pending_dir in self._pending_dirs.values():
                row = pending_dir.row(txn_seq)
                rows.append(row)
                if row.size < LARGE_FILE_THRESHOLD:
                    contents[(row.node_id, row.version)] = pending_dir.encoded()
                elif self._blobs.put(row.sha256, pending_dir.encoded()):
                    self._new_blobs.add(row.sha256)
            batches = _record_batches(rows, contents)
            if any(row.size >= LARGE_FILE_THRESHOLD for row in rows):
                self._blobs.sync()
            write_deltalake(
                self._dt,
                batches,
                mode="append",
                writer_properties=_WRITER,
                # No retries: land only on the snapshot this txn_seq was computed from.
                commit_properties=CommitProperties(
                    custom_metadata=commit_metadata, max_commit_retries=0
                ),
                post_commithook_properties=_HOOKS,
            )
        except DeltaError as e:
            # Blobs are kept: whether the commit landed is unknown; recover
            # removes any that no committed row names.
            self._end_txn()
            raise TransactionError(
                f"commit of transaction {txn_seq} failed: {_first_line(e)}"
            ) from e
        except BaseException:
            self.rollback()
            raise
        try:
            self._last_txn = txn_seq
            actions = self._add_actions()
            self._index.sync(actions)
            self._maybe_maintain({row.part_id for row in rows}, actions)
        finally:
            self._end_txn()
        return txn_seq

    def rollback(self) -> None:
        self._require_txn()
        for digest in self._new_blobs:
            self._blobs.remove(digest)
        self._end_txn()

    def _end_txn(self) -> None:
        self._pending.clear()
        self._pending_content.clear()
        self._pending_dirs.clear()
        self._new_nodes.clear()
        self._new_blobs.clear()
        self._in_txn = False
        self._lock.release()

    # -- maintenance --------------------------------------------------------------

    def _last_checkpoint(self) -> int:
        try:
            text = (self._data_dir / "_delta_log" / "_last_checkpoint").read_text()
            return int(json.loads(text)["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def _maybe_maintain(self, touched: set[str], actions: pa.Table) -> None:
        try:
            if self._dt.version() - self._last_checkpoint() >= self._maintenance_interval:
                self._maintain()
                return
            # A directory written in every commit gains a data file per commit,
            # and reading it opens each one: compact just the crowded partitions
            # between the full maintenance runs.
            parts = actions.column(f"partition.{PARTITION_COLUMN}").to_pylist()
            crowded = sorted(p for p in touched if parts.count(p) > PARTITION_FILE_LIMIT)
            if crowded:
                self._dt.optimize.compact(
                    partition_filters=[(PARTITION_COLUMN, "in", crowded)],
                    writer_properties=_WRITER,
                    post_commithook_properties=_HOOKS,
                )
                self._index.sync(self._add_actions())
        except Exception as e:
            # The transaction is committed and must be reported so; a failed
            # clean-up only costs speed, and the next commit retries it.
            warnings.warn(f"oplog maintenance failed: {_first_line(e)}", stacklevel=3)

    def maintain(self) -> None:
        """Compact small data files and write a checkpoint now (never vacuums)."""
        if self._read_only:
            raise ReadOnlyError("a past state cannot be maintained")
        if self._in_txn:
            raise TransactionError("maintain() inside a transaction")
        with self._lock:
            self.refresh()
            self._maintain()

    def _maintain(self) -> None:
        # Compaction commits with dataChange=false and no txn_seq: readers of
        # the oplog see the same rows, and `pond log` does not list it.
        self._dt.optimize.compact(writer_properties=_WRITER, post_commithook_properties=_HOOKS)
        self._dt.create_checkpoint()
        self._index.sync(self._add_actions())

    def _add_actions(self) -> pa.Table:
        # from_stream, unlike pa.table(), does not import pandas when it is installed.
        return pa.RecordBatchReader.from_stream(self._dt.get_add_actions(flatten=True)).read_all()


def _info(row: Row) -> VersionInfo:
    return VersionInfo(
        node_id=row.node_id,
        node_type=row.file_type,
        version=row.version,
        txn_seq=row.txn_seq,
        timestamp=_datetime(row.timestamp_us),
        size=row.size,
        sha256=row.sha256,
        min_event_time=row.min_event_time,
        max_event_time=row.max_event_time,
        attributes=json.loads(row.attributes) if row.attributes else {},
    )


def _record_batch(rows: list[Row], contents: Mapping[tuple[str, int], bytes]) -> pa.RecordBatch:
    columns: list[pa.Array] = [
        strings([r.part_id for r in rows]),
        strings([r.node_id for r in rows]),
        strings([r.file_type for r in rows]),
        int64s([r.version for r in rows]),
        int64s([r.txn_seq for r in rows]),
        int64s([r.timestamp_us for r in rows], SCHEMA.field("timestamp").type),
        binaries([contents.get((r.node_id, r.version)) for r in rows]),
        strings([r.sha256 for r in rows]),
        int64s([r.size for r in rows]),
        int64s([r.min_event_time for r in rows]),
        int64s([r.max_event_time for r in rows]),
        strings([r.attributes for r in rows]),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def _record_batches(
    rows: list[Row], contents: Mapping[tuple[str, int], bytes]
) -> pa.RecordBatch | pa.RecordBatchReader:
    """The transaction's rows: one batch, unless inline content passes Arrow's 2 GiB per array."""
    groups: list[list[Row]] = [[]]
    size = 0
    for row in rows:
        length = len(contents.get((row.node_id, row.version), b""))
        if size + length > _BATCH_CONTENT_LIMIT and groups[-1]:
            groups.append([])
            size = 0
        groups[-1].append(row)
        size += length
    if len(groups) == 1:
        return _record_batch(rows, contents)
    return pa.RecordBatchReader.from_batches(
        SCHEMA, [_record_batch(group, contents) for group in groups]
    )


def _commit_metadata(txn_seq: int, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    extra = dict(metadata or {})
    clash = sorted(set(extra) & _RESERVED_METADATA)
    if clash:
        raise ValueError(f"commit metadata may not set {', '.join(clash)}")
    command = extra.pop("command", sys.argv)
    if not isinstance(command, str):
        command = json.dumps([str(a) for a in command])
    return {
        **extra,
        "txn_seq": txn_seq,
        "command": command,
        "user": str(extra.get("user", _user())),
        "time": datetime.now(UTC).isoformat(),
    }


def _transaction(commit: Mapping[str, Any]) -> dict[str, Any]:
    """A pond transaction record from one Delta commit's info."""
    record = {k: v for k, v in commit.items() if k not in _DELTA_COMMIT_KEYS and k != "time"}
    try:
        timestamp = _as_utc(datetime.fromisoformat(str(commit["time"])))
    except (KeyError, ValueError):
        timestamp = _EPOCH + timedelta(milliseconds=int(commit.get("timestamp", 0)))
    try:
        command = json.loads(record.get("command", "[]"))
    except (TypeError, ValueError):
        command = [str(record.get("command"))]
    record.update(
        txn_seq=int(commit["txn_seq"]),
        timestamp=timestamp,
        command=[str(a) for a in command] if isinstance(command, list) else [str(command)],
        user=record.get("user", ""),
        delta_version=commit.get("version"),
    )
    return record


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
