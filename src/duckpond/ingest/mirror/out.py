"""Writing the pond into a mirror folder, incrementally and atomically.

A run compares what the patterns select with the record: a node whose
version (or, for a computed output, configuration and inputs) is what the
record says, and whose host file is unchanged, is left alone; the rest is
written to ``DIR/.pond-mirror.staging/`` first, the record it will make true
is journalled (``record.save_pending``), and only then is each file renamed
into place, so a reader never sees half a file and a ``kill -9`` leaves every
file whole and the next run able to tell its own files from the user's
(docs/architecture.md, "The local mirror").

A host file the user changed is never overwritten or removed: it is reported
(``edited`` while the pond still has the version it was made from,
``conflicts`` when the pond moved on too) and kept in the record, so that
``--sync`` can bring it in.  Nothing is ever written through a host symlink.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ...errors import ConfigError, InvalidPathError
from ...printable import escape_controls
from ...tinyfs import DIRECTORY, FILE_DATA, FILE_SERIES, FILE_TABLE, FS, SYMLINK, WD, NodePath
from ...tinyfs import paths as tpaths
from ...tinyfs.context import InputVersion
from ...tinyfs.dynamic import Cached, CacheKey, OutputCache, VersionOf
from ...tinyfs.persistence import RESOURCE
from ..export import EXPORT_FORMATS, export_node
from . import record as rec
from .names import escape, host_names, not_canonical
from .select import require_matches, select, selected_by

TABLE_FORMATS = EXPORT_FORMATS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Note:
    """One node the run could not mirror as asked, and why."""

    path: str
    """The pond path."""
    host: str
    """The host path relative to DIR ("" when it has none)."""
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "host": self.host, "reason": self.reason}

    def line(self) -> str:
        if not self.path:
            return f"(host) {self.host}: {self.reason}"
        where = (
            f" ({self.host})" if self.host and self.host.strip("/") != self.path.strip("/") else ""
        )
        return f"{self.path}{where}: {self.reason}"


@dataclass
class MirrorReport:
    """What one mirror run did.

    Python lists hold pond paths (``/raw/a.csv``); ``hosts`` and
    ``removed_hosts`` map each of those in ``written``, ``adopted`` and
    ``removed`` to its host path, relative to
    ``dir`` and ``/``-separated (``raw/a.csv``; a table gains its extension,
    names.py escapes others).  Each ``Note`` carries both (``path``, ``host``).
    In ``to_json`` every list item is an object with the two apart:
    ``{"path": pond path, "host": host path}`` (plus ``reason`` for notes);
    ``path`` is "" for a host entry whose name stands for no pond name.
    """

    dir: str
    txn: int
    at_txn: int | None = None
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    """Nodes the pond no longer has (or the patterns no longer select) whose host files went."""
    adopted: list[str] = field(default_factory=list)
    """Host files found already holding what the mirror would write: recorded, not written."""
    unchanged: int = 0
    edited: list[Note] = field(default_factory=list)
    """Host edits of files the pond has not changed: ``--sync`` brings in those of raw files."""
    conflicts: list[Note] = field(default_factory=list)
    """Host files in the way of a pond change: left as they are."""
    refused: list[Note] = field(default_factory=list)
    """Pond names with no safe host name (names.py)."""
    new: list[Note] = field(default_factory=list)
    """Host files, folders and symlinks the mirror did not write (a folder's contents not
    listed): ``--sync`` brings in those its patterns select."""
    hosts: dict[str, str] = field(default_factory=dict)
    """Pond path -> host path of what was written or adopted."""
    removed_hosts: dict[str, str] = field(default_factory=dict)
    """Pond path -> the host path removed (a node may be written at a new host
    path and removed from its old one in one run)."""
    touched: bool = False
    """Whether the run changed the folder or what the record says of it."""

    def summary(self) -> str:
        state = f"txn {self.txn}" + (" (a past state)" if self.at_txn is not None else "")
        parts = [
            f"{len(self.written)} written",
            f"{len(self.removed)} removed",
            f"{self.unchanged} unchanged",
        ]
        for label, notes in (
            ("edited on the host", self.edited),
            ("conflicts", self.conflicts),
            ("refused", self.refused),
            ("new on the host", self.new),
        ):
            if notes:
                parts.append(f"{len(notes)} {label}")
        return f"mirrored {self.dir} at {state}: {', '.join(parts)}"

    def lines(self) -> list[str]:
        """The summary, what was written and removed (``listed``), then one line per note.

        Control characters in names are escaped (``printable``): each item is one line.
        """
        out = [self.summary()]
        out += listed("written", self.written, self.hosts)
        out += listed("removed", self.removed, self.removed_hosts, always=True)
        out += listed("adopted", self.adopted, self.hosts)
        out += [f"edited: {n.line()}" for n in self.edited]
        out += [f"conflict: {n.line()}" for n in self.conflicts]
        out += [f"refused: {n.line()}" for n in self.refused]
        out += [f"new: {n.line()}" for n in self.new]
        return [escape_controls(line) for line in out]

    def items(self, paths: list[str], hosts: dict[str, str]) -> list[dict[str, str]]:
        """``paths`` (pond paths) as ``{"path", "host"}`` objects."""
        return [{"path": p, "host": hosts.get(p, "")} for p in paths]

    def to_json(self) -> dict[str, Any]:
        return {
            "dir": self.dir,
            "txn": self.txn,
            "at_txn": self.at_txn,
            "written": self.items(self.written, self.hosts),
            "removed": self.items(self.removed, self.removed_hosts),
            "adopted": self.items(self.adopted, self.hosts),
            "unchanged": self.unchanged,
            "edited": [n.to_json() for n in self.edited],
            "conflicts": [n.to_json() for n in self.conflicts],
            "refused": [n.to_json() for n in self.refused],
            "new": [n.to_json() for n in self.new],
        }


LISTED = 10
"""How many paths of one kind the text output names; ``--json`` names every one."""


def listed(
    label: str, paths: Sequence[str], hosts: dict[str, str], *, always: bool = False
) -> list[str]:
    """``label: PATH`` lines, at most ``LISTED``: ``PATH (host path)`` when the two
    differ or ``always`` (a removal is of a host file, which may not be where the
    pond path would put it now)."""
    out = []
    for path in paths[:LISTED]:
        host = hosts.get(path, "")
        where = f" ({host})" if host and (always or host != path.lstrip("/")) else ""
        out.append(f"{label}: {path}{where}")
    if len(paths) > LISTED:
        out.append(f"{label}: ... and {len(paths) - LISTED} more (--json lists every one)")
    return out


def new_on_host(record: rec.Record, found: Sequence[tuple[str, bool, bool]]) -> list[Note]:
    """Notes for host entries the record does not hold: what ``--sync`` would do with each.

    ``found`` holds ``(host path, is a folder, is a symlink)`` of each, topmost
    first: an entry below a new folder is that folder's, not listed.
    """
    pond_of = rec.PondPaths(record)
    notes: list[Note] = []
    tops: list[str] = []
    for rel, is_dir, is_link in found:
        if any(rel.startswith(top + "/") for top in tops[-1:]):
            continue
        if is_dir:
            tops.append(rel)
        try:
            path = pond_of(rel)
        except ValueError as exc:
            shown = repr(rel)[1:-1]
            why = "its name is not UTF-8" if isinstance(exc, UnicodeError) else str(exc)
            notes.append(Note("", shown, f"new on the host, not brought in by --sync: {why}"))
            continue
        what = "folder" if is_dir else "symlink" if is_link else "file"
        if not selected_by(path, record.patterns):
            why = f"a new host {what} outside the mirror's patterns: --sync leaves it"
        elif tpaths.is_reserved(tpaths.split(path)):
            why = (
                f"a new host {what} under {tpaths.RESERVED}, which the pond keeps: --sync leaves it"
            )
        elif (odd := not_canonical(rel, record.files)) is not None:
            why = f"new on the host, not brought in by --sync: {odd}"
        elif is_link:
            why = "a new host symlink: pond mirror --sync brings it in if it points inside DIR"
        else:
            held = " and what it holds" if is_dir else ""
            why = f"a new host {what}: pond mirror --sync brings it{held} in"
        notes.append(Note(path, rel, why))
    return notes


class _InputsSeen:
    """The pond's output cache, noting the inputs behind each output it hands out.

    A computed output is mirrored again only when one of its inputs has a new
    version.  ``OutputCache.lookup`` returns an entry only after asking
    ``current`` for the version of each of that entry's inputs, so the pairs
    asked are (a superset of) the inputs of the output returned.
    """

    def __init__(self, base: OutputCache | None) -> None:
        self.base = base
        self.inputs: dict[str, Callable[[], frozenset[InputVersion]]] = {}

    def lookup(self, key: CacheKey, current: VersionOf) -> Cached | None:
        if self.base is None:
            return None
        asked: set[InputVersion] = set()

        def spy(node_id: str) -> int | None:
            version = current(node_id)
            asked.add((node_id, version))  # type: ignore[arg-type]
            return version

        hit = self.base.lookup(key, spy)
        if hit is not None:
            self.inputs[key.node_id] = lambda: frozenset(asked)
        return hit

    def store(
        self, key: CacheKey, value: Cached, inputs: Callable[[], frozenset[InputVersion]]
    ) -> Cached:
        self.inputs[key.node_id] = inputs
        return value if self.base is None else self.base.store(key, value, inputs)


@dataclass
class _Want:
    """One node the mirror should hold, at host path ``rel``."""

    rel: str
    np: NodePath
    entry: rec.Entry
    how: str  # dir, symlink, raw, parquet or csv
    mtime_ns: int | None = None
    staged: Path | None = None


def _host_target(np: NodePath, root: WD, host_of: dict[str, str], rel: str) -> str:
    """A pond symlink's target as a host link relative to the link, always inside DIR."""
    target = root.readlink(np.path)
    parent = np.path.rsplit("/", 1)[0] or "/"
    parts = tpaths.normalize(target, parent)  # InvalidPathError above the root
    host_parts: list[str] = []
    for i in range(len(parts)):
        pond = tpaths.join(parts[: i + 1])
        host_parts.append(
            posixpath.basename(host_of[pond]) if pond in host_of else escape(parts[i])
        )
    link_dir = posixpath.dirname(rel)
    return posixpath.relpath("/".join(host_parts) or ".", link_dir or ".")


def _is_current(old: rec.Entry, new: rec.Entry, version_of: VersionOf) -> bool:
    if old.type != new.type:
        return False
    if new.type == DIRECTORY:
        return True
    if (old.node, old.version, old.format, old.target) != (
        new.node,
        new.version,
        new.format,
        new.target,
    ):
        return False
    if new.sha256 or new.type == SYMLINK:
        return True
    # A computed output: current while every input it was computed from is.
    return old.inputs is not None and all(version_of(str(n)) == v for n, v in old.inputs)


def plan_wants(
    root: WD, patterns: Sequence[str], tables: str, held: Mapping[str, str] | None = None
) -> tuple[dict[str, _Want], list[Note]]:
    """Host path -> what should be there, for every selected node; and the refused names.

    ``held`` maps pond paths to the host paths the mirror gave them so far: a
    node keeps its host name against a newcomer that would take it (names.py).
    """
    held = held or {}
    chosen = select(root, patterns)
    children: dict[str, list[NodePath]] = {}
    for path, np in chosen.items():
        parent = path.rsplit("/", 1)[0] or "/"
        children.setdefault(parent, []).append(np)
    host_of: dict[str, str] = {"/": ""}
    refused: list[Note] = []
    tabular: dict[str, bool] = {}
    for parent in sorted(children, key=tpaths.split):
        nodes = children[parent]
        if parent not in host_of:
            refused += [Note(np.path, "", f"its folder {parent} is not mirrored") for np in nodes]
            # Its children are refused in turn when their folder comes up.
            continue
        names = []
        for np in nodes:
            tabular[np.path] = np.is_file() and np.is_tabular()
            names.append((np.name, f".{tables}" if tabular[np.path] else ""))
        base = host_of[parent]
        before = {
            np.name: posixpath.basename(held[np.path])
            for np in nodes
            if np.path in held and posixpath.dirname(held[np.path]) == base
        }
        mapped, no_name = host_names(names, before)
        for np in nodes:
            if np.name in mapped:
                host_of[np.path] = f"{base}/{mapped[np.name]}" if base else mapped[np.name]
        refused += [Note(f"{parent.rstrip('/')}/{r.name}", "", r.reason) for r in no_name]
    wants: dict[str, _Want] = {}
    for path, np in chosen.items():
        rel = host_of.get(path)
        if rel is None:
            continue
        if np.is_dir():
            wants[rel] = _Want(rel, np, rec.Entry(path, np.node_id, 0, DIRECTORY), "dir")
            continue
        info = np.info()
        if np.is_symlink():
            try:
                target = _host_target(np, root, host_of, rel)
            except InvalidPathError:
                refused.append(Note(path, rel, "its target climbs above the pond's root"))
                continue
            entry = rec.Entry(path, np.node_id, info.version, SYMLINK, target=target)
            wants[rel] = _Want(rel, np, entry, "symlink")
            continue
        wants[rel] = _file_want(np, rel, tables if tabular[path] else "raw")
    return wants, refused


def _file_want(np: NodePath, rel: str, how: str) -> _Want:
    """What a file node (raw, or a table written as ``how``) should be at ``rel``."""
    info = np.info()
    dynamic = np.is_dynamic()
    entry = rec.Entry(
        np.path,
        np.node_id,
        info.version,
        np.node_type,
        sha256="" if dynamic else info.sha256,
        size=info.size if how == "raw" and not dynamic else 0,
        format="" if how == "raw" else how,
    )
    # A stored version's time is its file's: a tool comparing times sees real changes.
    # A computed output changes when its inputs do, so it takes the time it was made.
    mtime = None if dynamic else (info.timestamp - _EPOCH) // _MICROSECOND * 1000
    return _Want(rel, np, entry, how, mtime)


@dataclass
class Survey:
    """One walk of a mirror folder against its record (``survey``)."""

    states: dict[str, tuple[rec.HostState, os.stat_result | None]]
    """Every recorded host path -> its state (``record.host_state``) and ``lstat``."""
    new: list[tuple[str, bool, bool]]
    """Host entries the record does not hold: (host path, is a folder, is a symlink), walk order."""


def survey(base: Path, record: rec.Record) -> Survey:
    """Walk ``base`` once (``record.walk``: never through a symlink) and compare it with ``record``.

    One ``lstat`` per recorded entry found (from the walk), none per new one;
    a recorded entry the walk did not reach (gone, or below a folder that is
    no longer one) is ``missing``.
    """
    files = record.files
    states: dict[str, tuple[rec.HostState, os.stat_result | None]] = {}
    new: list[tuple[str, bool, bool]] = []
    for rel, item in rec.walk(base):
        entry = files.get(rel)
        if entry is None:
            new.append((rel, item.is_dir(follow_symlinks=False), item.is_symlink()))
        else:
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we walked: missing, below
            states[rel] = rec.host_state(item.path, entry, st)
    for rel in files.keys() - states.keys():
        states[rel] = ("missing", None)
    return Survey(states, new)


_QUICK_TYPES = frozenset({FILE_DATA, FILE_TABLE, FILE_SERIES, RESOURCE})


def quick_wants(
    view: WD,
    record: rec.Record,
    since: int,
    suspects: set[str] | None = None,
    survey: Survey | None = None,
) -> dict[str, _Want] | None:
    """The wants of a run that only needs to look at what changed, or None to plan in full.

    When the pond, since the record's transaction, wrote only new versions of
    stored files (no folder, symlink or computed node changed), every other
    node is where and as the record says: only those files, and host files that
    are no longer as the mirror wrote them, need a look.  The oplog says which
    nodes changed (``changed_since``) without listing the pond.  The host files
    to look at are ``suspects`` when given, else those ``survey`` found not clean.
    """
    changed_since = getattr(view.fs.persistence, "changed_since", None)
    if changed_since is None or not record.files:
        return None
    if any(e.type not in _QUICK_TYPES and e.type != DIRECTORY for e in record.files.values()):
        return None
    changed: dict[str, set[str]] | None = changed_since(since)
    if changed is None:
        return None
    by_node = {e.node: rel for rel, e in record.files.items() if e.type != DIRECTORY}
    looks: set[str] = set()
    for node_id, types in changed.items():
        if not types <= _QUICK_TYPES:
            return None
        if node_id in by_node:
            looks.add(by_node[node_id])
    # A file kept in a conflict is behind the record's transaction: look at it each time.
    looks |= {rel for rel, entry in record.files.items() if entry.stale}
    if suspects is not None:
        looks |= suspects & record.files.keys()
    else:
        assert survey is not None
        looks |= {rel for rel, (state, _) in survey.states.items() if state != "clean"}
    wants: dict[str, _Want] = {}
    for rel in looks:
        entry = record.files[rel]
        try:
            np = view.get(entry.path, follow=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if np.node_id != entry.node:
            return None
        if entry.type == DIRECTORY:
            wants[rel] = _Want(rel, np, rec.Entry(entry.path, np.node_id, 0, DIRECTORY), "dir")
        else:
            wants[rel] = _file_want(np, rel, entry.format or "raw")
    return wants


def clear_staging(base: Path) -> Path:
    """Remove what a run killed while staging left (never following a symlink); its path."""
    staging = base / rec.STAGING_DIR
    try:
        st = os.lstat(staging)
    except FileNotFoundError:
        return staging
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(staging)
    else:
        staging.unlink()
    return staging


def _stage(want: _Want, staging: Path, n: int, spy: _InputsSeen) -> None:
    temp = staging / str(n)
    entry = want.entry
    if want.how == "symlink":
        os.symlink(entry.target, temp)
    else:
        export_node(want.np, temp, format=None if want.how == "raw" else want.how)
        if want.how == "raw" and entry.sha256:
            entry.host_sha256 = entry.sha256  # the pond's hash of these very bytes
        else:
            entry.host_sha256 = rec.hash_file(temp)
            entry.size = os.path.getsize(temp)
        # The journal needs size and hash only; the full lstat is taken after the rename.
        mtime = want.mtime_ns if want.mtime_ns is not None else time.time_ns()
        entry.mtime_ns = mtime
        os.utime(temp, ns=(mtime, mtime))
        if want.np.is_dynamic():
            node = want.np.node
            seen = spy.inputs.get(want.np.node_id)
            found = seen() if seen is not None else node.context().inputs.snapshot()  # type: ignore[attr-defined]
            entry.inputs = sorted([str(n), v] for n, v in found)
    want.staged = temp


def mirror_out(
    root: WD,
    base: Path,
    *,
    pond: str,
    txn: int,
    patterns: Sequence[str] | None = None,
    tables: str | None = None,
    at_txn: int | None = None,
    lock_timeout: float = 30.0,
    loaded: rec.Record | None = None,
    suspects: set[str] | None = None,
    record_changed: bool = False,
    log: dict[str, int] | None = None,
    pond_id: str = "",
) -> MirrorReport:
    """Bring the folder ``base`` up to date with the pond state ``root`` (at transaction ``txn``).

    ``patterns`` and ``tables`` default to the record's (``/**`` and parquet for a
    new mirror).  A caller that already holds the folder's lock and its record
    (``--sync``) passes it as ``loaded``, with ``suspects``: the host paths that
    may not be as the record says (None: look at every one), and
    ``record_changed`` when it changed the record itself.  ``log`` is the
    pond's log stamp as of ``txn`` (``record.log_stamp``), kept in the record so
    that a later run can tell, without opening the pond, that nothing moved
    (``idle.idle_report``); None for a past state or a pond with no local log.
    ``pond_id`` is the pond's identity: a record made from another pond (one
    made again at the same path) is never trusted to say what changed.  Raises
    ``ConfigError`` for a bad ``tables`` or a folder that mirrors another pond
    (another path and identity), ``FileNotFoundError`` (before ``base`` is
    touched) for a pattern the record was not made with that matches nothing
    (``select.require_matches``), ``LockTimeoutError`` when another run holds the folder.
    """
    if tables is not None and tables not in TABLE_FORMATS:
        raise ConfigError(f"tables are written as parquet or csv, not {tables!r}")
    if patterns:
        known = loaded if loaded is not None else rec.load(base) if base.is_dir() else None
        if known is None or list(patterns) != known.patterns:
            require_matches(root, patterns)
    if os.path.lexists(base) and not base.is_dir():
        # The CLI's words, for a Mirror resource's run too (not mkdir's "File exists").
        raise NotADirectoryError(
            errno.ENOTDIR, "a mirror is a folder, and this is not one", str(base)
        )
    base.mkdir(parents=True, exist_ok=True)
    with rec.MirrorLock(base, lock_timeout):
        if loaded is None:
            loaded = rec.load(base)
        if loaded is not None and loaded.pond != pond and loaded.pond_id != pond_id:
            # Most likely the wrong $POND: a run would replace that pond's files with ours.
            raise ConfigError(
                f"{base} is a mirror of another pond ({loaded.pond}): give another folder,"
                f" or remove {base / rec.RECORD_FILE} to make it a mirror of {pond}"
            )
        record = loaded or rec.Record(pond=pond)
        # A run asking what the record was made for, of a later state, may be quick.
        since = (
            loaded.txn
            if loaded is not None
            and loaded.pond == pond
            and loaded.pond_id == pond_id != ""
            and loaded.at_txn is None
            and at_txn is None
            and loaded.txn <= txn
            and (not patterns or list(patterns) == loaded.patterns)
            and (tables is None or tables == loaded.tables)
            and not (base / rec.PENDING_FILE).exists()
            else None
        )
        header = (
            record.pond,
            record.txn,
            record.at_txn,
            record.patterns,
            record.tables,
            record.log,
            record.pond_id,
        )
        record.pond, record.log, record.pond_id = pond, log, pond_id
        if patterns:
            record.patterns = list(patterns)
        if tables is not None:
            record.tables = tables
        record.txn, record.at_txn = txn, at_txn
        report = _run(root, base, record, since, suspects)
        if (
            report.touched
            or record_changed
            or header != (pond, txn, at_txn, record.patterns, record.tables, log, pond_id)
        ):
            rec.save(base, record)
        return report


def _run(
    root: WD,
    base: Path,
    record: rec.Record,
    since: int | None = None,
    suspects: set[str] | None = None,
) -> MirrorReport:
    """One run under the folder's lock; ``report.touched`` says whether the record changed."""
    spy = _InputsSeen(root.fs.cache)
    view = FS(root.fs.persistence, root.fs.resolver, spy).root()
    report = MirrorReport(str(base), record.txn, record.at_txn)
    # The walk that finds host edits for a quick run also finds new host entries;
    # a run that looks only at suspects (--sync's, which walked already) skips both.
    looked = survey(base, record) if suspects is None else None
    wants = quick_wants(view, record, since, suspects, looked) if since is not None else None
    quick = wants is not None
    if wants is None:
        held = {entry.path: rel for rel, entry in record.files.items()}
        wants, report.refused = plan_wants(view, record.patterns, record.tables, held)
        refused = [n.to_json() for n in report.refused]
        if refused != record.refused:
            record.refused, report.touched = refused, True
    else:
        # Nothing that names a node changed: what the last full run refused still is.
        report.refused = [Note(**n) for n in record.refused]
    version_of = view.fs.version_of
    dirs: dict[str, bool] = {}
    files = record.files
    to_write: list[_Want] = []
    to_make: list[_Want] = []

    for rel, want in sorted(wants.items()):
        host = os.path.join(base, rel)
        old = files.get(rel)
        path = want.entry.path
        if not rec.real_dirs(base, rel, dirs):
            report.conflicts.append(
                Note(path, rel, "a folder above it is not a folder on the host")
            )
            continue
        if old is not None:
            state, st = _state_of(looked, rel, host, old)
        else:
            state, st = ("missing", None) if not os.path.lexists(host) else ("edited", None)
        current = old is not None and _is_current(old, want.entry, version_of)
        if state == "clean" and current:
            assert old is not None and st is not None
            if want.how != "dir" and old.stat_key != rec.stat_key(st):
                old.with_stat(st)  # touched or copied back, same bytes: look no more
                report.touched = True
            report.unchanged += 1
        elif state in ("clean", "missing"):
            (to_make if want.how == "dir" else to_write).append(want)
        elif _same_as_host(host, want):
            files[rel] = want.entry.with_stat(os.lstat(host))
            report.adopted.append(path)
            report.hosts[path] = rel
            report.touched = True
        else:
            if want.how == "dir":
                report.conflicts.append(Note(path, rel, "not a folder on the host: left as it is"))
            elif current:
                assert old is not None
                report.edited.append(Note(path, rel, edited_reason(old, record)))
            else:
                why = (
                    "edited on the host and changed in the pond: the host file is kept"
                    if old is not None
                    else "a host file the mirror did not write is in the way: it is kept"
                )
                report.conflicts.append(Note(path, rel, why))
                if old is not None and not old.stale:
                    old.stale = report.touched = True
            if want.how == "dir":
                dirs[rel] = False  # nothing goes below a folder that is not one

    to_remove: list[str] = []
    # A quick run looked only at what changed: everything else is as recorded.
    report.unchanged += len(set(files) - set(wants)) if quick else 0
    gone = set() if quick else set(files) - set(wants)
    for rel in sorted(gone, key=lambda r: r.count("/"), reverse=True):
        old = files[rel]
        if not rec.real_dirs(base, rel, dirs):
            continue
        state, _ = _state_of(looked, rel, os.path.join(base, rel), old)
        if state == "missing":
            del files[rel]
            report.touched = True
        elif state == "clean":
            to_remove.append(rel)
        else:
            # Not wanted any more: the pond dropped it, or new patterns left it out.
            why = (
                "outside the mirror's patterns, edited on the host: the host file is kept"
                if old.type != DIRECTORY and not selected_by(old.path, record.patterns)
                else "removed from the pond, edited on the host: the host file is kept"
            )
            report.conflicts.append(Note(old.path, rel, why))
            if not old.stale:
                old.stale = report.touched = True

    if looked is not None:
        fresh = [found for found in looked.new if found[0] not in wants]
        report.new = new_on_host(record, fresh)
    staging = clear_staging(base)
    if to_write or to_make or to_remove:
        report.touched = True
        staging.mkdir()
        try:
            for n, want in enumerate(to_write):
                _stage(want, staging, n, spy)
            rec.save_pending(base, record, {w.rel: w.entry for w in to_write}, to_remove)
            place(base, record, report, to_make, to_write, to_remove, dirs)
        finally:
            clear_staging(base)
    return report


def _state_of(
    looked: Survey | None, rel: str, host: str, old: rec.Entry
) -> tuple[rec.HostState, os.stat_result | None]:
    """The host state of recorded ``rel``: the survey's when one was made, else looked up."""
    if looked is not None:
        return looked.states[rel]
    return rec.host_state(host, old)


def edited_reason(old: rec.Entry, record: rec.Record) -> str:
    """What becomes of a host edit of a file the pond has not changed: only some come back."""
    # Deleting the host file is how to get the pond's version: a run writes a missing file.
    back = "delete the host file and run pond mirror again for the pond's version"
    if record.at_txn is not None:
        return f"edited on the host, but a mirror of a past state is read-only: the edit is left ({back})"
    if not old.editable:
        return f"edited on the host, but a {old.type} is read-only in a mirror: the edit is left ({back})"
    return "edited on the host: pond mirror --sync brings it in"


def _same_as_host(host: str, want: _Want) -> bool:
    """True when an unrecorded or edited host file already is what would be written."""
    try:
        st = os.lstat(host)
    except OSError:
        return False
    if want.how == "dir":
        return stat.S_ISDIR(st.st_mode)
    if want.how == "symlink":
        return stat.S_ISLNK(st.st_mode) and os.readlink(host) == want.entry.target
    # Only raw files have a hash to compare without writing the file first.
    if want.how != "raw" or not want.entry.sha256 or not stat.S_ISREG(st.st_mode):
        return False
    if st.st_size != want.np.info().size or rec.hash_file(host) != want.entry.sha256:
        return False
    want.entry.host_sha256 = want.entry.sha256
    return True


class Staged(Protocol):
    """A file staged for host path ``rel`` (``staged``), to become ``entry`` (``place``)."""

    rel: str
    entry: rec.Entry
    staged: Path | None


def place(
    base: Path,
    record: rec.Record,
    report: MirrorReport,
    to_make: Sequence[_Want],
    to_write: Sequence[Staged],
    to_remove: list[str],
    dirs: dict[str, bool],
) -> None:
    """Make the folders ``to_make``, rename each staged file of ``to_write`` into place
    (unless the host file changed meanwhile: a conflict), remove ``to_remove``;
    ``record`` and ``report`` say what was done.  The journal is already saved."""
    files = record.files
    for want in sorted(to_make, key=lambda w: w.rel.count("/")):
        host = base / want.rel
        if not rec.real_dirs(base, want.rel, dirs):
            continue
        old = files.get(want.rel)
        if old is not None and old.type != DIRECTORY and rec.host_state(host, old)[0] == "clean":
            host.unlink()  # the pond's file became a folder; the host's copy was ours
        try:
            host.mkdir()
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(host).st_mode):
                report.conflicts.append(
                    Note(want.entry.path, want.rel, "a host file is in the way")
                )
                dirs[want.rel] = False
                continue
        dirs[want.rel] = True
        files[want.rel] = want.entry
    for item in to_write:
        target = os.path.join(base, item.rel)
        assert item.staged is not None
        old = files.get(item.rel)
        # Looked at again just before the rename: an edit made meanwhile is never lost.
        state = (
            rec.host_state(target, old)[0]
            if old is not None
            else ("edited" if os.path.lexists(target) else "missing")
        )
        if state == "edited" or not rec.real_dirs(base, item.rel, dirs):
            report.conflicts.append(
                Note(item.entry.path, item.rel, "changed on the host during the run: kept")
            )
            continue
        try:
            os.rename(item.staged, target)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise
            why = (
                "its host folder went away during the run"
                if isinstance(exc, FileNotFoundError)
                else "a host folder is in the way"
            )
            report.conflicts.append(Note(item.entry.path, item.rel, why))
            continue
        files[item.rel] = item.entry.with_stat(os.lstat(target))
        report.written.append(item.entry.path)
        report.hosts[item.entry.path] = item.rel
    for rel in to_remove:
        host = base / rel
        entry = files.pop(rel)
        try:
            if entry.type == DIRECTORY:
                host.rmdir()
            else:
                host.unlink()
            report.removed.append(entry.path)
            report.removed_hosts[entry.path] = rel
        except FileNotFoundError:
            pass
        except OSError:
            # A folder holding files the mirror did not write stays, unrecorded.
            pass
