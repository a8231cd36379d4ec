"""``DiskCache``: dynamic node outputs kept under ``$POND/cache/`` between processes.

The ``OutputCache`` of docs/dynamic-nodes.md, on disk::

    cache/
      <sha256 of [node_id, config_version, path]>/     one directory per CacheKey
        key.json                                       the key, for people reading the tree
        <sha256 of the sorted input list>/             one entry per input set
          manifest.json                                its key, inputs and files' checksums
          data.parquet + meta.json                     a table output (meta: event range)
          data.bin                                     a file output's bytes
          listing.json                                 a dynamic directory's listing

Nothing under ``cache/`` is trusted.  Each entry's ``manifest.json`` is sealed
(``seal``: its body with a SHA-256 of that body) and names the ``CacheKey`` it
was written for, its input list, and the size and SHA-256 of every other file
in the entry.  ``lookup`` takes an entry only when the seal holds, the key is
the one asked for, the entry's directory name is the hash of its inputs, and
every file has its recorded size and checksum (computed over the same
read-only mapping the reader then decodes); an entry failing any of these is dropped (counted
in ``CacheStats.dropped``) and the output recomputed.  So a truncated or
bit-flipped file, a file from another entry put in its place, or a whole
entry moved under another key is never served: deleting or corrupting
anything under ``cache/`` loses nothing but time.

An entry is written under a temporary name beside it and renamed into place
once complete (a table: when its stream has been read to the end), so a
crash leaves no half entry.  ``lookup`` takes the entry whose every input
still has its recorded version in the reader's state; a failure to write one
only costs the next reader the computation.  Each key keeps its
``ENTRIES_PER_KEY`` most recently used entries (a hit touches
``manifest.json``), so new versions of the inputs do not pile up entries
without end.

An input is a pond node's (id, version), or a host file read by a derivation
(``host:<path or glob>``, see ``host_version``): its "version" is a
fingerprint of what the host holds now, recomputed at each lookup, so an
entry computed from a host file is taken only while that file is unchanged.

Because an entry's name is its input set, a reader at ``--at-txn N`` stores
(and finds) entries computed from the inputs as they were at N, which a
present reader never takes: their recorded versions are not current.

Nothing here imports pyarrow until a table is stored or read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
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
MANIFEST_FILE = "manifest.json"
ENTRIES_PER_KEY = 3
STALE_STAGING_S = 3600
CACHE_MAX_BYTES = 1 << 30
"""The cache's size bound: ``pond maintain`` prunes it to this (``--cache-max`` overrides)."""
"""Entries kept per (node, config version, path): the newest, and a couple for the past."""

HOST_INPUT = "host:"
"""The prefix of an input that is a host path or glob rather than a pond node id."""

_CHUNK = 1 << 20


def _touch(path: Path) -> None:
    """Mark an entry used (its ``manifest.json`` mtime is its last use)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()[:32]


def key_dir_name(key: CacheKey) -> str:
    """The directory of one ``CacheKey``: a hash of (node id, config version, path)."""
    return _digest([key.node_id, key.config_version, key.path])


def entry_name(inputs: frozenset[InputVersion]) -> str:
    """The name of one entry: a hash of its sorted input list."""
    return _digest(sorted([node_id, version] for node_id, version in inputs))


# -- checksums shared by every kind of cache file --------------------------------------------


def seal(body: Mapping[str, Any]) -> str:
    """``body`` as JSON text carrying its own SHA-256 (``unseal`` checks it)."""
    data = _canonical(body)
    return json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "body": body})


def unseal(text: str) -> dict[str, Any] | None:
    """The body ``seal`` wrote, or None when the text is not exactly that (damaged, edited)."""
    try:
        outer = json.loads(text)
        body = outer["body"]
        if not isinstance(body, dict):
            return None
        if hashlib.sha256(_canonical(body)).hexdigest() != outer["sha256"]:
            return None
        return body
    except (ValueError, TypeError, KeyError):
        return None


def file_checksum(path: Path) -> list[Any]:
    """``[size in bytes, SHA-256 hex]`` of a file; OSError if it cannot be read."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return [size, h.hexdigest()]


def map_verified(path: Path, expected: Any) -> mmap.mmap | None:
    """``path`` mapped read-only if its content has the ``expected`` ``[size, sha256]``;
    None otherwise (missing, empty, different).

    The caller reads the very mapping that was checked, so a file swapped in
    afterwards does not reach it, and a table is decoded natively from memory
    without a second read or a copy (cheaper than the unchecked Python-file read
    it replaces).  Cache files are never rewritten in place (entries are renamed
    into place and unlinked), which a mapping relies on.
    """
    try:
        with path.open("rb") as f:
            if os.fstat(f.fileno()).st_size != expected[0] or expected[0] == 0:
                return None
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, TypeError, IndexError):
        return None
    if len(mapped) != expected[0] or hashlib.sha256(mapped).hexdigest() != expected[1]:
        mapped.close()
        return None
    return mapped


def read_verified(path: Path, expected: Any) -> bytes | None:
    """A file's bytes if they have the ``expected`` ``[size, sha256]``, else None."""
    try:
        data = path.read_bytes()
        if [len(data), hashlib.sha256(data).hexdigest()] != list(expected):
            return None
        return data
    except (OSError, TypeError):
        return None


def host_version(pattern: str) -> int:
    """A fingerprint of the host files ``pattern`` names now, as a positive int.

    It covers each matched file's path, size, mtime (ns) and a SHA-256 of its
    content, so an edit, a file added to a glob, or one removed changes it (the
    hash catches an edit that keeps size and mtime).  A pattern matching nothing
    has a fingerprint too: the derivation's error is then computed, not cached.
    """
    from ..query.sources import host_paths

    h = hashlib.sha256(pattern.encode())
    try:
        paths = host_paths(pattern)
    except OSError:
        paths = []
    for path in paths:
        try:
            st = path.stat()
            h.update(_canonical([str(path), st.st_size, st.st_mtime_ns]))
            h.update(file_checksum(path)[1].encode())
        except OSError:
            h.update(_canonical([str(path), None]))
    return int.from_bytes(h.digest()[:8], "big") >> 1


def _with_host_inputs(current: VersionOf) -> VersionOf:
    """``current`` that also answers ``host:`` inputs, each fingerprinted once per lookup
    (a key's several entries may all name the same host files)."""
    seen: dict[str, int] = {}

    def version(node_id: str) -> int | None:
        if not node_id.startswith(HOST_INPUT):
            return current(node_id)
        if node_id not in seen:
            seen[node_id] = host_version(node_id[len(HOST_INPUT) :])
        return seen[node_id]

    return version


@dataclass
class CacheStats:
    """What this process did with the cache: lookups that hit, entries stored, entries
    dropped because they failed their checks."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    dropped: int = 0


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
        current = _with_host_inputs(current)
        for name in names:
            if name.startswith(".") or name == "key.json":
                continue
            value = self._load(key_dir / name, key, current)
            if value is not None:
                self.stats.hits += 1
                _touch(key_dir / name / MANIFEST_FILE)
                return value
        self.stats.misses += 1
        return None

    def _load(self, entry: Path, key: CacheKey, current: VersionOf) -> Cached | None:
        """The entry's value if it is sound and current; a damaged entry is dropped."""
        try:
            manifest = unseal((entry / MANIFEST_FILE).read_text())
        except (OSError, UnicodeDecodeError):
            manifest = None
        try:
            if manifest is None:
                raise ValueError("manifest")
            inputs = frozenset((str(n), int(v)) for n, v in manifest["inputs"])
            written_for = manifest["key"]
            files = manifest["files"]
            if written_for != [key.node_id, key.config_version, key.path] or entry.name != (
                entry_name(inputs)
            ):
                raise ValueError("key")
            if not isinstance(files, dict):
                raise ValueError("files")
        except (ValueError, TypeError, KeyError):
            self._drop(entry)
            return None
        if not all(current(n) == v for n, v in sorted(inputs)):
            return None
        value = self._value(entry, files)
        if value is None:
            self._drop(entry)
        return value

    def _value(self, entry: Path, files: Mapping[str, Any]) -> Cached | None:
        """The entry's output from its checked files, or None if any fails its check."""
        try:
            if LISTING_FILE in files:
                data = read_verified(entry / LISTING_FILE, files[LISTING_FILE])
                listing = None if data is None else json.loads(data)
                if not isinstance(listing, dict):
                    return None
                return {str(k): str(v) for k, v in listing.items()}
            if BYTES_FILE in files:
                data = read_verified(entry / BYTES_FILE, files[BYTES_FILE])
                return None if data is None else _CachedBytes(data)
            meta_data = read_verified(entry / META_FILE, files.get(META_FILE))
            if meta_data is None:
                return None
            span = json.loads(meta_data).get("event_range")
            mapped = map_verified(entry / TABLE_FILE, files.get(TABLE_FILE))
            if mapped is None:
                return None
            table = _CachedTable(mapped, None if span is None else (int(span[0]), int(span[1])))
            table.schema()  # an unreadable file is a miss, not an error later
            return table
        except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError):
            return None
        except Exception as exc:  # pyarrow's errors for a damaged Parquet file
            if type(exc).__module__.startswith("pyarrow"):
                return None
            raise

    def _drop(self, entry: Path) -> None:
        self.stats.dropped += 1
        self.discard(entry)

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
            try:
                self._write_json(staging / LISTING_FILE, listing)
            except OSError:
                self.discard(staging)
            else:
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
        """Seal a complete staging directory and rename it into place (or drop it if the
        entry exists)."""
        try:
            files = {p.name: file_checksum(p) for p in sorted(staging.iterdir())}
            manifest = {
                "key": [key.node_id, key.config_version, key.path],
                "inputs": sorted([n, v] for n, v in inputs),
                "files": files,
            }
            (staging / MANIFEST_FILE).write_text(seal(manifest))
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
                entries.append(((entry / MANIFEST_FILE).stat().st_mtime_ns, entry))
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
                    used = (entry / MANIFEST_FILE).stat().st_mtime_ns
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
        """Remove an entry or staging directory (what a partial or failed write left)."""
        import shutil

        shutil.rmtree(staging, ignore_errors=True)


# -- what a hit gives ---------------------------------------------------------------------

# Rows per batch read back from a cached table: big enough that a 10M-row entry is
# about 150 batches, small enough that a stream holds a few MB at a time.
READ_BATCH_ROWS = 65_536


@dataclass
class _CachedTable:
    """A cached table output: a Parquet file read back in batches.

    The file is the one mapped and checked at lookup: another process evicting
    the entry afterwards unlinks a file this reader still has mapped.
    """

    mapped: mmap.mmap
    range_: tuple[int, int] | None
    _file: Any = None

    def _parquet(self) -> Any:
        if self._file is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            self._file = pq.ParquetFile(pa.BufferReader(pa.py_buffer(self.mapped)))
        return self._file

    def schema(self) -> pa.Schema:
        schema: pa.Schema = self._parquet().schema_arrow
        return schema

    def column_names(self) -> list[str]:
        """The cached table's columns (its footer: cheap)."""
        return list(self.schema().names)

    def batches(self) -> Iterator[pa.RecordBatch]:
        yield from self._parquet().iter_batches(batch_size=READ_BATCH_ROWS)

    def event_range(self) -> tuple[int, int] | None:
        return self.range_


@dataclass(frozen=True)
class _CachedBytes:
    data: bytes

    def read_bytes(self) -> bytes:
        return self.data


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

    def column_names(self) -> list[str] | None:
        """The fresh output's columns where it knows them without computing."""
        names = getattr(self.inner, "column_names", None)
        return names() if callable(names) else None

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
