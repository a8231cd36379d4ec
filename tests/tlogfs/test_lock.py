"""The writer lock: one writer at a time, a bounded wait, a message naming the holder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from duckpond.errors import LockTimeoutError
from duckpond.tlogfs import DeltaPersistence, WriterLock

from .conftest import add_file, child_env, script

HOLDER = """
    import sys
    from duckpond.tlogfs import DeltaPersistence
    p = DeltaPersistence.open(sys.argv[1])
    p.begin()  # takes the lock
    print("locked", flush=True)
    sys.stdin.readline()
    p.rollback()
"""


def start_holder(tmp_path: Path, pond_dir: Path) -> subprocess.Popen[str]:
    path = script(tmp_path, "holder.py", HOLDER)
    child = subprocess.Popen(
        [sys.executable, str(path), str(pond_dir), "--label", "x y"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    return child


def stop(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.write("\n")
    child.stdin.close()
    assert child.wait(timeout=30) == 0


def test_second_writer_times_out_naming_the_holder(tmp_path: Path, pond_dir: Path) -> None:
    DeltaPersistence.create(pond_dir)
    child = start_holder(tmp_path, pond_dir)
    try:
        store = DeltaPersistence.open(pond_dir, lock_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as caught:
            store.begin()
        waited = time.monotonic() - started
        assert 0.25 <= waited < 5
        message = str(caught.value)
        assert f"pond is locked by pid {child.pid} (holder.py " in message
        assert "'x y'" in message and " since 20" in message
        assert not store.in_transaction
        # Readers never lock.
        assert store.read_dir("00000000-0000-7000-8000-000000000000") == {}
    finally:
        stop(child)
    # Once released, the lock is free and the file no longer names anyone.
    assert (pond_dir / "write.lock").read_text() == ""
    store.begin()
    add_file(store, "f", b"x")
    assert store.commit() == 2


def test_a_waiting_writer_gets_the_lock_when_it_is_released(tmp_path: Path, pond_dir: Path) -> None:
    DeltaPersistence.create(pond_dir)
    child = start_holder(tmp_path, pond_dir)
    store = DeltaPersistence.open(pond_dir, lock_timeout=20)
    releaser = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; time.sleep(0.3); sys.stdout.write('\\n')"],
        stdout=child.stdin,
    )
    store.begin()  # waits for the holder to read the newline and roll back
    assert child.wait(timeout=30) == 0 and releaser.wait(timeout=30) == 0
    assert child.stdin is not None
    child.stdin.close()
    store.rollback()


def test_holder_record_and_reentrancy(pond_dir: Path) -> None:
    pond_dir.mkdir()
    outer = WriterLock(pond_dir, timeout=0)
    with outer:
        info = json.loads((pond_dir / "write.lock").read_text())
        assert info["pid"] == os.getpid()
        assert info["command"] == sys.argv
        # The pond API and the persistence may both take it in one process.
        with WriterLock(pond_dir, timeout=0) as inner:
            assert inner.held
        with outer:
            pass
        assert (pond_dir / "write.lock").read_text() != ""
    assert (pond_dir / "write.lock").read_text() == ""
    assert not outer.held
