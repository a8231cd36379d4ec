"""The remote's layout: a pond's Delta table and blobs as they are on disk, plus push records.

Under the backup's URL (``s3://bucket/prefix`` or ``file:///dir``)::

    data/_delta_log/<version:020>.json    the Delta log entries, byte for byte
    data/part_id=<id>/part-<uuid>.parquet the Delta table's data files, byte for byte
    data/_large_files/sha256=<hex>        content-addressed blobs, sent once each
    data/_delta_log/<version:020>.checkpoint.parquet
                                          Delta checkpoints the pond has, byte for byte
    data/_delta_log/_last_checkpoint      Delta's hint naming the newest checkpoint
    runs/<start:020>-<sha256>.jsonl       lines of $POND/runs.jsonl, from byte ``start``
    meta/<sha256>-<name>                  the pond's retention floor and commit archive
    pushes/<version:020>.json             the push record of each Delta version
    pushes/floor.json                     after ``pond backup prune``: the kept window

``pushes/floor.json`` (``Floor``, written by ``duckpond.backup.prune``) says that the
records and log entries before its ``version`` are gone or going: the remote then holds
log entry 0 (the pond id), a Delta checkpoint at ``version`` (which lets deltalake read
the table without the older entries), the data files live there and their blobs, with
sha256 and size, and the records from ``version`` on, whose chain starts at the
record whose sha256 the floor gives.  ``removing`` lists what the prune that wrote it
still deletes (a prune killed midway is finished by the next).

``data/`` is therefore a Delta table that deltalake, DataFusion or Polars read in place,
and a pond that ``pond --pond s3://...`` reads without restoring.  A push record names
every object its version needs (the log entry, the data files it adds, the blobs their
rows name) with sha256 and size, the pond id, the version's pond transaction, and the
sha256 of the previous record (a chain); its own ``checksum`` covers the rest.  Restore
and ``verify --deep`` check every byte against it.

A version's checkpoint, when the pond has one as the version is pushed, is named by that
version's record and sent right after its log entry (a reader then never replays the
whole log, in place or once restored).  ``_last_checkpoint`` is Delta's hint, not data:
it is the one object a push rewrites, only after the checkpoint it names is there, and
no record names it (a reader that finds it stale or absent lists the log instead;
restore writes its own).

``$POND/runs.jsonl`` (the run records, beside the oplog) is append-only: each push
sends the whole lines added since the last one as ``runs/<start>-<sha256>.jsonl``, named
by the record of the push's newest version, whose ``runs_end`` says how many bytes of
run records the remote holds through it.  Restore joins the pieces in order.

``$POND/data/_pond/retention.json`` and ``transactions.parquet`` (what ``pond maintain
--keep`` kept, and the commit metadata of the transactions it removed; see
``tlogfs.retention``) live beside the Delta table, not in it.  When either changed since
the last push, the push sends it as ``meta/<sha256>-<name>`` (by content: never
replaced) and names it in the record of the first version it pushes that no pond
transaction made (the maintenance commit that went with the change), else of its first
version.  A restore puts back the newest of each that the records it restores name, so a
restored pond refuses, by name, the transactions its source no longer held, and ``pond
log`` lists the archived ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptDataError
from ..tlogfs.layout import (
    BACKUP_META_PREFIX,
    BACKUP_RECORDS_PREFIX,
    BLOB_PREFIX,
    DATA_DIR,
    LARGE_FILES_DIR,
)

LOG_PREFIX = f"{DATA_DIR}/_delta_log/"
BLOBS_PREFIX = f"{DATA_DIR}/{LARGE_FILES_DIR}/"
RECORDS_PREFIX = BACKUP_RECORDS_PREFIX
RECORD_FORMAT = "duckpond-push/1"
FLOOR_KEY = f"{RECORDS_PREFIX}floor.json"
FLOOR_FORMAT = "duckpond-floor/1"


def log_key(version: int) -> str:
    return f"{LOG_PREFIX}{version:020d}.json"


def record_key(version: int) -> str:
    return f"{RECORDS_PREFIX}{version:020d}.json"


def blob_key(sha256: str) -> str:
    return f"{BLOBS_PREFIX}{BLOB_PREFIX}{sha256}"


RUNS_PREFIX = "runs/"
META_PREFIX = BACKUP_META_PREFIX
META_FILES = ("retention.json", "transactions.parquet")
"""The files of ``$POND/data/_pond`` a backup carries (``tlogfs.retention``'s names)."""


def meta_key(name: str, sha256: str) -> str:
    return f"{META_PREFIX}{sha256}-{name}"


def meta_name(key: str) -> str | None:
    """The file name in ``meta/<sha256>-<name>``, if it is one of ``META_FILES``."""
    if not key.startswith(META_PREFIX) or len(key) <= len(META_PREFIX) + 65:
        return None
    name = key[len(META_PREFIX) + 65 :]
    return name if name in META_FILES and key[len(META_PREFIX) + 64] == "-" else None


LAST_CHECKPOINT_KEY = f"{LOG_PREFIX}_last_checkpoint"


def checkpoint_key(version: int) -> str:
    return f"{LOG_PREFIX}{version:020d}.checkpoint.parquet"


def runs_key(start: int, sha256: str) -> str:
    """Run records from byte ``start``: by offset and content (an interrupted push's piece
    and the next push's, which may have grown, never share a name)."""
    return f"{RUNS_PREFIX}{start:020d}-{sha256}.jsonl"


def runs_start(key: str) -> int | None:
    """The byte offset in ``runs/<start>-<sha256>.jsonl``; None for any other key."""
    digits = key[len(RUNS_PREFIX) : len(RUNS_PREFIX) + 20] if key.startswith(RUNS_PREFIX) else ""
    return int(digits) if len(digits) == 20 and digits.isdigit() else None


def runs_chain(objects: Iterable[RemoteObject]) -> list[RemoteObject]:
    """The run-record pieces among ``objects`` (``runs/<start>-<sha256>.jsonl``) in byte
    order, each starting where the one before ended (the first at byte 0).

    Raises ``CorruptDataError`` naming the first piece out of place (a piece lost, or one
    another history wrote) or a key under ``runs/`` that names no piece.
    """
    pieces: list[tuple[int, RemoteObject]] = []
    for obj in objects:
        if obj.key.startswith(RUNS_PREFIX):
            start = runs_start(obj.key)
            if start is None:
                raise CorruptDataError(f"{obj.key} does not name a piece of run records")
            pieces.append((start, obj))
    pieces.sort(key=lambda piece: piece[0])
    end = 0
    for start, obj in pieces:
        if start != end:
            raise CorruptDataError(
                f"{obj.key}: run records from byte {start}, but those before end at {end}"
            )
        end += obj.size
    return [obj for _, obj in pieces]


def data_key(add_path: str) -> str:
    """The key of a data file named by a Delta ``add`` action (relative to the table)."""
    return f"{DATA_DIR}/{add_path}"


def version_of(key: str, prefix: str) -> int | None:
    """The version in ``<prefix><20 digits>.json``; None for any other key (checkpoints...)."""
    if not key.startswith(prefix) or not key.endswith(".json"):
        return None
    digits = key[len(prefix) : -len(".json")]
    return int(digits) if len(digits) == 20 and digits.isdigit() else None


@dataclass(frozen=True)
class RemoteObject:
    """One object a version needs: its key under the backup URL, sha256 (hex) and size."""

    key: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PushRecord:
    """The push record of one Delta version (see the module docstring)."""

    pond_id: str
    version: int
    txn_seq: int | None
    previous: str | None
    objects: tuple[RemoteObject, ...]
    runs_end: int | None = None
    """Bytes of run records the remote holds through this version (None: older records)."""

    @property
    def log(self) -> RemoteObject:
        """The version's Delta log entry (always the first object)."""
        return self.objects[0]

    def encode(self) -> bytes:
        """Canonical JSON bytes: the same record always encodes to the same bytes."""
        body: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "pond_id": self.pond_id,
            "version": self.version,
            "txn_seq": self.txn_seq,
            "previous": self.previous,
            "objects": [[o.key, o.sha256, o.size] for o in self.objects],
        }
        if self.runs_end is not None:
            body["runs_end"] = self.runs_end
        return _sealed(body)

    @classmethod
    def decode(cls, data: bytes, where: str) -> PushRecord:
        """Parse and check a record; ``CorruptDataError`` naming ``where`` if it was altered."""
        try:
            body = _unsealed(data, RECORD_FORMAT, f"push record {where}")
            objects = tuple(RemoteObject(str(k), str(s), int(n)) for k, s, n in body["objects"])
            record = cls(
                str(body["pond_id"]),
                int(body["version"]),
                None if body["txn_seq"] is None else int(body["txn_seq"]),
                None if body["previous"] is None else str(body["previous"]),
                objects,
                None if body.get("runs_end") is None else int(body["runs_end"]),
            )
        except CorruptDataError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CorruptDataError(f"push record {where} cannot be read: {e}") from None
        if not objects:
            raise CorruptDataError(f"push record {where} names no log entry")
        return record


@dataclass(frozen=True)
class Floor:
    """The kept window of a pruned remote (``pushes/floor.json``; module docstring).

    ``earliest_txn``: the earliest pond transaction a restore can reach; ``version``: the
    Delta version that committed it; ``record_sha256``: the sha256 of that version's push
    record (the chain's anchor); ``removed_at``: when the prune ran (ISO 8601 UTC);
    ``objects``: what the snapshot at ``version`` needs beyond the kept records (log
    entry 0, the checkpoint, live data files, their blobs), as groups, one per Delta
    version that added them (a group's blobs are those its version's record named);
    ``removing``: keys still to delete, and ``versions``: the range ``[lo, hi)`` whose
    records and log entries are still to delete.
    """

    pond_id: str
    earliest_txn: int
    version: int
    record_sha256: str
    removed_at: str
    objects: tuple[tuple[RemoteObject, ...], ...]
    removing: tuple[str, ...] = ()
    versions: tuple[int, int] = (0, 0)

    def all_objects(self) -> list[RemoteObject]:
        return [o for group in self.objects for o in group]

    def encode(self) -> bytes:
        body: dict[str, Any] = {
            "format": FLOOR_FORMAT,
            "pond_id": self.pond_id,
            "earliest_txn": self.earliest_txn,
            "version": self.version,
            "record_sha256": self.record_sha256,
            "removed_at": self.removed_at,
            "objects": [[[o.key, o.sha256, o.size] for o in g] for g in self.objects],
            "removing": list(self.removing),
            "versions": list(self.versions),
        }
        return _sealed(body)

    @classmethod
    def decode(cls, data: bytes, where: str) -> Floor:
        """Parse and check a floor; ``CorruptDataError`` naming ``where`` if it was altered."""
        try:
            body = _unsealed(data, FLOOR_FORMAT, where)
            lo, hi = (int(v) for v in body["versions"])
            return cls(
                str(body["pond_id"]),
                int(body["earliest_txn"]),
                int(body["version"]),
                str(body["record_sha256"]),
                str(body["removed_at"]),
                tuple(
                    tuple(RemoteObject(str(k), str(s), int(n)) for k, s, n in g)
                    for g in body["objects"]
                ),
                tuple(str(k) for k in body["removing"]),
                (lo, hi),
            )
        except CorruptDataError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CorruptDataError(f"{where} cannot be read: {e}") from None


def _sealed(body: dict[str, Any]) -> bytes:
    """``body`` as one JSON line with its checksum added (a record's or a floor's bytes)."""
    body["checksum"] = _checksum(body)
    return (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _unsealed(data: bytes, form: str, what: str) -> dict[str, Any]:
    """The body of ``_sealed`` bytes of format ``form``, checksum checked and removed.

    Raises ``CorruptDataError`` naming ``what`` if it was altered; ``ValueError``,
    ``KeyError`` or ``AttributeError`` if it is not such a body at all (the callers name
    ``what`` as unreadable).
    """
    body = json.loads(data)
    checksum = body.pop("checksum")
    if body.get("format") != form:
        raise ValueError(f"unknown format {body.get('format')!r}")
    if checksum != _checksum(body):
        raise CorruptDataError(f"{what} was altered (its checksum differs)")
    return dict(body)


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
