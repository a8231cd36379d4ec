"""``make demo`` runs its whole chain: copy, the Inbox pipeline, HydroVu -> Reduce -> Site."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_demo_runs_to_the_end_and_builds_the_site(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if k != "POND"}, "DEMO_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "stations: 34527 rows for 4 of 4 devices" in proc.stdout
    assert "loggers: 1 new, 0 changed" in proc.stdout
    # The backup part: pushed by a run, restored, verified equal.
    assert "restored pond" in proc.stdout and "offsite: equal" in proc.stdout
    assert (tmp_path / "restored-pond" / "data" / "_delta_log").is_dir()
    index = (tmp_path / "site" / "index.html").read_text()
    assert "SFTemps" in index and "Temperature (F)" in index
    assert "Traceback" not in proc.stderr
