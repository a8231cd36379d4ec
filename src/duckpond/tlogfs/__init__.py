"""TLogFS: TinyFS persistence on a Delta Lake operation log.

``DeltaPersistence`` stores a pond's nodes in ``$POND/data``; ``WriterLock``
keeps one writer at a time; ``recover`` and ``fsck`` clean up after a crash
and prove integrity.  Names are imported on first use, so importing this
package does not pull in deltalake and pyarrow (about half a second).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tinyfs.ids import uuid7
    from .history import TxnRecord
    from .integrity import FsckProblem, FsckReport, content_root, fsck
    from .layout import LARGE_FILE_THRESHOLD
    from .lock import WriterLock
    from .persistence import DeltaPersistence
    from .recovery import RecoverReport, recover

__all__ = [
    "LARGE_FILE_THRESHOLD",
    "DeltaPersistence",
    "FsckProblem",
    "FsckReport",
    "RecoverReport",
    "TxnRecord",
    "WriterLock",
    "content_root",
    "fsck",
    "recover",
    "uuid7",
]

_HOMES = {
    "DeltaPersistence": "persistence",
    "FsckProblem": "integrity",
    "FsckReport": "integrity",
    "content_root": "integrity",
    "LARGE_FILE_THRESHOLD": "layout",
    "RecoverReport": "recovery",
    "TxnRecord": "history",
    "WriterLock": "lock",
    "fsck": "integrity",
    "recover": "recovery",
}


def __getattr__(name: str) -> Any:
    if name == "uuid7":
        from ..tinyfs.ids import uuid7

        return uuid7
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
