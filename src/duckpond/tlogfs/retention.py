"""What ``pond maintain --keep`` kept: the retention floor and the archived commit metadata.

Two small files in ``data/_pond/``, which maintenance never removes:

- ``retention.json``: ``{"earliest_txn": K, "removed_at": ISO time}``.  The
  state after any transaction from K on reads exactly as it did; an older
  one is refused (``HistoryRemovedError``) naming K and when the older
  content went.  It is written, atomically, before anything is removed.
- ``transactions.parquet``: every transaction's commit info (as Delta's
  history gives it, without Delta's own operation keys), written before any
  log entry is removed, so ``pond log`` lists every transaction ever made.
  One row a transaction, one column a key (int64 where every value is an
  integer, a UTC timestamp where every value is an ISO time that prints back
  the same, else text; numbers and times delta-encoded), zstd-compressed:
  about 7 bytes a transaction where one JSON line took 190.  Ponds maintained before it have
  ``transactions.jsonl`` (one JSON object a line): it is still read, and the
  next archive folds it into the Parquet file and removes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import HistoryRemovedError, PondCorruptError
from ..timeparse import iso
from .blobs import fsync_dir
from .history import DELTA_COMMIT_KEYS
from .layout import META_DIR

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
    """The earliest transaction whose state is kept, and when older content was removed (UTC)."""

    earliest_txn: int
    removed_at: datetime

    def refuse(self, txn: int) -> HistoryRemovedError:
        """The error for a read at ``txn`` (before ``earliest_txn``)."""
        error = HistoryRemovedError(
            f"transaction {txn} is no longer kept: pond maintain removed the content of "
            f"transactions before {self.earliest_txn} at {iso(self.removed_at)}; "
            f"the earliest kept is {self.earliest_txn}",
            txn=txn,
        )
        error.earliest = self.earliest_txn
        return error


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_retention(table_root: Path) -> Retention | None:
    """The floor ``maintain`` recorded, or None if it never removed history."""
    try:
        record = json.loads((table_root / META_DIR / RETENTION_FILE).read_text())
        return Retention(int(record["earliest_txn"]), datetime.fromisoformat(record["removed_at"]))
    except FileNotFoundError:
        return None


def write_retention(table_root: Path, retention: Retention) -> None:
    record = {"earliest_txn": retention.earliest_txn, "removed_at": iso(retention.removed_at)}
    _write_atomic(table_root / META_DIR / RETENTION_FILE, json.dumps(record) + "\n")


def archived_commits(table_root: Path) -> list[dict[str, Any]]:
    """The archived commit infos, oldest first (empty before the first ``maintain --keep``).

    Raises ``PondCorruptError`` if the archive cannot be read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = table_root / META_DIR
    by_txn: dict[int, dict[str, Any]] = {}
    try:
        text = (meta / LEGACY_ARCHIVE_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        pass
    else:
        for line in text.splitlines():
            if line.strip():
                commit = json.loads(line)
                by_txn[int(commit["txn_seq"])] = commit
    try:
        table = pq.ParquetFile(meta / ARCHIVE_FILE).read()
    except FileNotFoundError:
        table = None
    except (OSError, pa.ArrowException) as e:
        raise PondCorruptError(f"{meta / ARCHIVE_FILE} cannot be read: {e}") from None
    if table is not None:
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
    return [by_txn[t] for t in sorted(by_txn)]


def archive_commits(table_root: Path, commits: Iterable[Mapping[str, Any]]) -> None:
    """Add pond commits (those with a ``txn_seq``) to the archive, one per transaction.

    The archive is rewritten whole under a temporary name, fsynced and renamed into
    place; only then does a legacy ``transactions.jsonl`` go.
    """
    by_txn = {int(c["txn_seq"]): dict(c) for c in archived_commits(table_root)}
    for commit in commits:
        if "txn_seq" in commit:
            # Delta's own keys (operation parameters, metrics) say nothing pond log shows.
            kept = {k: v for k, v in commit.items() if k not in DELTA_COMMIT_KEYS or k in _KEEP}
            by_txn.setdefault(int(commit["txn_seq"]), kept)
    rows = [by_txn[t] for t in sorted(by_txn)]
    meta = table_root / META_DIR
    meta.mkdir(exist_ok=True)
    tmp = meta / f".{ARCHIVE_FILE}.tmp"
    _write_parquet(tmp, rows)
    os.replace(tmp, meta / ARCHIVE_FILE)
    (meta / LEGACY_ARCHIVE_FILE).unlink(missing_ok=True)
    fsync_dir(meta)


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
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
    with open(path, "wb") as f:
        # Numbers and times grow steadily: delta-encoded they take a few bits a row,
        # where a dictionary of unique values takes more than the values themselves.
        pq.write_table(
            table,
            f,
            compression="zstd",
            compression_level=19,
            use_dictionary=[k for k in keys if k not in numbers],
            column_encoding={k: "DELTA_BINARY_PACKED" for k in numbers},
        )
        f.flush()
        os.fsync(f.fileno())


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
