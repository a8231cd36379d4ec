"""The pond's single-writer lock: ``fcntl.flock`` on ``$POND/write.lock``.

Delta itself lets concurrent appends all succeed, so this lock is what keeps
one writer at a time.  Readers never take it.  The holder writes its pid,
command line and start time into the file so a waiting writer can say who
it is waiting for; the text is cleared on release, so text left behind
with the lock free means the holder died (``recover`` clears it).  The
kernel drops a flock when its holder dies, so a stale lock never blocks.

The lock is re-entrant within a process: the pond API and the persistence
can both take it without deadlocking on a second file description.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import LockTimeoutError
from .layout import LOCK_FILE

DEFAULT_TIMEOUT = 30.0
POLL_INTERVAL = 0.05


@dataclass
class _Held:
    fd: int
    count: int


_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


def _describe_command(argv: list[str]) -> str:
    if not argv:
        return "?"
    return shlex.join([os.path.basename(argv[0]), *argv[1:]])


def holder_info(text: str) -> dict[str, Any] | None:
    """The holder record in a lock file's text, or None if empty or unreadable."""
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def describe_holder(info: dict[str, Any] | None) -> str:
    if info is None:
        return "pond is locked by another process"
    command = info.get("command")
    argv = [str(a) for a in command] if isinstance(command, list) else []
    return (
        f"pond is locked by pid {info.get('pid', '?')} "
        f"({_describe_command(argv)}) since {info.get('since', '?')}"
    )


class WriterLock:
    """Hold the pond's write lock; ``with WriterLock(pond_dir):`` waits up to ``timeout`` s."""

    def __init__(self, pond_dir: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = Path(pond_dir) / LOCK_FILE
        self.timeout = timeout
        self._key = os.path.realpath(self.path)
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._depth > 0

    def acquire(self) -> None:
        """Take the lock, or one more level of it if this object already holds it."""
        if self._depth:
            self._depth += 1
            return
        with _held_guard:
            held = _held.get(self._key)
            if held is not None:
                held.count += 1
                self._depth = 1
                return
        fd = self._wait_for_flock()
        self._write_holder(fd)
        with _held_guard:
            _held[self._key] = _Held(fd, 1)
        self._depth = 1

    def _wait_for_flock(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(POLL_INTERVAL)
            text = ""
            # The holder writes who it is just after locking and clears it just
            # before unlocking: an empty file means a hand-over is under way, so
            # look again briefly (and take the lock if it came free).
            for _ in range(20):
                text = os.pread(fd, 64 * 1024, 0).decode("utf-8", "replace")
                if text.strip():
                    break
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    time.sleep(0.01)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        raise LockTimeoutError(f"{describe_holder(holder_info(text))} (waited {self.timeout:g} s)")

    @staticmethod
    def _write_holder(fd: int) -> None:
        info = {
            "pid": os.getpid(),
            "command": list(sys.argv),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        data = json.dumps(info).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth:
            return
        with _held_guard:
            held = _held[self._key]
            held.count -= 1
            if held.count > 0:
                return
            del _held[self._key]
        try:
            # Cleared before unlocking: leftover text then always means a dead holder.
            os.ftruncate(held.fd, 0)
        finally:
            os.close(held.fd)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def clear_stale(pond_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Clear a dead holder's record; return it, or None if there was none.

    The lock must not be held by a live process: the caller holds nothing and
    a non-blocking flock succeeds, which is the kernel's proof of death.
    """
    path = Path(pond_dir) / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        text = os.pread(fd, 64 * 1024, 0).decode("utf-8", "replace")
        if not text.strip():
            return None
        os.ftruncate(fd, 0)
        return holder_info(text) or {"text": text}
    finally:
        os.close(fd)
