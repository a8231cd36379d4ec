"""The local side of a push: a pond's Delta log read version by version.

"Local" is the pond being pushed: its directory, or the store a pond kept on S3 lives
in (``source.PondFiles`` reads either by key).

Each Delta version of ``$POND/data`` is one ``_delta_log/<version>.json`` entry (a pond
transaction, or a maintenance commit with no ``txn_seq``).  What a version needs on the
remote is that entry, the data files its ``add`` actions name, and the blobs that rows of
those files name (content of ``LARGE_FILE_THRESHOLD`` bytes or more, by sha256).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..errors import PondCorruptError
from ..tlogfs.layout import LARGE_FILE_THRESHOLD
from .layout import LOG_PREFIX, RemoteObject, blob_key, checkpoint_key, data_key, log_key
from .source import PondFiles, pond_files

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class LocalFile:
    """A file to send: its key (the same in the pond and on the remote) and its size.

    ``blobs``: for a data file, the blobs its rows name when its Delta statistics tell
    them (``blobs_from_stats``); None when only reading the file can.
    """

    key: str
    size: int
    blobs: tuple[LocalFile, ...] | None = None


@dataclass(frozen=True)
class LocalVersion:
    """One Delta version of the local pond: its log entry's bytes and what they name."""

    version: int
    log: bytes
    txn_seq: int | None
    timestamp_ms: int | None
    data_files: tuple[LocalFile, ...]
    checkpoint: LocalFile | None = None
    """The version's Delta checkpoint, if the pond has written one."""


class LocalLog:
    """The Delta log of the pond at ``where``: a directory or ``PondFiles`` (read-only;
    never takes the write lock)."""

    def __init__(self, where: Path | PondFiles) -> None:
        self.files = pond_files(where)
        self._archived: dict[int, dict[str, Any]] | None = None

    def versions(self) -> list[int]:
        """The committed Delta versions, oldest first (0, 1, 2...)."""
        try:
            names = self.files.names(LOG_PREFIX)
        except FileNotFoundError:
            raise PondCorruptError(f"{self.files.where} has no Delta log") from None
        found = sorted(
            int(n[:20]) for n in names if len(n) == 25 and n.endswith(".json") and n[:20].isdigit()
        )
        return found

    def checkpoints(self) -> list[int]:
        """The versions the pond has a (single-file) Delta checkpoint of, oldest first."""
        try:
            names = self.files.names(LOG_PREFIX)
        except FileNotFoundError:
            return []
        suffix = ".checkpoint.parquet"
        return sorted(
            int(n[:20])
            for n in names
            if len(n) == 20 + len(suffix) and n.endswith(suffix) and n[:20].isdigit()
        )

    def checkpoint(self, version: int) -> LocalFile | None:
        """Version ``version``'s checkpoint, if the pond has one."""
        size = self.files.size(checkpoint_key(version))
        return None if size is None else LocalFile(checkpoint_key(version), size)

    def newest(self) -> int:
        versions = self.versions()
        if not versions:
            raise PondCorruptError(f"{self.files.where} has an empty Delta log")
        return versions[-1]

    def read(self, version: int, *, blobs: bool = True) -> LocalVersion:
        """Version ``version``'s log entry and the data files it adds; with ``blobs``
        False, the files' ``blobs`` are left unknown (their statistics not parsed: a
        restore's check of what it wrote needs only keys and sizes)."""
        where = f"{self.files.where}/{log_key(version)}"
        raw = self.files.read(log_key(version))
        txn_seq: int | None = None
        timestamp: int | None = None
        files: list[LocalFile] = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            info = action.get("commitInfo")
            if isinstance(info, dict):
                if info.get("txn_seq") is not None:
                    txn_seq = int(info["txn_seq"])
                if isinstance(info.get("timestamp"), int):
                    timestamp = info["timestamp"]
            add = action.get("add")
            if isinstance(add, dict):
                relative = unquote(str(add["path"]))
                if relative.startswith("/") or ".." in relative.split("/"):
                    raise PondCorruptError(f"{where}: an add action names {relative!r}")
                files.append(
                    LocalFile(
                        data_key(relative),
                        int(add["size"]),
                        self.blobs_from_stats(add.get("stats")) if blobs else None,
                    )
                )
        return LocalVersion(
            version, raw, txn_seq, timestamp, tuple(files), self.checkpoint(version)
        )

    def txn_through(self, version: int) -> int:
        """The newest pond transaction at or before Delta version ``version`` (0: none).

        Log entries ``pond maintain`` removed are told by its archive of their commit
        metadata (``tlogfs.retention``), which gives each transaction's Delta version.
        """
        for v in range(version, -1, -1):
            if self.files.size(log_key(v)) is None:
                return self._archived_txn_through(v)
            txn = self.read(v).txn_seq
            if txn is not None:
                return txn
        return 0

    def _archived_txn_through(self, version: int) -> int:
        found = [
            txn
            for txn, commit in self.archived().items()
            if isinstance(commit.get("version"), int) and commit["version"] <= version
        ]
        return max(found, default=0)

    def archived(self) -> dict[int, dict[str, Any]]:
        """The commit metadata ``pond maintain`` archived before removing log entries, by
        pond transaction (``tlogfs.retention``; empty if it never removed any).  Read once."""
        if self._archived is None:
            from ..tlogfs.layout import DATA_DIR, META_DIR
            from ..tlogfs.retention import ARCHIVE_FILE, LEGACY_ARCHIVE_FILE, _parse_archive

            def read(name: str) -> bytes | None:
                key = f"{DATA_DIR}/{META_DIR}/{name}"
                return self.files.read(key) if self.files.size(key) is not None else None

            self._archived = _parse_archive(
                read(ARCHIVE_FILE), read(LEGACY_ARCHIVE_FILE), f"{self.files.where}/{ARCHIVE_FILE}"
            )
        return self._archived

    def partitions_changed(self, after: int, parts: set[str]) -> bool:
        """True if a Delta version after ``after`` adds or removes a file in one of ``parts``
        (``part_id`` values), or if one of those versions' entries cannot be read (then
        nobody can say, and the caller must assume a change)."""
        try:
            newest = self.newest()
        except PondCorruptError:
            return True
        if newest < after:
            return True
        for version in range(after + 1, newest + 1):
            try:
                raw = self.files.read(log_key(version))
            except OSError:
                return True
            for line in raw.splitlines():
                try:
                    action = json.loads(line) if line.strip() else {}
                except ValueError:
                    return True
                for kind in ("add", "remove"):
                    found = action.get(kind)
                    if isinstance(found, dict) and _partition(found) in parts:
                        return True
        return False

    def blob(self, sha256: str, size: int) -> LocalFile:
        return LocalFile(blob_key(sha256), size)

    def sha256(self, f: LocalFile) -> str:
        """The sha256 of a file's bytes, read in chunks (hashlib releases the GIL on each)."""
        digest = hashlib.sha256()
        for chunk in self.files.chunks(f.key):
            digest.update(chunk)
        return digest.hexdigest()

    def blobs_from_stats(self, stats: object) -> tuple[LocalFile, ...] | None:
        """The blobs a data file's rows name, from its ``add`` action's statistics alone.

        Statistics tell it for the files most commits add: none if the largest ``size``
        is under the blob threshold; the one row's blob if the file holds one row (its
        min and max ``sha256``, untruncated, are the same).  None otherwise: the file must
        be read (``blobs``).  A push after a small change then never imports pyarrow.
        """
        try:
            found = json.loads(stats) if isinstance(stats, str) else None
            if not isinstance(found, dict):
                return None
            low, high = found["minValues"], found["maxValues"]
            rows, nulls = int(found["numRecords"]), found["nullCount"]
            if int(nulls.get("size", 0)) == rows:
                return ()  # no row has a size: none has a blob
            if int(high["size"]) < LARGE_FILE_THRESHOLD:
                return ()
            sha, size = low["sha256"], int(low["size"])
            if rows != 1 or sha != high["sha256"] or not _SHA256.fullmatch(str(sha)):
                return None
            return (self.blob(str(sha), size),)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def blobs(self, data_file: LocalFile) -> list[LocalFile]:
        """The blobs named by rows of one data file (sha256 and size columns only)."""
        if data_file.blobs is not None:
            return list(data_file.blobs)
        import pyarrow.parquet as pq

        # ParquetFile, not read_table: that imports pyarrow.dataset, and with it pandas
        # (seconds on a busy machine), for nothing a push needs.
        table = pq.ParquetFile(self.files.parquet(data_file.key)).read(columns=["sha256", "size"])
        out: dict[str, LocalFile] = {}
        for sha, size in zip(
            table.column("sha256").to_pylist(), table.column("size").to_pylist(), strict=True
        ):
            if size is not None and size >= LARGE_FILE_THRESHOLD and sha not in out:
                out[sha] = self.blob(sha, int(size))
        return list(out.values())


@dataclass(frozen=True)
class Seed:
    """What a first push of a pond ``pond maintain --keep`` shortened sends before its log:
    the snapshot at Delta version ``version`` (the first after 0 the pond still holds).

    ``checkpoint``: the pond's checkpoint of that version; ``files``: the data files live
    there that the version's own entry did not add (that entry's record names those),
    each with the blobs its rows name; ``earliest_txn`` and ``removed_at`` (ISO 8601 UTC):
    the pond's retention floor (``tlogfs.retention``).
    """

    version: int
    checkpoint: LocalFile
    files: tuple[tuple[LocalFile, tuple[LocalFile, ...]], ...]
    earliest_txn: int
    removed_at: str


def seed_of(log: LocalLog) -> Seed | None:
    """The snapshot a first push of a maintained pond starts from; None if the pond holds
    every log entry from 0 (a push sends them all).  ``PondCorruptError`` if entries are
    missing but the pond has no checkpoint or retention record to start from."""
    from ..tlogfs.layout import DATA_DIR, META_DIR
    from ..tlogfs.retention import RETENTION_FILE

    versions = log.versions()
    if versions == list(range(len(versions))):
        return None
    kept = next(v for v in versions if v > 0) if len(versions) > 1 else None
    key = f"{DATA_DIR}/{META_DIR}/{RETENTION_FILE}"
    # The snapshot of the first checkpoint from there on whose files the pond still holds:
    # entries maintain kept before it (those a lagging backup had not received) are in
    # it.  A later maintain may keep an older checkpoint (the last one a backup held)
    # yet remove data files it lists, which its own compaction replaced.
    for first in (c for c in log.checkpoints() if kept is not None and c >= kept):
        cp = log.checkpoint(first)
        files = _snapshot_files(log, first, cp) if cp is not None else None
        if cp is not None and files is not None and log.files.size(key) is not None:
            retention = json.loads(log.files.read(key))
            return Seed(
                first,
                cp,
                files,
                int(retention["earliest_txn"]),
                str(retention["removed_at"]),
            )
    raise PondCorruptError(
        f"{log.files.where}: log entries 1 to {(kept or 1) - 1} are missing, with no "
        "whole checkpoint after them and retention record of pond maintain to start a "
        "backup from"
    )


def _snapshot_files(
    log: LocalLog, version: int, cp: LocalFile
) -> tuple[tuple[LocalFile, tuple[LocalFile, ...]], ...] | None:
    """The data files live at checkpoint ``version`` that its own entry did not add, each
    with the blobs its rows name; None if one of them, or of their blobs, is gone."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(log.files.parquet(cp.key)).read(columns=["add"])
    own = {f.key for f in log.read(version).data_files}
    files = []
    for add in table.column("add").to_pylist():
        if not add:
            continue
        f = LocalFile(
            data_key(unquote(str(add["path"]))),
            int(add["size"]),
            log.blobs_from_stats(add.get("stats")),
        )
        if log.files.size(f.key) is None:
            return None
        if f.key not in own:
            blobs = tuple(log.blobs(f))
            if any(log.files.size(b.key) is None for b in blobs):
                return None
            files.append((f, blobs))
    return tuple(files)


def _partition(action: dict[str, object]) -> str | None:
    """The ``part_id`` of an add or remove action: its partition value, else its path's."""
    values = action.get("partitionValues")
    if isinstance(values, dict) and isinstance(values.get("part_id"), str):
        return str(values["part_id"])
    first = unquote(str(action.get("path", ""))).split("/", 1)[0]
    return first.removeprefix("part_id=") if first.startswith("part_id=") else None


def log_object(version: LocalVersion) -> RemoteObject:
    return RemoteObject(
        log_key(version.version), hashlib.sha256(version.log).hexdigest(), len(version.log)
    )


def pending(
    where: Path | PondFiles, after_version: int, seen: dict[int, LocalVersion] | None = None
) -> tuple[int, int]:
    """Delta versions after ``after_version`` and the bytes they would send at most.

    The bytes are the log entries, the data files they add and the blobs those name,
    counted once each; blobs the remote already holds are not sent, so a push may send
    less.  Costs a read of each pending version (what the push would read anyway), made
    several at once (a pond on S3 fetches each), and none for a version in ``seen`` (the
    versions read so far, by version: several backups' lags share their reads).
    """
    from concurrent.futures import ThreadPoolExecutor

    log = LocalLog(where)
    versions = [v for v in log.versions() if v > after_version]
    total = 0
    blobs: set[str] = set()
    try:
        seed = seed_of(log) if after_version < 0 else None
    except PondCorruptError:
        seed = None  # the push says why; a lag is still counted from what is there
    if seed is not None:
        # A first push of a maintained pond: the snapshot it starts from, then the log.
        versions = [v for v in versions if v >= seed.version]
        total += len(log.read(0).log) + seed.checkpoint.size
        for f, named in seed.files:
            total += f.size
            for blob in named:
                if blob.key not in blobs:
                    blobs.add(blob.key)
                    total += blob.size
    seen = {} if seen is None else seen
    missing = [v for v in versions if v not in seen]
    if missing:
        with ThreadPoolExecutor(max_workers=8) as pool:
            seen.update(zip(missing, pool.map(log.read, missing), strict=True))
    for v in versions:
        version = seen[v]
        total += len(version.log)
        for f in version.data_files:
            total += f.size
            for blob in log.blobs(f):
                if blob.key not in blobs:
                    blobs.add(blob.key)
                    total += blob.size
    return len(versions), total
