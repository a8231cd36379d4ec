"""Dynamic nodes: directories and files whose content is computed on read.

A dynamic node is stored as a factory name plus a JSON configuration, never
as its output.  On read, the ``Resolver`` the ``FS`` was given turns
(factory name, configuration, context) into an *output*:

- a ``TableOutput``: an Arrow schema, record batches (an iterator, streamed)
  and the event-time range (microseconds since the epoch, UTC);
- a ``FileOutput``: bytes;
- a ``DirOutput``: a cheap listing (name -> kind) and each child's output on
  demand.

The factory reads the pond through ``FactoryContext.root`` (``context.py``), a read-only view
of the same state (time travel included) that records every input it reads
as (node id, version).  An ``OutputCache`` keyed by the node, its config
version, its path and those inputs lets a caller skip the computation; see
docs/dynamic-nodes.md for the contract.

Nothing here imports pyarrow at run time: Arrow types appear only in type
annotations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigError
from .context import FactoryContext, InputVersion

if TYPE_CHECKING:
    import pyarrow as pa

# The kinds a dynamic directory lists its entries as.
KIND_DIR = "dir"
KIND_TABLE = "table"
KIND_SERIES = "series"
KIND_DATA = "data"
ENTRY_KINDS = (KIND_DIR, KIND_TABLE, KIND_SERIES, KIND_DATA)


@runtime_checkable
class FileOutput(Protocol):
    """A dynamic file whose content is bytes."""

    def read_bytes(self) -> bytes: ...


@runtime_checkable
class TableOutput(Protocol):
    """A dynamic table or series: Arrow schema and record batches, never bytes to sniff.

    ``batches`` may be called more than once; each call starts a new stream
    whose batches all have ``schema()``.  ``event_range`` is (min, max) event
    time in microseconds since the epoch, UTC, both inclusive, or None when
    the output has no time column or is empty.
    """

    def schema(self) -> pa.Schema: ...

    def batches(self) -> Iterator[pa.RecordBatch]: ...

    def event_range(self) -> tuple[int, int] | None: ...


@runtime_checkable
class DirOutput(Protocol):
    """A dynamic directory.

    ``entries`` is cheap: names and kinds (``dir``, ``table``, ``series``,
    ``data``), no content.  ``child`` builds one entry's output; it gets its
    own context, whose ``path`` is the child's and whose recorder adds to the
    directory's inputs.
    """

    def entries(self) -> Mapping[str, str]: ...

    def child(self, name: str, ctx: FactoryContext) -> Output: ...


Output = FileOutput | TableOutput | DirOutput
LeafOutput = FileOutput | TableOutput
Listing = Mapping[str, str]


Factory = Callable[[Mapping[str, Any], FactoryContext], Output]


@runtime_checkable
class Resolver(Protocol):
    """Turns a stored (factory name, configuration) into an output."""

    def knows(self, factory: str) -> bool:
        """True if ``factory`` names something this resolver can compute."""
        ...

    def resolve(self, factory: str, config: Mapping[str, Any], ctx: FactoryContext) -> Output:
        """The output of ``factory`` for ``config``; ``ConfigError`` naming an unknown factory."""
        ...


def unknown_factory(factory: str, known: list[str] | None = None) -> ConfigError:
    """The error for a factory name nobody can compute."""
    listed = ", ".join(sorted(known)) if known else "none available"
    return ConfigError(f"unknown factory {factory!r} (known: {listed})")


class MappingResolver:
    """A resolver over a dict of factories; registering a name twice is an error."""

    def __init__(self, factories: Mapping[str, Factory] | None = None) -> None:
        self._factories: dict[str, Factory] = {}
        for name, factory in (factories or {}).items():
            self.register(name, factory)

    def register(self, name: str, factory: Factory) -> None:
        """Add ``factory`` under ``name``; ``ConfigError`` if the name is taken."""
        if name in self._factories:
            raise ConfigError(f"factory {name!r} is already registered")
        self._factories[name] = factory

    def knows(self, factory: str) -> bool:
        return factory in self._factories

    def resolve(self, factory: str, config: Mapping[str, Any], ctx: FactoryContext) -> Output:
        try:
            fn = self._factories[factory]
        except KeyError:
            raise unknown_factory(factory, list(self._factories)) from None
        return fn(config, ctx)


# -- the cache hook ---------------------------------------------------------------------


@dataclass(frozen=True)
class CacheKey:
    """What identifies a computation before its inputs are known.

    A full cache key is this plus the sorted input set; see ``OutputCache``.
    ``path`` is part of it because a factory may use where it is.
    """

    node_id: str
    config_version: int
    path: str


VersionOf = Callable[[str], int | None]
"""The current version of a node id in the state being read, or None if it is gone."""

Cached = FileOutput | TableOutput | Listing


@runtime_checkable
class OutputCache(Protocol):
    """Where computed outputs (leaf outputs and directory listings) are kept between reads.

    An entry is stored under ``key`` together with the input set read while
    computing it.  ``lookup`` cannot know the inputs before computing, so it
    looks at the entries stored under ``key`` and returns one whose every
    recorded input still has the recorded version (``current(node_id)``),
    else None.  ``current`` answers in the reader's state, so a reader at a
    past transaction finds the entries that were right then.

    ``store`` is called with the freshly computed value and a callable that
    gives the input set; it returns what the reader should use instead (for
    a ``TableOutput``, a wrapper that keeps the batches as they stream by and
    commits the entry, with ``inputs()`` taken then, once the stream ends).
    """

    def lookup(self, key: CacheKey, current: VersionOf) -> Cached | None: ...

    def store(
        self, key: CacheKey, value: Cached, inputs: Callable[[], frozenset[InputVersion]]
    ) -> Cached: ...


@dataclass(frozen=True)
class _BytesOutput:
    data: bytes

    def read_bytes(self) -> bytes:
        return self.data


@dataclass(frozen=True)
class _TableValue:
    schema_: Any
    batches_: tuple[Any, ...]
    range_: tuple[int, int] | None

    def schema(self) -> pa.Schema:
        return self.schema_

    def batches(self) -> Iterator[pa.RecordBatch]:
        return iter(self.batches_)

    def event_range(self) -> tuple[int, int] | None:
        return self.range_


@dataclass
class _Entry:
    inputs: frozenset[InputVersion]
    value: Cached


class MemoryCache:
    """An ``OutputCache`` in a dict, for tests and one process; counts hits and stores."""

    def __init__(self) -> None:
        self._entries: dict[CacheKey, list[_Entry]] = {}
        self.hits = 0
        self.stores = 0

    def lookup(self, key: CacheKey, current: VersionOf) -> Cached | None:
        for entry in self._entries.get(key, []):
            if all(current(node_id) == version for node_id, version in entry.inputs):
                self.hits += 1
                return entry.value
        return None

    def _put(self, key: CacheKey, inputs: frozenset[InputVersion], value: Cached) -> None:
        self.stores += 1
        self._entries.setdefault(key, []).append(_Entry(inputs, value))

    def store(
        self, key: CacheKey, value: Cached, inputs: Callable[[], frozenset[InputVersion]]
    ) -> Cached:
        if isinstance(value, TableOutput):
            return _TeeTable(self, key, value, inputs)
        if isinstance(value, FileOutput):
            return _TeeBytes(self, key, value, inputs)
        listing = dict(value)
        self._put(key, inputs(), listing)
        return listing


@dataclass
class _TeeBytes:
    cache: MemoryCache
    key: CacheKey
    inner: FileOutput
    inputs: Callable[[], frozenset[InputVersion]]

    _data: bytes | None = None

    def read_bytes(self) -> bytes:
        if self._data is None:
            self._data = self.inner.read_bytes()
            self.cache._put(self.key, self.inputs(), _BytesOutput(self._data))
        return self._data


@dataclass
class _TeeTable:
    cache: MemoryCache
    key: CacheKey
    inner: TableOutput
    inputs: Callable[[], frozenset[InputVersion]]

    def schema(self) -> pa.Schema:
        return self.inner.schema()

    def event_range(self) -> tuple[int, int] | None:
        return self.inner.event_range()

    def batches(self) -> Iterator[pa.RecordBatch]:
        kept = []
        for batch in self.inner.batches():
            kept.append(batch)
            yield batch
        # Only a stream read to its end is kept: a partial one is not the output.
        value = _TableValue(self.inner.schema(), tuple(kept), self.inner.event_range())
        self.cache._put(self.key, self.inputs(), value)
