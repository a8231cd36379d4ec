"""What pond verbs return beside the library's own types: ``Entry``, ``CopyResult``,
``PondStatus``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..tinyfs.persistence import is_dir_type, is_file_type

if TYPE_CHECKING:
    from ..pipeline.resources import ResourceInfo
    from ..tlogfs.usage import DiskUsage
    from .backups import BackupInfo


@dataclass(frozen=True)
class Entry:
    """One listed node: what ``pond list -l`` shows and ``--json`` prints."""

    path: str
    type: str
    size: int
    version: int
    node_id: str
    timestamp: datetime
    tabular: bool = False
    """Reads as rows: a table, a series, or a dynamic file with a table output (``stat`` only)."""

    @property
    def is_dir(self) -> bool:
        """A directory, stored or dynamic."""
        return is_dir_type(self.type)

    @property
    def is_file(self) -> bool:
        """A file of any kind, stored or dynamic."""
        return is_file_type(self.type)

    def to_json(self) -> dict[str, Any]:
        from ..timeparse import iso

        return {
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "version": self.version,
            "node_id": self.node_id,
            "timestamp": iso(self.timestamp),
        }


@dataclass(frozen=True)
class CopyResult:
    """What a copy did, path by path: ``written`` changed the pond, ``unchanged`` matched."""

    written: list[str]
    unchanged: list[str]
    txn_seq: int | None
    # One line per file stored with something worth a look (series rows at equal times).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PondStatus:
    """``pond status``: the pond's identity, newest transaction, disk use, runs and backups."""

    path: str
    pond_id: str
    last_txn: int
    last_txn_time: datetime | None
    usage: DiskUsage
    resources: list[ResourceInfo]
    backups: list[BackupInfo]

    def to_json(self) -> dict[str, Any]:
        from ..timeparse import iso

        return {
            "path": self.path,
            "pond_id": self.pond_id,
            "last_txn": self.last_txn,
            "last_txn_time": iso(self.last_txn_time) if self.last_txn_time else None,
            "disk": self.usage.to_json(),
            "resources": [r.to_json() for r in self.resources],
            "backups": [b.to_json() for b in self.backups],
        }
