"""Writing pond files back to the host (``pond copy`` out).

A copy out is staged: every file is written to a hidden temporary name beside
its destination, and only when all of them are written are they renamed into
place (``StagedExport.commit``, which puts back what it replaced if a rename
fails), so a copy that fails half-way leaves the host as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from ..errors import ConfigError
from ..tinyfs import FILE_TABLE, NodePath

EXPORT_FORMATS = ("parquet", "csv")


def export_format(np: NodePath, host: Path, declared: str | None) -> str:
    """``raw``, ``parquet`` or ``csv``: how one node is written to ``host``.

    Raw data is always its bytes.  A table or series is Parquet unless ``declared``
    says ``csv``, or nothing is declared and the host name ends ``.csv``.
    """
    if declared is not None and declared not in EXPORT_FORMATS:
        raise ConfigError(f"cannot export as {declared!r} (choose parquet or csv)")
    if not np.is_tabular():
        return "raw"
    if declared is not None:
        return declared
    return "csv" if host.suffix.lower() == ".csv" else "parquet"


def export_node(np: NodePath, host: Path, *, format: str | None = None) -> None:
    """Write one pond file to ``host``: raw bytes, Parquet or CSV (a series' versions as one)."""
    _write_as(np, host, export_format(np, host, format))


def _write_as(np: NodePath, host: Path, how: str) -> None:
    # A computed table has no stored bytes: it is always written from its rows.
    stored_as_is = how == "raw" or (
        how == "parquet"
        and not np.is_dynamic()
        and (np.node_type == FILE_TABLE or len(np.node.versions()) == 1)
    )
    if stored_as_is:
        host.write_bytes(np.read_bytes())
        return
    from ..query import output
    from ..query.engine import read_node

    with host.open("wb") as out:
        output.write(read_node(np), how, out)


class StagedExport:
    """Files written under temporary names, renamed into place by ``commit``.

    Use as a context manager: leaving it with an exception removes every
    temporary file and every directory it created, so nothing is half-written.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._made_dirs: list[Path] = []

    def __enter__(self) -> StagedExport:
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is not None:
            self._discard()

    def mkdir(self, path: Path) -> None:
        """Create ``path`` and its missing parents, remembering which were new."""
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for directory in reversed(missing):
            directory.mkdir()
            self._made_dirs.append(directory)

    def write(self, np: NodePath, host: Path, *, format: str | None) -> None:
        """Stage ``np`` for ``host``."""
        self.mkdir(host.parent)
        temp = host.with_name(f".{host.name}.pond-tmp-{os.getpid()}")
        self._staged.append((temp, host))
        # The final name decides the default format, not the temporary one.
        _write_as(np, temp, export_format(np, host, format))

    def commit(self) -> list[Path]:
        """Rename every staged file into place; the written host paths.

        All or nothing here too: a destination that is a directory is refused
        before any rename, a file a rename would replace is kept aside until every
        rename has succeeded, and a rename that fails puts back what the earlier
        ones replaced.  Should even that fail, the error names every host file
        this copy changed, so none is left unnamed.
        """
        for _, host in self._staged:
            if host.is_dir() and not host.is_symlink():
                raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(host))
        placed: list[tuple[Path, Path | None]] = []
        try:
            for temp, host in self._staged:
                backup: Path | None = None
                if host.exists() or host.is_symlink():
                    backup = host.with_name(f".{host.name}.pond-old-{os.getpid()}")
                    os.replace(host, backup)
                try:
                    os.replace(temp, host)
                except OSError:
                    if backup is not None:
                        os.replace(backup, host)
                    raise
                placed.append((host, backup))
        except OSError as exc:
            left = self._put_back(placed)
            if left:
                raise OSError(
                    exc.errno,
                    f"{exc.strerror or exc}; the copy was stopped, and these files it had "
                    f"written could not be put back: {', '.join(map(str, left))}",
                    exc.filename,
                ) from exc
            raise
        for _, backup in placed:
            if backup is not None:
                backup.unlink(missing_ok=True)
        done = [host for _, host in self._staged]
        self._staged = []
        return done

    @staticmethod
    def _put_back(placed: list[tuple[Path, Path | None]]) -> list[Path]:
        """Undo the renames done so far (newest first); the hosts that could not be."""
        left = []
        for host, backup in reversed(placed):
            try:
                if backup is not None:
                    os.replace(backup, host)
                else:
                    host.unlink()
            except OSError:
                left.append(host)
        return left

    def _discard(self) -> None:
        for temp, _ in self._staged:
            temp.unlink(missing_ok=True)
        for directory in reversed(self._made_dirs):
            _rmdir_if_empty(directory)


def _rmdir_if_empty(directory: Path) -> None:
    # Another process may have put something there meanwhile: then it stays.
    with contextlib.suppress(OSError):
        directory.rmdir()
