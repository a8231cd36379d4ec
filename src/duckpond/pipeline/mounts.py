"""Read-only mounts: the directories that Import resources keep, which nothing else writes.

An Import's run writes its mount through the filesystem directly; every write verb
of ``duckpond.pond.Transaction`` asks ``MountGuard`` first and is refused with
``ReadOnlyError`` when it would create, change, move or remove anything at or below
a mount (or remove or move a directory holding one).  Paths are checked by the
directories they reach, not by their text, so a symlink into a mount does not get
around it.  A mount stays protected while its Import resource exists; once the
resource is removed, its directory is ordinary again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import ReadOnlyError
from ..tinyfs import WD
from ..tinyfs import paths as tpaths
from ..tinyfs.persistence import DIRECTORY, RESOURCE
from .resolver import RESOURCES_DIR

IMPORT_KIND = "Import"


def import_mounts(root: WD) -> list[tuple[str, str]]:
    """``(mount path, resource name)`` of every Import resource stored in the pond."""
    if not root.exists(RESOURCES_DIR):
        return []
    found = []
    for np in root.entries(RESOURCES_DIR):
        if np.node_type != RESOURCE or np.info().attributes.get("kind") != IMPORT_KIND:
            continue
        document = json.loads(np.read_bytes())
        path = document.get("spec", {}).get("path") if isinstance(document, dict) else None
        if isinstance(path, str):
            found.append((path, np.name))
    return found


@dataclass
class MountGuard:
    """The mounts of one pond state: which directory ids lie inside one, and above one."""

    root: WD
    _inside: dict[str, str] | None = field(default=None, init=False)
    _above: dict[str, str] = field(default_factory=dict, init=False)

    def _load(self) -> dict[str, str]:
        if self._inside is None:
            self._inside = {}
            for mount, name in import_mounts(self.root):
                if not self.root.exists(mount):
                    continue
                np = self.root.get(mount)
                if np.node_type != DIRECTORY:
                    continue
                label = f"{mount} is imported by {name}"
                for below in self.root.visit(mount):
                    if below.node_type == DIRECTORY:
                        self._inside[below.node_id] = label
                parts = tpaths.split(mount)
                for n in range(len(parts)):
                    above = self.root.get(tpaths.join(parts[:n]))
                    self._above[above.node_id] = label
        return self._inside

    def _nearest(self, path: str) -> tuple[str | None, str | None]:
        """(id of the nearest existing node at or above ``path``, id of its directory)."""
        parts = list(tpaths.normalize(path, "/"))
        while True:
            where = tpaths.join(parts)
            if self.root.exists(where):
                try:
                    np = self.root.get(where)
                except (OSError, ValueError):
                    np = self.root.get(where, follow=False)
                parent = self.root.get(tpaths.join(parts[:-1])) if parts else np
                return np.node_id, parent.node_id
            if not parts:
                return None, None
            parts.pop()

    def check_write(self, *paths: str) -> None:
        """Refuse creating or changing anything at ``paths`` inside a mount."""
        inside = self._load()
        if not inside:
            return
        for path in paths:
            node, parent = self._nearest(path)
            for candidate in (node, parent):
                if candidate in inside:
                    raise ReadOnlyError(
                        f"{path}: {inside[candidate]}; imported data is read-only", path=path
                    )

    def check_remove(self, *paths: str) -> None:
        """Refuse removing or moving ``paths`` when they are in a mount or hold one.

        The last component is not followed: a symlink into a mount is removed freely.
        """
        inside = self._load()
        if not inside:
            return
        for path in paths:
            parts = tpaths.normalize(path, "/")
            if parts:
                self.check_write(tpaths.join(parts[:-1]))
            if not self.root.exists(path):
                continue
            np = self.root.get(path, follow=False)
            if np.node_id in inside:
                raise ReadOnlyError(
                    f"{path}: {inside[np.node_id]}; imported data is read-only", path=path
                )
            if np.node_id in self._above:
                raise ReadOnlyError(
                    f"{path}: {self._above[np.node_id]}; remove that resource first", path=path
                )
