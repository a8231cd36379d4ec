"""Content-addressed blobs in ``data/_large_files/sha256=<hex>``.

A blob becomes durable before the Delta commit that names it: written under
a temporary name, fsynced, renamed into place, and the directory fsynced
(once per commit, by ``sync``).  A crash can therefore leave a blob no row
names, never a row naming a missing blob; ``recover`` removes the former.

Reads check a blob before its bytes are used.  The sha256 in its name is the
content address and what ``fsck`` proves, but hashing 100 MB with it costs
about 50 ms of CPU; a version written since the fast checksum was added also
records the XXH3-128 of its bytes (``FAST_CHECKSUM`` in the row's attributes,
about 3 ms per 100 MB), and a read checks that when it is there and the
sha256 otherwise (versions written before).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from .layout import BLOB_PREFIX, TEMP_PREFIX

_BLOB_NAME = re.compile(re.escape(BLOB_PREFIX) + r"([0-9a-f]{64})")

# Below this, hashing after the read costs less than starting a thread.
_PARALLEL_HASH_BYTES = 4 << 20

# The attribute key, in a blob version's row, of the XXH3-128 (hex) of its bytes.
FAST_CHECKSUM = "xxh3_128"

# Blob files this process has hashed and found right: path -> what stat said then.
_verified: dict[str, tuple[int, int, int, int]] = {}


class BlobError(Exception):
    """A blob that is missing, or whose bytes do not hash to its name."""

    def __init__(self, sha256: str, missing: bool) -> None:
        self.sha256 = sha256
        self.missing = missing
        super().__init__(
            f"blob {BLOB_PREFIX}{sha256} "
            + ("is missing" if missing else "does not match its hash (its bytes changed)")
        )


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def fast_checksum(data: bytes | mmap.mmap) -> str:
    """The XXH3-128 of ``data`` as 32 hex digits (a check against changed bytes, not an address)."""
    import xxhash  # a small C extension, imported where used to keep start-up lean

    return xxhash.xxh3_128_hexdigest(data)


def _hash_file(f: BinaryIO, size: int) -> str:
    """The sha256 of an open file, hashed from a memory map (no copy into Python)."""
    if size == 0:
        return hashlib.sha256().hexdigest()
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
        return hashlib.sha256(view).hexdigest()


def _fast_checksum_file(f: BinaryIO, size: int) -> str:
    """The XXH3-128 of an open file, from a memory map (no copy into Python)."""
    if size == 0:
        return fast_checksum(b"")
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
        return fast_checksum(view)


def _read_and_hash(f: BinaryIO, size: int) -> tuple[bytes, str]:
    """An open file's bytes and their sha256.

    A large file is hashed on a second thread while this one reads it (both from
    the page cache, through the same open file; hashlib and read release the
    GIL), so verifying adds little to the time a read takes when a core is free.
    """
    if size < _PARALLEL_HASH_BYTES:
        data = f.read()
        return data, hashlib.sha256(data).hexdigest()
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(_hash_file, f, size)
        data = f.read()
        return data, digest.result()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / f"{BLOB_PREFIX}{sha256}"

    def put(self, sha256: str, data: bytes) -> bool:
        """Store ``data`` under its digest; False if an identical blob was already there."""
        final = self.path(sha256)
        if final.exists():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        return True

    def read(self, sha256: str, *, verify: bool = True, xxh3: str | None = None) -> bytes:
        """A blob's bytes, checked unless told not to; raises ``BlobError``.

        The check is against ``xxh3`` (the version's recorded XXH3-128, hex) when
        given, else against the blob's sha256.  A file found right is trusted for
        the rest of the process while its stat is unchanged.
        """
        path = self.path(sha256)
        name = str(path)
        try:
            with open(path, "rb") as f:
                key = _stat_key(os.fstat(f.fileno()))
                if not verify or _verified.get(name) == key:
                    return f.read()
                if xxh3 is not None:
                    # Hashing after the read costs less than a thread would save.
                    data = f.read()
                    right = fast_checksum(data) == xxh3
                else:
                    data, digest = _read_and_hash(f, key[2])
                    right = digest == sha256
        except FileNotFoundError:
            raise BlobError(sha256, missing=True) from None
        if not right:
            _verified.pop(name, None)
            raise BlobError(sha256, missing=False)
        _verified[name] = key
        return data

    def verified_path(self, sha256: str, xxh3: str | None = None) -> Path:
        """The blob's file, once checked in this process and found right; raises ``BlobError``.

        For readers that open the file themselves (the query engine); checking
        (against ``xxh3`` when given, else the sha256, as ``read``) reads the
        whole file once per process.
        """
        path = self.path(sha256)
        name = str(path)
        try:
            key = _stat_key(os.stat(path))
        except FileNotFoundError:
            raise BlobError(sha256, missing=True) from None
        if _verified.get(name) == key:
            return path
        try:
            with open(path, "rb") as f:
                key = _stat_key(os.fstat(f.fileno()))
                if xxh3 is not None:
                    right = _fast_checksum_file(f, key[2]) == xxh3
                else:
                    right = _hash_file(f, key[2]) == sha256
        except FileNotFoundError:
            raise BlobError(sha256, missing=True) from None
        if not right:
            _verified.pop(name, None)
            raise BlobError(sha256, missing=False)
        _verified[name] = key
        return path

    def sync(self) -> None:
        """Make renames into the blob directory durable."""
        if self.root.exists():
            fsync_dir(self.root)

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def listing(self) -> tuple[dict[str, Path], list[Path]]:
        """The blobs present, by digest, and every other file (leftover temporaries)."""
        blobs: dict[str, Path] = {}
        others: list[Path] = []
        if not self.root.exists():
            return blobs, others
        for entry in self.root.iterdir():
            match = _BLOB_NAME.fullmatch(entry.name)
            if match and entry.is_file():
                blobs[match.group(1)] = entry
            else:
                others.append(entry)
        return blobs, others
