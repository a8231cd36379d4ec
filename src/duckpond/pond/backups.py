"""``pond.backups``: a pond's Backup resources, pushed, listed and verified.

pond.backups.push()                  # every Backup resource (or some, by name)
pond.backups.list()                  # BackupInfo: url, last pushed txn, lag; no network
pond.backups.verify("offsite", deep=True)
pond.backups.repair("offsite")       # fsck, then fetch what is missing or bad
pond.backups.prune("offsite", keep="1y")  # the remote's own retention
Pond.repair(path, "offsite")         # the same for a pond too damaged to open
pond.backups.remote("offsite").fetch_verified("data/_large_files/sha256=...")

``Pond.restore(url, dest)`` rebuilds a pond from a backup (``duckpond.backup.restore``).
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, PondError, boundary, describe, guarded
from .facet import Facet

if TYPE_CHECKING:
    from pathlib import Path

    from ..backup import PruneReport, PushReport, RepairReport, VerifyReport
    from ..backup import Remote as BackupRemote
    from ..backup.mend import MendReport
    from ..backup.source import PondFiles


@dataclass(frozen=True)
class BackupInfo:
    """One Backup resource as this pond knows it (``pond backup list``).

    ``last_pushed_txn`` is the newest pond transaction the remote holds as of the last
    push (0: none); ``lag_txns`` the transactions since, ``lag_bytes`` at most the bytes
    they would send (0 when no transaction lags); ``last_push_time`` the end of the last
    successful push (UTC), ``last_outcome``/``last_error`` the last attempt's.
    ``lag_versions`` counts the Delta versions the remote lacks: with no transaction
    lagging, those are ``pond maintain``'s own commits (the same content, compacted or
    consolidated), which the next push sends and which hold back the next ``maintain``.
    From ``$POND/backups/<name>.json`` and the local log only: no network.

    ``known`` is False for a backup a restored pond has no record of (every backup but
    the one it was restored from, until it pushes there): what that remote holds is then
    unknown here, not "nothing", and ``to_json`` gives null for the pushed transaction
    and the lag; the next push asks the remote and goes on from where it stands.
    """

    name: str
    url: str
    last_pushed_txn: int
    last_pushed_version: int
    lag_txns: int
    lag_bytes: int
    last_push_time: str | None
    last_outcome: str | None
    last_error: str | None
    lag_versions: int = 0
    known: bool = True

    def to_json(self) -> dict[str, Any]:
        def known(value: int) -> int | None:
            return value if self.known else None

        return {
            "name": self.name,
            "url": self.url,
            "known": self.known,
            "last_pushed_txn": known(self.last_pushed_txn),
            "last_pushed_version": known(self.last_pushed_version),
            "lag_txns": known(self.lag_txns),
            "lag_bytes": known(self.lag_bytes),
            "lag_versions": known(self.lag_versions),
            "last_push_time": self.last_push_time,
            "last_outcome": self.last_outcome,
            "last_error": self.last_error,
        }


class PondBackups(Facet):
    """The backup facet of a pond (``pond.backups``): its Backup resources, pushed and checked.

    A backup is a ``Backup`` resource (``pond.pipeline.apply``); see ``duckpond.backup`` for
    what a push guarantees.  ``list()`` says, without the network, how far each backup
    lags (for a caller that must not lose what is not backed up yet: ``maintain``);
    ``remote(name)`` gives the store itself, e.g. for ``Remote.fetch_verified`` when
    repairing a local object from a backup.
    """

    def _specs(self) -> dict[str, Any]:
        import json

        from ..pipeline.apply import stored_resources
        from ..pipeline.documents import load_stored

        out: dict[str, Any] = {}
        for name, res in sorted(stored_resources(self.pond.root).items()):
            if res.kind == "Backup":
                out[name] = load_stored(json.dumps(res.document).encode(), name).spec
        self._remember(out)
        return out

    def _remember(self, specs: dict[str, Any]) -> None:
        """Cache the specs for a push that need not open the pond (``push_pond``).

        Only from a pond open at its newest state, in its own directory: its Delta
        version is the one the specs were read at.
        """
        from ..backup.state import SpecCache, save_specs
        from ..pipeline.resolver import RESOURCES_DIR

        if self.pond.read_only or self.pond.persistence.remote is not None:
            return
        watch = []
        for path in ("/", "/etc", RESOURCES_DIR):
            if not self.pond.root.exists(path):
                break
            watch.append(self.pond.root.get(path).node_id)
        version = self.pond.persistence.table.version()
        fields = {name: spec.model_dump(mode="json") for name, spec in specs.items()}
        # A cache: if it cannot be written, the next push opens the pond instead.
        with contextlib.suppress(OSError):
            save_specs(self.pond.path, SpecCache(version, watch, fields))

    def _spec(self, name: str) -> Any:
        specs = self._specs()
        if name not in specs:
            known = ", ".join(specs) or "none"
            raise ConfigError(f"no Backup resource named {name!r} (backups: {known})")
        return specs[name]

    def files(self) -> PondFiles:
        """What a push reads the pond from: its directory, or for a pond kept on S3 its
        store (``duckpond.backup.source``, which also says where the push records live)."""
        from ..backup.source import DirFiles, StoreFiles

        files = self.pond.persistence.remote
        if files is not None and self.pond.persistence.shared:
            return StoreFiles(files)
        return DirFiles(self.pond.path)

    def remote(self, name: str, *, create: bool = False) -> BackupRemote:
        """The store of backup ``name``, its credentials resolved from the environment now."""
        from ..pipeline.kinds.backup import remote_of

        return remote_of(self._spec(name), create=create)

    @guarded
    def list(self) -> builtins.list[BackupInfo]:
        """Every Backup resource with its last push and lag (no network; for a pond kept on
        S3, its records and the log entries since are read from its store)."""
        from ..backup.local import LocalLog, pending
        from ..backup.source import DirFiles
        from ..backup.state import load_restored, load_state

        self.pond._local_only("backup list")
        files = self.files()
        restored = isinstance(files, DirFiles) and load_restored(files.pond_dir) is not None
        out = []
        seen: dict[int, Any] = {}
        versions = LocalLog(files).versions()
        for name, spec in self._specs().items():
            state = load_state(files, name, spec.url)
            lag_txns = max(0, self.pond.last_txn - state.last_txn)
            # With every transaction pushed, what is left are maintain's own commits:
            # no content the remote lacks (their files name blobs it holds), so no lag.
            lag_bytes = pending(files, state.last_version, seen)[1] if lag_txns else 0
            attempt = state.last_attempt
            out.append(
                BackupInfo(
                    name,
                    spec.url,
                    state.last_txn,
                    state.last_version,
                    lag_txns,
                    lag_bytes,
                    state.last_push_time,
                    attempt.outcome if attempt else None,
                    attempt.error if attempt else None,
                    sum(1 for v in versions if v > state.last_version),
                    # A restored copy with no record of this backup, or only of a failed
                    # push: what the remote holds is unknown here, not "nothing".
                    # Refused (another history there): the lag is no number either.
                    known=not (
                        (restored and state.last_version < 0)
                        or (attempt is not None and attempt.outcome == "refused")
                    ),
                )
            )
        return out

    @guarded
    def push(
        self,
        names: Sequence[str] = (),
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> builtins.list[PushReport]:
        """Push to the named backups (all if none), in name order, each whatever the others do.

        ``names`` is a sequence of names; a bare ``str`` is one name.  Returns one
        ``PushReport`` per backup; a failed push (``RemoteError``, ``BackupConflictError``,
        an unreadable object) is a report whose ``error`` gives the one-line reason, as
        ``pond run`` reports each resource.  Raises ``ConfigError`` for an unknown name or
        a pond without Backup resources, ``ReadOnlyError`` on a pond read in place.
        """
        if self.pond.persistence.remote is not None and not self.pond.persistence.shared:
            raise self.pond.persistence._read_only_error()
        specs = {n: s.model_dump(mode="json") for n, s in self._specs().items()}
        return _push_each(self.files(), specs, names, progress)

    @guarded
    def verify(self, name: str, *, deep: bool = False) -> VerifyReport:
        """Compare backup ``name`` with this pond; ``deep`` re-hashes every remote object."""
        from ..backup import verify

        self.pond._local_only("backup verify")
        return verify(self.files(), self.remote(name), deep=deep)

    @guarded
    def mend(self, name: str, *, deep: bool = False) -> MendReport:
        """Put back on backup ``name`` what its push records name and it lacks, from this
        pond (``duckpond.backup.mend``); ``deep`` also re-hashes every remote object and
        replaces those whose bytes are not the recorded ones.  Raises as ``verify``, and
        ``CorruptDataError`` if the backup's records themselves are damaged."""
        from ..backup.mend import mend

        if self.pond.persistence.remote is not None and not self.pond.persistence.shared:
            raise self.pond.persistence._read_only_error()
        return mend(self.files(), self.remote(name), name, deep=deep)

    @guarded
    def prune(
        self,
        name: str,
        *,
        keep: str | timedelta | None = None,
        keep_txns: int | None = None,
        dry_run: bool = False,
    ) -> PruneReport:
        """Remove from backup ``name`` what no restore inside the window reads.

        The window is ``keep`` (a span such as ``"1y"``: transactions committed within it)
        or ``keep_txns`` (the remote's newest N); see ``duckpond.backup.prune`` for the
        guarantees (a kill at any instant leaves the remote restorable at every kept
        transaction).  ``dry_run`` reports what would go, changing nothing.  Raises
        ``ConfigError`` (unknown backup, bad window), ``RemoteError`` (store unusable, no
        backup), ``CorruptDataError`` (a bad record: nothing removed).
        """
        from ..backup import prune
        from .maintenance import _span

        self.pond._local_only("backup prune")
        span = _span(keep)  # a bad span is refused before the store is looked at
        txns = [(t.txn_seq, t.timestamp) for t in self.pond.persistence.transactions()]
        return prune(
            self.remote(name),
            name,
            txns,
            keep=span,
            keep_txns=keep_txns,
            dry_run=dry_run,
        )

    @guarded
    def repair(self, name: str) -> RepairReport:
        """Put back from backup ``name`` every oplog file and blob ``fsck`` finds missing or
        bad (each checked against the push records, written atomically), then fsck again.

        The report's ``unrepaired`` names what is left; ``ok`` is the final fsck's.
        Raises ``RemoteError`` if the store cannot be used.
        """
        from ..backup import repair

        if self.pond.persistence.shared:
            raise ConfigError(
                f"{self.pond.location} is kept on S3: there are no local files to repair "
                "(pond fsck checks its objects; restore a backup to a new URL or directory)"
            )
        if self.pond.persistence.remote is not None:
            raise self.pond.persistence._read_only_error()
        return repair(self.pond.path, self.remote(name))


def push_pond(
    path: str | os.PathLike[str],
    names: Sequence[str] = (),
    *,
    progress: Callable[[int, int], None] | None = None,
) -> builtins.list[PushReport]:
    """``pond backup push``: ``pond.backups.push(names)`` of the pond at ``path``, opening it
    only if need be.

    The Backup resources' specs come from the pond's cache of them
    (``duckpond.backup.state.SpecCache``) when no transaction since it was written touched
    ``/etc/resources``: then the pond's Delta table is never opened (nor pydantic
    imported), which is most of what a push after a small change costs.  The push itself
    is the same either way: identity, divergence and hashes are checked as always.
    Returns and raises as ``PondBackups.push``.
    """
    from pathlib import Path

    from ..backup.state import load_specs
    from ..tlogfs.objectstore import is_store_url
    from .core import Pond

    if not is_store_url(os.fspath(path)):
        where = Path(path).expanduser().absolute()
        cache = load_specs(where)
        if cache is not None:
            with boundary():
                return _push_each(where, cache.specs, names, progress)
    with Pond.open(path) as pond:
        return pond.backups.push(names, progress=progress)


def _push_each(
    where: Path | PondFiles,
    specs: dict[str, dict[str, Any]],
    names: Sequence[str],
    progress: Callable[[int, int], None] | None,
) -> builtins.list[PushReport]:
    """Push to each chosen backup (``specs``: name to spec fields as stored), in name order."""
    from ..backup import PushReport, push
    from ..backup.push import DEFAULT_CONCURRENCY
    from ..pipeline.backupstore import backup_remote

    chosen = [names] if isinstance(names, str) else builtins.list(names)
    chosen = chosen or sorted(specs)
    if not chosen:
        raise ConfigError("this pond has no Backup resource: apply one first")
    for name in chosen:
        if name not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise ConfigError(f"no Backup resource named {name!r} (backups: {known})")
    reports = []
    for name in chosen:
        fields = specs[name]
        started = datetime.now(UTC)
        remote = None
        try:
            remote = backup_remote(fields, create=True)
            concurrency = int(fields.get("concurrency") or DEFAULT_CONCURRENCY)
            reports.append(push(where, remote, name, concurrency=concurrency, progress=progress))
        except (PondError, OSError, ValueError) as e:
            # One broken backup must not keep the others from their push.
            failed = PushReport(name, str(fields["url"]), _pond_id(where), -1, -1, 0)
            failed.error = str(e)
            reports.append(failed)
            if remote is None:
                # The store could not even be opened (push records its own failures).
                _record_failure(where, name, str(fields["url"]), started, describe(e))
    return reports


def _record_failure(
    where: Path | PondFiles, name: str, url: str, started: datetime, error: str
) -> None:
    """Record a push that failed before it began as its last attempt (``backup list``)."""
    from ..backup.state import LastAttempt, load_state, save_state

    elapsed = round((datetime.now(UTC) - started).total_seconds(), 3)
    # A record that cannot be written costs the list its outcome, not the push's error.
    with contextlib.suppress(PondError, OSError, ValueError):
        state = load_state(where, name, url)
        state.last_attempt = LastAttempt(started.isoformat(), "failed", error, 0, 0, elapsed)
        save_state(where, state)


def _pond_id(where: Path | PondFiles) -> str:
    """The pond id for a failed push's report ("" if even that cannot be read)."""
    from ..backup.source import pond_files

    try:
        return pond_files(where).pond_id()
    except (PondError, OSError):
        return ""


def repair_pond(path: Any, name: str) -> RepairReport:
    """``fsck --repair``: mend the pond at ``path`` from its backup ``name``.

    A local pond is mended first without reading it: the backup's settings come from
    what the pond recorded outside its oplog (``backup.repair.recorded_spec``: the specs
    cache, or the URL of the last push with store settings from ``AWS_*``), and every
    file ``fsck`` names missing or bad is fetched by its key.  So a pond too damaged to
    read its own Backup resource (a data file of ``/`` or ``/etc/resources`` lost, a log
    entry cut short) is mended all the same.  Only if something is left, or nothing was
    recorded, is the pond opened for its Backup resource, and mended from that store
    if it is another.  Raises ``ConfigError`` if neither names the backup,
    ``RemoteError`` if the store cannot be used.
    """
    from pathlib import Path

    from ..backup import repair
    from ..backup.repair import recorded_spec
    from ..errors import PondError
    from ..pipeline.backupstore import backup_remote
    from ..tlogfs.objectstore import is_store_url
    from .core import Pond

    if is_store_url(os.fspath(path)):
        with Pond.open(path) as pond:
            return pond.backups.repair(name)
    where = Path(path).expanduser().absolute()
    fields = recorded_spec(where, name)
    first: RepairReport | None = None
    if fields is not None:
        with boundary():
            first = repair(where, backup_remote(fields))
        if first.ok:
            return first
    try:
        pond = Pond.open(where)
    except (PondError, OSError) as e:
        if first is not None:
            return first
        raise ConfigError(
            f"the pond cannot be read ({e}) and has no record of a push to {name!r}"
        ) from None
    with pond:
        # A pond that reads but has no such Backup: that, in its own words.
        remote = pond.backups.remote(name)
    if first is not None and remote.url == first.url:
        return first
    report = repair(where, remote)
    if first is not None:
        report.repaired = first.repaired + report.repaired
    return report
