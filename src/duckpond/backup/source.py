"""Where a push reads the pond from: its directory, or the store a pond on S3 is kept in.

A push, ``backup list`` and ``backup verify`` read a pond's files by key, the key being
the file's path relative to the pond (``data/_delta_log/<v>.json``,
``data/part_id=<id>/part-....parquet``, ``data/_large_files/sha256=<hex>``), which is
also its key on the backup (``duckpond.backup.layout``).  ``PondFiles`` is that read
side, with two implementations:

- ``DirFiles``: a pond directory (``$POND``), read from disk;
- ``StoreFiles``: a pond kept on S3 (``duckpond.tlogfs.shared``), read through obstore:
  log entries and checkpoints fetched, data files through this machine's cache of them
  (``tlogfs.remote.RemoteFiles``: checked against the hash recorded when fetched),
  a blob from a local file (the machine's cached copy, or a scratch copy streamed down
  first) read in chunks, never held whole, and, like a local blob, checked against its
  sha256 as it is sent.

Each also keeps the pond's record of its pushes (``duckpond.backup.state``): a pond
directory in ``$POND/backups/<name>.json``; a pond on S3, which has no directory of its
own, on its own store beside ``data/``, as ``backups/<name>.json``.  There, two machines
may push the same pond at once, so each write is a compare-and-swap put (``If-Match``
the ETag read, or create-only for a first record): a write that lost the race reads the
other's record and merges the two (``state.merge``) before trying again, so neither
overwrites what the other learned.  Run records (``runs.jsonl``) of a pond on S3 are
each machine's own, in its cache directory, and are not pushed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..tlogfs.identity import pond_id_of
from ..tlogfs.layout import DATA_DIR
from ..tlogfs.runlog import RUNS_FILE

if TYPE_CHECKING:
    from ..tlogfs.objectstore import Location, StoreOptions
    from ..tlogfs.persistence import DeltaPersistence
    from ..tlogfs.remote import RemoteFiles

T = TypeVar("T")
CHUNK_BYTES = 8 << 20


class PondFiles:
    """A pond's files by key (see the module docstring); ``where`` names it in messages."""

    where: str

    def names(self, prefix: str) -> list[str]:
        """The names of the files directly under ``prefix`` (a key ending in ``/``)."""
        raise NotImplementedError

    def read(self, key: str) -> bytes:
        """A file's bytes; ``FileNotFoundError`` if there is none."""
        raise NotImplementedError

    def size(self, key: str) -> int | None:
        """A file's size in bytes; None if there is none."""
        raise NotImplementedError

    def parquet(self, key: str) -> Any:
        """A data file as ``pyarrow.parquet.ParquetFile`` takes it (a path or a buffer)."""
        raise NotImplementedError

    def chunks(self, key: str) -> Iterator[bytes]:
        """A file's bytes in chunks of about ``CHUNK_BYTES``, never held whole."""
        raise NotImplementedError

    def pond_id(self) -> str:
        """The pond's id, from its first log entry (``PondCorruptError`` if it has none)."""
        from ..errors import PondCorruptError
        from ..tlogfs.identity import FIRST_COMMIT

        try:
            return pond_id_of(self.read(f"{DATA_DIR}/{FIRST_COMMIT}"))
        except FileNotFoundError:
            raise PondCorruptError(f"{self.where} has no first commit") from None

    def runs_since(self, start: int) -> bytes:
        """The whole lines of the pond's run records from byte ``start`` (what a push sends)."""
        return b""

    def read_state(self, name: str) -> bytes | None:
        """The bytes of backup ``name``'s push record (``state.py``); None if there is none."""
        raise NotImplementedError

    def write_state(self, name: str, update: Callable[[bytes | None], bytes]) -> None:
        """Replace backup ``name``'s push record by ``update(what is there now)``, whole."""
        raise NotImplementedError

    def open_at(self, txn: int) -> DeltaPersistence:
        """The pond, read-only, as of transaction ``txn`` (``PondError`` if not kept)."""
        raise NotImplementedError


class DirFiles(PondFiles):
    """The files of the pond in directory ``pond_dir``."""

    def __init__(self, pond_dir: Path) -> None:
        self.pond_dir = pond_dir
        self.where = str(pond_dir)

    def path(self, key: str) -> Path:
        return self.pond_dir / key

    def names(self, prefix: str) -> list[str]:
        return os.listdir(self.pond_dir / prefix)

    def read(self, key: str) -> bytes:
        return (self.pond_dir / key).read_bytes()

    def size(self, key: str) -> int | None:
        try:
            return (self.pond_dir / key).stat().st_size
        except FileNotFoundError:
            return None

    def parquet(self, key: str) -> Any:
        return self.pond_dir / key

    def chunks(self, key: str) -> Iterator[bytes]:
        return _file_chunks(self.pond_dir / key, remove=False)

    def runs_since(self, start: int) -> bytes:
        """The whole lines of ``$POND/runs.jsonl`` from byte ``start``.

        A line still being written (no newline yet) waits for the next push.  A file
        shorter than ``start`` was deleted and begun again (it may be: it holds no pond
        data): its whole lines are all new.
        """
        try:
            with open(self.pond_dir / RUNS_FILE, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(start if size >= start else 0)
                data = f.read()
        except FileNotFoundError:
            return b""
        return data[: data.rfind(b"\n") + 1]

    def read_state(self, name: str) -> bytes | None:
        from .state import state_path

        try:
            return state_path(self.pond_dir, name).read_bytes()
        except FileNotFoundError:
            return None

    def write_state(self, name: str, update: Callable[[bytes | None], bytes]) -> None:
        # One pusher per pond directory at a time writes here (pond run holds the run
        # lock); an atomic rename is enough.
        from .state import state_path, write_atomically

        write_atomically(state_path(self.pond_dir, name), update(self.read_state(name)))

    def open_at(self, txn: int) -> DeltaPersistence:
        from ..tlogfs.persistence import DeltaPersistence

        return DeltaPersistence.open(self.pond_dir, at_txn=txn)


class StoreFiles(PondFiles):
    """The files of a pond kept on S3, read through ``files`` (the open pond's own)."""

    def __init__(self, files: RemoteFiles) -> None:
        self.files = files
        self.location: Location = files.location
        self.options: StoreOptions = files.options
        self.where = files.location.url

    def _call(self, fn: Callable[[], T], key: str = "") -> T:
        from obstore.exceptions import NotFoundError

        from ..errors import PondError
        from ..tlogfs.objectstore import remote_error

        try:
            return fn()
        except (NotFoundError, FileNotFoundError):
            raise FileNotFoundError(2, "not in the pond", f"{self.where}/{key}") from None
        except PondError:
            raise
        except Exception as e:
            raise remote_error(e, self.location, self.options) from None

    def names(self, prefix: str) -> list[str]:
        import obstore

        def listed() -> list[str]:
            found = obstore.list_with_delimiter(self.files.store, prefix)
            return [str(m["path"]).rsplit("/", 1)[-1] for m in found["objects"]]

        return self._call(listed, prefix)

    def read(self, key: str) -> bytes:
        if key.startswith(f"{DATA_DIR}/part_id="):
            # Data files never change once written: this machine's copy serves (checked).
            return self._call(lambda: self.files.data_file_bytes(key), key)
        import obstore

        return self._call(lambda: bytes(obstore.get(self.files.store, key).bytes()), key)

    def size(self, key: str) -> int | None:
        import obstore

        try:
            return int(self._call(lambda: obstore.head(self.files.store, key)["size"], key))
        except FileNotFoundError:
            return None

    def parquet(self, key: str) -> Any:
        import pyarrow as pa

        return pa.BufferReader(self.read(key))

    def chunks(self, key: str) -> Iterator[bytes]:
        """A blob read in chunks from a local file: this machine's cached copy of it, or
        else a scratch copy streamed down now, before the chunks are asked for (obstore
        cannot feed one store's upload from another's download inside it), and removed
        once read.  The sender hashes the chunks (``Remote.upload``).  Anything else is
        small: read whole."""
        import uuid

        from ..errors import CorruptDataError
        from ..tlogfs.blobs import BlobError
        from ..tlogfs.remote import RemoteBlobStore
        from .layout import BLOBS_PREFIX

        if not key.startswith(f"{BLOBS_PREFIX}sha256="):
            return iter([self.read(key)])
        sha256 = key.rsplit("=", 1)[1]
        path = RemoteBlobStore(self.files).path(sha256)
        if path.exists():
            return _file_chunks(path, remove=False)
        path = self.files.scratch / f"push-{uuid.uuid4().hex}"
        try:
            self.files.fetch_blob(sha256, path)
        except BlobError:
            raise CorruptDataError(f"{self.where}/{key} is missing") from None
        return _file_chunks(path, remove=True)

    def read_state(self, name: str) -> bytes | None:
        from .state import state_key

        return self.files.get_tagged(state_key(name))[0]

    def write_state(self, name: str, update: Callable[[bytes | None], bytes]) -> None:
        """Compare-and-swap (``RemoteFiles.swap``): a lost race updates the winner's."""
        from .state import state_key

        self.files.swap(state_key(name), update)

    def open_at(self, txn: int) -> DeltaPersistence:
        from ..tlogfs.persistence import DeltaPersistence

        return DeltaPersistence.open_remote(self.where, self.options, at_txn=txn)


def _file_chunks(path: Path, *, remove: bool) -> Iterator[bytes]:
    """A file's bytes in chunks of ``CHUNK_BYTES``; with ``remove``, the file is removed
    once read (or abandoned)."""
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk
    finally:
        if remove:
            path.unlink(missing_ok=True)


def pond_files(where: Path | PondFiles) -> PondFiles:
    """``where`` as ``PondFiles``: a pond directory's, or itself."""
    return DirFiles(where) if isinstance(where, Path) else where
