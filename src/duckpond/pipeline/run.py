"""``pond run``: run collectors and publishers in dependency order, one transaction each.

Only one ``pond run`` at a time: it holds ``$POND/run.lock`` (the same
flock-with-holder-record as the write lock) for its whole duration, so a
second one waits (bounded) or, without waiting, fails naming the holder.
Each resource's run does its slow part first, without the write lock, then
writes in its own transaction (its command in ``pond log`` is ``pond run
<resource>``); a run that writes nothing commits nothing.  Every run is
recorded beside the oplog (``tlogfs.runlog``), queryable as the system table
``runs``.  A failed run writes nothing but its record; the next resource runs
anyway.  A run may also fail in part (``RunStats.error``, e.g. an Inbox with a
file it cannot read): what it wrote is committed with a record whose outcome
is ``failed``.

Peak memory is the process's peak resident set size (``getrusage``
``ru_maxrss``) when the resource's run ended: a high-water mark of the
whole ``pond run`` so far, which includes Arrow's buffers, not only Python's.
"""

from __future__ import annotations

import json
import os
import resource as _rusage
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError, LockTimeoutError
from ..tinyfs import WD
from ..tinyfs.ids import uuid7
from ..tlogfs.lock import WriterLock, holder_info
from .apply import StoredResource, check_outputs, stored_resources
from .documents import Document, load_stored
from .graph import dependencies, order
from .kinds import RunContext, RunStats, TransactionFactory, Unchanged
from .secrets import scrub

Retrying = Callable[[Callable[[], Any]], Any]
"""``retrying(attempt)``: ``attempt()``, run again while its commit loses a race."""

RUN_LOCK_FILE = "run.lock"


class RunLock(WriterLock):
    """``$POND/run.lock``: held by the one ``pond run`` under way."""

    def __init__(self, pond_dir: str | os.PathLike[str], timeout: float) -> None:
        super().__init__(pond_dir, timeout)
        self.path = Path(pond_dir) / RUN_LOCK_FILE
        self._key = os.path.realpath(self.path)

    def acquire(self) -> None:
        try:
            super().acquire()
        except LockTimeoutError:
            try:
                info = holder_info(self.path.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                info = None
            who = "another process"
            if info is not None:
                command = info.get("command")
                argv = " ".join(
                    [os.path.basename(str(command[0])), *map(str, command[1:])]
                    if isinstance(command, list) and command
                    else ["?"]
                )
                who = f"pid {info.get('pid', '?')} ({argv}) since {info.get('since', '?')}"
            waited = f" (waited {self.timeout:g} s)" if self.timeout > 0 else ""
            raise LockTimeoutError(f"another pond run is under way: {who}{waited}") from None


@dataclass
class RunResult:
    """One resource's run, as recorded."""

    name: str
    kind: str
    uuid: str
    start: datetime
    outcome: str = "ok"  # ok or failed
    elapsed_s: float = 0.0
    rows: int = 0
    bytes: int = 0
    peak_rss_bytes: int = 0
    txn_seq: int | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from ..timeparse import iso

        return {
            "resource": self.name,
            "kind": self.kind,
            "uuid": self.uuid,
            "start": iso(self.start),
            "outcome": self.outcome,
            "elapsed_s": self.elapsed_s,
            "rows": self.rows,
            "bytes": self.bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "txn_seq": self.txn_seq,
            "error": self.error,
            "details": self.details,
            "warnings": self.warnings,
        }


@dataclass
class RunReport:
    """Every resource run by one ``pond run``, in the order they ran."""

    run_id: str
    results: list[RunResult]

    @property
    def ok(self) -> bool:
        return all(r.outcome == "ok" for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "results": [r.to_json() for r in self.results],
        }


def peak_rss_bytes() -> int:
    """The process's peak resident set size so far, in bytes."""
    peak = _rusage.getrusage(_rusage.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _record(run_id: str, result: RunResult) -> dict[str, Any]:
    return {
        "start": result.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "run_id": run_id,
        "resource": result.name,
        "uuid": result.uuid,
        "kind": result.kind,
        "outcome": result.outcome,
        "elapsed_s": result.elapsed_s,
        "rows": result.rows,
        "bytes": result.bytes,
        "peak_rss_bytes": result.peak_rss_bytes,
        "txn_seq": result.txn_seq,
        "error": result.error,
        "details": json.dumps(result.details, sort_keys=True),
    }


def record_run(pond_dir: Path, run_id: str, result: RunResult) -> None:
    """Append the run's record beside the oplog (``tlogfs.runlog``): a run that changed
    nothing commits no pond transaction, and is still recorded."""
    from ..tlogfs.runlog import append_record

    append_record(pond_dir, _record(run_id, result))


def error_text(exc: BaseException) -> str:
    """One line for a run's failure, with every resolved secret removed."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    text = " ".join(text.split())
    if not isinstance(exc, ConfigError | OSError) and type(exc).__module__ != "duckpond.errors":
        text = f"{type(exc).__name__}: {text}"
    return scrub(text)


def _scrubbed(value: Any) -> Any:
    """``value`` (JSON-like) with every resolved secret masked in its strings."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(k)): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value


def resolve_order(
    root: WD, names: Sequence[str], stored: Mapping[str, StoredResource] | None = None
) -> list[Document]:
    """The stored resources with a run step, in dependency order (only ``names`` if given).

    ``stored`` is ``stored_resources(root)`` when the caller has it already.
    """
    if stored is None:
        stored = stored_resources(root)
    docs: dict[str, Document] = {}
    for name, res in stored.items():
        docs[name] = load_stored(json.dumps(res.document).encode(), name)
    for name in names:
        if name not in docs:
            known = ", ".join(sorted(docs)) or "none"
            raise ConfigError(f"no resource named {name!r} (resources: {known})")
        if docs[name].kind.run is None:
            raise ConfigError(
                f"{name} is a {docs[name].kind.role} ({docs[name].kind.name}): it has no run step"
            )
    deps = dependencies(
        {n: d.path for n, d in docs.items()}, {n: d.kind.inputs(d.spec) for n, d in docs.items()}
    )
    wanted = set(names) if names else set(docs)
    chosen = [docs[n] for n in order(deps) if n in wanted and docs[n].kind.run is not None]
    # Stable: dependency order within each group, the `last` kinds (Backup) after the rest.
    return sorted(chosen, key=lambda d: d.kind.last)


def run_resources(
    *,
    pond_dir: Path,
    read_root: Callable[[], WD],
    transaction: TransactionFactory,
    names: Sequence[str] = (),
    wait: bool = True,
    lock_timeout: float = 30.0,
    progress: Callable[[str, RunResult | None], None] | None = None,
    pond_files: Any = None,
    retrying: Retrying | None = None,
) -> RunReport:
    """Run the named resources (all with a run step if none) and record each run.

    ``progress(name, None)`` is called when a resource starts and
    ``progress(name, result)`` when it ends.  Raises ``LockTimeoutError`` if
    another run holds the run lock, ``ConfigError`` for an unknown name.
    ``pond_files``: a pond kept on S3's files, for its Backups to push from
    (``RunContext.pond_files``).  ``retrying(attempt)`` runs a resource's run again while
    its commit loses the race to another writer of a pond on S3 (``Pond._retrying``:
    bounded, then ``BusyError``, which the run records as failed); the number of lost
    races is the run's ``details["commits_lost"]``.
    """
    with RunLock(pond_dir, lock_timeout if wait else 0.0):
        run_id = uuid7()
        root = read_root()
        stored = stored_resources(root)
        results: list[RunResult] = []
        for doc in resolve_order(root, names, stored):
            uuid = stored[doc.name].uuid
            if progress is not None:
                progress(doc.name, None)
            result = _run_one(
                doc, uuid, run_id, pond_dir, read_root, transaction, pond_files, retrying
            )
            results.append(result)
            if progress is not None:
                progress(doc.name, result)
        return RunReport(run_id, results)


def _run_one(
    doc: Document,
    uuid: str,
    run_id: str,
    pond_dir: Path,
    read_root: Callable[[], WD],
    transaction: TransactionFactory,
    pond_files: Any = None,
    retrying: Retrying | None = None,
) -> RunResult:
    result = RunResult(doc.name, doc.kind.name, uuid, datetime.now(UTC))
    started = time.perf_counter()
    run = doc.kind.run
    assert run is not None
    attempts = 0

    def attempt() -> tuple[RunContext, Any, RunStats, int | None]:
        # From the pond as it is now: on a pond on S3 whose commit another writer beat,
        # this runs again on the new state (``retrying``), so the run decides afresh.
        nonlocal attempts
        attempts += 1
        ctx = RunContext(doc.name, uuid, doc.spec, read_root(), pond_dir, pond_files)
        # Stored before this check existed, or a symlink made since apply.
        problem = check_outputs(ctx.root, doc, pond_dir)
        if problem is not None:
            raise ConfigError(f"{doc.name}: {problem}")
        step = run(ctx)
        stats = RunStats()
        txn = None
        if step is not None and not isinstance(step, Unchanged):
            # The log names the resource whose run wrote the transaction.
            with transaction(["pond", "run", doc.name]) as tx:
                stats = step(tx.root)
            txn = tx.txn_seq  # None when the run wrote nothing
        return ctx, step, stats, txn

    try:
        ctx, step, stats, txn = retrying(attempt) if retrying is not None else attempt()
        if attempts > 1:
            # Each attempt before the last lost its commit to another writer.
            result.details = {"commits_lost": attempts - 1}
        if isinstance(step, Unchanged):
            # Nothing done (a Backup with nothing new): no transaction to open and no hook
            # to call; the run is still recorded below, beside the oplog.
            result.summary = scrub(step.summary)
            result.elapsed_s = time.perf_counter() - started
            result.peak_rss_bytes = peak_rss_bytes()
        else:
            result.txn_seq = txn
            result.rows, result.bytes = stats.rows, stats.bytes
            # What a kind reports (file names, server messages) may quote a secret too.
            result.details = {**result.details, **_scrubbed(stats.details)}
            result.summary = scrub(stats.summary)
            result.warnings = [scrub(w) for w in stats.warnings]
            if result.warnings:
                # One list in the record: the kind's own (a Site's) and the run's warnings.
                earlier = list(result.details.get("warnings") or [])
                result.details = {**result.details, "warnings": earlier + result.warnings}
            if stats.error is not None:
                # Partly done: the good part is committed, the run still counts as failed.
                result.outcome, result.error = "failed", scrub(stats.error)
            result.elapsed_s = time.perf_counter() - started
            result.peak_rss_bytes = peak_rss_bytes()
            if doc.kind.after_commit is not None:
                try:
                    doc.kind.after_commit(ctx)
                except Exception as exc:
                    # The run is done; what the hook did not do, the next run does.
                    result.summary += f" (then: {error_text(exc)})"
    except Exception as exc:
        result = RunResult(doc.name, doc.kind.name, uuid, result.start, "failed")
        result.error = error_text(exc)
        result.elapsed_s = time.perf_counter() - started
        result.peak_rss_bytes = peak_rss_bytes()
    try:
        record_run(pond_dir, run_id, result)
    except OSError as exc:
        result.error = (result.error + " " if result.error else "") + (
            f"(and its run record could not be written: {error_text(exc)})"
        )
    return result
