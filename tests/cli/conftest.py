"""Fixtures for CLI tests: the ``pond`` command through CliRunner on real ponds in ``tmp_path``.

``pond`` runs a command on the pond of the test and returns click's result;
``pond.fails(...)`` asserts the one-line user-error contract and that the pond
did not change.  ``run_pond`` runs the installed command as a real process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import duckpond
from duckpond.cli import cli

SRC = Path(duckpond.__file__).resolve().parents[1]
POND_SCRIPT = Path(sys.executable).with_name("pond")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: our sources importable, no inherited $POND."""
    env = {k: v for k, v in os.environ.items() if k != "POND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def run_pond(
    *args: str, pond_dir: Path | None = None, timeout: float = 60, **kwargs: Any
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``pond`` script as a real process."""
    argv = [str(POND_SCRIPT)]
    if pond_dir is not None:
        argv += ["--pond", str(pond_dir)]
    return subprocess.run(
        [*argv, *args], capture_output=True, timeout=timeout, env=child_env(), **kwargs
    )


def script(tmp_path: Path, name: str, code: str) -> Path:
    """A Python script file for a child process."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


@dataclass(frozen=True)
class Snapshot:
    """What a failed command must leave alone: the transactions and every entry."""

    log: Any
    listing: Any


class PondRunner:
    """Runs ``pond --pond DIR ...`` in-process; helpers assert the CLI's contracts."""

    def __init__(self, pond_dir: Path) -> None:
        self.dir = pond_dir
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None) -> Result:
        return self.runner.invoke(
            cli, ["--pond", str(self.dir), *args], input=input, catch_exceptions=True
        )

    def ok(self, *args: str, input: str | bytes | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (
            f"pond {' '.join(args)} exited {result.exit_code}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
        )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("--json", *args).stdout)

    def snapshot(self) -> Snapshot:
        return Snapshot(self.json("log"), self.json("list", "-a"))

    def error(self, *args: str, input: str | bytes | None = None) -> str:
        """Run a command that must fail as a user error; return its message."""
        return assert_user_error(self(*args, input=input))

    def fails(self, *args: str, input: str | bytes | None = None) -> str:
        """Like ``error``, and the pond must be exactly as before."""
        before = self.snapshot()
        message = self.error(*args, input=input)
        assert self.snapshot() == before, f"pond {' '.join(args)} changed the pond"
        return message

    def cat_bytes(self, *args: str) -> bytes:
        return self.ok("cat", *args).stdout_bytes

    def paths(self, *args: str) -> list[str]:
        return [e["path"] for e in self.json("list", *args)]


def assert_user_error(result: Result, *, internal: bool = False) -> str:
    """Exit 1, exactly one stderr line starting ``error:``, no traceback; return the message.

    A user error names what the user got wrong: unless ``internal``, a bug
    reported as ``internal error: ...`` does not pass for one.
    """
    assert result.exit_code == 1, (
        f"exit {result.exit_code}, stdout {result.stdout!r}, stderr {result.stderr!r}, "
        f"{result.exception!r}"
    )
    assert isinstance(result.exception, SystemExit), f"unhandled {result.exception!r}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"stderr should be one line: {result.stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    message = lines[0][len("error: ") :]
    assert internal or not message.startswith("internal error:"), message
    return message


def assert_process_user_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The same contract for a real process."""
    stderr = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    message = lines[0][len("error: ") :]
    assert not message.startswith("internal error:"), message
    return message


@pytest.fixture(autouse=True)
def _no_pond_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POND", raising=False)


@pytest.fixture
def pond_dir(tmp_path: Path) -> Path:
    return tmp_path / "pond"


@pytest.fixture
def pond(pond_dir: Path) -> Iterator[PondRunner]:
    """An initialised pond (transaction 1 is ``init``)."""
    runner = PondRunner(pond_dir)
    runner.ok("init")
    yield runner


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host directory for input and output files."""
    path = tmp_path / "host"
    path.mkdir()
    return path


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def host_url(path: Path) -> str:
    """``host:///abs/path`` for a host path."""
    return f"host://{path.resolve()}"


SERIES_CSV = (
    "timestamp,temp,site\n"
    "2025-01-01T00:00:00,1.5,a\n"
    "2025-01-01T01:00:00,2.25,b\n"
    "2025-01-01T02:00:00,0.30000000000000004,c\n"
)
SERIES_CSV_2 = "timestamp,temp,site\n2025-01-01T03:00:00,4.0,d\n2025-01-01T04:00:00,5.5,e\n"


def parquet_bytes(rows: Sequence[dict[str, Any]]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(list(rows)), sink)
    return sink.getvalue()
