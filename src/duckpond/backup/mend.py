"""Mend a backup from the pond: put back what its push records name and the remote lacks.

A push looks only at what its newest record names (``push._look_at_tip``), so an older
object lost on the remote (deleted by hand, a bucket policy, a disk of a NAS) stays lost
while every push says ok; ``verify`` names it, and ``mend`` puts it back from the pond,
if the pond still holds those exact bytes:

1. the remote's records are read and checked as a restore reads them (a chain, from the
   floor on a pruned remote): they say every object the backup must hold, with its sha256
   and size;
2. one listing of the remote gives what it holds; each object missing, or not of its
   recorded size, is sent again from the pond's file of the same key, hashed as it is read
   and sent only if it matches the record (a bad local copy is never sent);
3. run-record pieces (``runs/<start>-<sha256>.jsonl``) are cut again from the pond's
   ``runs.jsonl`` at the same offset, and retention files (``meta/<sha256>-<name>``) taken
   from the pond's own, each only if its bytes hash to the record's sha256;
4. what the pond no longer holds (removed by ``maintain``, run records since rewritten)
   is named as not mended.

A push record that cannot be read (altered, missing) cannot be mended from the pond (it
records the remote's own history): it is named, with what it costs (restores after the
last good record's transaction are refused), and every other record's objects are still
put back.

An object of the right size but the wrong bytes is found only by re-reading it
(``--deep``: every object downloaded and hashed) and is then replaced the same way.
Nothing but objects whose bytes the records name is ever written: mend writes no record
and no log entry of its own, so it never changes what the backup holds, only repairs it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptDataError, RemoteError
from ..tlogfs.layout import DATA_DIR, META_DIR
from .layout import Floor, PushRecord, RemoteObject, meta_name, record_key, runs_start, sha256_hex
from .push import DEFAULT_CONCURRENCY, check_identity
from .remote import Remote
from .restore import floor_records
from .source import PondFiles, pond_files


@dataclass
class MendReport:
    """What ``mend`` found and did: objects checked, sent again, and not mendable."""

    name: str
    url: str
    checked: int = 0
    resent: list[str] = field(default_factory=list)
    unmendable: list[str] = field(default_factory=list)
    """``"KEY: why"`` for each damaged object the pond could not put back."""

    @property
    def ok(self) -> bool:
        return not self.unmendable

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "checked": self.checked,
            "resent": list(self.resent),
            "unmendable": list(self.unmendable),
            "ok": self.ok,
        }


def mend(where: Path | PondFiles, remote: Remote, name: str, *, deep: bool = False) -> MendReport:
    """Put back on ``remote`` every object its records name that it lacks (see the module
    docstring); with ``deep``, also every object whose bytes do not hash to its record.
    ``where`` is the pond: its directory, or the files of a pond kept on S3.

    Raises ``RemoteError`` (store unusable, no backup there) and ``BackupConflictError``
    (another pond's backup).  A push record missing or altered is reported among the
    unmendable (the backup's own account of itself, which only a push to another URL
    makes whole again), and the other records' objects are still put back.
    """
    tip = remote.tip()
    if tip < 0:
        raise RemoteError(f"{remote.url} holds no pond backup")
    files = pond_files(where)
    check_identity(remote, files.pond_id())
    floor = remote.floor()
    wanted: dict[str, RemoteObject] = {}
    records, unreadable, rewrites = _readable_records(remote, tip, floor)
    for record in [*floor_records(floor), *records]:
        for obj in record.objects:
            wanted.setdefault(obj.key, obj)
    present = remote.keys("")
    report = MendReport(name, remote.url, checked=len(wanted))
    report.unmendable.extend(unreadable)
    for key, canonical in rewrites:
        remote.put_back(key, canonical)
        report.resent.append(key)
    damaged = [o for o in wanted.values() if present.get(o.key) != o.size]
    if deep:
        whole = [o for o in wanted.values() if present.get(o.key) == o.size]
        with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
            bad = pool.map(lambda o: remote.digest(o.key) != (o.sha256, o.size), whole)
            damaged += [o for o, wrong in zip(whole, bad, strict=True) if wrong]

    def put_back(obj: RemoteObject) -> str | None:
        gone = f"{obj.key}: this pond no longer holds it"
        mismatch = f"{obj.key}: this pond's copy is not the one the backup recorded"
        if not obj.key.startswith("data/"):
            data = _local_bytes(files, obj)
            if data is None:
                return gone
            if sha256_hex(data) != obj.sha256:
                return mismatch
            remote.put_back(obj.key, data)
            return None
        size = files.size(obj.key)
        if size is None:
            return gone
        if size != obj.size:
            return mismatch
        try:
            # Hashed as it is read; bytes that do not match are never kept there.
            remote.upload(obj.key, files, obj.size, obj.sha256)
        except CorruptDataError:
            return mismatch
        return None

    with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
        for obj, problem in zip(damaged, pool.map(put_back, damaged), strict=True):
            if problem is None:
                report.resent.append(obj.key)
            else:
                report.unmendable.append(problem)
    return report


def _local_bytes(files: PondFiles, obj: RemoteObject) -> bytes | None:
    """The pond's bytes for a run-record piece or a retention file the records name (not
    yet checked against their sha256); None if the pond holds nothing there."""
    start = runs_start(obj.key)
    if start is not None:
        data = files.runs_since(start)
        return data[: obj.size] if len(data) >= obj.size else None
    name = meta_name(obj.key)
    if name is not None:
        key = f"{DATA_DIR}/{META_DIR}/{name}"
        return files.read(key) if files.size(key) is not None else None
    return None


def _readable_records(
    remote: Remote, tip: int, floor: Floor | None
) -> tuple[list[PushRecord], list[str], list[tuple[str, bytes]]]:
    """Every push record from the floor (or 0) to ``tip`` that reads as this backup's
    (its own checksum right, its version's); ``"KEY: why"`` for each that does not; and
    the records whose bytes were changed without changing their content (the next
    record's link says so), with their own canonical bytes to put back.

    Unlike a restore, which needs the whole chain, mend takes each readable record's
    word for its objects: an altered record does not stop the others being mended.
    """
    start = floor.version if floor is not None else 0
    keys = [record_key(v) for v in range(start, tip + 1)]
    good: list[PushRecord] = []
    bad: list[str] = []
    last_txn = 0
    previous: tuple[str, bytes, PushRecord] | None = None
    rewrites: list[tuple[str, bytes]] = []
    with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
        for version, (key, data) in enumerate(
            zip(keys, pool.map(remote.get, keys), strict=True), start
        ):
            why = None
            if data is None:
                why = "missing"
            else:
                try:
                    record = PushRecord.decode(data, f"{remote.url}/{key}")
                except CorruptDataError as e:
                    why = str(e).rsplit(" was ", 1)[-1] if " was " in str(e) else str(e)
                else:
                    if record.version != version:
                        why = "the record of another version"
            if data is None or why is not None:
                previous = None
                bad.append(
                    f"{key}: {why}; a push record cannot be put back from the pond: the "
                    f"backup restores no transaction after {last_txn} (restore --at-txn "
                    f"{last_txn} or earlier), so push the pond to a new URL"
                )
                continue
            if previous is not None and record.previous != sha256_hex(previous[1]):
                # The record before does not hash to what this one says: if its content
                # is intact (its checksum is right), its own canonical bytes do.
                key_before, _, before = previous
                canonical = before.encode()
                if sha256_hex(canonical) == record.previous:
                    rewrites.append((key_before, canonical))
                else:
                    bad.append(
                        f"{key}: does not follow {key_before} (a record was altered); the "
                        f"backup restores no transaction after {last_txn}, so push the "
                        "pond to a new URL"
                    )
            good.append(record)
            previous = (key, data, record)
            last_txn = record.txn_seq or last_txn
    return good, bad, rewrites
