"""``pond.maintenance``: keeping a pond small (README, "Keeping a pond small").

pond.maintenance.maintain(keep="90d")                   # compact, then remove what is not kept
pond.maintenance.maintain(keep_txns=1000, dry_run=True)  # what would go, changing nothing
pond.maintenance.du(keep="30d")                         # where the space goes; what 30d frees

The removal itself is ``duckpond.tlogfs.reclaim`` (the order that makes it
crash-safe is in its docstring); ``fsck`` and ``recover`` stay on ``Pond``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, PondError, describe, guarded
from ..printable import counted
from .facet import Facet

if TYPE_CHECKING:
    from ..tlogfs.reclaim import MaintainReport
    from .core import Pond


@dataclass
class SpaceReport:
    """``pond du``: bytes on disk by part, stored bytes by top-level directory, what
    ``maintain`` with ``keep`` would reclaim.

    ``usage`` is the disk use of the pond directory, or of a pond kept on S3 its objects
    and this machine's cache (``duckpond.tlogfs.usage``);
    ``directories`` maps each top-level pond path to the bytes of every stored
    version of every node under it (content bytes before compression, all history;
    ``(removed)`` for nodes no longer in the tree); ``reclaimable`` is None
    when no window was given.
    """

    usage: Any
    directories: dict[str, int]
    reclaimable: int | None = None
    keep: str | None = None
    refusal: PondError | None = None
    """Why ``maintain`` with ``keep`` would be refused now (a Backup that lags; its files
    are kept for the backup's next push, so ``reclaimable`` counts none of them)."""
    reclaimable_after_push: int | None = None
    """With a ``refusal``: what it would reclaim once every backup is pushed."""

    def to_json(self, *, cli: bool = False) -> dict[str, Any]:
        return {
            **self.usage.to_json(),
            "directories": dict(self.directories),
            "reclaimable_bytes": self.reclaimable,
            "keep": self.keep,
            "refused": None if self.refusal is None else describe(self.refusal, cli=cli),
            "reclaimable_bytes_after_push": self.reclaimable_after_push,
        }

    def summary(self, *, cli: bool = False) -> str:
        u = self.usage
        lines = [
            f"{'log':<24} {u.log_bytes:>14}  ({counted(u.log_files, 'file')}: Delta log and data files)",
            f"{'blobs':<24} {u.blob_bytes:>14}  ({counted(u.blob_files, 'file')})",
            f"{'cache':<24} {u.cache_bytes:>14}  ({counted(u.cache_files, 'file')}, disposable)",
            f"{'other':<24} {u.other_bytes:>14}",
            f"{'total':<24} {u.total_bytes:>14}",
            "stored versions by directory (bytes before compression, all history):",
        ]
        lines += [f"  {path:<22} {size:>14}" for path, size in self.directories.items()]
        if self.reclaimable is not None:
            lines.append(f"pond maintain {self.keep} would reclaim about {self.reclaimable} bytes")
        if self.refusal is not None:
            lines[-1] += f" now, and would be refused: {describe(self.refusal, cli=cli)}"
            lines.append(
                f"once every backup is pushed, it would reclaim about "
                f"{self.reclaimable_after_push} bytes"
            )
        if self.reclaimable is not None:
            # What the run's own compaction replaces is only known once it has run.
            lines[-1] += " (not counting the files its compaction replaces)"
        return "\n".join(lines)


class PondMaintenance(Facet):
    """The verbs that keep a pond's disk bounded: ``pond.maintenance``.

    ``maintain`` compacts, prunes the cache and, given a window, removes what no
    transaction inside it reads; ``du`` says where the space goes.
    """

    @guarded
    def maintain(
        self,
        *,
        keep: str | timedelta | None = None,
        keep_txns: int | None = None,
        dry_run: bool = False,
        cache_only: bool = False,
        cache_max_bytes: int | None = None,
        push_first: bool = False,
        grace: str | timedelta | None = None,
    ) -> MaintainReport:
        """Compact and checkpoint the oplog, prune the cache to its bound, and with a window
        (``keep``: a span such as ``"90d"``; or ``keep_txns``: the newest N transactions)
        remove every file no transaction inside it reads (``duckpond.tlogfs.reclaim``).

        Time travel inside the window stays exact; before it, opening the pond raises
        ``HistoryRemovedError``.  ``dry_run`` reports the same without changing anything;
        ``cache_only`` only prunes the cache.  Takes the write lock.  The report's
        ``summary()`` is a few lines whatever the pond's size (``files=True`` lists each
        file removed), its ``seconds`` the time the whole call took.

        Never the only copy: with a window, a Backup resource that has not pushed the
        pond's newest version makes it refuse (``ConfigError`` naming the backup), unless
        ``push_first`` pushes the lagging backups first; the log entries and data files a
        backup has not received yet are kept for its next push.

        On a pond kept on S3 (no lock there) it runs beside writers on other machines:
        its commits land only on the version they were computed from (else computed
        again: ``DeltaPersistence.maintain``), compaction included, and an object no
        commit names is removed only once older than ``grace`` (a span; default
        ``tlogfs.reclaim.DEFAULT_GRACE``, a day), which spares another writer's uploads
        whose commit is still to come and removes a killed writer's orphans.
        Raises ``ConfigError`` for a bad window, ``ReadOnlyError`` on a past state.
        """
        from ..pipeline.cache import CACHE_MAX_BYTES
        from ..tlogfs.reclaim import MaintainReport

        started = time.monotonic()
        pond = self.pond
        if pond.read_only:
            raise pond._read_only_error("cannot be maintained")
        span = _span(keep)
        grace_span = _span(grace, "grace")
        if grace_span is not None and not pond.persistence.shared:
            raise ConfigError(
                "{grace} is for a pond kept on S3 (a local pond's writer holds its lock; "
                "pond recover removes what a crash left)",
                options={"grace": ""},
            )
        if cache_max_bytes is not None and cache_max_bytes < 0:
            raise ConfigError(
                f"{{cache_max_bytes}} must be a size in bytes, 0 or more, not {cache_max_bytes}",
                options={"cache_max_bytes": ""},
            )
        if push_first and span is None and keep_txns is None:
            # Without a window nothing is removed, so there is nothing to push first for.
            raise ConfigError(
                "{push_first} goes with a window ({keep} or {keep_txns})",
                options={"push_first": "", "keep": "", "keep_txns": ""},
            )
        if cache_only:
            if span is not None or keep_txns is not None:
                raise ConfigError("{cache_only} takes no window", options={"cache_only": ""})
            report = MaintainReport(dry_run=dry_run, last_txn=pond.last_txn)
            floor = pond.persistence.retention()
            report.earliest_kept_txn = floor.earliest_txn if floor is not None else 1
        else:
            pushed: int | None = None
            pushes: list[Any] = []
            refusal: ConfigError | None = None
            if span is not None or keep_txns is not None:
                pushed, pushes, refusal = self._pushed(push_first and not dry_run)
                if refusal is not None and not dry_run:
                    raise refusal
            report = self._reclaim(span, keep_txns, dry_run, pushed, grace_span)
            report.pushes, report.refusal = pushes, refusal
        bound = CACHE_MAX_BYTES if cache_max_bytes is None else cache_max_bytes
        entries, size = pond.cache.prune(bound, dry_run=dry_run)
        report.cache_entries_removed, report.cache_bytes_removed = entries, size
        report.seconds = time.monotonic() - started
        return report

    def _reclaim(
        self,
        span: timedelta | None,
        keep_txns: int | None,
        dry_run: bool,
        pushed: int | None,
        grace: timedelta | None,
    ) -> MaintainReport:
        from ..query.consolidate import consolidate

        return self.pond.persistence.maintain(
            keep=span,
            keep_txns=keep_txns,
            dry_run=dry_run,
            pushed=pushed,
            grace=grace,
            consolidator=consolidate,
        )

    def _pushed(self, push_first: bool) -> tuple[int | None, list[Any], ConfigError | None]:
        """The oldest Delta version the pond's backups hold (None: no backup), the pushes
        made (with ``push_first``, of each lagging backup), and the error a removal must
        raise while one still lags (None: none does): the same for a dry run, which
        reports it instead."""
        pond = self.pond
        backups = pond.backups.list()
        if not backups:
            return None, [], None
        newest = pond.persistence.table.version()
        lagging = [b for b in backups if b.last_pushed_version < newest]
        pushes: list[Any] = []
        if lagging and push_first:
            pushes = pond.backups.push([b.name for b in lagging])
            failed = [r for r in pushes if not r.ok]
            if failed:
                # The push was asked for and failed: say why, not "give --push-first".
                if len(failed) == 1:
                    what = f"backup {failed[0].name} lags and the push before maintain failed: "
                    what += str(failed[0].error)
                else:
                    each = "; ".join(f"{r.name}: {r.error}" for r in failed)
                    what = f"the pushes before maintain failed ({each})"
                refusal = ConfigError(f"{what}; nothing was removed")
                return None, pushes, refusal
            backups = pond.backups.list()
            lagging = [b for b in backups if b.last_pushed_version < newest]
        pushed = min(b.last_pushed_version for b in backups)
        if not lagging:
            return pushed, pushes, None
        refused = [b for b in lagging if b.last_outcome == "refused"]
        if refused:
            # A push again would be refused again: pushing first is no way out.
            each = "; ".join(f"{b.name}: {b.last_error}" for b in refused)
            names = " and ".join(b.name for b in refused)
            which = f"backup {names}" if len(refused) == 1 else f"backups {names}"
            refusal = ConfigError(
                f"{which} refused this pond's last push ({each}); maintain would remove "
                f"what only this pond holds: point {names} at a new URL (pond apply), or "
                "remove it, first"
            )
            return pushed, pushes, refusal
        names = " ".join(b.name for b in lagging)
        if len(lagging) == 1:
            what = f"backup {lagging[0].name} lags: it {self._lag(lagging[0], newest)}"
        else:
            listed = ", ".join(b.name for b in lagging[:-1]) + f" and {lagging[-1].name}"
            each = "; ".join(f"{b.name} {self._lag(b, newest, short=True)}" for b in lagging)
            what = f"backups {listed} lag (the pond is at txn {pond.last_txn}): {each}"
        refusal = ConfigError(
            f"{what}; maintain would remove what only this pond holds: run pond backup "
            f"push {names} first, or give {{push_first}}",
            options={"push_first": ""},
        )
        return pushed, pushes, refusal

    def _lag(self, backup: Any, newest: int, *, short: bool = False) -> str:
        """Where a lagging backup stands, for ``maintain``'s refusal: "holds ...", and why
        its last push failed if it did (``short``: without the pond's own transaction,
        which the caller gives once)."""
        where = self._held(backup, newest, short=short)
        if backup.last_outcome == "failed" and backup.last_error:
            where += f"; its last push failed: {backup.last_error}"
        return where

    def _held(self, backup: Any, newest: int, *, short: bool) -> str:
        if not backup.known:
            return "is unknown to this restored copy (never pushed from it)"
        if backup.last_pushed_version < 0:
            return "holds nothing yet (never pushed)"
        if backup.last_pushed_txn < self.pond.last_txn:
            if short:
                return f"holds transactions up to {backup.last_pushed_txn}"
            return (
                f"holds transactions up to {backup.last_pushed_txn}, the pond is at "
                f"{self.pond.last_txn}"
            )
        # Every transaction is there: what it lacks is a maintenance's own commits.
        return (
            f"holds every transaction but not the last maintenance's commits (Delta "
            f"versions {backup.last_pushed_version + 1} to {newest})"
        )

    @guarded
    def du(
        self, *, keep: str | timedelta | None = None, keep_txns: int | None = None
    ) -> SpaceReport:
        """Disk use by part, stored bytes by top-level directory, and with a window what
        ``maintain`` would reclaim (a dry run: it waits for the write lock)."""
        pond = self.pond
        pond._local_only("du")
        directories = _stored_by_directory(pond)
        report = SpaceReport(pond.disk_usage(), directories)
        if keep is not None or keep_txns is not None:
            dry = self.maintain(keep=keep, keep_txns=keep_txns, dry_run=True)
            report.reclaimable = dry.bytes_reclaimed
            report.keep = f"--keep {keep}" if keep is not None else f"--keep-txns {keep_txns}"
            if dry.refusal is not None:
                # What a lagging backup holds back, once it has everything.
                report.refusal = dry.refusal
                after = self._reclaim(_span(keep), keep_txns, True, None, None)
                report.reclaimable_after_push = after.bytes_reclaimed + dry.cache_bytes_removed
        return report


def _span(keep: str | timedelta | None, option: str = "keep") -> timedelta | None:
    from ..timeparse import parse_span

    if keep is None or isinstance(keep, timedelta):
        return keep
    try:
        return parse_span(keep)
    except ValueError as e:
        raise ConfigError(f"{{{option}}}: {e}", options={option: ""}) from None


def _stored_by_directory(pond: Pond) -> dict[str, int]:
    """Bytes of every stored version, by the top-level directory its node is under now."""
    from ..tinyfs.persistence import DIRECTORY, ROOT_ID
    from ..tlogfs.reclaim import snapshot_rows

    store = pond.persistence
    rows = snapshot_rows(store)
    sizes: dict[str, int] = {}
    for node_id, size in zip(rows["node_id"], rows["size"], strict=True):
        sizes[node_id] = sizes.get(node_id, 0) + size
    found: dict[str, int] = {"/": sizes.pop(ROOT_ID, 0)}
    for name, entry in sorted(store.read_dir(ROOT_ID).items()):
        total = 0
        stack = [entry.node_id]
        while stack:
            node_id = stack.pop()
            total += sizes.pop(node_id, 0)
            if store.node_type(node_id) == DIRECTORY:
                stack.extend(e.node_id for e in store.read_dir(node_id).values())
        found[f"/{name}"] = total
    if sizes:
        found["(removed)"] = sum(sizes.values())
    return found
