"""A pond read in place from an object store (``pond --pond s3://bucket/prefix ...``).

The store holds a pond's layout (a backup is one: ``duckpond.backup.layout``): the Delta
table under ``data/``, which deltalake opens with the storage options of
``objectstore.delta_storage_options``, and the blobs under ``data/_large_files/``.
``RemoteFiles`` fetches what a read needs through obstore: a data file's bytes when the
row index opens it (kept in memory: data files are small and never change), and a blob
into a private temporary directory, where ``RemoteBlobStore`` checks it exactly as a local
blob is checked before any byte is used.  Nothing is written to the store; the temporary
directory is removed by ``close``.

A pond made to be written in place on S3 (``shared.py``) is opened with ``shared`` set: its
blobs are then uploaded by ``RemoteBlobStore.put`` before the commit that names them, and
with a ``cache`` directory (this machine's, ``shared.cache_dir``) fetched blobs and data
files are kept there between processes instead of in the scratch directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BusyError, RemoteError
from .blobs import BlobError, BlobStore
from .layout import BLOB_PREFIX, DATA_DIR, LARGE_FILES_DIR
from .objectstore import Location, StoreOptions, open_store, remote_error

if TYPE_CHECKING:
    from obstore.store import ObjectStore

_CHUNK = 8 << 20
SWAP_RETRIES = 16
"""How often a compare-and-swap put that lost the race is made again (``swap``)."""


class RemoteFiles:
    """Reads of one remote pond's files, with a local scratch directory for blobs."""

    def __init__(self, location: Location, options: StoreOptions) -> None:
        self.location = location
        self.options = options
        self.store: ObjectStore = open_store(location, options)
        # Set when the pond was made to be written in place (``shared.SHARED_STORE_KEY``).
        self.shared = False
        # This machine's lasting cache for the pond (``shared.cache_dir``), once known.
        self.cache: Path | None = None
        self.scratch = Path(tempfile.mkdtemp(prefix="duckpond-remote-"))
        # Removed by ``close``, or when this object is collected, or at interpreter exit
        # (whichever comes first), so a caller that forgets ``close`` leaves nothing behind.
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.scratch, True)
        self._data: dict[str, bytes] = {}
        self._guard = threading.Lock()

    def _get(self, key: str) -> Any:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            return obstore.get(self.store, key)
        except (NotFoundError, FileNotFoundError):
            raise FileNotFoundError(
                2, "not in the remote pond", f"{self.location.url}/{key}"
            ) from None
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None

    def read(self, key: str) -> bytes:
        """A small object's bytes (a log entry)."""
        try:
            return bytes(self._get(key).bytes())
        except FileNotFoundError:
            raise
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None

    def open_data_file(self, path: str) -> Any:
        """A data file (``data/<relative path>``) as a pyarrow buffer reader."""
        import pyarrow as pa

        with self._guard:
            data = self._data.get(path)
        if data is None:
            data = self.data_file_bytes(path)
            with self._guard:
                self._data[path] = data
        return pa.BufferReader(data)

    def data_file_bytes(self, path: str) -> bytes:
        """A data file's bytes (``data/<relative path>``): this machine's copy if it still
        checks, else fetched and kept there; not held in memory (a push of many files)."""
        data = self._cached_data_file(path)
        if data is None:
            result = self._get(path)
            try:
                data = bytes(result.bytes())
            except Exception as e:
                raise remote_error(e, self.location, self.options) from None
            self._keep_data_file(path, data)
        return data

    def _cache_entry(self, path: str) -> Path | None:
        """Where this machine keeps data file ``path``: named by the hash of its key (Delta
        names each data file once, with a fresh UUID, and never rewrites it)."""
        if self.cache is None:
            return None
        return self.cache / "oplog" / hashlib.sha256(path.encode()).hexdigest()

    def _cached_data_file(self, path: str) -> bytes | None:
        """The kept copy of a data file, if its bytes still hash to what was recorded
        when it was fetched; anything else (missing, cut short, changed) is dropped."""
        entry = self._cache_entry(path)
        if entry is None:
            return None
        try:
            data = entry.read_bytes()
            recorded = entry.with_suffix(".sha256").read_text()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != recorded.strip():
            entry.unlink(missing_ok=True)
            return None
        return data

    def _keep_data_file(self, path: str, data: bytes) -> None:
        """Keep a fetched data file for the next process; a failure only costs a fetch."""
        entry = self._cache_entry(path)
        if entry is None:
            return
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            for target, body in (
                (entry.with_suffix(".sha256"), hashlib.sha256(data).hexdigest().encode()),
                (entry, data),
            ):
                tmp = entry.parent / f".tmp-{uuid.uuid4().hex}"
                tmp.write_bytes(body)
                os.replace(tmp, target)
        except OSError:
            return

    def fetch_blob(self, sha256: str, dest: Path) -> None:
        """Download blob ``sha256`` to ``dest`` (unchecked: the blob store checks it)."""
        if dest.exists():
            return
        key = f"{DATA_DIR}/{LARGE_FILES_DIR}/{BLOB_PREFIX}{sha256}"
        try:
            result = self._get(key)
        except FileNotFoundError:
            raise BlobError(sha256, missing=True) from None
        tmp = dest.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "xb") as f:
                for chunk in result.stream(min_chunk_size=_CHUNK):
                    f.write(memoryview(chunk))
            os.replace(tmp, dest)
        except OSError:
            raise
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None
        finally:
            tmp.unlink(missing_ok=True)

    def last_checkpoint(self) -> int:
        """The Delta version of the table's newest checkpoint (0 if none, or unreadable)."""
        import json

        try:
            return int(json.loads(self.read(f"{DATA_DIR}/_delta_log/_last_checkpoint"))["version"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return 0

    def put_blob(self, sha256: str, data: bytes) -> None:
        """Upload blob ``sha256`` (content-addressed: a second upload writes the same bytes).

        The upload carries its sha256, which the server checks before keeping the object.
        """
        import obstore

        key = f"{DATA_DIR}/{LARGE_FILES_DIR}/{BLOB_PREFIX}{sha256}"
        try:
            obstore.put(self.store, key, data)
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """A small object's bytes and ETag; (None, None) if there is none."""
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            result = obstore.get(self.store, key)
            return bytes(result.bytes()), result.meta.get("e_tag")
        except (NotFoundError, FileNotFoundError):
            return None, None
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None

    def swap(self, key: str, update: Callable[[bytes | None], bytes]) -> None:
        """Replace the small object ``key`` by ``update(its bytes now, or None)`` with a
        compare-and-swap put: over the ETag read (``If-Match``), or create-only where there
        was none.  Another writer's put in between makes ours fail; it is then made again
        from theirs (up to ``SWAP_RETRIES`` times, then ``BusyError``), so no write is
        ever lost to a blind overwrite."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        for _ in range(SWAP_RETRIES):
            current, etag = self.get_tagged(key)
            data = update(current)
            mode: obstore.PutMode = "create" if etag is None else {"e_tag": etag}
            try:
                obstore.put(self.store, key, data, mode=mode)
                return
            except (AlreadyExistsError, PreconditionError):
                continue
            except Exception as e:
                raise remote_error(e, self.location, self.options) from None
        raise BusyError(
            f"{self.location.url}/{key}: other writers kept replacing it; run the command again"
        )

    def holds_any(self, prefix: str) -> bool:
        """Whether any object's key starts with ``prefix`` (a listing of one key)."""
        import obstore

        try:
            return any(chunk for chunk in obstore.list(self.store, prefix, chunk_size=1))
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None

    def listing(self, prefix: str | None = None) -> list[tuple[str, int]]:
        """Every object under ``prefix`` (all of the pond's by default): key and size in
        bytes, in one listing of the store."""
        import obstore

        try:
            return [
                (str(meta["path"]), int(meta["size"]))
                for chunk in obstore.list(self.store, prefix, chunk_size=1000)
                for meta in chunk
            ]
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None

    def download(self, prefix: str, dest: Path) -> int:
        """Copy every object under ``prefix`` (``data/``) into ``dest``, keeping their keys'
        layout; the number of bytes copied.  Keys that would leave ``dest`` are refused."""
        import obstore

        total = 0
        root = dest.resolve()
        try:
            for chunk in obstore.list(self.store, prefix):
                for meta in chunk:
                    key = str(meta["path"])
                    target = (dest / key).resolve()
                    if root not in target.parents:
                        raise RemoteError(f"{self.location.url}: object key {key!r} is not usable")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    data = bytes(obstore.get(self.store, key).bytes())
                    target.write_bytes(data)
                    total += len(data)
        except RemoteError:
            raise
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None
        return total

    def close(self) -> None:
        self._cleanup()


class RemoteBlobStore(BlobStore):
    """A ``BlobStore`` whose blobs are fetched on first use into scratch space (or the
    machine's cache), then checked (XXH3-128 or sha256) like any local blob before their
    bytes are used.  Read-only, but for a pond written in place (``RemoteFiles.shared``)."""

    def __init__(self, files: RemoteFiles) -> None:
        super().__init__((files.cache or files.scratch) / "blobs")
        self.root.mkdir(parents=True, exist_ok=True)
        self._files = files

    def read(self, sha256: str, *, verify: bool = True, xxh3: str | None = None) -> bytes:
        self._files.fetch_blob(sha256, self.path(sha256))
        # Fetched bytes are always checked, whatever the caller asked.
        return super().read(sha256, verify=True, xxh3=xxh3)

    def verified_path(self, sha256: str, xxh3: str | None = None) -> Path:
        self._files.fetch_blob(sha256, self.path(sha256))
        return super().verified_path(sha256, xxh3)

    def put(self, sha256: str, data: bytes) -> bool:
        if not self._files.shared:
            raise PermissionError(
                f"{self._files.location.url} is read in place and cannot be written"
            )
        self._files.put_blob(sha256, data)
        # Kept here too, so a read in the same transaction need not fetch it back.
        super().put(sha256, data)
        return True

    def remove(self, sha256: str) -> None:
        # Never removed from the store: another writer may have committed a row naming the
        # same content since we uploaded it.  An unreferenced blob is harmless.
        super().remove(sha256)
