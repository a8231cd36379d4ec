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
3. what the pond no longer holds (removed by ``maintain``, or run records, which the pond
   keeps joined) is named as not mended.

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
from .layout import RemoteObject
from .push import DEFAULT_CONCURRENCY, check_identity
from .remote import Remote
from .restore import floor_records, iter_records
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

    Raises ``RemoteError`` (store unusable, no backup there), ``BackupConflictError``
    (another pond's backup) and ``CorruptDataError`` (a record missing or altered: the
    backup's own account of itself is damaged, which only a new push to another URL mends).
    """
    tip = remote.tip()
    if tip < 0:
        raise RemoteError(f"{remote.url} holds no pond backup")
    files = pond_files(where)
    check_identity(remote, files.pond_id())
    floor = remote.floor()
    wanted: dict[str, RemoteObject] = {}
    for record in [*floor_records(floor), *iter_records(remote, tip, floor)]:
        for obj in record.objects:
            wanted.setdefault(obj.key, obj)
    present = remote.keys("")
    report = MendReport(name, remote.url, checked=len(wanted))
    damaged = [o for o in wanted.values() if present.get(o.key) != o.size]
    if deep:
        whole = [o for o in wanted.values() if present.get(o.key) == o.size]
        with ThreadPoolExecutor(max_workers=DEFAULT_CONCURRENCY) as pool:
            bad = pool.map(lambda o: remote.digest(o.key) != (o.sha256, o.size), whole)
            damaged += [o for o, wrong in zip(whole, bad, strict=True) if wrong]

    def put_back(obj: RemoteObject) -> str | None:
        size = files.size(obj.key) if obj.key.startswith("data/") else None
        if size is None:
            return f"{obj.key}: this pond no longer holds it"
        mismatch = f"{obj.key}: this pond's copy is not the one the backup recorded"
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
