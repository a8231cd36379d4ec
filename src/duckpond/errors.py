"""The exceptions DuckPond raises.

Path problems use Python's own ``OSError`` family (``FileNotFoundError``,
``FileExistsError``, ``NotADirectoryError``, ``IsADirectoryError``); every
other failure the user can cause is a ``PondError``::

    PondError
     ├── PondNotFoundError      no pond at the given directory
     ├── PondExistsError        ``init`` on a directory that already holds one
     ├── PondCorruptError       the directory holds something that is not a readable pond
     │    └── CorruptDataError  stored bytes missing, or not matching their sha256
     ├── InvalidPathError       a malformed path, or ``..`` above the root  (also ValueError)
     ├── GlobError              a malformed glob pattern                    (also ValueError)
     ├── SymlinkLoopError       symlinks that never reach a node            (also OSError)
     ├── ReadOnlyError          writing to a dynamic node or a past state   (also PermissionError)
     ├── TransactionError       misuse of transactions (nested, writes outside one)
     ├── LockTimeoutError       another writer holds the pond
     ├── FormatError            input that is not what it claims (CSV, Parquet, URL)
     ├── QueryError             SQL that cannot run
     └── ConfigError            a bad option value (time, zone, format name)

The CLI turns each of these, and the ``OSError`` family, into one line on
stderr and exit status 1.
"""

from __future__ import annotations

import errno


class PondError(Exception):
    """Base of every DuckPond error a user can cause."""


class PondNotFoundError(PondError):
    """No pond exists at the given location."""


class PondExistsError(PondError):
    """A pond already exists where one was to be created."""


class PondCorruptError(PondError):
    """The pond directory exists but cannot be read as a pond."""


class CorruptDataError(PondCorruptError):
    """A version's stored bytes are missing or do not match their recorded sha256."""


class InvalidPathError(PondError, ValueError):
    """A path that is malformed or climbs above the root."""


class GlobError(PondError, ValueError):
    """A glob pattern that cannot be parsed."""


class SymlinkLoopError(PondError, OSError):
    """Following symlinks did not reach a node within the hop limit."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ELOOP, "too many levels of symbolic links", path)

    def __str__(self) -> str:
        return f"too many levels of symbolic links (a symlink loop?): {self.filename}"


class ReadOnlyError(PondError, PermissionError):
    """A write to something that is read-only: a dynamic node or a past state."""


class TransactionError(PondError):
    """A transaction was misused."""


class LockTimeoutError(PondError):
    """The pond's write lock is held by another process."""


class FormatError(PondError):
    """Input whose content does not match its declared format."""


class QueryError(PondError):
    """A SQL query that could not be planned or executed."""


class ConfigError(PondError, ValueError):
    """An option or configuration value that is not valid."""
