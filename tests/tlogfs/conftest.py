"""Fixtures for TLogFS tests: real Delta tables in ``tmp_path``, real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import duckpond.tlogfs
from duckpond.tinyfs.persistence import DIRECTORY, FILE_DATA, ROOT_ID, DirEntry
from duckpond.tlogfs import DeltaPersistence

SRC = Path(duckpond.tlogfs.__file__).resolve().parents[2]


@pytest.fixture
def pond_dir(tmp_path: Path) -> Path:
    return tmp_path / "pond"


@pytest.fixture
def store(pond_dir: Path) -> Iterator[DeltaPersistence]:
    p = DeltaPersistence.create(pond_dir)
    yield p
    p.close()


def add_file(
    p: DeltaPersistence, name: str, data: bytes, parent: str = ROOT_ID, node_type: str = FILE_DATA
) -> str:
    """Create a file and link it, inside the caller's transaction."""
    node_id = p.create_node(parent, node_type, data)
    p.update_dir(parent, insert={name: DirEntry(name, node_id, node_type)})
    return node_id


def add_dir(p: DeltaPersistence, name: str, parent: str = ROOT_ID) -> str:
    node_id = p.create_node(parent, DIRECTORY, b"")
    p.update_dir(parent, insert={name: DirEntry(name, node_id, DIRECTORY)})
    return node_id


def commit_file(p: DeltaPersistence, name: str, data: bytes, parent: str = ROOT_ID) -> str:
    """One transaction that creates one file."""
    p.begin()
    node_id = add_file(p, name, data, parent)
    p.commit()
    return node_id


def script(tmp_path: Path, name: str, code: str) -> Path:
    """A Python script file, so the child's argv names it (lock holders show argv)."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return env


RunPython = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_python(tmp_path: Path) -> RunPython:
    """Run code in a fresh interpreter (deltalake must never be forked)."""

    def run(code: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        path = script(tmp_path, "child.py", code)
        return subprocess.run(
            [sys.executable, str(path), *args],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=60,
            check=check,
        )

    return run
