"""What pond verbs return beside the library's own types: ``Entry`` and ``CopyResult``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..tinyfs.persistence import is_dir_type, is_file_type


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
