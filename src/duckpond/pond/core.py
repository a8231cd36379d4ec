"""``Pond``: an open pond and its verbs (the filesystem, copy, read, SQL, export).

Areas of verbs beyond these live on facets (``facet.py``): ``pond.pipeline``
(``pipeline.py``), ``pond.maintenance`` (``maintenance.py``).  ``Transaction`` is in ``transaction.py``.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import (
    ConfigError,
    InvalidPathError,
    PondNotFoundError,
    ReadOnlyError,
    TransactionError,
    boundary,
    guarded,
)
from ..tinyfs import FS, WD, NodePath, VersionInfo
from ..tinyfs import paths as tpaths
from ..tinyfs.glob import has_wildcard
from ..tinyfs.persistence import is_file_type
from .backups import PondBackups
from .maintenance import PondMaintenance
from .mirrors import PondMirrors
from .pipeline import PondPipeline
from .results import CopyResult, Entry, PondStatus
from .transaction import Transaction

if TYPE_CHECKING:
    import pyarrow as pa

    from ..backup import RepairReport, RestoreReport
    from ..ingest.delta_export import DeltaExportResult
    from ..ingest.options import CopyOptions
    from ..ingest.partitioned import ExportResult
    from ..tlogfs import DeltaPersistence, FsckReport, RecoverReport, TxnRecord
    from ..tlogfs.objectstore import StoreOptions
    from ..tlogfs.usage import DiskUsage

DEFAULT_LOCK_TIMEOUT = 30.0
T = TypeVar("T")
CACHE_DIR = "cache"
"""Where dynamic node outputs are cached, under the pond directory (deleting it loses nothing)."""


def resolve_pond_dir(path: str | os.PathLike[str] | None) -> Path:
    """The pond directory: the given one, else ``$POND``; neither is an error."""
    chosen = os.fspath(path) if path is not None else os.environ.get("POND")
    if not chosen:
        raise PondNotFoundError("no pond given: pass a pond directory or set $POND")
    return Path(chosen).expanduser().absolute()


def _default_command() -> list[str]:
    return [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []


class Pond:
    """An open pond: a TinyFS over the Delta Lake operation log in ``path/data``."""

    def __init__(
        self, path: Path, persistence: DeltaPersistence, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        # ``path`` is the pond's directory; for a pond on S3, this machine's cache directory
        # for it (``tlogfs.shared.cache_dir``), where computed outputs are kept.
        # The pipeline computes derivations' dynamic nodes and caches them under cache/.
        # Both modules import nothing heavy: opening a pond stays cheap until a read needs them.
        from ..pipeline.cache import DiskCache
        from ..pipeline.resolver import PipelineResolver

        self.path = path
        self.cache = DiskCache(path / CACHE_DIR)
        self.fs = FS(persistence, PipelineResolver(), self.cache)
        self.lock_timeout = lock_timeout
        self.command: list[str] | None = None

    # -- opening -----------------------------------------------------------------

    @classmethod
    @guarded
    def init(
        cls,
        path: str | os.PathLike[str],
        *,
        command: Sequence[str] | None = None,
        store: StoreOptions | None = None,
    ) -> Pond:
        """Create a new pond at ``path`` (transaction 1); refuses an existing one.

        ``path`` is a directory, or ``s3://BUCKET/PREFIX`` for a pond kept on S3 and written
        in place (``store``: endpoint, region, plain HTTP; else the ``AWS_*`` variables).
        On S3 the server must honour create-only puts (``UnsafeStoreError`` otherwise).
        """
        from ..tlogfs import DeltaPersistence
        from ..tlogfs.objectstore import is_store_url

        argv = list(command) if command is not None else _default_command()
        if is_store_url(os.fspath(path)):
            remote = DeltaPersistence.create_remote(
                os.fspath(path), store, metadata={"command": argv}
            )
            return cls._on_store(remote, DEFAULT_LOCK_TIMEOUT)
        where = Path(path).expanduser().absolute()
        persistence = DeltaPersistence.create(where, metadata={"command": argv})
        return cls(where, persistence)

    @classmethod
    @guarded
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        at_txn: int | None = None,
        at: Any = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        store: StoreOptions | None = None,
    ) -> Pond:
        """Open a pond, as it is now or as it was right after txn ``at_txn`` (or at time ``at``).

        ``at`` is an ISO 8601 string, a datetime or a pandas Timestamp (no zone means UTC).
        ``path`` may be a store URL: a backup, read in place, or a pond kept on S3 (made
        by ``init`` there), which is written in place too; ``store`` says how to reach it.
        """
        from ..tlogfs import DeltaPersistence

        if at_txn is not None and at is not None:
            raise ConfigError("give either a transaction or a time to travel to, not both")
        from ..tlogfs.objectstore import is_store_url

        if is_store_url(os.fspath(path)):
            # A pond kept in a store (a backup), read in place; read-only.
            remote = DeltaPersistence.open_remote(
                os.fspath(path), store, at_txn=at_txn, at=_time_or_none(at)
            )
            return cls._on_store(remote, lock_timeout)
        where = Path(path).expanduser().absolute()
        persistence = DeltaPersistence.open(
            where, at_txn=at_txn, at=_time_or_none(at), lock_timeout=lock_timeout
        )
        return cls(where, persistence, lock_timeout)

    @classmethod
    def _on_store(cls, remote: DeltaPersistence, lock_timeout: float) -> Pond:
        """A ``Pond`` over a pond in a store, caching in this machine's directory for it."""
        files = remote.remote
        assert files is not None
        return cls(files.cache or remote.pond_dir, remote, lock_timeout)

    @property
    def location(self) -> str:
        """Where the pond is: its directory, or its store URL."""
        return self.persistence.location

    def _local_only(self, what: str) -> None:
        """Refuse ``what`` on a pond read in place (a backup): it needs a pond of its own
        (its records, its files to compare), which a backup's URL is not.  A pond kept on
        S3 is a pond of its own and passes.

        Raises ``ConfigError`` naming the URL.
        """
        if self.persistence.remote is not None and not self.persistence.shared:
            url = self.persistence.location
            raise ConfigError(
                f"{url} is read in place: {what} needs a local pond; restore it first "
                f"(pond restore {url} DIR)"
            )

    def _read_only_error(self, what: str) -> ReadOnlyError:
        if self.persistence.remote is not None:
            return self.persistence._read_only_error()
        return ReadOnlyError(f"this pond is opened at a past state and {what}")

    @property
    def persistence(self) -> DeltaPersistence:
        return self.fs.persistence  # type: ignore[return-value]

    @property
    def root(self) -> WD:
        return self.fs.root()

    @property
    def read_only(self) -> bool:
        return self.persistence.read_only

    @property
    def last_txn(self) -> int:
        return self.persistence.last_txn

    @property
    def pipeline(self) -> PondPipeline:
        """The pipeline's verbs on this pond: ``apply``, ``resources``, ``run``, ``build_site``,
        ``hydrovu_locations`` (a facet: docs/architecture.md, "Facets")."""
        return PondPipeline(self)

    @property
    def maintenance(self) -> PondMaintenance:
        """Keeping the pond small: ``maintain`` and ``du`` (a facet; ``fsck`` stays on ``Pond``)."""
        return PondMaintenance(self)

    @property
    def mirrors(self) -> PondMirrors:
        """The local mirror's verbs: ``write`` a folder of plain files, ``sync`` its edits back."""
        return PondMirrors(self)

    def close(self) -> None:
        self.persistence.close()

    def __enter__(self) -> Pond:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backups(self) -> PondBackups:
        """The backup verbs: ``push``, ``list``, ``verify``, ``remote`` (a facet:
        docs/architecture.md, "Facets"; ``duckpond.backup`` for what a push guarantees)."""
        return PondBackups(self)

    @property
    def pond_id(self) -> str:
        """This pond's identity: given at ``init``, kept by copies and restores."""
        return self.persistence.pond_id

    @classmethod
    @guarded
    def restore(
        cls,
        url: str,
        dest: str | os.PathLike[str],
        *,
        at_txn: int | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        allow_http: bool | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> RestoreReport:
        """Restore the backup at ``url`` (``s3://BUCKET/PREFIX``, ``file:///DIR``) to ``dest``.

        Credentials come from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``; endpoint,
        region and plain HTTP from the arguments, else the ``AWS_*`` variables.  Every
        byte is checked before it is used; see ``duckpond.backup.restore`` for the errors.
        Open the result with ``Pond.open(dest)``.
        """
        from ..backup import Remote, StoreOptions, record_restored
        from ..backup import restore as restore_backup

        options = StoreOptions(endpoint=endpoint, region=region, allow_http=allow_http)
        remote = Remote(url, options)
        report = restore_backup(url, dest, remote=remote, at_txn=at_txn, progress=progress)
        # The pond's Backups at this very URL hold everything restored: noted, so they show
        # no lag and push from there (``backup.restore.record_restored``).
        record_restored(Path(report.dest), remote, report)
        return report

    @guarded
    def status(self) -> PondStatus:
        """What a person or a monitor looks at: id, newest transaction, disk use, runs, backups.

        ``path`` is the pond's directory or, for a pond kept on S3, its URL; the disk use
        of a pond on S3 is its objects (one listing of the prefix) and this machine's
        cache directory for it (``usage.cache_path``).
        """
        self._local_only("status")
        newest = self.log(limit=1)
        return PondStatus(
            path=self.location,
            pond_id=self.pond_id,
            last_txn=self.last_txn,
            last_txn_time=newest[0].timestamp if newest else None,
            usage=self.disk_usage(),
            resources=self.pipeline.resources(),
            backups=self.backups.list(),
        )

    def disk_usage(self) -> DiskUsage:
        """The pond's use by part (``duckpond.tlogfs.usage``): a walk of its directory, or
        for a pond kept on S3 one listing of its prefix plus this machine's cache."""
        from ..tlogfs.usage import disk_usage, store_usage

        files = self.persistence.remote
        if files is not None and self.persistence.shared:
            return store_usage(files.listing(), self.path)
        return disk_usage(self.path)

    # -- transactions --------------------------------------------------------------

    @contextmanager
    def transaction(self, command: Sequence[str] | None = None) -> Iterator[Transaction]:
        """Hold the write lock; commit everything done through the yielded ``Transaction``.

        The commit happens on a clean exit of the ``with`` block, and records
        ``command`` (default: this process's command line), the user and the
        time; ``tx.txn_seq`` is then its number (None if nothing was written).
        On an exception nothing is committed and the pond is as it was.
        Raises ``ReadOnlyError`` on a past state, ``TransactionError`` if one
        is already open, ``LockTimeoutError`` if another writer holds the pond.
        """
        if self.read_only:
            raise self._read_only_error("cannot be written")
        p = self.persistence
        if p.in_transaction:
            raise TransactionError("a transaction is already open on this pond")
        argv = list(command) if command is not None else (self.command or _default_command())
        # begin() takes the write lock and catches up with commits other processes made.
        p.begin()
        # What was computed before may be stale in the state begin() caught up with.
        self.fs.forget()
        tx = Transaction(self, self.fs.root())
        try:
            # After begin() the pond has caught up: the next number is this transaction's.
            with boundary(txn=p.last_txn + 1):
                yield tx
        except BaseException:
            p.rollback()
            raise
        # The persistence adds the user, the time and the txn_seq.
        tx.txn_seq = p.commit({"command": argv})

    def _write(self, fn: Callable[[Transaction], Any]) -> Any:
        return self._apply(fn)[0]

    def _apply(self, fn: Callable[[Transaction], Any]) -> tuple[Any, int | None]:
        """Run ``fn`` in a transaction and commit it: its result and the ``txn_seq``
        (re-applied on a pond on S3 whose commit another writer beat: ``_retrying``)."""

        def once() -> tuple[Any, int | None]:
            with self.transaction() as tx:
                result = fn(tx)
            return result, tx.txn_seq

        return self._retrying(once)

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, run again while its commit loses the race on a pond on S3.

        A commit another writer beat (``CommitConflictError``) landed nothing, so
        ``attempt`` runs again on the new state, up to ``COMMIT_RETRIES`` times with a
        growing random pause; then ``BusyError``.  ``attempt`` must therefore read what
        it decides on afresh each time (through its transaction).
        """
        import random
        import time

        from ..errors import BusyError, CommitConflictError
        from ..tlogfs.shared import COMMIT_RETRIES

        for tried in range(COMMIT_RETRIES + 1):
            try:
                return attempt()
            except CommitConflictError:
                if tried == COMMIT_RETRIES:
                    break
                # Spread the losers out so the same ones do not collide again.
                time.sleep(random.uniform(0, min(2.0, 0.05 * 2**tried)))
                self.persistence.refresh()
                self.fs.forget()
        raise BusyError(
            f"{self.location} is busy: other writers committed first "
            f"{COMMIT_RETRIES + 1} times; nothing was written, run the command again"
        )

    # -- filesystem verbs ----------------------------------------------------------------

    @guarded
    def mkdir(self, *paths: str, parents: bool = False) -> None:
        """Create directories, all in one transaction (all or none)."""
        self._write(lambda tx: tx.mkdir(*paths, parents=parents))

    @guarded
    def write_bytes(self, path: str, data: bytes) -> None:
        """Write raw bytes as a ``file:data`` (a new version if the file exists)."""
        self._write(lambda tx: tx.write_file(path, data))

    @guarded
    def read_bytes(self, path: str, *, version: int | None = None) -> bytes:
        np = self.root.get(path)
        if np.is_dir():
            raise IsADirectoryError(21, "is a directory", np.path)
        if version is not None:
            known = [v.version for v in np.node.versions()]
            if version not in known:
                raise ConfigError(f"{np.path} has no version {version} (it has 1..{max(known)})")
        return np.read_bytes(version)

    @guarded
    def remove(self, path: str, *, recursive: bool = False) -> None:
        """Unlink ``path`` (``-r`` for a non-empty directory); its history stays."""
        self._write(lambda tx: tx.rm(path, recursive=recursive))

    @guarded
    def move(self, src: str, dst: str) -> None:
        """Move or rename, keeping the node id (``history`` follows the node)."""
        self._write(lambda tx: tx.mv(src, dst))

    @guarded
    def symlink(self, target: str, path: str) -> None:
        """Create a symlink at ``path``; ``target`` need not exist."""
        self._write(lambda tx: tx.symlink(target, path))

    @guarded
    def history(self, path: str) -> list[VersionInfo]:
        return self.root.versions(path)

    @guarded
    def log(self, limit: int | None = None) -> list[TxnRecord]:
        """Transactions, newest first (``TxnRecord``: txn_seq, timestamp, command, user...)."""
        if limit is not None and limit < 1:
            raise ConfigError(f"{{limit}} must be at least 1, not {limit}", options={"limit": ""})
        return self.persistence.transactions(limit)

    # -- listing -------------------------------------------------------------------

    @guarded
    def list(
        self,
        pattern: str | None = None,
        *,
        all: bool = False,
        unlisted: dict[str, str] | None = None,
    ) -> list[NodePath]:
        """The nodes a ``pond list`` pattern names (docs/architecture.md, "The command line").

        A dynamic directory a glob cannot list (its configuration cannot be computed) is
        listed itself, without entries; its path and the reason go into ``unlisted``.
        """
        root = self.root
        pattern = pattern or "/**"
        if not pattern.startswith("/"):
            pattern = "/" + pattern
        if not is_literal(root, pattern):
            found = [m.node_path for m in root.glob(pattern, hidden=all)]
            if unlisted is not None:
                unlisted.update(root.unlisted)
            return found
        if pattern == "/" or pattern.endswith("/"):
            return [np for np in root.entries(pattern) if all or not tpaths.is_hidden(np.name)]
        return [root.get(pattern, follow=False)]

    def entry(self, np: NodePath) -> Entry:
        info = np.info()
        return Entry(np.path, np.node_type, info.size, info.version, np.node_id, info.timestamp)

    @guarded
    def stat(self, path: str) -> Entry:
        """The node at ``path`` (symlinks followed): its type, size, latest version."""
        import dataclasses

        np = self.root.get(path)
        tabular = not np.is_dir() and np.is_tabular()
        return dataclasses.replace(self.entry(np), tabular=tabular)

    # -- copy ----------------------------------------------------------------------

    @guarded
    def copy_in(
        self,
        sources: Sequence[str | os.PathLike[str]],
        dest: str,
        *,
        format: str | None = None,
        options: CopyOptions | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> CopyResult:
        """Copy host files and directories into the pond in one transaction (docs/architecture.md, "The command line").

        ``format`` (data, table or series; default data) is what new files become; an
        existing file keeps its type, and a ``format`` that names another type is a
        ``ConfigError``.  Several files onto one series append one version each.
        ``options`` say how CSV and Parquet are read; ``progress`` is called with each
        file's size in bytes.
        """
        result, txn_seq = self._apply(
            lambda tx: tx.copy_in(sources, dest, format=format, options=options, progress=progress)
        )
        return CopyResult(result.written, result.unchanged, txn_seq, result.warnings)

    @guarded
    def copy_out(
        self,
        pattern: str | Sequence[str],
        host_dir: str | os.PathLike[str],
        *,
        strip_prefix: str | None = None,
        format: str | None = None,
    ) -> builtins.list[Path]:
        """Write every pond node matching ``pattern`` (one or several) under ``host_dir``.

        Returns the host paths written.
        Each match goes to ``host_dir/<its path minus the prefix>`` (the prefix defaults to the
        pattern's directory before its first wildcard).  Tables and series are written as
        ``format`` (parquet or csv; by default CSV for a ``.csv`` name, else Parquet), raw files
        as their bytes.  All or nothing: on any error no file is left half-written.
        """
        from ..ingest.export import StagedExport, export_format

        out_dir = Path(host_dir)
        plan: builtins.list[tuple[NodePath, Path]] = []
        # '/d/**' matches a directory and what is inside it: write each node once.
        done: set[str] = set()
        root = self.root
        for one in [pattern] if isinstance(pattern, str) else pattern:
            # A glob skips hidden names as ``list`` does; a matched directory copies whole.
            matches = self.list(one)
            if not matches:
                raise FileNotFoundError(2, "no pond path matches", one)
            literal = is_literal(root, one)
            if strip_prefix is not None:
                prefix = strip_prefix
            else:
                prefix = tpaths.join(tpaths.split(one)[:-1]) if literal else _static_prefix(one)
            prefix_parts = tpaths.normalize(prefix)
            for np in matches:
                if tpaths.normalize(np.path)[: len(prefix_parts)] != prefix_parts:
                    raise InvalidPathError(f"{np.path} does not start with the prefix {prefix}")
            for match in matches:
                # A matched symlink is copied as what it points to, under its own name;
                # one that points nowhere is skipped when a glob matched it (a named one
                # is an error).
                if match.is_symlink() and not literal and not _resolves(root, match.path):
                    continue
                np = root.get(match.path) if match.is_symlink() else match
                for node in root.visit(np.path) if np.is_dir() else iter([np]):
                    if node.path not in done:
                        done.add(node.path)
                        rel = tpaths.normalize(node.path)[len(prefix_parts) :]
                        plan.append((node, out_dir.joinpath(*rel)))
        for node, host in plan:
            if is_file_type(node.node_type):
                export_format(node, host, format)  # a bad format fails before anything is written
        with StagedExport() as staged:
            staged.mkdir(out_dir)
            for node, host in plan:
                if node.is_dir():
                    staged.mkdir(host)
                elif is_file_type(node.node_type):
                    staged.write(node, host, format=format)
            return staged.commit()

    # -- maintenance ---------------------------------------------------------------

    @guarded
    def recover(self) -> RecoverReport:
        """Clean up what a crash left (orphan blobs, temp files, a stale lock); waits for the lock."""
        from ..tlogfs import recover

        if self.read_only:
            raise self._read_only_error("cannot be recovered")
        if self.persistence.shared:
            raise ConfigError(
                f"{self.location} is kept on S3, where a crash leaves no lock and no half "
                "commit, only unreferenced objects: there is nothing to recover"
            )
        return recover(self.path, lock_timeout=self.lock_timeout)

    @guarded
    def fsck(self, *, at_txn: int | None = None) -> FsckReport:
        """Re-hash every oplog file, version and blob, check the oplog, compute the content root.

        The report's ``content_root`` (64 hex digits) is a digest of the tree at
        ``at_txn`` (default: the newest transaction; see ``duckpond.tlogfs.integrity``);
        ``ok`` is False when a problem was found, each one named.  Never writes.
        """
        if self.persistence.shared:
            return self._fsck_store(at_txn)
        self._local_only("fsck")
        return Pond.check(self.path, at_txn=at_txn)

    def _fsck_store(self, at_txn: int | None) -> FsckReport:
        """``fsck`` of a pond on S3: every object of its table and blobs is fetched (fsck
        reads every byte anyway) into a temporary directory and checked there."""
        import tempfile

        from ..tlogfs import fsck
        from ..tlogfs.layout import DATA_DIR

        files = self.persistence.remote
        assert files is not None
        with tempfile.TemporaryDirectory(prefix="duckpond-fsck-") as tmp:
            files.download(f"{DATA_DIR}/", Path(tmp))
            report = fsck(Path(tmp), at_txn=at_txn)
        # A pond on S3 keeps no seals (the server checks each upload's checksum).
        report.unsealed_files = 0
        # Objects no commit names are removed by maintain once past its grace period
        # (recover has nothing to do on S3); problems name the store, not the copy.
        report.leftovers_advice = "pond maintain removes them once older than its --grace"
        where = f"{self.location}/{DATA_DIR}"
        report.problems = [
            dataclasses.replace(
                p, detail=p.detail.replace(tmp, where), path=p.path.replace(tmp, where)
            )
            for p in report.problems
        ]
        return report

    @staticmethod
    @guarded
    def check(path: str | os.PathLike[str], *, at_txn: int | None = None) -> FsckReport:
        """``fsck`` of the pond at ``path`` without opening it first (it may be too damaged
        to open: that is then a problem of the report, not an exception)."""
        from ..tlogfs import fsck
        from ..tlogfs.objectstore import is_store_url

        if is_store_url(os.fspath(path)):
            url = os.fspath(path)
            with Pond.open(url) as pond:
                if pond.persistence.shared:
                    return pond._fsck_store(at_txn)
            raise ConfigError(
                f"{url} is read in place: fsck needs a local pond; restore it first "
                f"(pond restore {url} DIR)"
            )
        return fsck(Path(path).expanduser().absolute(), at_txn=at_txn)

    @staticmethod
    def repair(path: str | os.PathLike[str], backup: str) -> RepairReport:
        """``fsck --repair``: put back from Backup ``backup`` every missing or corrupt oplog
        file and blob, then fsck again; works on a pond too damaged to open
        (``pond.backups.repair_pond``).  The report names what is left unrepaired."""
        from .backups import repair_pond

        return repair_pond(path, backup)

    # -- tables, series, SQL ---------------------------------------------------------

    @guarded
    def describe(self, pattern: str) -> builtins.list[dict[str, Any]]:
        """What ``pond describe`` prints: a pattern's nodes, or what a URL reads as."""
        from ..ingest.describe import describe_node, describe_url
        from ..query.urls import is_url

        if is_url(pattern):
            return [describe_url(self.root, self.persistence, pattern)]
        return [describe_node(np) for np in self.list(pattern)]

    @guarded
    def sql(self, query: str) -> pa.Table:
        """Run SQL over the system tables and pond files (double-quoted paths)."""
        from ..query.engine import run_query

        return run_query(self.root, self.persistence, query)

    @guarded
    def query(self, sql: str) -> pa.RecordBatchReader:
        """``pond query``: like ``sql()`` but streamed, for results too big to hold."""
        from ..query import engine

        return engine.query(self.root, sql, persistence=self.persistence)

    @guarded
    def cat(
        self,
        target: str,
        *,
        sql: str | None = None,
        start: Any = None,
        end: Any = None,
        all_versions: bool = False,
        with_path: bool = False,
    ) -> pa.RecordBatchReader:
        """``pond cat --sql/--start/--end``: a path, glob or URL as rows, streamed.

        With ``sql``, ``target`` is the table ``source``; ``start`` is inclusive and
        ``end`` exclusive.  A series reads in event-time order, a newer version's rows
        replacing an older one's at the same times; ``all_versions`` gives every stored
        row instead, in stored order.  ``with_path`` adds a ``path`` column naming the
        file each row came from (useful over a glob).
        """
        from ..query import engine

        return engine.cat(
            self.root,
            target,
            sql=sql,
            start=_time_or_none(start),
            end=_time_or_none(end),
            persistence=self.persistence,
            all_versions=all_versions,
            with_path=with_path,
        )

    @guarded
    def read_table(
        self, path: str, *, start: Any = None, end: Any = None, all_versions: bool = False
    ) -> pa.Table:
        """A table, a series (optionally limited to [start, end)), or a glob of them.

        ``start`` (inclusive) and ``end`` (exclusive) are ISO 8601 strings, datetimes or
        pandas Timestamps; a time without a zone is UTC.  A series reads as ``cat``
        reads it (``all_versions``: every stored row, in stored order).
        """
        from ..query.engine import read_source

        return read_source(
            self.root,
            self.persistence,
            path,
            start=_time_or_none(start),
            end=_time_or_none(end),
            all_versions=all_versions,
        )

    @guarded
    def write_series(self, path: str, data: Any, *, timestamp_column: str | None = None) -> None:
        """Append a version to the series at ``path`` (created if missing) from Arrow, pandas or polars."""
        self._write(lambda tx: tx.write_series(path, data, timestamp_column=timestamp_column))

    @guarded
    def write_table(self, path: str, data: Any) -> None:
        """Write a ``file:table`` (a new version if it exists) from Arrow, pandas or polars."""
        self._write(lambda tx: tx.write_table(path, data))

    @guarded
    def export(
        self,
        patterns: str | Sequence[str],
        out_dir: str | os.PathLike[str],
        *,
        partition: str | None = None,
        format: str = "parquet",
        start: Any = None,
        end: Any = None,
        storage_options: dict[str, str] | None = None,
    ) -> ExportResult | DeltaExportResult:
        """Export tables and series as Hive-partitioned files plus ``manifest.json``,
        or (``format="delta"``) each as a standalone Delta table.

        Every table or series (stored or computed) that ``patterns`` match, or that
        lies below a matched directory, goes to ``out_dir/<its pond path>/``, split by
        event time in UTC into ``year=YYYY[/month=MM]/data.<format>`` (``partition`` is
        ``year`` or ``month``; a table without a time column is one ``data.<format>``).
        ``format`` is ``parquet`` or ``csv``; ``start`` (inclusive) and ``end``
        (exclusive) limit the rows.  A re-export rewrites only the files whose content
        changed and removes those that the previous export wrote and this one does not
        (see ``duckpond.ingest.partitioned``); ``partition`` None means ``month``.

        ``format="delta"`` writes each output to the Delta table ``out_dir/<its pond
        path>`` (``out_dir`` a directory, or an object store URL opened with
        ``storage_options``), appending what is new since the last export and
        committing nothing when nothing is (see ``duckpond.ingest.delta_export``); it
        takes no ``partition``, ``start`` or ``end``.  Raises ``FileNotFoundError``
        when a pattern matches no table or series, ``ConfigError`` for a bad option.
        """
        from ..ingest.partitioned import export_partitioned

        delta = format == "delta"
        if delta and (partition is not None or start is not None or end is not None):
            raise ConfigError(
                "a Delta export takes every row of each output: drop {partition}, "
                "{start} and {end}",
                options={"partition": "", "start": "", "end": ""},
            )

        root = self.root
        chosen: dict[str, NodePath] = {}
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            found = 0
            for match in self.list(pattern):
                # A matched symlink exports what it points to, under its own path.
                np = (
                    NodePath(root.get(match.path).node, match.path) if match.is_symlink() else match
                )
                below = root.visit(np.path, hidden=False) if np.is_dir() else iter([np])
                for node in below:
                    if node.is_file() and node.is_tabular():
                        chosen.setdefault(node.path, node)
                        found += 1
            if not found:
                if is_literal(self.root, pattern) and self.root.exists(pattern):
                    raise InvalidPathError(f"not a table or series: {pattern}")
                raise FileNotFoundError(2, "no table or series matches", pattern)

        def read(path: str, low: datetime | None, high: datetime | None) -> pa.RecordBatchReader:
            return self.cat(path, start=low, end=high)

        if delta:
            from ..ingest.delta_export import export_delta

            return export_delta(
                list(chosen.values()),
                os.fspath(out_dir),
                read,
                storage_options=storage_options,
            )
        return export_partitioned(
            list(chosen.values()),
            Path(out_dir),
            read,
            partition=partition or "month",
            format=format,
            start=_time_or_none(start),
            end=_time_or_none(end),
        )


def _time_or_none(value: Any) -> datetime | None:
    from ..timeparse import as_time

    return None if value is None else as_time(value)


def _resolves(root: WD, path: str) -> bool:
    try:
        root.get(path)
    except (FileNotFoundError, NotADirectoryError, OSError):
        return False
    return True


def is_literal(root: WD, pattern: str) -> bool:
    """Whether ``pattern`` names one path rather than a glob: it has no wildcard, or a
    node exists under exactly that name (``/export[1].csv``, ``/a[b]*c.csv``), which is
    then read as any other path is, by every command."""
    if not has_wildcard(pattern):
        return True
    return pattern != "/" and root.exists(pattern.rstrip("/"))


def _static_prefix(pattern: str) -> str:
    """The directory part of a pattern before its first wildcard."""
    parts = tpaths.split(pattern)
    static: list[str] = []
    for part in parts:
        if has_wildcard(part):
            break
        static.append(part)
    else:
        static = static[:-1]
    return tpaths.join(static)
