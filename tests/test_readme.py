"""The README's tour and Python example run as written, in a fresh pond."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
POND_SCRIPT = Path(sys.executable).with_name("pond")


def block(after_heading: str, language: str) -> str:
    """The first fenced ``language`` block after ``after_heading``."""
    start = README.index(after_heading)
    found = re.search(rf"```{language}\n(.*?)```", README[start:], re.S)
    assert found, f"no {language} block after {after_heading!r}"
    return found.group(1)


@pytest.mark.slow
def test_the_tour_and_the_python_example_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (work / "notes.txt").write_text("field notes\n")
    (work / "site-a.csv").write_text(
        "timestamp,Temperature.C,Depth.m\n"
        + "".join(f"2025-05-{d:02d}T00:00:00Z,{10 + d / 10},{1 + d / 100}\n" for d in range(1, 31))
    )
    (work / "site-a-june.csv").write_text(
        "timestamp,Temperature.C,Depth.m\n"
        + "".join(f"2025-06-{d:02d}T00:00:00Z,{12 + d / 10},{1 + d / 100}\n" for d in range(1, 8))
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "POND"},
        "HOME": str(home),
        "PATH": f"{POND_SCRIPT.parent}{os.pathsep}{os.environ['PATH']}",
    }
    tour = block("## A short tour", "sh").replace("/tmp/export", str(tmp_path / "export"))
    proc = subprocess.run(
        ["bash", "-e", "-c", tour], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    # The average of 30 May readings and 7 June ones, both versions of the series.
    expected = (sum(10 + d / 10 for d in range(1, 31)) + sum(12 + d / 10 for d in range(1, 8))) / 37
    assert f"{expected:.6f}"[:8] in proc.stdout
    assert (tmp_path / "export" / "site-a.series").exists()

    example = block("The same from Python:", "python")
    proc = subprocess.run(
        [sys.executable, "-c", example], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    check = subprocess.run(
        [str(POND_SCRIPT), "--pond", str(home / "pond"), "cat", "/notes/today.txt"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.stdout == "calibrated the DO sensor"
