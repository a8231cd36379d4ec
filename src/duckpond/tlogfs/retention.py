"""What ``pond maintain --keep`` kept: the retention floor and the archived commit metadata.

Two small files in ``data/_pond/``, which maintenance never removes:

- ``retention.json``: ``{"earliest_txn": K, "removed_at": ISO time}``.  The
  state after any transaction from K on reads exactly as it did; an older
  one is refused (``HistoryRemovedError``) naming K and when the older
  content went.  It is written, atomically, before anything is removed.
- ``transactions.jsonl``: every transaction's commit info (one JSON object
  a line, as Delta's history gives it), written before any log entry is
  removed, so ``pond log`` lists every transaction ever made.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import HistoryRemovedError
from ..timeparse import iso
from .history import DELTA_COMMIT_KEYS
from .layout import META_DIR

_KEEP = {"timestamp", "version"}
RETENTION_FILE = "retention.json"
ARCHIVE_FILE = "transactions.jsonl"


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
    """The archived commit infos, oldest first (empty before the first ``maintain --keep``)."""
    try:
        text = (table_root / META_DIR / ARCHIVE_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def archive_commits(table_root: Path, commits: Iterable[Mapping[str, Any]]) -> None:
    """Add pond commits (those with a ``txn_seq``) to the archive, one per transaction."""
    by_txn = {int(c["txn_seq"]): dict(c) for c in archived_commits(table_root)}
    for commit in commits:
        if "txn_seq" in commit:
            # Delta's own keys (operation parameters, metrics) say nothing pond log shows.
            kept = {k: v for k, v in commit.items() if k not in DELTA_COMMIT_KEYS or k in _KEEP}
            by_txn.setdefault(int(commit["txn_seq"]), kept)
    text = "".join(json.dumps(by_txn[t], default=str) + "\n" for t in sorted(by_txn))
    _write_atomic(table_root / META_DIR / ARCHIVE_FILE, text)
