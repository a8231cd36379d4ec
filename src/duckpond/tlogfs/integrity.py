"""``fsck``: proof of every stored byte, ending in one content root.

Three passes, none of which writes:

1. Files.  Every file under ``data/`` is named by the layout (an oplog data
   file, a log entry, a checkpoint, a blob, a record in ``_pond/``) or it is a
   stray.  Every sealed file (``seals``) must exist and hash to its seal; a
   blob must hash to its name.  So a flipped bit, a truncation or a deletion
   anywhere in the Delta table is named by its path, even where Delta itself
   would read on without noticing.  A log entry or checkpoint no seal covers yet
   must parse.
2. Rows.  Every version's bytes proved against the row's sha256 and size: a
   blob re-hashed (once, however many rows name it); inline content re-hashed
   where its data file is not sealed, and otherwise proved by the file's hash
   equal to its seal (taken of the file as written, whose rows' hashes were
   computed from the content as it was written); versions of a node consecutive; the newest directory
   versions naming only known nodes; each kept transaction present once.
3. The content root: a sha256 over the tree at one transaction, path by path
   (sorted), of the entry type and the content hashes that make up what the
   path reads (the newest version's; for a series, the chain digest folded
   over every version's hash, which a consolidated version carries on for the
   versions it replaced: ``consolidation``).  It is independent of node ids,
   Delta versions, file layout, compaction and consolidation, so a byte copy,
   a restore and a maintained pond have the root of their source, and any
   change of content changes it.

What a crash can leave (blobs no row names, temporary files, a data file of
a commit that never landed, the newest files not yet sealed) is counted as a
note, not a problem: ``pond recover`` clears it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import PondCorruptError, PondError, PondNotFoundError, boundary
from ..printable import counted
from ..tinyfs.persistence import DIRECTORY, FILE_SERIES, ROOT_ID
from .arrays import int64s, strings
from .blobs import BlobStore
from .layout import (
    CHECKPOINT_NAME,
    DATA_DIR,
    DATA_FILE_NAME,
    DELTA_LOG_DIR,
    LARGE_FILE_THRESHOLD,
    LARGE_FILES_DIR,
    LOG_ENTRY_NAME,
    META_DIR,
)
from .oplog import decode_entries
from .persistence import DeltaPersistence
from .retention import ARCHIVE_FILE, LEGACY_ARCHIVE_FILE, RETENTION_FILE
from .seals import SEALS_FILE, Seal, Seals, hash_files

_HEX64 = r"[0-9a-f]{64}"
_LOG_ENTRY = LOG_ENTRY_NAME
_CHECKPOINT = CHECKPOINT_NAME
_DATA_FILE = DATA_FILE_NAME
_BLOB = re.compile(r"sha256=" + _HEX64)
# object_store's local file system writes an object to "<name>#<n>" and renames it into
# place (its staged upload); a kill -9 in between leaves the staged file behind.
_STAGED = re.compile(r"(?P<name>.+)#\d+")
_META_FILES = {SEALS_FILE, RETENTION_FILE, ARCHIVE_FILE, LEGACY_ARCHIVE_FILE}


@dataclass(frozen=True)
class FsckProblem:
    kind: str
    """One of: corrupt file, missing file, stray file, bad seal, unreadable oplog,
    missing log entry, unreadable data file, sha256 mismatch, size mismatch, missing
    blob, version gap, bad directory, dangling entry, missing transaction, duplicate
    transaction."""
    node_id: str
    version: int
    detail: str
    path: str = ""
    """The file concerned, relative to the pond directory (file problems)."""


@dataclass
class FsckReport:
    versions_checked: int = 0
    bytes_checked: int = 0
    blobs_checked: int = 0
    files_checked: int = 0
    """Sealed oplog files (data files, log entries, checkpoints) re-hashed."""
    unreferenced_blobs: int = 0
    """Left by a crash; harmless, and removed by ``recover``."""
    unsealed_files: int = 0
    """The newest oplog files, written by a commit that crashed before sealing them."""
    debris_files: int = 0
    """Temporary files and data files of commits that never landed (``recover`` removes them)."""
    leftovers: list[str] = field(default_factory=list)
    """The unreferenced blobs and debris files counted above, relative to the pond directory."""
    content_root: str | None = None
    """64 hex digits over the tree at ``root_txn``; None if the tree could not be read."""
    root_txn: int = 0
    earliest_kept_txn: int = 1
    problems: list[FsckProblem] = field(default_factory=list)
    leftovers_advice: str = "run pond recover"
    """What the summary says to do about leftovers (a pond on S3: maintain's grace)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def of_kind(self, kind: str) -> list[FsckProblem]:
        return [p for p in self.problems if p.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "content_root": self.content_root,
            "root_txn": self.root_txn,
            "earliest_kept_txn": self.earliest_kept_txn,
            "versions_checked": self.versions_checked,
            "bytes_checked": self.bytes_checked,
            "blobs_checked": self.blobs_checked,
            "files_checked": self.files_checked,
            "unreferenced_blobs": self.unreferenced_blobs,
            "unsealed_files": self.unsealed_files,
            "debris_files": self.debris_files,
            "leftovers": list(self.leftovers),
            "problems": [asdict(p) for p in self.problems],
        }

    def summary(self) -> str:
        lines = [
            f"checked {self.versions_checked} version(s), {self.bytes_checked} bytes, "
            f"{self.blobs_checked} blob(s), {self.files_checked} oplog file(s): "
            + ("ok" if self.ok else f"{len(self.problems)} problem(s)")
        ]
        for p in self.problems:
            node = "" if p.node_id == "-" else f"node {p.node_id} version {p.version}"
            where = f"{p.path} ({node})" if p.path and node else (p.path or node)
            # A problem of the whole oplog (a transaction missing) has no file or node.
            lines.append(f"{p.kind}: {where}: {p.detail}" if where else f"{p.kind}: {p.detail}")
        if self.unreferenced_blobs or self.debris_files:
            shown = ", ".join(self.leftovers[:_LEFTOVERS_SHOWN])
            more = len(self.leftovers) - _LEFTOVERS_SHOWN
            if more > 0:
                shown += f" and {more} more"
            lines.append(
                f"{counted(self.unreferenced_blobs, 'unreferenced blob')} and "
                f"{counted(self.debris_files, 'leftover file')} of interrupted writes "
                f"({shown}): {self.leftovers_advice}"
            )
        if self.unsealed_files:
            lines.append(
                f"{counted(self.unsealed_files, 'new oplog file')} not sealed: run pond recover"
            )
        if self.content_root is not None:
            lines.append(f"content root at transaction {self.root_txn}: {self.content_root}")
        return "\n".join(lines)


_LEFTOVERS_SHOWN = 3
"""How many leftover files the summary names (``--json`` lists them all)."""


def _require_pond(pond_dir: str | os.PathLike[str]) -> Path:
    pond = Path(pond_dir)
    if not (pond / DATA_DIR).is_dir():
        raise PondNotFoundError(f"no pond at {pond}")
    return pond


# -- pass 1: files ------------------------------------------------------------------


@dataclass
class _Files:
    """The files under ``data/`` by role, paths relative to ``data/``."""

    oplog: list[str] = field(default_factory=list)
    """Data files, log entries and checkpoints: what seals cover."""
    blobs: dict[str, Path] = field(default_factory=dict)
    debris: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)


def _classify(root: Path) -> _Files:
    found = _Files()
    for dirpath, _dirs, names in os.walk(root):
        where = Path(dirpath)
        rel_dir = where.relative_to(root).as_posix()
        top = rel_dir.split("/")[0]
        for name in names:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            staged = _STAGED.fullmatch(name)
            if staged is not None and _is_staged_oplog(rel_dir, top, staged.group("name")):
                found.debris.append(rel)
                continue
            if rel_dir == DELTA_LOG_DIR:
                if _LOG_ENTRY.fullmatch(name) or _CHECKPOINT.fullmatch(name):
                    found.oplog.append(rel)
                elif name == "_last_checkpoint":
                    pass
                elif name.startswith("_commit_") or name.endswith(".tmp"):
                    found.debris.append(rel)
                else:
                    found.strays.append(rel)
            elif rel_dir == LARGE_FILES_DIR:
                if _BLOB.fullmatch(name):
                    found.blobs[name.removeprefix("sha256=")] = where / name
                elif name.startswith(".tmp-"):
                    found.debris.append(rel)
                else:
                    found.strays.append(rel)
            elif rel_dir == META_DIR:
                if name in _META_FILES:
                    pass
                elif name.startswith(".") and name.endswith(".tmp"):
                    found.debris.append(rel)
                else:
                    found.strays.append(rel)
            elif top.startswith("part_id=") and "/" not in rel_dir and _DATA_FILE.fullmatch(name):
                found.oplog.append(rel)
            else:
                found.strays.append(rel)
    return found


def _is_staged_oplog(rel_dir: str, top: str, name: str) -> bool:
    """Whether ``name`` (a staged file's final name) is an oplog file of directory ``rel_dir``."""
    if rel_dir == DELTA_LOG_DIR:
        return bool(_LOG_ENTRY.fullmatch(name) or _CHECKPOINT.fullmatch(name))
    return top.startswith("part_id=") and "/" not in rel_dir and bool(_DATA_FILE.fullmatch(name))


def _check_files(root: Path, report: FsckReport) -> tuple[_Files, dict[str, Seal], set[str]]:
    """Pass 1; also returns the sealed files that hash to their seal (relative to ``data/``)."""

    def problem(kind: str, rel: str, detail: str) -> None:
        report.problems.append(FsckProblem(kind, "-", 0, detail, f"{DATA_DIR}/{rel}"))

    files = _classify(root)
    seals, bad = Seals(root).read()
    for line in bad:
        problem(
            "bad seal",
            f"{META_DIR}/{SEALS_FILE}",
            f"not a seal record: {line[:80]!r} (pond recover drops it and seals again)",
        )
    for rel in files.strays:
        problem("stray file", rel, "no part of a pond writes a file of this name here")
    on_disk = set(files.oplog)
    hashed = hash_files(root / rel for rel in sorted(seals) if rel in on_disk)
    proved: set[str] = set()
    for rel, seal in sorted(seals.items()):
        if rel not in on_disk:
            problem("missing file", rel, f"sealed ({seal.size} bytes) but absent")
            continue
        found = hashed[root / rel]
        if isinstance(found, OSError):
            problem("missing file", rel, f"cannot be read: {found.strerror}")
            continue
        report.files_checked += 1
        if found != seal:
            problem(
                "corrupt file",
                rel,
                f"sealed as {seal.size} bytes with sha256 {seal.sha256[:16]}..., "
                f"now {found.size} bytes with sha256 {found.sha256[:16]}...",
            )
        else:
            proved.add(rel)
    return files, seals, proved


def _check_log(root: Path, store: DeltaPersistence, report: FsckReport) -> None:
    """Every log entry from the newest checkpoint to the table's version is present."""
    log = root / DELTA_LOG_DIR
    checkpoints = [int(m.group(1)) for p in log.iterdir() if (m := _CHECKPOINT.fullmatch(p.name))]
    start = max((c for c in checkpoints if c <= store.table.version()), default=-1) + 1
    for version in range(start, store.table.version() + 1):
        rel = f"{DELTA_LOG_DIR}/{version:020d}.json"
        if not (root / rel).is_file():
            report.problems.append(
                FsckProblem(
                    "missing log entry",
                    "-",
                    version,
                    "a Delta commit the table needs is absent",
                    f"{DATA_DIR}/{rel}",
                )
            )


# -- pass 2: rows -------------------------------------------------------------------


_ROW_COLUMNS = ["node_id", "file_type", "version", "txn_seq", "content", "sha256", "size"]
# A sealed data file that hashes to its seal holds the bytes written: its inline contents
# are proved by that hash, so only these columns are decoded from it.
_SEALED_COLUMNS = ["node_id", "file_type", "version", "txn_seq", "sha256", "size"]
_META_SCHEMA = pa.schema(
    [
        ("node_id", pa.string()),
        ("file_type", pa.string()),
        ("version", pa.int64()),
        ("txn_seq", pa.int64()),
        ("sha256", pa.string()),
        ("size", pa.int64()),
    ]
)


def _check_rows(
    store: DeltaPersistence,
    report: FsckReport,
    floor: int,
    proved: set[str],
    blob_hashes: dict[Path, Seal | None],
) -> set[Path]:
    """Pass 2; returns the blob files the rows name.

    ``proved``: the data files pass 1 found equal to their seal (relative to ``data/``);
    ``blob_hashes``: each blob file's hash (None if unreadable), filled here for a blob
    the rows name that pass 1 did not see.  Rows are read straight from the snapshot's
    data files; the checks over all rows (versions consecutive, transactions present)
    run in Arrow, and Python sees only the rows that name blobs, the newest directory
    versions, and the inline contents of files no seal proves.
    """
    import pyarrow.compute as pc

    blobs = BlobStore(store.data_dir / LARGE_FILES_DIR)
    referenced: set[Path] = set()

    def problem(kind: str, node_id: str, version: int, detail: str, path: str = "") -> None:
        report.problems.append(FsckProblem(kind, node_id, version, detail, path))

    def compare(
        node_id: str, version: int, sha256: str, size: int, actual: str, length: int, where: str
    ) -> None:
        report.bytes_checked += length
        if actual != sha256:
            problem(
                "sha256 mismatch",
                node_id,
                version,
                f"recorded {sha256}, content hashes to {actual}",
                where,
            )
        if length != size:
            problem(
                "size mismatch",
                node_id,
                version,
                f"recorded {size} bytes, content has {length}",
                where,
            )

    tables: list[pa.Table] = []
    threshold = int64s([LARGE_FILE_THRESHOLD])[0]
    for rel in sorted(store.snapshot_files()):
        try:
            parquet = pq.ParquetFile(store.data_dir / rel)
            if rel in proved:
                table = _read_columns(parquet, _SEALED_COLUMNS)
                tables.append(table)
                # Its inline bytes count as checked: the file's hash proved them.
                size = table.column("size")
                inline_bytes = pc.sum(size.filter(pc.less(size, threshold))).as_py()
                report.bytes_checked += inline_bytes or 0
                continue
            # No seal proves this file: every inline content is hashed again.
            table = _read_columns(parquet, _ROW_COLUMNS)
        except (OSError, pa.ArrowException) as e:
            where = f"{DATA_DIR}/{rel}"
            # A file pass 1 named (missing, or not its sealed bytes) is named once.
            if not any(p.path == where for p in report.problems):
                problem("unreadable data file", "-", 0, str(e), where)
            continue
        # Row by row, in Python: these files are few (the newest, before recover seals
        # them), and their string columns may be string_view, which Arrow's filter
        # kernels do not all take.
        for node_id, version, content, sha256, size in zip(
            *(
                table.column(n).to_pylist()
                for n in ("node_id", "version", "content", "sha256", "size")
            ),
            strict=True,
        ):
            if size >= LARGE_FILE_THRESHOLD:
                continue
            if content is None:
                problem("missing blob", node_id, version, "no inline content", "")
                continue
            actual = hashlib.sha256(content).hexdigest()
            compare(node_id, version, sha256, size, actual, len(content), "")
        tables.append(table.select(_SEALED_COLUMNS))
    # One schema for all: writers differ in string layouts (string, string_view).
    rows = pa.concat_tables([t.cast(_META_SCHEMA) for t in tables] or [_META_SCHEMA.empty_table()])
    report.versions_checked = rows.num_rows
    small = pc.less(rows.column("size"), threshold)
    for node_id, version, sha256, size in zip(
        *(
            rows.filter(pc.invert(small)).column(n).to_pylist()
            for n in ("node_id", "version", "sha256", "size")
        ),
        strict=True,
    ):
        blob = blobs.path(sha256)
        where = f"{DATA_DIR}/{LARGE_FILES_DIR}/{blob.name}"
        referenced.add(blob)
        if blob not in blob_hashes:
            found = hash_files([blob])[blob]
            blob_hashes[blob] = None if isinstance(found, OSError) else found
        seal = blob_hashes[blob]
        if seal is None:
            problem("missing blob", node_id, version, f"{blob.name} does not exist", where)
            continue
        compare(node_id, version, sha256, size, seal.sha256, seal.size, where)
    report.blobs_checked = sum(1 for b in referenced if blob_hashes.get(b) is not None)

    # maintain --keep removes a node's oldest versions: the rest stay consecutive.
    # (Sorted and compared in Arrow, scalars built by arrays.py: a plain Python one,
    # pa.scalar and Table.group_by make pyarrow import pandas, seconds on a busy machine.)
    order = rows.take(pc.sort_indices(rows, [("node_id", "ascending"), ("version", "ascending")]))
    nodes, numbers = order.column("node_id"), order.column("version")
    if order.num_rows > 1:
        same = pc.equal(nodes.slice(1), nodes.slice(0, order.num_rows - 1))
        step = pc.subtract(numbers.slice(1), numbers.slice(0, order.num_rows - 1))
        broken = pc.and_(same, pc.not_equal(step, int64s([1])[0]))
        for node_id in pc.unique(nodes.slice(1).filter(broken)).to_pylist():
            mine = rows.filter(pc.equal(rows.column("node_id"), strings([node_id])[0]))
            listed: list[int] = sorted(mine.column("version").to_pylist())
            problem("version gap", node_id, listed[-1], f"versions {listed}")
    known = set(pc.unique(nodes).to_pylist())
    latest_dirs: dict[str, int] = {}
    dirs = rows.filter(pc.equal(rows.column("file_type"), strings([DIRECTORY])[0]))
    for dir_id, version in zip(
        dirs.column("node_id").to_pylist(), dirs.column("version").to_pylist(), strict=True
    ):
        if version > latest_dirs.get(dir_id, 0):
            latest_dirs[dir_id] = version
    with_rows = set(pc.unique(rows.column("txn_seq")).to_pylist())

    for dir_id, version in latest_dirs.items():
        try:
            entries = decode_entries(store.unchecked_bytes(dir_id, version))
        except Exception as e:  # any failure to decode is the finding
            problem("bad directory", dir_id, version, str(e))
            continue
        for entry in entries.values():
            if entry.node_id not in known:
                problem(
                    "dangling entry",
                    dir_id,
                    version,
                    f"{entry.name!r} -> unknown node {entry.node_id}",
                )

    # Every kept transaction writes rows: its number shows in them (``_check_commits``
    # checks it is one commit).
    for txn in sorted(set(range(floor, store.last_txn + 1)) - with_rows):
        problem("missing transaction", "-", txn, f"transaction {txn} has no rows in the oplog")
    return referenced


def _read_columns(parquet: pq.ParquetFile, columns: list[str]) -> pa.Table:
    """``columns`` of an oplog data file, as the oplog's types (``_META_SCHEMA``'s for
    those it names); raises ``pa.ArrowInvalid`` if the file lacks one or holds another
    type (a damaged footer can rename a column, and Parquet skips a missing one)."""
    table = parquet.read(columns=columns)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise pa.ArrowInvalid(f"no column {', '.join(missing)} in the file's schema")
    return table.select(columns).cast(
        pa.schema(
            [
                _META_SCHEMA.field(c) if c in _META_SCHEMA.names else table.schema.field(c)
                for c in columns
            ]
        )
    )


def _check_commits(store: DeltaPersistence, report: FsckReport) -> None:
    """Every transaction is one Delta commit (read from the commits' metadata)."""
    seen: dict[int, int] = {}
    for t in store.transactions():
        seen[t.txn_seq] = seen.get(t.txn_seq, 0) + 1
    for txn, count in sorted(seen.items()):
        if count > 1:
            report.problems.append(
                FsckProblem(
                    "duplicate transaction", "-", txn, f"{count} Delta commits claim txn {txn}"
                )
            )


# -- pass 3: the content root -------------------------------------------------------


def content_root(store: DeltaPersistence) -> str:
    """The sha256 (64 hex digits) of the tree the store sees, as described in the module doc.

    Each path contributes one JSON line ``[path, entry type, hashes]``: for a series
    its chain digest over every version's sha256 (64 hex, ``consolidation``), so
    ``maintain`` consolidating versions leaves it equal; for a directory ``[]`` (its
    content is the paths below it); for anything else ``[newest version's sha256]``.
    Raises ``PondCorruptError`` (or ``OSError``) if a directory cannot be read.
    """
    digest = hashlib.sha256()

    def add(path: str, node_id: str) -> None:
        node_type = store.node_type(node_id)
        hashes: list[str] | str
        if node_type == DIRECTORY:
            hashes = []
        elif node_type == FILE_SERIES:
            try:
                hashes = store.series_chain(node_id)
            except ValueError as e:
                raise PondCorruptError(f"{path}: {e}") from None
        else:
            hashes = [store.latest(node_id).sha256]
        digest.update(json.dumps([path, node_type, hashes]).encode() + b"\n")
        if node_type == DIRECTORY:
            for name, entry in sorted(store.read_dir(node_id).items()):
                add(f"{path.rstrip('/')}/{name}", entry.node_id)

    add("/", ROOT_ID)
    return digest.hexdigest()


def fsck(pond_dir: str | os.PathLike[str], *, at_txn: int | None = None) -> FsckReport:
    """Re-hash every file, version and blob; check the oplog; compute the content root.

    The root is of the tree at ``at_txn`` (default: the newest transaction).
    Never writes.  A damaged pond is a report, not an exception: every oplog file
    whose bytes differ from its seal or cannot be parsed is named by its path, and a
    step that cannot read the table (its rows, its commits' history, its tree) is an
    ``unreadable oplog`` problem saying which, after which the other steps still run.
    Raises ``PondNotFoundError`` if there is no pond, and ``ConfigError``
    (``HistoryRemovedError``) for an ``at_txn`` that is not kept.
    """
    pond = _require_pond(pond_dir)
    root = pond / DATA_DIR
    report = FsckReport()
    files, seals, proved = _check_files(root, report)
    # An oplog file no seal proves (the newest, not sealed yet) must at least parse.
    _check_parses(root, [rel for rel in files.oplog if rel not in seals], report)
    # Every blob on disk is hashed once, in threads, whether rows name it or not (an
    # unreferenced one is proved too: a corrupt one is named).
    blob_hashes: dict[Path, Seal | None] = {
        path: None if isinstance(found, OSError) else found
        for path, found in hash_files(files.blobs.values()).items()
    }

    def unreadable(what: str, e: BaseException) -> None:
        report.problems.append(FsckProblem("unreadable oplog", "-", 0, f"{what}: {e}", DATA_DIR))

    try:
        with boundary():
            store = DeltaPersistence.open(pond)
    except (PondError, OSError) as e:
        unreadable("the table cannot be opened", e)
        return report
    floor = store.retention()
    report.earliest_kept_txn = floor.earliest_txn if floor else 1
    if at_txn is not None:
        # Refused here, before any work, if the transaction is not kept.
        past = DeltaPersistence.open(pond, at_txn=at_txn)
    named: set[Path] | None = None
    # Each step on its own: one that cannot read (a log entry cut short that only the
    # commits' history reads, say) must not hide what the others find.
    try:
        with boundary():
            _check_log(root, store, report)
            named = _check_rows(store, report, report.earliest_kept_txn, proved, blob_hashes)
    except (PondError, OSError) as e:
        unreadable("the rows cannot be read", e)
    try:
        with boundary():
            _check_commits(store, report)
    except (PondError, OSError) as e:
        unreadable("the commits' history cannot be read", e)
    try:
        with boundary():
            view = past if at_txn is not None else store
            report.root_txn = view.last_txn
            report.content_root = content_root(view)
    except (PondError, OSError) as e:
        unreadable("the tree cannot be read", e)
    if named is None:
        # Without the rows no blob can be told unreferenced, nor a data file debris.
        return report

    for digest, path in files.blobs.items():
        if path in named:
            continue
        report.unreferenced_blobs += 1
        report.leftovers.append(f"{DATA_DIR}/{LARGE_FILES_DIR}/{path.name}")
        found = blob_hashes.get(path)
        if found is None or found.sha256 != digest:
            report.problems.append(
                FsckProblem(
                    "corrupt file",
                    "-",
                    0,
                    "blob bytes do not hash to its name",
                    f"{DATA_DIR}/{LARGE_FILES_DIR}/{path.name}",
                )
            )
    to_seal, debris = loose_files(files, seals, store)
    report.unsealed_files = len(to_seal)
    report.debris_files = len(debris)
    report.leftovers = sorted(report.leftovers + [f"{DATA_DIR}/{rel}" for rel in debris])
    return report


def _check_parses(root: Path, rels: list[str], report: FsckReport) -> None:
    """Name as corrupt each log entry and checkpoint among ``rels`` (oplog files no seal
    covers, relative to ``data/``) whose bytes do not parse: each line of an entry must
    be a JSON object, a checkpoint's Parquet footer must read.  (Both are written whole
    or not at all, so a crash cannot leave one that fails; a data file the table uses
    is parsed by the rows pass, and one it does not use is a crash's leftover.)"""
    for rel in sorted(rels):
        if not rel.startswith(f"{DELTA_LOG_DIR}/"):
            continue
        path = root / rel
        try:
            if rel.endswith(".json"):
                lines = path.read_bytes().splitlines()
                if not lines:
                    raise ValueError("it is empty")
                for number, line in enumerate(lines, 1):
                    try:
                        action = json.loads(line)
                    except ValueError as e:
                        raise ValueError(f"line {number} is not JSON ({e})") from None
                    if not isinstance(action, dict):
                        raise ValueError(f"line {number} is not a JSON object")
            else:
                pq.ParquetFile(path).metadata  # noqa: B018 (reading the footer is the check)
        except OSError as e:
            detail = f"cannot be read: {e.strerror or e}"
        except (ValueError, pa.ArrowException) as e:
            detail = f"not sealed, and its bytes do not parse: {e}"
        else:
            continue
        report.problems.append(FsckProblem("corrupt file", "-", 0, detail, f"{DATA_DIR}/{rel}"))


def loose_files(
    files: _Files, seals: dict[str, Seal], store: DeltaPersistence
) -> tuple[list[str], list[str]]:
    """What a crash left, relative to ``data/``: unsealed files the table uses (to
    seal), and leftovers of writes that never landed (to remove)."""
    in_snapshot = store.snapshot_files()
    to_seal: list[str] = []
    debris = list(files.debris)
    logged: set[str] | None = None
    for rel in files.oplog:
        if rel in seals:
            continue
        if rel in in_snapshot or rel.startswith(f"{DELTA_LOG_DIR}/"):
            to_seal.append(rel)
            continue
        if logged is None:
            logged = _logged_files(Path(store.data_dir))
        if rel in logged:
            # Added by a log entry the pond still holds, though no longer live (maintain
            # kept it for a backup's next push): the table's, not a crash's.
            to_seal.append(rel)
        else:
            debris.append(rel)
    return sorted(to_seal), sorted(debris)


def _logged_files(root: Path) -> set[str]:
    """Every data file (relative to ``data/``) an ``add`` of a log entry present names."""
    from urllib.parse import unquote

    found: set[str] = set()
    log = root / DELTA_LOG_DIR
    for path in log.glob("*.json"):
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                action = json.loads(line) if line.strip() else {}
            except ValueError:
                continue
            add = action.get("add") if isinstance(action, dict) else None
            if isinstance(add, dict) and isinstance(add.get("path"), str):
                found.add(unquote(add["path"]))
    return found


def scan(root: Path) -> tuple[_Files, dict[str, Seal]]:
    """The files under a table root by role, and its seals (for ``recover``)."""
    return _classify(root), Seals(root).read()[0]
