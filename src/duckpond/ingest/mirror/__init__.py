"""The local mirror: the pond as plain host files, rebuilt on demand, and host edits back in.

One module per job:

- ``names``: the reversible rule from pond names to host names;
- ``select``: which nodes a mirror's patterns hold;
- ``record``: the ``.pond-mirror`` record and its journal, the folder's lock,
  and how a host file is known to be unchanged;
- ``out``: a mirror run (incremental, staged, atomic renames);
- ``sync``: host edits back in as one transaction, conflicts kept beside.

``duckpond.pond.PondMirrors`` (``pond.mirrors``) is what users call.
"""

from . import record, sync
from .out import MirrorReport, Note, mirror_out
from .sync import Conflict, SyncReport, SyncResult

__all__ = [
    "Conflict",
    "MirrorReport",
    "Note",
    "SyncReport",
    "SyncResult",
    "mirror_out",
    "record",
    "sync",
]
