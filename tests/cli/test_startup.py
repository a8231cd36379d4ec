"""The ``pond`` script keeps numpy and pandas out of its process (they cost start-up)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import child_env


def test_the_script_hides_numpy_and_pandas_and_still_reads_tables() -> None:
    code = (
        "import sys\n"
        "from duckpond.cli.lean import hide_numpy\n"
        "hide_numpy()\n"
        "import pyarrow as pa, datafusion\n"
        "t = datafusion.SessionContext().sql('SELECT 1.5 AS x').to_arrow_table()\n"
        "assert t.to_pylist() == [{'x': 1.5}]\n"
        "loaded = {m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'cloudpickle'}\n"
        "print(sorted(loaded))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_program_that_already_has_numpy_keeps_it() -> None:
    code = (
        "import numpy\n"
        "from duckpond.cli.lean import hide_numpy\n"
        "hide_numpy()\n"
        "import pandas\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_only_commands_that_compute_nothing_are_lean() -> None:
    from duckpond.cli.lean import LEAN_COMMANDS, command_of

    assert command_of(["--pond", "/p", "--json", "list", "-l"]) == "list"
    assert command_of(["--lock-timeout", "5", "cat", "/x"]) == "cat"
    assert command_of(["--help"]) is None
    assert "list" in LEAN_COMMANDS
    # A read can compute a dynamic node, whose factory may need numpy.
    assert not {"cat", "describe", "query", "copy", "run", "apply"} & LEAN_COMMANDS


def test_a_copy_in_is_lean_and_a_copy_out_is_not() -> None:
    from duckpond.cli.lean import is_lean

    assert is_lean(["copy", "--format", "series", "a.csv", "/a.series"])
    assert not is_lean(["copy", "/derived/*", "host:///tmp/out"])
    assert not is_lean(["cat", "/a.series"])
