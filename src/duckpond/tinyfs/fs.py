"""The TinyFS filesystem: ``FS`` -> ``WD`` -> ``NodePath`` -> ``Node``.

Node objects hold an id and a type and nothing else; all state is asked of
the persistence.  Paths are resolved lexically (``..`` removed first), then
component by component, following symlinks with a hop limit so that a loop
ends in ``SymlinkLoopError`` rather than a hang.

Dynamic nodes are computed through the ``Resolver`` the FS is given, read by
their factories through a ``ReadOnlyFS`` view that records inputs, and kept
in an optional ``OutputCache``; docs/dynamic-nodes.md is the contract.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import (
    ConfigError,
    FormatError,
    InvalidPathError,
    PondError,
    ReadOnlyError,
    SymlinkLoopError,
)
from . import paths
from .dynamic import (
    ENTRY_KINDS,
    KIND_DIR,
    KIND_SERIES,
    KIND_TABLE,
    Cached,
    CacheKey,
    DirOutput,
    FactoryContext,
    FileOutput,
    InputRecorder,
    LeafOutput,
    Output,
    OutputCache,
    Resolver,
    TableOutput,
    unknown_factory,
)
from .glob import compile_pattern, match_segment
from .persistence import (
    DIRECTORY,
    DYNAMIC_DIR,
    DYNAMIC_FILE,
    FILE_DATA,
    FILE_SERIES,
    FILE_TABLE,
    FILE_TYPES,
    ROOT_ID,
    SYMLINK,
    DirEntry,
    Persistence,
    VersionInfo,
)

MAX_SYMLINK_HOPS = 40


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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other.node_id == self.node_id

    def __hash__(self) -> int:
        return hash(self.node_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_id!r})"


def _below(location: str | None, name: str) -> str | None:
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
        return self.fs.node(entry.node_id, entry.node_type, _below(self.location, name))


class Symlink(Node):
    def target(self) -> str:
        return self.fs.persistence.read_bytes(self.node_id).decode("utf-8")


class _Dynamic(Node):
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

    def path(self) -> str:
        """Where the node is now: the path the read reached it by."""
        if self.location is None:
            raise InvalidPathError(f"dynamic node {self.node_id} was reached without a path")
        return self.location

    def context(self) -> FactoryContext:
        """The factory's context: a read-only, recording view of the same state."""
        if self._ctx is None:
            recorder = InputRecorder(None if self.parent is None else self.parent.context().inputs)
            view = ReadOnlyFS(self.fs, recorder)
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


class DynamicFileNode(_Dynamic, File):
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


class DynamicDirNode(_Dynamic, Directory):
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
        return isinstance(self.node, _Dynamic)

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


@dataclass(frozen=True)
class GlobMatch:
    node_path: NodePath
    captures: tuple[str, ...]


class FS:
    """A filesystem over one persistence.

    ``resolver`` computes dynamic nodes (None: there are none to compute, and
    creating or reading one is a ``ConfigError``); ``cache`` keeps their
    outputs between reads (None: always compute).  Both can be set later
    with ``set_resolver`` / ``set_cache``.
    """

    def __init__(
        self,
        persistence: Persistence,
        resolver: Resolver | None = None,
        cache: OutputCache | None = None,
    ) -> None:
        self.persistence = persistence
        self.resolver = resolver
        self.cache = cache
        self.last_commit: int | None = None
        # Dynamic node objects by id, so one read computes each output once; any write
        # through this FS forgets them (their outputs may depend on what changed).
        self._dynamic: dict[str, _Dynamic] = {}
        self._seen_txn: object = None

    def set_resolver(self, resolver: Resolver | None) -> None:
        """Compute dynamic nodes with ``resolver`` from now on."""
        self.resolver = resolver
        self.forget()

    def set_cache(self, cache: OutputCache | None) -> None:
        """Keep dynamic outputs in ``cache`` from now on."""
        self.cache = cache
        self.forget()

    def forget(self) -> None:
        """Drop the dynamic node objects of the current read (done on every write)."""
        self._dynamic.clear()

    def check_factory(self, factory: str) -> None:
        """``ConfigError`` naming ``factory`` unless the resolver knows it."""
        if self.resolver is None or not self.resolver.knows(factory):
            raise unknown_factory(factory)

    def resolve(self, factory: str, config: Mapping[str, Any], ctx: FactoryContext) -> Output:
        """The output of a stored dynamic node; ``ConfigError`` for an unknown factory."""
        if self.resolver is None:
            raise unknown_factory(factory)
        return self.resolver.resolve(factory, config, ctx)

    def version_of(self, node_id: str) -> int | None:
        """The newest version of ``node_id`` in this FS's state, None if there is no such node."""
        try:
            return self.persistence.latest(node_id).version
        except (FileNotFoundError, KeyError, NotADirectoryError):
            return None

    def _current(self) -> None:
        # A long-lived reader may refresh its persistence to later commits (tlogfs
        # does in refresh()); the dynamic nodes computed before are then stale.
        txn = getattr(self.persistence, "last_txn", None)
        if txn != self._seen_txn:
            self._seen_txn = txn
            self._dynamic.clear()

    def node(self, node_id: str, node_type: str, location: str | None = None) -> Node:
        if node_type == DIRECTORY:
            return Directory(self, node_id, node_type, location)
        if node_type == SYMLINK:
            return Symlink(self, node_id, node_type, location)
        if node_type in (DYNAMIC_DIR, DYNAMIC_FILE):
            self._current()
            known = self._dynamic.get(node_id)
            if known is not None and known.location == location:
                return known
            made: _Dynamic
            if node_type == DYNAMIC_DIR:
                made = DynamicDirNode(self, node_id, node_type, location, kind=KIND_DIR)
            else:
                made = DynamicFileNode(self, node_id, node_type, location)
            self._dynamic[node_id] = made
            return made
        return File(self, node_id, node_type, location)

    def dynamic_child(self, parent: DynamicDirNode, name: str, kind: str) -> Node:
        """The entry ``name`` of a dynamic directory, one object per read."""
        node_id = f"{parent.node_id}/{name}"
        location = _below(parent.location, name)
        self._current()
        known = self._dynamic.get(node_id)
        if known is not None and known.location == location and known.parent is parent:
            return known
        made: _Dynamic
        if kind == KIND_DIR:
            made = DynamicDirNode(self, node_id, DYNAMIC_DIR, location, parent=parent, kind=kind)
        else:
            made = DynamicFileNode(self, node_id, DYNAMIC_FILE, location, parent=parent, kind=kind)
        self._dynamic[node_id] = made
        return made

    def root(self) -> WD:
        return WD(self, NodePath(Directory(self, ROOT_ID, DIRECTORY, "/"), "/"))

    @contextmanager
    def transaction(self, metadata: Mapping[str, Any] | None = None) -> Iterator[FS]:
        """Commit everything written inside on a clean exit; roll it all back on an exception."""
        p = self.persistence
        p.begin()
        # begin() may catch up with other processes' commits.
        self.forget()
        try:
            yield self
        except BaseException:
            p.rollback()
            self.forget()
            raise
        self.forget()
        self.last_commit = p.commit(metadata)

    @contextmanager
    def _write(self) -> Iterator[None]:
        """Join the open transaction, or run the one operation as its own."""
        if self.persistence.read_only:
            raise ReadOnlyError("this pond was opened read-only (a past state)")
        self.forget()
        try:
            if self.persistence.in_transaction:
                yield
            else:
                with self.transaction():
                    yield
        finally:
            # What was computed while the write looked around may be stale after it.
            self.forget()


class ReadOnlyFS(FS):
    """The view a factory reads through: the same state, every write a ``ReadOnlyError``.

    Reads go through a ``RecordingPersistence``, so every node read lands in
    ``recorder`` as (node id, version).  A view has no cache of its own: a
    dynamic node read inside a factory is computed, so its inputs are
    recorded as the outer node's too.
    """

    def __init__(self, base: FS, recorder: InputRecorder) -> None:
        super().__init__(RecordingPersistence(base.persistence, recorder), base.resolver, None)

    @contextmanager
    def transaction(self, metadata: Mapping[str, Any] | None = None) -> Iterator[FS]:
        raise ReadOnlyError("a dynamic node's factory cannot open a transaction")
        yield self  # pragma: no cover

    @contextmanager
    def _write(self) -> Iterator[None]:
        raise ReadOnlyError("a dynamic node's factory reads the pond and cannot write it")
        yield  # pragma: no cover


class RecordingPersistence:
    """A read-only ``Persistence`` over another that records each node it reads.

    Each read of a node records (node id, its newest version) - the newest
    even for a read of an older version, which can only invalidate a cache
    entry too often, never too seldom.  Directory listings are inputs too,
    so a glob that would match a new file sees the directory's new version.
    """

    def __init__(self, base: Persistence, recorder: InputRecorder) -> None:
        self.base = base
        self.recorder = recorder

    @property
    def read_only(self) -> bool:
        return True

    @property
    def in_transaction(self) -> bool:
        return self.base.in_transaction

    def _record(self, node_id: str) -> VersionInfo:
        info = self.base.latest(node_id)
        self.recorder.record(node_id, info.version)
        return info

    def node_type(self, node_id: str) -> str:
        return self.base.node_type(node_id)

    def latest(self, node_id: str) -> VersionInfo:
        return self._record(node_id)

    def versions(self, node_id: str) -> list[VersionInfo]:
        self._record(node_id)
        return self.base.versions(node_id)

    def read_dir(self, dir_id: str) -> Mapping[str, DirEntry]:
        entries = self.base.read_dir(dir_id)
        self._record(dir_id)
        return entries

    def read_bytes(self, node_id: str, version: int | None = None) -> bytes:
        self._record(node_id)
        return self.base.read_bytes(node_id, version)

    def local_path(self, node_id: str, version: int) -> Any:
        """The base's on-disk path of a version, if it keeps one (tlogfs does)."""
        find = getattr(self.base, "local_path", None)
        if find is None:
            return None
        self._record(node_id)
        return find(node_id, version)

    def _refuse(self) -> ReadOnlyError:
        return ReadOnlyError("a dynamic node's factory reads the pond and cannot write it")

    def create_node(
        self,
        parent_id: str,
        node_type: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> str:
        raise self._refuse()

    def write_version(
        self,
        node_id: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> VersionInfo:
        raise self._refuse()

    def update_dir(
        self,
        dir_id: str,
        *,
        insert: Mapping[str, DirEntry] = {},
        delete: frozenset[str] = frozenset(),
    ) -> None:
        raise self._refuse()

    def begin(self) -> None:
        raise self._refuse()

    def commit(self, metadata: Mapping[str, Any] | None = None) -> int | None:
        raise self._refuse()

    def rollback(self) -> None:
        raise self._refuse()


class WD:
    """A working directory: every path operation of TinyFS starts here."""

    def __init__(self, fs: FS, at: NodePath) -> None:
        if not at.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", at.path)
        self.fs = fs
        self.node_path = at
        # Dynamic directories a walk (glob, visit) could not list, with the reason: a
        # configuration that cannot be computed fails on its own node, not every walk.
        self.unlisted: dict[str, str] = {}

    @property
    def path(self) -> str:
        return self.node_path.path

    def __repr__(self) -> str:
        return f"WD({self.path!r})"

    # -- resolution ------------------------------------------------------------

    def _abs(self, path: str) -> tuple[str, ...]:
        return paths.normalize(path, self.path)

    def _walk(self, parts: tuple[str, ...], follow_last: bool) -> NodePath:
        return NodePath(self._resolve(parts, follow_last)[-1], paths.join(parts))

    def _resolve(self, parts: tuple[str, ...], follow_last: bool) -> list[Node]:
        """The real chain of nodes from the root to ``parts``, symlinks followed."""
        shown = paths.join(parts)
        root = self.fs.root().node_path.node
        stack: list[Node] = [root]
        remaining = list(parts)
        hops = 0
        while remaining:
            name = remaining.pop(0)
            if name == "..":
                if len(stack) == 1:
                    raise InvalidPathError(f"symlink target climbs above the root: {shown}")
                stack.pop()
                continue
            current = stack[-1]
            if not isinstance(current, Directory):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", shown)
            child = current.child(name)
            if child is None:
                raise FileNotFoundError(errno.ENOENT, "no such file or directory", shown)
            if isinstance(child, Symlink) and (remaining or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SymlinkLoopError(shown)
                target = child.target()
                if target.startswith("/"):
                    del stack[1:]
                remaining = paths.split(target) + remaining
                continue
            stack.append(child)
        return stack

    def get(self, path: str, *, follow: bool = True) -> NodePath:
        """The node at ``path``; raises ``FileNotFoundError`` if there is none."""
        return self._walk(self._abs(path), follow)

    def exists(self, path: str) -> bool:
        try:
            self.get(path, follow=False)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def _existing(self, path: str) -> NodePath | None:
        """The node at ``path`` (followed if it can be), or None if nothing is there."""
        if not self.exists(path):
            return None
        try:
            return self.get(path)
        except (FileNotFoundError, NotADirectoryError, SymlinkLoopError, InvalidPathError):
            # A dangling or looping symlink still occupies its name.
            return self.get(path, follow=False)

    def cd(self, path: str) -> WD:
        return WD(self.fs, self.get(path))

    def _parent_dir(self, path: str) -> tuple[Directory, str, tuple[str, ...]]:
        parts = self._abs(path)
        if not parts:
            raise InvalidPathError(
                "the root directory / cannot be created, removed, moved or replaced"
            )
        parent = self._walk(parts[:-1], True)
        if not isinstance(parent.node, Directory):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", parent.path)
        if isinstance(parent.node, DynamicDirNode):
            raise ReadOnlyError(f"cannot write inside a dynamic directory: {parent.path}")
        return parent.node, parts[-1], parts

    # -- reads -----------------------------------------------------------------

    def read_bytes(self, path: str, version: int | None = None) -> bytes:
        return self.get(path).read_bytes(version)

    def stat(self, path: str, *, follow: bool = True) -> VersionInfo:
        return self.get(path, follow=follow).info()

    def versions(self, path: str) -> list[VersionInfo]:
        return self.get(path, follow=False).node.versions()

    def readlink(self, path: str) -> str:
        np = self.get(path, follow=False)
        if not isinstance(np.node, Symlink):
            raise InvalidPathError(f"not a symlink: {np.path}")
        return np.node.target()

    def entries(self, path: str = ".") -> list[NodePath]:
        """The entries of a directory, sorted by name."""
        np = self.get(path)
        if not isinstance(np.node, Directory):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", np.path)
        return self._children(np)

    def _children(self, np: NodePath) -> list[NodePath]:
        assert isinstance(np.node, Directory)
        base = "" if np.path == "/" else np.path
        out = []
        for name, entry in sorted(np.node.entries().items()):
            if isinstance(np.node, DynamicDirNode):
                child = np.node.child(name)
                assert child is not None
            else:
                child = self.fs.node(entry.node_id, entry.node_type, _below(np.node.location, name))
            out.append(NodePath(child, f"{base}/{name}"))
        return out

    def listdir(self, path: str = ".") -> list[str]:
        return [np.name for np in self.entries(path)]

    def visit(self, path: str = ".", *, hidden: bool = True) -> Iterator[NodePath]:
        """The node at ``path`` and everything below it, depth first, in name order.

        Symlinks are reported, not followed, so a visit always ends.
        """
        start = self.get(path)
        yield start
        if isinstance(start.node, Directory):
            yield from self._descendants(start, hidden)

    def _walked(self, np: NodePath) -> list[NodePath]:
        """``np``'s children for a walk: a dynamic directory that cannot be listed has
        none, and is recorded in ``unlisted``."""
        if not isinstance(np.node, DynamicDirNode):
            return self._children(np)
        try:
            return self._children(np)
        except PondError as exc:
            self.unlisted[np.path] = str(exc)
            return []

    def _descendants(self, np: NodePath, hidden: bool) -> Iterator[NodePath]:
        for child in self._walked(np):
            if not hidden and paths.is_hidden(child.name):
                continue
            yield child
            if isinstance(child.node, Directory):
                yield from self._descendants(child, hidden)

    def glob(self, pattern: str, *, hidden: bool = False) -> Iterator[GlobMatch]:
        """Every node matching ``pattern``, in path order, with its captures."""
        parts = self._abs(pattern)
        segments = compile_pattern(parts)
        found: dict[str, GlobMatch] = {}
        for match in self._glob(self.fs.root().node_path, segments, 0, (), hidden):
            found.setdefault(match.node_path.path, match)
        # A non-trailing '**' finds its zero-directory matches first; sort them into place.
        yield from sorted(found.values(), key=lambda m: paths.split(m.node_path.path))

    def _glob(
        self,
        np: NodePath,
        segments: list[Any],
        index: int,
        captures: tuple[str, ...],
        hidden: bool,
    ) -> Iterator[GlobMatch]:
        if index == len(segments):
            yield GlobMatch(np, captures)
            return
        node = self._follow(np)
        if not isinstance(node.node, Directory):
            return
        np = NodePath(node.node, np.path)
        segment = segments[index]
        base = "" if np.path == "/" else np.path
        if segment.is_recursive:
            if index + 1 == len(segments):
                # A trailing '**' is every entry below its base, never the base itself.
                for d in self._descendants(np, hidden):
                    yield GlobMatch(d, (*captures, d.path[len(base) + 1 :]))
                return
            yield from self._glob(np, segments, index + 1, (*captures, ""), hidden)
            for d in self._descendants(np, hidden):
                if isinstance(d.node, Directory):
                    rel = d.path[len(base) + 1 :]
                    yield from self._glob(d, segments, index + 1, (*captures, rel), hidden)
            return
        if segment.is_literal:
            assert isinstance(np.node, Directory)
            named = np.node.child(segment.text)
            if named is not None:
                yield from self._glob(
                    NodePath(named, f"{base}/{segment.text}"), segments, index + 1, captures, hidden
                )
            return
        for child in self._walked(np):
            got = match_segment(segment, child.name, hidden=hidden)
            if got is not None:
                yield from self._glob(child, segments, index + 1, (*captures, *got), hidden)

    def _follow(self, np: NodePath) -> NodePath:
        if isinstance(np.node, Symlink):
            try:
                return self._walk(self._abs(np.path), True)
            except (FileNotFoundError, NotADirectoryError, SymlinkLoopError, InvalidPathError):
                return np
        return np

    # -- writes ----------------------------------------------------------------

    def mkdir(self, path: str, *, parents: bool = False, exist_ok: bool = False) -> NodePath:
        parts = self._abs(path)
        with self.fs._write():
            if parents:
                for i in range(1, len(parts)):
                    prefix = paths.join(parts[:i])
                    if not self.exists(prefix):
                        self._mkdir_one(prefix)
            existing = self._existing(paths.join(parts))
            if existing is not None:
                if (exist_ok or parents) and existing.is_dir():
                    return existing
                raise FileExistsError(errno.EEXIST, "file exists", existing.path)
            return self._mkdir_one(paths.join(parts))

    def _mkdir_one(self, path: str) -> NodePath:
        return self._create(path, DIRECTORY, b"", None, None)

    def _create(
        self,
        path: str,
        node_type: str,
        content: bytes,
        attributes: Mapping[str, Any] | None,
        event_range: tuple[int, int] | None,
    ) -> NodePath:
        parent, name, parts = self._parent_dir(path)
        if name in parent.entries():
            raise FileExistsError(errno.EEXIST, "file exists", paths.join(parts))
        p = self.fs.persistence
        node_id = p.create_node(
            parent.node_id, node_type, content, attributes=attributes, event_range=event_range
        )
        p.update_dir(parent.node_id, insert={name: DirEntry(name, node_id, node_type)})
        return NodePath(
            self.fs.node(node_id, node_type, _below(parent.location, name)), paths.join(parts)
        )

    def create_file(
        self,
        path: str,
        data: bytes,
        *,
        node_type: str = FILE_DATA,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> NodePath:
        """Create a new file; ``FileExistsError`` if the name is taken."""
        if node_type not in FILE_TYPES:
            raise InvalidPathError(f"not a file type: {node_type}")
        with self.fs._write():
            return self._create(path, node_type, data, attributes, event_range)

    def write_file(
        self,
        path: str,
        data: bytes,
        *,
        node_type: str = FILE_DATA,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> NodePath:
        """Create a file, or add a version to the existing one (which keeps its type)."""
        with self.fs._write():
            try:
                np = self.get(path)
            except FileNotFoundError:
                return self.create_file(
                    path, data, node_type=node_type, attributes=attributes, event_range=event_range
                )
            if isinstance(np.node, Directory):
                raise IsADirectoryError(errno.EISDIR, "is a directory", np.path)
            if isinstance(np.node, DynamicFileNode):
                raise ReadOnlyError(f"cannot write a dynamic file: {np.path}")
            self.fs.persistence.write_version(
                np.node_id, data, attributes=attributes, event_range=event_range
            )
            return np

    def symlink(self, target: str, path: str) -> NodePath:
        """Create a symlink at ``path`` pointing to ``target`` (which need not exist)."""
        if not target:
            raise InvalidPathError("a symlink target cannot be empty")
        with self.fs._write():
            return self._create(path, SYMLINK, target.encode("utf-8"), None, None)

    def create_dynamic(
        self, path: str, node_type: str, factory: str, config: Mapping[str, Any]
    ) -> NodePath:
        """Create a dynamic file or directory computed by ``factory`` from ``config``."""
        if node_type not in (DYNAMIC_DIR, DYNAMIC_FILE):
            raise InvalidPathError(f"not a dynamic node type: {node_type}")
        content = json.dumps(dict(config), sort_keys=True).encode()
        # The path is not stored: a factory is told where its node is at read time.
        attributes = {"factory": factory}
        with self.fs._write():
            self.fs.check_factory(factory)
            return self._create(path, node_type, content, attributes, None)

    def update_dynamic(self, path: str, config: Mapping[str, Any]) -> NodePath:
        """Store a new version of a dynamic node's configuration (same id, same factory).

        Returns the node unchanged, without a new version, if ``config`` is what
        is stored already.  ``InvalidPathError`` if ``path`` is not a stored
        dynamic node.
        """
        with self.fs._write():
            np = self.get(path, follow=False)
            node = np.node
            if not isinstance(node, _Dynamic) or node.parent is not None:
                raise InvalidPathError(f"not a stored dynamic node: {np.path}")
            p = self.fs.persistence
            content = json.dumps(dict(config), sort_keys=True).encode()
            if p.read_bytes(node.top_id) != content:
                factory = p.latest(node.top_id).attributes.get("factory", "")
                p.write_version(node.top_id, content, attributes={"factory": factory})
            return np

    def remove(self, path: str, *, recursive: bool = False) -> None:
        """Unlink ``path`` (a symlink itself, not its target); its history stays in the store."""
        with self.fs._write():
            parent, name, parts = self._parent_dir(path)
            entry = parent.entries().get(name)
            if entry is None:
                raise FileNotFoundError(
                    errno.ENOENT, "no such file or directory", paths.join(parts)
                )
            if (
                entry.node_type == DIRECTORY
                and not recursive
                and self.fs.persistence.read_dir(entry.node_id)
            ):
                raise OSError(errno.ENOTEMPTY, "directory not empty", paths.join(parts))
            self.fs.persistence.update_dir(parent.node_id, delete=frozenset([name]))

    def rename(self, src: str, dst: str) -> NodePath:
        """Move ``src`` to ``dst`` (or into ``dst`` if it is a directory); the node id is kept."""
        with self.fs._write():
            sparent, sname, sparts = self._parent_dir(src)
            entry = sparent.entries().get(sname)
            if entry is None:
                raise FileNotFoundError(
                    errno.ENOENT, "no such file or directory", paths.join(sparts)
                )
            dparts = self._abs(dst)
            target = self._existing(paths.join(dparts))
            if target is not None:
                if not target.is_dir() or isinstance(target.node, DynamicDirNode):
                    raise FileExistsError(errno.EEXIST, "file exists", target.path)
                dparts = (*dparts, sname)
                if self.exists(paths.join(dparts)):
                    raise FileExistsError(errno.EEXIST, "file exists", paths.join(dparts))
            if dparts[: len(sparts)] == sparts or any(
                node.node_id == entry.node_id for node in self._resolve(dparts[:-1], True)
            ):
                # The second test catches a destination reached through a symlink.
                raise InvalidPathError(f"cannot move {paths.join(sparts)} inside itself")
            dparent, dname, _ = self._parent_dir(paths.join(dparts))
            p = self.fs.persistence
            p.update_dir(sparent.node_id, delete=frozenset([sname]))
            moved = DirEntry(dname, entry.node_id, entry.node_type)
            p.update_dir(dparent.node_id, insert={dname: moved})
            return NodePath(
                self.fs.node(entry.node_id, entry.node_type, _below(dparent.location, dname)),
                paths.join(dparts),
            )
