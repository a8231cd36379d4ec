"""TLogFS: TinyFS persistence on a Delta Lake operation log.

The pond's Delta table (``$POND/data``) holds one row per version of each
node (docs/architecture.md, "On-disk format").  ``DeltaPersistence`` is the
``Persistence`` protocol over it, composed of one part per job:

- ``reads``: the committed rows with the open transaction's writes on top
  (``OplogView``), every byte checked against its sha256;
- ``buffer``: the open transaction's rows, content and directory tables;
- ``commits``: a transaction's rows as one Delta commit, and the commit
  metadata (``txn_seq``, command line, user, time) it carries;
- ``history``: that metadata read back as typed ``TxnRecord``s;
- ``maintenance``: compaction and checkpoints, so costs stay flat.

This module ties them to the transaction lifecycle.  Choices worth knowing:

- ``begin`` takes the writer lock (re-entrant, so a caller may already hold
  it) and refreshes to the newest snapshot; ``commit`` and ``rollback``
  release it.  The commit refuses to land if another process committed in
  between, which the lock should make impossible anyway.
- A store opened at a past transaction or time is read-only, even when that
  happens to be the newest transaction: a view pinned to a past state must
  not move.
- A pond kept on S3 (``create_remote``, ``open_remote``) has no lock: its commit is
  Delta's create-only write of the next log entry, and one that loses the race raises
  ``CommitConflictError`` with nothing landed (``shared.py`` says why that is safe).

Not thread-safe: one instance belongs to one thread at a time.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from ..errors import (
    CommitConflictError,
    ConfigError,
    PondCorruptError,
    PondExistsError,
    PondNotFoundError,
    ReadOnlyError,
    TransactionError,
)
from ..tinyfs.ids import uuid7
from ..tinyfs.persistence import ROOT_ID, DirEntry, VersionInfo
from . import commits, history
from .blobs import BlobStore
from .buffer import PendingDir, now_us
from .consolidation import series_chain
from .history import TxnRecord
from .identity import FIRST_COMMIT, POND_ID_KEY, first_commit_info, pond_id, pond_id_of
from .index import Row, RowIndex
from .layout import BACKUP_RECORDS_PREFIX, DATA_DIR, LARGE_FILES_DIR
from .location import check_location
from .lock import DEFAULT_TIMEOUT, WriterLock
from .maintenance import MAINTENANCE_INTERVAL, PARTITION_FILE_LIMIT, Maintenance, add_actions
from .objectstore import StoreOptions, delta_storage_options, parse_location, remote_error
from .oplog import SCHEMA
from .reads import OplogView
from .reclaim import Consolidator, MaintainReport
from .remote import RemoteBlobStore, RemoteFiles
from .retention import Retention, archived_commits, read_retention
from .seals import Seals
from .shared import COMMIT_RETRIES, SHARED_STORE_KEY, cache_dir, check_create_only
from .tablefiles import BackupTableFiles, DirTableFiles, StoreTableFiles, TableFiles

__all__ = ["MAINTENANCE_INTERVAL", "PARTITION_FILE_LIMIT", "DeltaPersistence", "TxnRecord"]


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
        remote: RemoteFiles | None = None,
    ) -> None:
        if at_txn is not None and at is not None:
            raise ConfigError("give a transaction or a time to read at, not both")
        # A pond read in place from a store: pond_dir is its scratch space, data/ are keys.
        self.remote = remote
        self.pond_dir = pond_dir
        self._data_dir = Path(DATA_DIR) if remote is not None else pond_dir / DATA_DIR
        # Where the pond's own records (retention floor, archived commits) are kept: the
        # table's directory, or for a pond kept on S3 its store; a backup read in place
        # carries none, so a directory of ours that holds none, never a relative path the
        # working directory would resolve.
        self.table_files: TableFiles = (
            DirTableFiles(pond_dir / DATA_DIR)
            if remote is None
            else StoreTableFiles(remote)
            if remote.shared
            else BackupTableFiles(remote)
        )
        self._dt = table
        # A pond on S3 has no lock: Delta's create-only commit keeps writers apart.
        self._lock: WriterLock | _NoLock = (
            _NoLock() if remote is not None else WriterLock(pond_dir, lock_timeout)
        )

        self.seals = Seals(self._data_dir)
        if at is not None:
            at_txn = history.txn_at(self._commits, at)
        if at_txn is not None:
            floor = read_retention(self.table_files)
            # Transactions are numbered from 1: below that is no transaction, removed or not.
            if floor is not None and 1 <= at_txn < floor.earliest_txn:
                raise floor.refuse(at_txn)
        # One listing of the data files: an index limited to at_txn still counts
        # every transaction in max_txn, which bounds at_txn.
        index = RowIndex(
            self._data_dir,
            limit=at_txn,
            opener=remote.open_data_file if remote is not None else None,
        )
        index.sync(add_actions(self._dt))
        last = index.max_txn
        if last < 1:
            raise PondCorruptError(f"{self._data_dir} holds no pond transactions")
        if at_txn is not None and not 1 <= at_txn <= last:
            # (``floor`` was read above, where ``at_txn`` was given.)
            held = (
                f"keeps transactions {floor.earliest_txn} to {last}"
                if floor is not None
                else f"has transactions 1 to {last}"
            )
            raise ConfigError(f"no transaction {at_txn}: this pond {held}")
        blobs = (
            RemoteBlobStore(remote)
            if remote is not None
            else BlobStore(self._data_dir / LARGE_FILES_DIR)
        )
        self._view = OplogView(index, blobs, at_txn if at_txn is not None else last)
        self._maintenance = Maintenance(
            self._dt,
            self._data_dir,
            maintenance_interval,
            index.sync,
            last_checkpoint=remote.last_checkpoint if remote is not None else None,
            # Never compacted through optimize when shared: see maintenance.py for why.
            compact=remote is None,
            open_file=self.data_file,
        )
        self._read_only = at_txn is not None or (remote is not None and not remote.shared)
        # A pond on S3 is proved safe to write (``shared.check_create_only``) once per open.
        self._store_checked = False
        self._in_txn = False

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
        check_location(pond)
        data = pond / DATA_DIR
        if pond.exists() and not pond.is_dir():
            raise PondExistsError(f"{pond} exists and is not a directory")
        pond.mkdir(parents=True, exist_ok=True)
        with WriterLock(pond, lock_timeout):
            if data.exists() and any(data.iterdir()):
                raise PondExistsError(f"a pond already exists at {pond}")
            (data / LARGE_FILES_DIR).mkdir(parents=True, exist_ok=True)
            root = PendingDir(ROOT_ID, 1, {}, now_us())
            # The pond's identity lives in its first commit, which every copy has.
            first = {**(metadata or {}), POND_ID_KEY: uuid7()}
            # The table and the root row are one Delta commit (version 0):
            # there is never a pond without its first transaction.
            commits.create_table(
                data,
                [root.row(1)],
                {(ROOT_ID, 1): root.encoded()},
                commits.commit_metadata(1, first, changes=1),
            )
            Seals(data).seal_versions(0, 0)
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
        check_location(pond)
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

    @classmethod
    def create_remote(
        cls,
        url: str,
        options: StoreOptions | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> DeltaPersistence:
        """Create a pond kept on S3 at ``url`` (``s3://bucket/prefix``), to be written in place.

        First proves the server honours a create-only put (``shared.check_create_only``:
        ``UnsafeStoreError`` if not).  Raises ``ConfigError`` for a URL that is not S3,
        ``PondExistsError`` if the prefix already holds a Delta log, ``RemoteError`` if the
        store cannot be used.
        """
        import obstore

        location = parse_location(url)
        if location.scheme != "s3":
            raise ConfigError(
                f"a pond is kept in a local directory or on S3, not at {url!r}; "
                "for a directory, give its path"
            )
        options = options or StoreOptions()
        files = RemoteFiles(location, options)
        try:
            # Listed before anything is written: a bucket that does not exist is named as
            # such, never created by the probe's put (some servers create it on a write).
            try:
                existing = obstore.list(files.store, f"{DATA_DIR}/", chunk_size=1).collect()
            except Exception as e:
                raise remote_error(e, location, options) from None
            if existing:
                raise PondExistsError(f"a pond (or a backup) already exists at {location.url}")
            check_create_only(files.store, location, options)
            root = PendingDir(ROOT_ID, 1, {}, now_us())
            first = {**(metadata or {}), POND_ID_KEY: uuid7(), SHARED_STORE_KEY: "s3"}
            try:
                # Version 0 is a create-only put: of two racing inits, one wins.
                commits.create_table(
                    location.child(DATA_DIR),
                    [root.row(1)],
                    {(ROOT_ID, 1): root.encoded()},
                    commits.commit_metadata(1, first, changes=1),
                    storage_options=delta_storage_options(location, options),
                )
            except (DeltaError, OSError) as e:
                # Another init created version 0 first (deltalake was told not to rebase
                # ours onto version 1, which it otherwise does).
                if "already exists" in str(e).lower() or (
                    isinstance(e, DeltaError) and _lost_race(e)
                ):
                    raise PondExistsError(f"a pond already exists at {location.url}") from None
                raise remote_error(e, location, options) from None
        finally:
            files.close()
        return cls.open_remote(url, options)

    @classmethod
    def open_remote(
        cls,
        url: str,
        options: StoreOptions | None = None,
        *,
        at_txn: int | None = None,
        at: datetime | None = None,
    ) -> DeltaPersistence:
        """Open the pond kept at a store URL (``s3://bucket/prefix``, ``file:///dir``).

        A backup is such a pond, and is read-only; a pond made by ``create_remote`` may
        be written too (but not at a past ``at_txn`` or ``at``).  Raises ``ConfigError``
        for a bad URL, ``RemoteError`` if the store cannot be used, ``PondNotFoundError``
        if it holds no pond.
        """
        location = parse_location(url)
        options = options or StoreOptions()
        files = RemoteFiles(location, options)
        try:
            try:
                table = _open_table(
                    str(location.path / DATA_DIR) if location.path else location.child(DATA_DIR),
                    delta_storage_options(location, options) or None,
                )
            except (DeltaError, OSError) as e:
                # deltalake raises a store failure (a missing bucket, refused credentials,
                # a dead endpoint) as a bare OSError carrying the client's coloured text.
                if (
                    "no files in log segment" in str(e).lower()
                    or "not a delta table" in str(e).lower()
                ):
                    raise PondNotFoundError(f"no pond at {location.url}") from None
                raise remote_error(e, location, options) from None
            if location.scheme == "s3":
                first = files.read(FIRST_COMMIT_KEY)
                # A backup of a pond kept on S3 has that pond's first commit: its push
                # records say it is a backup, read-only (a write would fork its history).
                files.shared = first_commit_info(first).get(
                    SHARED_STORE_KEY
                ) == "s3" and not files.holds_any(BACKUP_RECORDS_PREFIX)
                if files.shared:
                    files.cache = cache_dir(pond_id_of(first), location, options)
            return cls(files.scratch, table, at_txn=at_txn, at=at, remote=files)
        except BaseException:
            files.close()
            raise

    @property
    def runs_dir(self) -> Path:
        """Where this pond's run records are (``runlog``): its directory; for a pond kept
        on S3, this machine's cache directory for it (each machine keeps its own runs)."""
        if self.remote is not None and self.remote.shared and self.remote.cache is not None:
            return Path(self.remote.cache)
        return self.pond_dir

    @property
    def location(self) -> str:
        """Where the pond is: its directory, or the URL of a pond read in place."""
        return self.remote.location.url if self.remote is not None else str(self.pond_dir)

    @property
    def pond_id(self) -> str:
        """The pond's identity (``identity.pond_id``), read from its first commit."""
        if self.remote is None:
            return pond_id(self.pond_dir)
        return pond_id_of(self.remote.read(FIRST_COMMIT_KEY))

    @property
    def shared(self) -> bool:
        """True for a pond kept on S3 and written in place (``shared.py``)."""
        return self.remote is not None and self.remote.shared

    def _read_only_error(self) -> ReadOnlyError:
        if self.remote is not None and not self.remote.shared:
            url = self.remote.location.url
            return ReadOnlyError(
                f"{url} is read in place and cannot be written: restore it first "
                f"(pond restore {url} DIR)"
            )
        return ReadOnlyError(
            f"this pond is open as of transaction {self.last_txn}, a past state; "
            "it cannot be written"
        )

    def close(self) -> None:
        """Roll back an open transaction and drop cached content."""
        if self._in_txn:
            self.rollback()
        self._view.clear_cache()
        if self.remote is not None:
            self.remote.close()

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
        return self._view.last_txn

    # -- reads (reads.py) ----------------------------------------------------------

    def node_type(self, node_id: str) -> str:
        return self._view.node_type(node_id)

    def latest(self, node_id: str) -> VersionInfo:
        return self._view.latest(node_id)

    def versions(self, node_id: str) -> list[VersionInfo]:
        return self._view.versions(node_id)

    def oldest(self, node_id: str) -> VersionInfo:
        return self._view.oldest(node_id)

    def stored_rows(self, node_id: str) -> list[Row]:
        """A node's committed, visible rows (metadata, no content), oldest first."""
        return list(self._view.index.lookup(node_id) or [])

    def path_of(self, node_id: str) -> str | None:
        """The node's path in this state, found by walking from the root (slow: for messages)."""
        return self._view.path_of(node_id)

    def series_chain(self, node_id: str) -> str:
        """The chain digest (64 hex) of a node's committed, visible versions
        (``consolidation.series_chain``: the content root's input for a series).

        Raises ``ValueError`` if a consolidated version's record is malformed.
        """
        rows = self._view.index.lookup(node_id) or []
        return series_chain((row.sha256, row.attributes) for row in rows).hex()

    def read_dir(self, dir_id: str) -> Mapping[str, DirEntry]:
        return self._view.read_dir(dir_id)

    def read_bytes(self, node_id: str, version: int | None = None) -> bytes:
        """A version's bytes (the newest by default), checked against its sha256.

        Raises ``CorruptDataError`` if they are missing or do not match.
        """
        return self._view.read_bytes(node_id, version)

    def unchecked_bytes(self, node_id: str, version: int | None = None) -> bytes:
        """A version's bytes as stored, not checked against its sha256 (for ``fsck``)."""
        return self._view.read_bytes(node_id, version, verify=False)

    def local_path(self, node_id: str, version: int | None = None) -> Path | None:
        """The blob file holding a large version's bytes, verified; None if they are inline.

        Raises ``CorruptDataError`` if the blob is missing or its bytes changed.
        """
        return self._view.local_path(node_id, version)

    def blob_path(self, node_id: str, version: int | None = None) -> Path | None:
        """Where a large version's blob should be, without checking it; None if inline."""
        return self._view.blob_path(node_id, version)

    def changed_since(self, txn: int) -> dict[str, set[str]] | None:
        """Node id -> entry types of the committed rows after ``txn`` in this state (None: unknown).

        What a mirror run needs to skip the nodes nothing touched; it reads only the
        data files that hold such rows.
        """
        return self._view.index.changed_since(txn)

    def changes_since(self, txn: int) -> list[tuple[str, str, str]] | None:
        """``(node id, partition id, entry type)`` of each committed row after ``txn`` in this
        state (None: unknown); a file's partition is its first parent directory's id.

        What an Import needs to find the few paths a source's log tail touches.
        """
        return self._view.index.changes_since(txn)

    def all_rows(self) -> pa.Table:
        """Every committed, visible version's metadata (no content), for SQL system tables."""
        return self._view.index.table()

    # -- transaction history (history.py) -----------------------------------------

    def transactions(self, limit: int | None = None) -> list[TxnRecord]:
        """The pond transactions visible here, newest first, from the Delta commit log.

        With ``limit``, only the newest commits are read, so ``pond log -n 5``
        costs the same on a pond of any age.
        """
        floor = self.retention()
        return history.transactions(
            self._commits, self.last_txn, limit, floor.earliest_txn if floor else 1
        )

    def retention(self) -> Retention | None:
        """What ``maintain`` kept: the earliest transaction readable, or None if all are."""
        return read_retention(self.table_files)

    def _commits(self, limit: int | None) -> list[Mapping[str, Any]]:
        """Delta's commit infos, newest first, then those archived when the log was trimmed."""
        found: list[Mapping[str, Any]] = list(self._dt.history(limit))
        if limit is None or len(found) < limit:
            have = {int(c["txn_seq"]) for c in found if "txn_seq" in c}
            older = [c for c in archived_commits(self.table_files) if int(c["txn_seq"]) not in have]
            older.sort(key=lambda c: int(c["txn_seq"]), reverse=True)
            found += older
        return found if limit is None else found[:limit]

    # -- writes (into the buffer, reads.py) ---------------------------------------

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
        return self._view.create_node(parent_id, node_type, content, attributes, event_range)

    def write_version(
        self,
        node_id: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> VersionInfo:
        self._require_txn()
        return self._view.write_version(node_id, content, attributes, event_range)

    def update_dir(
        self,
        dir_id: str,
        *,
        insert: Mapping[str, DirEntry] = {},
        delete: frozenset[str] = frozenset(),
    ) -> None:
        self._require_txn()
        self._view.update_dir(dir_id, insert, delete)

    # -- transactions (commits.py) ------------------------------------------------

    def begin(self) -> None:
        if self._read_only:
            raise self._read_only_error()
        if self._in_txn:
            raise TransactionError("a transaction is already open")
        if self.remote is not None and not self._store_checked:
            check_create_only(self.remote.store, self.remote.location, self.remote.options)
            self._store_checked = True
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
        # a hundred commits separate us from the last checkpoint).  On S3 the
        # listing update_incremental makes is that same one request.
        next_commit = self._data_dir / "_delta_log" / f"{before + 1:020d}.json"
        if self.remote is None and not next_commit.exists():
            return
        try:
            self._dt.update_incremental()
        except (DeltaError, OSError) as e:
            if self.remote is None:
                raise
            raise remote_error(e, self.remote.location, self.remote.options) from None
        if self._dt.version() != before:
            index = self._view.index
            index.sync(add_actions(self._dt))
            self._view.last_txn = max(self._view.last_txn, index.max_txn)

    def commit(self, metadata: Mapping[str, Any] | None = None) -> int | None:
        self._require_txn()
        buffer = self._view.buffer
        if buffer.empty:
            self._end_txn()
            return None
        txn_seq = self.last_txn + 1
        before = self._dt.version()
        try:
            rows, contents = buffer.commit_rows(txn_seq)
            commit_metadata = commits.commit_metadata(txn_seq, metadata, changes=len(rows))
            commits.append(self._dt, rows, contents, commit_metadata)
        except DeltaError as e:
            # Blobs are kept: whether the commit landed is unknown; recover
            # removes any that no committed row names.
            self._end_txn()
            if self.remote is not None and _lost_race(e):
                # Another writer's commit took Delta version before+1: nothing of ours
                # landed (deltalake was told not to rebase it), so it may be re-applied.
                raise CommitConflictError(
                    f"transaction {txn_seq} lost the commit race on {self.location}: "
                    "another writer committed first"
                ) from e
            raise TransactionError(
                f"commit of transaction {txn_seq} failed: {_first_line(e)}"
            ) from e
        except OSError as e:
            self._end_txn()
            if self.remote is None:
                raise
            # Whether it landed is unknown; the next open reads what the log says.
            raise remote_error(e, self.remote.location, self.remote.options) from None
        except BaseException:
            self.rollback()
            raise
        try:
            self._view.last_txn = txn_seq
            actions = add_actions(self._dt)
            self._view.index.sync(actions)
            self._maintenance.after_commit({row.part_id for row in rows}, actions)
            self.seal_since(before)
        finally:
            self._end_txn()
        return txn_seq

    def seal_since(self, version: int) -> None:
        """Seal the files of the Delta versions after ``version``; never raises.

        Called after a commit (and the maintenance it triggered): a failure only
        leaves files unsealed, which ``fsck`` notes and ``recover`` seals.  A pond on
        S3 keeps no seals: the server checks each upload's checksum instead.
        """
        if self.remote is not None:
            return
        try:
            self.seals.seal_versions(version + 1, self._dt.version())
        except (OSError, ValueError) as e:
            warnings.warn(f"could not seal the oplog's new files: {e}", stacklevel=2)

    @property
    def table(self) -> DeltaTable:
        """The Delta table handle (for maintenance, which holds the write lock)."""
        return self._dt

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def data_file(self, rel: str) -> Any:
        """Data file ``rel`` (relative to ``data/``) as ``pyarrow.parquet.ParquetFile`` takes
        it: its path, or for a pond in a store its bytes fetched (or from this machine's
        cache), as the row index reads them."""
        full = str(self._data_dir / rel)
        return self.remote.open_data_file(full) if self.remote is not None else full

    def snapshot_files(self) -> set[str]:
        """The data files of the newest snapshot, relative to ``data/``."""
        paths = add_actions(self._dt).column("path").to_pylist()
        return {unquote(str(p)) for p in paths}

    def resync(self) -> None:
        """Re-index after the table changed under our own handle (maintenance commits)."""
        self._view.index.sync(add_actions(self._dt))

    def rollback(self) -> None:
        self._require_txn()
        self._view.buffer.discard_blobs()
        self._end_txn()

    def _end_txn(self) -> None:
        self._view.buffer.clear()
        self._in_txn = False
        self._lock.release()

    # -- maintenance (maintenance.py) ---------------------------------------------

    def maintain(
        self,
        *,
        keep: timedelta | None = None,
        keep_txns: int | None = None,
        dry_run: bool = False,
        pushed: int | None = None,
        grace: timedelta | None = None,
        consolidator: Consolidator | None = None,
    ) -> MaintainReport:
        """Compact and checkpoint; with a kept window, remove what no kept transaction reads.

        The window is the transactions of the last ``keep`` or the newest
        ``keep_txns`` (see ``reclaim``); without either, nothing is removed.  With a
        ``consolidator`` (``reclaim.Consolidator``), each series' versions before the
        window (but its newest) are replaced by the one version it gives.
        Takes the write lock.  Raises ``ConfigError`` for a bad window.

        On a pond kept on S3 there is no lock: each of maintain's commits lands only on
        the version it was computed from, and one that another writer beat is computed
        again on the new state (``maintenance.land``), up to ``COMMIT_RETRIES`` times,
        then ``BusyError`` (what landed before stays: each commit is whole, and a run
        again finishes the job).  An object no commit names is removed only once older
        than ``grace`` (``reclaim.DEFAULT_GRACE`` if None).
        """
        from ..errors import BusyError
        from . import reclaim

        if self._read_only:
            raise self._read_only_error()
        if self._in_txn:
            raise TransactionError("maintain() inside a transaction")
        if self.remote is not None and not dry_run and not self._store_checked:
            # Its commits are create-only puts too: the same proof as a transaction's.
            check_create_only(self.remote.store, self.remote.location, self.remote.options)
            self._store_checked = True
        with self._lock:
            self.refresh()
            try:
                return reclaim.run(
                    self,
                    keep=keep,
                    keep_txns=keep_txns,
                    dry_run=dry_run,
                    pushed=pushed,
                    grace=grace,
                    consolidator=consolidator,
                )
            except DeltaError as e:
                if not (self.shared and _lost_race(e)):
                    raise
        raise BusyError(
            f"{self.location} is busy: other writers committed first "
            f"{COMMIT_RETRIES + 1} times in a row; run pond maintain again"
        )

    def compact(self) -> None:
        """Compact every partition and write a checkpoint (the caller holds the write lock;
        on S3, each compaction lands only on the version it read: ``Maintenance``)."""
        self._maintenance.run(in_place=self.shared)
        if self.shared:
            self.resync()

    def reopen(self, at_txn: int) -> DeltaPersistence:
        """The same pond opened anew, read-only, as of transaction ``at_txn``."""
        if self.remote is not None:
            return DeltaPersistence.open_remote(
                self.remote.location.url, self.remote.options, at_txn=at_txn
            )
        return DeltaPersistence.open(self.pond_dir, at_txn=at_txn)

    def commits_info(self) -> list[Mapping[str, Any]]:
        """Every pond commit's info, Delta's and archived, newest first (for archiving)."""
        return self._commits(None)


FIRST_COMMIT_KEY = f"{DATA_DIR}/{FIRST_COMMIT}"


class _NoLock:
    """The writer lock of a pond on S3: none (``shared.py``)."""

    def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None

    def __enter__(self) -> _NoLock:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _lost_race(e: DeltaError) -> bool:
    """True if deltalake refused a commit because the table moved past its snapshot.

    With ``max_commit_retries=0`` that is ``CommitFailedError`` ("Failed to commit
    transaction: 0"): the newer version existed when it looked, or its create-only put
    of the log entry found one there.
    """
    return type(e).__name__ == "CommitFailedError" and "Failed to commit transaction" in str(e)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# A log entry listed, then gone when read: another machine's ``maintain --keep`` trimmed the
# log after writing a newer checkpoint (``tlogfs.shared``).  Listing again finds it.
_OPEN_ATTEMPTS = 5


def _open_table(uri: str, storage_options: dict[str, str] | None) -> DeltaTable:
    """``DeltaTable(uri)``, listed again when a log entry it listed was removed before it
    was read (a concurrent trim of a pond kept on S3); other errors are raised at once."""
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return DeltaTable(uri, storage_options=storage_options)
        except (DeltaError, OSError) as e:
            text = str(e)
            trimmed = "not found" in text.lower() and "_delta_log/" in text
            if not trimmed or attempt == _OPEN_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
