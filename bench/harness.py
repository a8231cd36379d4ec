"""What every benchmark shares: timing, child processes, figures and their report.

The machine has two cores and other work may load it, so every figure is the
median of several runs, and the two sides of a comparison (DuckPond and the
raw library doing the same work) run interleaved, A B A B..., so a burst of
load hits both rather than one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PYTHON = sys.executable
POND_BIN = str(Path(sys.executable).with_name("pond"))

# Every measured process, DuckPond's and the raw scripts' alike, runs as if pandas were
# not installed: it is no dependency of DuckPond (the development environment has it for
# the tests), and where it is importable pyarrow and DataFusion import it on first use,
# adding some 0.25 s to every process.
SITECUSTOMIZE = """\
import sys


class _NoPandas:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoPandas())
"""
_SITE = tempfile.TemporaryDirectory(prefix="duckpond-bench-site-")
(Path(_SITE.name) / "sitecustomize.py").write_text(SITECUSTOMIZE)


@dataclass
class Figure:
    """One measured figure, optionally set against a raw-library baseline and a target."""

    key: str
    label: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)
    # Whole processes also report CPU time, which load from other processes disturbs less.
    cpu: float | None = None
    baseline_cpu: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


def versus(
    key: str,
    label: str,
    samples: dict[str, list[float]],
    name: str,
    base: str,
    base_label: str,
    *,
    target: str = "",
    met: Callable[[float, float], bool] | None = None,
) -> Figure:
    """The figure of ``samples[name]`` (seconds, median) against ``samples[base]``, with
    both sides' CPU time when they were whole processes; ``met(value, baseline)`` judges
    ``target``."""
    value, baseline = median(samples[name]), median(samples[base])
    return Figure(
        key,
        label,
        value,
        "s",
        baseline=baseline,
        baseline_label=base_label,
        target=target,
        met=None if met is None else met(value, baseline),
        samples=samples[name],
        cpu=cpu_of(samples, name),
        baseline_cpu=cpu_of(samples, base),
    )


def fmt_value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.3g} {unit}"


def print_figure(fig: Figure) -> None:
    line = f"{fig.key:<8} {fig.label:<58} {fmt_value(fig.value, fig.unit):>10}"
    if fig.baseline is not None:
        line += f"  vs {fmt_value(fig.baseline, fig.unit)} {fig.baseline_label}"
        if fig.ratio is not None:
            line += f" = {fig.ratio:.2f}x"
    if fig.cpu is not None:
        line += f"  cpu {fig.cpu * 1000:.0f} ms"
        if fig.baseline_cpu:
            line += f" vs {fig.baseline_cpu * 1000:.0f} ms = {fig.cpu / fig.baseline_cpu:.2f}x"
    if fig.target:
        verdict = {True: "MET", False: "MISSED", None: "-"}[fig.met]
        line += f"  [target {fig.target}: {verdict}]"
    if fig.note:
        line += f"  ({fig.note})"
    print(line, flush=True)


@dataclass
class ChildRun:
    """A whole process: wall time, CPU time (user + system, all threads) and peak RSS."""

    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    returncode: int


def median(samples: Sequence[float]) -> float:
    return float(statistics.median(samples))


def cpu_of(samples: dict[str, list[float]], name: str) -> float | None:
    """The median CPU time of a run that was a child process, if it was."""
    cpu = samples.get(f"{name}.cpu")
    return median(cpu) if cpu else None


def interleaved(
    runs: dict[str, Callable[[], float | ChildRun]], repeat: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Call each function in turn, ``repeat`` rounds; each returns the seconds it measured,
    or a child process run, whose CPU seconds are also kept, under ``NAME.cpu``."""
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            result = fn()
            if isinstance(result, ChildRun):
                samples[name].append(result.seconds)
                samples.setdefault(f"{name}.cpu", []).append(result.cpu_seconds)
            else:
                samples[name].append(result)
    return samples


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# Measures one process from a small parent.  Linux keeps a process's RSS high-water
# mark across exec, and a child forked (or vforked) from this benchmark would report
# the benchmark's own size; one spawned from this launcher reports its own.
LAUNCHER = """\
import json, os, sys, time
out, *argv = sys.argv[1:]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(out, "w") as f:
    json.dump([seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss], f)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdout: Any = subprocess.DEVNULL,
    check: bool = True,
) -> ChildRun:
    """Run a whole process: its wall time, CPU time and own RSS high-water mark."""
    with tempfile.NamedTemporaryFile(prefix="duckpond-bench-", suffix=".json") as result:
        proc = subprocess.run(
            [PYTHON, "-S", "-c", LAUNCHER, result.name, *argv],
            env=env if env is not None else child_env(),
            stdout=stdout,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if check and proc.returncode != 0:
            message = proc.stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {message}")
        seconds, cpu, max_rss_kb = json.loads(Path(result.name).read_text())
    return ChildRun(seconds, cpu, max_rss_kb / 1024, proc.returncode)


def child_env(*, pandas: bool = False, **extra: str) -> dict[str, str]:
    """The environment of every measured process: as on a user's machine, bytecode caching
    on and (unless ``pandas``) no pandas to import.

    Sandboxes and CI often set PYTHONDONTWRITEBYTECODE, which makes every process
    compile DuckPond's sources again (some 30-60 ms a command); ``prepare`` compiles
    them once instead.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if not pandas:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SITE.name, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def pond_env(pond_dir: Path) -> dict[str, str]:
    return child_env(POND=str(pond_dir))


def prepare() -> None:
    """Compile DuckPond's modules to bytecode once, as an installed package would have them."""
    import compileall

    import duckpond

    compileall.compile_dir(str(Path(duckpond.__file__).parent), quiet=1)


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=f"duckpond-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for name in ("duckpond", "deltalake", "pyarrow", "datafusion", "click"):
        out[name] = version(name)
    return out


def machine() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "platform": platform.platform(),
        "load_at_start": f"{load[0]:.2f}",
    }


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--only", metavar="KEYS", help="comma-separated benchmark names to run")
    return parser.parse_args()


def selected(args: argparse.Namespace, name: str) -> bool:
    return args.only is None or name in args.only.split(",")


def write_json(path: str | None, figures: Sequence[Figure]) -> None:
    if path is None:
        return
    Path(path).write_text(json.dumps([asdict(f) for f in figures], indent=1))


def header(title: str) -> None:
    prepare()
    info = {**machine(), **versions()}
    print(f"== {title}", flush=True)
    print("   " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)


class Figures(list[Figure]):
    """The figures of one suite: each printed as it is added."""

    def add(self, new: Sequence[Figure]) -> None:
        for fig in new:
            print_figure(fig)
        self.extend(new)


# -- set-ups more than one benchmark makes ---------------------------------------------


def make_series(path: Path, rows: int, **write_options: Any) -> None:
    """A Parquet series of ``rows`` one-second readings (``timestamp``, ``value``,
    ``other``) from 2023-11-14 UTC: random-ish floats that do not compress away, so the
    file is as big as its data.  ``write_options`` go to ``pq.write_table`` (default:
    row groups of 1M rows)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    table = pa.table(
        {
            "timestamp": pa.array(
                1_700_000_000_000_000 + np.arange(rows, dtype=np.int64) * 1_000_000,
                pa.timestamp("us", tz="UTC"),
            ),
            "value": rng.normal(10, 2, rows),
            "other": rng.normal(0, 1, rows),
        }
    )
    pq.write_table(table, path, **{"row_group_size": 1024 * 1024, **write_options})


def apply_samples(
    work: Path, resources: Path, repeat: int, *, command: list[str], warmup: int = 1
) -> dict[str, list[float]]:
    """``pond apply -f resources`` as whole processes, interleaved: ``first`` into a fresh
    pond each time, ``again`` into one pond that already holds them (nothing changes)."""
    from duckpond import Pond

    apply = [POND_BIN, "apply", "-f", str(resources)]
    fresh = iter(range(10_000))

    def first() -> ChildRun:
        pond_dir = work / f"pond-apply-{next(fresh)}"
        Pond.init(pond_dir, command=command).close()
        return run_child(apply, env=pond_env(pond_dir))

    again_dir = work / "pond-reapply"
    Pond.init(again_dir, command=command).close()
    run_child(apply, env=pond_env(again_dir))

    def again() -> ChildRun:
        return run_child(apply, env=pond_env(again_dir))

    return interleaved({"first": first, "again": again}, repeat, warmup=warmup)


REDUCE_AND_SITE = """\
apiVersion: duckpond/v1
kind: Reduce
name: down
spec:
  in_pattern: "/data/*.series"
  resolutions: [1h, 6h, 1d]
  aggregations: [{{type: avg}}, {{type: min}}, {{type: max}}]
---
apiVersion: duckpond/v1
kind: Site
name: web
spec:
  title: {title}
  charts:
    - {{pattern: "/reduce/down/*", title: {charts}}}
  out: "{out}"
"""
"""Resources over ``/data/*.series``: a Reduce to three resolutions and a Site charting
it (``str.format`` with ``title``, ``charts`` (the charts' title) and ``out``)."""
