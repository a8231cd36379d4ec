"""Disk use of a pond directory, by part: what ``pond status`` shows and ``pond du`` extends.

Parts (docs/architecture.md, "On-disk format"):

- ``log``: the Delta table without its blobs (``data/`` minus ``data/_large_files``):
  the ``_delta_log`` entries and checkpoints and the Parquet data files;
- ``blobs``: ``data/_large_files``, content-addressed large files;
- ``cache``: ``cache/``, computed outputs (disposable: deleting it loses nothing);
- ``other``: everything else (the lock files, backup records).

Sizes are bytes as ``stat`` reports them (``st_size``, apparent size, not blocks), from
one walk of the directory; files that vanish during the walk are skipped.

A pond kept on S3 (``store_usage``) has the same parts: ``log``, ``blobs`` and ``other``
(its backup records, a probe left by a killed process) are the objects of one listing of
its prefix, sizes as the store reports them; ``cache`` is this machine's directory for
the pond (``shared.cache_dir``: computed outputs, fetched data files and blobs), walked
as above.  ``cache_path`` names the directory the cache bytes were counted in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .layout import DATA_DIR, LARGE_FILES_DIR

CACHE_DIR = "cache"


@dataclass(frozen=True)
class DiskUsage:
    """Bytes and file counts of a pond directory's parts (see the module docstring)."""

    log_bytes: int = 0
    log_files: int = 0
    blob_bytes: int = 0
    blob_files: int = 0
    cache_bytes: int = 0
    cache_files: int = 0
    other_bytes: int = 0
    cache_path: str | None = None

    @property
    def total_bytes(self) -> int:
        return self.log_bytes + self.blob_bytes + self.cache_bytes + self.other_bytes

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "total_bytes": self.total_bytes}


def _walk(root: Path) -> tuple[int, int]:
    """Bytes and regular files under ``root`` (0, 0 if it is missing); symlinks not followed."""
    total = files = 0
    stack = [str(root)]
    while stack:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
                    files += 1
            except FileNotFoundError:
                continue
    return total, files


def disk_usage(pond_dir: Path) -> DiskUsage:
    """The disk use of the pond at ``pond_dir``, by part."""
    data = pond_dir / DATA_DIR
    data_bytes, data_files = _walk(data)
    blob_bytes, blob_files = _walk(data / LARGE_FILES_DIR)
    cache_bytes, cache_files = _walk(pond_dir / CACHE_DIR)
    other = 0
    try:
        tops = [e for e in os.scandir(pond_dir) if e.name not in (DATA_DIR, CACHE_DIR)]
    except FileNotFoundError:
        tops = []
    for entry in tops:
        if entry.is_dir(follow_symlinks=False):
            other += _walk(Path(entry.path))[0]
        elif entry.is_file(follow_symlinks=False):
            other += entry.stat(follow_symlinks=False).st_size
    return DiskUsage(
        log_bytes=data_bytes - blob_bytes,
        log_files=data_files - blob_files,
        blob_bytes=blob_bytes,
        blob_files=blob_files,
        cache_bytes=cache_bytes,
        cache_files=cache_files,
        other_bytes=other,
        cache_path=str(pond_dir / CACHE_DIR),
    )


def store_usage(objects: Iterable[tuple[str, int]], cache: Path) -> DiskUsage:
    """The use of a pond kept in a store, by part: ``objects`` is one listing of its
    prefix (each key relative to it, with its size in bytes), ``cache`` this machine's
    cache directory for it (walked whole)."""
    log = blobs = other = log_files = blob_files = 0
    blob_dir = f"{DATA_DIR}/{LARGE_FILES_DIR}/"
    for key, size in objects:
        if key.startswith(blob_dir):
            blobs += size
            blob_files += 1
        elif key.startswith(f"{DATA_DIR}/"):
            log += size
            log_files += 1
        else:
            other += size
    cache_bytes, cache_files = _walk(cache)
    return DiskUsage(
        log_bytes=log,
        log_files=log_files,
        blob_bytes=blobs,
        blob_files=blob_files,
        cache_bytes=cache_bytes,
        cache_files=cache_files,
        other_bytes=other,
        cache_path=str(cache),
    )
