"""Dynamic nodes: directories and files whose content is computed on read.

A dynamic node is stored as a factory name plus a JSON configuration, never
as its output.  On read, the factory registered under that name builds a
Python object from the configuration; a file object gives bytes, a directory
object gives named children (themselves dynamic objects).  Users cannot
write into them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ConfigError

if TYPE_CHECKING:
    from .fs import WD


@runtime_checkable
class DynamicFile(Protocol):
    def read_bytes(self) -> bytes: ...


@runtime_checkable
class DynamicDir(Protocol):
    def entries(self) -> Mapping[str, DynamicFile | DynamicDir]: ...


@dataclass(frozen=True)
class FactoryContext:
    """What a factory may use: the pond's root (to read, never to write) and its own location."""

    root: WD
    path: str


Factory = Callable[[Mapping[str, Any], FactoryContext], DynamicFile | DynamicDir]

_FACTORIES: dict[str, Factory] = {}


def register_factory(name: str, factory: Factory) -> None:
    """Make ``factory`` available to dynamic nodes under ``name``."""
    _FACTORIES[name] = factory


def get_factory(name: str) -> Factory:
    try:
        return _FACTORIES[name]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES)) or "none registered"
        raise ConfigError(f"unknown factory {name!r} (known: {known})") from None
