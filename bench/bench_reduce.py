"""Reduce benchmarks: downsampling against DataFusion, memory, and incremental updates.

    .venv/bin/python bench/bench_reduce.py [--quick | --full | --rows N] [--only reduce,incremental]

- reduce: N rows x 10 float columns (one reading every 10 s) reduced to 5 resolutions
  (1h, 6h, 1d, 7d, 28d) with avg/min/max, ``reduce_full`` streaming the Parquet file's
  batches, against one DataFusion query per resolution over the same Parquet file (target
  within 1.5x), each a whole process; and the peak RSS of ours (target < 500 MB).
- incremental: after appending 1% new rows, ``reduce_update`` (reading back only the
  touched buckets' rows) against ``reduce_full`` over everything (target at most 0.1x).
- join: in a pond, a ``Reduce`` (1h, 6h, 1d; avg/min/max) over a ``Join`` of 3 series of
  1M rows x 10 columns each (10 versions of 100k rows), read with ``pond cat res=1h.series --sql 'SELECT count(*)
  FROM source'`` as a whole process: the first read (``$POND/cache`` deleted before each)
  and a cached read; then, after 1% new rows appended to one series, the incremental read.
- versions: ``pond cat --sql 'SELECT count(*) FROM source'`` of a series of 101 small
  versions as a whole process (the upstream Rust pond reported 34 s; target under 1 s).

The issue's size is 10M rows (``--full``); the default is 2M so that ``make bench`` stays
short, ``--quick`` 500k.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from duckpond.pipeline.timeseries import Change, ReduceConfig, outputs, reduce_full, reduce_update
from harness import (
    POND_BIN,
    PYTHON,
    Figure,
    Figures,
    cpu_of,
    header,
    interleaved,
    median,
    pond_env,
    prepare,
    run_child,
    timed,
    workdir,
    write_json,
)

T0_US = 1_704_067_200_000_000  # 2024-01-01T00:00Z
STEP_US = 10_000_000
COLUMNS = [f"c{i}" for i in range(10)]
RESOLUTIONS = ["1h", "6h", "1d", "7d", "28d"]
AGGREGATIONS = ["avg", "min", "max"]
BATCH_ROWS = 256 * 1024

OURS = """\
import sys

import pyarrow.parquet as pq

from duckpond.pipeline.timeseries import ReduceConfig, outputs, reduce_full

config = ReduceConfig.parse(sys.argv[2].split(","), sys.argv[3].split(","))
# Without pre-buffering the reader holds one batch's pages, not the file's row groups.
source = pq.ParquetFile(sys.argv[1], pre_buffer=False, buffer_size=1 << 20)
batches = source.iter_batches(batch_size=int(sys.argv[4]))
print(sum(t.num_rows for t in outputs(reduce_full(config, batches)).values()))
"""

# What a user of the raw library runs: one query per resolution.
RAW = """\
import sys

from datafusion import SessionContext

ctx = SessionContext()
ctx.register_parquet("source", sys.argv[1])
columns = sys.argv[4].split(",")
rows = 0
for seconds in sys.argv[2].split(","):
    aggs = ", ".join(f"{a}({c}) AS \\"{c}.{a}\\"" for c in columns for a in sys.argv[3].split(","))
    query = (
        f"SELECT date_bin(INTERVAL '{seconds} seconds', timestamp, "
        f"TIMESTAMP '1970-01-01T00:00:00Z') AS timestamp, {aggs} FROM source GROUP BY 1 ORDER BY 1"
    )
    rows += sum(b.num_rows for b in ctx.sql(query).collect())
print(rows)
"""


def make_table(start_row: int, rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    times = T0_US + (start_row + np.arange(rows, dtype=np.int64)) * STEP_US
    data: dict[str, pa.Array] = {"timestamp": pa.array(times).cast(pa.timestamp("us", tz="UTC"))}
    for column in COLUMNS:
        data[column] = pa.array(rng.normal(10, 3, rows))
    return pa.table(data)


def write_series(path: Path, rows: int, seed: int, start_row: int = 0) -> None:
    """Parquet with row groups of 1M rows, written in pieces to keep this process small."""
    chunk = 1_000_000
    first = make_table(start_row, min(chunk, rows), seed)
    with pq.ParquetWriter(path, first.schema) as writer:
        writer.write_table(first, row_group_size=chunk)
        for offset in range(chunk, rows, chunk):
            piece = make_table(start_row + offset, min(chunk, rows - offset), seed + offset)
            writer.write_table(piece, row_group_size=chunk)


def stream(path: Path) -> Iterator[pa.RecordBatch]:
    """A Parquet file's batches, read without pre-buffering (see OURS)."""
    source = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    yield from source.iter_batches(batch_size=BATCH_ROWS)


def bench_reduce(tmp: Path, rows: int, repeat: int) -> list[Figure]:
    path = tmp / "series.parquet"
    write_series(path, rows, seed=1)
    seconds = ",".join(str(ReduceConfig.parse([r]).finest.micros // 1_000_000) for r in RESOLUTIONS)
    ours_argv = [
        PYTHON,
        "-c",
        OURS,
        str(path),
        ",".join(RESOLUTIONS),
        ",".join(AGGREGATIONS),
        str(BATCH_ROWS),
    ]
    raw_argv = [PYTHON, "-c", RAW, str(path), seconds, ",".join(AGGREGATIONS), ",".join(COLUMNS)]
    rss: dict[str, list[float]] = {"ours": [], "raw": []}

    def ours() -> object:
        run = run_child(ours_argv)
        rss["ours"].append(run.max_rss_mb)
        return run

    def raw() -> object:
        run = run_child(raw_argv)
        rss["raw"].append(run.max_rss_mb)
        return run

    samples = interleaved({"ours": ours, "raw": raw}, repeat=repeat, warmup=0)  # type: ignore[dict-item]
    value, baseline = median(samples["ours"]), median(samples["raw"])
    size = f"{rows / 1e6:g}M rows x 10 columns"
    peak = max(rss["ours"])
    return [
        Figure(
            "reduce",
            f"{size} to 5 resolutions, avg/min/max (process)",
            value,
            "s",
            baseline=baseline,
            baseline_label="DataFusion, one query per resolution",
            target="within 1.5x",
            met=value <= 1.5 * baseline,
            samples=samples["ours"],
            cpu=cpu_of(samples, "ours"),
            baseline_cpu=cpu_of(samples, "raw"),
        ),
        Figure(
            "reduce-mem",
            f"peak RSS of that process ({size})",
            peak,
            "MB",
            baseline=max(rss["raw"]),
            baseline_label="DataFusion's",
            target="< 500 MB",
            met=peak < 500,
        ),
    ]


def bench_incremental(tmp: Path, rows: int, repeat: int) -> list[Figure]:
    base_path, new_path = tmp / "base.parquet", tmp / "new.parquet"
    new_rows = rows // 100
    write_series(base_path, rows - new_rows, seed=2)
    write_series(new_path, new_rows, seed=3, start_row=rows - new_rows)
    config = ReduceConfig.parse(RESOLUTIONS, AGGREGATIONS)
    previous = reduce_full(config, stream(base_path))
    new_times = pq.read_table(new_path, columns=["timestamp"]).column("timestamp")
    bounds = new_times.cast(pa.int64())
    change = Change(int(bounds[0].as_py()), int(bounds[-1].as_py()), new_times)

    def read(start: int, end: int) -> list[pa.Table]:
        # As the pond reads a series: each version whose range overlaps, filtered by time.
        ts = pa.timestamp("us", tz="UTC")
        where = [("timestamp", ">=", pa.scalar(start, ts)), ("timestamp", "<", pa.scalar(end, ts))]
        return [pq.read_table(p, filters=where) for p in (base_path, new_path)]

    def full() -> None:
        outputs(reduce_full(config, chain(stream(base_path), stream(new_path))))

    def update() -> None:
        outputs(reduce_update(previous, [change], read).partials)

    samples = interleaved({"update": lambda: timed(update), "full": lambda: timed(full)}, repeat)
    value, baseline = median(samples["update"]), median(samples["full"])
    return [
        Figure(
            "reduce-inc",
            f"incremental update after appending 1% ({new_rows:,} rows)",
            value,
            "s",
            baseline=baseline,
            baseline_label="full recomputation",
            target="at most 0.1x",
            met=value <= 0.1 * baseline,
            samples=samples["update"],
        )
    ]


JOIN_PIPELINE = """\
apiVersion: duckpond/v1
kind: Join
name: three
spec:
  inputs:
    - {pattern: /raw/s0.series, scope: A}
    - {pattern: /raw/s1.series, scope: B}
    - {pattern: /raw/s2.series, scope: C}
---
apiVersion: duckpond/v1
kind: Reduce
name: down
spec:
  in_pattern: /join/three
  resolutions: [1h, 6h, 1d]
  aggregations: [{type: avg}, {type: min}, {type: max}]
"""
COUNT = "SELECT count(*) FROM source"


def bench_join(tmp: Path, rows: int, repeat: int) -> list[Figure]:
    """A Reduce over a Join of 3 series, read as a whole process: first and cached."""
    import shutil

    from duckpond import Pond

    pond_dir = tmp / "join-pond"
    with Pond.init(pond_dir) as pond:
        pond.mkdir("/raw")
        for index in range(3):
            # Each series a few seconds off the others: the outer join has 3x the rows.
            table = make_table(0, rows, seed=10 + index)
            times = table.column("timestamp").cast(pa.int64()).to_numpy() + index * 3_000_000
            table = table.set_column(0, "timestamp", pa.array(times).cast(table.schema[0].type))
            # In 10 versions, as a collector appends them (HydroVu: one per run).
            for offset in range(0, rows, rows // 10):
                pond.write_series(f"/raw/s{index}.series", table.slice(offset, rows // 10))
        doc = tmp / "join.yaml"
        doc.write_text(JOIN_PIPELINE)
        pond.pipeline.apply([doc])
    argv = [POND_BIN, "cat", "/reduce/down/res=1h.series", "--sql", COUNT]
    env = pond_env(pond_dir)
    first: list[float] = []
    cached: list[float] = []
    cpu: dict[str, list[float]] = {"first": [], "cached": []}
    rss: list[float] = []
    for _ in range(repeat):
        shutil.rmtree(pond_dir / "cache", ignore_errors=True)
        run = run_child(argv, env=env)
        first.append(run.seconds)
        cpu["first"].append(run.cpu_seconds)
        rss.append(run.max_rss_mb)
        again = run_child(argv, env=env)
        cached.append(again.seconds)
        cpu["cached"].append(again.cpu_seconds)
    # New readings: each round appends 1% of a series to one of them, then reads.
    incremental: list[float] = []
    inc_cpu: list[float] = []
    step = rows // 100
    for round_ in range(repeat):
        with Pond.open(pond_dir) as pond:
            start = rows + round_ * step
            pond.write_series("/raw/s0.series", make_table(start, step, seed=20 + round_))
        run = run_child(argv, env=env)
        incremental.append(run.seconds)
        inc_cpu.append(run.cpu_seconds)
    size = f"3 series x {rows / 1e6:g}M rows x 10 columns"
    return [
        Figure(
            "join-reduce-first",
            f"Reduce (1h, 6h, 1d) over a Join of {size}: first read (process)",
            median(first),
            "s",
            note=f"peak RSS {max(rss):.0f} MB",
            samples=first,
            cpu=median(cpu["first"]),
        ),
        Figure(
            "join-reduce-cached",
            "the same output read again: cached (process)",
            median(cached),
            "s",
            samples=cached,
            cpu=median(cpu["cached"]),
        ),
        Figure(
            "join-reduce-inc",
            f"read after 1% ({step:,} rows) appended to one series: incremental (process)",
            median(incremental),
            "s",
            baseline=median(first),
            baseline_label="first read",
            samples=incremental,
            cpu=median(inc_cpu),
        ),
    ]


def bench_versions(tmp: Path, repeat: int, versions: int = 101) -> list[Figure]:
    """``count(*)`` over a series of many small versions, as a whole process."""
    from duckpond import Pond

    pond_dir = tmp / "versions-pond"
    with Pond.init(pond_dir) as pond:
        for index in range(versions):
            pond.write_series("/s.series", make_table(index * 10, 10, seed=index))
    argv = [POND_BIN, "cat", "/s.series", "--sql", COUNT]
    env = pond_env(pond_dir)
    runs = [run_child(argv, env=env) for _ in range(repeat + 2)]
    samples = [run.seconds for run in runs]
    value = median(samples)
    return [
        Figure(
            "versions-count",
            f"count(*) over a series of {versions} small versions (process)",
            value,
            "s",
            baseline=34.0,
            baseline_label="upstream Rust pond, as reported",
            target="under 1 s",
            met=value < 1.0,
            samples=samples,
            cpu=median([run.cpu_seconds for run in runs]),
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="500k rows, fewer repeats")
    size.add_argument("--full", action="store_true", help="the issue's 10M rows")
    size.add_argument("--rows", type=int, help="rows of the series")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--only", metavar="KEYS", help="reduce,incremental,join,versions")
    args = parser.parse_args()
    rows = args.rows or (500_000 if args.quick else 10_000_000 if args.full else 2_000_000)
    repeat = 2 if args.quick or args.full else 3
    header(f"Reduce benchmarks ({rows:,} rows)")
    figures = Figures()
    with workdir("reduce") as tmp:
        if args.only is None or "reduce" in args.only.split(","):
            figures.add(bench_reduce(tmp, rows, repeat))
        if args.only is None or "incremental" in args.only.split(","):
            figures.add(bench_incremental(tmp, rows, repeat))
        if args.only is None or "join" in args.only.split(","):
            prepare()
            figures.add(bench_join(tmp, 200_000 if args.quick else 1_000_000, repeat))
        if args.only is None or "versions" in args.only.split(","):
            prepare()
            figures.add(bench_versions(tmp, repeat))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
