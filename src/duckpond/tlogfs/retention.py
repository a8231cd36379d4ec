"""What ``pond maintain --keep`` kept: the retention floor and the archived commit metadata.

Two small files in ``data/_pond/``, which maintenance never removes:

- ``retention.json``: ``{"earliest_txn": K, "removed_at": ISO time}``.  The
  state after any transaction from K on reads exactly as it did; an older
  one is refused (``HistoryRemovedError``) naming K and when the older
  content went.  It is written, atomically, before anything is removed.
- ``transactions.jsonl``: every transaction's commit info (one JSON object
  a line, as Delta's history gives it), written before any log entry is
  removed, so ``pond log`` lists every transaction ever made.

A pond kept on S3 keeps both on its store, at the same keys under ``data/``, each
replaced by a compare-and-swap put that merges with what another machine wrote
(``tablefiles``); every open of such a pond reads the floor there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import HistoryRemovedError
from ..timeparse import iso
from .history import DELTA_COMMIT_KEYS
from .layout import META_DIR
from .tablefiles import DirTableFiles, TableFiles

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
    return Retention(int(record["earliest_txn"]), datetime.fromisoformat(record["removed_at"]))


def write_retention(where: Path | TableFiles, retention: Retention) -> None:
    """Record the floor; a higher one already there stays (two machines' ``maintain``)."""

    def update(current: bytes | None) -> bytes:
        if (
            current is not None
            and int(json.loads(current)["earliest_txn"]) > retention.earliest_txn
        ):
            return current
        body = {"earliest_txn": retention.earliest_txn, "removed_at": iso(retention.removed_at)}
        return (json.dumps(body) + "\n").encode()

    _files(where).update(f"{META_DIR}/{RETENTION_FILE}", update)


def _parse_archive(data: bytes | None) -> list[dict[str, Any]]:
    text = data.decode("utf-8") if data is not None else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def archived_commits(where: Path | TableFiles) -> list[dict[str, Any]]:
    """The archived commit infos, oldest first (empty before the first ``maintain --keep``)."""
    return _parse_archive(_files(where).read(f"{META_DIR}/{ARCHIVE_FILE}"))


def archive_commits(where: Path | TableFiles, commits: Iterable[Mapping[str, Any]]) -> None:
    """Add pond commits (those with a ``txn_seq``) to the archive, one per transaction."""
    fresh = list(commits)

    def update(current: bytes | None) -> bytes:
        by_txn = {int(c["txn_seq"]): dict(c) for c in _parse_archive(current)}
        for commit in fresh:
            if "txn_seq" in commit:
                # Delta's own keys (operation parameters, metrics) say nothing pond log shows.
                kept = {k: v for k, v in commit.items() if k not in DELTA_COMMIT_KEYS or k in _KEEP}
                by_txn.setdefault(int(commit["txn_seq"]), kept)
        text = "".join(json.dumps(by_txn[t], default=str) + "\n" for t in sorted(by_txn))
        return text.encode("utf-8")

    _files(where).update(f"{META_DIR}/{ARCHIVE_FILE}", update)
