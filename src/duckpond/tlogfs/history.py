"""Commit history: the pond's transactions as typed records, read from the Delta commit log.

Each pond transaction is one Delta commit whose commit info carries the pond's
metadata (``txn_seq``, the command line, the user, the time: see
``commits.commit_metadata``), so ``pond log`` reads history without touching
data files.  Delta's own commits (compaction, checkpoints) have no ``txn_seq``
and are not transactions.

This module imports no heavy library: it works on the commit-info dicts that
``DeltaTable.history`` returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ConfigError
from ..timeparse import iso

# Keys of Delta's own commit info, which pond metadata must not shadow.
DELTA_COMMIT_KEYS = frozenset(
    {
        "timestamp",
        "operation",
        "operationParameters",
        "operationMetrics",
        "engineInfo",
        "clientVersion",
        "version",
        "readVersion",
        "isolationLevel",
        "isBlindAppend",
        "userMetadata",
        "userId",
        "userName",
    }
)
# The keys the pond itself writes into every commit's info.
POND_COMMIT_KEYS = frozenset({"txn_seq", "command", "user", "time", "versions", "pond_id"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TxnRecord:
    """One pond transaction as its Delta commit recorded it.

    ``timestamp`` is when it committed (UTC); ``command`` the argv list of the
    command that made it; ``delta_version`` the Delta table version of its
    commit; ``extra`` any other metadata the committer gave (``commit(metadata=...)``).
    """

    txn_seq: int
    timestamp: datetime
    command: list[str]
    user: str
    delta_version: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    changes: int | None = None
    content_removed: bool = False
    """True when ``pond maintain --keep`` removed this transaction's state (before its floor)."""

    def to_json(self) -> dict[str, Any]:
        """The record as ``pond --json log`` prints it: ``{txn_seq, timestamp, command, user,
        changes, content_removed}`` (``changes``: node versions written; null for commits made
        before it was recorded; ``content_removed``: its state can no longer be read)."""
        return {
            "txn_seq": self.txn_seq,
            "timestamp": iso(self.timestamp),
            "command": list(self.command),
            "user": self.user,
            "changes": self.changes,
            "content_removed": self.content_removed,
        }

    @classmethod
    def from_commit(cls, commit: Mapping[str, Any]) -> TxnRecord:
        """Decode one Delta commit's info; it must carry a ``txn_seq``."""
        try:
            timestamp = _as_utc(datetime.fromisoformat(str(commit["time"])))
        except (KeyError, ValueError):
            # Commits written before the pond recorded its own time.
            timestamp = _EPOCH + timedelta(milliseconds=int(commit.get("timestamp", 0)))
        raw = commit.get("command", "[]")
        try:
            command = json.loads(raw)
        except (TypeError, ValueError):
            command = [str(raw)]
        version = commit.get("version")
        changes = commit.get("versions")
        return cls(
            txn_seq=int(commit["txn_seq"]),
            timestamp=timestamp,
            command=[str(a) for a in command] if isinstance(command, list) else [str(command)],
            user=str(commit.get("user", "")),
            delta_version=None if version is None else int(version),
            changes=int(changes)
            if isinstance(changes, str | int) and str(changes).isdigit()
            else None,
            extra={
                k: v
                for k, v in commit.items()
                if k not in DELTA_COMMIT_KEYS and k not in POND_COMMIT_KEYS
            },
        )


# ``DeltaTable.history``: the newest ``limit`` commits' info (all when None), newest first.
HistoryReader = Callable[[int | None], Sequence[Mapping[str, Any]]]


def transactions(
    history: HistoryReader, last_txn: int, limit: int | None = None, floor: int = 1
) -> list[TxnRecord]:
    """The transactions up to ``last_txn``, newest first.

    With ``limit``, only the newest commits are read (more if maintenance
    commits or a past view hide some), so ``pond log -n 5`` costs the same on
    a pond of any age.  Transactions before ``floor`` (the earliest whose state
    ``pond maintain --keep`` kept) are marked ``content_removed``.
    """
    ask = None if limit is None else limit + 8
    while True:
        commits = history(ask)
        found = [TxnRecord.from_commit(c) for c in commits if "txn_seq" in c]
        visible = [t for t in found if t.txn_seq <= last_txn]
        if ask is None or limit is None or len(visible) >= limit or len(commits) < ask:
            break
        ask *= 4
    visible.sort(key=lambda t: t.txn_seq, reverse=True)
    if floor > 1:
        visible = [replace(t, content_removed=t.txn_seq < floor) for t in visible]
    return visible if limit is None else visible[:limit]


def txn_at(history: HistoryReader, at: datetime) -> int:
    """The last transaction committed at or before ``at`` (a naive time is UTC).

    Raises ``ConfigError`` if the pond's first transaction is later.
    """
    at = _as_utc(at)
    found = [TxnRecord.from_commit(c) for c in history(None) if "txn_seq" in c]
    before = [t.txn_seq for t in found if t.timestamp <= at]
    if not before:
        first = min((t.timestamp for t in found), default=None)
        since = f" (the first was at {first.isoformat()})" if first else ""
        raise ConfigError(f"no transaction at or before {at.isoformat()}{since}")
    return max(before)


def _as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
