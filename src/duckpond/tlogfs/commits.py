"""Commits: a transaction's rows as Arrow batches, written as one Delta commit.

The commit's info carries the pond's metadata (``commit_metadata``), which
``history.TxnRecord.from_commit`` decodes.  Commits never retry: a commit
lands only on the snapshot its ``txn_seq`` was computed from.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import (
    CommitProperties,
    DeltaTable,
    PostCommitHookProperties,
    WriterProperties,
    write_deltalake,
)

from .arrays import binaries, int64s, strings
from .history import DELTA_COMMIT_KEYS
from .index import Row
from .oplog import PARTITION_COLUMN, SCHEMA

TABLE_CONFIGURATION = {
    # Without this, Delta drops log entries older than logRetentionDuration
    # once checkpoints exist, silently ending time travel to them.
    "delta.enableExpiredLogCleanup": "false",
    # The oplog only grows: refuse deletes and updates by any writer.
    # Compaction is still allowed (its removes carry dataChange=false).
    "delta.appendOnly": "true",
}

# We checkpoint on our own schedule, together with compaction (maintenance.py).
HOOKS = PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False)
# Small row groups: reading one version's content decodes one row group.
WRITER = WriterProperties(max_row_group_size=256, compression="ZSTD")

# A commit (a transaction's, or compaction's) lands only on the snapshot it was computed
# from: deltalake must not rebase it onto a newer version another writer made.
NO_REBASE = CommitProperties(max_commit_retries=0)

_RESERVED_METADATA = DELTA_COMMIT_KEYS | {"txn_seq", "time", "versions"}
_BATCH_CONTENT_LIMIT = 1 << 30

Contents = Mapping[tuple[str, int], bytes]


def create_table(
    data_dir: Path | str,
    rows: list[Row],
    contents: Contents,
    metadata: dict[str, Any],
    *,
    storage_options: dict[str, str] | None = None,
) -> None:
    """Create the oplog table (a directory, or a store URL with its ``storage_options``);
    its first commit (Delta version 0) holds ``rows``."""
    write_deltalake(
        data_dir,
        record_batches(rows, contents),
        storage_options=storage_options or None,
        mode="error",
        partition_by=[PARTITION_COLUMN],
        configuration=TABLE_CONFIGURATION,
        writer_properties=WRITER,
        # Of two creates racing on S3, the second must fail, not land as version 1.
        commit_properties=CommitProperties(custom_metadata=metadata, max_commit_retries=0),
        post_commithook_properties=HOOKS,
    )


def append(
    table: DeltaTable, rows: list[Row], contents: Contents, metadata: dict[str, Any]
) -> None:
    """Append ``rows`` as one commit; raises ``DeltaError`` if the table moved meanwhile."""
    write_deltalake(
        table,
        record_batches(rows, contents),
        mode="append",
        writer_properties=WRITER,
        # No retries: land only on the snapshot this txn_seq was computed from.
        commit_properties=CommitProperties(custom_metadata=metadata, max_commit_retries=0),
        post_commithook_properties=HOOKS,
    )


def commit_metadata(
    txn_seq: int, metadata: Mapping[str, Any] | None, changes: int | None = None
) -> dict[str, Any]:
    """The commit info of transaction ``txn_seq``: the caller's keys plus the pond's own.

    ``changes`` is the number of node versions the transaction writes, kept as
    ``versions`` (``pond log`` shows it as the transaction's changes); Delta keeps
    commit info values as text.

    ``command`` defaults to ``sys.argv`` and is stored as a JSON list; ``user``
    to the login name.  Raises ``ValueError`` for a key that would shadow
    Delta's commit info or the pond's ``txn_seq`` and ``time``.
    """
    extra = dict(metadata or {})
    clash = sorted(set(extra) & _RESERVED_METADATA)
    if clash:
        raise ValueError(f"commit metadata may not set {', '.join(clash)}")
    command = extra.pop("command", sys.argv)
    if not isinstance(command, str):
        command = json.dumps([str(a) for a in command])
    info = {
        **extra,
        "txn_seq": txn_seq,
        "command": command,
        "user": str(extra.get("user", _user())),
        "time": datetime.now(UTC).isoformat(),
    }
    if changes is not None:
        info["versions"] = str(changes)
    return info


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # No passwd entry (containers): the uid still says who it was.
        return str(os.getuid())


def _record_batch(rows: list[Row], contents: Contents) -> pa.RecordBatch:
    columns: list[pa.Array] = [
        strings([r.part_id for r in rows]),
        strings([r.node_id for r in rows]),
        strings([r.file_type for r in rows]),
        int64s([r.version for r in rows]),
        int64s([r.txn_seq for r in rows]),
        int64s([r.timestamp_us for r in rows], SCHEMA.field("timestamp").type),
        binaries([contents.get((r.node_id, r.version)) for r in rows]),
        strings([r.sha256 for r in rows]),
        int64s([r.size for r in rows]),
        int64s([r.min_event_time for r in rows]),
        int64s([r.max_event_time for r in rows]),
        strings([r.attributes for r in rows]),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def record_batches(rows: list[Row], contents: Contents) -> pa.RecordBatch | pa.RecordBatchReader:
    """The transaction's rows: one batch, unless inline content passes Arrow's 2 GiB per array."""
    groups: list[list[Row]] = [[]]
    size = 0
    for row in rows:
        length = len(contents.get((row.node_id, row.version), b""))
        if size + length > _BATCH_CONTENT_LIMIT and groups[-1]:
            groups.append([])
            size = 0
        groups[-1].append(row)
        size += length
    if len(groups) == 1:
        return _record_batch(rows, contents)
    return pa.RecordBatchReader.from_batches(
        SCHEMA, [_record_batch(group, contents) for group in groups]
    )
