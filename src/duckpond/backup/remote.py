"""A backup's remote: the object store under its URL, with checked reads and careful writes.

``Remote`` wraps one obstore store (``duckpond.tlogfs.objectstore``) with what pushes,
restores and repairs need: the newest Delta version present, create-only writes of the
objects that make a version visible, streamed uploads of blobs checked against their
sha256 while they are read, and downloads checked before they are used
(``fetch_verified``, ``download``).  Every store failure becomes a one-line
``RemoteError`` naming the URL; a bad object a ``CorruptDataError`` naming its key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CorruptDataError, RemoteError
from ..tlogfs.objectstore import (
    Location,
    StoreOptions,
    open_store,
    parse_location,
    remote_error,
)
from .layout import (
    FLOOR_KEY,
    LOG_PREFIX,
    RECORDS_PREFIX,
    Floor,
    PushRecord,
    RemoteObject,
    log_key,
    record_key,
    version_of,
)

if TYPE_CHECKING:
    from obstore.store import ObjectStore

    from .source import PondFiles

T = TypeVar("T")

# Objects at least this big are streamed (multipart up, chunked down), never held whole.
STREAM_BYTES = 16 << 20
CHUNK_BYTES = 8 << 20
DELETE_BATCH = 1000


class Remote:
    """The store at ``url`` (``s3://bucket/prefix`` or ``file:///dir``).

    ``create`` makes a missing ``file://`` directory (pushes do, readers do not).
    Raises ``ConfigError`` for a URL that cannot name a store.
    """

    def __init__(
        self, url: str, options: StoreOptions | None = None, *, create: bool = False
    ) -> None:
        self.location: Location = parse_location(url)
        self.options = options or StoreOptions()
        self.store: ObjectStore = open_store(self.location, self.options, create=create)
        self._index: dict[str, RemoteObject] | None = None

    @property
    def url(self) -> str:
        return self.location.url

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (CorruptDataError, RemoteError):
            raise
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None

    # -- reading ----------------------------------------------------------------

    def check(self) -> None:
        """Reach the store once (list one key): ``RemoteError`` if it cannot be used."""
        import obstore

        def first() -> None:
            for _ in obstore.list(self.store, chunk_size=1):
                break

        self._call(first)

    def keys(self, prefix: str, after: str | None = None) -> dict[str, int]:
        """Every key under ``prefix`` (after ``after``, if given) with its size."""
        import obstore

        def collect() -> dict[str, int]:
            out: dict[str, int] = {}
            for chunk in obstore.list(self.store, prefix, offset=after, chunk_size=1000):
                for meta in chunk:
                    out[str(meta["path"])] = int(meta["size"])
            return out

        return self._call(collect)

    def versions(self, after: int = -1) -> list[int]:
        """The Delta versions whose log entry is present (after ``after``), oldest first."""
        offset = log_key(after) if after >= 0 else None
        found = (version_of(k, LOG_PREFIX) for k in self.keys(LOG_PREFIX, offset))
        return sorted(v for v in found if v is not None)

    def tip(self, hint: int = -1, *, present: bool = False) -> int:
        """The newest version V such that 0..V are all present; -1 for an empty remote;
        ``CorruptDataError`` if a later one is present too (a hole in the log).

        On a pruned remote (``floor``), F..V with F the floor's version; -1 while F has no
        entry (a first push from a maintained pond's snapshot under way).  ``hint``, a
        version known present (the last push's), makes this one short listing; if it is
        no longer there, the floor is read and the log listed from it.  ``present``: the
        caller has just seen ``hint``'s entry, so it is not asked for again.
        """
        if hint >= 0 and not present and self.size(log_key(hint)) is None:
            hint = -1
        floor_version = -1
        if hint < 0:
            floor = self.floor()
            if floor is not None:
                # Entries before the floor are gone, or going (a prune under way).
                hint = floor_version = floor.version - 1
        versions = self.versions(hint)
        if floor_version >= 0 and not versions:
            # A floor whose version has no entry: a first push from a maintained pond's
            # snapshot under way (``push._send_seed``); nothing is visible yet.
            return -1
        newest = hint
        for v in versions:
            if v != newest + 1:
                # Pushes write entries in order, and prunes remove them only below a floor:
                # a hole with entries after it is damage, not a shorter history.
                raise CorruptDataError(
                    f"{self.url}/{log_key(newest + 1)} is missing while later log entries "
                    "are present (a pruned backup whose pushes/floor.json is gone?)"
                )
            newest = v
        return newest

    def size(self, key: str) -> int | None:
        """The size of the object at ``key``; None if there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        def head() -> int | None:
            try:
                return int(obstore.head(self.store, key)["size"])
            except NotFoundError:
                return None
            except FileNotFoundError:
                return None

        return self._call(head)

    def get(self, key: str) -> bytes | None:
        """The bytes of a small object (a log entry, a record); None if there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        def read() -> bytes | None:
            try:
                return bytes(obstore.get(self.store, key).bytes())
            except (NotFoundError, FileNotFoundError):
                return None

        return self._call(read)

    def digest(self, key: str) -> tuple[str, int] | None:
        """The sha256 (hex) and size of the object at ``key``, read streamed (never held
        whole); None if there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        def read() -> tuple[str, int] | None:
            try:
                result = obstore.get(self.store, key)
            except (NotFoundError, FileNotFoundError):
                return None
            digest = hashlib.sha256()
            size = 0
            for chunk in result.stream(min_chunk_size=CHUNK_BYTES):
                view = memoryview(chunk)
                digest.update(view)
                size += len(view)
            return digest.hexdigest(), size

        return self._call(read)

    def record(self, version: int) -> tuple[PushRecord, bytes] | None:
        """The push record of ``version`` and its bytes, checked; None if there is none."""
        data = self.get(record_key(version))
        if data is None:
            return None
        return PushRecord.decode(data, f"{self.url}/{record_key(version)}"), data

    def floor(self) -> Floor | None:
        """The kept window of a pruned remote (``pushes/floor.json``), checked; None if unpruned."""
        data = self.get(FLOOR_KEY)
        return None if data is None else Floor.decode(data, f"{self.url}/{FLOOR_KEY}")

    def fetch_verified(self, key: str, sha256: str | None = None) -> bytes:
        """One object's bytes, checked against ``sha256`` (hex) before they are returned.

        For a repair of the local pond (``fsck --repair``): ``key`` is the object's path
        relative to the pond directory (``data/_large_files/sha256=<hex>``,
        ``data/part_id=<id>/part-....parquet``), the same on the remote.  Without
        ``sha256`` the hash is the one the push records give (read once per ``Remote``).
        Raises ``CorruptDataError`` naming the object if it is missing, unrecorded or bad.
        """
        if sha256 is None:
            found = self.recorded().get(key)
            if found is None:
                raise CorruptDataError(f"{self.url}/{key} is not named by any push record")
            sha256 = found.sha256
        data = self.get(key)
        if data is None:
            raise CorruptDataError(f"{self.url}/{key} is missing")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CorruptDataError(f"{self.url}/{key} does not match its recorded sha256")
        return data

    def recorded(self) -> dict[str, RemoteObject]:
        """Every object named by the push records present, and by a prune's floor, by key
        (records checked)."""
        if self._index is None:
            index: dict[str, RemoteObject] = {}
            floor = self.floor()
            for obj in floor.all_objects() if floor is not None else []:
                index[obj.key] = obj
            for key in sorted(self.keys(RECORDS_PREFIX)):
                version = version_of(key, RECORDS_PREFIX)
                if version is None:
                    continue
                found = self.record(version)
                if found is not None:
                    for obj in found[0].objects:
                        index[obj.key] = obj
            self._index = index
        return self._index

    def download(self, obj: RemoteObject, dest: Path) -> None:
        """Write ``obj`` to ``dest`` (fsynced), checked against its sha256 and size first.

        The bytes go to a temporary file beside ``dest`` and are renamed into place only
        once they hash right, so ``dest`` never holds unchecked bytes.  Raises
        ``CorruptDataError`` naming the object if it is missing or does not match.
        """
        import obstore
        from obstore.exceptions import NotFoundError

        where = f"{self.url}/{obj.key}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".tmp-{uuid.uuid4().hex}"

        def fetch() -> tuple[str, int]:
            digest = hashlib.sha256()
            total = 0
            try:
                result = obstore.get(self.store, obj.key)
            except (NotFoundError, FileNotFoundError):
                raise CorruptDataError(f"{where} is missing") from None
            with open(tmp, "xb") as f:
                for chunk in result.stream(min_chunk_size=CHUNK_BYTES):
                    view = memoryview(chunk)
                    digest.update(view)
                    f.write(view)
                    total += len(view)
                f.flush()
                os.fsync(f.fileno())
            return digest.hexdigest(), total

        try:
            sha, size = self._call(fetch)
            if sha != obj.sha256 or size != obj.size:
                raise CorruptDataError(f"{where} does not match its recorded sha256")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def fetch_into(self, obj: RemoteObject, dest: Path) -> None:
        """Write ``obj`` to ``dest`` (a new file, fsynced), hashing it in the same pass.

        For a restore's staging directory, which nobody reads until it is complete: the
        bytes go straight to ``dest`` (no temporary file and rename per object), and a
        ``CorruptDataError`` naming the object stops the restore, whose staging directory
        is then removed.  ``dest``'s directory must exist.  The file is fsynced here, in the
        worker that wrote it: the staging directory is renamed into place only after every
        file's bytes are on disk (a directory's fsync keeps its entries, not their data).
        """
        import obstore
        from obstore.exceptions import NotFoundError

        where = f"{self.url}/{obj.key}"

        def fetch() -> tuple[str, int]:
            try:
                result = obstore.get(self.store, obj.key)
            except (NotFoundError, FileNotFoundError):
                raise CorruptDataError(f"{where} is missing") from None
            if int(result.meta["size"]) != obj.size:
                # Before reading a byte: an object grown on the remote is never held whole.
                raise CorruptDataError(f"{where} does not match its recorded size")
            with open(dest, "xb") as f:
                if obj.size < STREAM_BYTES:
                    # One buffer from Rust: no per-chunk Python work for small objects.
                    data = result.bytes()
                    sha, total = hashlib.sha256(data).hexdigest(), len(data)
                    f.write(data)
                else:
                    digest = hashlib.sha256()
                    total = 0
                    for chunk in result.stream(min_chunk_size=CHUNK_BYTES):
                        digest.update(chunk)
                        f.write(chunk)
                        total += len(chunk)
                    sha = digest.hexdigest()
                if sha == obj.sha256 and total == obj.size:
                    os.fsync(f.fileno())
            return sha, total

        sha, size = self._call(fetch)
        if sha != obj.sha256 or size != obj.size:
            raise CorruptDataError(f"{where} does not match its recorded sha256")

    # -- writing ----------------------------------------------------------------

    def put_new(self, key: str, data: bytes) -> bool:
        """Write ``data`` at ``key`` only if no object is there (``If-None-Match: *``).

        True if written; False if an object was already there (left as it was).
        """
        import obstore
        from obstore.exceptions import AlreadyExistsError

        def put() -> bool:
            try:
                obstore.put(self.store, key, data, mode="create")
            except (AlreadyExistsError, FileExistsError):
                return False
            return True

        return self._call(put)

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key``, replacing what is there, in one atomic write (a reader
        sees the old object or the new one).  Only for the two objects no push record
        names (``duckpond.backup.layout``): Delta's ``_last_checkpoint`` hint and prune's
        ``pushes/floor.json``; nothing else a push writes is ever replaced."""
        import obstore

        self._call(obstore.put, self.store, key, data, use_multipart=False)

    def put_back(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key``, replacing a damaged object there: only for ``mend``,
        with bytes it checked against the push record that names ``key``."""
        import obstore

        self._call(obstore.put, self.store, key, data, use_multipart=False)

    def delete(self, keys: list[str]) -> None:
        """Delete ``keys`` (many per request where the store allows); a key already gone
        is no error, so a prune killed midway can run again."""
        import obstore
        from obstore.exceptions import NotFoundError

        def one(key: str) -> None:
            with contextlib.suppress(NotFoundError, FileNotFoundError):
                obstore.delete(self.store, key)

        def batch(chunk: list[str]) -> None:
            try:
                obstore.delete(self.store, chunk)
            except (NotFoundError, FileNotFoundError):
                for key in chunk:
                    one(key)

        for i in range(0, len(keys), DELETE_BATCH):
            self._call(batch, keys[i : i + DELETE_BATCH])
        self._index = None

    def upload(self, key: str, source: PondFiles, size: int, sha256: str | None = None) -> None:
        """Send the pond's file ``key`` (from ``source``: its directory or its store) to
        ``key``, streamed; with ``sha256``, checked as it is read.

        A file whose bytes do not hash to ``sha256`` is not kept (the upload is abandoned
        before it completes): a bad blob never reaches the remote.
        """
        import obstore

        if size < STREAM_BYTES:
            data = source.read(key)
            if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
                raise CorruptDataError(f"{source.where}/{key} does not match its sha256; not sent")
            self._call(obstore.put, self.store, key, data, use_multipart=False)
            return
        # Opened here, not inside the upload: a source that fetches (a pond on S3) does so
        # before obstore's upload starts driving the chunks.
        chunks = source.chunks(key)
        self._call(
            obstore.put,
            self.store,
            key,
            _checked_chunks(chunks, f"{source.where}/{key}", sha256),
            chunk_size=CHUNK_BYTES,
            max_concurrency=4,
        )


def _checked_chunks(chunks: Iterator[bytes], where: str, sha256: str | None) -> Iterator[bytes]:
    """``chunks`` passed on; raises at the end if they do not hash to ``sha256``."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if sha256 is not None and digest.hexdigest() != sha256:
        raise CorruptDataError(f"{where} does not match its sha256; not sent")
