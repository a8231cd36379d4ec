"""The nodes a path resolves to: stored files, directories and symlinks, dynamic
files and directories (computed through the FS's resolver and cache), and
``NodePath``, a node with the path it was reached by.

Node objects hold an id and a type and nothing else; all state is asked of
the persistence through ``node.fs``.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError, FormatError, InvalidPathError
from .context import FactoryContext, InputRecorder
from .dynamic import (
    ENTRY_KINDS,
    KIND_DIR,
    KIND_SERIES,
    KIND_TABLE,
    Cached,
    CacheKey,
    DirOutput,
    FileOutput,
    LeafOutput,
    Output,
    TableOutput,
)
from .persistence import (
    DYNAMIC_DIR,
    DYNAMIC_FILE,
    FILE_SERIES,
    FILE_TABLE,
    DirEntry,
    VersionInfo,
)

if TYPE_CHECKING:
    from .fs import FS


class Node:
    """A node in the store, known by id; subclasses add what each type can do.

    ``location`` is the absolute path the node was reached by, from the root
    through real directories (symlinks already followed), or None for a node
    made from a bare id.
    """

    def __init__(self, fs: FS, node_id: str, node_type: str, location: str | None = None) -> None:
        self.fs = fs
        self.node_id = node_id
        self.node_type = node_type
        self.location = location

    def info(self) -> VersionInfo:
        return self.fs.persistence.latest(self.node_id)

    def versions(self) -> list[VersionInfo]:
        return self.fs.persistence.versions(self.node_id)

    def oldest(self) -> VersionInfo:
        """The oldest version still stored (see ``Persistence.oldest``)."""
        return self.fs.persistence.oldest(self.node_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other.node_id == self.node_id

    def __hash__(self) -> int:
        return hash(self.node_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_id!r})"


def below(location: str | None, name: str) -> str | None:
    """The path of entry ``name`` of a directory at ``location`` (None when that is unknown)."""
    if location is None:
        return None
    return f"/{name}" if location == "/" else f"{location}/{name}"


class File(Node):
    def read_bytes(self, version: int | None = None) -> bytes:
        return self.fs.persistence.read_bytes(self.node_id, version)


class Directory(Node):
    def entries(self) -> Mapping[str, DirEntry]:
        return self.fs.persistence.read_dir(self.node_id)

    def child(self, name: str) -> Node | None:
        entry = self.entries().get(name)
        if entry is None:
            return None
        return self.fs.node(entry.node_id, entry.node_type, below(self.location, name))


class Symlink(Node):
    def target(self) -> str:
        return self.fs.persistence.read_bytes(self.node_id).decode("utf-8")


class DynamicNode(Node):
    """What dynamic files and directories share: configuration, context, output, cache.

    A stored dynamic node has ``top_id == node_id`` and no parent; an entry
    of a dynamic directory has the stored node's id as ``top_id``, its
    directory node as ``parent`` and ``<parent id>/<name>`` as its id.  The
    FS keeps one object per id until its next write, so a read computes
    each output at most once.
    """

    def __init__(
        self,
        fs: FS,
        node_id: str,
        node_type: str,
        location: str | None,
        *,
        parent: DynamicDirNode | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(fs, node_id, node_type, location)
        self.parent = parent
        self.top_id: str = node_id if parent is None else parent.top_id
        self._kind = kind
        self._ctx: FactoryContext | None = None
        self._live: Output | None = None

    @property
    def name(self) -> str:
        return self.node_id.rsplit("/", 1)[-1]

    def config_info(self) -> VersionInfo:
        """The stored configuration's newest version: the node's own metadata comes from it."""
        return self.fs.persistence.latest(self.top_id)

    def _as_dynamic(self, cfg: VersionInfo) -> VersionInfo:
        # Size 0: the output is not computed to be measured; the config's version,
        # transaction and time are the node's.
        attributes = {k: v for k, v in cfg.attributes.items() if k != "path"}
        if self._kind is not None:
            attributes["kind"] = self._kind
        return VersionInfo(
            self.node_id,
            self.node_type,
            cfg.version,
            cfg.txn_seq,
            cfg.timestamp,
            0,
            "",
            attributes=attributes,
        )

    def info(self) -> VersionInfo:
        return self._as_dynamic(self.config_info())

    def versions(self) -> list[VersionInfo]:
        if self.parent is not None:
            return [self.info()]
        return [self._as_dynamic(v) for v in self.fs.persistence.versions(self.top_id)]

    def oldest(self) -> VersionInfo:
        return self.versions()[0]

    def path(self) -> str:
        """Where the node is now: the path the read reached it by."""
        if self.location is None:
            raise InvalidPathError(f"dynamic node {self.node_id} was reached without a path")
        return self.location

    def context(self) -> FactoryContext:
        """The factory's context: a read-only, recording view of the same state."""
        if self._ctx is None:
            recorder = InputRecorder(None if self.parent is None else self.parent.context().inputs)
            view = self.fs.read_only(recorder)
            version = self.config_info().version
            self._ctx = FactoryContext(view.root(), self.path(), self.node_id, version, recorder)
        return self._ctx

    def _live_output(self) -> Output:
        """The factory's output object (built, not yet read), once per node object."""
        if self._live is None:
            ctx = self.context()
            if self.parent is None:
                p = self.fs.persistence
                factory = str(p.latest(self.top_id).attributes.get("factory", ""))
                config = json.loads(p.read_bytes(self.top_id) or b"{}")
                self._live = self.fs.resolve(factory, config, ctx)
            else:
                self._live = self.parent.dir_output().child(self.name, ctx)
        return self._live

    def _through_cache(self, compute: Callable[[], Cached]) -> Cached:
        cache = self.fs.cache
        if cache is None:
            return compute()
        key = CacheKey(self.node_id, self.config_info().version, self.path())
        hit = cache.lookup(key, self.fs.version_of)
        if hit is not None:
            return hit
        value = compute()
        if self.fs.persistence.in_transaction:
            # Versions written in an open transaction may be rolled back and their
            # numbers reused: what they gave must never be kept.
            return value
        return cache.store(key, value, self.context().inputs.snapshot)


class DynamicFileNode(DynamicNode, File):
    """A file computed on read: a table/series output (schema, batches) or bytes."""

    _output: LeafOutput | None = None

    def output(self) -> LeafOutput:
        """The typed output, from the cache when its inputs are unchanged."""
        if self._output is None:
            value = self._through_cache(self._compute)
            assert isinstance(value, TableOutput | FileOutput)
            self._output = value
        return self._output

    def _compute(self) -> LeafOutput:
        out = self._live_output()
        if isinstance(out, TableOutput | FileOutput):
            return out
        raise IsADirectoryError(errno.EISDIR, "the factory produced a directory", self.path())

    def is_tabular(self) -> bool:
        if self._kind is not None:
            return self._kind in (KIND_TABLE, KIND_SERIES)
        return isinstance(self.output(), TableOutput)

    def read_bytes(self, version: int | None = None) -> bytes:
        out = self.output()
        if isinstance(out, TableOutput):
            raise FormatError(
                f"{self.path()} is a computed table, not bytes: read it as rows (cat, SQL)"
            )
        return out.read_bytes()


class DynamicDirNode(DynamicNode, Directory):
    """A directory computed on read: its listing once per read, each child on demand."""

    _listing: dict[str, str] | None = None

    def dir_output(self) -> DirOutput:
        out = self._live_output()
        if not isinstance(out, DirOutput):
            raise NotADirectoryError(errno.ENOTDIR, "the factory produced a file", self.path())
        return out

    def listing(self) -> Mapping[str, str]:
        """Child name -> kind (dir, table, series, data), computed at most once per read."""
        if self._listing is None:
            value = self._through_cache(self._compute)
            assert isinstance(value, Mapping)
            self._listing = dict(value)
        return self._listing

    def _compute(self) -> Mapping[str, str]:
        listing = dict(self.dir_output().entries())
        for name, kind in listing.items():
            if kind not in ENTRY_KINDS:
                raise ConfigError(
                    f"{self.path()}/{name}: unknown kind {kind!r} "
                    f"(expected one of {', '.join(ENTRY_KINDS)})"
                )
        return listing

    def entries(self) -> Mapping[str, DirEntry]:
        return {
            name: DirEntry(
                name,
                f"{self.node_id}/{name}",
                DYNAMIC_DIR if kind == KIND_DIR else DYNAMIC_FILE,
            )
            for name, kind in self.listing().items()
        }

    def child(self, name: str) -> Node | None:
        kind = self.listing().get(name)
        if kind is None:
            return None
        return self.fs.dynamic_child(self, name, kind)


@dataclass(frozen=True)
class NodePath:
    """A node together with the absolute path used to reach it."""

    node: Node
    path: str

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def node_id(self) -> str:
        return self.node.node_id

    @property
    def node_type(self) -> str:
        return self.node.node_type

    def is_dir(self) -> bool:
        return isinstance(self.node, Directory)

    def is_file(self) -> bool:
        return isinstance(self.node, File)

    def is_symlink(self) -> bool:
        return isinstance(self.node, Symlink)

    def info(self) -> VersionInfo:
        return self.node.info()

    def is_dynamic(self) -> bool:
        return isinstance(self.node, DynamicNode)

    def is_tabular(self) -> bool:
        """True for a stored table or series, and for a dynamic file with a table output."""
        if self.node_type in (FILE_TABLE, FILE_SERIES):
            return True
        return isinstance(self.node, DynamicFileNode) and self.node.is_tabular()

    def output(self) -> LeafOutput:
        """A dynamic file's typed output; ``InvalidPathError`` for any other node."""
        if not isinstance(self.node, DynamicFileNode):
            raise InvalidPathError(f"not a dynamic file: {self.path}")
        return self.node.output()

    def read_bytes(self, version: int | None = None) -> bytes:
        if not isinstance(self.node, File):
            raise IsADirectoryError(errno.EISDIR, "not a file", self.path)
        return self.node.read_bytes(version)

    def __str__(self) -> str:
        return self.path
