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
from collections.abc import Sequence
from pathlib import Path

from ...tinyfs import DIRECTORY, SYMLINK
from . import record as rec
from .out import MirrorReport, Note, edited_reason, new_on_host, survey


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
    if not _may_be_idle(rec.header(base), pond, patterns, tables):
        return None
    with rec.MirrorLock(base, lock_timeout):
        if (base / rec.PENDING_FILE).exists():
            return None
        record = rec.load(base)
        if record is None or not _may_be_idle(record, pond, patterns, tables):
            return None
        if any(entry.stale for entry in record.files.values()):
            return None
        looked = survey(base, record)
        report = MirrorReport(str(base), record.txn)
        for rel, (state, st) in looked.states.items():
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
                return None
        report.refused = [Note(**note) for note in record.refused]
        report.new = new_on_host(record, looked.new)
        if report.touched:
            rec.save(base, record)
        return report


def _may_be_idle(
    record: rec.Record | None, pond: str, patterns: Sequence[str] | None, tables: str | None
) -> bool:
    """Whether ``record`` was made of ``pond`` as it is now, as the run asks for it."""
    return (
        record is not None
        and record.log is not None
        and record.pond == pond
        and record.at_txn is None
        and (not patterns or list(patterns) == record.patterns)
        and (tables is None or tables == record.tables)
        and rec.log_unmoved(pond, record.log)
    )
