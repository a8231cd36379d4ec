"""Prune: a backup's own retention (``pond backup prune NAME --keep 1y``).

A remote keeps every Delta version it was pushed (``duckpond.backup.layout``); a prune
with a window starting at pond transaction K (committed by Delta version F) removes
what no restore at K or later reads, with the guarantees of ``pond maintain``:

- a restore at any transaction from K on needs log entry 0 (the pond id), the Delta
  snapshot at F, the data files live there and the blobs their rows name, and every
  record from F on with what it names.  The snapshot at F is made a Delta checkpoint
  on the remote (``data/_delta_log/<F>.checkpoint.parquet``, written by deltalake from
  the remote's own log), so the older log entries are not needed to read the table.
- Nothing is deleted before ``pushes/floor.json`` (``Floor``) says the window moved:
  it names the kept objects with sha256 and size, the sha256 of F's record (where the
  record chain now starts), and what is to go.  It is one object written whole, so a
  ``kill -9`` at any instant leaves a remote restorable at every kept transaction: the
  old window before the floor is written, the new one after; the next prune (or this
  one run again) deletes what the floor still lists, then writes it without the list.
- Only objects the records or a floor named are deleted, never an unknown key (a
  push under way may have sent objects no record names yet).

A blob's record names it under the version that added its data file: a live data file
keeps every blob its version's record named (a superset of what its rows name, never
less).  ``restore`` refuses a transaction before K with one line naming K.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from ..errors import ConfigError, CorruptDataError, RemoteError
from ..tlogfs.layout import DATA_DIR
from ..tlogfs.objectstore import delta_storage_options, remote_error
from .layout import (
    BLOBS_PREFIX,
    FLOOR_KEY,
    LOG_PREFIX,
    RUNS_PREFIX,
    Floor,
    PushRecord,
    RemoteObject,
    data_key,
    log_key,
    meta_key,
    meta_name,
    record_key,
    sha256_hex,
)
from .remote import Remote
from .restore import read_records

_CHECKPOINT = re.compile(r"(\d{20})\.checkpoint(\.\d+\.\d+)?\.parquet")


@dataclass
class PruneReport:
    """What a prune did, or would do with ``dry_run``: the kept window (pond transactions
    ``earliest_kept_txn`` to ``last_txn``, from Delta version ``version``) and what went."""

    name: str
    url: str
    dry_run: bool
    earliest_kept_txn: int
    last_txn: int
    version: int
    removed: list[tuple[str, int]] = field(default_factory=list)
    """(key, bytes) of each object removed (records and log entries included)."""
    elapsed_s: float = 0.0

    @property
    def bytes_removed(self) -> int:
        return sum(size for _, size in self.removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "dry_run": self.dry_run,
            "earliest_kept_txn": self.earliest_kept_txn,
            "last_txn": self.last_txn,
            "version": self.version,
            "objects_removed": len(self.removed),
            "bytes_removed": self.bytes_removed,
            "removed": [{"key": k, "bytes": n} for k, n in self.removed],
            "elapsed_s": round(self.elapsed_s, 3),
        }


def window_start(
    transactions: Iterable[tuple[int, datetime]],
    last_txn: int,
    keep: timedelta | None,
    keep_txns: int | None,
    now: datetime,
) -> int:
    """The first pond transaction of the window, as ``pond maintain`` counts it.

    ``transactions``: (txn_seq, commit time, UTC) of the pond's transactions;
    ``last_txn``: the remote's newest, always kept.  ``keep``: those committed within
    that span before ``now``; ``keep_txns``: the newest N.  ``ConfigError`` for no
    window, both, or a bad one.
    """
    if (keep is None) == (keep_txns is None):
        raise ConfigError(
            "give {keep} or {keep_txns} (one of them)", options={"keep": "", "keep_txns": ""}
        )
    if keep_txns is not None:
        if keep_txns < 1:
            raise ConfigError("{keep_txns} must be at least 1", options={"keep_txns": ""})
        return max(1, last_txn - keep_txns + 1)
    assert keep is not None
    if keep <= timedelta(0):
        raise ConfigError("{keep} must be a positive span", options={"keep": ""})
    since = now - keep
    inside = [txn for txn, when in transactions if when >= since and txn <= last_txn]
    return min(inside, default=last_txn)


def prune(
    remote: Remote,
    name: str,
    transactions: Sequence[tuple[int, datetime]],
    *,
    keep: timedelta | None = None,
    keep_txns: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneReport:
    """Prune the backup at ``remote`` to the window (see the module docstring).

    ``transactions``: the pond's (txn_seq, commit time) pairs, which date the remote's
    transactions for ``keep`` (the remote holds a prefix of the pond's history).
    Raises ``RemoteError`` (store unusable, no backup), ``CorruptDataError`` (a bad
    record or floor: nothing is deleted then), ``ConfigError`` (a bad window).
    """
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    floor = remote.floor()
    if floor is not None and not dry_run:
        floor = _finish(remote, floor, None)
    tip = remote.tip()
    if tip < 0:
        raise RemoteError(f"{remote.url} holds no pond backup")
    records = read_records(remote, tip, floor)
    txns = [r.txn_seq for r in records if r.txn_seq is not None]
    last_txn = max(txns, default=floor.earliest_txn if floor else 0)
    first = window_start(transactions, last_txn, keep, keep_txns, now)
    base = next((r for r in records if r.txn_seq is not None and r.txn_seq >= first), None)
    floor_txn = floor.earliest_txn if floor else 1
    report = PruneReport(name, remote.url, dry_run, max(first, floor_txn), last_txn, 0)
    if base is None or (floor is not None and base.version <= floor.version):
        report.version = floor.version if floor else 0
        report.elapsed_s = time.perf_counter() - started
        return report
    assert base.txn_seq is not None
    report.earliest_kept_txn, report.version = base.txn_seq, base.version

    start = floor.version if floor else 0
    before = [r for r in records if r.version < base.version]
    kept_records = [r for r in records if r.version >= base.version]
    live = _live_files(remote, base.version)
    groups = _groups(floor, before, live)
    known = {o.key for g in groups for o in g} | {o.key for o in base.objects}
    if unknown := sorted(live - known):
        raise CorruptDataError(
            f"{remote.url}/{unknown[0]} is in the snapshot at Delta version {base.version} "
            "but no record or floor names it; nothing was removed"
        )
    runs = _run_pieces(floor, before)
    metas = _newest_meta(floor, before)
    log0 = _log_zero(floor, records)
    checkpoint_key = f"{LOG_PREFIX}{base.version:020d}.checkpoint.parquet"
    kept = {log0.key, checkpoint_key, FLOOR_KEY}
    kept |= {o.key for g in groups for o in g}
    kept |= {o.key for r in kept_records for o in r.objects}
    kept |= {o.key for o in runs}
    kept |= {o.key for o in metas}

    # What goes: only what a floor or record named (never an unknown key), plus the
    # checkpoints earlier prunes wrote.
    doomed: dict[str, int] = {}
    for obj in [*(floor.all_objects() if floor else []), *(o for r in before for o in r.objects)]:
        if obj.key not in kept and not obj.key.startswith(LOG_PREFIX):
            doomed[obj.key] = obj.size
    for key, size in remote.keys(LOG_PREFIX).items():
        m = _CHECKPOINT.fullmatch(key[len(LOG_PREFIX) :])
        if m and int(m.group(1)) < base.version and key not in kept:
            doomed[key] = size
    # Entry 0 and record 0 stay: they name the pond (``push.remote_pond_id``).
    versions = (max(start, 1), base.version)
    report.removed = sorted(doomed.items())
    for r in before:
        if r.version >= versions[0]:
            report.removed.append((r.log.key, r.log.size))
            report.removed.append((record_key(r.version), 0))
    if dry_run:
        report.elapsed_s = time.perf_counter() - started
        return report

    checkpoint = _checkpoint(remote, base.version, checkpoint_key)
    metas = _archive_removed(remote, metas, [r for r in before if r.version >= versions[0]])
    found = remote.record(base.version)
    if found is None:
        raise CorruptDataError(f"{remote.url}/{record_key(base.version)} is missing")
    new_floor = Floor(
        base.pond_id,
        base.txn_seq,
        base.version,
        sha256_hex(found[1]),
        now.isoformat(),
        ((log0, checkpoint), *groups, *((runs,) if runs else ()), *((metas,) if metas else ())),
        tuple(sorted(doomed)),
        versions,
    )
    # The window moves here, in one write; only then does anything go.
    remote.put(FLOOR_KEY, new_floor.encode())
    _finish(remote, new_floor, report)
    report.elapsed_s = time.perf_counter() - started
    return report


def _live_files(remote: Remote, version: int) -> set[str]:
    """The keys of the data files in the remote table's snapshot at ``version``."""
    table = _delta_table(remote, version)
    import pyarrow as pa

    actions = pa.RecordBatchReader.from_stream(table.get_add_actions(flatten=True)).read_all()
    return {data_key(unquote(str(p))) for p in actions.column("path").to_pylist()}


def _delta_table(remote: Remote, version: int) -> Any:
    from deltalake import DeltaTable

    location = remote.location
    uri = str(location.path / DATA_DIR) if location.path else location.child(DATA_DIR)
    try:
        return DeltaTable(
            uri,
            version=version,
            storage_options=delta_storage_options(location, remote.options) or None,
        )
    except Exception as e:
        raise remote_error(e, location, remote.options) from None


def _checkpoint(remote: Remote, version: int, key: str) -> RemoteObject:
    """Write the Delta checkpoint of ``version`` on the remote; its key, sha256 and size."""
    table = _delta_table(remote, version)
    try:
        table.create_checkpoint()
    except Exception as e:
        raise remote_error(e, remote.location, remote.options) from None
    data = remote.get(key)
    if data is None:
        raise CorruptDataError(f"{remote.url}/{key}: deltalake wrote no checkpoint there")
    return RemoteObject(key, sha256_hex(data), len(data))


def _groups(
    floor: Floor | None, before: list[PushRecord], live: set[str]
) -> list[tuple[RemoteObject, ...]]:
    """The live data files added before the window, grouped by the version that added
    them, each group with every blob that version's record (or floor group) named."""
    sources: list[tuple[RemoteObject, ...]] = []
    if floor is not None:
        sources += list(floor.objects[1:])  # the first group is log entry 0 and a checkpoint
    sources += [r.objects[1:] for r in before]
    groups: list[tuple[RemoteObject, ...]] = []
    for objects in sources:
        files = [o for o in objects if o.key in live]
        if files:
            blobs = [o for o in objects if _is_blob(o.key)]
            groups.append((*files, *blobs))
    return groups


def _run_pieces(floor: Floor | None, before: list[PushRecord]) -> tuple[RemoteObject, ...]:
    """Every run-record piece named before the window, in key order: kept, and named by
    the new floor as a group of their own.  Run records are the pond's whole history of
    runs (``pond maintain`` keeps them all too), and a restore joins the pieces from byte
    0 (``restore._join_runs``): none may go with the transactions."""
    found: dict[str, RemoteObject] = {}
    for obj in [*(floor.all_objects() if floor else []), *(o for r in before for o in r.objects)]:
        if obj.key.startswith(RUNS_PREFIX):
            found[obj.key] = obj
    return tuple(found[key] for key in sorted(found))


def _newest_meta(floor: Floor | None, before: list[PushRecord]) -> tuple[RemoteObject, ...]:
    """The newest retention file of each name (``layout.META_FILES``) named before the
    window: kept, as a floor group of their own (a restore at the window's start needs
    the floor and archive its snapshot was made under; a later record's, if any, wins)."""
    newest: dict[str, RemoteObject] = {}
    for obj in [*(floor.all_objects() if floor else []), *(o for r in before for o in r.objects)]:
        name = meta_name(obj.key)
        if name is not None:
            newest[name] = obj
    return tuple(newest[name] for name in sorted(newest))


def _archive_removed(
    remote: Remote, metas: tuple[RemoteObject, ...], removed: list[PushRecord]
) -> tuple[RemoteObject, ...]:
    """``metas`` with the commit archive (``transactions.parquet``) grown by the commit
    metadata of the transactions whose log entries this prune removes, sent as a new
    ``meta/`` object (by content), so a restore's ``pond log`` still lists them, as
    ``pond maintain`` keeps them locally (``tlogfs.retention``)."""
    wanted = [r for r in removed if r.txn_seq is not None]
    if not wanted:
        return metas
    from concurrent.futures import ThreadPoolExecutor

    from ..tlogfs.retention import ARCHIVE_FILE, merged_archive

    def commit_of(record: PushRecord) -> dict[str, Any]:
        data = remote.fetch_verified(record.log.key, record.log.sha256)
        for line in data.splitlines():
            action = json.loads(line) if line.strip() else {}
            if isinstance(action.get("commitInfo"), dict):
                return {**action["commitInfo"], "version": record.version}
        return {}

    with ThreadPoolExecutor(max_workers=8) as pool:
        commits = list(pool.map(commit_of, wanted))
    old = next((o for o in metas if meta_name(o.key) == ARCHIVE_FILE), None)
    current = remote.fetch_verified(old.key, old.sha256) if old is not None else None
    data = merged_archive(current, commits)
    sha = sha256_hex(data)
    archive = RemoteObject(meta_key(ARCHIVE_FILE, sha), sha, len(data))
    if not remote.put_new(archive.key, data) and remote.get(archive.key) != data:
        raise CorruptDataError(f"{remote.url}/{archive.key} holds other bytes than its name says")
    return tuple(sorted([*(o for o in metas if o is not old), archive], key=lambda o: o.key))


def _is_blob(key: str) -> bool:
    return key.startswith(BLOBS_PREFIX)


def _log_zero(floor: Floor | None, records: list[PushRecord]) -> RemoteObject:
    for obj in [*(floor.objects[0] if floor else ()), *(records[0].objects[:1])]:
        if obj.key == log_key(0):
            return obj
    raise CorruptDataError("no record or floor names Delta log entry 0 (the pond id)")


def _finish(remote: Remote, floor: Floor, report: PruneReport | None) -> Floor:
    """Delete what ``floor`` still lists, then write it without the list (the job done)."""
    lo, hi = floor.versions
    if not floor.removing and lo >= hi:
        return floor
    remote.delete(list(floor.removing))
    # Log entries before records: a record is what names its entry for a later check.
    remote.delete([log_key(v) for v in range(max(lo, 1), hi)])
    remote.delete([record_key(v) for v in range(max(lo, 1), hi)])
    done = Floor(
        floor.pond_id,
        floor.earliest_txn,
        floor.version,
        floor.record_sha256,
        floor.removed_at,
        floor.objects,
    )
    remote.put(FLOOR_KEY, done.encode())
    return done


__all__ = ["PruneReport", "prune", "window_start"]
