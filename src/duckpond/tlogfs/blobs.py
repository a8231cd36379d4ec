"""Content-addressed blobs in ``data/_large_files/sha256=<hex>``.

A blob becomes durable before the Delta commit that names it: written under
a temporary name, fsynced, renamed into place, and the directory fsynced
(once per commit, by ``sync``).  A crash can therefore leave a blob no row
names, never a row naming a missing blob; ``recover`` removes the former.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

from .layout import BLOB_PREFIX, TEMP_PREFIX

_BLOB_NAME = re.compile(re.escape(BLOB_PREFIX) + r"([0-9a-f]{64})")

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

    def read(self, sha256: str, *, verify: bool = True) -> bytes:
        """A blob's bytes, checked against its digest unless told not to; raises ``BlobError``."""
        path = self.path(sha256)
        try:
            with open(path, "rb") as f:
                key = _stat_key(os.fstat(f.fileno()))
                data = f.read()
        except FileNotFoundError:
            raise BlobError(sha256, missing=True) from None
        name = str(path)
        if verify and _verified.get(name) != key:
            if hashlib.sha256(data).hexdigest() != sha256:
                _verified.pop(name, None)
                raise BlobError(sha256, missing=False)
            _verified[name] = key
        return data

    def verified_path(self, sha256: str) -> Path:
        """The blob's file, once hashed in this process and found right; raises ``BlobError``.

        For readers that open the file themselves (the query engine); hashing
        reads the whole file once per process.
        """
        path = self.path(sha256)
        name = str(path)
        try:
            key = _stat_key(os.stat(path))
        except FileNotFoundError:
            raise BlobError(sha256, missing=True) from None
        if _verified.get(name) == key:
            return path
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                key = _stat_key(os.fstat(f.fileno()))
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except FileNotFoundError:
            raise BlobError(sha256, missing=True) from None
        if digest.hexdigest() != sha256:
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
