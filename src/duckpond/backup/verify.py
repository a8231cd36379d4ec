"""Verify: how a backup stands against the local pond, and (deep) whether every byte is right.

The shallow check compares the remote's newest Delta version with the local log:
``equal``, ``behind`` by K transactions, ``ahead`` (the local pond lost history) or
``diverged`` (not one history: another pond's backup, or a copy that wrote its own
transactions), or ``empty`` (nothing pushed yet).  ``deep`` also reads every push record
(checksums and chain) and re-reads and re-hashes every object they name, naming each
missing or bad one.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BackupConflictError, CorruptDataError
from ..tlogfs.identity import pond_id
from ..tlogfs.objectstore import remote_error
from .layout import PushRecord, RemoteObject, record_key, sha256_hex
from .local import LocalLog
from .push import DEFAULT_CONCURRENCY, check_identity, compare_tip
from .remote import Remote

STATUSES = ("equal", "behind", "ahead", "diverged", "empty")


@dataclass
class VerifyReport:
    """``status`` (one of ``STATUSES``), both ends' newest Delta version and transaction,
    ``behind_by`` (pond transactions the remote lacks), and, after a deep check, every
    object checked and each problem as ``(key, what)``."""

    url: str
    status: str
    local_version: int
    remote_version: int
    local_txn: int
    remote_txn: int
    detail: str = ""
    objects_checked: int = 0
    bytes_checked: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def behind_by(self) -> int:
        return max(0, self.local_txn - self.remote_txn) if self.status == "behind" else 0

    @property
    def ok(self) -> bool:
        """Equal or behind, and no bad object: what ``pond backup verify`` exits 0 on."""
        return self.status in ("equal", "behind") and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "ok": self.ok,
            "local_version": self.local_version,
            "remote_version": self.remote_version,
            "local_txn": self.local_txn,
            "remote_txn": self.remote_txn,
            "behind_by": self.behind_by,
            "detail": self.detail,
            "objects_checked": self.objects_checked,
            "bytes_checked": self.bytes_checked,
            "problems": [{"key": k, "problem": p} for k, p in self.problems],
        }


def _txn_at(log: LocalLog, version: int) -> int:
    for v in range(version, -1, -1):
        txn = log.read(v).txn_seq
        if txn is not None:
            return txn
    return 0


def verify(pond_dir: Path, remote: Remote, *, deep: bool = False) -> VerifyReport:
    """Compare the backup at ``remote`` with the pond at ``pond_dir`` (see the module docstring).

    Raises ``RemoteError`` if the store cannot be used; every finding about the backup
    itself is in the report.
    """
    log = LocalLog(pond_dir)
    newest = log.newest()
    local_txn = _txn_at(log, newest)
    remote.check()
    tip = remote.tip()
    report = VerifyReport(remote.url, "equal", newest, tip, local_txn, 0)
    if tip < 0:
        report.status = "empty"
        return report
    try:
        check_identity(remote, pond_id(pond_dir))
        compare_tip(remote, log, tip, newest)
    except BackupConflictError as e:
        report.status = "ahead" if tip > newest else "diverged"
        report.detail = str(e)
    if report.status in ("equal", "diverged") and tip <= newest:
        report.remote_txn = _txn_at(log, tip)
        if report.status == "equal" and tip < newest:
            report.status = "behind"
    if deep:
        _deep(remote, tip, report)
    return report


def _deep(remote: Remote, tip: int, report: VerifyReport) -> None:
    """Check every record (checksum, chain) and every object they name; collect problems."""
    previous: bytes | None = None
    objects: dict[str, RemoteObject] = {}
    for version in range(tip + 1):
        key = record_key(version)
        data = remote.get(key)
        if data is None:
            report.problems.append((key, "missing"))
            previous = None
            continue
        try:
            record = PushRecord.decode(data, f"{remote.url}/{key}")
        except CorruptDataError as e:
            report.problems.append((key, str(e).rsplit(": ", 1)[-1] if ": " in str(e) else str(e)))
            # Already named: the next record's link to it says nothing more.
            previous = None
            continue
        if previous is not None and record.previous != sha256_hex(previous):
            report.problems.append((key, "does not follow the record before it"))
        previous = data
        report.remote_txn = max(report.remote_txn, record.txn_seq or 0)
        for obj in record.objects:
            objects.setdefault(obj.key, obj)

    def check(obj: RemoteObject) -> tuple[RemoteObject, str | None]:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            result = obstore.get(remote.store, obj.key)
            digest = hashlib.sha256()
            size = 0
            for chunk in result.stream(min_chunk_size=8 << 20):
                view = memoryview(chunk)
                digest.update(view)
                size += len(view)
        except (NotFoundError, FileNotFoundError):
            return obj, "missing"
        except Exception as e:
            raise remote_error(e, remote.location, remote.options) from None
        if size != obj.size or digest.hexdigest() != obj.sha256:
            return obj, "does not match its recorded sha256"
        return obj, None

    with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
        for obj, problem in pool.map(check, objects.values()):
            report.objects_checked += 1
            report.bytes_checked += obj.size
            if problem is not None:
                report.problems.append((obj.key, problem))
    report.problems.sort()
