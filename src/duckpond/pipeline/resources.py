"""What ``pond resources`` lists: each resource with its kind, uuid, path and last run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..tinyfs import WD, Persistence
from .apply import stored_resources


@dataclass(frozen=True)
class ResourceInfo:
    """One resource; ``last_*`` are None before its first run."""

    name: str
    kind: str
    uuid: str
    path: str | None
    last_outcome: str | None
    last_run: datetime | None

    def to_json(self) -> dict[str, Any]:
        from ..timeparse import iso

        return {
            "name": self.name,
            "kind": self.kind,
            "uuid": self.uuid,
            "path": self.path,
            "last_outcome": self.last_outcome,
            "last_run": iso(self.last_run) if self.last_run is not None else None,
        }


def list_resources(root: WD, persistence: Persistence) -> list[ResourceInfo]:
    """Every resource under ``/etc/resources``, by name."""
    from ..query.system import runs_table

    last: dict[str, dict[str, Any]] = {}
    for row in runs_table(persistence).to_pylist():
        last[str(row["uuid"])] = row
    out = []
    for name, res in sorted(stored_resources(root).items()):
        run = last.get(res.uuid)
        out.append(
            ResourceInfo(
                name,
                res.kind,
                res.uuid,
                res.path,
                None if run is None else str(run["outcome"]),
                None if run is None else run["start"],
            )
        )
    return out
