"""The local mirror: the pond as plain host files, rebuilt on demand, and host edits back in.

One module per job:

- ``names``: the reversible rule from pond names to host names;
- ``select``: which nodes a mirror's patterns hold;
- ``record``: the ``.pond-mirror`` record and its journal, the folder's lock,
  and how a host file is known to be unchanged;
- ``out``: a mirror run (incremental, staged, atomic renames);
- ``sync``: host edits back in as one transaction, conflicts kept beside;
- ``facet``: ``pond.mirrors``, the verbs ``duckpond.Pond`` offers.
"""

from .facet import Mirrors, SyncResult
from .out import MirrorReport, Note, mirror_out
from .sync import Conflict, SyncReport

__all__ = ["Conflict", "MirrorReport", "Mirrors", "Note", "SyncReport", "SyncResult", "mirror_out"]
