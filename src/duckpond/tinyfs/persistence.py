"""The contract between TinyFS and the store that holds its nodes.

The persistence is the single source of truth: node objects in TinyFS keep
only ids, and everything else is asked of the persistence each time, so
reopening a store loses nothing.  Two implementations exist: the in-memory
one beside this module and the Delta Lake operation log in ``tlogfs``.  Both
pass the conformance suite in ``tests/tinyfs``.

A node has versions 1..n.  A directory's content is its entry table; a
symlink's is its target; a file's is its bytes; a dynamic node's is its
factory configuration.  Writes happen inside a transaction: ``begin``, then
any number of writes, then ``commit`` (which makes them durable and visible
atomically) or ``rollback`` (which leaves no trace).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

ROOT_ID = "00000000-0000-7000-8000-000000000000"

DIRECTORY = "directory"
SYMLINK = "symlink"
FILE_DATA = "file:data"
FILE_TABLE = "file:table"
FILE_SERIES = "file:series"
DYNAMIC_DIR = "dynamic:dir"
DYNAMIC_FILE = "dynamic:file"
# A pipeline resource: its bytes are the validated document as canonical JSON,
# so it reads (cat, history, time travel) like any file.
RESOURCE = "resource"

FILE_TYPES = (FILE_DATA, FILE_TABLE, FILE_SERIES, RESOURCE)
NODE_TYPES = (DIRECTORY, SYMLINK, *FILE_TYPES, DYNAMIC_DIR, DYNAMIC_FILE)


def is_file_type(node_type: str) -> bool:
    return node_type in FILE_TYPES or node_type == DYNAMIC_FILE


def is_dir_type(node_type: str) -> bool:
    return node_type in (DIRECTORY, DYNAMIC_DIR)


@dataclass(frozen=True)
class DirEntry:
    """One name in a directory."""

    name: str
    node_id: str
    node_type: str


@dataclass(frozen=True)
class VersionInfo:
    """What the store knows of one version of one node, without its content."""

    node_id: str
    node_type: str
    version: int
    txn_seq: int
    timestamp: datetime
    size: int
    sha256: str
    min_event_time: int | None = None
    max_event_time: int | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Persistence(Protocol):
    """Where TinyFS nodes live.  Node ids are strings; the root is ``ROOT_ID``."""

    @property
    def read_only(self) -> bool:
        """True for a past state (time travel) or a store opened for reading."""
        ...

    @property
    def in_transaction(self) -> bool: ...

    # -- reads -------------------------------------------------------------

    def node_type(self, node_id: str) -> str:
        """The type of a node; ``FileNotFoundError`` if the id is unknown."""
        ...

    def latest(self, node_id: str) -> VersionInfo:
        """The newest version of a node."""
        ...

    def versions(self, node_id: str) -> list[VersionInfo]:
        """Every version of a node, oldest first."""
        ...

    def oldest(self, node_id: str) -> VersionInfo:
        """The oldest version of a node still stored: version 1, unless ``pond maintain``
        replaced a series' older versions by a consolidated one (O(1), unlike ``versions``)."""
        ...

    def read_dir(self, dir_id: str) -> Mapping[str, DirEntry]:
        """The current entries of a directory, by name."""
        ...

    def read_bytes(self, node_id: str, version: int | None = None) -> bytes:
        """The content of one version (the newest by default)."""
        ...

    # -- writes (inside a transaction) ----------------------------------------

    def create_node(
        self,
        parent_id: str,
        node_type: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> str:
        """Store version 1 of a new node whose first parent is ``parent_id``; return its id.

        Creating a node does not link it: ``update_dir`` does that.
        """
        ...

    def write_version(
        self,
        node_id: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> VersionInfo:
        """Append a new version to an existing file node."""
        ...

    def update_dir(
        self,
        dir_id: str,
        *,
        insert: Mapping[str, DirEntry] = {},
        delete: frozenset[str] = frozenset(),
    ) -> None:
        """Apply deletions, then insertions, to a directory's entries."""
        ...

    # -- transactions ----------------------------------------------------------

    def begin(self) -> None: ...

    def commit(self, metadata: Mapping[str, Any] | None = None) -> int | None:
        """Make the transaction's writes durable; return its sequence number (None if empty)."""
        ...

    def rollback(self) -> None: ...
