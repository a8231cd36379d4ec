"""Maintenance of the oplog table: compaction and checkpoints, so costs stay flat.

Every ``interval`` Delta versions past the last checkpoint, a commit compacts
small files (into files of ``COMPACT_TARGET_BYTES``) and writes a checkpoint, so
commit and open costs stay flat.  Between those runs, a partition that gathered
more than ``PARTITION_FILE_LIMIT`` data files under ``PARTITION_COMPACT_BYTES`` is
compacted on its own, into files of that smaller size: two tiers, so neither
rewrites more than its target however old the pond.  Those commits
carry no ``txn_seq`` and are not pond transactions.  Like a transaction's, they
land only on the snapshot they were computed from (``NO_REBASE``).

A table several writers share without a lock (a pond on S3, ``compact=False``) is
never compacted as writers commit, only checkpointed, and never through ``optimize``: deltalake 1.6's ``optimize`` rebases its commit
onto a newer version whatever ``max_commit_retries`` says (seen: read at version 101,
committed as 106), and two writers compacting one partition at once both landed,
each adding the same rows again, so the partition read every row twice or more.  Nothing here ever
removes a file: the replaced ones go only when the user asks for it with a
kept window (``pond maintain --keep``, ``reclaim``).

Such a table is compacted only by ``pond maintain`` (``run(in_place=True)``), and not
through ``optimize``: the rows of each crowded partition's small files (every row from
the oldest transaction they hold on, in that partition) are written back as one
predicate overwrite (``part_id = P AND txn_seq >= T``) committed with ``NO_REBASE``,
which deltalake does honour for writes, merges and table property changes (checked:
each was refused once another commit had taken the next version, where ``optimize``
landed two versions on).  The commit lands on the version whose rows it rewrote, or not
at all (``CommitFailedError``: the caller computes it again on the new state); a writer
whose commit it beat re-applies its command on top of it.  The table is append-only, so
that commit is wrapped in lifting the property and setting it again, each also
``NO_REBASE``; a run killed in between leaves it lifted until the next ``maintain``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable

from ..errors import one_line
from .commits import HOOKS, NO_REBASE, WRITER
from .oplog import PARTITION_COLUMN
from .shared import COMMIT_RETRIES

MAINTENANCE_INTERVAL = 100
# Small data files one partition may gather before it is compacted on its own.
PARTITION_FILE_LIMIT = 16
# Compaction leaves files of this size alone.  Without a bound, every run
# rewrote a growing partition whole (a year of a station's series: its whole
# history every 16 commits), so the cost of a commit and the disk left to
# `maintain --keep` grew with the pond's age; with it each byte is rewritten
# a bounded number of times, and a partition reads as a few files of this size.
COMPACT_TARGET_BYTES = 8 << 20
# The compaction of a crowded partition between those runs packs its files under this
# size only, into files of about this size: it runs every PARTITION_FILE_LIMIT commits
# to a busy directory, so what it rewrites (and the writer's index reads again) must
# not grow with the pond's age either.  The full runs pack those into files of
# COMPACT_TARGET_BYTES, every ``interval`` Delta versions.
PARTITION_COMPACT_BYTES = 1 << 20


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
        open_file: Callable[[str], Any] | None = None,
    ) -> None:
        self._dt = table
        self._data_dir = data_dir
        self.interval = interval
        self._changed = on_files_changed
        # A table on a store reads its _last_checkpoint there (``RemoteFiles.last_checkpoint``).
        self._read_last_checkpoint = last_checkpoint
        self._compact = compact
        # How a data file (relative to the table) is opened for reading its rows.
        self._open: Callable[[str], Any] = open_file or (lambda rel: data_dir / rel)

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
            small = [
                p for p, size in zip(parts, sizes, strict=True) if size < PARTITION_COMPACT_BYTES
            ]
            crowded = sorted(p for p in touched if small.count(p) > PARTITION_FILE_LIMIT)
            if crowded:
                self._dt.optimize.compact(
                    partition_filters=[(PARTITION_COLUMN, "in", crowded)],
                    target_size=PARTITION_COMPACT_BYTES,
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

    def run(self, *, in_place: bool = False) -> None:
        """Compact every partition and write a checkpoint (the caller holds the write lock).

        A table shared without a lock is only checkpointed, unless ``in_place``: then its
        crowded partitions are compacted as the module docstring says (``maintain``).
        """
        if not self._compact:
            if in_place:
                self._compact_in_place()
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

    def _plan(
        self, only: set[str] | None = None, skip: frozenset[str] = frozenset()
    ) -> list[list[tuple[str, int, list[str]]]]:
        """Groups of (partition, oldest txn_seq to rewrite from, data files holding such
        rows) for the crowded partitions of the handle's snapshot (of ``only``, if given;
        not of ``skip``), each group about ``COMPACT_TARGET_BYTES`` of files."""
        actions = add_actions(self._dt)
        files: dict[str, list[tuple[str, int, int | None, int | None]]] = {}
        for path, size, part, low, high in zip(
            actions.column("path").to_pylist(),
            actions.column("size_bytes").to_pylist(),
            actions.column(f"partition.{PARTITION_COLUMN}").to_pylist(),
            actions.column("min.txn_seq").to_pylist(),
            actions.column("max.txn_seq").to_pylist(),
            strict=True,
        ):
            if (only is None or part in only) and part not in skip:
                files.setdefault(part, []).append((unquote(path), size, low, high))
        groups: list[list[tuple[str, int, list[str]]]] = [[]]
        group_bytes = 0
        for part, found in sorted(files.items()):
            small = [f for f in found if f[1] < COMPACT_TARGET_BYTES]
            if len(small) < 2 or any(f[2] is None or f[3] is None for f in found):
                continue  # nothing to gain, or no statistics to bound the rewrite by
            since = min(int(f[2]) for f in small)  # type: ignore[arg-type]
            sources = [f[0] for f in found if int(f[3]) >= since]  # type: ignore[arg-type]
            groups[-1].append((part, since, sources))
            group_bytes += sum(f[1] for f in found if f[0] in sources)
            if group_bytes >= COMPACT_TARGET_BYTES:
                groups.append([])
                group_bytes = 0
        return [g for g in groups if g]

    def _rewrite(self, group: list[tuple[str, int, list[str]]]) -> None:
        """One ``NO_REBASE`` predicate overwrite of a group's rows, as they are now."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        from deltalake import write_deltalake

        from .oplog import SCHEMA

        tables = []
        for part, since, sources in group:
            for rel in sources:
                rows = pq.ParquetFile(self._open(rel)).read()
                part_ids = pa.array([part] * rows.num_rows, pa.string())
                # Writers differ in string layouts (string, string_view), which Arrow's
                # filter kernels do not all take: one schema first.
                rows = rows.append_column(PARTITION_COLUMN, part_ids)
                rows = rows.select(SCHEMA.names).cast(SCHEMA)
                tables.append(rows.filter(pc.greater_equal(rows.column("txn_seq"), since)))
        predicate = " OR ".join(
            f"({PARTITION_COLUMN} = '{quoted(part)}' AND txn_seq >= {since})"
            for part, since, _ in group
        )
        write_deltalake(
            self._dt,
            pa.concat_tables(tables),
            mode="overwrite",
            predicate=predicate,
            writer_properties=WRITER,
            commit_properties=NO_REBASE,
            post_commithook_properties=HOOKS,
        )

    def _append_only(self, value: str) -> None:
        self._dt.alter.set_table_properties(
            {"delta.appendOnly": value}, commit_properties=NO_REBASE
        )

    def _compact_in_place(self) -> None:
        """Rewrite each crowded partition's small files' rows as one file, a group of
        partitions per ``NO_REBASE`` commit (``land``: each computed again on the new
        state when another writer's commit came first); ``CommitFailedError`` when one
        keeps losing.  Each partition is compacted at most once per run, so writers
        that keep adding to it cannot keep the run going."""
        done: set[str] = set()
        lifted = False
        while True:
            groups = self._plan(skip=frozenset(done))
            if not groups:
                break
            parts = {part for part, _, _ in groups[0]}
            if not lifted:
                land(self._dt, lambda: self._append_only("false"))
                lifted = True

            def rewrite(parts: set[str] = parts) -> None:
                for group in self._plan(only=parts):
                    self._rewrite(group)

            land(self._dt, rewrite)
            done |= parts
        if lifted:
            land(self._dt, lambda: self._append_only("true"))


def land(table: DeltaTable, commit: Callable[[], None], retries: int = COMMIT_RETRIES) -> None:
    """Run ``commit`` (one ``NO_REBASE`` commit computed from ``table``'s snapshot) until it
    lands: when another writer's commit took the next version first (``CommitFailedError``:
    nothing of ours landed), ``table`` catches up and ``commit`` computes it again, after a
    short random pause, up to ``retries`` times; then the last ``CommitFailedError``.
    ``commit`` must therefore read what it decides on from ``table`` each time."""
    import random
    import time

    for tried in range(retries + 1):
        try:
            commit()
            return
        except Exception as e:
            if type(e).__name__ != "CommitFailedError" or tried == retries:
                raise
        time.sleep(random.uniform(0, min(0.5, 0.02 * 2**tried)))
        table.update_incremental()


def quoted(text: str) -> str:
    """``text`` inside a SQL string literal."""
    return text.replace("'", "''")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    # A path in the message may hold control characters: a warning is a terminal line too.
    return one_line(text.splitlines()[0]) if text else type(e).__name__
