"""Crash clean-up (``recover``) and integrity proof (``fsck``).

A crash leaves the Delta table at its last commit, so the only debris is
outside it: blobs written for a transaction that never committed, temporary
files of an interrupted blob write, and the holder record of a dead writer
in the lock file.  ``recover`` removes those; ``fsck`` re-hashes every
version's bytes and checks the table's own invariants.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PondCorruptError, PondNotFoundError
from ..tinyfs.persistence import DIRECTORY
from .blobs import BlobStore, fsync_dir
from .layout import DATA_DIR, LARGE_FILE_THRESHOLD, LARGE_FILES_DIR, TEMP_PREFIX
from .lock import DEFAULT_TIMEOUT, WriterLock, clear_stale
from .oplog import decode_entries
from .persistence import DeltaPersistence


@dataclass
class RecoverReport:
    removed_blobs: list[str] = field(default_factory=list)
    """Digests of blobs that no committed row names."""
    removed_temp_files: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    stale_lock: dict[str, Any] | None = None
    """The dead writer's holder record, cleared from the lock file."""

    @property
    def clean(self) -> bool:
        """True if there was nothing to recover."""
        return not (self.removed_blobs or self.removed_temp_files or self.stale_lock)

    def to_json(self) -> dict[str, Any]:
        return {
            "removed_blobs": list(self.removed_blobs),
            "removed_temp_files": list(self.removed_temp_files),
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
        if self.stale_lock is not None:
            lines.append(f"cleared a stale lock held by pid {self.stale_lock.get('pid', '?')}")
        return "\n".join(lines)


@dataclass(frozen=True)
class FsckProblem:
    kind: str
    """One of: sha256 mismatch, size mismatch, missing blob, version gap, bad directory,
    dangling entry, missing transaction, duplicate transaction."""
    node_id: str
    version: int
    detail: str


@dataclass
class FsckReport:
    versions_checked: int = 0
    bytes_checked: int = 0
    blobs_checked: int = 0
    unreferenced_blobs: int = 0
    """Left by a crash; harmless, and removed by ``recover``."""
    problems: list[FsckProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def of_kind(self, kind: str) -> list[FsckProblem]:
        return [p for p in self.problems if p.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "versions_checked": self.versions_checked,
            "bytes_checked": self.bytes_checked,
            "blobs_checked": self.blobs_checked,
            "unreferenced_blobs": self.unreferenced_blobs,
            "problems": [asdict(p) for p in self.problems],
        }

    def summary(self) -> str:
        lines = [
            f"checked {self.versions_checked} version(s), {self.bytes_checked} bytes, "
            f"{self.blobs_checked} blob(s): "
            + ("ok" if self.ok else f"{len(self.problems)} problem(s)")
        ]
        lines += [
            f"{p.kind}: node {p.node_id} version {p.version}: {p.detail}" for p in self.problems
        ]
        if self.unreferenced_blobs:
            lines.append(f"{self.unreferenced_blobs} unreferenced blob(s): run pond recover")
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
    return report


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _content_digest(
    store: DeltaPersistence,
    node_id: str,
    version: int,
    blob_hashes: dict[Path, tuple[str, int] | None],
) -> tuple[str, int] | str:
    """The digest and size of one version's bytes, or why they cannot be read."""
    blob = store.blob_path(node_id, version)
    if blob is None:
        try:
            data = store.unchecked_bytes(node_id, version)
        except PondCorruptError as e:
            return str(e)
        return hashlib.sha256(data).hexdigest(), len(data)
    if blob not in blob_hashes:
        # Many versions may share one blob; hashing it once proves it for all.
        blob_hashes[blob] = _hash_file(blob) if blob.is_file() else None
    found = blob_hashes[blob]
    if found is None:
        return f"{blob.name} does not exist"
    return found


def fsck(pond_dir: str | os.PathLike[str]) -> FsckReport:
    """Re-hash every version of every node and check the oplog's invariants; never writes."""
    pond = _require_pond(pond_dir)
    store = DeltaPersistence.open(pond)
    report = FsckReport()
    # Roughly the order rows sit in data files, so content row groups are read once.
    order = [("part_id", "ascending"), ("txn_seq", "ascending"), ("node_id", "ascending")]
    rows = store.all_rows().sort_by(order)
    blob_hashes: dict[Path, tuple[str, int] | None] = {}
    versions: dict[str, list[int]] = {}
    latest_dirs: dict[str, int] = {}

    def problem(kind: str, node_id: str, version: int, detail: str) -> None:
        report.problems.append(FsckProblem(kind, node_id, version, detail))

    for row in rows.to_pylist():
        node_id, version = row["node_id"], row["version"]
        versions.setdefault(node_id, []).append(version)
        report.versions_checked += 1
        result = _content_digest(store, node_id, version, blob_hashes)
        if isinstance(result, str):
            problem("missing blob", node_id, version, result)
            continue
        actual, size = result
        report.bytes_checked += size
        if actual != row["sha256"]:
            problem(
                "sha256 mismatch",
                node_id,
                version,
                f"recorded {row['sha256']}, content hashes to {actual}",
            )
        if size != row["size"]:
            problem(
                "size mismatch",
                node_id,
                version,
                f"recorded {row['size']} bytes, content has {size}",
            )
        if row["file_type"] == DIRECTORY and version > latest_dirs.get(node_id, 0):
            latest_dirs[node_id] = version
    report.blobs_checked = sum(1 for h in blob_hashes.values() if h is not None)

    for node_id, numbers in versions.items():
        numbers.sort()
        if numbers != list(range(1, len(numbers) + 1)):
            problem("version gap", node_id, numbers[-1], f"versions {numbers}")
    for dir_id, version in latest_dirs.items():
        try:
            entries = decode_entries(store.unchecked_bytes(dir_id, version))
        except Exception as e:  # any failure to decode is the finding
            problem("bad directory", dir_id, version, str(e))
            continue
        for entry in entries.values():
            if entry.node_id not in versions:
                problem(
                    "dangling entry",
                    dir_id,
                    version,
                    f"{entry.name!r} -> unknown node {entry.node_id}",
                )

    # Every transaction writes rows and is one commit: its number shows in both, once.
    with_rows = set(rows.column("txn_seq").to_pylist())
    for txn in sorted(set(range(1, store.last_txn + 1)) - with_rows):
        problem("missing transaction", "-", txn, f"transaction {txn} has no rows in the oplog")
    seen: dict[int, int] = {}
    for t in store.transactions():
        seen[t.txn_seq] = seen.get(t.txn_seq, 0) + 1
    for txn, count in sorted(seen.items()):
        if count > 1:
            problem("duplicate transaction", "-", txn, f"{count} Delta commits claim txn {txn}")

    present, _ = BlobStore(pond / DATA_DIR / LARGE_FILES_DIR).listing()
    report.unreferenced_blobs = sum(1 for p in present.values() if p not in blob_hashes)
    return report
