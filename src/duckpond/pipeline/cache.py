"""``DiskCache``: dynamic node outputs kept under ``$POND/cache/`` between processes.

The ``OutputCache`` of docs/dynamic-nodes.md, on disk::

    cache/
      <sha256 of [node_id, config_version, path]>/     one directory per CacheKey
        key.json                                       the key, for people reading the tree
        <sha256 of the sorted input list>/             one entry per input set
          inputs.json                                  [[node_id, version], ...]
          data.parquet + meta.json                     a table output (meta: event range)
          data.bin                                     a file output's bytes
          listing.json                                 a dynamic directory's listing

An entry is written under a temporary name beside it and renamed into place
once complete (a table: when its stream has been read to the end), so a
crash leaves no half entry.  ``lookup`` re-reads each entry's
``inputs.json`` and takes the one whose every input still has its recorded
version in the reader's state; a missing or unreadable entry is a miss, and
a failure to write one only costs the next reader the computation.
Deleting ``cache/`` loses nothing but time.  Each key keeps its
``ENTRIES_PER_KEY`` most recently used entries (a hit touches ``inputs.json``),
so new versions of the inputs do not pile up entries without end.

Because an entry's name is its input set, a reader at ``--at-txn N`` stores
(and finds) entries computed from the inputs as they were at N, which a
present reader never takes: their recorded versions are not current.

Nothing here imports pyarrow until a table is stored or read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tinyfs import CacheKey, FileOutput, TableOutput

if TYPE_CHECKING:
    import pyarrow as pa

    from ..tinyfs.context import InputVersion
    from ..tinyfs.dynamic import Cached, VersionOf

TABLE_FILE = "data.parquet"
META_FILE = "meta.json"
BYTES_FILE = "data.bin"
LISTING_FILE = "listing.json"
INPUTS_FILE = "inputs.json"
ENTRIES_PER_KEY = 3
STALE_STAGING_S = 3600
CACHE_MAX_BYTES = 1 << 30
"""The cache's size bound: ``pond maintain`` prunes it to this (``--cache-max`` overrides)."""
"""Entries kept per (node, config version, path): the newest, and a couple for the past."""


def _touch(path: Path) -> None:
    """Mark an entry used (its ``inputs.json`` mtime is its last use)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()[:32]


def key_dir_name(key: CacheKey) -> str:
    """The directory of one ``CacheKey``: a hash of (node id, config version, path)."""
    return _digest([key.node_id, key.config_version, key.path])


def entry_name(inputs: frozenset[InputVersion]) -> str:
    """The name of one entry: a hash of its sorted input list."""
    return _digest(sorted([node_id, version] for node_id, version in inputs))


@dataclass
class CacheStats:
    """What this process did with the cache: lookups that hit, entries stored."""

    hits: int = 0
    misses: int = 0
    stores: int = 0


@dataclass
class DiskCache:
    """An ``OutputCache`` in a directory (``$POND/cache``), shared by every reader of the pond."""

    root: Path
    stats: CacheStats = field(default_factory=CacheStats)

    # -- lookup ----------------------------------------------------------------------

    def lookup(self, key: CacheKey, current: VersionOf) -> Cached | None:
        """An entry under ``key`` whose recorded inputs are all current, else None."""
        key_dir = self.root / key_dir_name(key)
        try:
            names = sorted(os.listdir(key_dir))
        except OSError:
            self.stats.misses += 1
            return None
        for name in names:
            if name.startswith(".") or name == "key.json":
                continue
            value = self._load(key_dir / name, current)
            if value is not None:
                self.stats.hits += 1
                _touch(key_dir / name / INPUTS_FILE)
                return value
        self.stats.misses += 1
        return None

    def _load(self, entry: Path, current: VersionOf) -> Cached | None:
        try:
            inputs = json.loads((entry / INPUTS_FILE).read_text())
            if not all(current(str(node_id)) == int(version) for node_id, version in inputs):
                return None
            if (entry / LISTING_FILE).exists():
                listing = json.loads((entry / LISTING_FILE).read_text())
                if not isinstance(listing, dict):
                    return None
                return {str(k): str(v) for k, v in listing.items()}
            if (entry / BYTES_FILE).exists():
                return _CachedBytes(entry / BYTES_FILE)
            meta = json.loads((entry / META_FILE).read_text())
            span = meta.get("event_range")
            table = _CachedTable(
                entry / TABLE_FILE, None if span is None else (int(span[0]), int(span[1]))
            )
            table.schema()  # an unreadable file is a miss, not an error later
            return table
        except (OSError, ValueError, TypeError, KeyError):
            return None
        except Exception as exc:  # pyarrow's errors for a damaged Parquet file
            if type(exc).__module__.startswith("pyarrow"):
                return None
            raise

    # -- store -----------------------------------------------------------------------

    def store(
        self, key: CacheKey, value: Cached, inputs: Callable[[], frozenset[InputVersion]]
    ) -> Cached:
        """What the reader uses instead of ``value``: it commits the entry once fully read."""
        if isinstance(value, TableOutput):
            return _TeeTable(self, key, value, inputs)
        if isinstance(value, FileOutput):
            return _TeeBytes(self, key, value, inputs)
        listing = dict(value)
        staging = self._staging(key)
        if staging is not None:
            self._write_json(staging / LISTING_FILE, listing)
            self._commit(key, staging, inputs())
        return listing

    def _staging(self, key: CacheKey) -> Path | None:
        """A fresh temporary entry directory under the key's directory (None if unwritable)."""
        key_dir = self.root / key_dir_name(key)
        try:
            key_dir.mkdir(parents=True, exist_ok=True)
            marker = key_dir / "key.json"
            if not marker.exists():
                self._write_json(
                    marker,
                    {
                        "node_id": key.node_id,
                        "config_version": key.config_version,
                        "path": key.path,
                    },
                )
            import tempfile

            return Path(tempfile.mkdtemp(prefix=".tmp-", dir=key_dir))
        except OSError:
            return None

    @staticmethod
    def _write_json(path: Path, value: Any) -> None:
        path.write_text(json.dumps(value, separators=(",", ":")))

    def _commit(self, key: CacheKey, staging: Path, inputs: frozenset[InputVersion]) -> None:
        """Rename a complete staging directory into place (or drop it if the entry exists)."""
        try:
            self._write_json(staging / INPUTS_FILE, sorted([n, v] for n, v in inputs))
            target = staging.parent / entry_name(inputs)
            try:
                os.rename(staging, target)
            except OSError:
                # Another reader stored the same entry first: theirs is as good.
                self.discard(staging)
                return
            self.stats.stores += 1
            self._evict(staging.parent, keep=target.name)
        except OSError:
            self.discard(staging)

    def _evict(self, key_dir: Path, keep: str) -> None:
        """Keep the ``ENTRIES_PER_KEY`` most recently used entries of a key, drop the rest.

        Each new input version of a collector's data adds an entry under the
        same key; without this a pond that cron feeds every few minutes would
        grow its cache without end.  Older entries only serve readers of the
        past (``--at-txn``), which then compute again.
        """
        entries = []
        for entry in key_dir.iterdir():
            if entry.name.startswith(".") or entry.name == keep or not entry.is_dir():
                continue
            try:
                entries.append(((entry / INPUTS_FILE).stat().st_mtime_ns, entry))
            except OSError:
                entries.append((0, entry))
        entries.sort(reverse=True)
        for _, entry in entries[ENTRIES_PER_KEY - 1 :]:
            self.discard(entry)

    def prune(self, max_bytes: int, *, dry_run: bool = False) -> tuple[int, int]:
        """Drop the least recently used entries until the cache holds at most ``max_bytes``.

        Returns (entries, bytes) removed, or that would be with ``dry_run``.  Also
        removes staging directories a crashed writer left.  Safe beside readers:
        a reader holding an entry's open files keeps reading them, and a lookup of
        a removed entry is a miss.
        """
        entries: list[tuple[int, int, Path]] = []
        removed = [0, 0]
        if not self.root.is_dir():
            return 0, 0
        for key_dir in self.root.iterdir():
            if not key_dir.is_dir():
                continue
            for entry in key_dir.iterdir():
                size = sum(f.stat().st_size for f in entry.iterdir()) if entry.is_dir() else 0
                if entry.name.startswith("."):
                    # A staging directory: a writer's in flight, an hour-old one a crash's.
                    if time.time() - entry.stat().st_mtime < STALE_STAGING_S:
                        continue
                    removed[0] += 1
                    removed[1] += size
                    if not dry_run:
                        self.discard(entry)
                    continue
                try:
                    used = (entry / INPUTS_FILE).stat().st_mtime_ns
                except OSError:
                    used = 0
                entries.append((used, size, entry))
        total = sum(size for _, size, _ in entries)
        for _, size, entry in sorted(entries, key=lambda e: e[0]):
            if total <= max_bytes:
                break
            total -= size
            removed[0] += 1
            removed[1] += size
            if not dry_run:
                self.discard(entry)
        return removed[0], removed[1]

    @staticmethod
    def discard(staging: Path) -> None:
        """Remove a staging directory (what a partial or failed write left)."""
        import shutil

        shutil.rmtree(staging, ignore_errors=True)


# -- what a hit gives ---------------------------------------------------------------------

# Rows per batch read back from a cached table: big enough that a 10M-row entry is
# about 150 batches, small enough that a stream holds a few MB at a time.
READ_BATCH_ROWS = 65_536


@dataclass
class _CachedTable:
    """A cached table output: a Parquet file read back in batches.

    The file is opened at lookup: another process evicting the entry
    afterwards unlinks a file this reader still holds open.
    """

    path: Path
    range_: tuple[int, int] | None
    _file: Any = None

    def _parquet(self) -> Any:
        if self._file is None:
            import pyarrow.parquet as pq

            self._file = pq.ParquetFile(self.path.open("rb"))
        return self._file

    def schema(self) -> pa.Schema:
        schema: pa.Schema = self._parquet().schema_arrow
        return schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        yield from self._parquet().iter_batches(batch_size=READ_BATCH_ROWS)

    def event_range(self) -> tuple[int, int] | None:
        return self.range_


@dataclass(frozen=True)
class _CachedBytes:
    path: Path

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


# -- what a miss gives: the fresh output, stored as it is read ------------------------------


@dataclass
class _TeeBytes:
    cache: DiskCache
    key: CacheKey
    inner: FileOutput
    inputs: Callable[[], frozenset[InputVersion]]
    _data: bytes | None = None

    def read_bytes(self) -> bytes:
        if self._data is None:
            self._data = self.inner.read_bytes()
            staging = self.cache._staging(self.key)
            if staging is not None:
                try:
                    (staging / BYTES_FILE).write_bytes(self._data)
                except OSError:
                    self.cache.discard(staging)
                else:
                    self.cache._commit(self.key, staging, self.inputs())
        return self._data


@dataclass
class _TeeTable:
    """Streams the fresh output and writes it to a staging Parquet file as it goes."""

    cache: DiskCache
    key: CacheKey
    inner: TableOutput
    inputs: Callable[[], frozenset[InputVersion]]

    def schema(self) -> pa.Schema:
        return self.inner.schema()

    def event_range(self) -> tuple[int, int] | None:
        return self.inner.event_range()

    def batches(self) -> Iterator[pa.RecordBatch]:
        staging = self.cache._staging(self.key)
        writer = None
        done = False
        try:
            if staging is not None:
                writer = _open_writer(staging / TABLE_FILE, self.inner.schema())
            for batch in self.inner.batches():
                if writer is not None:
                    try:
                        writer.write_batch(batch)
                    except OSError:
                        writer = None
                yield batch
            done = True
        finally:
            if writer is not None:
                try:
                    writer.close()
                except OSError:
                    done = False
            if staging is not None:
                # Only a stream read to its end is the output: a partial one is dropped.
                if done and writer is not None:
                    span = self.inner.event_range()
                    try:
                        DiskCache._write_json(
                            staging / META_FILE,
                            {"event_range": None if span is None else list(span)},
                        )
                    except OSError:
                        self.cache.discard(staging)
                    else:
                        self.cache._commit(self.key, staging, self.inputs())
                else:
                    self.cache.discard(staging)


def _open_writer(path: Path, schema: pa.Schema) -> Any:
    import pyarrow.parquet as pq

    # Written once, read often and soon: fast compression, statistics kept for the reader.
    return pq.ParquetWriter(path, schema, compression="lz4")


def cache_summary(root: Path) -> Mapping[str, int]:
    """Entries and bytes under a cache directory (for people and benchmarks)."""
    entries = 0
    size = 0
    if root.is_dir():
        for key_dir in root.iterdir():
            if not key_dir.is_dir():
                continue
            for entry in key_dir.iterdir():
                if entry.is_dir() and not entry.name.startswith("."):
                    entries += 1
                    size += sum(f.stat().st_size for f in entry.iterdir())
    return {"entries": entries, "bytes": size}
