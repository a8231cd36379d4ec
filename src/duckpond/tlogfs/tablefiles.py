"""The files of a pond's table (``data/``), wherever it is kept: what ``maintain`` lists,
reads, records and removes.

``maintain`` (``reclaim``) and the retention floor (``retention``) see a pond's table
through ``TableFiles``, with two implementations:

- ``DirTableFiles``: ``$POND/data`` on disk; records are written to a temporary file,
  fsynced and renamed into place (the writer holds the pond's write lock);
- ``StoreTableFiles``: ``data/`` of a pond kept on S3, through obstore.  No lock is held
  there, so a record (the retention floor, the archived commits) is replaced by a
  compare-and-swap put (``If-Match`` the ETag read, create-only when there was none):
  two machines' ``maintain`` never overwrite each other's record; the one that lost
  the race reads the other's and merges into it.

Each listed file carries its last-modified time (UTC): on S3, an object no commit names
may be a writer's upload whose commit is still to come, and is removed only once it is
older than a grace period (``reclaim``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .layout import BACKUP_META_PREFIX, BACKUP_RECORDS_PREFIX, DATA_DIR, META_DIR

if TYPE_CHECKING:
    from .remote import RemoteFiles


@dataclass(frozen=True)
class TableFile:
    """One file of the table: ``rel`` (relative to ``data/``), bytes, last modified (UTC)."""

    rel: str
    size: int
    modified: datetime


class TableFiles:
    """A pond table's files (see the module docstring)."""

    where: str
    shared: bool = False
    """True when other machines may write the table at the same time (a pond on S3)."""

    def listing(self, rel_dir: str = "") -> list[TableFile]:
        """Every file under ``rel_dir`` (relative to ``data/``; "" for all), recursively."""
        raise NotImplementedError

    def read(self, rel: str) -> bytes | None:
        """A file's bytes; None if there is none."""
        raise NotImplementedError

    def update(self, rel: str, fn: Callable[[bytes | None], bytes]) -> None:
        """Replace file ``rel`` by ``fn(its bytes now, or None)``, whole and at once."""
        raise NotImplementedError

    def delete(self, rels: list[str]) -> None:
        """Remove files (one already gone is no error)."""
        raise NotImplementedError


class DirTableFiles(TableFiles):
    """``$POND/data`` on disk."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.where = str(data_dir)

    def listing(self, rel_dir: str = "") -> list[TableFile]:
        found: list[TableFile] = []
        top = self.data_dir / rel_dir if rel_dir else self.data_dir
        for base, _dirs, names in os.walk(top):
            for name in names:
                path = Path(base) / name
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                rel = path.relative_to(self.data_dir).as_posix()
                found.append(TableFile(rel, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
        return found

    def read(self, rel: str) -> bytes | None:
        try:
            return (self.data_dir / rel).read_bytes()
        except FileNotFoundError:
            return None

    def update(self, rel: str, fn: Callable[[bytes | None], bytes]) -> None:
        path = self.data_dir / rel
        data = fn(self.read(rel))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def delete(self, rels: list[str]) -> None:
        from .blobs import fsync_dir

        dirs: set[Path] = set()
        for rel in rels:
            path = self.data_dir / rel
            path.unlink(missing_ok=True)
            dirs.add(path.parent)
        for d in dirs:
            fsync_dir(d)


class StoreTableFiles(TableFiles):
    """``data/`` of a pond kept on S3, through the open pond's ``RemoteFiles``."""

    shared = True

    def __init__(self, files: RemoteFiles) -> None:
        self.files = files
        self.where = files.location.child(DATA_DIR)

    def _error(self, e: Exception) -> Exception:
        from .objectstore import remote_error

        return remote_error(e, self.files.location, self.files.options)

    def listing(self, rel_dir: str = "") -> list[TableFile]:
        import obstore

        prefix = f"{DATA_DIR}/{rel_dir}".rstrip("/") + "/"
        try:
            return [
                TableFile(
                    str(meta["path"])[len(DATA_DIR) + 1 :],
                    int(meta["size"]),
                    meta["last_modified"].astimezone(UTC),
                )
                for chunk in obstore.list(self.files.store, prefix, chunk_size=1000)
                for meta in chunk
            ]
        except Exception as e:
            raise self._error(e) from None

    def read(self, rel: str) -> bytes | None:
        return self.files.get_tagged(f"{DATA_DIR}/{rel}")[0]

    def update(self, rel: str, fn: Callable[[bytes | None], bytes]) -> None:
        self.files.swap(f"{DATA_DIR}/{rel}", fn)

    def delete(self, rels: list[str]) -> None:
        import obstore
        from obstore.exceptions import NotFoundError

        keys = [f"{DATA_DIR}/{rel}" for rel in rels]
        try:
            for i in range(0, len(keys), 1000):
                chunk = keys[i : i + 1000]
                try:
                    obstore.delete(self.files.store, chunk)
                except (NotFoundError, FileNotFoundError):
                    for key in chunk:
                        try:
                            obstore.delete(self.files.store, key)
                        except (NotFoundError, FileNotFoundError):
                            continue
        except Exception as e:
            raise self._error(e) from None


class BackupTableFiles(TableFiles):
    """The retention files of a backup read in place (``pond --pond s3://backup ...``).

    A backup keeps ``data/_pond``'s files as ``meta/<sha256>-<name>`` objects (what each
    push saw, ``backup.layout``), and a pruned backup's ``pushes/floor.json`` names the
    earliest transaction it holds.  Read here: the highest retention floor of them, and
    one commit archive holding every archived transaction, so a read before what the
    backup holds is refused by name and ``pond log`` lists every transaction, as in a
    restore.  Each object is checked against the sha256 in its name.  Read-only.
    """

    def __init__(self, files: RemoteFiles) -> None:
        self.files = files
        self.where = files.location.url

    def _metas(self, name: str) -> list[bytes]:
        import hashlib

        import obstore

        from ..errors import PondCorruptError

        out = []
        try:
            listed = [
                str(m["path"])
                for chunk in obstore.list(self.files.store, BACKUP_META_PREFIX, chunk_size=1000)
                for m in chunk
            ]
        except Exception as e:
            from .objectstore import remote_error

            raise remote_error(e, self.files.location, self.files.options) from None
        for key in sorted(k for k in listed if k.endswith(f"-{name}")):
            sha = key[len(BACKUP_META_PREFIX) :].split("-", 1)[0]
            data = bytes(self.files._get(key).bytes())
            if hashlib.sha256(data).hexdigest() != sha:
                raise PondCorruptError(f"{self.where}/{key} does not match its sha256")
            out.append(data)
        return out

    def _floor(self) -> bytes | None:
        import json

        from .retention import RETENTION_FILE

        floors: list[dict[str, object]] = [json.loads(d) for d in self._metas(RETENTION_FILE)]
        try:
            pruned = json.loads(
                bytes(self.files._get(f"{BACKUP_RECORDS_PREFIX}floor.json").bytes())
            )
            floors.append(
                {
                    "earliest_txn": pruned["earliest_txn"],
                    "removed_at": pruned["removed_at"],
                    "removed_by": "pond backup prune",
                }
            )
        except FileNotFoundError:
            pass
        if not floors:
            return None
        # The highest floor; of equal ones the first, the pond's own record (it says what
        # removed the history).
        best = max(floors, key=lambda f: int(str(f["earliest_txn"])))
        return json.dumps(best).encode()

    def read(self, rel: str) -> bytes | None:
        from .retention import ARCHIVE_FILE, RETENTION_FILE, union_archives

        if rel == f"{META_DIR}/{RETENTION_FILE}":
            return self._floor()
        if rel == f"{META_DIR}/{ARCHIVE_FILE}":
            archives = self._metas(ARCHIVE_FILE)
            if len(archives) <= 1:
                return archives[0] if archives else None
            return union_archives(archives, self.where)
        return None

    def listing(self, rel_dir: str = "") -> list[TableFile]:
        return []

    def update(self, rel: str, fn: Callable[[bytes | None], bytes]) -> None:
        raise PermissionError(f"{self.where} is a backup read in place: it is not written")

    def delete(self, rels: list[str]) -> None:
        raise PermissionError(f"{self.where} is a backup read in place: it is not written")
