"""Content-addressed blobs in ``data/_large_files/sha256=<hex>``.

A blob becomes durable before the Delta commit that names it: written under
a temporary name, fsynced, renamed into place, and the directory fsynced
(once per commit, by ``sync``).  A crash can therefore leave a blob no row
names, never a row naming a missing blob; ``recover`` removes the former.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from .layout import BLOB_PREFIX, TEMP_PREFIX

_BLOB_NAME = re.compile(re.escape(BLOB_PREFIX) + r"([0-9a-f]{64})")


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

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

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
