"""Start-up as users have it: numpy and pandas installed, whole processes.

    .venv/bin/python bench/bench_startup.py [--quick]

Most users have numpy and pandas installed, and then ``import pyarrow`` alone imports
numpy too.  Unlike the other suites, every process here runs with pandas importable
(``child_env(pandas=True)``), and the figures stand next to a bare
``python -c "import pyarrow"`` measured in the same interleaved rounds:

- s.help: ``pond --help`` (target <= 0.15 s).
- s.list: ``pond list`` on a pond of 100 files (target <= 0.35 s).
- s.pyarrow: ``python -c "import pyarrow"``, the yardstick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from duckpond.pond import Pond
from harness import (
    POND_BIN,
    PYTHON,
    Figure,
    Figures,
    child_env,
    cpu_of,
    header,
    interleaved,
    median,
    parse_args,
    run_child,
    selected,
    workdir,
    write_json,
)

COMMAND = ["bench_startup"]
HELP_TARGET = 0.15
LIST_TARGET = 0.35


def small_pond(work: Path, files: int) -> Path:
    """A pond of ``files`` small files in one directory, written in one transaction."""
    pond_dir = work / "pond-startup"
    pond = Pond.init(pond_dir, command=COMMAND)
    with pond.transaction(COMMAND) as root:
        root.mkdir("/raw")
        for i in range(files):
            root.write_file(f"/raw/reading-{i:03d}.csv", b"t,v\n%d,1\n" % i)
    pond.close()
    return pond_dir


def bench_startup(work: Path, files: int, repeat: int) -> list[Figure]:
    pond_dir = small_pond(work, files)
    env = child_env(pandas=True)
    pond_env = child_env(pandas=True, POND=str(pond_dir))
    samples = interleaved(
        {
            "pyarrow": lambda: run_child([PYTHON, "-c", "import pyarrow"], env=env),
            "help": lambda: run_child([POND_BIN, "--help"], env=env),
            "list": lambda: run_child([POND_BIN, "list"], env=pond_env),
        },
        repeat,
    )
    pyarrow = median(samples["pyarrow"])
    help_s, list_s = median(samples["help"]), median(samples["list"])
    common: dict[str, Any] = {"baseline": pyarrow, "baseline_label": "python -c 'import pyarrow'"}
    return [
        Figure(
            "s.pyarrow",
            "python -c 'import pyarrow' (numpy, pandas installed)",
            pyarrow,
            "s",
            samples=samples["pyarrow"],
            cpu=cpu_of(samples, "pyarrow"),
        ),
        Figure(
            "s.help",
            "pond --help (numpy, pandas installed)",
            help_s,
            "s",
            target=f"<= {HELP_TARGET} s",
            met=help_s <= HELP_TARGET,
            samples=samples["help"],
            cpu=cpu_of(samples, "help"),
            baseline_cpu=cpu_of(samples, "pyarrow"),
            **common,
        ),
        Figure(
            "s.list",
            f"pond list on a {files}-file pond (numpy, pandas installed)",
            list_s,
            "s",
            target=f"<= {LIST_TARGET} s",
            met=list_s <= LIST_TARGET,
            samples=samples["list"],
            cpu=cpu_of(samples, "list"),
            baseline_cpu=cpu_of(samples, "pyarrow"),
            **common,
        ),
    ]


def main() -> None:
    args = parse_args(__doc__ or "")
    header("start-up" + (" (quick)" if args.quick else ""))
    figures = Figures()
    with workdir("startup") as work:
        if selected(args, "startup"):
            figures.add(bench_startup(work, files=100, repeat=11 if args.quick else 21))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
