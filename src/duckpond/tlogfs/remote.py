"""A pond read in place from an object store (``pond --pond s3://bucket/prefix ...``).

The store holds a pond's layout (a backup is one: ``duckpond.backup.layout``): the Delta
table under ``data/``, which deltalake opens with the storage options of
``objectstore.delta_storage_options``, and the blobs under ``data/_large_files/``.
``RemoteFiles`` fetches what a read needs through obstore: a data file's bytes when the
row index opens it (kept in memory: data files are small and never change), and a blob
into a private temporary directory, where ``RemoteBlobStore`` checks it exactly as a local
blob is checked before any byte is used.  Nothing is written to the store; the temporary
directory is removed by ``close``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .blobs import BlobError, BlobStore
from .layout import BLOB_PREFIX, DATA_DIR, LARGE_FILES_DIR
from .objectstore import Location, StoreOptions, open_store, remote_error

if TYPE_CHECKING:
    from obstore.store import ObjectStore

_CHUNK = 8 << 20


class RemoteFiles:
    """Reads of one remote pond's files, with a local scratch directory for blobs."""

    def __init__(self, location: Location, options: StoreOptions) -> None:
        self.location = location
        self.options = options
        self.store: ObjectStore = open_store(location, options)
        self.scratch = Path(tempfile.mkdtemp(prefix="duckpond-remote-"))
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
            result = self._get(path)
            try:
                data = bytes(result.bytes())
            except Exception as e:
                raise remote_error(e, self.location, self.options) from None
            with self._guard:
                self._data[path] = data
        return pa.BufferReader(data)

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

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


class RemoteBlobStore(BlobStore):
    """A read-only ``BlobStore`` whose blobs are fetched on first use into scratch space,
    then checked (XXH3-128 or sha256) like any local blob before their bytes are used."""

    def __init__(self, files: RemoteFiles) -> None:
        super().__init__(files.scratch / "blobs")
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
        raise PermissionError(f"{self._files.location.url} is read in place and cannot be written")
