"""The pond's own record of its pushes: ``$POND/backups/<name>.json``, one file per backup.

(A pond kept on S3 keeps it on its store, ``backups/<name>.json`` beside ``data/``,
written by compare-and-swap: ``duckpond.backup.source``.)

This is the only thing a push changes in the local pond.  It is a cache of facts the
remote holds (the newest version pushed and its record's sha256, which make the next
push's look at the remote one short listing) plus the last attempt's outcome for
``pond backup list`` and ``pond status``; losing it costs one full listing of the
remote's log, never data.  It is written whole to a temporary file and renamed into
place.  It holds no credential: the URL only.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .source import PondFiles

STATE_DIR = "backups"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass
class LastAttempt:
    """One push attempt: when it started (ISO 8601 UTC), its outcome (ok or failed), what it sent."""

    time: str
    outcome: str
    error: str | None = None
    objects_sent: int = 0
    bytes_sent: int = 0
    elapsed_s: float = 0.0


@dataclass
class BackupState:
    """What this pond knows of one backup (``$POND/backups/<name>.json``).

    ``last_version`` is the newest Delta version known on the remote (-1: none),
    ``last_txn`` the newest pond transaction in it (0: none), ``record_sha256`` the sha256
    of that version's push record, ``runs_end`` that record's count of run-record bytes
    (``duckpond.backup.layout``), ``checkpoint`` the newest Delta checkpoint known sent
    (-1: none), ``last_push_time`` the end of the last successful push, ``meta`` the
    sha256 of the retention files last sent.
    """

    name: str
    url: str
    pond_id: str = ""
    last_version: int = -1
    last_txn: int = 0
    record_sha256: str | None = None
    runs_end: int = 0
    checkpoint: int = -1
    last_push_time: str | None = None
    last_attempt: LastAttempt | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    """The sha256 of each ``$POND/data/_pond`` file last named on the remote
    (``layout.META_FILES``)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def state_key(name: str) -> str:
    """Backup ``name``'s record, relative to the pond (a directory's or a store's)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"backup name {name!r} cannot name a file")
    return f"{STATE_DIR}/{name}.json"


def state_path(pond_dir: Path, name: str) -> Path:
    return pond_dir / state_key(name)


def _decode(data: bytes | None, name: str, url: str) -> BackupState:
    """The state in ``data``; a fresh one if none, unreadable, or for another URL."""
    try:
        if data is None:
            raise ValueError("none")
        raw = json.loads(data)
        attempt = raw.pop("last_attempt", None)
        state = BackupState(**raw)
        state.last_attempt = LastAttempt(**attempt) if attempt else None
    except (ValueError, TypeError, AttributeError):
        return BackupState(name, url)
    if state.url != url:
        # Pointed somewhere else now: what we knew of the old remote says nothing of this one.
        return BackupState(name, url, last_attempt=state.last_attempt)
    return state


def load_state(where: Path | PondFiles, name: str, url: str) -> BackupState:
    """The recorded state of backup ``name`` of the pond at ``where`` (its directory, or its
    files: ``source.PondFiles``); a fresh one if none, or if it was for another URL.

    With no record of its own, a backup at the URL a local pond was restored from starts
    from what the restore checked (``RestoredFrom``).
    """
    from .source import DirFiles, pond_files

    files = pond_files(where)
    try:
        data = files.read_state(name)
    except OSError:
        data = None
    if data is None and isinstance(files, DirFiles):
        restored = load_restored(files.pond_dir)
        # An older state restored (``--at-txn``): the remote is ahead of this copy, which
        # knows no more of it than of any other backup (``BackupInfo.known``).
        if restored is not None and restored.newest and restored.url.rstrip("/") == url.rstrip("/"):
            return BackupState(
                name,
                url,
                pond_id=restored.pond_id,
                last_version=restored.version,
                last_txn=restored.txn_seq,
                # Without the run-record count the note is no shortcut: a push reads
                # the record (else it would send the runs again from byte 0, and a
                # restore would refuse the overlap).
                record_sha256=restored.record_sha256 if restored.runs_end is not None else None,
                runs_end=restored.runs_end or 0,
            )
    return _decode(data, name, url)


def merge(ours: BackupState, theirs: BackupState) -> BackupState:
    """One record from two pushers' (two machines pushing one pond on S3): the remote's
    facts from whichever has seen it further (they only grow), the later push time and
    the later attempt."""
    if theirs.url != ours.url or theirs.pond_id not in ("", ours.pond_id):
        return ours
    facts = theirs if theirs.last_version > ours.last_version else ours
    out = BackupState(**{**facts.to_json(), "last_attempt": None})
    times = [t for t in (ours.last_push_time, theirs.last_push_time) if t]
    out.last_push_time = max(times) if times else None
    attempts = [a for a in (ours.last_attempt, theirs.last_attempt) if a is not None]
    out.last_attempt = max(attempts, key=lambda a: a.time) if attempts else None
    return out


def save_state(where: Path | PondFiles, state: BackupState) -> None:
    """Record ``state``: written whole, atomically; on a store merged with a record another
    machine wrote meanwhile (``merge``)."""
    from .source import DirFiles, pond_files

    files = pond_files(where)

    def update(current: bytes | None) -> bytes:
        chosen = state
        if current is not None and not isinstance(files, DirFiles):
            chosen = merge(state, _decode(current, state.name, state.url))
        return json.dumps(chosen.to_json(), indent=1, sort_keys=True).encode()

    files.write_state(state.name, update)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsynced, renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


RESTORED_FILE = "_restored.json"
RESTORED_FORMAT = "duckpond-restored/1"


@dataclass(frozen=True)
class RestoredFrom:
    """Where a restored pond came from: ``$POND/backups/_restored.json``, written by
    ``pond restore`` once every object was checked.

    ``url`` is the backup restored (no credential), ``version`` and ``txn_seq`` the Delta
    version and pond transaction restored, ``record_sha256`` the sha256 of that version's
    push record there.  Like a backup's own record, a cache of facts the remote holds:
    a push still checks the remote before it builds on it.
    """

    url: str
    pond_id: str
    version: int
    txn_seq: int
    record_sha256: str | None
    runs_end: int | None = None
    """The run-record bytes that record names (what the restore joined); None in a note
    written before it was kept: the next push then reads the record for it."""
    remote_version: int | None = None
    """The remote's newest version then: above ``version`` when an ``--at-txn`` restore
    took an older state, so the backup holds more than the copy (it is no starting point
    for a push, and not "no lag"); None in an older note."""

    @property
    def newest(self) -> bool:
        """True if the copy is the remote's newest state (as far as the note knows)."""
        return self.remote_version is None or self.remote_version <= self.version


def save_restored(pond_dir: Path, restored: RestoredFrom) -> None:
    body = {"format": RESTORED_FORMAT, **asdict(restored)}
    write_atomically(pond_dir / STATE_DIR / RESTORED_FILE, json.dumps(body, indent=1).encode())


def load_restored(pond_dir: Path) -> RestoredFrom | None:
    """The restore note if it is there and well formed; else None."""
    try:
        raw = json.loads((pond_dir / STATE_DIR / RESTORED_FILE).read_text(encoding="utf-8"))
        if raw.pop("format") != RESTORED_FORMAT:
            return None
        found = RestoredFrom(**raw)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    digest = found.record_sha256
    if (
        not isinstance(found.url, str)
        or not isinstance(found.pond_id, str)
        or type(found.version) is not int
        or type(found.txn_seq) is not int
        or not (digest is None or isinstance(digest, str))
        or not (found.runs_end is None or type(found.runs_end) is int)
        or not (found.remote_version is None or type(found.remote_version) is int)
    ):
        return None
    return found


SPECS_FILE = "_specs.json"  # "_": no backup's name starts so, none can collide with it
SPECS_FORMAT = "duckpond-backup-specs/1"


@dataclass
class SpecCache:
    """The pond's Backup resources as of one Delta version: ``$POND/backups/_specs.json``.

    ``specs`` maps each Backup resource's name to its spec as stored in the pond (a JSON
    mapping: secrets as their ``${env:...}`` references, never values).  ``watch`` are the
    ``part_id`` partitions of ``/``, ``/etc`` and ``/etc/resources`` (those present):
    every change to a resource document adds or removes a file in one of them, so while
    no Delta version after ``version`` does, ``specs`` is what the pond holds.  Written
    whenever a pond open at its newest state reads its Backup resources; read by a push
    that would otherwise open the pond (its Delta table, pydantic) only to learn them.
    Losing it costs that open, never data.
    """

    version: int
    watch: list[str]
    specs: dict[str, dict[str, Any]]

    def current(self, pond_dir: Path) -> bool:
        """True if no Delta version after ``version`` touched a watched partition."""
        from .local import LocalLog

        return not LocalLog(pond_dir).partitions_changed(self.version, set(self.watch))


def load_specs(pond_dir: Path) -> SpecCache | None:
    """The cache of Backup specs if it is there, well formed and still current; else None."""
    try:
        raw = json.loads((pond_dir / STATE_DIR / SPECS_FILE).read_text(encoding="utf-8"))
        if raw.get("format") != SPECS_FORMAT:
            return None
        cache = SpecCache(int(raw["version"]), list(raw["watch"]), dict(raw["specs"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if not all(isinstance(w, str) for w in cache.watch):
        return None
    for name, spec in cache.specs.items():
        if not _NAME.fullmatch(name) or not isinstance(spec, dict):
            return None
        if not isinstance(spec.get("url"), str):
            return None
    return cache if cache.current(pond_dir) else None


def save_specs(pond_dir: Path, cache: SpecCache) -> None:
    """Record ``cache`` (only if it differs from what is there: a read is not a write)."""
    body = {"format": SPECS_FORMAT, **asdict(cache)}
    path = pond_dir / STATE_DIR / SPECS_FILE
    text = json.dumps(body, indent=1, sort_keys=True)
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    write_atomically(path, text.encode())
