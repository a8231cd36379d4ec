"""``Import``: another pond's tree, mounted read-only and kept here.

```yaml
apiVersion: duckpond/v1
kind: Import
name: station-a
spec:
  url: /srv/ponds/station-a          # another pond, or its backup: file:///dir, s3://bucket/p
  patterns: ["/hydrovu/**"]          # optional: what to bring (default: everything)
  # path: /imports/station-a         # the default
```

Each ``pond run`` brings what the other pond committed since the last run: the
versions of its files that are not here yet, copied as versions of ordinary
nodes under ``path`` (``<path>/<their path there>``), with their bytes, types,
attributes and event-time ranges; files, links and directories removed there
are removed here.  The imported series are then this pond's own: queries,
Reduce, Site and time travel work on them with the source gone.

What the last import reached is kept in ``<path>/.import.json`` (the source's
identity, its transaction number and time, the patterns, and where its
directories were: node id -> path), written in the same transaction as the
versions it brought.  The next run reads only the source's rows committed after
that transaction (its log tail): when there are none it stops there, and
otherwise it lists again only the directories those rows touch (a file's rows
name its first directory) and compares only the files the rows touch, or all
entries of a directory whose own entries changed.  Without that record, or when
it does not fit (other patterns, a log tail that cannot be read or placed: a
moved directory, a file no longer in its first directory), every selected file
is compared, which is always correct.

Links come as absolute paths under ``path`` (a relative target resolved from its
directory there); one whose target climbs above the other pond's root would
reach this pond's own files, and is left out with a warning.

What is never brought: the other pond's ``/etc`` (its resources and run
records: its resources never run here), its dynamic nodes (they compute over
its paths; derive here from the imported series instead), and whatever it
imported itself (imports are not transitive), found both by its Import
resources' paths and by the ``import`` attribute its copies carry.

Safety:

- Every version is read back from the source and its sha256 checked against the
  one the source's oplog records before it is written here.
- The source is the same pond as before: each imported version records the
  source's identity (its root directory's first version: time and hash, made by
  its ``init``) and the (node id, version, sha256) it came from.  A source that is
  another pond, or that no longer has a version already imported with the same
  hash (its history was rewritten), is refused as diverged.
- A source whose history went back before the transaction last imported (a pond
  restored from an older backup), or whose record of that transaction changed,
  is refused as diverged too.
- A refusal, a corrupt blob or any other failure raises inside the run's
  transaction, which then commits nothing: what was imported before stays as it was.
- Nothing else writes under ``path``: ``duckpond.pond.Transaction``'s verbs refuse
  it (``pipeline.mounts``).
"""

from __future__ import annotations

import errno
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from ...errors import CorruptDataError, DivergedError, InvalidPathError
from ...ingest.store import SCHEMAS_SEEN
from ...tinyfs import FILE_DATA, FILE_SERIES, FILE_TABLE, WD, NodePath, VersionInfo
from ...tinyfs import paths as tpaths
from ...tinyfs.glob import Segment, compile_pattern, match_segment
from ...tinyfs.persistence import DIRECTORY, SYMLINK
from ..documents import PondPath, PondPattern, StrictModel
from . import Kind, RunContext, RunStats, WriteStep, register_kind

if TYPE_CHECKING:
    from ...tlogfs import DeltaPersistence

IMPORTS_DIR = "/imports"
STATE_NAME = ".import.json"
"""Under the mount: what the last import reached (``_State``); hidden, so never listed."""
_STATE_BYTES = 64 * 1024
# Past this many source transactions since the last import, compare every file
# rather than read each commit of the tail.
_TAIL_TXNS = 1000
IMPORT_ATTRIBUTE = "import"
"""The attribute of every imported version: where it came from (``_origin``)."""
_COPIED_TYPES = (FILE_DATA, FILE_TABLE, FILE_SERIES)
_SKIPPED_DIRS = ("/etc",)


class ImportSpec(StrictModel):
    """``url``: the other pond (a local directory, ``file:///dir`` or ``s3://bucket/prefix``
    of a pond or its backup, which is laid out the same); ``path``: where it appears here;
    ``patterns``: pond globs of the other pond to bring (a matched directory brings
    everything below it)."""

    url: str
    path: PondPath
    patterns: list[PondPattern] = Field(default_factory=lambda: ["/**"])

    @field_validator("url")
    @classmethod
    def _pond_location(cls, value: str) -> str:
        from ...errors import ConfigError
        from ...tlogfs.objectstore import parse_location

        if value.lower().startswith(("s3://", "s3a://", "file://")):
            try:
                location = parse_location(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
            if location.path is None:
                return value
            # A file:// backup is laid out as a pond is on disk: the same directory reads.
            value = str(location.path)
        elif "://" in value:
            raise ValueError(f"a pond to import is a directory, file:///dir or s3://: {value!r}")
        expanded = Path(value).expanduser()
        if not expanded.is_absolute():
            raise ValueError(f"the pond to import is an absolute directory: {value!r}")
        return str(expanded)

    @field_validator("patterns")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one pattern, or leave patterns out for everything")
        return value


def _is_remote(url: str) -> bool:
    return url.lower().startswith(("s3://", "s3a://"))


def _check(spec: ImportSpec) -> list[tuple[str, str]]:
    # An S3 pond is looked at when the run opens it (no network at apply).
    if not _is_remote(spec.url) and not (Path(spec.url) / "data").is_dir():
        return [("spec.url", f"no pond at {spec.url}")]
    return []


# -- reading the source -------------------------------------------------------------------


def source_identity(root: WD) -> str:
    """A pond's identity: its root directory's first version (written by ``init``)."""
    first = root.versions("/")[0]
    return f"{int(first.timestamp.timestamp() * 1_000_000)}:{first.sha256}"


def _matches(segments: list[Segment], parts: list[str]) -> bool:
    """Whether a path (its components) matches a compiled pattern, as ``pond list`` would."""
    if not segments:
        return not parts
    segment = segments[0]
    if segment.is_recursive:
        if len(segments) == 1:
            # A trailing '**' matches every entry below its base, never the base itself.
            return bool(parts)
        return any(_matches(segments[1:], parts[i:]) for i in range(len(parts) + 1))
    if not parts or match_segment(segment, parts[0], hidden=False) is None:
        return False
    return _matches(segments[1:], parts[1:])


def _import_paths(root: WD) -> list[str]:
    """The mounts of a pond's own Import resources (never brought along)."""
    from ..mounts import import_mounts

    return [path for path, _ in import_mounts(root)]


class _StaleTail(Exception):
    """The log tail names a node where the last import's record cannot place it (a
    directory moved, a file gone from its first directory): compare every file."""


@dataclass
class _Tail:
    """What the source's log tail touches: ``changed`` node ids, and the directories
    (source paths) whose entries to read again, each found by the last record's map."""

    changed: set[str]
    dirs: dict[str, str]
    """Source path -> node id of each directory to read again."""
    located: set[str]
    """Changed files whose first directory the record knows: each must be seen again."""


@dataclass
class _Source:
    """What the other pond offers: its selected nodes by path relative to its root.

    ``unchanged``: selected files the log tail does not touch (neither the file nor
    the directory holding it), which an earlier import already dealt with.
    ``dir_ids``: every directory read (selected or not), by node id.
    """

    identity: str
    files: dict[str, NodePath] = field(default_factory=dict)
    unchanged: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)
    dir_ids: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    present: set[str] = field(default_factory=set)
    """Directories the tail leaves alone (not read again): they stay as they are here."""


def _selector(patterns: list[str]) -> Callable[[list[str]], bool]:
    """Whether a source path (its components) is selected by ``patterns``."""
    compiled = [compile_pattern(tpaths.normalize(p)) for p in patterns]

    def selected(parts: list[str]) -> bool:
        # A matched directory brings everything below it.
        return any(
            _matches(segments, parts[:n]) for segments in compiled for n in range(1, len(parts) + 1)
        )

    return selected


def _read_source(
    root: WD, patterns: list[str], tail: _Tail | None = None, known: Mapping[str, str] = {}
) -> _Source:
    """The selected nodes of the pond at ``root``: every one, or (``tail``) those in the
    directories the tail names, walking only into directories ``known`` (id -> path)
    does not hold."""
    selected = _selector(patterns)
    excluded = [*_SKIPPED_DIRS, *_import_paths(root)]
    source = _Source(source_identity(root))

    def walk(np: NodePath, whole: bool) -> None:
        source.dir_ids[np.node_id] = np.path
        # A directory the tail touches may have new, renamed or replaced entries.
        dir_changed = whole or np.node_id in tail.changed  # type: ignore[union-attr]
        for child in root.entries(np.path):
            source.seen.add(child.node_id)
            if tpaths.is_hidden(child.name):
                continue
            path = child.path
            if any(path == e or path.startswith(e + "/") for e in excluded):
                continue
            parts = tpaths.split(path)
            if child.node_type == DIRECTORY:
                if selected(parts):
                    source.dirs.add(path)
                if whole or child.node_id not in known:
                    walk(child, True)  # new since the last import: all of it is
                elif known[child.node_id] != path:
                    raise _StaleTail(path)
                else:
                    source.dir_ids[child.node_id] = path
                    source.present.add(path)
            elif child.node_type == SYMLINK:
                if selected(parts):
                    source.links[path] = child.node.target()  # type: ignore[attr-defined]
            elif child.node_type in _COPIED_TYPES and selected(parts):
                if not dir_changed and child.node_id not in tail.changed:  # type: ignore[union-attr]
                    # Here already, in its directories, or left out before (a third pond's).
                    source.unchanged.add(path)
                    continue
                if any(IMPORT_ATTRIBUTE in v.attributes for v in child.node.versions()):
                    continue  # the source's own import of a third pond
                source.files[path] = child
                # Its directories appear here even when only the file was matched.
                for n in range(1, len(parts)):
                    source.dirs.add(tpaths.join(parts[:n]))

    if tail is None:
        walk(root.get("/"), True)
        return source
    for path, node_id in sorted(tail.dirs.items()):
        if any(path == e or path.startswith(e + "/") for e in excluded):
            continue
        try:
            np = root.get(path, follow=False)
        except OSError:
            raise _StaleTail(path) from None
        if np.node_id != node_id:
            raise _StaleTail(path)
        walk(np, False)
    if tail.located - source.seen:
        raise _StaleTail("a changed file is no longer in its first directory")
    return source


# -- what this pond holds ------------------------------------------------------------------


def _origin(info: VersionInfo) -> dict[str, Any] | None:
    value = info.attributes.get(IMPORT_ATTRIBUTE)
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class _State:
    """What the last import reached, kept at ``<mount>/.import.json``: the source's
    identity, its newest transaction then and that transaction's time (UTC, ISO 8601),
    the patterns it was read with, and where the source's directories were (node id ->
    source path).  Read back as untrusted: anything malformed is no state, and the
    next run compares every file."""

    pond: str
    txn: int
    time: str
    patterns: tuple[str, ...]
    dirs: Mapping[str, str]

    def encoded(self) -> bytes:
        doc = {
            "pond": self.pond,
            "txn": self.txn,
            "time": self.time,
            "patterns": list(self.patterns),
            "dirs": dict(self.dirs),
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def read(cls, root: WD, mount: str) -> _State | None:
        where = tpaths.join([*tpaths.split(mount), STATE_NAME])
        if not root.exists(where):
            return None
        np = root.get(where, follow=False)
        if not np.is_file() or np.info().size > _STATE_BYTES:
            return None
        try:
            doc = json.loads(np.read_bytes())
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        pond, txn, time = doc.get("pond"), doc.get("txn"), doc.get("time")
        patterns, dirs = doc.get("patterns"), doc.get("dirs")
        if not (
            isinstance(pond, str)
            and isinstance(time, str)
            and type(txn) is int
            and isinstance(patterns, list)
            and isinstance(dirs, dict)
            and all(isinstance(v, str) for v in (*patterns, *dirs, *dirs.values()))
        ):
            return None
        return cls(pond, txn, time, tuple(patterns), dirs)


@dataclass
class _Copy:
    """Versions of one source file to write at ``target``; ``replace`` removes the
    local file first (the source has another node at that path now)."""

    target: str
    source: NodePath
    versions: list[VersionInfo]
    replace: bool = False


@dataclass
class _Plan:
    mount: str
    dirs: list[str] = field(default_factory=list)
    copies: list[_Copy] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    removals: list[str] = field(default_factory=list)
    state: _State | None = None
    """Written when anything else is; a state alone changes nothing worth a commit."""
    warnings: list[str] = field(default_factory=list)
    compared: str = "all"
    """What was compared with the source: ``all`` its files, or its log ``tail``."""

    @property
    def empty(self) -> bool:
        return not (self.dirs or self.copies or self.links or self.removals)


def _target(mount: str, rel: str) -> str:
    return mount + rel


@dataclass
class _Local:
    """What is under the mount here, by paths relative to it (the source's paths)."""

    files: dict[str, NodePath] = field(default_factory=dict)
    links: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)

    def add(self, rel: str, np: NodePath) -> None:
        if np.is_file() and np.node_type in _COPIED_TYPES:
            self.files[rel] = np
        elif np.is_symlink():
            self.links.add(rel)
        elif np.node_type == DIRECTORY:
            self.dirs.add(rel)


def _local_nodes(root: WD, mount: str, only: set[str] | None = None) -> _Local:
    """Everything under the mount, or the entries of the directories ``only`` names."""
    local = _Local()
    if only is not None:
        for rel in only:
            where = _target(mount, rel.rstrip("/"))
            if root.exists(where) and root.get(where, follow=False).node_type == DIRECTORY:
                for np in root.entries(where):
                    local.add(np.path[len(mount) :], np)
    elif root.exists(mount):
        for np in root.visit(mount):
            local.add(np.path[len(mount) :], np)
    local.dirs.discard("")  # the mount itself
    local.files.pop("/" + STATE_NAME, None)  # the record of the last import
    return local


def _gone_dirs(root: WD, mount: str, local: _Local, source: _Source) -> list[str]:
    """Directories here the source no longer has (the topmost of each removed subtree),
    unless something not brought by an import lies below."""
    topmost: list[str] = []
    for rel in sorted(local.dirs - source.dirs - source.present):
        if any(rel.startswith(top + "/") for top in topmost):
            continue
        below = root.visit(_target(mount, rel))
        if all(not np.is_file() or _origin(np.info()) is not None for np in below):
            topmost.append(rel)
    return topmost


def plan_import(
    root: WD,
    mount: str,
    source_root: WD,
    patterns: list[str],
    tail: _Tail | None = None,
    known: Mapping[str, str] = {},
) -> tuple[_Plan, _Source]:
    """What to write under ``mount`` so it holds what ``source_root`` offers, and what
    was read of the source.

    ``tail``: what the source wrote since the last import, whose record (``known``: its
    directories by id) says the rest is here already; None compares everything.
    Raises ``DivergedError`` when the source is another pond than the one imported
    before, or its history no longer holds a version imported from it; ``_StaleTail``
    when the tail cannot be placed.
    """
    source = _read_source(source_root, patterns, tail, known)
    local = _local_nodes(root, mount, None if tail is None else set(tail.dirs))
    plan = _Plan(mount, compared="all" if tail is None else "tail")
    # A directory of the source where a file is here comes once the file is removed.
    plan.dirs = [
        _target(mount, rel)
        for rel in sorted(source.dirs - local.dirs)
        if rel in local.files or rel in local.links or not root.exists(_target(mount, rel))
    ]
    for rel, np in sorted(local.files.items()):
        if rel in source.unchanged:
            continue  # the log tail does not touch it: as the last import left it
        origin = _origin(np.info())
        if origin is None:
            continue  # not brought by an import: never touched
        if origin.get("pond") != source.identity:
            raise DivergedError(
                f"{np.path} was imported from another pond than the one at this url now; "
                "refusing to mix them (import it under another path)",
                path=np.path,
            )
        if rel not in source.files:
            plan.removals.append(np.path)
    for rel, src in sorted(source.files.items()):
        target = _target(mount, rel)
        versions = src.node.versions()
        here = local.files.get(rel)
        if here is None:
            plan.copies.append(_Copy(target, src, versions))
            continue
        origin = _origin(here.info())
        if origin is None:
            raise FileExistsError(
                errno.EEXIST,
                "a file not brought by an import is where the imported pond has one; "
                "refusing to replace it (move it away, or import under another path)",
                target,
            )
        if origin.get("node_id") != src.node_id or here.node_type != src.node_type:
            plan.copies.append(_Copy(target, src, versions, replace=True))
            continue
        last = int(origin.get("version", 0))
        known_versions = {v.version: v for v in versions}
        if last not in known_versions or known_versions[last].sha256 != origin.get("sha256"):
            raise DivergedError(
                f"{src.path} in the imported pond no longer has version {last} as it was "
                "imported (its history was rewritten); refusing to import from it",
                path=target,
            )
        new = [v for v in versions if v.version > last]
        if new:
            plan.copies.append(_Copy(target, src, new))
    for rel, link_target in sorted(source.links.items()):
        wanted = _link_target(mount, rel, link_target)
        target = _target(mount, rel)
        if wanted is None:
            plan.warnings.append(
                f"{target}: not brought, its target {link_target!r} climbs above the "
                "other pond's root"
            )
            continue
        if rel not in local.links:
            plan.links[target] = wanted
        elif root.readlink(target) != wanted:
            plan.removals.append(target)
            plan.links[target] = wanted
    for rel in sorted(local.links - set(source.links)):
        plan.removals.append(_target(mount, rel))
    plan.removals += [_target(mount, rel) for rel in _gone_dirs(root, mount, local, source)]
    if tail is not None:
        plan.removals += _emptied_dirs(root, mount, set(tail.dirs), plan.removals, patterns)
    return plan, source


def _link_target(mount: str, rel: str, target: str) -> str | None:
    """Where the source's link at ``rel`` points, as an absolute path under the mount
    (a relative target resolved from the link's directory); None when it climbs above
    the source's root, which here would reach this pond's own files."""
    try:
        parts = tpaths.normalize(target, tpaths.join(tpaths.split(rel)[:-1]))
    except InvalidPathError:
        return None
    return _target(mount, tpaths.join(parts)) if parts else mount


def _emptied_dirs(
    root: WD, mount: str, read: set[str], removals: list[str], patterns: list[str]
) -> list[str]:
    """Directories read again from the tail (and those above them) that only held what
    goes now and that no pattern selects: a whole comparison would not bring them."""
    selected = _selector(patterns)
    going = set(removals)
    candidates = {
        tpaths.join(tpaths.split(rel)[:n])
        for rel in read
        for n in range(1, len(tpaths.split(rel)) + 1)
    }
    emptied: list[str] = []
    # Deepest first, so that a directory emptied by its children's removal goes too.
    for rel in sorted(candidates, key=lambda r: -len(tpaths.split(r))):
        target = _target(mount, rel)
        if selected(tpaths.split(rel)) or target in going or not root.exists(target):
            continue
        if root.get(target, follow=False).node_type != DIRECTORY:
            continue
        if all(np.path in going for np in root.entries(target)):
            emptied.append(target)
            going.add(target)
    # Only the topmost of each: removing it removes what is below.
    return [t for t in emptied if not any(t.startswith(o + "/") for o in emptied)]


def _verified(persistence: DeltaPersistence, np: NodePath, info: VersionInfo, url: str) -> bytes:
    """The bytes of one source version, checked against the sha256 its oplog records."""
    where = f"version {info.version} of {np.path} in the pond at {url}"
    try:
        data = persistence.read_bytes(np.node_id, info.version)
    except (CorruptDataError, OSError) as exc:
        raise CorruptDataError(
            f"{where} cannot be read intact, refusing to import it: {exc}", path=np.path
        ) from exc
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise CorruptDataError(
            f"{where} does not match its sha256, refusing to import it", path=np.path
        )
    return data


def apply_plan(
    root: WD, plan: _Plan, persistence: DeltaPersistence, identity: str, name: str, url: str
) -> RunStats:
    """Write ``plan`` through ``root`` (inside the run's transaction)."""
    stats = RunStats(details={"files": 0, "versions": 0, "removed": 0, "compared": plan.compared})
    for path in plan.removals:
        root.remove(path, recursive=True)
        stats.details["removed"] += 1
    mount = tpaths.split(plan.mount)
    if plan.state is not None:
        root.mkdir(plan.mount, parents=True, exist_ok=True)
    for path in plan.dirs:
        root.mkdir(path, parents=True, exist_ok=True)
    for copy in plan.copies:
        if copy.replace and root.exists(copy.target):
            root.remove(copy.target, recursive=True)
        for info in copy.versions:
            data = _verified(persistence, copy.source, info, url)
            attributes = {
                # The source's summary of its series' schemas covers the source's versions.
                **{k: v for k, v in info.attributes.items() if k != SCHEMAS_SEEN},
                IMPORT_ATTRIBUTE: {
                    "resource": name,
                    "pond": identity,
                    "node_id": copy.source.node_id,
                    "version": info.version,
                    "sha256": info.sha256,
                    "txn_seq": info.txn_seq,
                },
            }
            span = (
                (info.min_event_time, info.max_event_time)
                if info.min_event_time is not None and info.max_event_time is not None
                else None
            )
            root.write_file(
                copy.target,
                data,
                node_type=copy.source.node_type,
                attributes=attributes,
                event_range=span,
            )
            stats.bytes += len(data)
            rows = info.attributes.get("rows")
            stats.rows += int(rows) if isinstance(rows, int) else 0
            stats.details["versions"] += 1
        stats.details["files"] += 1
    for path, target in plan.links.items():
        root.symlink(target, path)
    if plan.state is not None:
        root.write_file(tpaths.join([*mount, STATE_NAME]), plan.state.encoded())
    stats.warnings += plan.warnings
    d = stats.details
    stats.summary = (
        f"{d['versions']} version(s) of {d['files']} file(s) imported, {d['removed']} removed"
    )
    return stats


def _log_tail(
    persistence: DeltaPersistence, state: _State, patterns: list[str], url: str
) -> _Tail | None:
    """What the source wrote after the transaction ``state`` records (no ``changed``:
    nothing), or None when only comparing every file will do.

    Raises ``DivergedError`` when the source went back before that transaction or its
    record of it changed: its history is not the one imported from.
    """
    last = persistence.last_txn
    if last < state.txn:
        raise DivergedError(
            f"the pond at {url} is at transaction {last}, before transaction {state.txn} "
            "already imported from it (restored from an older copy?); refusing to import from it"
        )
    if last - state.txn > _TAIL_TXNS:
        return None  # a long tail: reading its commits costs more than comparing the files
    record = next(
        (t for t in persistence.transactions(last - state.txn + 1) if t.txn_seq == state.txn),
        None,
    )
    if record is None:
        return None  # its log was trimmed: the versions' hashes are checked instead
    if record.timestamp.isoformat() != state.time:
        raise DivergedError(
            f"the pond at {url} has another transaction {state.txn} than the one imported "
            "from it (its history was rewritten); refusing to import from it"
        )
    if tuple(patterns) != state.patterns:
        return None
    changes = persistence.changes_since(state.txn) if last > state.txn else []
    if changes is None:
        return None
    tail = _Tail(set(), {}, set())
    for node_id, part_id, entry_type in changes:
        tail.changed.add(node_id)
        # A directory's rows are in its own partition, a file's in its first directory's.
        where = node_id if entry_type == DIRECTORY else part_id
        path = state.dirs.get(where)
        if path is None:
            continue  # not a directory read before: new (its parent shows it) or left out
        tail.dirs[path] = where
        if entry_type != DIRECTORY:
            tail.located.add(node_id)
    return tail


def _still_there(known: Mapping[str, str], tail: _Tail, source: _Source) -> dict[str, str]:
    """The directories of the last record less those gone from a directory read again
    (and everything below them)."""
    read = set(tail.dirs)
    gone = [
        path
        for node_id, path in known.items()
        if path != "/"
        and node_id not in source.seen
        and tpaths.join(tpaths.split(path)[:-1]) in read
    ]
    return {
        node_id: path
        for node_id, path in known.items()
        if not any(path == g or path.startswith(g + "/") for g in gone)
    }


def _plan(
    ctx: RunContext, source_root: WD, state: _State | None, tail: _Tail | None
) -> tuple[_Plan, dict[str, str]]:
    """The plan, from the tail when it can be placed; and the source's directories then."""
    spec: ImportSpec = ctx.spec
    if tail is not None and state is not None:
        try:
            plan, source = plan_import(
                ctx.root, spec.path, source_root, spec.patterns, tail, state.dirs
            )
        except _StaleTail:
            pass
        else:
            return plan, {**_still_there(state.dirs, tail, source), **source.dir_ids}
    plan, source = plan_import(ctx.root, spec.path, source_root, spec.patterns)
    return plan, source.dir_ids


def run_import(ctx: RunContext) -> WriteStep | None:
    """Compare the other pond with what is here (no lock held); return the step that copies."""
    from ...errors import ConfigError
    from ...tinyfs import FS
    from ...tlogfs import DeltaPersistence

    spec: ImportSpec = ctx.spec
    if _is_remote(spec.url):
        # Read in place (a pond kept on S3, or its backup there); AWS_* give the access.
        persistence = DeltaPersistence.open_remote(spec.url)
    else:
        where = Path(spec.url)
        if where.resolve() == ctx.pond_dir.resolve():
            raise ConfigError(f"a pond cannot import itself: {spec.url}")
        # Opened, never begun: reading another pond takes none of its locks.
        persistence = DeltaPersistence.open(where)
    source_root = FS(persistence).root()
    try:
        identity = source_identity(source_root)
        state = _State.read(ctx.root, spec.path)
        tail = None
        if state is not None and state.pond == identity:
            tail = _log_tail(persistence, state, spec.patterns, spec.url)
        if tail is not None and not tail.changed:
            persistence.close()
            return None
        plan, dirs = _plan(ctx, source_root, state, tail)
        [newest] = persistence.transactions(1)
        plan.state = _State(
            identity, newest.txn_seq, newest.timestamp.isoformat(), tuple(spec.patterns), dirs
        )
    except BaseException:
        persistence.close()
        raise
    if plan.empty:
        persistence.close()
        return None

    def write(root: WD) -> RunStats:
        try:
            return apply_plan(root, plan, persistence, identity, ctx.name, spec.url)
        finally:
            persistence.close()

    return write


register_kind(
    Kind(
        "Import",
        "collector",
        ImportSpec,
        run=run_import,
        check=_check,
        base_dir=IMPORTS_DIR,
    )
)
