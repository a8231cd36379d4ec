"""What ``pond maintain --keep`` kept: the retention floor and the archived commit metadata.

Two small files in ``data/_pond/``, which maintenance never removes:

- ``retention.json``: ``{"earliest_txn": K, "removed_at": ISO time,
  "removed_by": "pond maintain"}``.  The state after any transaction from K on
  reads exactly as it did; an older one is refused (``HistoryRemovedError``)
  naming K, when the older content went and what removed it (``pond maintain``
  here; a record without ``removed_by``, as a restore from a pruned backup
  writes, is worded for either).  It is written, atomically, before anything
  is removed.
- ``transactions.parquet``: every transaction's commit info (as Delta's
  history gives it, without Delta's own operation keys), written before any
  log entry is removed, so ``pond log`` lists every transaction ever made.
  One row a transaction, one column a key (int64 where every value is an
  integer, a UTC timestamp where every value is an ISO time that prints back
  the same, else text; numbers and times delta-encoded), zstd-compressed:
  about 7 bytes a transaction where one JSON line took 190.  Ponds maintained before it have
  ``transactions.jsonl`` (one JSON object a line): it is still read, and the
  next archive folds it into the Parquet file and removes it.

A pond kept on S3 keeps both on its store, at the same keys under ``data/``, each
replaced by a compare-and-swap put that merges with what another machine wrote
(``tablefiles``); every open of such a pond reads the floor there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import HistoryRemovedError, PondCorruptError
from ..timeparse import iso
from .history import DELTA_COMMIT_KEYS
from .layout import META_DIR
from .tablefiles import DirTableFiles, TableFiles

_KEEP = {"timestamp", "version"}
RETENTION_FILE = "retention.json"
ARCHIVE_FILE = "transactions.parquet"
LEGACY_ARCHIVE_FILE = "transactions.jsonl"
# A column whose values are not all integers or all strings holds JSON text; one whose
# values are all ISO 8601 times (that print back the same) holds timestamps.
_JSON_FIELD = {b"json": b"1"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_FIELD = {b"iso": b"1"}


@dataclass(frozen=True)
class Retention:
    """The earliest transaction whose state is kept, when older content was removed (UTC),
    and by what (``"pond maintain"``; None: not recorded, e.g. a restore of a backup
    that ``pond backup prune`` pruned)."""

    earliest_txn: int
    removed_at: datetime
    removed_by: str | None = None

    def refuse(self, txn: int) -> HistoryRemovedError:
        """The error for a read at ``txn`` (before ``earliest_txn``)."""
        when = iso(self.removed_at)
        if self.removed_by is not None:
            what = f"{self.removed_by} removed the content of transactions before "
            what += f"{self.earliest_txn} at {when}"
        else:
            what = (
                f"the content of transactions before {self.earliest_txn} was removed at "
                f"{when} (by pond maintain, or by pond backup prune from the backup this "
                "pond was restored from)"
            )
        error = HistoryRemovedError(
            f"transaction {txn} is no longer kept: {what}; "
            f"the earliest kept is {self.earliest_txn}",
            txn=txn,
        )
        error.earliest = self.earliest_txn
        return error


def _files(where: Path | TableFiles) -> TableFiles:
    return DirTableFiles(where) if isinstance(where, Path) else where


def read_retention(where: Path | TableFiles) -> Retention | None:
    """The floor ``maintain`` recorded, or None if it never removed history.

    ``where``: the table's directory (``$POND/data``) or its ``TableFiles``.
    """
    data = _files(where).read(f"{META_DIR}/{RETENTION_FILE}")
    if data is None:
        return None
    record = json.loads(data)
    by = record.get("removed_by")
    return Retention(
        int(record["earliest_txn"]),
        datetime.fromisoformat(record["removed_at"]),
        by if isinstance(by, str) else None,
    )


def write_retention(where: Path | TableFiles, retention: Retention) -> None:
    """Record the floor; a higher one already there stays (two machines' ``maintain``),
    and so does an equal one (a restore's floor over the record it put back, which may
    say what removed the history)."""

    def update(current: bytes | None) -> bytes:
        if (
            current is not None
            and int(json.loads(current)["earliest_txn"]) >= retention.earliest_txn
        ):
            return current
        body: dict[str, Any] = {
            "earliest_txn": retention.earliest_txn,
            "removed_at": iso(retention.removed_at),
        }
        if retention.removed_by is not None:
            body["removed_by"] = retention.removed_by
        return (json.dumps(body) + "\n").encode()

    _files(where).update(f"{META_DIR}/{RETENTION_FILE}", update)


def _parse_archive(
    parquet: bytes | None, legacy: bytes | None, where: str
) -> dict[int, dict[str, Any]]:
    """The archived commit infos by transaction: a legacy JSON-lines archive's, then the
    Parquet archive's (``PondCorruptError`` naming ``where`` if it cannot be read)."""
    by_txn: dict[int, dict[str, Any]] = {}
    for line in (legacy or b"").decode("utf-8").splitlines():
        if line.strip():
            commit = json.loads(line)
            by_txn[int(commit["txn_seq"])] = commit
    if parquet is None:
        return by_txn
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(pa.BufferReader(parquet)).read()
    except (OSError, pa.ArrowException) as e:
        raise PondCorruptError(f"{where} cannot be read: {e}") from None
    columns = {}
    for f in table.schema:
        values = table.column(f.name).to_pylist()
        if f.metadata == _JSON_FIELD:
            values = [None if v is None else json.loads(v) for v in values]
        elif f.metadata == _ISO_FIELD:
            values = [None if v is None else v.isoformat() for v in values]
        columns[f.name] = values
    for i in range(table.num_rows):
        commit = {k: v[i] for k, v in columns.items() if v[i] is not None}
        by_txn.setdefault(int(commit["txn_seq"]), commit)
    return by_txn


def archived_commits(where: Path | TableFiles) -> list[dict[str, Any]]:
    """The archived commit infos, oldest first (empty before the first ``maintain --keep``).

    ``where``: the table's directory or its ``TableFiles``.  Raises ``PondCorruptError``
    if the archive cannot be read.
    """
    files = _files(where)
    parquet = files.read(f"{META_DIR}/{ARCHIVE_FILE}")
    legacy = files.read(f"{META_DIR}/{LEGACY_ARCHIVE_FILE}")
    by_txn = _parse_archive(parquet, legacy, f"{META_DIR}/{ARCHIVE_FILE}")
    return [by_txn[t] for t in sorted(by_txn)]


def archive_commits(where: Path | TableFiles, commits: Iterable[Mapping[str, Any]]) -> None:
    """Add pond commits (those with a ``txn_seq``) to the archive, one per transaction.

    The archive is replaced whole (a temporary file renamed into place, or on a store a
    compare-and-swap put merged with another machine's); only then does a legacy
    ``transactions.jsonl`` go.
    """
    files = _files(where)
    fresh = list(commits)
    legacy = files.read(f"{META_DIR}/{LEGACY_ARCHIVE_FILE}")

    def update(current: bytes | None) -> bytes:
        return merged_archive(current, fresh, legacy)

    files.update(f"{META_DIR}/{ARCHIVE_FILE}", update)
    if legacy is not None:
        files.delete([f"{META_DIR}/{LEGACY_ARCHIVE_FILE}"])


def merged_archive(
    current: bytes | None, commits: Iterable[Mapping[str, Any]], legacy: bytes | None = None
) -> bytes:
    """The bytes of an archive (``transactions.parquet``) holding what ``current`` (an
    archive's bytes; None: none yet) and ``legacy`` (JSON lines) hold, and ``commits``
    (Delta commit infos with ``version``; those with a ``txn_seq``, one per transaction,
    the first kept).  ``PondCorruptError`` if ``current`` cannot be read."""
    by_txn = _parse_archive(current, legacy, f"{META_DIR}/{ARCHIVE_FILE}")
    for commit in commits:
        if "txn_seq" in commit:
            # Delta's own keys (operation parameters, metrics) say nothing pond log shows.
            kept = {k: v for k, v in commit.items() if k not in DELTA_COMMIT_KEYS or k in _KEEP}
            by_txn.setdefault(int(commit["txn_seq"]), kept)
    return _parquet_bytes([by_txn[t] for t in sorted(by_txn)])


def union_archives(archives: list[bytes], where: str) -> bytes:
    """One archive holding every transaction the ``archives`` (their bytes) hold: those a
    pond's ``maintain`` and a backup's ``prune`` each archived.  ``PondCorruptError``
    naming ``where`` if one cannot be read."""
    by_txn: dict[int, dict[str, Any]] = {}
    for data in archives:
        by_txn.update(_parse_archive(data, None, where))
    return _parquet_bytes([by_txn[t] for t in sorted(by_txn)])


def _parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    """One row a commit info, one column a key (see the module doc), zstd."""
    # Imported here: the records above are read on paths (a backup push) that import
    # no pyarrow.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .arrays import int64s, strings

    micros = pa.timestamp("us", tz="UTC")

    keys = sorted({k for row in rows for k in row})
    arrays, fields = [], []
    numbers: list[str] = []
    for key in keys:
        values = [row.get(key) for row in rows]
        present = [v for v in values if v is not None]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            arrays.append(int64s(values))
            fields.append(pa.field(key, pa.int64()))
            numbers.append(key)
        elif all(isinstance(v, str) for v in present) and (times := _iso_times(values)):
            arrays.append(int64s(times, micros))
            fields.append(pa.field(key, micros, metadata=_ISO_FIELD))
            numbers.append(key)
        elif all(isinstance(v, str) for v in present):
            arrays.append(strings(values))
            fields.append(pa.field(key, pa.string()))
        else:
            text = [None if v is None else json.dumps(v, default=str) for v in values]
            arrays.append(strings(text))
            fields.append(pa.field(key, pa.string(), metadata=_JSON_FIELD))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    out = pa.BufferOutputStream()
    # Numbers and times grow steadily: delta-encoded they take a few bits a row, where a
    # dictionary of unique values takes more than the values themselves.
    pq.write_table(
        table,
        out,
        compression="zstd",
        compression_level=19,
        use_dictionary=[k for k in keys if k not in numbers],
        column_encoding={k: "DELTA_BINARY_PACKED" for k in numbers},
    )
    return bytes(out.getvalue().to_pybytes())


def _iso_times(values: list[Any]) -> list[int | None] | None:
    """Microseconds since the epoch for ISO 8601 times with a zone that print back the
    same (``datetime.isoformat``), or None if any value is not such a time."""
    found: list[int | None] = []
    for v in values:
        if v is None:
            found.append(None)
            continue
        try:
            t = datetime.fromisoformat(v)
        except ValueError:
            return None
        if t.tzinfo is None or t.utcoffset() != timedelta(0) or t.isoformat() != v:
            return None
        found.append((t - _EPOCH) // timedelta(microseconds=1))
    return found
