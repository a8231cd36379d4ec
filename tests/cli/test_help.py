"""Every command documents itself with an example; the CLI starts without heavy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from duckpond import __version__
from duckpond.cli import cli

from .conftest import POND_SCRIPT, child_env, run_pond

COMMANDS = sorted(cli.commands)
# The command-line contract (docs/architecture.md): these must exist (later commands join the list on their own).
CONTRACT = {
    "init",
    "mkdir",
    "copy",
    "list",
    "cat",
    "describe",
    "log",
    "history",
    "rm",
    "mv",
    "ln",
    "query",
    "recover",
    "fsck",
}


def test_every_contract_command_exists() -> None:
    assert set(COMMANDS) >= CONTRACT


def test_top_level_help_has_an_example_and_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_has_an_example(name: str) -> None:
    for flag in ("--help", "-h"):
        result = CliRunner().invoke(cli, [name, flag])
        assert result.exit_code == 0, result.output
        assert "Example" in result.stdout, f"pond {name} --help has no example"
        assert f"pond {name}" in result.stdout.split("Example", 1)[1]


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"pond, version {__version__}"


def test_unknown_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["list", "--no-such-option"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2


def test_importing_the_cli_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, duckpond.cli, duckpond.cli.main\n"
        "from click.testing import CliRunner\n"
        "r = CliRunner().invoke(duckpond.cli.cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'deltalake', 'pyarrow', 'datafusion', 'pandas', 'polars'})\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_the_installed_script_prints_help_and_version() -> None:
    assert POND_SCRIPT.exists()
    proc = run_pond("--help")
    assert proc.returncode == 0
    assert b"Example" in proc.stdout
    proc = run_pond("--version")
    assert proc.returncode == 0
    assert proc.stdout.decode().strip() == f"pond, version {__version__}"


def test_python_dash_m_runs_the_cli() -> None:
    for module in ("duckpond", "duckpond.cli"):
        proc = subprocess.run(
            [sys.executable, "-m", module, "--version"],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"pond, version {__version__}"


def test_usage_error_in_a_real_process_names_pond() -> None:
    proc = run_pond("list", "--no-such-option")
    assert proc.returncode == 2
    assert b"Usage: pond list" in proc.stderr


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    from .conftest import POND_SCRIPT, child_env

    pond_dir = tmp_path / "pond"
    subprocess.run([str(POND_SCRIPT), "--pond", str(pond_dir), "init"], check=True, env=child_env())
    subprocess.run(
        [str(POND_SCRIPT), "--pond", str(pond_dir), "mkdir", *[f"/d{i}" for i in range(3000)]],
        check=True,
        env=child_env(),
    )
    listing = subprocess.Popen(
        [str(POND_SCRIPT), "--pond", str(pond_dir), "--json", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    assert listing.stdout is not None and listing.stderr is not None
    listing.stdout.read(10)
    listing.stdout.close()
    stderr = listing.stderr.read()
    listing.wait(timeout=60)
    assert b"error" not in stderr and b"Traceback" not in stderr
