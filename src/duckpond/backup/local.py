"""The local side of a push: a pond's Delta log read version by version.

Each Delta version of ``$POND/data`` is one ``_delta_log/<version>.json`` entry (a pond
transaction, or a maintenance commit with no ``txn_seq``).  What a version needs on the
remote is that entry, the data files its ``add`` actions name, and the blobs that rows of
those files name (content of ``LARGE_FILE_THRESHOLD`` bytes or more, by sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from ..errors import PondCorruptError
from ..tlogfs.layout import DATA_DIR, LARGE_FILE_THRESHOLD, LARGE_FILES_DIR
from .layout import RemoteObject, blob_key, data_key, log_key

_HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class LocalFile:
    """A file to send: its remote key, where it is on disk, and its size."""

    key: str
    path: Path
    size: int


@dataclass(frozen=True)
class LocalVersion:
    """One Delta version of the local pond: its log entry's bytes and what they name."""

    version: int
    log: bytes
    txn_seq: int | None
    timestamp_ms: int | None
    data_files: tuple[LocalFile, ...]


class LocalLog:
    """The Delta log of the pond at ``pond_dir`` (read-only; never takes the write lock)."""

    def __init__(self, pond_dir: Path) -> None:
        self.pond_dir = pond_dir
        self.data_dir = pond_dir / DATA_DIR
        self.log_dir = self.data_dir / "_delta_log"

    def versions(self) -> list[int]:
        """The committed Delta versions, oldest first (0, 1, 2...)."""
        try:
            names = os.listdir(self.log_dir)
        except FileNotFoundError:
            raise PondCorruptError(f"{self.pond_dir} has no Delta log") from None
        found = sorted(
            int(n[:20]) for n in names if len(n) == 25 and n.endswith(".json") and n[:20].isdigit()
        )
        return found

    def newest(self) -> int:
        versions = self.versions()
        if not versions:
            raise PondCorruptError(f"{self.pond_dir} has an empty Delta log")
        return versions[-1]

    def read(self, version: int) -> LocalVersion:
        """Version ``version``'s log entry and the data files it adds."""
        path = self.data_dir / log_key(version)[len(DATA_DIR) + 1 :]
        raw = path.read_bytes()
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
                    raise PondCorruptError(f"{path}: an add action names {relative!r}")
                files.append(
                    LocalFile(data_key(relative), self.data_dir / relative, int(add["size"]))
                )
        return LocalVersion(version, raw, txn_seq, timestamp, tuple(files))

    def blobs(self, data_file: LocalFile) -> list[LocalFile]:
        """The blobs named by rows of one data file (sha256 and size columns only)."""
        import pyarrow.parquet as pq

        # ParquetFile, not read_table: that imports pyarrow.dataset, and with it pandas
        # (seconds on a busy machine), for nothing a push needs.
        table = pq.ParquetFile(data_file.path).read(columns=["sha256", "size"])
        out: dict[str, LocalFile] = {}
        for sha, size in zip(
            table.column("sha256").to_pylist(), table.column("size").to_pylist(), strict=True
        ):
            if size is not None and size >= LARGE_FILE_THRESHOLD and sha not in out:
                path = self.data_dir / LARGE_FILES_DIR / f"sha256={sha}"
                out[sha] = LocalFile(blob_key(sha), path, int(size))
        return list(out.values())


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks (hashlib releases the GIL on each)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def log_object(version: LocalVersion) -> RemoteObject:
    return RemoteObject(
        log_key(version.version), hashlib.sha256(version.log).hexdigest(), len(version.log)
    )


def pending(pond_dir: Path, after_version: int) -> tuple[int, int]:
    """Delta versions after ``after_version`` and the bytes they would send at most.

    The bytes are the log entries, the data files they add and the blobs those name,
    counted once each; blobs the remote already holds are not sent, so a push may send
    less.  Costs a read of each pending version (what the push would read anyway).
    """
    log = LocalLog(pond_dir)
    versions = [v for v in log.versions() if v > after_version]
    total = 0
    blobs: set[str] = set()
    for v in versions:
        version = log.read(v)
        total += len(version.log)
        for f in version.data_files:
            total += f.size
            for blob in log.blobs(f):
                if blob.key not in blobs:
                    blobs.add(blob.key)
                    total += blob.size
    return len(versions), total
