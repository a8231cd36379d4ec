"""``pond.mirrors``: the pond as a folder of plain host files, and that folder's edits back.

pond.mirrors.write("/srv/share")                      # write or refresh the mirror
pond.mirrors.write("/srv/share", ["/hydrovu/**"], tables="csv")
pond.mirrors.sync("/srv/share", delete=True)          # host edits in: one transaction

The work is ``duckpond.ingest.mirror``'s (README, "A mirror for other tools";
docs/architecture.md, "The local mirror").
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, ReadOnlyError, guarded
from ..tlogfs.lock import DEFAULT_TIMEOUT as DEFAULT_LOCK_TIMEOUT
from .facet import Facet

if TYPE_CHECKING:
    from ..ingest.mirror import MirrorReport, SyncResult
    from .core import Pond


@guarded
def refresh_mirror(
    pond_dir: str | os.PathLike[str],
    dir: str | os.PathLike[str],
    patterns: Sequence[str] = (),
    *,
    tables: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    opener: Callable[[], Pond] | None = None,
    before_arrow: Callable[[], None] | None = None,
) -> MirrorReport:
    """``Pond.open(pond_dir).mirrors.write(dir, patterns, tables=tables)``, without the open when idle.

    When the pond has committed nothing since ``dir``'s record was made, and no
    host file the record names is missing or changed in kind, the run has
    nothing to write: it walks ``dir`` (to report host edits and new host
    entries) and never opens the pond, so the Delta and Arrow libraries are not
    even imported (``duckpond.ingest.mirror.idle``).  When it only wrote new
    versions of raw files the mirror holds, those are read from the newest
    Delta log entries and their Parquet files, without deltalake
    (``duckpond.ingest.mirror.tail``), and ``before_arrow`` is called, once
    that path is sure, just before pyarrow is imported (the CLI hides numpy
    there, ``cli/lean.py``).  Otherwise it opens the
    pond with ``opener`` (default ``Pond.open(pond_dir, lock_timeout=...)``)
    and runs ``write``.  Raises what ``Pond.open`` and ``write`` raise.
    """
    from ..ingest.mirror.idle import idle_report
    from ..ingest.mirror.tail import tail_report

    where = os.fspath(pond_dir)
    if "://" not in where:  # a pond read in place from a store has no local log
        absolute = str(Path(where).expanduser().absolute())
        base = _mirror_folder(dir, absolute)
        report = idle_report(
            base,
            absolute,
            patterns=list(patterns) or None,
            tables=tables,
            lock_timeout=lock_timeout,
        )
        if report is None:
            # The pond moved: when it only wrote new versions of mirrored raw files,
            # the log's newest entries say which, and the pond still need not be opened.
            report = tail_report(
                base,
                absolute,
                patterns=list(patterns) or None,
                tables=tables,
                lock_timeout=lock_timeout,
                before_arrow=before_arrow,
            )
        if report is not None:
            return report
    if opener is not None:
        pond = opener()
    else:
        from .core import Pond

        pond = Pond.open(pond_dir, lock_timeout=lock_timeout)
    return pond.mirrors.write(dir, patterns, tables=tables)


def _mirror_folder(dir: str | os.PathLike[str], pond_dir: str | os.PathLike[str]) -> Path:
    """``dir`` made absolute; ``ConfigError`` if it is, holds or lies in the pond's directory,
    ``NotADirectoryError`` if it is there and not a folder.

    A mirror there would write into the Delta table, and ``--sync`` would
    read the pond's own files as host edits.
    """
    from ..pipeline.reserved import host_output_problem

    base = Path(dir).absolute()
    if os.path.exists(base) and not os.path.isdir(base):
        raise NotADirectoryError(
            errno.ENOTDIR, "a mirror is a folder, and this is not one", str(base)
        )
    problem = host_output_problem(str(base), Path(pond_dir))
    if problem is not None:
        raise ConfigError(problem)
    return base


class PondMirrors(Facet):
    """Mirrors of a pond: ``write`` a folder of plain files, ``sync`` its edits back in."""

    @guarded
    def write(
        self,
        dir: str | os.PathLike[str],
        patterns: Sequence[str] = (),
        *,
        tables: str | None = None,
    ) -> MirrorReport:
        """Write every node ``patterns`` select (default: the record's, else ``/**``) under ``dir``.

        Raw files are written as their bytes, tables and series (stored or
        computed) as one ``tables`` file each (parquet or csv, default the
        record's, else parquet), symlinks as symlinks inside ``dir``.  Only what
        changed since the last run is written; a host file the user changed is
        never overwritten (``report.edited``/``conflicts``).  On a pond opened at a
        past transaction, the mirror shows that state.  Raises ``ConfigError``
        for a bad ``tables``, ``FileNotFoundError`` for a pattern that matches
        nothing (unless the mirror was made with it: then the pond emptied it),
        ``NotADirectoryError`` when ``dir`` is a file, ``LockTimeoutError`` when
        another run holds ``dir``.
        """
        from ..ingest.mirror import mirror_out

        pond = self.pond
        base = self._folder(dir)
        return mirror_out(
            pond.root,
            base,
            pond=str(pond.path),
            txn=pond.last_txn,
            patterns=list(patterns) or None,
            tables=tables,
            at_txn=pond.last_txn if pond.read_only else None,
            lock_timeout=pond.lock_timeout,
            log=self._log(),
            pond_id=self._pond_id(),
        )

    @guarded
    def sync(self, dir: str | os.PathLike[str], *, delete: bool = False) -> SyncResult:
        """Bring the host edits in the mirror ``dir`` into the pond as one transaction, then refresh it.

        See ``duckpond.ingest.mirror.sync`` for what comes in; ``delete`` also
        removes from the pond the raw files, folders and symlinks removed on the
        host.  Host files are read before the pond's write lock is taken.
        Raises ``ReadOnlyError`` on a past state or when ``dir`` mirrors one
        (its record's ``at_txn``), ``ConfigError`` when ``dir``
        is not a mirror of this pond, ``LockTimeoutError`` when another run
        holds ``dir``.
        """
        from datetime import UTC, datetime

        from ..ingest.mirror import SyncReport, SyncResult, mirror_out, record, sync

        pond = self.pond
        if pond.read_only:
            raise ReadOnlyError(
                "a mirror of a past state is read-only: open the pond as it is now to sync"
            )
        base = self._folder(dir)
        if not base.is_dir():
            raise FileNotFoundError(2, "no such mirror folder", str(base))
        with record.MirrorLock(base, pond.lock_timeout):
            loaded = record.load(base)
            if loaded is None:
                raise ConfigError(
                    f"{base} is not a mirror (no {record.RECORD_FILE}): pond mirror DIR makes one"
                )
            if loaded.pond != str(pond.path):
                raise ConfigError(f"{base} mirrors the pond at {loaded.pond}, not this one")
            if loaded.at_txn is not None:
                # Its files show a past state: bringing them in would undo later commits.
                raise ReadOnlyError(
                    f"{base} mirrors the pond as of txn {loaded.at_txn}, and a mirror of the past"
                    f" is read-only: run pond mirror {base} (without --at-txn or --at) to make it"
                    " a mirror of the pond as it is now, then edit and sync"
                )
            changes, kept = sync.scan(base, loaded, delete=delete)
            report = SyncReport(str(base), kept=kept)
            if changes:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                with pond.transaction() as tx:
                    done = sync.apply(tx.root, changes, report, stamp)
                report.txn_seq = tx.txn_seq
                sync.settle(base, loaded, pond.root, done)
            # The mirror run goes on from this record (saved once, at its end), and
            # looks again only at the host paths the scan did not find as recorded.
            mirrored = mirror_out(
                pond.root,
                base,
                pond=str(pond.path),
                txn=pond.last_txn,
                lock_timeout=pond.lock_timeout,
                loaded=loaded,
                suspects={c.rel for c in changes} | {n.host for n in kept},
                record_changed=bool(changes),
                log=self._log(),
                pond_id=self._pond_id(),
            )
        # A read-only file's edit is said once, by the sync.
        said = {note.host for note in report.kept}
        mirrored.edited = [n for n in mirrored.edited if n.host not in said]
        mirrored.conflicts = [n for n in mirrored.conflicts if n.host not in said]
        return SyncResult(report, mirrored)

    def _log(self) -> dict[str, int] | None:
        """The stamp of the pond's newest log entry this view reads (None: a past or remote state)."""
        from ..ingest.mirror.record import log_stamp

        pond = self.pond
        if pond.read_only:
            return None
        return log_stamp(pond.path, pond.persistence.table.version())

    def _pond_id(self) -> str:
        """The pond's identity, which the record keeps (a past state has its pond's)."""
        return self.pond.pond_id

    def _folder(self, dir: str | os.PathLike[str]) -> Path:
        return _mirror_folder(dir, self.pond.path)
