"""The pipeline: ``pond apply``, an Inbox run, a SqlDerived read and its cache.

    .venv/bin/python bench/bench_pipeline.py [--quick] [--only apply,inbox,sql] [--rows N]

- apply (p.apply, p.reapply): ``pond apply -f`` of a file of 50 resources (10 Inbox,
  20 SqlDerived, 20 Synthetic) into a fresh pond, and the same file again (nothing
  changes); whole processes, target under 1 s each.
- inbox (p.inbox1, p.inbox2): ``pond run`` of an Inbox over 1,000 small CSV files
  stored as series (200 with --quick), first run and a second with nothing new
  (target: the second under 10% of the first); whole processes, and the same runs
  in process (p.inbox1i, p.inbox2i: ``pond.pipeline.run``, without the process start-up).
- sql (p.sql1, p.sql2): a SqlDerived hourly aggregate over a series of ``--rows`` rows
  (default 2M, 1M with --quick; the figures in docs/performance.md are for 10M), read
  with ``Pond.read_table`` in a fresh pond handle: first read with an empty cache
  (target within 1.3x of the same query run directly with DataFusion on the series'
  stored Parquet file) and a second read from the cache (target under 5% of the
  first).  The blob's hash is verified once per process (the warm-up round), as
  bench_verify.py measures separately.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from duckpond.pond import Pond
from harness import (
    POND_BIN,
    ChildRun,
    Figure,
    Figures,
    apply_samples,
    cpu_of,
    header,
    interleaved,
    make_series,
    median,
    parse_args,
    pond_env,
    run_child,
    selected,
    workdir,
    write_json,
)

COMMAND = ["bench", "pipeline"]
HOURLY = (
    "SELECT date_bin(INTERVAL '1 hour', timestamp) AS timestamp, avg(value) AS value_avg, "
    "max(other) AS other_max, count(*) AS n FROM {table} GROUP BY 1 ORDER BY 1"
)


def resources_yaml(work: Path) -> Path:
    """50 documents: 10 Inbox, 20 SqlDerived, 20 Synthetic."""
    docs = []
    for i in range(10):
        inbox = work / f"inbox-{i}"
        inbox.mkdir(exist_ok=True)
        docs.append(
            f"apiVersion: duckpond/v1\nkind: Inbox\nname: in-{i}\n"
            f"spec: {{pattern: '{inbox}/*.csv', format: series}}\n"
        )
    for i in range(20):
        docs.append(
            f"apiVersion: duckpond/v1\nkind: SqlDerived\nname: sql-{i}\n"
            f"spec:\n  inputs: {{s: '/inbox/in-{i % 10}/*.csv'}}\n"
            f"  query: SELECT timestamp, v * {i} AS v FROM s\n"
        )
    for i in range(20):
        docs.append(
            f"apiVersion: duckpond/v1\nkind: Synthetic\nname: syn-{i}\n"
            "spec:\n  start: 2025-01-01T00:00:00Z\n  end: 2025-02-01T00:00:00Z\n"
            f"  interval: 1m\n  points:\n    - name: x\n      components:\n"
            f"        - {{type: sine, amplitude: {i + 1}, period: 1d}}\n"
            f"        - {{type: noise, seed: {i}}}\n"
        )
    path = work / "fifty.yaml"
    path.write_text("---\n".join(docs))
    return path


def bench_apply(work: Path, repeat: int) -> list[Figure]:
    f = resources_yaml(work)
    samples = apply_samples(work, f, repeat, command=COMMAND)
    out = []
    for key, name, label in (
        ("p.apply", "first", "`pond apply` of 50 resources into a fresh pond (whole process)"),
        (
            "p.reapply",
            "again",
            "`pond apply` of the same 50 again, nothing changes (whole process)",
        ),
    ):
        value = median(samples[name])
        out.append(
            Figure(
                key,
                label,
                value,
                "s",
                target="< 1 s",
                met=value < 1.0,
                samples=samples[name],
                cpu=cpu_of(samples, name),
            )
        )
    return out


def bench_inbox(work: Path, files: int, repeat: int) -> list[Figure]:
    inbox = work / "inbox-many"
    inbox.mkdir()
    for i in range(files):
        rows = "".join(
            f"2025-01-{1 + i % 28:02d}T{h:02d}:{i % 60:02d}:00Z,{i + h * 0.5}\n" for h in range(24)
        )
        (inbox / f"logger-{i:04d}.csv").write_text("timestamp,v\n" + rows)
    spec = work / "inbox.yaml"
    spec.write_text(
        "apiVersion: duckpond/v1\nkind: Inbox\nname: many\n"
        f"spec: {{pattern: '{inbox}/*.csv', format: series, settle: 0s}}\n"
    )
    template = work / "pond-inbox-template"
    Pond.init(template, command=COMMAND).close()
    run_child([POND_BIN, "apply", "-f", str(spec)], env=pond_env(template))
    fresh = iter(range(10_000))

    def first() -> object:
        pond_dir = work / f"pond-inbox-{next(fresh)}"
        shutil.copytree(template, pond_dir)
        return run_child([POND_BIN, "run"], env=pond_env(pond_dir))

    again_dir = work / "pond-inbox-again"
    shutil.copytree(template, again_dir)
    run_child([POND_BIN, "run"], env=pond_env(again_dir))

    def again() -> object:
        return run_child([POND_BIN, "run"], env=pond_env(again_dir))

    samples = interleaved({"first": first, "again": again}, repeat, warmup=0)  # type: ignore[dict-item]
    one, two = median(samples["first"]), median(samples["again"])

    # The same in process (pond.pipeline.run), without the start-up every `pond` process pays.
    def first_in() -> ChildRun:
        pond_dir = work / f"pond-inbox-{next(fresh)}"
        shutil.copytree(template, pond_dir)
        handle = Pond.open(pond_dir)
        return timed_cpu(lambda: handle.pipeline.run())

    def again_in() -> ChildRun:
        handle = Pond.open(again_dir)
        return timed_cpu(lambda: handle.pipeline.run())

    inner = interleaved({"first": first_in, "again": again_in}, repeat)
    one_in, two_in = median(inner["first"]), median(inner["again"])
    return [
        Figure(
            "p.inbox1",
            f"`pond run`: Inbox imports {files} small CSV files as series (whole process)",
            one,
            "s",
            samples=samples["first"],
            cpu=cpu_of(samples, "first"),
        ),
        Figure(
            "p.inbox2",
            f"`pond run` again, nothing new among {files} files (whole process)",
            two,
            "s",
            baseline=one,
            baseline_label="the first run",
            target="< 10% of first",
            met=two < 0.1 * one,
            samples=samples["again"],
            cpu=cpu_of(samples, "again"),
        ),
        Figure(
            "p.inbox1i",
            f"`pond.pipeline.run`: the first run over {files} files, in process",
            one_in,
            "s",
            samples=inner["first"],
            cpu=cpu_of(inner, "first"),
        ),
        Figure(
            "p.inbox2i",
            "`pond.pipeline.run` again, nothing new, in process",
            two_in,
            "s",
            baseline=one_in,
            baseline_label="the first run, in process",
            target="< 10% of first",
            met=two_in < 0.1 * one_in,
            samples=inner["again"],
            cpu=cpu_of(inner, "again"),
            baseline_cpu=cpu_of(inner, "first"),
        ),
    ]


def timed_cpu(fn: Callable[[], object]) -> ChildRun:
    """Wall and CPU time (all threads of this process) of ``fn``, as a ``ChildRun``."""
    import time

    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return ChildRun(time.perf_counter() - wall, time.process_time() - cpu, 0.0, 0)


def bench_sql(work: Path, rows: int, repeat: int) -> list[Figure]:
    src = work / "series.parquet"
    make_series(src, rows)
    pond_dir = work / "pond-sql"
    pond = Pond.init(pond_dir, command=COMMAND)
    pond.copy_in([src], "/s.series", format="series")
    spec = work / "sql.yaml"
    query = HOURLY.format(table="s")
    spec.write_text(
        "apiVersion: duckpond/v1\nkind: SqlDerived\nname: hourly\n"
        f'spec:\n  inputs: {{s: /s.series}}\n  query: "{query}"\n'
    )
    pond.pipeline.apply([spec])
    # The baseline reads the series' own stored version (its blob), as the pond does.
    node = pond.root.get("/s.series")
    blob = pond.persistence.local_path(node.node_id, node.info().version)
    assert blob is not None
    link = work / "stored-version.parquet"  # DataFusion wants a .parquet name
    link.symlink_to(blob)
    pond.close()
    cache = pond_dir / "cache"
    expected: list[int] = []

    def first() -> ChildRun:
        shutil.rmtree(cache, ignore_errors=True)
        handle = Pond.open(pond_dir)
        run = timed_cpu(lambda: expected.append(handle.read_table("/sqlderived/hourly").num_rows))
        assert handle.cache.stats.stores == 1
        return run

    def second() -> ChildRun:
        handle = Pond.open(pond_dir)
        run = timed_cpu(lambda: expected.append(handle.read_table("/sqlderived/hourly").num_rows))
        assert handle.cache.stats.hits == 1
        return run

    def direct() -> ChildRun:
        from datafusion import SessionContext

        def run() -> None:
            ctx = SessionContext()
            ctx.register_parquet("s", str(link))
            expected.append(pa.Table.from_batches(ctx.sql(query).collect()).num_rows)

        return timed_cpu(run)

    samples = interleaved({"first": first, "second": second, "direct": direct}, repeat)
    assert len(set(expected)) == 1, "the three ways disagree on the rows"
    one, two, raw = median(samples["first"]), median(samples["second"]), median(samples["direct"])
    m = rows / 1e6
    return [
        Figure(
            "p.sql1",
            f"SqlDerived hourly aggregate of a {m:g}M-row series, first read (empty cache)",
            one,
            "s",
            baseline=raw,
            baseline_label="the same query, DataFusion on the Parquet file",
            target="<= 1.3x",
            met=one <= 1.3 * raw,
            samples=samples["first"],
            cpu=cpu_of(samples, "first"),
            baseline_cpu=cpu_of(samples, "direct"),
        ),
        Figure(
            "p.sql2",
            f"the same read again, from the cache ({m:g}M-row input)",
            two,
            "s",
            baseline=one,
            baseline_label="the first read",
            target="< 5% of first",
            met=two < 0.05 * one,
            samples=samples["second"],
            cpu=cpu_of(samples, "second"),
            baseline_cpu=cpu_of(samples, "first"),
        ),
    ]


def main() -> None:
    import argparse
    import sys

    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--rows", type=int, default=None)
    known, rest = extra.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = parse_args(__doc__ or "")
    header("pipeline" + (" (quick)" if args.quick else ""))
    repeat = 3 if args.quick else 7
    rows = known.rows or (1_000_000 if args.quick else 2_000_000)
    figures = Figures()
    with workdir("pipeline") as work:
        if selected(args, "apply"):
            figures.add(bench_apply(work, repeat))
        if selected(args, "inbox"):
            figures.add(bench_inbox(work, 200 if args.quick else 1000, 3 if args.quick else 5))
        if selected(args, "sql"):
            figures.add(bench_sql(work, rows, repeat))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
