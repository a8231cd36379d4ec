"""Run every DuckPond benchmark and print each figure against its target (``make bench``).

    .venv/bin/python bench/run_all.py [--quick] [--json FILE] [--markdown FILE]

Each suite runs in its own process (bench_startup.py, bench_oplog.py, bench_series.py,
bench_csv_format.py, bench_verify.py, bench_hydrovu.py, bench_site.py, bench_pipeline.py,
bench_reduce.py, bench_graph.py, bench_beyond.py, bench_maintain.py, bench_mirror.py,
bench_backup.py: a few minutes, against a real S3 server it starts), in
temporary directories it removes afterwards.  ``--quick`` uses smaller data and fewer
repeats; its figures are for a quick look, the full run's are the ones docs/performance.md
records.  Missed targets are reported, not failed: the exit status is non-zero only when a
benchmark itself breaks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Figure, fmt_value, header, machine, print_figure, versions

HERE = Path(__file__).resolve().parent
SUITES = (
    "bench_startup.py",
    "bench_oplog.py",
    "bench_series.py",
    "bench_csv_format.py",
    "bench_verify.py",
    "bench_hydrovu.py",
    "bench_site.py",
    "bench_pipeline.py",
    "bench_reduce.py",
    "bench_graph.py",
    "bench_beyond.py",
    "bench_maintain.py",
    "bench_mirror.py",
    "bench_backup.py",
)


def wait_for_quiet(limit: float, threshold: float = 1.0) -> None:
    """Wait (up to ``limit`` seconds) for other work on this machine to settle."""
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] > threshold and time.monotonic() < deadline:
        time.sleep(5)


def markdown(figures: list[Figure]) -> str:
    lines = [
        "| key | what | DuckPond | raw library | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        base = f"{fmt_value(f.baseline, f.unit)} ({f.baseline_label})" if f.baseline else ""
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        value = fmt_value(f.value, f.unit) + (f" ({f.note})" if f.note else "")
        lines.append(f"| {f.key} | {f.label} | {value} | {base} | {ratio} | {f.target} | {met} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="write the summary as a table")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the load average to fall below 1",
    )
    args = parser.parse_args()
    if args.wait_quiet:
        wait_for_quiet(args.wait_quiet)
    header("DuckPond benchmarks" + (" (quick)" if args.quick else ""))
    started = time.monotonic()
    figures: list[Figure] = []
    broken: list[str] = []
    with tempfile.TemporaryDirectory(prefix="duckpond-bench-") as tmp:
        for suite in SUITES:
            out = Path(tmp) / f"{suite}.json"
            argv = [sys.executable, str(HERE / suite), "--json", str(out)]
            if args.quick:
                argv.append("--quick")
            print(flush=True)
            if subprocess.run(argv, check=False).returncode != 0 or not out.exists():
                broken.append(suite)
                continue
            figures += [Figure(**f) for f in json.loads(out.read_text())]
    elapsed = time.monotonic() - started
    print(f"\n== summary ({elapsed / 60:.1f} min)", flush=True)
    for fig in figures:
        if fig.target:
            print_figure(fig)
    judged = [f for f in figures if f.met is not None]
    met = sum(1 for f in judged if f.met)
    print(f"{met} of {len(judged)} targets met", flush=True)
    if broken:
        print(f"broken: {', '.join(broken)}", flush=True)
    if args.json:
        from dataclasses import asdict

        record = {
            "machine": machine(),
            "versions": versions(),
            "quick": args.quick,
            "figures": [asdict(f) for f in figures],
        }
        Path(args.json).write_text(json.dumps(record, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(markdown(figures))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
