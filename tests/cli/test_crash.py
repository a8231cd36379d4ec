"""A writer killed with SIGKILL at random instants never leaves a pond that lies.

tests/tlogfs kills a persistence-level writer a few times; this drives the whole
``pond copy`` path (CLI, Pond, ingest, tlogfs) and kills it 50 times.
"""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from duckpond.pond import Pond

from .conftest import PondRunner, child_env, script
from .crash_payload import payload, target

HERE = Path(__file__).resolve().parent

# Writes payload(i) to target(i) for i = start, start+1, ..., printing "ack I" once
# each command has returned, that is, once its transaction has committed.
WRITER = f"""
import os, sys
from pathlib import Path

# Everything a copy needs is imported before "ready", so kills land among writes.
import deltalake, pyarrow
import duckpond.pond, duckpond.ingest.options, duckpond.ingest.plan, duckpond.ingest.store
import duckpond.tlogfs.persistence
from duckpond.cli.main import cli

sys.path.insert(0, {str(HERE)!r})
from crash_payload import payload, target

pond, host, start = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
src = host / f"in-{{os.getpid()}}"
print("ready", flush=True)
sys.stdin.readline()
i = start
while True:
    src.write_bytes(payload(i))
    args = ["--pond", pond, "copy", str(src), target(i)]
    cli.main(args=args, prog_name="pond", standalone_mode=False)
    print(f"ack {{i}}", flush=True)
    i += 1
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Writer:
    """One writer process, started early so that its imports overlap the previous check."""

    def __init__(self, path: Path, pond_dir: Path, host: Path, start: int) -> None:
        self.start = start
        self.proc = subprocess.Popen(
            [sys.executable, str(path), str(pond_dir), str(host), str(start)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )

    def go(self) -> None:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            _, err = self.proc.communicate(timeout=30)
            pytest.fail(f"writer did not start: {line!r} {err}")
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> list[int]:
        """SIGKILL it; return the indexes it acknowledged, in order."""
        self.proc.send_signal(signal.SIGKILL)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL, err
        acks = [int(line.split()[1]) for line in out.splitlines() if line.startswith("ack ")]
        assert acks == list(range(self.start, self.start + len(acks)))
        return acks


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_at_random_instants_loses_nothing_acknowledged(
    pond: PondRunner, tmp_path: Path
) -> None:
    trials = 50
    writer_script = script(tmp_path, "writer.py", WRITER)
    host = tmp_path / "host-in"
    host.mkdir()
    pond.ok("mkdir", "/w")
    rng = random.Random(2024)
    acked = 0
    landed: list[int] = []  # the writes found committed: acknowledged, or killed after commit
    writer = Writer(writer_script, pond.dir, host, 0)
    for trial in range(trials):
        writer.go()
        time.sleep(rng.uniform(0.0, 0.3))
        acks = writer.kill()
        acked += len(acks)
        # Beyond the acknowledged writes, only the one in flight may have committed.
        pending = writer.start + len(acks)

        # The pond opens and reads as it was left, before any recovery.
        found = set(pond.paths("/w/"))
        pending_landed = target(pending) in found and target(pending) not in {
            target(i) for i in landed + acks
        }
        with Pond.open(pond.dir) as p:
            for i in [*acks, pending]:
                if target(i) != "/w/shared" and target(i) in found:
                    assert p.read_bytes(target(i)) == payload(i), f"trial {trial}: write {i}"
            shared = [v.sha256 for v in p.history("/w/shared")] if "/w/shared" in found else []
        expected_shared = [sha(payload(i)) for i in landed + acks if target(i) == "/w/shared"]
        if target(pending) == "/w/shared" and shared == [*expected_shared, sha(payload(pending))]:
            pending_landed = True
        else:
            assert shared == expected_shared, f"trial {trial}: /w/shared versions"
        landed += acks + ([pending] if pending_landed else [])
        # Nothing half-written is visible: exactly the landed writes exist.
        assert found == {target(i) for i in landed}, f"trial {trial}"
        # One transaction per landed write (after init and mkdir), numbered without gaps.
        seqs = [t["txn_seq"] for t in pond.json("log")]
        assert seqs == list(range(2 + len(landed), 0, -1)), f"trial {trial}"

        # The next writer imports while this one's leftovers are cleaned and checked.
        writer = Writer(writer_script, pond.dir, host, landed[-1] + 1 if landed else 0)
        pond.ok("recover")
        report = pond.json("fsck")
        assert report["ok"] is True, (trial, report)
        assert report["unreferenced_blobs"] == 0, (trial, report)
    writer.proc.kill()
    writer.proc.communicate(timeout=30)

    # The kills fell among writes, not all before the first (the count depends on load).
    assert acked >= trials // 10
    assert acked <= len(landed) <= acked + trials
