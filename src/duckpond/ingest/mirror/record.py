"""The ``.pond-mirror`` record: what each file in a mirror was made from.

The record is two lines of JSON in DIR, a header and the files, so that a
run can read the header alone (``header``)::

    {"format": "duckpond-mirror/2", "pond": "/srv/pond", "pond_id": "0193...", "txn": 42,
     "at_txn": null, "log": {"version": 57, "size": 1552, "mtime_ns": ..., "ino": ...},
     "patterns": ["/**"], "tables": "parquet", "saved": "2026-12-07T01:35:12Z"}
    {"data/a.csv": {"path": "/data/a.csv", "node": "0193...", "version": 3,
                    "type": "file:data", "sha256": "...", "host_sha256": "...",
                    "size": 120, "mtime_ns": ..., "ctime_ns": ..., "ino": ...}}

The files are keyed by the host path relative to DIR (``/``-separated).  Each
entry holds the pond node and version the host file was written from, the
hash of the bytes written (``host_sha256``; for a symlink its ``target``), and
the file's ``lstat`` right after: a host file whose size, mtime, ctime and
inode all still match is unchanged without being read; otherwise its bytes are
hashed and compared.  A computed output records its configuration version and
the ``inputs`` it was computed from (``[[node id, version], ...]``).

A run writes the record it is about to make true as ``.pond-mirror.pending``
before it renames any file into place, and replaces ``.pond-mirror`` with it
when done.  After a ``kill -9`` in between, each host file matches one of the
two records (or was edited by the user), and ``load`` takes, file by file, the
entry the host agrees with.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ...errors import FormatError, LockTimeoutError
from ...tinyfs import DIRECTORY, FILE_DATA, SYMLINK
from ...tlogfs.layout import DATA_DIR, DELTA_LOG_DIR
from ...tlogfs.lock import WriterLock
from .names import RESERVED_PREFIX, host_to_pond

RECORD_FILE = RESERVED_PREFIX
PENDING_FILE = RESERVED_PREFIX + ".pending"
LOCK_FILE = RESERVED_PREFIX + ".lock"
STAGING_DIR = RESERVED_PREFIX + ".staging"
FORMAT = "duckpond-mirror/2"
_FORMAT_1 = "duckpond-mirror/1"

_OPTIONAL = (
    "sha256",
    "host_sha256",
    "size",
    "mtime_ns",
    "ctime_ns",
    "ino",
    "target",
    "format",
    "stale",
)

HostState = Literal["clean", "edited", "missing"]


@dataclass
class Entry:
    """One host file, directory or symlink of the mirror and what it was made from."""

    path: str
    """The pond path it mirrors."""
    node: str
    version: int
    """The node's version; for a computed output, its configuration's version."""
    type: str
    """The pond entry type (``file:data``, ``file:series``, ``directory``, ``symlink``...)."""
    sha256: str = ""
    """The pond's hash of that version ("" for directories and computed outputs)."""
    host_sha256: str = ""
    """The hash of the bytes written on the host."""
    size: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    ino: int = 0
    target: str = ""
    """A symlink's host target (relative, inside DIR)."""
    format: str = ""
    """How a table or series was written: ``parquet`` or ``csv`` ("" for the rest)."""
    inputs: list[list[Any]] | None = None
    """A computed output's inputs: ``[node id, version]`` pairs."""
    stale: bool = False
    """The pond moved on and the host file was kept (a conflict): every run looks at it."""

    @property
    def editable(self) -> bool:
        """Only raw data comes back with ``--sync``: tables and series are derived or collected."""
        return self.type == FILE_DATA

    @property
    def stat_key(self) -> tuple[int, int, int, int]:
        return (self.size, self.mtime_ns, self.ctime_ns, self.ino)

    def with_stat(self, st: os.stat_result) -> Entry:
        self.size, self.mtime_ns, self.ctime_ns, self.ino = (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_ino,
        )
        return self

    def to_json(self) -> dict[str, Any]:
        # By hand, not dataclasses.asdict: a record of 10,000 files is written in one go.
        doc: dict[str, Any] = {
            "path": self.path,
            "node": self.node,
            "version": self.version,
            "type": self.type,
        }
        for key in _OPTIONAL:
            value = getattr(self, key)
            if value:
                doc[key] = value
        if self.host_sha256 == self.sha256:
            # A raw file's host bytes are the pond's: one hash says both (parse puts it back).
            doc.pop("host_sha256", None)
        if self.inputs is not None:
            doc["inputs"] = [list(pair) for pair in self.inputs]
        return doc


@dataclass
class Record:
    """The whole ``.pond-mirror`` document."""

    pond: str
    txn: int = 0
    at_txn: int | None = None
    patterns: list[str] = field(default_factory=lambda: ["/**"])
    tables: str = "parquet"
    files: dict[str, Entry] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    """In a journal only: the host paths the run is about to remove."""
    refused: list[dict[str, str]] = field(default_factory=list)
    """The pond names the last full run found no host name for (``{path, host, reason}``)."""
    log: dict[str, int] | None = None
    """The pond's newest Delta log entry when the run read it (``log_stamp``), or None."""
    pond_id: str = ""
    """The identity of the pond mirrored (a pond made again at the same path has another)."""

    def header(self) -> dict[str, Any]:
        """Everything but ``files``: the record's first line."""
        doc: dict[str, Any] = {"removed": self.removed} if self.removed else {}
        if self.refused:
            doc["refused"] = self.refused
        if self.log is not None:
            doc["log"] = self.log
        if self.pond_id:
            doc["pond_id"] = self.pond_id
        return doc | {
            "format": FORMAT,
            "pond": self.pond,
            "txn": self.txn,
            "at_txn": self.at_txn,
            "patterns": self.patterns,
            "tables": self.tables,
            "saved": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def encode(self) -> bytes:
        """The record as written: the header on one line, then ``files`` on the next."""
        files = {rel: e.to_json() for rel, e in sorted(self.files.items())}
        # dumps, not dump: only dumps uses the C encoder, several times faster.
        head = json.dumps(self.header(), separators=(",", ":"))
        return f"{head}\n{json.dumps(files, separators=(',', ':'))}\n".encode()


def _parse(path: Path, *, header_only: bool = False) -> Record | None:
    """The record at ``path`` (None if there is none); only its header (no ``files``) if asked.

    Reads this format (header line, files line) and the one-document layout of
    ``duckpond-mirror/1``.
    """
    try:
        with path.open("rb") as fh:
            first = fh.readline()
            rest = b"" if header_only else fh.read()
    except FileNotFoundError:
        return None
    try:
        try:
            doc = json.loads(first)
        except ValueError:
            doc = None  # not one line: the first layout, perhaps indented
        if isinstance(doc, dict) and doc.get("format") == FORMAT:
            return _record(doc, {} if header_only else json.loads(rest))
        doc = json.loads(path.read_bytes() if header_only else first + rest)
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT_1:
            raise ValueError(f"not a {FORMAT} document")
        return _record(doc, {} if header_only else doc["files"])
    except (ValueError, TypeError, KeyError) as exc:
        # Untrusted input: anything but the document we write is refused, never guessed at.
        raise FormatError(f"{path} is not a mirror record this version can read: {exc}") from None


def _record(doc: dict[str, Any], files: Any) -> Record:
    if not isinstance(files, dict):
        raise ValueError("files is not an object")
    return Record(
        pond=str(doc["pond"]),
        txn=int(doc["txn"]),
        at_txn=None if doc.get("at_txn") is None else int(doc["at_txn"]),
        patterns=[str(p) for p in doc["patterns"]],
        tables=str(doc["tables"]),
        files={str(rel): _entry(fields) for rel, fields in files.items()},
        removed=[str(r) for r in doc.get("removed", [])],
        refused=[
            {"path": str(n["path"]), "host": str(n["host"]), "reason": str(n["reason"])}
            for n in doc.get("refused", [])
        ],
        log=_log_of(doc.get("log")),
        pond_id=str(doc.get("pond_id", "")),
    )


def header(base: Path) -> Record | None:
    """The record in ``base`` without its ``files`` (None if there is none): one line read.

    Enough to tell whether a run may be idle (``idle.py``) before reading the rest.
    """
    return _parse(base / RECORD_FILE, header_only=True)


def _entry(fields: dict[str, Any]) -> Entry:
    entry = Entry(**fields)
    if not entry.host_sha256:
        entry.host_sha256 = entry.sha256
    return entry


def _log_of(doc: Any) -> dict[str, int] | None:
    if doc is None:
        return None
    if not isinstance(doc, dict) or set(doc) != set(_LOG_KEYS):
        raise ValueError("log is not a log stamp")
    return {key: int(doc[key]) for key in _LOG_KEYS}


_LOG_KEYS = ("version", "size", "mtime_ns", "ino")


def log_stamp(pond_dir: str | os.PathLike[str], version: int) -> dict[str, int] | None:
    """What identifies the pond's Delta log entry ``version``: the version and its file's lstat.

    None when the entry's file is not there (a pond read in place, a log cleaned up).
    The stamp of the newest entry says whether the pond moved: Delta writes
    each commit as the next numbered file and never rewrites one, and a pond
    made again at the same path gets a new file (new inode and time) even for
    a version number seen before.
    """
    try:
        st = os.lstat(_log_entry(pond_dir, version))
    except OSError:
        return None
    return {"version": version, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def log_unmoved(pond_dir: str | os.PathLike[str], stamp: dict[str, int]) -> bool:
    """True when ``stamp`` is still the pond's newest log entry: no commit since it was taken.

    Two ``lstat`` calls, no Delta library: what lets a mirror run with nothing
    to do skip opening the pond.  Maintenance (compaction) commits a log entry
    too, so it counts as a move; that only costs the full run.
    """
    version = stamp["version"]
    if os.path.lexists(_log_entry(pond_dir, version + 1)):
        return False
    return log_stamp(pond_dir, version) == stamp


def _log_entry(pond_dir: str | os.PathLike[str], version: int) -> str:
    return os.path.join(pond_dir, DATA_DIR, DELTA_LOG_DIR, f"{version:020d}.json")


def hash_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a host file's bytes (read in 1 MiB blocks), hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    """What must not move for a host file to count as unchanged without reading it."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def host_state(
    path: str | os.PathLike[str], entry: Entry, st: os.stat_result | None = None
) -> tuple[HostState, os.stat_result | None]:
    """Whether the host still holds what ``entry`` says was written there.

    The caller has checked that every directory above ``path`` is a real one
    (not a symlink), so ``lstat`` here never looks outside the mirror.  ``st``
    is the ``lstat`` of ``path`` when the caller has it (a walk's).  A regular
    file whose size, mtime, ctime and inode all match is clean unread; when one
    of them differs its bytes are hashed (ctime and inode catch an edit that
    put the old mtime back, as ``cp -p`` or ``touch -r`` do).
    """
    if st is None:
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return "missing", None
    if entry.type == DIRECTORY:
        return ("clean" if stat.S_ISDIR(st.st_mode) else "edited"), st
    if entry.type == SYMLINK:
        same = stat.S_ISLNK(st.st_mode) and os.readlink(path) == entry.target
        return ("clean" if same else "edited"), st
    if not stat.S_ISREG(st.st_mode):
        return "edited", st
    if stat_key(st) == entry.stat_key:
        return "clean", st
    # Touched, copied back, or a record made before a rename: the bytes decide.
    if st.st_size == entry.size and hash_file(path) == entry.host_sha256:
        return "clean", st
    return "edited", st


def walk(base: Path, rel: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every host entry below ``base/rel`` as (host path, entry), in name order.

    Never enters a symlink, and skips the mirror's own files (``.pond-mirror*``:
    a pond name starting so is written ``%2E...``, so none is the user's).
    """
    with os.scandir(base / rel if rel else base) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith(RESERVED_PREFIX):
            continue
        child = f"{rel}/{entry.name}" if rel else entry.name
        yield child, entry
        if entry.is_dir(follow_symlinks=False):
            yield from walk(base, child)


class PondPaths:
    """Host path (relative to DIR) -> the pond path it stands for.

    The record's answer where it knows the host path, else the parent's pond
    path and the names rule (``host_to_pond``, which raises ``ValueError``).
    """

    def __init__(self, record: Record) -> None:
        self.files = record.files

    def __call__(self, rel: str) -> str:
        if not rel:
            return "/"
        entry = self.files.get(rel)
        if entry is not None:
            return entry.path
        parent, _, name = rel.rpartition("/")
        above = self(parent)
        return f"{above.rstrip('/')}/{host_to_pond(name)}"


def real_dirs(base: Path, rel: str, known: dict[str, bool]) -> bool:
    """True when every directory of ``rel`` below ``base`` is a real directory, not a symlink.

    A mirror never writes, reads or removes through a host symlink: one planted
    where a directory was could point anywhere.  ``known`` caches answers per run.
    """
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        ok = known.get(sub)
        if ok is None:
            try:
                ok = stat.S_ISDIR(os.lstat(base / sub).st_mode)
            except FileNotFoundError:
                # Missing: nothing below it exists, and creating it is safe.
                ok = True
            except OSError:
                ok = False
            known[sub] = ok
        if not ok:
            return False
    return True


def load(base: Path) -> Record | None:
    """The mirror's record in ``base`` (None if there is none), with a crashed run's journal merged.

    The journal holds only what the run was about to change (entries to write,
    host paths to remove); every other entry is the record's.
    """
    record = _parse(base / RECORD_FILE)
    pending = _parse(base / PENDING_FILE)
    if pending is None:
        return record
    if record is None:
        record = Record(pond=pending.pond, patterns=pending.patterns, tables=pending.tables)
    dirs: dict[str, bool] = {}
    for rel in sorted(set(pending.files) | set(pending.removed)):
        old, new = record.files.get(rel), pending.files.get(rel)
        host = os.path.join(base, rel)
        if not real_dirs(base, rel, dirs):
            chosen = old or new
        else:
            states = {}
            for which, entry in (("new", new), ("old", old)):
                if entry is not None:
                    states[which] = host_state(host, entry)[0]
            if states.get("new") == "clean":
                chosen = new
            elif states.get("old") == "clean":
                chosen = old
            elif new is None and states.get("old") == "missing":
                chosen = None  # the crashed run had removed it, as it meant to
            else:
                chosen = old or new
        if chosen is None:
            record.files.pop(rel, None)
        else:
            record.files[rel] = chosen
    return record


def save_pending(base: Path, record: Record, files: dict[str, Entry], removed: list[str]) -> None:
    """Journal what a run is about to change (``files`` to write, ``removed``), before it renames anything."""
    journal = Record(
        record.pond, record.txn, record.at_txn, record.patterns, record.tables, files, removed
    )
    _write(base / PENDING_FILE, journal)


def _write(path: Path, record: Record) -> None:
    temp = path.with_name(path.name + f".tmp-{os.getpid()}")
    data = record.encode()
    with temp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)


def save(base: Path, record: Record) -> None:
    """Replace the record (atomically) and drop the journal."""
    _write(base / RECORD_FILE, record)
    with contextlib.suppress(FileNotFoundError):
        (base / PENDING_FILE).unlink()


class MirrorLock(WriterLock):
    """``DIR/.pond-mirror.lock``: one mirror run at a time in one folder."""

    def __init__(self, base: Path, timeout: float) -> None:
        super().__init__(base, timeout)
        self.path = base / LOCK_FILE
        self._key = os.path.realpath(self.path)

    def acquire(self) -> None:
        try:
            super().acquire()
        except LockTimeoutError as exc:
            detail = str(exc).removeprefix("pond is locked by ")
            raise LockTimeoutError(
                f"another mirror run is under way in {self.path.parent}: {detail}"
            ) from None
