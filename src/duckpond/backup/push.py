"""Push: send a pond's new Delta versions to its backup, so the remote is never inconsistent.

For each version after the remote's newest (in order, a batch at a time):

1. the data files it adds and the blobs their rows name are sent, blobs only if the
   remote lacks them (content-addressed: sent once, whatever shares them), together
   with the batch's push records (``pushes/<v>.json``, create-only), many at once: none
   of these makes anything visible;
2. then, version by version in order, each Delta log entry (``data/_delta_log/<v>.json``),
   create-only (``If-None-Match: *``), as soon as what its version names is there: the
   entries, one at a time, are a push's critical path, so they do not wait for the
   uploads of the batch's later versions.

A Delta reader sees a version only once its log entry exists, and that entry is written
only after everything it names: at every instant the remote is a valid table at some
committed version, whatever was killed.  The next push starts from the newest entry
present; objects already there from an interrupted push are not sent again (blobs) or
are sent again with the same bytes (data files, named by a UUID).  A record or log entry
already present must equal ours byte for byte, else the remote holds another history and
the push stops (``BackupConflictError``): two pushers cannot both win a version.

Before anything is sent, the remote's pond id (from its first log entry, else its first
record) must be this pond's, and the remote's newest log entry must equal our entry of
that version (else the histories diverged, or the remote is ahead of a pond that lost
history).  After a push of this pond, its record in ``$POND/backups/<name>.json`` makes
that two requests (``_where_remote_stands``): a push after a small change costs four
round trips in all.  The local pond is only read; the push's own record
(``duckpond.backup.state``) is the one thing written locally.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import BackupConflictError, ConfigError, CorruptDataError, PondCorruptError
from ..tlogfs.identity import pond_id_of
from ..tlogfs.layout import DATA_DIR, META_DIR
from ..tlogfs.objectstore import scrub_secrets
from .layout import (
    BLOBS_PREFIX,
    FLOOR_KEY,
    LAST_CHECKPOINT_KEY,
    LOG_PREFIX,
    META_FILES,
    META_PREFIX,
    RECORDS_PREFIX,
    RUNS_PREFIX,
    Floor,
    PushRecord,
    RemoteObject,
    log_key,
    meta_key,
    record_key,
    runs_key,
    sha256_hex,
    version_of,
)
from .local import LocalFile, LocalLog, LocalVersion, Seed, log_object, seed_of
from .remote import Remote
from .source import PondFiles, pond_files
from .state import BackupState, LastAttempt, load_state, save_state

DEFAULT_CONCURRENCY = 8
MISMATCH = "does not match its recorded sha256"
# Versions made visible together: their files go up in parallel, then their log entries.
BATCH_VERSIONS = 64
BATCH_BYTES = 256 << 20
# Batches whose files are going up at once, and the threads that plan the next ones.
AHEAD = 2
PLANNERS = 2

Progress = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)`` as a push or restore moves."""


@dataclass
class PushReport:
    """What one push did.  Versions are Delta versions; ``txn`` pond transactions."""

    name: str
    url: str
    pond_id: str
    from_version: int
    to_version: int
    last_txn: int
    objects_sent: int = 0
    bytes_sent: int = 0
    objects_present: int = 0
    elapsed_s: float = 0.0
    error: str | None = None
    damage: list[str] = field(default_factory=list)
    """Objects the remote should hold (its push records name them) that this push found
    missing or the wrong size, each ``"KEY: what"``; the push completes regardless."""

    @property
    def damage_line(self) -> str | None:
        """One line saying the remote is damaged and what to do; None if it is not."""
        if not self.damage:
            return None
        more = f" and {len(self.damage) - 1} more" if len(self.damage) > 1 else ""
        return (
            f"{self.url} is damaged: {self.damage[0]}{more}; its push records name "
            f"what it should hold: put back what this pond still holds with pond backup "
            f"mend {self.name}, and check it with pond backup verify {self.name} --deep"
        )

    @property
    def ok(self) -> bool:
        """False if this push failed (``error`` says why; nothing else is meaningful then)."""
        return self.error is None

    @property
    def up_to_date(self) -> bool:
        """True if the remote already had everything."""
        return self.ok and self.from_version == self.to_version

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "pond_id": self.pond_id,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "last_txn": self.last_txn,
            "objects_sent": self.objects_sent,
            "bytes_sent": self.bytes_sent,
            "objects_present": self.objects_present,
            "elapsed_s": round(self.elapsed_s, 3),
            "up_to_date": self.up_to_date,
            "ok": self.ok,
            "error": self.error,
            "damage": self.damage,
        }


def remote_pond_id(remote: Remote) -> str | None:
    """The pond id the remote holds (its first log entry's, else its first record's); None if empty."""
    first = remote.get(log_key(0))
    if first is not None:
        return pond_id_of(first)
    found = remote.record(0)
    return found[0].pond_id if found is not None else None


def check_identity(remote: Remote, local_id: str) -> None:
    """``BackupConflictError`` naming both ids if the remote holds another pond."""
    theirs = remote_pond_id(remote)
    if theirs is not None and theirs != local_id:
        raise BackupConflictError(
            f"{remote.url} holds the backup of pond {theirs}, not of this pond ({local_id}); "
            "push it to another URL"
        )


def compare_tip(remote: Remote, log: LocalLog, tip: int, local_newest: int) -> None:
    """``BackupConflictError`` unless the remote's history is a prefix of the local one.

    Worded as ``pond backup verify`` words it: histories that part are "diverged at txn
    N" (the first transaction the two ends do not share), a remote holding more than
    this pond and nothing else is "ahead".  One read when the remote's newest entry is
    ours; a bisection of a few reads otherwise.
    """
    if tip < 0:
        return
    if tip <= local_newest and _same_entry(remote, log, tip):
        return
    first = first_difference(remote, log, min(tip, local_newest))
    damage = None if first is None else damaged_entry(remote, log, first)
    if damage is not None:
        # Not another history: the remote's entry (or its record) was changed after it
        # was pushed.  Nothing is sent on top of it until it is put back.
        raise CorruptDataError(
            f"{remote.url}/{damage[0]} {damage[1]} (changed on the remote after it was "
            "pushed): put it back with pond backup mend NAME --deep, then push again"
        )
    if first is not None:
        raise BackupConflictError(
            f"{remote.url} and this pond diverged at txn {txn_at(log, first)} (a copy of the "
            "pond wrote its own transactions); nothing was overwritten: push to another URL"
        )
    raise BackupConflictError(
        f"{remote.url} is ahead of this pond (it holds transactions after txn "
        f"{txn_at(log, local_newest)}, this pond's newest): this pond lost history, or is "
        "an older copy; restore from the backup, or push to another URL"
    )


def damaged_entry(remote: Remote, log: LocalLog, version: int) -> tuple[str, str] | None:
    """The damaged object, as a problem ``(key, what)``, that makes the remote's log entry
    of ``version`` differ from the pond's; None if it is another history's entry.

    The remote's push record of ``version`` gives the sha256 of the entry the push wrote.
    Where the pond still holds its entry, a record naming the pond's own entry proves the
    remote's was changed after the push (one GET: the record).  Where ``maintain``
    removed it, the remote's entry is re-read and hashed against its record (two).  A
    record that cannot be read is itself the damage; a missing one leaves the verdict to
    the logs (a push writes the record before the entry, so none of this is a push's).
    """
    try:
        found = remote.record(version)
    except CorruptDataError as e:
        return record_key(version), problem_of(e)
    if found is None:
        return None
    recorded = found[0].log
    key = log_key(version)
    if log.files.size(key) is not None:
        ours = log.files.read(key)
        if (sha256_hex(ours), len(ours)) == (recorded.sha256, recorded.size):
            return key, MISMATCH
        return None
    theirs = remote.digest(key)
    if theirs is not None and theirs != (recorded.sha256, recorded.size):
        return key, MISMATCH
    return None


def problem_of(e: CorruptDataError) -> str:
    """What a ``CorruptDataError`` says of its object, without the object's name."""
    text = str(e)
    return text.rsplit(": ", 1)[-1] if ": " in text else text


def _earliest_kept(log: LocalLog) -> int:
    """The earliest pond transaction the pond still reads (its retention floor), else the
    first whose log entry it still holds after version 0."""
    key = f"{DATA_DIR}/{META_DIR}/retention.json"
    if log.files.size(key) is not None:
        try:
            return int(json.loads(log.files.read(key))["earliest_txn"])
        except (ValueError, KeyError, TypeError):
            pass
    for v in log.versions():
        if v > 0:
            txn = log.read(v).txn_seq
            if txn is not None:
                return txn
    return 0


def txn_at(log: LocalLog, version: int) -> int:
    """The newest pond transaction at or before Delta version ``version`` (0: none)."""
    return log.txn_through(version)


def first_difference(remote: Remote, log: LocalLog, common: int) -> int | None:
    """The first Delta version in 0..``common`` whose log entry differs between the two
    ends, None if none does.  Histories that part never meet again (each entry names its
    own transaction), so a bisection finds it in a few reads."""

    def same(version: int) -> bool:
        return _same_entry(remote, log, version, missing=True)

    if same(common):
        return None
    low, high = 0, common  # high differs; every version below low is the same
    while low < high:
        mid = (low + high) // 2
        if same(mid):
            low = mid + 1
        else:
            high = mid
    return high


def _same_entry(remote: Remote, log: LocalLog, version: int, *, missing: bool = False) -> bool:
    """True if the remote's log entry of ``version`` is this pond's.

    Byte for byte where the pond still holds the entry; where ``pond maintain`` removed
    it, by the commit the pond archived for that version (its transaction and commit
    time, ``tlogfs.retention``): a copy that wrote its own transaction there committed it
    at another instant.  A removed maintenance commit (no transaction) cannot be told
    apart, and counts as the same.
    """
    theirs = remote.get(log_key(version))
    if theirs is None:
        # ``missing``: what a version the remote lacks counts as (the bisection of
        # first_difference: a version before a pruned or seeded backup's floor tells
        # nothing apart, a later one both hold decides).
        return missing
    if log.files.size(log_key(version)) is not None:
        return theirs == log.read(version).log
    commit: dict[str, Any] = {}
    for line in theirs.splitlines():
        try:
            action = json.loads(line) if line.strip() else {}
        except ValueError:
            return False
        if isinstance(action, dict) and isinstance(action.get("commitInfo"), dict):
            commit = action["commitInfo"]
    txn = commit.get("txn_seq")
    if txn is None:
        return True
    archived = log.archived().get(int(txn))
    return (
        archived is not None
        and archived.get("version") == version
        and archived.get("timestamp") == commit.get("timestamp")
    )


def local_up_to_date(where: Path | PondFiles, name: str, url: str) -> BackupState | None:
    """The recorded state of backup ``name`` if it says ``url`` holds this pond's newest version.

    From local files only, no network: ``$POND/backups/<name>.json`` (this URL, this pond's
    id, last attempt ok) against the newest entry of ``$POND/data/_delta_log``.  None when
    a push has something to do, or cannot tell (no record, another URL, a failed attempt).

    What this cannot see is the remote changing under it (emptied, another pusher ahead):
    only a push that has something to send looks, and a push's checks then refuse or
    resend as they would have.  ``pond run`` relies on it (a run every few minutes should
    not pay round trips to learn nothing); ``pond backup push`` by hand always looks.
    """
    files = pond_files(where)
    state = load_state(files, name, url)
    if state.last_version < 0 or state.last_attempt is None:
        return None
    if state.last_attempt.outcome != "ok":
        return None
    try:
        if state.pond_id != files.pond_id() or state.last_version != LocalLog(files).newest():
            return None
    except (OSError, PondCorruptError):
        return None
    return state


def push(
    where: Path | PondFiles,
    remote: Remote,
    name: str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> PushReport:
    """Push the pond at ``where`` (its directory, or ``source.PondFiles``: a pond on S3) to
    ``remote`` as backup ``name``; see the module docstring.

    Records the attempt in ``$POND/backups/<name>.json``, or beside a pond on S3
    (``duckpond.backup.source``), also when it fails.  Raises
    ``RemoteError`` (store unreachable, credentials refused, no bucket),
    ``BackupConflictError`` (another pond's backup, diverged, remote ahead) and
    ``CorruptDataError`` (a local blob that does not match its hash: not sent).
    """
    started = time.perf_counter()
    when = datetime.now(UTC).isoformat()
    files = pond_files(where)
    state = load_state(files, name, remote.url)
    report: PushReport | None = None
    try:
        report = _push(files, remote, name, state, concurrency, progress)
    except Exception as e:
        from ..errors import describe

        sent = report.bytes_sent if report else 0
        # "refused": the remote holds another history (diverged, ahead, another pond),
        # which a push again will not change; "failed": anything else (network, damage).
        outcome = "refused" if isinstance(e, BackupConflictError) else "failed"
        state.last_attempt = LastAttempt(
            when, outcome, scrub_secrets(describe(e), remote.options), 0, sent
        )
        state.last_attempt.elapsed_s = round(time.perf_counter() - started, 3)
        save_state(files, state)
        raise
    report.elapsed_s = time.perf_counter() - started
    state.last_push_time = datetime.now(UTC).isoformat()
    state.last_attempt = LastAttempt(
        when, "ok", None, report.objects_sent, report.bytes_sent, round(report.elapsed_s, 3)
    )
    save_state(files, state)
    return report


def _push(
    files: PondFiles,
    remote: Remote,
    name: str,
    state: BackupState,
    concurrency: int,
    progress: Progress | None,
) -> PushReport:
    log = LocalLog(files)
    local_id = files.pond_id()
    newest = log.newest()
    tip, previous, last_txn, runs_end = _where_remote_stands(remote, log, state, local_id, newest)
    state.pond_id = local_id
    state.last_version, state.last_txn, state.record_sha256 = tip, last_txn, previous
    state.runs_end = runs_end
    report = PushReport(name, remote.url, local_id, tip, tip, last_txn)
    if tip >= 0:
        report.damage.extend(_look_at_tip(remote, tip))
    if tip == newest:
        return report
    if state.checkpoint > tip:
        state.checkpoint = -1  # the remote was emptied or replaced since
    late = _late_checkpoint(remote, log, state, tip)
    # Records an interrupted push left beyond the tip are kept as they are (they may
    # name run records since grown): one listing, and usually nothing found.
    left = _records_after(remote, tip)

    sent: set[str] = set()
    pending = list(range(tip + 1, newest + 1))
    seed: Seed | None = None
    # maintain keeps entry 0 and removes 1..F-1: the first two pending entries tell.
    if any(files.size(log_key(v)) is None for v in pending[:2]):
        seed = seed_of(log) if tip < 0 else None
        if seed is None:
            # A push sends every transaction from the remote's newest on; maintain
            # removed some of those.  Only an empty remote can start from a snapshot.
            raise ConfigError(
                f"{remote.url} ends at txn {last_txn}, and this pond no longer holds the "
                f"transactions after it (pond maintain removed those before txn "
                f"{_earliest_kept(log)}): push to a new URL, which starts from the pond's "
                "snapshot"
            )
        pending = [v for v in log.versions() if v >= seed.version]
    # A first push asks about its blobs in one listing (empty, or what an interrupted
    # first push left) rather than a HEAD each: on a server busy taking blobs, a HEAD
    # holds a worker some tens of ms.  Later pushes ask about their few new blobs.
    listed = remote.keys(BLOBS_PREFIX) if tip < 0 else None
    meta = _meta_changed(files, state)
    meta_version = _meta_version(log, pending) if meta else -1
    committer = _Committer(files, remote, log, state, report, last_txn)
    if seed is not None:
        previous, committer.seed = _send_seed(
            remote, log, local_id, seed, listed, concurrency, report, progress, committer.lock
        )
    # Planning (hashing a batch's data files, reading which blobs they name) has a pool of
    # its own: queued behind the uploads, it would hold the next batch back until every
    # upload before it ended, leaving workers idle at each batch's slowest upload.  At
    # most AHEAD batches are sent at once: the pool always has the next batch's files
    # queued, yet a failed push stops within a few batches.
    in_flight: deque[list[Future[None]]] = deque()
    with (
        ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool,
        ThreadPoolExecutor(max_workers=PLANNERS) as planner,
        committer,
    ):
        while pending:
            committer.check()
            while len(in_flight) >= AHEAD:
                wait(in_flight.popleft())
            batch: list[LocalVersion] = []
            batch_bytes = 0
            while pending and len(batch) < BATCH_VERSIONS and batch_bytes < BATCH_BYTES:
                version = log.read(pending.pop(0))
                batch.append(version)
                batch_bytes += sum(f.size for f in version.data_files)
            todo, objects = _plan_batch(log, batch, sent, planner)
            records: list[bytes] = []
            runs = b""
            late_sent = -1
            for version in batch:
                v = version.version
                found = left.get(v)
                if found is not None:
                    record = _adopt(remote, found, v, previous, objects[v])
                    runs_end = record.runs_end if record.runs_end is not None else runs_end
                    records.append(found)
                else:
                    if v == newest and late is not None:
                        # A checkpoint of a version already there, which the remote lacks
                        # (written after its version was pushed): named here, sent now.
                        objects[v] += (late[1],)
                        late_sent = _send_checkpoint(remote, log, *late, report, committer.lock)
                    if v == meta_version:
                        for obj, data in meta:
                            _write_once(remote, obj.key, data)  # before the record naming it
                            objects[v] += (obj,)
                            with committer.lock:
                                report.objects_sent += 1
                                report.bytes_sent += len(data)
                    if v == newest:
                        # The run records added since the last push: the newest
                        # version's record names them.
                        runs = files.runs_since(runs_end)
                        if runs:
                            sha = sha256_hex(runs)
                            chunk = RemoteObject(runs_key(runs_end, sha), sha, len(runs))
                            objects[v] += (chunk,)
                            # Before the record that names it: a record found on the
                            # remote always has its run records there.
                            _write_once(remote, chunk.key, runs)
                            runs_end += len(runs)
                            with committer.lock:
                                report.objects_sent += 1
                                report.bytes_sent += len(runs)
                    record = PushRecord(
                        local_id, v, version.txn_seq, previous, objects[v], runs_end
                    )
                    records.append(record.encode())
                previous = sha256_hex(records[-1])
            # Data files, blobs and records make nothing visible: all at once.  Log
            # entries do: one by one, in order, once everything they name is there (a
            # version's checkpoint after its entry), by the committer's one thread while
            # the next batch's files go up.
            keys = [record_key(v.version) for v in batch]
            records_by_key = dict(zip(keys, records, strict=True))
            # The next batch is planned and its files started while these go up: no
            # batch waits for the slowest upload of the one before.
            sending = _send(
                remote, log, todo, records_by_key, pool, report, progress, committer.lock, listed
            )
            sent.update(todo)
            in_flight.append(list(sending.values()))
            committer.submit(batch, records, objects, runs_end, late_sent, sending)
    state.meta.update({obj.key[len(META_PREFIX) + 65 :]: obj.sha256 for obj, _ in meta})
    return report


def _send_seed(
    remote: Remote,
    log: LocalLog,
    pond_id: str,
    seed: Seed,
    listed: dict[str, int] | None,
    concurrency: int,
    report: PushReport,
    progress: Progress | None,
    lock: threading.Lock,
) -> tuple[str, Callable[[bytes], None]]:
    """Send what a first push of a maintained pond starts from, before its log: the
    snapshot at ``seed.version`` (checkpoint, live data files, their blobs) and the record
    of version 0; returns that record's sha256 (the chain goes on from it) and the step
    the committer takes before the seed version's entry: the floor (``layout.Floor``, as
    ``pond backup prune`` leaves one), then log entry 0.

    Nothing here makes a version visible: a remote with a floor whose version has no
    entry yet holds no backup (``Remote.tip``), so a push killed midway leaves an empty
    remote, and the next push starts again, finding what is there.
    """
    zero = log.read(0)
    files = [seed.checkpoint, *(f for f, _ in seed.files)]
    todo: dict[str, tuple[LocalFile, str | None]] = {f.key: (f, None) for f in files}
    for _, named in seed.files:
        for blob in named:
            todo.setdefault(blob.key, (blob, blob.key.rsplit("=", 1)[1]))
    with ThreadPoolExecutor(max_workers=PLANNERS) as planner:
        hashes = dict(zip([f.key for f in files], planner.map(log.sha256, files), strict=True))
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        sending = _send(remote, log, todo, {}, pool, report, progress, lock, listed)
        for future in sending.values():
            future.result()

    def obj(f: LocalFile) -> RemoteObject:
        return RemoteObject(f.key, hashes[f.key], f.size)

    groups = tuple(
        (obj(f), *(RemoteObject(b.key, b.key.rsplit("=", 1)[1], b.size) for b in named))
        for f, named in seed.files
    )
    log0 = log_object(zero)
    record0 = PushRecord(pond_id, 0, zero.txn_seq, None, (log0,)).encode()
    _write_once(remote, record_key(0), record0)

    def floor_then_zero(seed_record: bytes) -> None:
        floor = Floor(
            pond_id,
            seed.earliest_txn,
            seed.version,
            sha256_hex(seed_record),
            seed.removed_at,
            ((log0, obj(seed.checkpoint)), *groups),
        )
        data = floor.encode()
        # A floor left by an interrupted first push is in force nowhere (its version has
        # no entry): it is replaced if it differs (the run records named may have grown).
        if not remote.put_new(FLOOR_KEY, data) and remote.get(FLOOR_KEY) != data:
            remote.put(FLOOR_KEY, data)
        _write_once(remote, log_key(0), zero.log)
        with lock:
            report.objects_sent += 3
            report.bytes_sent += len(data) + len(zero.log) + len(record0)

    return sha256_hex(record0), floor_then_zero


def _meta_changed(files: PondFiles, state: BackupState) -> list[tuple[RemoteObject, bytes]]:
    """The pond's retention files (``layout.META_FILES``) that differ from those last named
    on the remote, as objects to send with their bytes (a few hundred KB at most)."""
    out = []
    for name in META_FILES:
        key = f"{DATA_DIR}/{META_DIR}/{name}"
        if files.size(key) is None:
            continue
        data = files.read(key)
        sha = sha256_hex(data)
        if state.meta.get(name) != sha:
            out.append((RemoteObject(meta_key(name, sha), sha, len(data)), data))
    return out


def _meta_version(log: LocalLog, pending: list[int]) -> int:
    """The version whose record names changed retention files: the first pending one that
    no pond transaction made (the maintenance commit that came with the change), else the
    first.  A restore at a version before it gets the history it had, without a floor."""
    for v in pending:
        if log.read(v).txn_seq is None:
            return v
    return pending[0]


class _Committer:
    """Writes each batch's log entries, in order, on one thread of its own.

    A batch is submitted with the futures of what its entries name; once all of it is on
    the remote, its entries are written one by one (create-only), each version's
    checkpoint after its entry, and the pond's record of the push saved after each
    batch.  The next batches' files go up meanwhile: they make nothing visible.  A failed batch fails every later
    one (none of their entries is written) and the push: at the next ``check``, or on
    leaving the ``with`` block, which waits for every batch submitted.
    """

    def __init__(
        self,
        files: PondFiles,
        remote: Remote,
        log: LocalLog,
        state: BackupState,
        report: PushReport,
        last_txn: int,
    ) -> None:
        self.files, self.remote, self.log = files, remote, log
        self.state, self.report, self.last_txn = state, report, last_txn
        self.lock = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._last: Future[None] | None = None
        self.seed: Callable[[bytes], None] | None = None
        """For a first push from a maintained pond's snapshot: writes the floor and log
        entry 0, given the bytes of the seed version's record, before that version's
        entry (``_send_seed``)."""

    def check(self) -> None:
        """Raise now what a batch already submitted failed with."""
        if self._last is not None and self._last.done():
            self._last.result()

    def submit(
        self,
        batch: list[LocalVersion],
        records: list[bytes],
        objects: dict[int, tuple[RemoteObject, ...]],
        runs_end: int,
        late_checkpoint: int,
        sending: dict[str, Future[None]],
    ) -> None:
        """Write ``batch``'s log entries, each once what ``sending`` sends of what its
        version names (and its record) is there."""
        before = self._last
        self._last = self._thread.submit(
            self._commit, before, batch, records, objects, runs_end, late_checkpoint, sending
        )

    def __enter__(self) -> _Committer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        """Wait for the batches submitted; raise what one failed with (unless already
        raising: the push's own error is the one to report)."""
        self._thread.shutdown(wait=True)
        if kind is None and self._last is not None:
            self._last.result()

    def _commit(
        self,
        before: Future[None] | None,
        batch: list[LocalVersion],
        records: list[bytes],
        objects: dict[int, tuple[RemoteObject, ...]],
        runs_end: int,
        sent_checkpoint: int,
        sending: dict[str, Future[None]],
    ) -> None:
        if before is not None:
            before.result()  # the batch before failed: write nothing after it
        state, report = self.state, self.report
        for version, encoded in zip(batch, records, strict=True):
            # Each entry as soon as what it names is there (not once the whole batch is):
            # the entries, one at a time, are a push's critical path, and the uploads of
            # the batch's later versions go on meanwhile.  What an earlier batch sent was
            # waited for by that batch's commit, which came first.
            named = [record_key(version.version), *(o.key for o in objects[version.version])]
            for key in named:
                future = sending.get(key)
                if future is not None:
                    future.result()  # a file or record not sent: no entry may name it
            if self.seed is not None:
                self.seed(encoded)
                self.seed = None
            _write_once(self.remote, log_key(version.version), version.log)
            cp = version.checkpoint
            if cp is not None:
                planned = next(o for o in objects[version.version] if o.key == cp.key)
                sent_checkpoint = _send_checkpoint(
                    self.remote, self.log, cp, planned, report, self.lock
                )
            if version.txn_seq is not None:
                self.last_txn = version.txn_seq
            with self.lock:
                report.objects_sent += 2
                report.bytes_sent += len(encoded) + len(version.log)
                report.to_version, report.last_txn = version.version, self.last_txn
            state.last_version, state.last_txn = version.version, self.last_txn
            state.record_sha256 = sha256_hex(encoded)
        for future in sending.values():
            future.result()
        state.runs_end = runs_end
        if sent_checkpoint > state.checkpoint:
            _send_checkpoint_hint(self.remote, self.log, sent_checkpoint)
            state.checkpoint = sent_checkpoint
        save_state(self.files, state)


def _look_at_tip(remote: Remote, tip: int) -> list[str]:
    """What the remote's newest record names that is missing or the wrong size.

    A bounded look (one record and a HEAD per object it names, at once) at what every
    push builds on; an older object gone is for ``verify --deep`` to find.
    """
    found = remote.record(tip)
    if found is None:
        return [f"{record_key(tip)}: missing"]
    objects = [o for o in found[0].objects if o.key != log_key(tip)]
    with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
        sizes = list(pool.map(remote.size, [o.key for o in objects]))
    out = []
    for obj, size in zip(objects, sizes, strict=True):
        if size is None:
            out.append(f"{obj.key}: missing")
        elif size != obj.size:
            out.append(f"{obj.key}: {size} bytes, its record says {obj.size}")
    return out


def _records_after(remote: Remote, tip: int) -> dict[int, bytes]:
    """Push records present beyond version ``tip`` (left by an interrupted push), by version."""
    after = record_key(tip) if tip >= 0 else None
    found = {}
    for key in remote.keys(RECORDS_PREFIX, after):
        version = version_of(key, RECORDS_PREFIX)
        data = remote.get(key) if version is not None and version > tip else None
        if version is not None and data is not None:
            found[version] = data
    return found


def _adopt(
    remote: Remote,
    data: bytes,
    version: int,
    previous: str | None,
    objects: tuple[RemoteObject, ...],
) -> PushRecord:
    """An interrupted push's record of ``version``, kept if it is this version's record.

    It may differ from ours only in the run records it names (``runs.jsonl`` grew since);
    anything else (another log entry, other files, another chain) is another history:
    ``BackupConflictError``, nothing overwritten.
    """
    where = f"{remote.url}/{record_key(version)}"
    record = PushRecord.decode(data, where)

    def pond_objects(items: tuple[RemoteObject, ...]) -> list[RemoteObject]:
        return [o for o in items if not o.key.startswith((RUNS_PREFIX, META_PREFIX))]

    if record.previous != previous or pond_objects(record.objects) != pond_objects(objects):
        raise BackupConflictError(
            f"{where} already holds something else: another pond copy pushed there first "
            "(diverged), or a push of this pond is under way; nothing was overwritten"
        )
    return record


def _late_checkpoint(
    remote: Remote, log: LocalLog, state: BackupState, tip: int
) -> tuple[LocalFile, RemoteObject] | None:
    """The pond's newest checkpoint of a version the remote has, if the remote lacks it.

    Known sent (``state.checkpoint``): no request; else one HEAD.
    """
    found = [c for c in log.checkpoints() if c <= tip]
    if not found or found[-1] <= state.checkpoint:
        return None
    cp = log.checkpoint(found[-1])
    if cp is None:
        return None
    if remote.size(cp.key) is not None:
        state.checkpoint = found[-1]
        return None
    return cp, RemoteObject(cp.key, log.sha256(cp), cp.size)


def _send_checkpoint(
    remote: Remote,
    log: LocalLog,
    cp: LocalFile,
    planned: RemoteObject,
    report: PushReport,
    lock: threading.Lock,
) -> int:
    """Send a checkpoint (create-only) whose version's log entry is on the remote, checked
    against the hash its record gives; its version."""
    data = log.files.read(cp.key)
    if sha256_hex(data) != planned.sha256:
        raise CorruptDataError(f"{log.files.where}/{cp.key} changed during the push")
    _write_once(remote, cp.key, data)
    with lock:
        report.objects_sent += 1
        report.bytes_sent += len(data)
    return int(cp.key[len(LOG_PREFIX) : len(LOG_PREFIX) + 20])


def _send_checkpoint_hint(remote: Remote, log: LocalLog, version: int) -> None:
    """Point the remote's ``_last_checkpoint`` at checkpoint ``version``, just sent.

    The local hint's bytes, if it names that version (else none is written: a reader
    lists the log).  The one object a push replaces: Delta's own hint, named by no
    record, and only ever moved forward to a checkpoint that is there.
    """
    try:
        hint = log.files.read(LAST_CHECKPOINT_KEY)
        if int(json.loads(hint)["version"]) != version:
            return
    except (OSError, ValueError, KeyError, TypeError):
        return
    remote.put(LAST_CHECKPOINT_KEY, hint)


def _where_remote_stands(
    remote: Remote, log: LocalLog, state: BackupState, local_id: str, newest: int
) -> tuple[int, str | None, int, int]:
    """The remote's newest version, the sha256 of its push record, its newest txn, and the
    bytes of run records it holds.

    With a record of an earlier push of this pond (``state``), two requests: the log entry
    it says is the remote's newest (still there, and byte for byte ours: so this pond's
    backup, and not diverged there), and the listing of entries after it.  Otherwise, or
    if that entry is gone or differs (the remote was emptied, or holds something else
    now), the full look: reachable, whose pond, its whole log, the entry at its tip.
    """
    hint = state.last_version
    if (
        state.pond_id == local_id
        and 0 <= hint <= newest
        and state.record_sha256 is not None
        and _same_entry(remote, log, hint)
    ):
        tip = remote.tip(hint, present=True)
        if tip == hint:
            return tip, state.record_sha256, state.last_txn, state.runs_end
    else:
        remote.check()
        check_identity(remote, local_id)
        tip = remote.tip(hint if state.pond_id == local_id else -1)
    compare_tip(remote, log, tip, newest)
    if tip < 0:
        return tip, None, 0, 0
    found = remote.record(tip)
    if found is None:
        raise CorruptDataError(f"{remote.url}/{record_key(tip)} is missing")
    runs_end = found[0].runs_end or 0
    return tip, sha256_hex(found[1]), _txn_through(log, tip, found[0]), runs_end


def _txn_through(log: LocalLog, version: int, record: PushRecord) -> int:
    """The newest pond transaction at or before Delta version ``version``."""
    if record.txn_seq is not None:
        return record.txn_seq
    return log.txn_through(version)


def _write_once(remote: Remote, key: str, data: bytes) -> None:
    """Create ``key``; if it exists it must hold ``data`` already (an interrupted push's)."""
    if remote.put_new(key, data):
        return
    if remote.get(key) != data:
        raise BackupConflictError(
            f"{remote.url}/{key} already holds something else: another pond copy pushed "
            "there first (diverged), or a push of this pond is under way; nothing was overwritten"
        )


def _plan_batch(
    log: LocalLog, batch: list[LocalVersion], sent: set[str], pool: ThreadPoolExecutor
) -> tuple[dict[str, tuple[LocalFile, str | None]], dict[int, tuple[RemoteObject, ...]]]:
    """What the batch needs sent (key: file and its sha256 if content-addressed), and each
    version's record objects; from local files only."""
    # Blobs named by each data file (reading two columns of each new file).
    data_files = [f for v in batch for f in v.data_files]
    blob_lists = list(pool.map(log.blobs, data_files))
    blobs_of = {f.key: blobs for f, blobs in zip(data_files, blob_lists, strict=True)}
    checkpoints = [v.checkpoint for v in batch if v.checkpoint is not None]
    hashed = data_files + checkpoints
    hashes = dict(zip([f.key for f in hashed], pool.map(log.sha256, hashed), strict=True))

    todo: dict[str, tuple[LocalFile, str | None]] = {}
    for f in data_files:
        if f.key not in sent:
            todo[f.key] = (f, None)
        for blob in blobs_of[f.key]:
            if blob.key not in sent and blob.key not in todo:
                todo[blob.key] = (blob, blob.key.rsplit("=", 1)[1])

    objects: dict[int, tuple[RemoteObject, ...]] = {}
    for version in batch:
        items = [log_object(version)]
        seen: set[str] = set()
        for f in version.data_files:
            items.append(RemoteObject(f.key, hashes[f.key], f.size))
            for blob in blobs_of[f.key]:
                if blob.key not in seen:
                    seen.add(blob.key)
                    items.append(RemoteObject(blob.key, blob.key.rsplit("=", 1)[1], blob.size))
        if version.checkpoint is not None:
            cp = version.checkpoint
            items.append(RemoteObject(cp.key, hashes[cp.key], cp.size))
        objects[version.version] = tuple(items)
    return todo, objects


def _send(
    remote: Remote,
    log: LocalLog,
    todo: dict[str, tuple[LocalFile, str | None]],
    records: dict[str, bytes],
    pool: ThreadPoolExecutor,
    report: PushReport,
    progress: Progress | None,
    lock: threading.Lock,
    listed: dict[str, int] | None = None,
) -> dict[str, Future[None]]:
    """Start sending the files in ``todo`` and writing the ``records`` (create-only), many
    at once; the future of each key says when it is there (the committer waits for them).
    ``listed``: the remote's blobs and their sizes, when a listing taken at the start of
    the push gave them (a first push): a blob is then looked up there, not asked for.

    ``lock`` guards ``report`` and ``progress`` (called from the pool's threads, one at a
    time), which the committer's thread updates too."""
    total = sum(f.size for f, _ in todo.values())
    done = 0

    def send(item: tuple[LocalFile, str | None]) -> None:
        nonlocal done
        f, sha = item
        sent = 0
        # Content-addressed and present: never sent twice, never replaced (a bad copy
        # there is for `verify --deep` to name, not for a push to paper over; one the
        # wrong size is named now).
        if sha is None:
            size = None
        elif listed is not None:
            size = listed.get(f.key)
        else:
            size = remote.size(f.key)
        if size is None:
            remote.upload(f.key, log.files, f.size, sha)
            sent = f.size
        with lock:
            if sent:
                report.objects_sent += 1
                report.bytes_sent += sent
            else:
                report.objects_present += 1
                if size != f.size:
                    report.damage.append(f"{f.key}: {size} bytes, its content is {f.size}")
            done += f.size
            if progress is not None:
                progress(done, total)

    futures = {key: pool.submit(_write_once, remote, key, data) for key, data in records.items()}
    for key, item in todo.items():
        futures[key] = pool.submit(send, item)
    return futures


def last_state(where: Path | PondFiles, name: str, url: str) -> BackupState:
    """What this pond recorded of backup ``name`` at ``url`` (see ``duckpond.backup.state``)."""
    return load_state(where, name, url)
