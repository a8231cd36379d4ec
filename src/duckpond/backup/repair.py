"""Repair: put back, from a backup, every local oplog file and blob ``fsck`` finds missing or bad.

Each object named by a file problem (a corrupt or missing data file, log entry,
checkpoint or blob) is fetched with ``Remote.fetch_verified`` (checked against the
push records' sha256), written beside its place under a temporary name, fsynced and
renamed over it, so a crash leaves the old file or the repaired one, never half of
one.  ``fsck`` then runs again (a repaired data file may let it read rows it could not
read before, and so find more); rounds repeat while they mend something.  What no
backup object can mend (a stray file, a row problem, an object never pushed) stays in
the final report's problems, and ``unrepaired`` names each with the reason.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CorruptDataError
from ..tlogfs.blobs import fsync_dir
from ..tlogfs.layout import TEMP_PREFIX
from ..tlogfs.lock import DEFAULT_TIMEOUT, WriterLock
from .remote import Remote

if TYPE_CHECKING:
    # fsck's module imports deltalake and pyarrow: imported when a repair runs, not when
    # duckpond.backup is (a push needs neither).
    from ..tlogfs.integrity import FsckReport

# The fsck problems a backup's copy of the named file can mend.
REPAIRABLE = frozenset(
    {
        "corrupt file",
        "missing file",
        "missing log entry",
        "missing blob",
        "sha256 mismatch",
        "size mismatch",
        "unreadable data file",
    }
)
MAX_ROUNDS = 4


@dataclass
class RepairReport:
    """``repaired``: paths (relative to the pond directory) put back from the backup;
    ``unrepaired``: ``(path or problem, why)`` for what is still wrong; ``fsck``: the
    report of the final fsck run."""

    url: str
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[tuple[str, str]] = field(default_factory=list)
    fsck: FsckReport = field(default_factory=lambda: _integrity().FsckReport())

    @property
    def ok(self) -> bool:
        return self.fsck.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "repaired": self.repaired,
            "unrepaired": [{"path": p, "why": w} for p, w in self.unrepaired],
            "fsck": self.fsck.to_json(),
        }


def _put_back(pond_dir: Path, rel: str, data: bytes) -> None:
    """Write ``data`` at ``pond_dir/rel`` atomically: temporary name, fsync, rename, fsync dir."""
    dest = pond_dir / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Named as the pond's other temporary files, so a crash's leftover is debris that
    # ``recover`` clears, not a stray.
    tmp = dest.parent / f"{TEMP_PREFIX}repair-{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def repair(
    pond_dir: Path, remote: Remote, *, lock_timeout: float = DEFAULT_TIMEOUT
) -> RepairReport:
    """Mend the pond at ``pond_dir`` from the backup at ``remote`` (see the module docstring).

    Holds the pond's write lock throughout (waiting up to ``lock_timeout`` s), so no
    writer commits or compacts while files are judged and put back: a file a writer
    just added is never taken for a stray, nor one it replaced put back.  Raises
    ``LockTimeoutError`` naming the holder if the lock stays taken, ``RemoteError`` if
    the store cannot be used; every object the backup lacks or holds bad is in
    ``unrepaired``.
    """
    with WriterLock(pond_dir, timeout=lock_timeout):
        return _repair(pond_dir, remote)


def _repair(pond_dir: Path, remote: Remote) -> RepairReport:
    fsck = _integrity().fsck
    report = RepairReport(remote.url)
    failed: dict[str, str] = {}
    current = fsck(pond_dir)
    for _ in range(MAX_ROUNDS):
        todo = sorted(
            {
                p.path
                for p in current.problems
                if p.kind in REPAIRABLE and p.path.startswith("data/") and p.path not in failed
            }
        )
        if not todo:
            break
        for rel in todo:
            try:
                data = remote.fetch_verified(rel)
            except CorruptDataError as e:
                failed[rel] = str(e)
                continue
            _put_back(pond_dir, rel, data)
            report.repaired.append(rel)
        current = fsck(pond_dir)
    report.fsck = current
    for p in current.problems:
        where = p.path or f"node {p.node_id} version {p.version}"
        why = failed.get(p.path, f"{p.kind}: {p.detail}")
        if (where, why) not in report.unrepaired:
            report.unrepaired.append((where, why))
    return report


def recorded_spec(pond_dir: Path, name: str) -> dict[str, Any] | None:
    """Backup ``name``'s spec fields as the pond recorded them outside its oplog, or None.

    For a pond whose oplog cannot be read (a data file of ``/etc/resources`` lost, a
    log entry cut short): the specs cache (``backups/_specs.json``, ``state.SpecCache``:
    URL, endpoint, and secrets as ``${env:...}`` references, never values) if it names
    ``name`` with the URL the last push to it recorded (``backups/<name>.json``), or if
    there is no such record; otherwise that recorded URL alone, whose store settings
    then come from the environment (``AWS_*``).  Nothing here is trusted for content:
    every object fetched is checked against the backup's push records, and put back
    only where ``fsck`` names a local file missing or bad.
    """
    import json

    from .state import SPECS_FILE, SPECS_FORMAT, STATE_DIR, state_path

    spec: dict[str, Any] | None = None
    try:
        raw = json.loads((pond_dir / STATE_DIR / SPECS_FILE).read_text(encoding="utf-8"))
        found = raw["specs"][name] if raw.get("format") == SPECS_FORMAT else None
        if isinstance(found, dict) and isinstance(found.get("url"), str):
            spec = found
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    pushed_to: str | None = None
    try:
        url = json.loads(state_path(pond_dir, name).read_text(encoding="utf-8"))["url"]
        pushed_to = url if isinstance(url, str) else None
    except (OSError, ValueError, TypeError, KeyError):
        pass
    if spec is not None and pushed_to in (None, spec["url"]):
        return spec
    return None if pushed_to is None else {"url": pushed_to}


def _integrity() -> Any:
    from ..tlogfs import integrity

    return integrity
