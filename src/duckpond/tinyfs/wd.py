"""``WD``, a working directory: every path operation of TinyFS (resolve, list, glob,
create, write, move, remove) starts at one.

Paths are resolved lexically (``..`` removed first), then component by
component, following symlinks with a hop limit so that a loop ends in
``SymlinkLoopError`` rather than a hang.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidPathError, PondError, ReadOnlyError, SymlinkLoopError
from . import paths
from .glob import compile_pattern, match_segment
from .nodes import (
    Directory,
    DynamicDirNode,
    DynamicFileNode,
    DynamicNode,
    Node,
    NodePath,
    Symlink,
    below,
)
from .persistence import (
    DIRECTORY,
    DYNAMIC_DIR,
    DYNAMIC_FILE,
    FILE_DATA,
    FILE_TYPES,
    SYMLINK,
    DirEntry,
    VersionInfo,
)

if TYPE_CHECKING:
    from .fs import FS

MAX_SYMLINK_HOPS = 40


@dataclass(frozen=True)
class GlobMatch:
    node_path: NodePath
    captures: tuple[str, ...]


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
                child = self.fs.node(entry.node_id, entry.node_type, below(np.node.location, name))
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
            self.fs.node(node_id, node_type, below(parent.location, name)), paths.join(parts)
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
            if not isinstance(node, DynamicNode) or node.parent is not None:
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
                self.fs.node(entry.node_id, entry.node_type, below(dparent.location, dname)),
                paths.join(dparts),
            )
