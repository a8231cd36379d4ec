"""A mirror run after the pond only wrote new versions of raw files, read from the log's tail.

Opening a pond imports deltalake and lists every data file of its Delta
table; after one ``pond copy`` over a mirrored file, all a run needs is the
new rows.  The record names the newest Delta log entry it reflects
(``record.log``); each later entry is a small JSON file whose ``add`` actions
name the Parquet files the commit wrote, with statistics that give each
file's node, entry type and transaction.  When every entry after the
record's holds only a commit's info and such ``add`` actions, each file
holding rows of one node, a raw file the record mirrors, the run reads just
those Parquet files (``tlogfs.index.RowIndex``, ``tlogfs.reads.OplogView``:
the pond's own decoding and content checks) and writes those files as a full
run would: staged, journalled, renamed, and only over a host file still as
the mirror wrote it.  The rest of the folder is looked at as an idle run
looks at it (``idle.py``: one walk).

Anything else sends the run the full way (``out.mirror_out``): a removal or
rewrite (``pond maintain``), a protocol or schema change, a folder, symlink,
table or series row, a node the record does not hold as a raw file, a record
holding a computed output (a raw file may be its input) or a conflict, a log
entry missing in the sequence.  The decision is made from the JSON alone,
before pyarrow is imported.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ...errors import CorruptDataError
from ...tinyfs import DIRECTORY, FILE_DATA, FILE_SERIES, FILE_TABLE, SYMLINK
from ...tlogfs.layout import DATA_DIR, DELTA_LOG_DIR, LARGE_FILES_DIR
from . import record as rec
from .idle import as_recorded, may_follow
from .out import MirrorReport, Note, clear_staging, new_on_host, place, survey

MAX_FILES = 64
"""More data files than this after the record's entry: the full run is as quick."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PLAIN_TYPES = frozenset({FILE_DATA, FILE_TABLE, FILE_SERIES, DIRECTORY, SYMLINK})


@dataclass(frozen=True)
class Added:
    """One Parquet file a commit after the record's added: rows of one node."""

    path: str
    """Relative to the Delta table's root, as the log names it."""
    part_id: str
    node: str
    min_txn: int
    max_txn: int


@dataclass(frozen=True)
class Tail:
    """The Delta log entries after the record's, when they hold only new rows."""

    version: int
    """The newest log entry's version."""
    txn: int
    """The pond's newest transaction (the largest ``txn_seq`` of their commit infos)."""
    added: list[Added]


def read_tail(pond: str, version: int, since_txn: int) -> Tail | None:
    """The log entries after ``version`` of the pond at ``pond``, or None to take the full way.

    None when there is none, when one holds an action other than ``commitInfo``
    (with the pond's ``txn_seq``) and ``add`` (with statistics saying one node,
    one entry type ``file:data`` and transactions after ``since_txn``), or when
    they add more than ``MAX_FILES`` files.  The entries are untrusted text:
    anything not of that shape is refused, never guessed at.
    """
    log_dir = os.path.join(pond, DATA_DIR, DELTA_LOG_DIR)
    added: list[Added] = []
    txn = since_txn
    newest = version
    while True:
        try:
            with open(os.path.join(log_dir, f"{newest + 1:020d}.json"), "rb") as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            break
        newest += 1
        for line in lines:
            if not line.strip():
                continue
            try:
                action = json.loads(line)
                parsed = _action(action, since_txn)
            except (ValueError, TypeError, KeyError):
                return None
            if parsed is None:
                return None
            if isinstance(parsed, int):
                txn = max(txn, parsed)
            else:
                added.append(parsed)
        if len(added) > MAX_FILES:
            return None
    if newest == version or not added or any(a.max_txn > txn for a in added):
        return None
    return Tail(newest, txn, added)


def _action(action: Any, since_txn: int) -> int | Added | None:
    """A commit info's ``txn_seq``, an ``add`` of one raw file's rows, or None for anything else."""
    if not isinstance(action, dict) or len(action) != 1:
        return None
    ((kind, body),) = action.items()
    if kind == "commitInfo":
        txn = body["txn_seq"]
        return txn if type(txn) is int and txn > since_txn else None
    if kind != "add" or body.get("deletionVector") or body.get("dataChange") is not True:
        return None
    path, part = body["path"], body["partitionValues"]["part_id"]
    if not isinstance(path, str) or not isinstance(part, str) or not _plain_path(path, part):
        return None
    stats = json.loads(body["stats"])
    low, high = stats["minValues"], stats["maxValues"]
    node, kind_of = low["node_id"], low["file_type"]
    first, last = low["txn_seq"], high["txn_seq"]
    if (
        not isinstance(node, str)
        or high["node_id"] != node
        or kind_of != FILE_DATA
        or high["file_type"] != FILE_DATA
        or type(first) is not int
        or type(last) is not int
        or first <= since_txn
        or last < first
    ):
        return None
    return Added(path, part, node, first, last)


def _plain_path(path: str, part: str) -> bool:
    """A data file's path as the pond writes them: ``part_id=<part>/<name>.parquet``, nothing else."""
    folder, _, name = path.partition("/")
    return (
        folder == f"part_id={part}"
        and "/" not in name
        and "%" not in path
        and "\\" not in path
        and name.endswith(".parquet")
        and not name.startswith(".")
    )


def tail_report(
    base: Path,
    pond: str,
    *,
    patterns: Sequence[str] | None = None,
    tables: str | None = None,
    lock_timeout: float = 30.0,
    before_arrow: Callable[[], None] | None = None,
) -> MirrorReport | None:
    """The report of a mirror run in ``base`` after the pond only wrote new raw file versions, or None.

    ``pond`` is the pond's absolute directory; ``patterns`` and ``tables`` are
    what the run was asked for (None: the record's).  None means the run must
    open the pond (``mirror_out``); the decision is taken before any host file
    is written, and only then is ``before_arrow`` called (before pyarrow is
    imported: nothing after it sends the run the full way).  Raises ``LockTimeoutError`` when another run holds ``base``,
    ``CorruptDataError`` when a new version's bytes do not match its hash.
    """
    if not (base / rec.RECORD_FILE).is_file() or (base / rec.PENDING_FILE).exists():
        return None
    if not may_follow(rec.header(base), pond, patterns, tables, moved=True):
        return None
    with rec.MirrorLock(base, lock_timeout):
        if (base / rec.PENDING_FILE).exists():
            return None
        record = rec.load(base)
        if record is None or not may_follow(record, pond, patterns, tables, moved=True):
            return None
        assert record.log is not None
        files = record.files
        if any(
            e.stale or e.inputs is not None or e.type not in _PLAIN_TYPES for e in files.values()
        ):
            return None
        tail = read_tail(pond, record.log["version"], record.txn)
        if tail is None:
            return None
        raw = {e.node: rel for rel, e in files.items() if e.type == FILE_DATA and not e.format}
        if any(a.node not in raw for a in tail.added):
            return None
        if len(raw) != sum(e.type == FILE_DATA and not e.format for e in files.values()):
            return None  # a node at two host paths: the full run weighs each
        changed = {raw[a.node] for a in tail.added}
        looked = survey(base, record)
        report = MirrorReport(str(base), tail.txn)
        if not as_recorded(record, looked, report, skip=changed):
            return None  # a file to write again or a folder changed: the full run's work
        stamp = rec.log_stamp(pond, tail.version)
        if stamp is None:
            return None
        if before_arrow is not None:
            before_arrow()
        _write_changed(base, pond, record, tail, sorted(changed), looked.states, report)
        report.refused = [Note(**note) for note in record.refused]
        report.new = new_on_host(record, looked.new)
        record.txn, record.log = tail.txn, stamp
        rec.save(base, record)
        return report


@dataclass
class _Staged:
    """A new version's bytes staged for ``rel`` (what ``out.place`` renames into place)."""

    rel: str
    entry: rec.Entry
    staged: Path | None = None


def _write_changed(
    base: Path,
    pond: str,
    record: rec.Record,
    tail: Tail,
    changed: list[str],
    states: dict[str, tuple[rec.HostState, os.stat_result | None]],
    report: MirrorReport,
) -> None:
    """Write each raw file of ``changed`` at its newest version, as a full run would."""
    # Only here does pyarrow come in: the decision above read JSON alone.
    from ...tlogfs.blobs import BlobStore
    from ...tlogfs.index import RowIndex
    from ...tlogfs.reads import OplogView

    data = Path(pond) / DATA_DIR
    index = RowIndex(data)
    index.sync_files((a.path, a.part_id, a.min_txn, a.max_txn, a.node, a.node) for a in tail.added)
    view = OplogView(index, BlobStore(data / LARGE_FILES_DIR), tail.txn)
    files = record.files
    dirs: dict[str, bool] = {}
    to_write: list[_Staged] = []
    staging = clear_staging(base)
    try:
        for rel in changed:
            old = files[rel]
            info = view.latest(old.node)
            new = rec.Entry(
                old.path, old.node, info.version, FILE_DATA, sha256=info.sha256, size=info.size
            )
            host = os.path.join(base, rel)
            state, st = states[rel]
            if not rec.real_dirs(base, rel, dirs):
                report.conflicts.append(
                    Note(old.path, rel, "a folder above it is not a folder on the host")
                )
            elif (old.version, old.sha256) == (new.version, new.sha256) and state == "clean":
                report.unchanged += 1
            elif state in ("clean", "missing"):
                try:
                    content = view.read_bytes(old.node, info.version)
                except CorruptDataError as exc:
                    raise CorruptDataError(f"{old.path}: {exc}") from None
                if not to_write:
                    staging.mkdir()
                temp = staging / str(len(to_write))
                temp.write_bytes(content)
                mtime = (info.timestamp - _EPOCH) // _MICROSECOND * 1000
                os.utime(temp, ns=(mtime, mtime))
                new.host_sha256, new.mtime_ns = new.sha256, mtime
                to_write.append(_Staged(rel, new, temp))
            elif st is not None and stat.S_ISREG(st.st_mode) and _holds(host, new):
                files[rel] = new.with_stat(os.lstat(host))
                report.adopted.append(old.path)
                report.hosts[old.path] = rel
                report.touched = True
            else:
                why = "edited on the host and changed in the pond: the host file is kept"
                report.conflicts.append(Note(old.path, rel, why))
                old.stale = report.touched = True
        if to_write:
            report.touched = True
            rec.save_pending(base, record, {s.rel: s.entry for s in to_write}, [])
            place(base, record, report, [], to_write, [], dirs)
    finally:
        clear_staging(base)


def _holds(host: str, entry: rec.Entry) -> bool:
    """True when the host file already holds the bytes of ``entry`` (it is adopted, not written)."""
    if os.path.getsize(host) != entry.size or rec.hash_file(host) != entry.sha256:
        return False
    entry.host_sha256 = entry.sha256
    return True
