"""The test S3 server never outlives the process that started it (a killed worker included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from duckpond.testing.s3server import weed_binary

pytestmark = pytest.mark.skipif(
    weed_binary() is None or not sys.platform.startswith("linux"), reason="needs weed on Linux"
)

_OWNER = """
import sys, time
from pathlib import Path
from duckpond.testing.s3server import S3Server
server = S3Server(Path(sys.argv[1]), buckets=["lifetime"])
server.start()
print(server.process.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its reaper is gone too
        return f.read().split(")")[-1].split()[0] != "Z"


def test_server_dies_when_its_owner_is_killed(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(tmp_path / "weed")], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    weed_pid = int(owner.stdout.readline())
    assert _alive(weed_pid)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 10
    while _alive(weed_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(weed_pid)
    if alive:
        os.kill(weed_pid, signal.SIGKILL)
    assert not alive, "weed outlived the process that started it"
