"""The lock files: .venv holds exactly the locked versions, and a stale lock is caught.

The checks run as ``make lint`` and the installer run them: ``tools/check_lock.py`` in a
subprocess, against the repository's files or edited copies of them in tmp_path.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "tools" / "check_lock.py"
LOCK_FILES = ("pyproject.toml", "uv.lock", "requirements-lock.txt")


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), *map(str, args)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def copies(tmp_path: Path) -> dict[str, Path]:
    """The three lock-related files copied into tmp_path, to be edited by a test."""
    for name in LOCK_FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    return {name: tmp_path / name for name in LOCK_FILES}


def stale(files: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    return check(
        "--stale",
        "--pyproject",
        files["pyproject.toml"],
        "--lock",
        files["uv.lock"],
        "--export",
        files["requirements-lock.txt"],
    )


def locked_version(name: str) -> str:
    match = re.search(rf"^{name}==(\S+)", (ROOT / "requirements-lock.txt").read_text(), re.M)
    assert match, name
    return match[1]


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
    reason="the lock describes the repository's .venv, not this interpreter",
)
def test_venv_holds_exactly_the_locked_versions() -> None:
    result = check("--installed")
    assert result.returncode == 0, result.stderr


def test_committed_lock_matches_pyproject() -> None:
    result = check("--stale")
    assert result.returncode == 0, result.stderr


def test_version_bump_without_relock_is_stale(copies: dict[str, Path]) -> None:
    pyproject = copies["pyproject.toml"]
    text = pyproject.read_text()
    assert '"deltalake>=1.6,<2"' in text
    pyproject.write_text(text.replace('"deltalake>=1.6,<2"', '"deltalake>=1.7,<2"'))
    result = stale(copies)
    assert result.returncode == 1
    assert "pyproject.toml has dependencies deltalake<2,>=1.7, uv.lock not" in result.stderr
    assert "uv.lock has dependencies deltalake<2,>=1.6, pyproject.toml not" in result.stderr
    assert "run 'make lock'" in result.stderr


def test_new_dev_dependency_without_relock_is_stale(copies: dict[str, Path]) -> None:
    pyproject = copies["pyproject.toml"]
    text = pyproject.read_text()
    pyproject.write_text(text.replace("dev = [\n", 'dev = [\n    "Pytest_Benchmark>=4",\n'))
    result = stale(copies)
    assert result.returncode == 1
    assert "pyproject.toml has [dev] pytest-benchmark>=4, uv.lock not" in result.stderr


def test_spelling_of_ranges_and_names_is_not_staleness(copies: dict[str, Path]) -> None:
    # "Click >= 8.1, < 9" is the same requirement as the locked "click>=8.1,<9".
    pyproject = copies["pyproject.toml"]
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"click>=8.1,<9"', '"Click < 9, >= 8.1"'))
    result = stale(copies)
    assert result.returncode == 0, result.stderr


def test_pip_export_out_of_step_with_uv_lock_is_stale(copies: dict[str, Path]) -> None:
    export = copies["requirements-lock.txt"]
    version = locked_version("click")
    export.write_text(export.read_text().replace(f"click=={version} ", "click==8.1.0 "))
    result = stale(copies)
    assert result.returncode == 1
    assert "requirements-lock.txt has click==8.1.0, not in uv.lock" in result.stderr
    assert f"requirements-lock.txt lacks click=={version}" in result.stderr


def test_installed_check_reports_version_missing_and_extra_packages(tmp_path: Path) -> None:
    # Run against this interpreter: whatever it holds, a lock naming a click that no one
    # publishes, a package no one installed, and no pytest cannot match it.
    lines = (ROOT / "requirements-lock.txt").read_text()
    lines = re.sub(r"^click==\S+", "click==0.0.1", lines, flags=re.M)
    lines = re.sub(r"^pytest==\S+", "unheard-of-package==1.0", lines, flags=re.M)
    export = tmp_path / "requirements-lock.txt"
    export.write_text(lines)
    result = check("--installed", "--export", export)
    assert result.returncode == 1
    assert "the lock has 0.0.1" in result.stderr
    assert "unheard-of-package==1.0 is locked but not installed" in result.stderr
    assert re.search(r"error: pytest \S+ is installed but not in the lock", result.stderr)
