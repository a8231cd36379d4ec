"""Verify: how a backup stands against the local pond, and (deep) whether every byte is right.

The shallow check compares the remote's newest Delta version with the local log:
``equal`` (every transaction there: a remote that lacks only ``maintain``'s own commits
is equal, its ``detail`` saying so), ``behind`` by K transactions, ``ahead`` (the local pond lost history) or
``diverged`` at txn N (a copy that wrote its own transactions), ``damaged`` (the remote's
log entry where it parts from the pond does not match the remote's own push record of
that version: a damaged object, not another history), ``different`` (the remote holds
another pond), or ``empty`` (nothing pushed yet).  Where the two logs part, the version's
push record tells damage from divergence with one more GET: the record gives the sha256
of the entry the push wrote; if that is the pond's own entry, the remote's entry was
changed after the push.  ``deep`` also reads every push record
(checksums and chain, and the run-record pieces they name: each starting where the one
before ended, and as many bytes as the newest record counts) and re-reads and re-hashes every object they name, naming each
missing or bad one.

Both checks end with content roots (``tlogfs.integrity.content_root``): the remote's,
computed by reading the remote pond in place at its newest transaction, and the local
pond's at that same transaction.  Equal roots prove the backup holds exactly the content
the pond held then; a differing root is a problem whatever the logs say.  The local root
is computed whenever the pond holds that transaction, even when the remote's tree cannot
be read.

A report that is not ``ok`` gives one next step (``VerifyReport.advice``): restore or push
elsewhere for ``ahead``, push elsewhere for ``diverged`` or ``different``, ``pond backup
mend`` then ``verify --deep`` for damaged objects.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CorruptDataError
from .layout import (
    FLOOR_KEY,
    RECORDS_PREFIX,
    PushRecord,
    RemoteObject,
    log_key,
    record_key,
    runs_chain,
    sha256_hex,
)
from .local import LocalLog
from .push import (
    DEFAULT_CONCURRENCY,
    MISMATCH,
    damaged_entry,
    first_difference,
    problem_of,
    remote_pond_id,
    txn_at,
)
from .remote import Remote
from .source import PondFiles

REWRITTEN = "changed in its bytes, not in its content (pond backup mend puts it back)"
"""A push record whose bytes no longer hash to the next record's link, though its own
checksum is right: mend puts back its canonical bytes (``mend._readable_records``)."""

T = TypeVar("T")

STATUSES = ("equal", "behind", "ahead", "diverged", "damaged", "different", "empty")

_TREE_KEYS = ("data", "data/_delta_log")
"""The keys of problems found by reading the remote's tree in place, not of one object."""

"""What a problem says of an object whose bytes are not the ones its push record names."""


@dataclass
class VerifyReport:
    """``status`` (one of ``STATUSES``), both ends' newest Delta version and transaction,
    ``behind_by`` (pond transactions the remote lacks), each problem as ``(key, what)``
    (a damaged log entry or record found by the shallow check; after a deep check, every
    object checked), both content roots, and ``advice``: the next step when not ``ok``."""

    url: str
    status: str
    local_version: int
    remote_version: int
    local_txn: int
    remote_txn: int
    detail: str = ""
    diverged_txn: int | None = None
    objects_checked: int = 0
    bytes_checked: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    remote_root: str | None = None
    """The content root of the remote pond read in place at ``remote_txn`` (64 hex)."""
    local_root: str | None = None
    """The local pond's content root at ``remote_txn``; None if it does not hold that
    transaction (ahead, diverged, or its content removed by ``maintain``)."""
    root_detail: str = ""
    """Why a root could not be computed, or how they differ."""
    deep: bool = False
    """True after a deep check (every record and object read)."""

    @property
    def roots_equal(self) -> bool | None:
        """True/False when both roots are known, else None."""
        if self.remote_root is None or self.local_root is None:
            return None
        return self.remote_root == self.local_root

    @property
    def behind_by(self) -> int:
        return max(0, self.local_txn - self.remote_txn) if self.status == "behind" else 0

    @property
    def ok(self) -> bool:
        """Equal or behind, and no bad object: what ``pond backup verify`` exits 0 on."""
        return (
            self.status in ("equal", "behind")
            and not self.problems
            and self.roots_equal is not False
        )

    def to_json(self, name: str = "NAME") -> dict[str, Any]:
        """Every field, ``ok``, ``behind_by``, ``roots_equal`` and ``advice`` (naming the
        Backup ``name``; "" when ``ok``)."""
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
            "diverged_txn": self.diverged_txn,
            "objects_checked": self.objects_checked,
            "bytes_checked": self.bytes_checked,
            "problems": [{"key": k, "problem": p} for k, p in self.problems],
            "remote_root": self.remote_root,
            "local_root": self.local_root,
            "roots_equal": self.roots_equal,
            "root_detail": self.root_detail,
            "deep": self.deep,
            "advice": self.advice(name),
        }

    def advice(self, name: str = "NAME") -> str:
        """The next step for a report that is not ``ok``, one sentence naming the commands
        (``name``: the Backup resource's name); "" when it is ``ok``."""
        if self.ok:
            return ""
        if self.status == "empty":
            return f"nothing was pushed there yet: run pond backup push {name}"
        if self.status == "different":
            return (
                "that URL holds the backup of another pond: give this pond's Backup "
                "another URL and push there; nothing was overwritten"
            )
        if self.status == "ahead":
            return (
                "this pond lost history or is an older copy: restore from the backup "
                "(pond restore URL DEST), or push this pond to another URL"
            )
        if self.status == "diverged":
            return (
                "a copy of this pond wrote its own transactions there: push this pond to "
                "another URL; nothing was overwritten"
            )
        keys = [key for key, why in self.problems if why != REWRITTEN]
        if any(k.startswith((RECORDS_PREFIX, FLOOR_KEY)) for k in keys):
            # Records and the floor are the remote's own account, not the pond's bytes:
            # mend cannot put them back (run records it cuts again from runs.jsonl).
            return (
                "the backup's push records are damaged, which pond backup mend cannot put "
                "back: push this pond to another URL for a whole backup"
            )
        named = [why for key, why in self.problems if key not in _TREE_KEYS]
        # Without --deep, a tree that cannot be read (or reads other content) names no
        # object: mend --deep re-reads every one.
        quick = self.deep and named and all(why == "missing" for why in named)
        mend = f"pond backup mend {name}" + ("" if quick else " --deep")
        if not self.deep and not named:
            first = f"run pond backup verify {name} --deep to name the bad objects, then {mend}"
        else:
            first = f"run {mend}"
        return (
            f"{first}, then pond backup verify {name} --deep; what mend cannot put back "
            "is gone from this pond too"
        )


def _remote_txn(remote: Remote, tip: int) -> int:
    """The pond transaction of the remote's newest version, from its push record."""
    for version in range(tip, -1, -1):
        found = remote.record(version)
        if found is not None and found[0].txn_seq is not None:
            return found[0].txn_seq
        if found is None:
            break
    return 0


def verify(where: Path | PondFiles, remote: Remote, *, deep: bool = False) -> VerifyReport:
    """Compare the backup at ``remote`` with the pond at ``where`` (its directory, or a pond
    on S3's ``source.PondFiles``; see the module docstring).

    Raises ``RemoteError`` if the store cannot be used; every finding about the backup
    itself is in the report.
    """
    log = LocalLog(where)
    newest = log.newest()
    local_txn = txn_at(log, newest)
    remote.check()
    tip = remote.tip()
    report = VerifyReport(remote.url, "equal", newest, tip, local_txn, 0)
    if tip < 0:
        report.status = "empty"
        return report
    report.remote_txn = _remote_txn(remote, tip)
    theirs, ours = remote_pond_id(remote), log.files.pond_id()
    if theirs is not None and theirs != ours:
        report.status = "different"
        report.detail = f"remote holds pond {theirs}, this is pond {ours}"
    else:
        common = min(tip, newest)
        first = first_difference(remote, log, common)
        damage = None if first is None else damaged_entry(remote, log, first)
        if first is not None and damage is not None:
            report.status = "damaged"
            report.problems.append(damage)
            key, what = damage
            report.detail = f"the remote's log entry of txn {txn_at(log, first)} differs " + (
                "from this pond's, yet its push record names this pond's: the entry was "
                "changed on the remote after the push"
                if key == log_key(first)
                else f"from this pond's, and its push record {key} {what}"
            )
        elif first is not None:
            report.status = "diverged"
            report.diverged_txn = txn_at(log, first)
            report.detail = f"diverged at txn {report.diverged_txn}"
        elif tip > newest:
            report.status = "ahead"
        elif tip < newest and report.remote_txn >= local_txn:
            # Every transaction is there; the versions after it are maintain's own
            # commits (the same content re-laid out): equal, and said what differs.
            report.detail = (
                f"the remote lacks {newest - tip} maintenance commit(s) of this pond "
                f"(Delta versions {tip + 1} to {newest}, no new transaction): the next "
                "push sends them"
            )
        elif tip < newest:
            report.status = "behind"
    if deep:
        report.deep = True
        _deep(remote, tip, report)
    _roots(log.files, remote, report)
    return report


def _roots(files: PondFiles, remote: Remote, report: VerifyReport) -> None:
    """Fill the remote's content root (read in place) and the local one at the same txn.

    A remote that cannot be read as a pond is a problem named in the report, and the local
    root is still computed at the remote's newest transaction (its push record's); a local
    pond that does not hold that transaction, or a remote whose history is not this
    pond's, leaves the local root unknown, ``root_detail`` saying why.
    """
    _remote_root(remote, report)
    if report.status == "different":
        report.root_detail = "the remote holds another pond: no local root to compare"
        return
    if report.status == "diverged":
        report.root_detail = (
            f"the remote's transactions from txn {report.diverged_txn} on are another "
            "copy's, not this pond's: no local root to compare"
        )
        return
    if report.remote_txn > report.local_txn:
        report.root_detail = (
            f"this pond does not hold the remote's newest transaction (txn "
            f"{report.remote_txn}; this pond's newest is txn {report.local_txn})"
        )
        return
    from ..errors import PondError
    from ..tlogfs.integrity import content_root

    try:
        local = files.open_at(report.remote_txn)
    except PondError as e:
        report.root_detail = f"no local root at txn {report.remote_txn}: {e}"
        return
    try:
        report.local_root = content_root(local)
    finally:
        local.close()
    if report.roots_equal is False:
        report.root_detail = (
            f"the remote's content at txn {report.remote_txn} differs from the local pond's"
        )


def _remote_root(remote: Remote, report: VerifyReport) -> None:
    """The remote pond's content root and newest transaction, read in place; a tree that
    cannot be read is a problem in the report.

    ``RemoteError`` is raised only if the store itself cannot be used (asked again when
    reading the tree fails: deltalake words a damaged log entry as a store error).
    """
    from ..errors import PondError, RemoteError
    from ..tlogfs.integrity import content_root
    from ..tlogfs.persistence import DeltaPersistence

    def attempt(read: Callable[[], T], key: str, what: str) -> T | None:
        """``read()``; a tree that cannot be read is a problem (``key``, ``what``), None."""
        try:
            return read()
        except RemoteError as e:
            remote.check()  # raises if the store cannot be used: not a finding about the backup
            problem = str(e)
        except (PondError, OSError) as e:
            problem = str(e)
        report.problems.append((key, f"{what}: {problem}"))
        return None

    store = attempt(
        lambda: DeltaPersistence.open_remote(remote.url, remote.options),
        "data/_delta_log",
        "cannot be read as a pond",
    )
    if store is None:
        return
    try:
        found = attempt(
            lambda: (store.last_txn, content_root(store)), "data", "the remote tree cannot be read"
        )
    finally:
        store.close()
    if found is None:
        return
    report.remote_txn, report.remote_root = found


def _deep(remote: Remote, tip: int, report: VerifyReport) -> None:
    """Check every record (checksum, chain) and every object they name; collect problems."""
    previous: bytes | None = None
    objects: dict[str, RemoteObject] = {}
    newest_runs_end: int | None = None
    try:
        floor = remote.floor()
    except CorruptDataError as e:
        report.problems.append((FLOOR_KEY, str(e).rsplit(": ", 1)[-1]))
        floor = None
    for obj in floor.all_objects() if floor is not None else []:
        objects.setdefault(obj.key, obj)
    for version in range(floor.version if floor is not None else 0, tip + 1):
        key = record_key(version)
        data = remote.get(key)
        if data is None:
            report.problems.append((key, "missing"))
            previous = None
            continue
        if (
            floor is not None
            and version == floor.version
            and sha256_hex(data) != floor.record_sha256
        ):
            report.problems.append((key, "is not the record the prune's floor names"))
        try:
            record = PushRecord.decode(data, f"{remote.url}/{key}")
        except CorruptDataError as e:
            report.problems.append((key, problem_of(e)))
            # Already named: the next record's link to it says nothing more.
            previous = None
            continue
        if previous is not None and record.previous != sha256_hex(previous):
            before_key, before = record_key(version - 1), PushRecord.decode(previous, "")
            if sha256_hex(before.encode()) == record.previous:
                # The record before was rewritten in other bytes, its content intact:
                # that one is the damage, and mend puts its own bytes back.
                report.problems.append((before_key, REWRITTEN))
            else:
                report.problems.append((key, "does not follow the record before it"))
        previous = data
        report.remote_txn = max(report.remote_txn, record.txn_seq or 0)
        if record.runs_end is not None:
            newest_runs_end = record.runs_end
        for obj in record.objects:
            objects.setdefault(obj.key, obj)

    unread = any(key.startswith(RECORDS_PREFIX) for key, _ in report.problems)
    try:
        # With a record unread, the pieces it names are unknown: a gap there is no news.
        pieces = runs_chain(objects.values()) if not unread else []
    except CorruptDataError as e:
        key, what = str(e).split(": ", 1) if ": " in str(e) else ("runs/", str(e))
        report.problems.append((key, what))
    else:
        # The newest record says how many bytes of run records the backup holds.
        held = sum(obj.size for obj in pieces)
        if not unread and newest_runs_end is not None and newest_runs_end != held:
            report.problems.append(
                ("runs/", f"the pieces hold {held} bytes, the newest record says {newest_runs_end}")
            )

    def check(obj: RemoteObject) -> tuple[RemoteObject, str | None]:
        found = remote.digest(obj.key)
        if found is None:
            return obj, "missing"
        if found != (obj.sha256, obj.size):
            return obj, MISMATCH
        return obj, None

    with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
        for obj, problem in pool.map(check, objects.values()):
            report.objects_checked += 1
            report.bytes_checked += obj.size
            if problem is not None:
                report.problems.append((obj.key, problem))
    # The shallow check may have named one already (a damaged log entry or record).
    report.problems = sorted(set(report.problems))
