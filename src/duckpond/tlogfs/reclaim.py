"""``maintain``: compaction and a checkpoint, and with a kept window, the disk back.

The pond reads its newest Delta snapshot and filters rows by ``txn_seq``
(``index``), so the state after a transaction K needs: each node's newest
version written at or before K (for a series, whose versions together are its
content, the rows they hold together: one consolidated version can stand for
those written before K), every version written after K, the blobs those name,
and the newest snapshot's files.  With a kept window
starting at K, ``maintain`` removes the rest, in an order that a crash at
any instant leaves a pond that opens, passes ``fsck`` and reads every kept
transaction exactly; running it again finishes the job:

1. the commit info of every transaction is archived, then the floor K is
   recorded (``retention``): from then on a read before K is refused by
   name, whatever happens next;
2. the versions no kept transaction reads are deleted from the oplog, and each
   series' versions written before the window (but its newest) are replaced by
   one consolidated version (``consolidation``): its content (a blob written and
   fsynced first, if large) the rows a read of them gives, its number and
   transaction the last one's, its attributes the chain digest of the versions
   it replaced; all in one Delta commit (the table is append-only except for
   this commit), then the table's own retention settings are set to the window;
3. the oplog is compacted and checkpointed (as without a window) and the
   new files sealed;
4. the files no kept transaction reads (data files outside the newest
   snapshot, log entries and checkpoints before the newest checkpoint,
   blobs no row names, leftovers of interrupted writes) lose their seals,
   then are removed.

A reader in another process that opened the table before step 3 may find
a data file gone: it fails with a clean error (``index``) and never reads
wrong bytes, since every file is immutable and every version is verified.
Delta time travel by other engines to versions before the newest
checkpoint ends with step 4, as it does with Delta's own vacuum.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..errors import ConfigError, PondError, describe
from ..printable import counted, sized
from ..tinyfs.persistence import DIRECTORY, FILE_SERIES, ROOT_ID
from .arrays import binaries, int64s, strings
from .blobs import FAST_CHECKSUM, BlobStore, fast_checksum
from .commits import HOOKS, NO_REBASE, WRITER
from .consolidation import CONSOLIDATED, Consolidated, first_replaced, series_chain
from .layout import (
    DATA_DIR,
    DELTA_LOG_DIR,
    LARGE_FILE_THRESHOLD,
    LARGE_FILES_DIR,
    TEMP_PREFIX,
)
from .maintenance import add_actions, land, quoted
from .oplog import PARTITION_COLUMN, SCHEMA
from .reads import version_info
from .retention import Retention, archive_commits, read_retention, write_retention
from .seals import added_files, log_entry
from .tablefiles import TableFile

if TYPE_CHECKING:
    from ..tinyfs.persistence import VersionInfo
    from .persistence import DeltaPersistence

Consolidator = Callable[[str, "list[VersionInfo]", Callable[[int], bytes]], Consolidated | None]
"""Given a series' path (for messages), its versions to replace (oldest first) and a
reader of a version's verified bytes, the one version that reads the same, or None
to leave them (the pond layer's ``query.consolidate``: tlogfs does not read Parquet rows)."""

_LOG_FILE = re.compile(r"(\d{20})\.(json|checkpoint\.parquet)")


@dataclass(frozen=True)
class Removed:
    kind: str
    """data file, log entry, checkpoint, blob, or leftover (of an interrupted write)."""
    path: str
    """Relative to the pond directory."""
    bytes: int


@dataclass
class MaintainReport:
    """What ``maintain`` did, or would do with ``dry_run``."""

    dry_run: bool = False
    last_txn: int = 0
    earliest_kept_txn: int = 1
    versions_removed: int = 0
    """Node versions deleted from the oplog (read by no kept transaction, or replaced by a
    consolidated version)."""
    series_consolidated: int = 0
    """Series whose versions before the window were replaced by one version."""
    compacted: bool = False
    removed: list[Removed] = field(default_factory=list)
    cache_entries_removed: int = 0
    cache_bytes_removed: int = 0
    refusal: PondError | None = None
    """A dry run only: the error the real run would raise (a Backup that lags), None if
    it would run."""
    pushes: list[Any] = field(default_factory=list)
    """The pushes ``push_first`` made before maintaining (``duckpond.backup.PushReport``,
    each with ``to_json``), in name order."""
    seconds: float | None = None
    """The wall-clock time the whole run took (pushes included), None if not timed."""

    @property
    def bytes_reclaimed(self) -> int:
        return sum(r.bytes for r in self.removed) + self.cache_bytes_removed

    def to_json(self, *, cli: bool = False) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "last_txn": self.last_txn,
            "earliest_kept_txn": self.earliest_kept_txn,
            "versions_removed": self.versions_removed,
            "series_consolidated": self.series_consolidated,
            "compacted": self.compacted,
            "removed": [asdict(r) for r in self.removed],
            "cache_entries_removed": self.cache_entries_removed,
            "cache_bytes_removed": self.cache_bytes_removed,
            "bytes_reclaimed": self.bytes_reclaimed,
            "refused": None if self.refusal is None else describe(self.refusal, cli=cli),
            "pushes": [p.to_json() for p in self.pushes],
            "seconds": self.seconds,
        }

    def summary(self, *, cli: bool = False, files: bool = False) -> str:
        """A few lines whatever the pond's size: what is kept, the versions removed and
        series consolidated, the files removed counted and sized by kind, the cache, the
        bytes reclaimed and the time taken; a dry run the real run would refuse says so
        last, with its reason (``cli``: options as the CLI's flags).  ``files`` lists
        each file removed first, one a line (``to_json`` always lists them)."""
        verb = "would remove" if self.dry_run else "removed"
        lines = (
            [f"{verb} {r.kind} {r.path} ({r.bytes} bytes)" for r in self.removed] if files else []
        )
        kinds: dict[str, list[int]] = {}
        for r in self.removed:
            kind = kinds.setdefault(r.kind, [0, 0])
            kind[0] += 1
            kind[1] += r.bytes
        lines.append(
            f"kept transactions {self.earliest_kept_txn} to {self.last_txn}; {verb} "
            f"{counted(self.versions_removed, 'version')} "
            f"({self.series_consolidated} series consolidated)"
            + ("; oplog compacted and checkpointed" if self.compacted else "")
        )
        if self.removed:
            by_kind = ", ".join(
                f"{counted(n, kind, _PLURALS.get(kind))} ({sized(size)})"
                for kind, (n, size) in sorted(kinds.items())
            )
            total = sum(r.bytes for r in self.removed)
            lines.append(f"{verb} {counted(len(self.removed), 'file')}, {sized(total)}: {by_kind}")
        else:
            lines.append(f"{verb} no files")
        lines.append(
            f"cache: {verb} "
            f"{counted(self.cache_entries_removed, 'entry', 'entries')}, "
            f"{sized(self.cache_bytes_removed)}"
        )
        took = f" in {self.seconds:.1f} s" if self.seconds is not None else ""
        lines.append(
            f"{sized(self.bytes_reclaimed)} ({self.bytes_reclaimed} bytes) "
            f"{'reclaimable' if self.dry_run else 'reclaimed'}{took}"
        )
        if self.dry_run:
            lines.append("(files that compaction would replace are not counted)")
        if self.refusal is not None:
            lines.append(f"a real run would be refused: {describe(self.refusal, cli=cli)}")
        return "\n".join(lines)


_PLURALS = {"log entry": "log entries"}


def earliest_kept(
    store: DeltaPersistence,
    keep: timedelta | None,
    keep_txns: int | None,
    now: datetime,
) -> int | None:
    """The first transaction of the window (None: keep everything).

    ``keep``: transactions committed within that span before ``now``;
    ``keep_txns``: the newest N.  The newest transaction is always kept, and
    a window never reaches back past an earlier ``maintain``'s floor.
    """
    if keep is not None and keep_txns is not None:
        raise ConfigError(
            "give {keep} or {keep_txns}, not both", options={"keep": "", "keep_txns": ""}
        )
    if keep is None and keep_txns is None:
        return None
    last = store.last_txn
    if keep_txns is not None:
        if keep_txns < 1:
            raise ConfigError("{keep_txns} must be at least 1", options={"keep_txns": ""})
        first = max(1, last - keep_txns + 1)
    else:
        assert keep is not None
        if keep <= timedelta(0):
            raise ConfigError("{keep} must be a positive span", options={"keep": ""})
        since = now - keep
        inside = [t.txn_seq for t in store.transactions() if t.timestamp >= since]
        first = min(inside, default=last)
    floor = read_retention(store.table_files)
    return max(first, floor.earliest_txn if floor else 1)


@dataclass(frozen=True)
class Candidate:
    """A series whose versions ``versions`` (oldest first, all written before the window,
    never its newest) one consolidated version may replace."""

    part_id: str
    node_id: str
    versions: list[int]


def superseded(store: DeltaPersistence, first: int) -> tuple[pa.Table, list[Candidate]]:
    """Per node, the highest version no transaction from ``first`` on reads (a table of
    part_id, node_id, upto, count); and the series to consolidate."""
    past = store.reopen(first)
    alive: set[str] = set()
    stack = [ROOT_ID]
    while stack:
        node_id = stack.pop()
        alive.add(node_id)
        if past.node_type(node_id) == DIRECTORY:
            stack.extend(e.node_id for e in past.read_dir(node_id).values())
    past.close()

    rows = snapshot_rows(store)
    by_node: dict[str, list[tuple[int, int, str, str]]] = {}
    for node_id, version, txn, file_type, part in zip(
        rows["node_id"],
        rows["version"],
        rows["txn_seq"],
        rows["file_type"],
        rows[PARTITION_COLUMN],
        strict=True,
    ):
        by_node.setdefault(node_id, []).append((version, txn, file_type, part))
    parts, nodes, upto, counts = [], [], [], []
    candidates: list[Candidate] = []
    for node_id, versions in by_node.items():
        versions.sort()
        before = [v for v in versions if v[1] <= first]
        later = len(before) < len(versions)
        if node_id not in alive and not later:
            drop = before  # removed before the window, never seen again
        elif before and before[-1][2] != FILE_SERIES:
            drop = before[:-1]  # superseded before the window
        else:
            drop = []  # a series' versions are all its content: consolidated instead
            # Written before the window (its first transaction's own stay as they are),
            # and never the newest: what reads "the latest version" sees stays the same.
            older = [v for v in versions[:-1] if v[1] < first]
            if len(older) > 1 and versions[-1][2] == FILE_SERIES:
                candidates.append(Candidate(older[0][3], node_id, [v[0] for v in older]))
        if drop:
            parts.append(drop[-1][3])
            nodes.append(node_id)
            upto.append(drop[-1][0])
            counts.append(len(drop))
    # arrays.py builds arrays without pa.array(list), which imports pandas when installed.
    doomed = pa.Table.from_arrays(
        [strings(parts), strings(nodes), int64s(upto), int64s(counts)],
        names=[PARTITION_COLUMN, "node_id", "upto", "count"],
    )
    return doomed, candidates


def consolidate(
    store: DeltaPersistence, candidates: list[Candidate], consolidator: Consolidator
) -> list[tuple[Candidate, Consolidated]]:
    """Each candidate's consolidated version, where the consolidator gives one; large
    contents are written to blobs (fsynced) here, before the commit that names them."""
    blobs = BlobStore(store.data_dir / LARGE_FILES_DIR)
    done: list[tuple[Candidate, Consolidated]] = []
    for c in candidates:
        label = store.path_of(c.node_id) or f"node {c.node_id}"
        versions = _candidate_versions(store, c)
        merged = consolidator(label, versions, _reader(store, c.node_id))
        if merged is None:
            continue
        if len(merged.content) >= LARGE_FILE_THRESHOLD:
            blobs.put(hashlib.sha256(merged.content).hexdigest(), merged.content)
        done.append((c, merged))
    if done:
        blobs.sync()
    return done


def _candidate_versions(store: DeltaPersistence, c: Candidate) -> list[VersionInfo]:
    """The candidate's versions, oldest first, only the newest with its attributes (where
    the consolidator reads the time column's name): decoding every version's took a
    sixth of a simulated month's maintain.  All with theirs if the newest does not say."""
    rows = {row.version: row for row in store.stored_rows(c.node_id)}
    chosen = [rows[v] for v in c.versions]
    newest = version_info(chosen[-1])
    if "timestamp_column" not in newest.attributes:
        infos = {v.version: v for v in store.versions(c.node_id)}
        return [infos[v] for v in c.versions]
    return [*(version_info(row, attributes=False) for row in chosen[:-1]), newest]


def _reader(store: DeltaPersistence, node_id: str) -> Callable[[int], bytes]:
    def read(version: int) -> bytes:
        return store.read_bytes(node_id, version)

    return read


# What a consolidated version changes in the row of the last version it replaces.
_REPLACED_COLUMNS = ("content", "sha256", "size", "min_event_time", "max_event_time", "attributes")


def _rewrite_versions(
    store: DeltaPersistence,
    doomed: pa.Table,
    merged: list[tuple[Candidate, Consolidated]],
) -> None:
    """Delete the superseded versions and put each consolidated version in place of the
    last one it replaces (deleting the others), in one Delta commit (append-only lifted
    around it): a predicate overwrite of the partitions holding them (``part_id IN
    (...)``) with their rows as the snapshot holds them, less those versions and with
    the replaced ones changed.

    Streamed: memory holds ``_REWRITE_ROWS`` rows at a time.  A deltalake MERGE did this
    before, and held some 1.4 GB for a simulated month of a station's series (190 MB for
    ten days): more than a small machine has for a year's.
    """
    rows = _consolidated_rows(store, merged)
    # Per partition and node: the highest version removed, and the version replaced.
    upto: dict[str, dict[str, int]] = {}
    for part, node, version in zip(
        doomed.column(PARTITION_COLUMN).to_pylist(),
        doomed.column("node_id").to_pylist(),
        doomed.column("upto").to_pylist(),
        strict=True,
    ):
        upto.setdefault(part, {})[node] = int(version)
    replaced: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
    for index, (part, node) in enumerate(zip(rows["part_id"], rows["node_id"], strict=True)):
        upto.setdefault(part, {})[node] = int(rows["upto"][index])
        values = {name: rows[name][index] for name in _REPLACED_COLUMNS}
        replaced.setdefault(part, {})[node] = (int(rows["keep"][index]), values)
    table = store.table
    land(
        table,
        lambda: table.alter.set_table_properties(
            {"delta.appendOnly": "false"}, commit_properties=NO_REBASE
        ),
    )
    # The same rows go whatever another writer committed meanwhile (it only adds
    # versions above those): a lost race is made again on the new state, its data
    # files listed and read again.
    land(table, lambda: _overwrite_partitions(store, upto, replaced))


def _overwrite_partitions(
    store: DeltaPersistence,
    upto: dict[str, dict[str, int]],
    replaced: dict[str, dict[str, tuple[int, dict[str, Any]]]],
) -> None:
    """One ``NO_REBASE`` predicate overwrite of the partitions in ``upto`` (see
    ``_rewrite_versions``), from the snapshot ``store.table`` is at."""
    from urllib.parse import unquote

    from deltalake import write_deltalake

    actions = add_actions(store.table)
    files: dict[str, list[str]] = {}
    for path, part in zip(
        actions.column("path").to_pylist(),
        actions.column(f"partition.{PARTITION_COLUMN}").to_pylist(),
        strict=True,
    ):
        if part in upto:
            files.setdefault(part, []).append(unquote(path))
    if not files:
        return
    parts = ", ".join(f"'{quoted(part)}'" for part in sorted(files))
    write_deltalake(
        store.table,
        pa.RecordBatchReader.from_batches(SCHEMA, _kept_rows(store, files, upto, replaced)),
        mode="overwrite",
        predicate=f"{PARTITION_COLUMN} IN ({parts})",
        writer_properties=WRITER,
        commit_properties=NO_REBASE,
        post_commithook_properties=HOOKS,
    )


_REWRITE_ROWS = 16_384
"""Rows read at a time when ``maintain`` rewrites a partition (a year of a station's series
is some 350,000 rows, most of them a small Parquet file of content each)."""


def _kept_rows(
    store: DeltaPersistence,
    files: dict[str, list[str]],
    upto: dict[str, dict[str, int]],
    replaced: dict[str, dict[str, tuple[int, dict[str, Any]]]],
) -> Iterator[pa.RecordBatch]:
    """The partitions' rows, ``_REWRITE_ROWS`` at a time (``oplog.SCHEMA``), without those
    of versions up to ``upto`` of their node, the replaced versions' columns changed."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for part, rels in sorted(files.items()):
        nodes = sorted(upto[part])
        node_set = strings(nodes)
        bounds = int64s([upto[part][n] for n in nodes])
        keep_at = int64s([replaced.get(part, {}).get(n, (-1, {}))[0] for n in nodes])
        for rel in rels:
            for batch in pq.ParquetFile(store.data_file(rel)).iter_batches(_REWRITE_ROWS):
                rows = pa.Table.from_batches([batch])
                rows = rows.append_column(PARTITION_COLUMN, strings([part] * rows.num_rows))
                # Writers differ in string layouts (string, string_view): one schema first.
                rows = rows.select(SCHEMA.names).cast(SCHEMA)
                at = pc.index_in(rows.column("node_id"), value_set=node_set)
                # A row of a node not named has no position (null): false, and so kept.
                named = pc.is_valid(at)
                version = rows.column("version")
                gone = pc.and_kleene(named, pc.less_equal(version, pc.take(bounds, at)))
                changed = pc.and_kleene(named, pc.equal(version, pc.take(keep_at, at)))
                yield from rows.filter(pc.invert(pc.or_(gone, changed))).to_batches()
                if part in replaced:
                    yield from _replaced(rows.filter(changed), replaced[part]).to_batches()


def _replaced(rows: pa.Table, replaced: dict[str, tuple[int, dict[str, Any]]]) -> pa.Table:
    """``rows`` (the replaced versions' rows) with the consolidated versions' columns."""
    values = [replaced[node][1] for node in rows.column("node_id").to_pylist()]
    for name in _REPLACED_COLUMNS:
        column = [v[name] for v in values]
        type_ = SCHEMA.field(name).type
        if type_ == pa.int64():
            array = int64s(column)
        else:
            array = binaries(column) if type_ == pa.binary() else strings(column)
        rows = rows.set_column(rows.schema.get_field_index(name), SCHEMA.field(name), array)
    return rows


def _consolidated_rows(
    store: DeltaPersistence, merged: list[tuple[Candidate, Consolidated]]
) -> dict[str, list[Any]]:
    """The merge source's columns for the consolidated versions."""
    found: dict[str, list[Any]] = {
        name: [] for name in ("part_id", "node_id", "upto", "keep", *_REPLACED_COLUMNS)
    }
    for c, version in merged:
        rows = {r.version: r for r in store.stored_rows(c.node_id)}
        replaced = [rows[v] for v in c.versions]
        chain = series_chain((r.sha256, r.attributes) for r in replaced)
        attributes = dict(version.attributes)
        attributes[CONSOLIDATED] = {
            "versions": [first_replaced(replaced[0].attributes, c.versions[0]), c.versions[-1]],
            "chain": chain.hex(),
        }
        content = version.content
        large = len(content) >= LARGE_FILE_THRESHOLD
        if large:
            attributes[FAST_CHECKSUM] = fast_checksum(content)
        found["part_id"].append(c.part_id)
        found["node_id"].append(c.node_id)
        found["upto"].append(c.versions[-2])
        found["keep"].append(c.versions[-1])
        found["content"].append(None if large else content)
        found["sha256"].append(hashlib.sha256(content).hexdigest())
        found["size"].append(len(content))
        found["min_event_time"].append(version.event_range[0])
        found["max_event_time"].append(version.event_range[1])
        found["attributes"].append(json.dumps(attributes, sort_keys=True))
    return found


# The files a commit removes (compaction's inputs, a merge's rewritten files) are the
# pond's to delete, and maintain does (keeping what a backup has yet to receive); Delta
# keeps a "remove" tombstone for each in every checkpoint for this long, which would
# make a checkpoint grow with every compaction of the window (383 KB of a 1.9 MB pond
# maintained after a simulated month, 20 KB without).  A VACUUM by another engine would
# delete them at once: the pond never reads them, and never runs one.
DELETED_FILE_RETENTION = "interval 0 seconds"


def _set_retention(store: DeltaPersistence, window: timedelta) -> None:
    """Delta's own retention settings: log entries kept for the window (cleanup stays
    off), tombstones not kept (``DELETED_FILE_RETENTION``)."""
    hours = max(1, math.ceil(window.total_seconds() / 3600))
    wanted = {
        "delta.appendOnly": "true",
        "delta.enableExpiredLogCleanup": "false",
        "delta.logRetentionDuration": f"interval {hours} hours",
        "delta.deletedFileRetentionDuration": DELETED_FILE_RETENTION,
    }
    have = store.table.metadata().configuration
    if any(have.get(k) != v for k, v in wanted.items()):
        land(
            store.table,
            lambda: store.table.alter.set_table_properties(wanted, commit_properties=NO_REBASE),
        )


def snapshot_rows(store: DeltaPersistence) -> dict[str, list[Any]]:
    """Every row's metadata, by column, straight from the newest snapshot's data files (a
    year of a station is some 350,000 rows), with its partition."""
    import pyarrow.parquet as pq

    columns = ["node_id", "version", "txn_seq", "file_type", "sha256", "size"]
    found: dict[str, list[Any]] = {name: [] for name in [*columns, PARTITION_COLUMN]}
    for rel in sorted(store.snapshot_files()):
        # ParquetFile.read, unlike pq.read_table, imports no pyarrow.dataset (nor pandas).
        table = pq.ParquetFile(store.data_file(rel)).read(columns=columns)
        for name in columns:
            found[name] += table.column(name).to_pylist()
        part = rel.split("/", 1)[0].removeprefix(f"{PARTITION_COLUMN}=")
        found[PARTITION_COLUMN] += [part] * table.num_rows
    return found


def removable(
    store: DeltaPersistence,
    referenced_blobs: set[str],
    pushed: int | None = None,
    *,
    grace: timedelta | None = None,
    now: datetime | None = None,
    log_upto: int | None = None,
) -> list[Removed]:
    """Files no kept transaction reads, as things stand now (paths relative to the pond),
    from one listing of the table's files (``store.table_files``).

    ``pushed``: the oldest newest Delta version among the backups; its log entry and
    those after it stay, and the data files those add, since a backup's next push
    compares the one and sends the others.  ``grace``: a data file, blob or leftover
    that no commit names is listed only once it was last modified more than ``grace``
    before ``now`` (on S3, where a writer on another machine uploads what its commit
    will name before that commit lands).  ``log_upto``: no log entry or checkpoint of a
    later version is listed (on S3, those of commits made since the archive was written).
    """
    files = store.table_files
    found: list[Removed] = []
    unpushed: set[str] = set()
    if pushed is not None:
        for version in range(pushed + 1, store.table.version() + 1):
            entry = files.read(log_entry(version))
            if entry is not None:
                unpushed |= set(added_files(entry))
    now = now or datetime.now(UTC)
    settled = now - grace if grace is not None else None

    def add(kind: str, f: TableFile, *, fresh_stays: bool = True) -> None:
        if fresh_stays and settled is not None and f.modified > settled:
            return
        found.append(Removed(kind, f"{DATA_DIR}/{f.rel}", f.size))

    in_snapshot = store.snapshot_files()
    entries = []
    for f in sorted(files.listing(), key=lambda f: f.rel):
        top, _, name = f.rel.partition("/")
        if top.startswith(f"{PARTITION_COLUMN}="):
            if "/" not in name and f.rel not in in_snapshot and f.rel not in unpushed:
                add("data file", f)
        elif top == DELTA_LOG_DIR and "/" not in name:
            if m := _LOG_FILE.fullmatch(name):
                entries.append((int(m.group(1)), m.group(2), f))
            elif name.startswith("_commit_"):
                add("leftover", f)
        elif top == LARGE_FILES_DIR and "/" not in name:
            if name.startswith(TEMP_PREFIX):
                add("leftover", f)
            elif name.removeprefix("sha256=") not in referenced_blobs:
                add("blob", f)
    checkpoints = [v for v, kind, _ in entries if kind != "json"]
    if checkpoints:
        newest = max(checkpoints)
        for version, kind, f in sorted(entries, key=lambda e: (e[0], e[1])):
            # Version 0's entry stays: it carries the pond id (``identity``).
            first = version == 0 and kind == "json"
            # A backup's next push compares its newest entry with ours: that one stays too.
            archived = log_upto is None or version <= log_upto
            if version < newest and not first and archived and (pushed is None or version < pushed):
                # Committed history, which no writer is still to name: no grace.
                add("log entry" if kind == "json" else "checkpoint", f, fresh_stays=False)
    return found


def _referenced_blobs(store: DeltaPersistence, doomed: pa.Table | None = None) -> set[str]:
    rows = snapshot_rows(store)
    gone: dict[str, int] = {}
    if doomed is not None:
        nodes, upto = doomed.column("node_id").to_pylist(), doomed.column("upto").to_pylist()
        gone = dict(zip(nodes, upto, strict=True))
    return {
        digest
        for node_id, version, digest, size in zip(
            rows["node_id"], rows["version"], rows["sha256"], rows["size"], strict=True
        )
        if size >= LARGE_FILE_THRESHOLD and version > gone.get(node_id, 0)
    }


DEFAULT_GRACE = timedelta(hours=24)
"""On a pond kept on S3, how old an object no commit names must be before ``maintain``
removes it: Delta's vacuum judges untracked files by their age too (its default is a
week, to spare long-running writers and readers); a pond's transaction uploads its
data files and blobs seconds to minutes before its commit lands, so a day spares any
writer still at work on another machine, and an orphan of a writer killed with
``kill -9`` goes at the first ``maintain`` a day later."""


def run(
    store: DeltaPersistence,
    *,
    keep: timedelta | None = None,
    keep_txns: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    pushed: int | None = None,
    grace: timedelta | None = None,
    consolidator: Consolidator | None = None,
) -> MaintainReport:
    """Maintain the pond; the caller holds the write lock and has refreshed ``store``.

    Without ``keep`` or ``keep_txns`` it only compacts and checkpoints, and on a pond
    kept on S3 removes the orphans older than ``grace`` (``DEFAULT_GRACE`` if None;
    only there: a local pond's writer holds the lock, and ``recover`` removes what a
    crash left).  Without a ``consolidator`` a series keeps every version (and on a
    pond kept on S3 it keeps them anyway: its consolidated blobs would have to go to
    the store, which is not built).  Raises ``ConfigError`` for a bad window,
    ``DeltaError`` if a commit of its own lost the race to another writer (on S3:
    nothing of it landed).
    """
    now = now or datetime.now(UTC)
    files = store.table_files
    shared = files.shared
    if shared and grace is None:
        grace = DEFAULT_GRACE
    report = MaintainReport(dry_run=dry_run, last_txn=store.last_txn)
    if not dry_run and not shared:
        _seal_loose(store)
    first = earliest_kept(store, keep, keep_txns, now)
    floor = read_retention(files)
    report.earliest_kept_txn = first or (floor.earliest_txn if floor else 1)
    if first is None:
        if shared:
            report.removed = _orphans(store, grace, now)
        if not dry_run:
            if store.table.metadata().configuration.get("delta.appendOnly") != "true":
                # A run killed between lifting append-only and restoring it.
                land(
                    store.table,
                    lambda: store.table.alter.set_table_properties(
                        {"delta.appendOnly": "true"}, commit_properties=NO_REBASE
                    ),
                )
            store.compact()
            if not shared:
                _seal_loose(store)  # as below: a checkpoint may land at an existing version
            report.compacted = True
            if shared:
                _remove(store, report.removed)
        return report

    doomed, candidates = superseded(store, first)
    if shared or consolidator is None:
        candidates = []
    report.versions_removed = sum(doomed.column("count").to_pylist())
    if dry_run:
        # Each candidate counted as consolidated: its versions' blobs go, what replaces
        # them is not counted.
        report.series_consolidated = len(candidates)
        report.versions_removed += sum(len(c.versions) - 1 for c in candidates)
        replaced = pa.Table.from_arrays(
            [
                strings([c.part_id for c in candidates]),
                strings([c.node_id for c in candidates]),
                int64s([c.versions[-1] for c in candidates]),
                int64s([len(c.versions) for c in candidates]),
            ],
            names=doomed.column_names,
        )
        both = pa.concat_tables([doomed, replaced])
        report.removed = removable(
            store, _referenced_blobs(store, both), pushed, grace=grace, now=now
        )
        # Compaction and the checkpoint it ends with retire every log entry but the last.
        newest = store.table.version()
        listed = {r.path for r in report.removed}
        for f in sorted(files.listing(DELTA_LOG_DIR), key=lambda f: f.rel):
            m = _LOG_FILE.fullmatch(f.rel.rsplit("/", 1)[-1])
            rel = f"{DATA_DIR}/{f.rel}"
            unsent = pushed is not None and int(m.group(1)) >= pushed if m else False
            if m and m.group(2) == "json" and 0 < int(m.group(1)) < newest and rel not in listed:
                if unsent:
                    continue
                report.removed.append(Removed("log entry", rel, f.size))
        return report

    # 1. Nothing is removed before the metadata is archived and the floor recorded.
    archive_commits(files, store.commits_info())
    if floor is None or first > floor.earliest_txn:
        write_retention(files, Retention(first, now, "pond maintain"))
    # 2. and 3. Delta commits: each lands whole or not at all (blobs before them).
    merged = consolidate(store, candidates, consolidator) if consolidator else []
    report.series_consolidated = len(merged)
    report.versions_removed += sum(len(c.versions) - 1 for c, _ in merged)
    if doomed.num_rows or merged:
        _rewrite_versions(store, doomed, merged)
        if shared:
            store.resync()
    window_start = next((t.timestamp for t in store.transactions() if t.txn_seq == first), now)
    _set_retention(store, now - window_start)
    store.compact()
    # Every file the commits above wrote, and a checkpoint written at a version that was
    # already there (a run killed after its last commit, before its checkpoint, leaves
    # the next run only the checkpoint to write): sealing "the versions since" would
    # miss that one.  (A pond on S3 keeps no seals.)
    if not shared:
        _seal_loose(store)
    report.compacted = True
    # 4. Unseal, then remove.
    log_upto = None
    if shared:
        # Writers on other machines committed meanwhile: their commit infos are archived
        # before any of their log entries can go (a writer's checkpoint may be newer).
        archive_commits(files, store.commits_info())
        log_upto = store.table.version()
    report.removed = removable(
        store, _referenced_blobs(store), pushed, grace=grace, now=now, log_upto=log_upto
    )
    _remove(store, report.removed)
    return report


def _orphans(store: DeltaPersistence, grace: timedelta | None, now: datetime) -> list[Removed]:
    """What a writer uploaded and never committed (killed, or beaten and gone): data files
    no log entry present adds, blobs no row names, leftovers; each older than ``grace``.

    Without a window nothing committed goes (no time travel ends), so a data file that a
    compaction replaced stays: hence every log entry present is read for what it adds.
    """
    from concurrent.futures import ThreadPoolExecutor

    files = store.table_files
    entries = [
        f.rel
        for f in files.listing(DELTA_LOG_DIR)
        if (m := _LOG_FILE.fullmatch(f.rel.rsplit("/", 1)[-1])) and m.group(2) == "json"
    ]
    added: set[str] = set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for data in pool.map(files.read, entries):
            if data is not None:
                added |= set(added_files(data))
    candidates = removable(store, _referenced_blobs(store), None, grace=grace, now=now)
    return [
        r
        for r in candidates
        if r.kind in ("blob", "leftover")
        or (r.kind == "data file" and r.path.removeprefix(f"{DATA_DIR}/") not in added)
    ]


def _remove(store: DeltaPersistence, removed: list[Removed]) -> None:
    """Remove the files listed (a local pond's seals of them first, then empty partitions)."""
    gone = {r.path.removeprefix(f"{DATA_DIR}/") for r in removed}
    if not store.table_files.shared:
        seals, _bad = store.seals.read()
        if gone & seals.keys():
            store.seals.rewrite({k: v for k, v in seals.items() if k not in gone})
    store.table_files.delete(sorted(gone))
    if not store.table_files.shared:
        _remove_empty_partitions(store.data_dir)


def _seal_loose(store: DeltaPersistence) -> None:
    """Seal what a crash after a commit left unsealed (as ``recover`` does), so every
    file the kept transactions read is proved by the next ``fsck``."""
    from .integrity import loose_files, scan  # integrity imports persistence, which imports us

    files, seals = scan(store.data_dir)
    to_seal, _debris = loose_files(files, seals, store)
    store.seals.seal_files(to_seal)


def _remove_empty_partitions(root: Path) -> None:
    for part in root.glob(f"{PARTITION_COLUMN}=*"):
        if part.is_dir() and not any(part.iterdir()):
            os.rmdir(part)
