"""``kill -9`` of a mirror run or a sync at random instants loses nothing and lies about nothing.

After a kill, every file in the folder is whole: the content of its pond path
as of the old or the new transaction, or the user's own edit, untouched.  The
next run finishes the job without reporting the mirror's own files as edits.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from duckpond.pond import Pond

POND_SCRIPT = Path(sys.executable).with_name("pond")
FILES = 400


def content(txn: str, i: int) -> bytes:
    # Some files over 64 KiB, so that blobs are read and larger writes are staged.
    return (f"{txn}-{i}\n" * (9000 if i % 40 == 0 else 3)).encode()


def path(i: int) -> str:
    return f"/d{i % 4}/f{i:04d}.txt"


def run_pond(*args: str, pond_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "POND"}
    return subprocess.Popen(
        [str(POND_SCRIPT), "--pond", str(pond_dir), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def host_files(base: Path) -> dict[str, bytes]:
    out = {}
    for top, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".pond-mirror")]
        for name in files:
            if not name.startswith(".pond-mirror"):
                full = Path(top, name)
                out["/" + full.relative_to(base).as_posix()] = full.read_bytes()
    return out


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, set[bytes]]]:
    """A pond at txn B, a mirror of it at txn A with one user edit and one user file."""
    work = tmp_path_factory.mktemp("crash")
    pond = Pond.init(work / "pond", command=["test"])
    with pond.transaction() as tx:
        tx.mkdir("/d0", "/d1", "/d2", "/d3")
        for i in range(FILES):
            tx.write_file(path(i), content("A", i))
    template = work / "template"
    pond.mirrors.write(template)
    with pond.transaction() as tx:
        for i in range(0, FILES, 2):
            tx.write_file(path(i), content("B", i))
        for i in range(1, 101, 2):
            tx.rm(path(i))
        for i in range(FILES, FILES + 100):
            tx.write_file(path(i), content("B", i))
    (template / "d0/f0000.txt").write_bytes(b"the user's edit")
    (template / "d1/user.txt").write_bytes(b"the user's file")
    allowed: dict[str, set[bytes]] = {}
    for i in range(FILES + 100):
        allowed[path(i)] = {content("A", i), content("B", i)}
    allowed["/d0/f0000.txt"] = {b"the user's edit"}
    allowed["/d1/user.txt"] = {b"the user's file"}
    return work / "pond", template, allowed


def check_whole(base: Path, allowed: dict[str, set[bytes]]) -> None:
    for name, data in host_files(base).items():
        assert data in allowed[name], f"{name} holds {data[:30]!r}"
    assert (base / "d0/f0000.txt").read_bytes() == b"the user's edit"
    assert (base / "d1/user.txt").read_bytes() == b"the user's file"


def test_kill_a_mirror_run_at_random_instants(
    scenario: tuple[Path, Path, dict[str, set[bytes]]], tmp_path: Path
) -> None:
    pond_dir, template, allowed = scenario
    ref = tmp_path / "ref"
    shutil.copytree(template, ref, symlinks=True)
    started = time.perf_counter()
    proc = run_pond("mirror", str(ref), pond_dir=pond_dir)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    whole = time.perf_counter() - started
    expected = host_files(ref)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for k in range(6):
        base = tmp_path / f"m{k}"
        shutil.copytree(template, base, symlinks=True)
        proc = run_pond("mirror", str(base), pond_dir=pond_dir)
        time.sleep(rng.uniform(0.2, 1.0) * whole)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check_whole(base, allowed)
        finish = Pond.open(pond_dir).mirrors.write(base)
        assert [n.path for n in finish.conflicts] == ["/d0/f0000.txt"], (seed, finish.conflicts)
        assert not finish.edited, (seed, finish.edited)
        assert host_files(base) == expected, seed
        assert not (base / ".pond-mirror.staging").exists()
        assert not (base / ".pond-mirror.pending").exists()


def test_kill_a_sync_at_random_instants(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond", command=["test"])
    with pond.transaction() as tx:
        tx.mkdir("/d")
        for i in range(200):
            tx.write_file(f"/d/f{i:03d}.txt", b"pond %d\n" % i)
    pond.close()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    whole = None
    for k in range(5):
        base = tmp_path / f"m{k}"
        pond = Pond.open(tmp_path / "pond")
        pond.mirrors.write(base)
        for i in range(0, 200, 3):
            (base / f"d/f{i:03d}.txt").write_bytes(b"host %d round %d\n" % (i, k))
        for i in range(20):
            (base / f"d/new-{k}-{i}.txt").write_bytes(b"new %d\n" % i)
        pond.close()
        started = time.perf_counter()
        proc = run_pond("mirror", str(base), "--sync", pond_dir=tmp_path / "pond")
        if whole is None:
            assert proc.wait(timeout=120) == 0
            whole = time.perf_counter() - started
        else:
            time.sleep(rng.uniform(0.2, 1.0) * whole)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        pond = Pond.open(tmp_path / "pond")
        # The pond is at a commit: all of the sync or none of it.
        synced = pond.read_bytes("/d/f000.txt") == b"host 0 round %d\n" % k
        assert pond.root.exists(f"/d/new-{k}-0.txt") == synced, seed
        result = pond.mirrors.sync(base)
        assert result.sync.conflicts == [], (seed, result.sync.conflicts)
        assert pond.read_bytes("/d/f003.txt") == b"host 3 round %d\n" % k
        assert pond.read_bytes(f"/d/new-{k}-19.txt") == b"new 19\n"
        assert pond.mirrors.sync(base).sync.txn_seq is None
        pond.close()
