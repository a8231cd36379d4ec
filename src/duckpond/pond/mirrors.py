"""``pond.mirrors``: the pond as a folder of plain host files, and that folder's edits back.

pond.mirrors.write("/srv/share")                      # write or refresh the mirror
pond.mirrors.write("/srv/share", ["/hydrovu/**"], tables="csv")
pond.mirrors.sync("/srv/share", delete=True)          # host edits in: one transaction

The work is ``duckpond.ingest.mirror``'s (README, "A mirror for other tools";
docs/architecture.md, "The local mirror").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, ReadOnlyError, guarded
from .facet import Facet

if TYPE_CHECKING:
    from ..ingest.mirror import MirrorReport, SyncResult


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
        for a bad ``tables``, ``FileNotFoundError`` for a literal pattern naming
        nothing, ``LockTimeoutError`` when another run holds ``dir``.
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
            )
        # A read-only file's edit is said once, by the sync.
        said = {note.host for note in report.kept}
        mirrored.edited = [n for n in mirrored.edited if n.host not in said]
        mirrored.conflicts = [n for n in mirrored.conflicts if n.host not in said]
        return SyncResult(report, mirrored)

    def _folder(self, dir: str | os.PathLike[str]) -> Path:
        """``dir`` made absolute; ``ConfigError`` if it is, holds or lies in the pond's directory.

        A mirror there would write into the Delta table, and ``--sync`` would
        read the pond's own files as host edits.
        """
        from ..pipeline.reserved import host_output_problem

        base = Path(dir).absolute()
        problem = host_output_problem(str(base), self.pond.path)
        if problem is not None:
            raise ConfigError(problem)
        return base
