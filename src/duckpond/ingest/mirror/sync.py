"""Bringing host edits in a mirror back into the pond, as one transaction.

``scan`` walks the mirror folder without following any symlink and compares
it with the record: a raw file changed on the host, a new host file, folder
or symlink, and (with ``--delete``) a host file removed.  ``apply`` writes
them in the caller's open transaction:

- a changed raw file whose pond node still has the version it was mirrored
  from becomes a new version of it;
- a new host file becomes a new node at the pond path its host name stands
  for (names.py), if the mirror's patterns select that path;
- when the pond changed too (the node has a newer version, was removed, or a
  new node holds the name), the pond's version stays and the host's bytes are
  stored beside it as ``NAME.conflict-<UTC time>``; nothing is lost;
- tables, series, computed outputs and resources are read-only in a mirror:
  an edit of one is reported and left as it is;
- a host symlink is imported only if it points inside the mirror folder.

``settle`` then brings the record in line with what the transaction wrote, so
the mirror run that follows sees the imported files as its own.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...errors import PondError
from ...printable import escape_controls
from ...tinyfs import DIRECTORY, FILE_DATA, SYMLINK, WD, NodePath
from ...tinyfs import paths as tpaths
from . import record as rec
from .names import not_canonical
from .out import MirrorReport, Note, listed
from .select import selected_by

ChangeKind = Literal["edit", "new-file", "new-dir", "link", "gone"]


@dataclass
class Change:
    """One difference between the host folder and the record."""

    kind: ChangeKind
    rel: str
    path: str
    """The pond path it concerns."""
    entry: rec.Entry | None = None
    data: bytes = b""
    sha256: str = ""
    target: str = ""
    """For ``link``: the pond target, relative to the link's folder."""


@dataclass(frozen=True)
class Conflict:
    """A host edit that met a pond change: the pond's ``path`` stays, the host's is ``kept_as``.

    ``host`` is the edited host path (relative to DIR); ``kept_as`` a pond path.
    """

    path: str
    kept_as: str
    host: str = ""

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "host": self.host, "kept_as": self.kept_as}


@dataclass
class SyncReport:
    """What ``--sync`` brought in, in transaction ``txn_seq`` (None: nothing to commit).

    As in ``MirrorReport``: Python lists hold pond paths, ``hosts`` maps each to
    its host path (relative to DIR), and ``to_json`` gives every item as
    ``{"path": pond path, "host": host path}``.
    """

    dir: str
    txn_seq: int | None = None
    changed: list[str] = field(default_factory=list)
    """Raw files edited on the host: each a new version."""
    created: list[str] = field(default_factory=list)
    """New host files, folders and symlinks: each a new node."""
    deleted: list[str] = field(default_factory=list)
    """Removed on the host and, with ``--delete``, from the pond."""
    conflicts: list[Conflict] = field(default_factory=list)
    kept: list[Note] = field(default_factory=list)
    """Host changes left as they are, each with why."""
    hosts: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        brought = len(self.changed) + len(self.created) + len(self.deleted)
        counts = (
            f"{brought} brought in ({len(self.changed)} changed, {len(self.created)} new,"
            f" {len(self.deleted)} deleted)"
        )
        if self.conflicts:
            counts += f", {len(self.conflicts)} conflicts"
        if self.kept:
            counts += f", {len(self.kept)} left on the host"
        where = f"txn {self.txn_seq}" if self.txn_seq is not None else "nothing to commit"
        return f"synced {self.dir} into the pond ({where}): {counts}"

    def lines(self) -> list[str]:
        """The summary, then each path brought in, each conflict and each change left.

        Control characters in names are escaped (``printable``): each item is one line.
        """
        out = [self.summary()]
        out += listed("changed", self.changed, self.hosts)
        out += listed("new", self.created, self.hosts)
        out += listed("deleted", self.deleted, self.hosts)
        out += [
            f"conflict: {c.path}: the pond's version stays; the host's is stored as {c.kept_as}"
            for c in self.conflicts
        ]
        out += [f"left: {n.line()}" for n in self.kept]
        return [escape_controls(line) for line in out]

    def items(self, paths: list[str]) -> list[dict[str, str]]:
        return [{"path": p, "host": self.hosts.get(p, "")} for p in paths]

    def to_json(self) -> dict[str, Any]:
        return {
            "dir": self.dir,
            "txn_seq": self.txn_seq,
            "changed": self.items(self.changed),
            "created": self.items(self.created),
            "deleted": self.items(self.deleted),
            "conflicts": [c.to_json() for c in self.conflicts],
            "kept": [n.to_json() for n in self.kept],
        }


@dataclass
class SyncResult:
    """``--sync``: the edits brought in, then the mirror run that followed."""

    sync: SyncReport
    mirror: MirrorReport

    def lines(self) -> list[str]:
        return [*self.sync.lines(), *self.mirror.lines()]

    def to_json(self) -> dict[str, Any]:
        return {"sync": self.sync.to_json(), "mirror": self.mirror.to_json()}


def _read(path: str) -> tuple[bytes, str]:
    with open(path, "rb") as fh:
        data = fh.read()
    return data, hashlib.sha256(data).hexdigest()


def _link_target(base: Path, rel: str, pond_of: rec.PondPaths) -> str | None:
    """A host symlink's target as a pond path relative to the link, or None if it leaves DIR."""
    text = os.readlink(base / rel)
    link_dir = posixpath.dirname(rel)
    if text.startswith("/"):
        real_base = os.path.realpath(base)
        for prefix in {str(base), real_base}:
            if text == prefix or text.startswith(prefix.rstrip("/") + "/"):
                text_rel = posixpath.normpath(text[len(prefix) :].lstrip("/") or ".")
                break
        else:
            return None
    else:
        text_rel = posixpath.normpath(posixpath.join(link_dir, text))
    if text_rel == ".." or text_rel.startswith("../"):
        return None
    target = pond_of("" if text_rel == "." else text_rel)
    parent = pond_of(link_dir)
    return posixpath.relpath(target, parent)


def _outside(entry: rec.Entry, record: rec.Record) -> bool:
    """True for a recorded file the mirror's (changed) patterns no longer select.

    Such an entry stays in the record only while its host file is edited; the
    host file is the user's, never the pond's business.  A folder is held for
    what is below it, so only the files and symlinks are asked.
    """
    return entry.type != DIRECTORY and not selected_by(entry.path, record.patterns)


RESERVED_REASON = (
    f"{tpaths.RESERVED} belongs to the pond itself (resources, runs record):"
    " --sync never creates, changes or removes anything there (pond apply does)"
)


def reserved(path: str) -> bool:
    """True for a pond path ``--sync`` must leave alone: at or under ``/etc`` (any case)."""
    return tpaths.is_reserved(tpaths.split(path))


def scan(base: Path, record: rec.Record, *, delete: bool) -> tuple[list[Change], list[Note]]:
    """The host changes to bring in, and those left as they are (with why).

    Nothing at or under ``/etc`` (``tinyfs.paths.RESERVED``) comes in, whatever
    the mirror's patterns: a host file there, new, changed or removed, is left
    with ``RESERVED_REASON``.
    """
    changes: list[Change] = []
    kept: list[Note] = []
    pond_of = rec.PondPaths(record)
    seen: set[str] = set()
    for rel, item in rec.walk(base):
        seen.add(rel)
        try:
            path = pond_of(rel)
        except UnicodeError:
            # Shown as Python writes it: the raw bytes could not be printed at all.
            shown = repr(rel)[1:-1]
            kept.append(Note(shown, shown, "its host name is not UTF-8: rename it"))
            continue
        except ValueError as exc:
            kept.append(Note(repr(rel)[1:-1], rel, f"not brought in: {exc}"))
            continue
        entry = record.files.get(rel)
        host = os.path.join(base, rel)
        if entry is not None:
            state, _ = rec.host_state(host, entry)
            if state == "clean":
                continue
            if reserved(path):
                kept.append(Note(path, rel, RESERVED_REASON))
                continue
            if _outside(entry, record):
                kept.append(Note(path, rel, "outside the mirror's patterns: not brought in"))
                continue
            is_file = item.is_file(follow_symlinks=False)
            if entry.editable and is_file:
                data, digest = _read(host)
                changes.append(Change("edit", rel, path, entry, data, digest))
            elif entry.type == SYMLINK and item.is_symlink():
                target = _link_target(base, rel, pond_of)
                if target is None:
                    kept.append(Note(path, rel, "the host symlink points outside the mirror"))
                else:
                    changes.append(Change("link", rel, path, entry, target=target))
            elif entry.type in (DIRECTORY, SYMLINK) or not is_file:
                kept.append(Note(path, rel, "replaced by another kind of entry on the host"))
            else:
                kept.append(
                    Note(path, rel, f"a {entry.type} is read-only in a mirror: the edit is left")
                )
            continue
        if not selected_by(path, record.patterns):
            kept.append(Note(path, rel, "outside the mirror's patterns: not brought in"))
            continue
        if reserved(path):
            kept.append(Note(path, rel, RESERVED_REASON))
            continue
        odd = not_canonical(rel, record.files)
        if odd is not None:
            kept.append(Note(path, rel, odd))
            continue
        if item.is_symlink():
            target = _link_target(base, rel, pond_of)
            if target is None:
                kept.append(Note(path, rel, "the host symlink points outside the mirror"))
            else:
                changes.append(Change("link", rel, path, target=target))
        elif item.is_dir(follow_symlinks=False):
            changes.append(Change("new-dir", rel, path))
        elif item.is_file(follow_symlinks=False):
            data, digest = _read(host)
            changes.append(Change("new-file", rel, path, data=data, sha256=digest))
        else:
            kept.append(Note(path, rel, "not a file, folder or symlink"))
    dirs: dict[str, bool] = {}
    # Deepest first: a folder removed on the host goes after what was in it.
    for rel, entry in sorted(record.files.items(), key=lambda kv: -kv[0].count("/")):
        if rel in seen:
            continue
        if not rec.real_dirs(base, rel, dirs):
            kept.append(Note(entry.path, rel, "a folder above it is not a folder on the host"))
        elif _outside(entry, record):
            kept.append(Note(entry.path, rel, "outside the mirror's patterns: not deleted"))
        elif reserved(entry.path):
            kept.append(Note(entry.path, rel, RESERVED_REASON))
        elif not delete:
            kept.append(Note(entry.path, rel, "removed on the host: kept in the pond (--delete)"))
        elif entry.editable or entry.type in (DIRECTORY, SYMLINK):
            changes.append(Change("gone", rel, entry.path, entry))
        else:
            kept.append(
                Note(entry.path, rel, f"a {entry.type} is read-only in a mirror: not deleted")
            )
    return changes, kept


def _existing(root: WD, path: str) -> NodePath | None:
    if not root.exists(path):
        return None
    return root.get(path, follow=False)


def _conflict_path(root: WD, path: str, stamp: str) -> str:
    candidate = f"{path}.conflict-{stamp}"
    n = 2
    while root.exists(candidate):
        candidate = f"{path}.conflict-{stamp}-{n}"
        n += 1
    return candidate


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def apply(root: WD, changes: list[Change], report: SyncReport, stamp: str) -> list[Change]:
    """Write ``changes`` through ``root`` (inside one open transaction); the ones now settled.

    ``stamp`` is the UTC time that names conflict copies (``20261207T013512Z``).
    A change the pond cannot take (a name held by a folder, a dynamic folder)
    is reported in ``report.kept`` and the others go on.
    """
    done: list[Change] = []
    for change in changes:
        try:
            if _apply_one(root, change, report, stamp):
                done.append(change)
        except (PondError, OSError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            report.kept.append(Note(change.path, change.rel, f"not brought in: {why}"))
    return done


def _symlink_above(root: WD, path: str) -> str | None:
    """The first folder above ``path`` that is a symlink in the pond, or None.

    A host folder put where the mirror wrote a pond symlink (``lnk -> etc``)
    must not have its files written through that symlink: the pond would
    follow it, under ``/etc`` or anywhere.
    """
    parts = tpaths.split(path)
    for i in range(1, len(parts)):
        above = tpaths.join(parts[:i])
        if not root.exists(above):
            return None
        if root.get(above, follow=False).is_symlink():
            return above
    return None


def _apply_one(root: WD, change: Change, report: SyncReport, stamp: str) -> bool:
    report.hosts[change.path] = change.rel
    link = _symlink_above(root, change.path)
    if link is not None:
        raise NotADirectoryError(
            errno.ENOTDIR, f"{link} is a symlink in the pond, and --sync writes nothing through one"
        )
    np = _existing(root, change.path)
    entry = change.entry
    unchanged = (
        np is not None
        and entry is not None
        and np.node_id == entry.node
        and (entry.type == DIRECTORY or np.info().version == entry.version)
    )
    if change.kind in ("edit", "new-file"):
        if np is not None and np.is_file() and np.info().sha256 == change.sha256:
            return True  # the pond already holds these bytes
        if change.kind == "edit" and unchanged:
            root.write_file(change.path, change.data)
            report.changed.append(change.path)
            return True
        if np is None and change.kind == "new-file":
            root.mkdir(_parent(change.path), parents=True)
            root.create_file(change.path, change.data)
            report.created.append(change.path)
            return True
        root.mkdir(_parent(change.path), parents=True)
        kept_as = _conflict_path(root, change.path, stamp)
        root.create_file(kept_as, change.data)
        report.conflicts.append(Conflict(change.path, kept_as, change.rel))
        return True
    if change.kind == "new-dir":
        if np is None:
            root.mkdir(change.path, parents=True)
            report.created.append(change.path)
        elif not np.is_dir():
            raise FileExistsError(errno.EEXIST, "a pond file already has this name")
        return True
    if change.kind == "link":
        if np is not None and np.is_symlink() and root.readlink(change.path) == change.target:
            return True
        if np is not None and not (entry is not None and unchanged and np.is_symlink()):
            raise FileExistsError(errno.EEXIST, "the pond changed this name too")
        if np is not None:
            root.remove(change.path)
        root.mkdir(_parent(change.path), parents=True)
        root.symlink(change.target, change.path)
        (report.changed if np is not None else report.created).append(change.path)
        return True
    # gone: removed on the host, and --delete was given.
    if np is None:
        return True
    if not unchanged:
        report.kept.append(
            Note(change.path, change.rel, "removed on the host but changed in the pond: kept")
        )
        return False
    root.remove(change.path)
    report.deleted.append(change.path)
    return True


def settle(base: Path, record: rec.Record, root: WD, done: list[Change]) -> None:
    """Make the record describe the host files that ``done`` brought in, as of ``root``.

    An imported file is recorded as the pond's new version of it, so the mirror
    run that follows leaves it alone.  A host file whose edit became a conflict
    copy is recorded as it is now but against its old version, so that run
    replaces it with the pond's version (the host's bytes are in the copy).  A
    user's file is never renamed: a new host name the mirror would not write as
    it is (``50%``, written ``50%25``) never came in (``scan``).
    """
    for change in done:
        host = base / change.rel
        if change.kind == "gone":
            record.files.pop(change.rel, None)
            continue
        if change.kind not in ("edit", "new-file"):
            continue  # folders and symlinks: the mirror run adopts or rewrites them
        rel = change.rel
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        np = _existing(root, change.path)
        info = np.info() if np is not None and np.is_file() else None
        if info is not None and info.sha256 == change.sha256:
            record.files[rel] = rec.Entry(
                change.path,
                np.node_id,  # type: ignore[union-attr]
                info.version,
                np.node_type,  # type: ignore[union-attr]
                sha256=info.sha256,
                host_sha256=change.sha256,
            ).with_stat(st)
        else:
            old = change.entry
            record.files[rel] = rec.Entry(
                change.path,
                old.node if old is not None else "",
                old.version if old is not None else 0,
                FILE_DATA,
                sha256=old.sha256 if old is not None else "",
                host_sha256=change.sha256,
            ).with_stat(st)
