"""What every facet of ``Pond`` is: a small object holding the pond, one area of verbs.

A new area of verbs (backups, maintenance, mirrors...) goes on a facet rather
than onto ``Pond`` itself, as pyiceberg puts metadata tables on
``table.inspect``: ``pond.pipeline.run()``, not ``pond.run()``.  A facet keeps
no state of its own (the pond has it), so ``Pond`` makes one on each access;
its verbs are ``@guarded`` as ``Pond``'s are (docs/architecture.md, "Facets").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import Pond


class Facet:
    """One area of a pond's verbs; ``pond`` is the open ``Pond`` it works on."""

    def __init__(self, pond: Pond) -> None:
        self.pond = pond

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.pond.path!s})"
