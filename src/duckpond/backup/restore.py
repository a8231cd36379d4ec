"""Restore: a whole pond from its backup's URL alone, every byte checked before it is used.

The remote's push records are read first and checked (each its own checksum, each
naming the previous one's sha256, all the same pond id); they give the sha256 and size
of every object.  The objects of versions 0..V (V: the newest present, or the one that
committed transaction ``at_txn``) are downloaded into a staging directory beside the
destination, each hashed in the pass that writes it and fsynced; a missing or bad object
stops the restore with a ``CorruptDataError`` naming it, and the staging directory is
removed.  Only a complete pond (every file its Delta log adds present:
``_check_complete``) is renamed to the destination, so a restore killed midway leaves
no pond at all (and a hidden ``.<name>.restore-*`` directory to
delete), never half of one.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError, CorruptDataError, PondExistsError, RemoteError
from ..tlogfs.blobs import fsync_dir
from ..tlogfs.layout import DATA_DIR, DELTA_LOG_DIR, LARGE_FILES_DIR, META_DIR, is_oplog_file
from ..tlogfs.location import check_location
from ..tlogfs.retention import Retention, write_retention
from ..tlogfs.runlog import RUNS_FILE
from ..tlogfs.seals import Seal, Seals
from .layout import (
    LAST_CHECKPOINT_KEY,
    META_PREFIX,
    RUNS_PREFIX,
    Floor,
    PushRecord,
    RemoteObject,
    checkpoint_key,
    log_key,
    meta_name,
    record_key,
    runs_chain,
    sha256_hex,
)
from .local import LocalLog
from .push import DEFAULT_CONCURRENCY, Progress
from .remote import Remote


@dataclass
class RestoreReport:
    """What a restore did: the pond id, the Delta version and pond transaction restored."""

    url: str
    dest: str
    pond_id: str
    version: int
    txn_seq: int
    objects: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0
    remote_version: int | None = None
    """The remote's newest Delta version when it was restored: ``version`` unless an
    ``at_txn`` restore took an older state (the backup is then ahead of the copy)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "dest": self.dest,
            "pond_id": self.pond_id,
            "version": self.version,
            "txn_seq": self.txn_seq,
            "remote_version": self.remote_version,
            "objects": self.objects,
            "bytes": self.bytes,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def iter_records(remote: Remote, newest: int, floor: Floor | None = None) -> Iterator[PushRecord]:
    """Records 0..``newest`` in order (from ``floor.version`` on a pruned remote, the first
    matching the floor's sha256), each checked as the chain reaches it.

    Fetched many at once; ``CorruptDataError`` names the first bad or missing one.
    """
    start = floor.version if floor is not None else 0
    keys = [record_key(v) for v in range(start, newest + 1)]
    with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
        first: PushRecord | None = None
        previous: bytes | None = None
        last_txn = 0
        fetched = zip(keys, pool.map(remote.get, keys), strict=True)
        for version, (key, data) in enumerate(fetched, start):
            where = f"{remote.url}/{key}"
            if data is None:
                raise CorruptDataError(f"{where} is missing: {_restorable(last_txn)}")
            try:
                record = PushRecord.decode(data, where)
            except CorruptDataError as e:
                raise CorruptDataError(f"{e}: {_restorable(last_txn)}") from None
            if record.version != version or record.log.key != log_key(version):
                raise CorruptDataError(f"{where} is the record of another version")
            if previous is not None:
                linked = record.previous == sha256_hex(previous)
            elif floor is not None:
                linked = sha256_hex(data) == floor.record_sha256
            else:
                linked = record.previous is None
            if not linked:
                before = f"{record_key(version - 1)} or this one" if version > start else "it"
                raise CorruptDataError(
                    f"{where} does not follow the record before it ({before} was altered): "
                    "pond backup mend puts back a record whose content is intact; "
                    + _restorable(last_txn)
                )
            expected_id = first.pond_id if first else floor.pond_id if floor else None
            if expected_id is not None and record.pond_id != expected_id:
                raise CorruptDataError(f"{where} names another pond ({record.pond_id})")
            first = first or record
            previous = data
            last_txn = record.txn_seq or last_txn
            yield record


def _way_out(key: str, records: list[PushRecord], named_by: dict[str, int]) -> str:
    """For a missing or bad object: where the backup still restores from, and the mend."""
    version = named_by.get(key, -1)
    if version < 0:
        return (
            " (in the snapshot the backup starts from): pond backup mend NAME puts it back "
            "if the pond still holds it"
        )
    before = max(
        (r.txn_seq for r in records if r.version < version and r.txn_seq is not None),
        default=0,
    )
    return (
        f" (first named by the push record of Delta version {version}): pond backup mend "
        f"NAME puts it back if the pond still holds it; "
        + _restorable(before).replace("restores up to", "restores without it up to")
    )


STAGE_OWNER = ".restore-pid"


def _remove_abandoned(target: Path, ours: Path) -> None:
    """Remove the staging directories of earlier restores to ``target`` whose process is
    no longer running (killed midway: the destination was never created).  One whose
    owner cannot be read is left, unless it is an hour old."""
    for stage in target.parent.glob(f".{target.name}.restore-*"):
        if stage == ours or not stage.is_dir():
            continue
        try:
            pid = int((stage / STAGE_OWNER).read_text())
        except (OSError, ValueError):
            try:
                if time.time() - stage.stat().st_mtime < 3600:
                    continue
            except OSError:
                continue
        else:
            if _running(pid):
                continue
        shutil.rmtree(stage, ignore_errors=True)


def _running(pid: int) -> bool:
    """True if a process ``pid`` exists (it may be another's: then it is left alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _restorable(last_txn: int) -> str:
    """What a backup whose chain breaks after ``last_txn`` can still give."""
    if not last_txn:
        return "the backup restores no transaction"
    return f"the backup restores up to txn {last_txn} (--at-txn {last_txn})"


def read_records(remote: Remote, newest: int, floor: Floor | None = None) -> list[PushRecord]:
    """Records 0..``newest`` (from the floor on), checked as a chain; ``CorruptDataError``
    naming the first bad one."""
    return list(iter_records(remote, newest, floor))


def restore(
    url: str,
    dest: str | os.PathLike[str],
    *,
    remote: Remote | None = None,
    at_txn: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> RestoreReport:
    """Restore the backup at ``url`` into a new pond at ``dest``; see the module docstring.

    ``remote`` may carry store options (endpoint, credentials); by default they come from
    the ``AWS_*`` variables.  Raises ``PondExistsError`` if ``dest`` exists and is not an
    empty directory, ``RemoteError`` if the store cannot be used or holds no backup,
    ``ConfigError`` for an ``at_txn`` it does not hold, ``CorruptDataError`` naming a
    missing or bad object.
    """
    started = time.perf_counter()
    target = Path(dest).expanduser().absolute()
    check_location(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise PondExistsError(f"{target} exists and is not empty: restore into a new directory")
    remote = remote or Remote(url)
    newest = remote.tip()  # a store that cannot be used fails here (RemoteError)
    if newest < 0:
        raise RemoteError(f"{remote.url} holds no pond backup")
    floor = remote.floor()
    if at_txn is not None:
        if at_txn < 1:
            raise ConfigError(f"no transaction {at_txn}: transactions are numbered from 1")
        # Which versions are wanted is known only once the records are read: read them
        # first, so a transaction the backup does not hold is refused before any download.
        # Only as far as the first record after ``at_txn``: a record damaged later in the
        # chain does not stop the restore of an older state.
        records = []
        try:
            for record in iter_records(remote, newest, floor):
                records.append(record)
                if record.txn_seq is not None and record.txn_seq > at_txn:
                    break
        except CorruptDataError:
            if all(r.txn_seq != at_txn for r in records):
                raise  # the damage is before at_txn, or at it
        if floor is not None and at_txn < floor.earliest_txn:
            raise ConfigError(
                f"transaction {at_txn} is no longer kept in the backup: the transactions "
                f"before {floor.earliest_txn} were removed (by pond maintain before the "
                f"push, or pond backup prune) at {floor.removed_at}; "
                + _earliest_kept(records, floor)
            )
        wanted: Iterable[PushRecord] = records[: _last_index(records, at_txn, floor) + 1]
    else:
        # Everything: the records' objects are fetched while later records still arrive.
        wanted = iter_records(remote, newest, floor)
    # A pruned remote: the snapshot at the floor (a checkpoint, live files, blobs) first.
    wanted = itertools.chain(floor_records(floor), wanted)

    stage = target.parent / f".{target.name}.restore-{uuid.uuid4().hex[:12]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        (stage / DATA_DIR / LARGE_FILES_DIR).mkdir(parents=True)
        # Whose staging directory this is: a later restore to the same place removes
        # one whose process is gone (a restore killed midway leaves it behind).
        (stage / STAGE_OWNER).write_text(str(os.getpid()))
        _remove_abandoned(target, stage)
        directories = {stage / DATA_DIR / LARGE_FILES_DIR}
        objects: dict[str, RemoteObject] = {}
        named_by: dict[str, int] = {}  # the version whose record first names each object
        records = []
        fetches: list[Future[None]] = []
        for record in wanted:
            if record.version >= 0:
                records.append(record)
            for obj in record.objects:
                known = objects.setdefault(obj.key, obj)
                named_by.setdefault(obj.key, record.version)
                if known is not obj:
                    if known != obj:
                        raise CorruptDataError(f"push records disagree on {remote.url}/{obj.key}")
                    continue
                # In any order: the staging directory is nobody's pond until it is renamed.
                path = stage / _checked_key(obj.key, remote.url)
                if path.parent not in directories:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    directories.add(path.parent)
                fetches.append(pool.submit(remote.fetch_into, obj, path))
        total = sum(o.size for o in objects.values())
        done = 0
        for fetch, obj in zip(fetches, objects.values(), strict=True):
            try:
                fetch.result()
            except CorruptDataError as e:
                raise CorruptDataError(f"{e}{_way_out(obj.key, records, named_by)}") from None
            done += obj.size
            if progress is not None:
                progress(done, total)
        for directory in directories:
            fsync_dir(directory)
        txn = max((r.txn_seq for r in records if r.txn_seq is not None), default=0)
        report = RestoreReport(
            remote.url, str(target), records[0].pond_id, records[-1].version, txn
        )
        report.objects, report.bytes = len(objects), total
        report.remote_version = newest
        _join_runs(stage, objects.values())
        _place_meta(stage, objects.values())
        _check_complete(stage, records, txn)
        if txn == 0 and floor is not None:
            # Only maintenance commits since the floor (a first push from a maintained
            # pond's snapshot): the newest transaction is the newest archived.
            report.txn_seq = LocalLog(stage).txn_through(records[-1].version)
        _write_checkpoint_hint(stage, remote)
        _seal_restored(stage, objects.values())
        if floor is not None:
            # The restored pond refuses, by name, the transactions the backup no longer holds.
            when = datetime.fromisoformat(floor.removed_at)
            # A floor equal to the pond's own (a first push from a maintained pond's
            # snapshot) keeps the pond's record, which says what removed the history.
            write_retention(
                stage / DATA_DIR, Retention(floor.earliest_txn, when, "pond backup prune")
            )
        (stage / STAGE_OWNER).unlink()
        if target.exists():
            target.rmdir()
        os.rename(stage, target)
        fsync_dir(target.parent)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        pool.shutdown(wait=True)
    report.elapsed_s = time.perf_counter() - started
    return report


def _seal_restored(stage: Path, objects: Iterable[RemoteObject]) -> None:
    """Seal the restored oplog files (log entries, data files, checkpoints) with the hashes
    their bytes were checked against, as the source pond sealed them when it wrote them:
    without seals, ``pond fsck`` of the restore would take the files only older
    transactions read (replaced by a compaction) for leftovers of interrupted writes.

    Which objects are oplog files is told by their keys alone (no walk of the staging
    directory, and no pyarrow: ``tlogfs.integrity`` would import it, some tenths of a
    second of a restore's run); anything else a record names is left unsealed, for
    ``pond fsck`` to judge."""
    prefix = f"{DATA_DIR}/"
    seals = {
        rel: Seal(o.sha256, o.size)
        for o in objects
        if (rel := o.key.removeprefix(prefix)) != o.key and is_oplog_file(rel)
    }
    Seals(stage / DATA_DIR).rewrite(seals)


def _checked_key(key: str, url: str) -> str:
    """``key`` if it names a place in the layout (under ``data/`` or ``runs/``, no ``..``);
    else ``CorruptDataError``: a record must not send a restore outside its directory."""
    parts = key.split("/")
    if (
        parts[0] not in (DATA_DIR, RUNS_PREFIX.rstrip("/"), META_PREFIX.rstrip("/"))
        or len(parts) < 2
        or any(part in ("", ".", "..") for part in parts)
        or "\\" in key
    ):
        raise CorruptDataError(f"{url}: a push record names {key!r}, outside a pond's layout")
    return key


def _join_runs(stage: Path, objects: Iterable[RemoteObject]) -> None:
    """Join the run-record pieces (``runs/<start>-<sha256>.jsonl``, each checked) into
    ``runs.jsonl``: each must start where the one before ended (``layout.runs_chain``)."""
    pieces = runs_chain(objects)
    if not pieces:
        return
    with open(stage / RUNS_FILE, "xb") as out:
        for obj in pieces:
            path = stage / obj.key
            out.write(path.read_bytes())
            path.unlink()
        out.flush()
        os.fsync(out.fileno())
    (stage / RUNS_PREFIX).rmdir()


def _place_meta(stage: Path, objects: Iterable[RemoteObject]) -> None:
    """Put the retention files the restored records and floor name (``layout.META_FILES``)
    in the restored ``data/_pond``: the retention floor that is highest, and one commit
    archive holding every transaction any of the archives holds (a pond's ``maintain``
    and the backup's own ``prune`` each archive what they removed)."""
    from ..tlogfs.retention import ARCHIVE_FILE, RETENTION_FILE

    found: dict[str, list[Path]] = {}
    for obj in objects:
        name = meta_name(obj.key)
        if name is not None:
            found.setdefault(name, []).append(stage / obj.key)
        elif obj.key.startswith(META_PREFIX):
            raise CorruptDataError(f"{obj.key} does not name a file of a pond's retention")
    if not found:
        return
    meta = stage / DATA_DIR / META_DIR
    meta.mkdir(parents=True, exist_ok=True)
    floors = found.get(RETENTION_FILE, [])
    if floors:

        def earliest(path: Path) -> int:
            try:
                return int(json.loads(path.read_bytes())["earliest_txn"])
            except (ValueError, KeyError, TypeError) as e:
                raise CorruptDataError(f"{path.name}: not a retention record ({e})") from None

        os.replace(max(floors, key=earliest), meta / RETENTION_FILE)
    archives = found.get(ARCHIVE_FILE, [])
    if len(archives) == 1:
        os.replace(archives[0], meta / ARCHIVE_FILE)
    elif archives:
        from ..tlogfs.retention import union_archives

        merged = union_archives([path.read_bytes() for path in archives], ARCHIVE_FILE)
        with open(meta / ARCHIVE_FILE, "xb") as f:
            f.write(merged)
            f.flush()
            os.fsync(f.fileno())
    shutil.rmtree(stage / META_PREFIX)
    fsync_dir(meta)


def _write_checkpoint_hint(stage: Path, remote: Remote) -> None:
    """Delta's ``_last_checkpoint`` for the newest checkpoint restored, if any.

    No record names the remote's hint (it may name a later checkpoint than an ``at_txn``
    restore's), so it is taken only if it names the newest checkpoint restored, at that
    file's size, and only its numbers are kept; else the count of actions is read from
    the checkpoint itself (its Parquet footer: pyarrow's import, some tenths of a
    second).  Without a hint Delta still finds the checkpoint (it lists the log); the
    pond's maintenance reads it to know when the next checkpoint is due.
    """
    log = stage / DATA_DIR / DELTA_LOG_DIR
    found = sorted(
        int(p.name[:20])
        for p in log.iterdir()
        if p.name.endswith(".checkpoint.parquet") and p.name[:20].isdigit()
    )
    if not found:
        return
    path = stage / checkpoint_key(found[-1])
    hint: dict[str, int] = {"version": found[-1], "sizeInBytes": path.stat().st_size}
    theirs = _remote_hint(remote)
    if (
        theirs.get("version") == hint["version"]
        and theirs.get("sizeInBytes", hint["sizeInBytes"]) == hint["sizeInBytes"]
        and "size" in theirs
    ):
        hint.update(theirs)
    else:
        import pyarrow.parquet as pq

        hint["size"] = pq.read_metadata(path).num_rows
    with open(log / "_last_checkpoint", "x", encoding="utf-8") as f:
        f.write(json.dumps(hint, separators=(",", ":")))
        f.flush()
        os.fsync(f.fileno())


def _remote_hint(remote: Remote) -> dict[str, int]:
    """The remote's ``_last_checkpoint``, its whole-number fields only; empty if unusable."""
    data = remote.get(LAST_CHECKPOINT_KEY)
    try:
        found = json.loads(data) if data is not None else {}
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    keys = ("version", "size", "sizeInBytes", "numOfAddFiles")
    return {k: v for k, v in found.items() if k in keys and type(v) is int and v >= 0}


def floor_records(floor: Floor | None) -> list[PushRecord]:
    """The floor's objects as records of no version (-1), for restore's download loop."""
    if floor is None:
        return []
    return [PushRecord(floor.pond_id, -1, None, None, group) for group in floor.objects]


def _last_index(records: list[PushRecord], at_txn: int | None, floor: Floor | None = None) -> int:
    txns = [r.txn_seq for r in records if r.txn_seq is not None]
    if at_txn is None or (txns and at_txn == max(txns)):
        # The newest transaction: with the maintenance commits after it (the same
        # content), so the restore is the remote's newest state, and can push there.
        return len(records) - 1
    for i, record in enumerate(records):
        if record.txn_seq == at_txn:
            return i
    if floor is not None and at_txn >= floor.earliest_txn and (not txns or at_txn < min(txns)):
        # A restore at the first restore point keeps the snapshot's window, which reads
        # at_txn; a later one may not (a later maintain moved the pond's window on).
        how = (
            f"restore with --at-txn {min(txns)}, its first restore point"
            if txns
            else "restore it whole"
        )
        raise ConfigError(
            f"transaction {at_txn} is inside the snapshot the backup starts from: {how}, "
            f"then read that pond with --at-txn {at_txn}"
        )
    if floor is not None and 0 < at_txn < floor.earliest_txn:
        raise ConfigError(
            f"transaction {at_txn} is no longer kept in the backup: "
            + _earliest_kept(records, floor)
        )
    held = f"transactions {min(txns)} to {max(txns)}" if txns else "no transactions"
    raise ConfigError(f"the backup holds no transaction {at_txn} (it holds {held})")


def _earliest_kept(records: list[PushRecord], floor: Floor) -> str:
    """ "the earliest kept is F", and where F is inside the snapshot a seeded backup starts
    from (its first restore point is later), how to read it: the same numbers as the
    refusal of a transaction inside the snapshot gives."""
    txns = [r.txn_seq for r in records if r.txn_seq is not None]
    first = min(txns) if txns else None
    if first is None or first <= floor.earliest_txn:
        return f"the earliest kept is {floor.earliest_txn}"
    return (
        f"the earliest kept is {floor.earliest_txn}, inside the snapshot the backup starts "
        f"from: restore with --at-txn {first}, its first restore point, then read that "
        f"pond with --at-txn {floor.earliest_txn}"
    )


def _check_complete(stage: Path, records: list[PushRecord], txn: int) -> None:
    """What is renamed into place is a whole pond: every file its Delta log adds is there.

    Each byte was checked against the push records; this checks the records against the
    restored log itself (every ``add`` of versions 0..V present, at its size, and version
    V at the records' transaction), reading the log's JSON only: opening the pond with
    deltalake would cost its import (most of a small restore) to learn no more.
    """
    log = LocalLog(stage)
    if log.newest() != records[-1].version:
        raise CorruptDataError(f"the restored log ends at version {log.newest()}")
    newest_txn = 0
    for record in records:
        version = log.read(record.version, blobs=False)
        if version.txn_seq is not None:
            newest_txn = version.txn_seq
        for f in version.data_files:
            size = log.files.size(f.key)
            if size is None:
                raise CorruptDataError(
                    f"{f.key}, added by Delta version {record.version}, is named by no push record"
                )
            if size != f.size:
                raise CorruptDataError(f"{f.key} is not the size its Delta log entry says")
    if newest_txn != txn:
        raise CorruptDataError(
            f"the restored log ends at transaction {newest_txn}, its records at {txn}"
        )


def record_restored(pond_dir: Path, remote: Remote, report: RestoreReport) -> None:
    """Note in the restored pond that ``remote`` holds everything up to the restored
    version (a fact just checked object by object): ``$POND/backups/_restored.json``.

    A Backup resource of the pond whose URL is the one restored from then shows no lag
    in ``pond status`` and ``backup list``, and its next push starts from that version
    (``state.load_state`` reads the note for a backup with no record of its own).  The
    last push time stays unset: no push was made from here.  Written without opening the
    pond (no Delta table, no resource documents read): a restore's whole cost is the
    transfer and its checks.
    """
    from .state import RestoredFrom, save_restored

    found = remote.record(report.version)
    digest = sha256_hex(found[1]) if found is not None else None
    runs_end = found[0].runs_end if found is not None else None
    save_restored(
        pond_dir,
        RestoredFrom(
            remote.url,
            report.pond_id,
            report.version,
            report.txn_seq,
            digest,
            runs_end or 0,
            report.remote_version,
        ),
    )
