"""``pond.mirrors``: the mirror verbs of an open pond (a facet, as ``table.inspect`` is in pyiceberg)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ...errors import ConfigError, ReadOnlyError, guarded
from ...tinyfs import WD
from . import record as rec
from .out import MirrorReport, mirror_out
from .sync import SyncReport, apply, scan, settle


class _Transaction(Protocol):
    @property
    def root(self) -> WD: ...

    @property
    def txn_seq(self) -> int | None: ...


class MirroredPond(Protocol):
    """What the facet needs of ``duckpond.Pond``."""

    path: Path
    lock_timeout: float

    @property
    def root(self) -> WD: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def last_txn(self) -> int: ...

    def transaction(self) -> AbstractContextManager[Any]: ...


@dataclass
class SyncResult:
    """``--sync``: the edits brought in, then the mirror run that followed."""

    sync: SyncReport
    mirror: MirrorReport

    def lines(self) -> list[str]:
        return [*self.sync.lines(), *self.mirror.lines()]

    def to_json(self) -> dict[str, Any]:
        return {"sync": self.sync.to_json(), "mirror": self.mirror.to_json()}


class Mirrors:
    """The pond as plain host files, and host edits back in (docs/architecture.md, "The local mirror").

    ``pond.mirrors.write(DIR)`` writes or refreshes a mirror; ``pond.mirrors.sync(DIR)``
    brings its host edits in as one transaction and refreshes it.
    """

    def __init__(self, pond: MirroredPond) -> None:
        self._pond = pond

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
        pond = self._pond
        return mirror_out(
            pond.root,
            Path(dir).absolute(),
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
        host.  Raises ``ReadOnlyError`` on a past state, ``ConfigError`` when
        ``dir`` is not a mirror of this pond.
        """
        pond = self._pond
        if pond.read_only:
            raise ReadOnlyError(
                "a mirror of a past state is read-only: open the pond as it is now to sync"
            )
        base = Path(dir).absolute()
        if not base.is_dir():
            raise FileNotFoundError(2, "no such mirror folder", str(base))
        with rec.MirrorLock(base, pond.lock_timeout):
            record = rec.load(base)
            if record is None:
                raise ConfigError(
                    f"{base} is not a mirror (no {rec.RECORD_FILE}): pond mirror DIR makes one"
                )
            if record.pond != str(pond.path):
                raise ConfigError(f"{base} mirrors the pond at {record.pond}, not this one")
            changes, kept = scan(base, record, delete=delete)
            report = SyncReport(str(base), kept=kept)
            if changes:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                with pond.transaction() as tx:
                    done = apply(tx.root, changes, report, stamp)
                report.txn_seq = tx.txn_seq
                settle(base, record, pond.root, done)
            # The mirror run goes on from this record (saved once, at its end), and
            # looks again only at the host paths the scan did not find as recorded.
            suspects = {c.rel for c in changes} | {n.host for n in kept}
            mirrored = mirror_out(
                pond.root,
                base,
                pond=str(pond.path),
                txn=pond.last_txn,
                lock_timeout=pond.lock_timeout,
                loaded=record,
                suspects=suspects,
                record_changed=bool(changes),
            )
        # A read-only file's edit is said once, by the sync.
        said = {note.host for note in report.kept}
        mirrored.edited = [n for n in mirrored.edited if n.host not in said]
        mirrored.conflicts = [n for n in mirrored.conflicts if n.host not in said]
        return SyncResult(report, mirrored)
