"""Maintenance of the oplog table: compaction and checkpoints, so costs stay flat.

Every ``interval`` Delta versions past the last checkpoint, a commit compacts
small files and writes a checkpoint, so commit and open costs stay flat.
Between those runs, a partition that gathered more than
``PARTITION_FILE_LIMIT`` data files is compacted on its own.  Those commits
carry no ``txn_seq`` and are not pond transactions.  Like a transaction's, they
land only on the snapshot they were computed from (``NO_REBASE``).

A table several writers share without a lock (a pond on S3, ``compact=False``) is
never compacted, only checkpointed: deltalake 1.6's ``optimize`` rebases its commit
onto a newer version whatever ``max_commit_retries`` says (seen: read at version 101,
committed as 106), and two writers compacting one partition at once both landed,
each adding the same rows again, so the partition read every row twice or more.  Nothing here ever
removes a file: the replaced ones go only when the user asks for it with a
kept window (``pond maintain --keep``, ``reclaim``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from ..errors import one_line
from .commits import HOOKS, NO_REBASE, WRITER
from .oplog import PARTITION_COLUMN

MAINTENANCE_INTERVAL = 100
# Small data files one partition may gather before it is compacted on its own.
PARTITION_FILE_LIMIT = 16
# Compaction leaves files of this size alone.  Without a bound, every run
# rewrote a growing partition whole (a year of a station's series: its whole
# history every 16 commits), so the cost of a commit and the disk left to
# `maintain --keep` grew with the pond's age; with it each byte is rewritten
# a bounded number of times, and a partition reads as a few files of this size.
COMPACT_TARGET_BYTES = 8 << 20


def add_actions(table: DeltaTable) -> pa.Table:
    """The snapshot's data files, one row each (``get_add_actions(flatten=True)``)."""
    # from_stream, unlike pa.table(), does not import pandas when it is installed.
    return pa.RecordBatchReader.from_stream(table.get_add_actions(flatten=True)).read_all()


class Maintenance:
    """Compacts and checkpoints one table; ``on_files_changed`` is told of each rewrite."""

    def __init__(
        self,
        table: DeltaTable,
        data_dir: Path,
        interval: int,
        on_files_changed: Callable[[pa.Table], None],
        *,
        last_checkpoint: Callable[[], int] | None = None,
        compact: bool = True,
    ) -> None:
        self._dt = table
        self._data_dir = data_dir
        self.interval = interval
        self._changed = on_files_changed
        # A table on a store reads its _last_checkpoint there (``RemoteFiles.last_checkpoint``).
        self._read_last_checkpoint = last_checkpoint
        self._compact = compact

    def _last_checkpoint(self) -> int:
        if self._read_last_checkpoint is not None:
            return self._read_last_checkpoint()
        try:
            text = (self._data_dir / "_delta_log" / "_last_checkpoint").read_text()
            return int(json.loads(text)["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def after_commit(self, touched: set[str], actions: pa.Table) -> None:
        """Run what is due after a commit that wrote to partitions ``touched``; never raises.

        ``actions`` are the snapshot's add actions just after the commit.
        """
        try:
            if self._dt.version() - self._last_checkpoint() >= self.interval:
                self.run()
                return
            if not self._compact:
                return
            # A directory written in every commit gains a data file per commit,
            # and reading it opens each one: compact just the crowded partitions
            # between the full maintenance runs.
            parts = actions.column(f"partition.{PARTITION_COLUMN}").to_pylist()
            sizes = actions.column("size_bytes").to_pylist()
            small = [p for p, size in zip(parts, sizes, strict=True) if size < COMPACT_TARGET_BYTES]
            crowded = sorted(p for p in touched if small.count(p) > PARTITION_FILE_LIMIT)
            if crowded:
                self._dt.optimize.compact(
                    partition_filters=[(PARTITION_COLUMN, "in", crowded)],
                    target_size=COMPACT_TARGET_BYTES,
                    writer_properties=WRITER,
                    commit_properties=NO_REBASE,
                    post_commithook_properties=HOOKS,
                )
                self._changed(add_actions(self._dt))
        except Exception as e:
            # The transaction is committed and must be reported so; a failed
            # clean-up only costs speed, and the next commit retries it.
            if type(e).__name__ == "CommitFailedError":
                # Another writer (a pond on S3) committed first: the compaction, computed
                # on the older snapshot, was refused whole, which is what must happen.
                return
            warnings.warn(f"oplog maintenance failed: {_first_line(e)}", stacklevel=3)

    def run(self) -> None:
        """Compact every partition and write a checkpoint (the caller holds the write lock)."""
        if not self._compact:
            # A checkpoint is no commit: writing one beside other writers is safe.
            self._dt.create_checkpoint()
            return
        # Compaction commits with dataChange=false and no txn_seq: readers of
        # the oplog see the same rows, and `pond log` does not list it.
        self._dt.optimize.compact(
            target_size=COMPACT_TARGET_BYTES,
            writer_properties=WRITER,
            commit_properties=NO_REBASE,
            post_commithook_properties=HOOKS,
        )
        self._dt.create_checkpoint()
        self._changed(add_actions(self._dt))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    # A path in the message may hold control characters: a warning is a terminal line too.
    return one_line(text.splitlines()[0]) if text else type(e).__name__
