"""What a dynamic node's factory is given: ``FactoryContext``, with the
``InputRecorder`` that notes every (node id, version) it reads.

The context's ``root`` is a ``WD``: a factory reads the pond through the
same filesystem it belongs to.  This module owns the one thing the dynamic
node contract (``dynamic.py``) and the filesystem (``fs.py``, ``nodes.py``,
``wd.py``) both need, and names ``WD`` for type checking only, so neither
of them imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .wd import WD

InputVersion = tuple[str, int]
"""One input a computation read: (node id, version of that node it saw)."""


class InputRecorder:
    """The (node id, version) pairs one computation has read so far.

    A child's recorder has its parent's as ``parent``: a child depends on
    what the directory factory read as well as on its own reads.
    """

    def __init__(self, parent: InputRecorder | None = None) -> None:
        self.parent = parent
        self._seen: set[InputVersion] = set()

    def record(self, node_id: str, version: int) -> None:
        self._seen.add((node_id, version))

    def snapshot(self) -> frozenset[InputVersion]:
        """Everything read so far, through this recorder and its parents."""
        own = frozenset(self._seen)
        return own if self.parent is None else own | self.parent.snapshot()


@dataclass(frozen=True)
class FactoryContext:
    """What a factory may use.

    ``root`` is a read-only ``WD`` over the same pond state as the reader
    (a write raises ``ReadOnlyError``) whose reads are recorded in
    ``inputs``.  ``path`` is where the node is now (its absolute path at
    read time, not at creation).  ``node_id`` is the node's id (for a child
    of a dynamic directory, ``<dir id>/<name>...``); ``config_version`` is
    the version of the stored configuration being computed.
    """

    root: WD
    path: str
    node_id: str
    config_version: int
    inputs: InputRecorder = field(default_factory=InputRecorder)

    def record_input(self, node_id: str, version: int) -> None:
        """Declare an input read some other way than through ``root``."""
        self.inputs.record(node_id, version)
