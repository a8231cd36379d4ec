"""A mirror run with nothing to write, answered without opening the pond.

Opening a pond imports the Delta and Arrow libraries and lists its data
files: most of what a second ``pond mirror DIR`` costs.  When the pond has
committed nothing since the record was made (its newest Delta log entry is
the one the record names: ``record.log_unmoved``), every node is what the
record says it was, so the run's only work is the walk of DIR that finds
host edits and new host entries.  Whatever would make the run write or
remove something sends it the full way (``out.mirror_out``): a record entry
missing on the host, a folder or symlink changed, a file kept in a conflict,
a crashed run's journal, other patterns or table format.
"""

from __future__ import annotations

import stat
from collections.abc import Collection, Sequence
from pathlib import Path

from ...tinyfs import DIRECTORY, SYMLINK
from . import record as rec
from .out import MirrorReport, Note, Survey, edited_reason, new_on_host, survey


def idle_report(
    base: Path,
    pond: str,
    *,
    patterns: Sequence[str] | None = None,
    tables: str | None = None,
    lock_timeout: float = 30.0,
) -> MirrorReport | None:
    """The report of a run of the mirror in ``base`` with nothing to write, or None.

    ``pond`` is the pond's absolute directory; ``patterns`` and ``tables`` are
    what the run was asked for (None: the record's).  None means the run must
    open the pond (``mirror_out``), which also gives every error.  A file found
    clean by its bytes after a ``touch`` gets its new ``lstat`` recorded, as a
    full run would.  Raises ``LockTimeoutError`` when another run holds ``base``.
    """
    if not (base / rec.RECORD_FILE).is_file() or (base / rec.PENDING_FILE).exists():
        return None
    # The header first (one line): when the pond moved, the files are left unread
    # for the full run to read once.
    if not may_follow(rec.header(base), pond, patterns, tables):
        return None
    with rec.MirrorLock(base, lock_timeout):
        if (base / rec.PENDING_FILE).exists():
            return None
        record = rec.load(base)
        if record is None or not may_follow(record, pond, patterns, tables):
            return None
        if any(entry.stale for entry in record.files.values()):
            return None
        looked = survey(base, record)
        report = MirrorReport(str(base), record.txn)
        if not as_recorded(record, looked, report):
            return None
        report.refused = [Note(**note) for note in record.refused]
        report.new = new_on_host(record, looked.new)
        if report.touched:
            rec.save(base, record)
        return report


def as_recorded(
    record: rec.Record, looked: Survey, report: MirrorReport, skip: Collection[str] = ()
) -> bool:
    """Count in ``report`` the host files of ``record`` (but ``skip``) a run leaves as they are.

    A clean file is unchanged (a new ``lstat`` recorded when only it moved), an
    edited regular file is noted; False as soon as one needs writing or a folder
    or symlink changed: the full run's work.
    """
    for rel, (state, st) in looked.states.items():
        if rel in skip:
            continue
        entry = record.files[rel]
        if state == "clean":
            assert st is not None
            if entry.type not in (DIRECTORY, SYMLINK) and entry.stat_key != rec.stat_key(st):
                entry.with_stat(st)
                report.touched = True
            report.unchanged += 1
        elif (
            state == "edited"
            and st is not None
            and stat.S_ISREG(st.st_mode)
            and entry.type not in (DIRECTORY, SYMLINK)
        ):
            report.edited.append(Note(entry.path, rel, edited_reason(entry, record)))
        else:
            return False
    return True


def may_follow(
    record: rec.Record | None,
    pond: str,
    patterns: Sequence[str] | None,
    tables: str | None,
    *,
    moved: bool = False,
) -> bool:
    """Whether ``record`` was made of ``pond`` as the run asks for it, and the pond since then
    committed nothing (``moved`` False) or committed after the record's log entry, which
    is still the one it names (``moved`` True: ``tail.py`` reads what came after)."""
    if not (
        record is not None
        and record.log is not None
        and record.pond == pond
        and record.pond_id != ""
        and record.at_txn is None
        and (not patterns or list(patterns) == record.patterns)
        and (tables is None or tables == record.tables)
    ):
        return False
    if moved:
        return rec.log_stamp(pond, record.log["version"]) == record.log
    return rec.log_unmoved(pond, record.log)
