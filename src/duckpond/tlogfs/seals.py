"""Seals: the sha256 of every file a commit wrote to the Delta table, recorded after it.

Delta's data files, log entries and checkpoints carry no checksum a reader
checks, so a flipped bit in one can pass unnoticed (a changed statistic,
a changed row that still decodes).  After each commit the writer appends
one line per new file to ``data/_pond/seals``::

    <sha256 hex> <size in bytes> <path relative to data/>

``fsck`` re-hashes every sealed file and names each one that is missing or
changed.  Sealing happens after the commit, so a crash in between leaves
the newest files unsealed: ``fsck`` counts them as a note, never as a
problem, and ``pond recover`` seals them.  ``pond maintain`` removes a
file's seal before the file (see ``reclaim``), so a seal always names a
file that must exist.  Appends are not fsynced: a seal lost to a power cut
only leaves its file unsealed.  Blobs need no seal: their name is their hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from .layout import DELTA_LOG_DIR, META_DIR

SEALS_FILE = "seals"
_ONE_READ = 1 << 20
_CHUNK = 8 << 20
_SEAL_LINE = re.compile(r"([0-9a-f]{64}) ([0-9]+) (.+)")


@dataclass(frozen=True)
class Seal:
    sha256: str
    size: int


def log_entry(version: int) -> str:
    """A Delta commit's log entry, relative to the table root."""
    return f"{DELTA_LOG_DIR}/{version:020d}.json"


def checkpoint_file(version: int) -> str:
    return f"{DELTA_LOG_DIR}/{version:020d}.checkpoint.parquet"


def hash_file(path: Path) -> Seal:
    """The sha256 and size of a file; raises ``OSError``.

    A small file is read in one call; a large one in 8 MiB chunks into one reused
    buffer.  hashlib releases the GIL over each chunk, so threads hash files in parallel
    (``hash_files``).
    """
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size <= _ONE_READ:
            data = f.read()
            digest.update(data)
            return Seal(digest.hexdigest(), len(data))
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        total = 0
        while n := f.readinto(buffer):
            digest.update(view[:n])
            total += n
    return Seal(digest.hexdigest(), total)


def hash_files(paths: Iterable[Path], workers: int | None = None) -> dict[Path, Seal | OSError]:
    """``hash_file`` of each path: its seal, or the ``OSError`` reading it.

    Files of ``_ONE_READ`` bytes or more are hashed in threads (hashlib releases the
    GIL over large buffers, so they run on every core); smaller ones here, where a
    thread's hand-off would cost more than their hashing.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(path: Path) -> Seal | OSError:
        try:
            return hash_file(path)
        except OSError as e:
            return e

    todo = list(paths)
    large: list[Path] = []
    out: dict[Path, Seal | OSError] = {}
    for path in todo:
        try:
            big = path.stat().st_size >= _ONE_READ
        except OSError as e:
            out[path] = e
            continue
        if big:
            large.append(path)
        else:
            out[path] = one(path)
    if len(large) > 1:
        with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 1) + 2)) as pool:
            out.update(zip(large, pool.map(one, large), strict=True))
    else:
        out.update((p, one(p)) for p in large)
    return {p: out[p] for p in todo}


def added_files(entry: bytes) -> list[str]:
    """The data files a log entry adds (paths relative to the table root, decoded)."""
    paths = []
    for line in entry.splitlines():
        if b'"add"' not in line:
            continue
        action = json.loads(line)
        if "add" in action:
            paths.append(unquote(action["add"]["path"]))
    return paths


class Seals:
    """The seal file of one table root (``data/``)."""

    def __init__(self, table_root: Path) -> None:
        self.root = table_root
        self.path = table_root / META_DIR / SEALS_FILE

    def seal_versions(self, first: int, last: int) -> None:
        """Seal the log entries ``first..last``, the files they add, and their checkpoints.

        Raises ``OSError`` if a file cannot be read (the caller decides whether that matters).
        """
        lines = []
        for version in range(first, last + 1):
            entry = self.root / log_entry(version)
            data = entry.read_bytes()
            names = [log_entry(version), *added_files(data)]
            if (self.root / checkpoint_file(version)).is_file():
                names.append(checkpoint_file(version))
            for name in names:
                seal = (
                    Seal(hashlib.sha256(data).hexdigest(), len(data))
                    if name == names[0]
                    else hash_file(self.root / name)
                )
                lines.append(f"{seal.sha256} {seal.size} {name}\n")
        self._append(lines)

    def _append(self, lines: list[str]) -> None:
        if not lines:
            return
        self.path.parent.mkdir(exist_ok=True)
        with open(self.path, "a+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(max(0, size - 4096))
                tail = f.read()
                if not tail.endswith(b"\n"):
                    # A crash cut the last seal short: drop it (its file is merely unsealed).
                    cut = tail.rfind(b"\n")
                    f.truncate(size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))
            f.write("".join(lines).encode())

    def seal_files(self, names: Iterable[str]) -> None:
        """Seal files already on disk (``recover``, for what a crash left unsealed)."""
        self._append([f"{(s := hash_file(self.root / n)).sha256} {s.size} {n}\n" for n in names])

    def read(self) -> tuple[dict[str, Seal], list[str]]:
        """The seals by path, and the lines that are not seals (a damaged seal file).

        A last line without its newline is an append a crash cut short: skipped, not reported.
        """
        seals: dict[str, Seal] = {}
        bad: list[str] = []
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return seals, bad
        lines = text.split("\n")
        for line in lines[:-1]:
            match = _SEAL_LINE.fullmatch(line)
            if match:
                seals[match.group(3)] = Seal(match.group(1), int(match.group(2)))
            else:
                bad.append(line)
        return seals, bad

    def rewrite(self, seals: Mapping[str, Seal]) -> None:
        """Replace the seal file with ``seals`` atomically (temporary file, fsync, rename)."""
        self.path.parent.mkdir(exist_ok=True)
        tmp = self.path.with_name(f".{SEALS_FILE}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(f"{s.sha256} {s.size} {name}\n" for name, s in sorted(seals.items()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
