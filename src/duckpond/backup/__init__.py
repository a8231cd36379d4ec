"""Backups of a pond to S3-compatible storage or a ``file://`` directory, and restores.

The remote is itself a pond laid out as on disk (``duckpond.backup.layout``): pushes are
incremental and content-addressed (``push``), never leave the remote inconsistent, and
refuse another pond's or a diverged history; ``restore`` rebuilds a whole pond from the URL
alone, every byte checked; ``verify`` compares and re-hashes; ``prune`` is a remote's own retention.  ``Remote`` is the store,
with ``Remote.fetch_verified`` for repairing one local object from a backup.  A push reads the
pond through ``source.PondFiles``: its directory, or the store of a pond kept on S3.  The
``Pond.backups`` facet (``duckpond.pond``) and ``pond backup ...`` sit on top.
"""

from __future__ import annotations

from ..tlogfs.objectstore import StoreOptions
from .layout import Floor, PushRecord, RemoteObject
from .prune import PruneReport, prune
from .push import PushReport, push
from .remote import Remote
from .repair import RepairReport, repair
from .restore import RestoreReport, record_restored, restore
from .state import BackupState, load_state
from .verify import VerifyReport, verify

__all__ = [
    "BackupState",
    "Floor",
    "PruneReport",
    "PushRecord",
    "PushReport",
    "Remote",
    "RemoteObject",
    "RepairReport",
    "RestoreReport",
    "StoreOptions",
    "VerifyReport",
    "load_state",
    "prune",
    "push",
    "record_restored",
    "repair",
    "restore",
    "verify",
]
