"""Concurrent writers as real processes: every write lands or fails with the lock error."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import PondRunner, assert_process_user_error, child_env, run_pond, script

# Each writer does N copies through the CLI's own entry point, in one process, and
# reports every attempt on stdout: "ok I" once committed, "error I MESSAGE" otherwise.
# Every third copy adds a version to one file that all writers share.
WRITER = """
import sys, time
from pathlib import Path
from duckpond.cli.main import UserError, cli

pond, name, count, lock_timeout, host, go = sys.argv[1:7]
host = Path(host)
print("ready", flush=True)
while not Path(go).exists():
    time.sleep(0.005)
for i in range(int(count)):
    src = host / f"{name}-{i}.txt"
    src.write_bytes(f"{name} {i}\\n".encode() * (i + 1))
    dest = "/w/shared" if i % 3 == 2 else f"/w/{name}-{i}"
    args = ["--pond", pond, "--lock-timeout", lock_timeout, "copy", str(src), dest]
    try:
        cli.main(args=args, prog_name="pond", standalone_mode=False)
    except UserError as exc:
        print(f"error {i} {exc.format_message()}", flush=True)
    else:
        print(f"ok {i}", flush=True)
"""


def expected(name: str, i: int) -> bytes:
    return f"{name} {i}\n".encode() * (i + 1)


def run_writers(
    pond: PondRunner, tmp_path: Path, writers: int, count: int, lock_timeout: float
) -> dict[str, list[str]]:
    """Start ``writers`` processes together; return each one's report lines."""
    path = script(tmp_path, "writer.py", WRITER)
    go = tmp_path / "go"
    host = tmp_path / "host-files"
    host.mkdir()
    children = {
        f"w{k}": subprocess.Popen(
            [
                sys.executable,
                str(path),
                str(pond.dir),
                f"w{k}",
                str(count),
                str(lock_timeout),
                str(host),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for k in range(writers)
    }
    for child in children.values():
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    go.touch()
    reports = {}
    for name, child in children.items():
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        # The CLI's own messages ("copied 1 file(s)...") are interleaved; keep the reports.
        reports[name] = [line for line in out.splitlines() if line.startswith(("ok ", "error "))]
    return reports


def target(name: str, i: int) -> str:
    return "/w/shared" if i % 3 == 2 else f"/w/{name}-{i}"


def check_outcome(pond: PondRunner, reports: dict[str, list[str]], count: int) -> int:
    """Every attempt reported once; the pond holds exactly the acknowledged writes."""
    landed: list[tuple[str, int]] = []
    lock_errors = 0
    for name, lines in reports.items():
        assert len(lines) == count, lines
        for i, line in enumerate(lines):
            word, index, *rest = line.split(" ", 2)
            assert int(index) == i
            if word == "ok":
                landed.append((name, i))
            else:
                assert word == "error"
                # Usually "locked by pid N (...)"; in the instant between a holder's flock
                # and its writing who it is, the holder cannot be named.
                assert rest[0].startswith("pond is locked by "), line
                lock_errors += 1
    own = [(name, i) for name, i in landed if target(name, i) != "/w/shared"]
    shared = [(name, i) for name, i in landed if target(name, i) == "/w/shared"]
    assert set(pond.paths("/w/")) == {target(n, i) for n, i in landed}
    for name, i in own:
        assert pond.cat_bytes(target(name, i)) == expected(name, i)
        [version] = pond.json("history", target(name, i))
        assert version["sha256"] == hashlib.sha256(expected(name, i)).hexdigest()
    # The shared file has one version per landed write to it, none lost or doubled.
    if shared:
        versions = pond.json("history", "/w/shared")
        assert sorted(v["sha256"] for v in versions) == sorted(
            hashlib.sha256(expected(n, i)).hexdigest() for n, i in shared
        )
        assert [v["version"] for v in versions] == list(range(1, len(shared) + 1))
    # One transaction per landed write, numbered without gaps.
    seqs = [t["txn_seq"] for t in pond.json("log")]
    assert seqs == list(range(2 + len(landed), 0, -1))
    assert pond.json("fsck")["ok"] is True
    return lock_errors


@pytest.mark.slow
@pytest.mark.parametrize("writers", [2, 4])
def test_concurrent_writers_all_land_with_a_long_lock_timeout(
    pond: PondRunner, tmp_path: Path, writers: int
) -> None:
    count = 6
    pond.ok("mkdir", "/w")
    reports = run_writers(pond, tmp_path, writers, count, lock_timeout=60)
    assert check_outcome(pond, reports, count) == 0
    assert len(pond.paths("/w/")) == writers * (count - count // 3) + 1
    assert len(pond.json("history", "/w/shared")) == writers * (count // 3)


@pytest.mark.slow
def test_concurrent_writers_with_a_short_lock_timeout_land_or_fail_cleanly(
    pond: PondRunner, tmp_path: Path
) -> None:
    count = 8
    pond.ok("mkdir", "/w")
    reports = run_writers(pond, tmp_path, 4, count, lock_timeout=0)
    lock_errors = check_outcome(pond, reports, count)
    # Four processes committing back to back with no patience collide.
    assert lock_errors > 0
    landed = len(pond.json("log")) - 2
    assert landed + lock_errors == 4 * count


@pytest.mark.slow
def test_concurrent_pond_processes(pond: PondRunner, tmp_path: Path) -> None:
    pond.ok("mkdir", "/w")
    sources = []
    for k in range(4):
        src = tmp_path / f"src{k}"
        src.write_bytes(expected(f"p{k}", 0))
        sources.append(src)
    procs = [
        subprocess.Popen(
            [
                str(Path(sys.executable).with_name("pond")),
                "--pond",
                str(pond.dir),
                "copy",
                str(src),
                f"/w/p{k}-0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        for k, src in enumerate(sources)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert sorted(pond.paths("/w/")) == [f"/w/p{k}-0" for k in range(4)]
    for k in range(4):
        assert pond.cat_bytes(f"/w/p{k}-0") == expected(f"p{k}", 0)
    assert [t["txn_seq"] for t in pond.json("log")] == [6, 5, 4, 3, 2, 1]


HOLDER = """
import sys, time
from duckpond.pond import Pond

pond = Pond.open(sys.argv[1])
with pond.transaction() as root:
    root.mkdir("/held")
    print("holding", flush=True)
    sys.stdin.readline()
"""


def test_a_held_lock_fails_a_writer_naming_the_holder(pond: PondRunner, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, str(script(tmp_path, "holder.py", HOLDER)), str(pond.dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        before = pond.snapshot()
        started = time.monotonic()
        proc = run_pond("--lock-timeout", "0.5", "mkdir", "/x", pond_dir=pond.dir)
        message = assert_process_user_error(proc)
        assert f"locked by pid {holder.pid}" in message
        assert "holder.py" in message
        assert time.monotonic() - started < 20
        # Readers never take the lock.
        assert pond.snapshot() == before
        message = pond.error("--lock-timeout", "0", "mkdir", "/y")
        assert f"pid {holder.pid}" in message
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert holder.returncode == 0
    assert pond.paths() == ["/held"]
    pond.ok("--lock-timeout", "0", "mkdir", "/x")
