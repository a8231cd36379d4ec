"""The TinyFS filesystem: ``FS`` -> ``WD`` -> ``NodePath`` -> ``Node``.

``FS`` is one filesystem over a persistence: it makes node objects
(``nodes.py``), hands out the root ``WD`` (``wd.py``, every path operation),
and runs transactions.  Dynamic nodes are computed through the ``Resolver``
the FS is given, read by their factories through a ``ReadOnlyFS`` view that
records inputs (``recording.py``), and kept in an optional ``OutputCache``;
docs/dynamic-nodes.md is the contract.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import ReadOnlyError
from .context import FactoryContext, InputRecorder
from .dynamic import (
    KIND_DIR,
    Output,
    OutputCache,
    Resolver,
    unknown_factory,
)
from .nodes import (
    Directory,
    DynamicDirNode,
    DynamicFileNode,
    DynamicNode,
    File,
    Node,
    NodePath,
    Symlink,
    below,
)
from .persistence import (
    DIRECTORY,
    DYNAMIC_DIR,
    DYNAMIC_FILE,
    ROOT_ID,
    SYMLINK,
    Persistence,
)
from .recording import RecordingPersistence
from .wd import WD


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
        self._dynamic: dict[str, DynamicNode] = {}
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
            made: DynamicNode
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
        location = below(parent.location, name)
        self._current()
        known = self._dynamic.get(node_id)
        if known is not None and known.location == location and known.parent is parent:
            return known
        made: DynamicNode
        if kind == KIND_DIR:
            made = DynamicDirNode(self, node_id, DYNAMIC_DIR, location, parent=parent, kind=kind)
        else:
            made = DynamicFileNode(self, node_id, DYNAMIC_FILE, location, parent=parent, kind=kind)
        self._dynamic[node_id] = made
        return made

    def read_only(self, recorder: InputRecorder) -> ReadOnlyFS:
        """A view of this FS's state that refuses writes and records every read in ``recorder``."""
        return ReadOnlyFS(self, recorder)

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
