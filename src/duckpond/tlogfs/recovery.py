"""Crash clean-up (``recover``); the integrity proof, ``fsck``, is in ``integrity``.

A crash leaves the Delta table at its last commit, so the only debris is
outside it: blobs written for a transaction that never committed, temporary
files of an interrupted blob write, and the holder record of a dead writer
in the lock file.  ``recover`` removes those, and seals the newest oplog
files when a crash came between a commit and its seals (``seals``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PondNotFoundError
from .blobs import BlobStore, fsync_dir
from .integrity import loose_files, scan
from .layout import DATA_DIR, LARGE_FILE_THRESHOLD, LARGE_FILES_DIR, TEMP_PREFIX
from .lock import DEFAULT_TIMEOUT, WriterLock, clear_stale
from .persistence import DeltaPersistence


@dataclass
class RecoverReport:
    removed_blobs: list[str] = field(default_factory=list)
    """Digests of blobs that no committed row names."""
    removed_temp_files: list[str] = field(default_factory=list)
    """Temporary blob files, and oplog files of commits that never landed."""
    sealed_files: list[str] = field(default_factory=list)
    """The newest oplog files, left unsealed by a crash after their commit."""
    bytes_freed: int = 0
    stale_lock: dict[str, Any] | None = None
    """The dead writer's holder record, cleared from the lock file."""

    @property
    def clean(self) -> bool:
        """True if there was nothing to recover."""
        return not (
            self.removed_blobs or self.removed_temp_files or self.stale_lock or self.sealed_files
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "removed_blobs": list(self.removed_blobs),
            "removed_temp_files": list(self.removed_temp_files),
            "sealed_files": list(self.sealed_files),
            "bytes_freed": self.bytes_freed,
            "stale_lock": self.stale_lock,
        }

    def summary(self) -> str:
        if self.clean:
            return "nothing to recover"
        lines = [
            f"removed {len(self.removed_blobs)} orphan blob(s) and "
            f"{len(self.removed_temp_files)} temporary file(s), freeing {self.bytes_freed} bytes"
        ]
        if self.sealed_files:
            lines.append(f"sealed {len(self.sealed_files)} new oplog file(s)")
        if self.stale_lock is not None:
            lines.append(f"cleared a stale lock held by pid {self.stale_lock.get('pid', '?')}")
        return "\n".join(lines)


def _require_pond(pond_dir: str | os.PathLike[str]) -> Path:
    pond = Path(pond_dir)
    if not (pond / DATA_DIR).is_dir():
        raise PondNotFoundError(f"no pond at {pond}")
    return pond


def _referenced_blobs(store: DeltaPersistence) -> set[str]:
    rows = store.all_rows()
    digests = rows.column("sha256").to_pylist()
    sizes = rows.column("size").to_pylist()
    return {d for d, s in zip(digests, sizes, strict=True) if s >= LARGE_FILE_THRESHOLD}


def recover(
    pond_dir: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_TIMEOUT
) -> RecoverReport:
    """Remove what a crashed writer left behind; waits for the write lock."""
    pond = _require_pond(pond_dir)
    report = RecoverReport(stale_lock=clear_stale(pond))
    # Holding the lock means no transaction is writing blobs it has not committed yet.
    with WriterLock(pond, lock_timeout):
        store = DeltaPersistence.open(pond, lock_timeout=lock_timeout)
        referenced = _referenced_blobs(store)
        blobs_dir = pond / DATA_DIR / LARGE_FILES_DIR
        present, others = BlobStore(blobs_dir).listing()
        for digest, path in sorted(present.items()):
            if digest not in referenced:
                report.bytes_freed += path.stat().st_size
                path.unlink()
                report.removed_blobs.append(digest)
        for path in sorted(others):
            if path.name.startswith(TEMP_PREFIX) and path.is_file():
                report.bytes_freed += path.stat().st_size
                path.unlink()
                report.removed_temp_files.append(path.name)
        if report.removed_blobs or report.removed_temp_files:
            fsync_dir(blobs_dir)
        root = pond / DATA_DIR
        good, bad = store.seals.read()
        if bad:
            # Damaged records (a torn append): drop them; what they sealed is sealed again below.
            store.seals.rewrite(good)
        files, seals = scan(root)
        to_seal, debris = loose_files(files, seals, store)
        for rel in debris:
            if rel.startswith(f"{LARGE_FILES_DIR}/"):
                continue  # counted above
            path = root / rel
            report.bytes_freed += path.stat().st_size
            path.unlink()
            report.removed_temp_files.append(rel)
        store.seals.seal_files(to_seal)
        report.sealed_files = to_seal
    return report
