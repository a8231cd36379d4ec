"""Restore: a whole pond from its backup's URL alone, every byte checked before it is used.

The remote's push records are read first and checked (each its own checksum, each
naming the previous one's sha256, all the same pond id); they give the sha256 and size
of every object.  The objects of versions 0..V (V: the newest present, or the one that
committed transaction ``at_txn``) are downloaded into a staging directory beside the
destination, each checked before it is renamed into place; a missing or bad object stops
the restore with a ``CorruptDataError`` naming it, and the staging directory is removed.
Only a complete, opened-and-read pond is renamed to the destination, so a restore
killed midway leaves no pond at all (and a hidden ``.<name>.restore-*`` directory to
delete), never half of one.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, CorruptDataError, PondExistsError, RemoteError
from ..tinyfs.persistence import ROOT_ID
from ..tlogfs.blobs import fsync_dir
from ..tlogfs.layout import DATA_DIR, LARGE_FILES_DIR
from ..tlogfs.location import check_location
from .layout import PushRecord, RemoteObject, log_key, record_key, sha256_hex
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

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "dest": self.dest,
            "pond_id": self.pond_id,
            "version": self.version,
            "txn_seq": self.txn_seq,
            "objects": self.objects,
            "bytes": self.bytes,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def read_records(remote: Remote, newest: int) -> list[PushRecord]:
    """Records 0..``newest``, checked as a chain; ``CorruptDataError`` naming the first bad one."""
    keys = [record_key(v) for v in range(newest + 1)]
    with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
        raw = list(pool.map(remote.get, keys))
    records: list[PushRecord] = []
    previous: bytes | None = None
    for version, (key, data) in enumerate(zip(keys, raw, strict=True)):
        where = f"{remote.url}/{key}"
        if data is None:
            raise CorruptDataError(f"{where} is missing")
        record = PushRecord.decode(data, where)
        if record.version != version or record.log.key != log_key(version):
            raise CorruptDataError(f"{where} is the record of another version")
        expected = sha256_hex(previous) if previous is not None else None
        if record.previous != expected:
            raise CorruptDataError(
                f"{where} does not follow the record before it (a record was altered)"
            )
        if records and record.pond_id != records[0].pond_id:
            raise CorruptDataError(f"{where} names another pond ({record.pond_id})")
        records.append(record)
        previous = data
    return records


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
    remote.check()
    newest = remote.tip()
    if newest < 0:
        raise RemoteError(f"{remote.url} holds no pond backup")
    records = read_records(remote, newest)
    last = _last_version(records, at_txn)
    records = records[: last + 1]
    txn = max((r.txn_seq for r in records if r.txn_seq is not None), default=0)

    objects: dict[str, RemoteObject] = {}
    for record in records:
        for obj in record.objects:
            known = objects.setdefault(obj.key, obj)
            if known != obj:
                raise CorruptDataError(f"push records disagree on {remote.url}/{obj.key}")
    logs = {r.log.key for r in records}
    files = [o for k, o in objects.items() if k not in logs]

    stage = target.parent / f".{target.name}.restore-{uuid.uuid4().hex[:12]}"
    report = RestoreReport(remote.url, str(target), records[0].pond_id, last, txn)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        (stage / DATA_DIR / LARGE_FILES_DIR).mkdir(parents=True)
        total = sum(o.size for o in objects.values())
        done = 0

        def fetch(obj: RemoteObject) -> int:
            assert remote is not None
            remote.download(obj, stage / obj.key)
            return obj.size

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            # In any order: the staging directory is nobody's pond until it is renamed.
            for size in pool.map(fetch, [*files, *(r.log for r in records)]):
                done += size
                if progress is not None:
                    progress(done, total)
        for directory in {(stage / o.key).parent for o in objects.values()}:
            fsync_dir(directory)
        report.objects, report.bytes = len(objects), total
        _check_opens(stage, txn)
        if target.exists():
            target.rmdir()
        os.rename(stage, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    report.elapsed_s = time.perf_counter() - started
    return report


def _last_version(records: list[PushRecord], at_txn: int | None) -> int:
    if at_txn is None:
        return len(records) - 1
    for record in records:
        if record.txn_seq == at_txn:
            return record.version
    txns = [r.txn_seq for r in records if r.txn_seq is not None]
    held = f"transactions {min(txns)} to {max(txns)}" if txns else "no transactions"
    raise ConfigError(f"the backup holds no transaction {at_txn} (it holds {held})")


def _check_opens(stage: Path, txn: int) -> None:
    """Open the staged pond and read its root: what is renamed into place is a pond."""
    from ..tlogfs.persistence import DeltaPersistence

    with DeltaPersistence.open(stage) as p:
        if p.last_txn != txn:
            raise CorruptDataError(
                f"the restored log ends at transaction {p.last_txn}, its records at {txn}"
            )
        p.read_dir(ROOT_ID)
