"""Tables, series and SQL benchmarks, against pyarrow and DataFusion used directly.

    .venv/bin/python bench/bench_series.py [--quick] [--only csv,agg,range,memory]

- csv (e): a 1M-row CSV imported as a series (``pond copy --format series`` and
  ``Pond.copy_in``) against pyarrow ``read_csv`` + ``write_table`` (target within 1.5x).
- agg (f): hourly avg/min/max over a 10M-row series of 100 versions through
  ``pond cat --sql`` and ``Pond.sql`` against DataFusion over the same Parquet
  version files (target within 1.3x).
- range (g): the same query limited to 1% of the series (one version's span)
  against the full scan (target >= 10x faster).
- memory (h): peak RSS of ``pond cat --format csv`` of the whole series to
  /dev/null (target < 500 MB).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from duckpond.ingest.store import store_tabular
from duckpond.pond import Pond
from duckpond.query import engine
from duckpond.tinyfs import FILE_SERIES
from harness import (
    POND_BIN,
    PYTHON,
    ChildRun,
    Figure,
    Figures,
    cpu_of,
    header,
    interleaved,
    median,
    parse_args,
    pond_env,
    run_child,
    selected,
    timed,
    workdir,
    write_json,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T0_US = int(T0.timestamp()) * 1_000_000
SERIES = "/data/site.series"
COMMAND = ["bench"]

HOURLY = (
    "SELECT date_bin(INTERVAL '1 hour', timestamp) AS hour, avg(temperature) AS avg_t, "
    "min(temperature) AS min_t, max(temperature) AS max_t FROM {table} GROUP BY 1 ORDER BY 1"
)

# DataFusion over the series' version files directly: what a user of the raw library runs.
RAW_QUERY = """\
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
from datafusion import SessionContext

ctx = SessionContext()
ctx.register_parquet("source", sys.argv[1])
frame = ctx.sql(sys.argv[2])
pcsv.write_csv(pa.Table.from_batches(frame.collect(), schema=frame.schema()), sys.stdout.buffer)
"""

RAW_CSV_IMPORT = """\
import sys

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

pq.write_table(pcsv.read_csv(sys.argv[1]), sys.argv[2], compression="zstd")
"""

# Every row of every version file as CSV, a batch at a time, as pyarrow alone would.
RAW_CSV_EXPORT = """\
import sys
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

files = sorted(Path(sys.argv[1]).iterdir())
writer = None
for path in files:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
        if writer is None:
            writer = pcsv.CSVWriter(sys.stdout.buffer, batch.schema)
        writer.write_batch(batch)
writer.close()
"""


def readings(first_row: int, rows: int, step_s: int, seed: int) -> pa.Table:
    """HydroVu-shaped readings: a UTC timestamp every ``step_s`` seconds and three sensors."""
    rng = np.random.default_rng(seed)
    index = np.arange(first_row, first_row + rows, dtype=np.int64)
    seconds = index * step_s
    day = 2 * np.pi * seconds / 86_400
    return pa.table(
        {
            "timestamp": pa.array(T0_US + seconds * 1_000_000, pa.timestamp("us", tz="UTC")),
            "temperature": np.round(12 + 4 * np.sin(day) + rng.normal(0, 0.3, rows), 3),
            "conductivity": np.round(rng.normal(480, 15, rows), 1),
            "depth": np.round(2 + 0.1 * np.cos(day / 12.4) + rng.normal(0, 0.01, rows), 4),
        }
    )


def write_csv(path: Path, rows: int) -> None:
    """A logger-style CSV: ISO 8601 timestamps with Z, rounded floats."""
    chunk = 250_000
    with pcsv.CSVWriter(
        path,
        readings(0, 1, 60, 0).schema.remove(0).insert(0, pa.field("timestamp", pa.string())),
        write_options=pcsv.WriteOptions(quoting_style="none"),
    ) as writer:
        for first in range(0, rows, chunk):
            table = readings(first, min(chunk, rows - first), 60, first)
            text = pc.strftime(table.column("timestamp"), "%Y-%m-%dT%H:%M:%SZ")
            writer.write_table(table.set_column(0, "timestamp", text))


def bench_csv(work: Path, rows: int, repeat: int) -> list[Figure]:
    src = work / "readings.csv"
    write_csv(src, rows)
    size_mb = src.stat().st_size / 1e6
    pond_dir = work / "pond-csv"
    pond = Pond.init(pond_dir, command=COMMAND)
    pond.mkdir("/import")
    script = work / "raw_csv_import.py"
    script.write_text(RAW_CSV_IMPORT)
    out = work / "raw.parquet"
    n = {"api": 0, "cli": 0}

    def pond_api() -> float:
        n["api"] += 1
        dest = f"/import/api-{n['api']:02d}.series"
        return timed(lambda: pond.copy_in([src], dest, format="series"))

    def raw_api() -> float:
        def go() -> None:
            pq.write_table(pcsv.read_csv(src), out, compression="zstd")

        return timed(go)

    def pond_cli() -> ChildRun:
        n["cli"] += 1
        argv = [
            POND_BIN,
            "copy",
            "--format",
            "series",
            str(src),
            f"/import/cli-{n['cli']:02d}.series",
        ]
        return run_child(argv, env=pond_env(pond_dir))

    def raw_cli() -> ChildRun:
        return run_child([PYTHON, str(script), str(src), str(out)])

    samples = interleaved(
        {"pond": pond_api, "raw": raw_api, "pond_cli": pond_cli, "raw_cli": raw_cli}, repeat
    )
    pond.close()
    figures = []
    for key, pond_key, raw_key, label in (
        ("e.api", "pond", "raw", "Pond.copy_in"),
        ("e.cli", "pond_cli", "raw_cli", "pond copy --format series (whole process)"),
    ):
        value, base = median(samples[pond_key]), median(samples[raw_key])
        figures.append(
            Figure(
                key,
                f"{rows:,}-row CSV ({size_mb:.0f} MB) as a series: {label}",
                value,
                "s",
                baseline=base,
                baseline_label="pyarrow read_csv + write_table(zstd)",
                target="<= 1.5x",
                met=value <= 1.5 * base,
                samples=samples[pond_key],
                cpu=cpu_of(samples, pond_key),
                baseline_cpu=cpu_of(samples, raw_key),
            )
        )
    return figures


class SeriesPond:
    """A pond holding one series of ``versions`` versions, and a directory of its files."""

    def __init__(self, work: Path, versions: int, rows: int, step_s: int) -> None:
        self.rows = rows
        self.versions = versions
        self.step_s = step_s
        self.pond_dir = work / "pond-series"
        self.pond = Pond.init(self.pond_dir, command=COMMAND)
        self.pond.mkdir("/data")
        per_txn = 10
        for first in range(0, versions, per_txn):
            with self.pond.transaction(COMMAND) as tx:
                for v in range(first, min(first + per_txn, versions)):
                    store_tabular(
                        tx.root, SERIES, readings(v * rows, rows, step_s, v), FILE_SERIES, None
                    )
        # The raw side reads the very same files, linked under names DataFusion expects.
        self.raw_dir = work / "raw-series"
        self.raw_dir.mkdir()
        np_ = self.pond.root.get(SERIES)
        for info in np_.node.versions():
            blob = self.pond.persistence.local_path(np_.node_id, info.version)
            assert blob is not None, "a version under 64 KiB is inline, not a file"
            (self.raw_dir / f"v{info.version:04d}.parquet").symlink_to(blob)
        self.total_rows = versions * rows

    def span(self, version: int) -> tuple[datetime, datetime]:
        """The event-time range [start, end) of one version (0-based)."""
        first = timedelta(seconds=version * self.rows * self.step_s)
        width = timedelta(seconds=self.rows * self.step_s)
        return T0 + first, T0 + first + width


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def bench_agg(s: SeriesPond, repeat: int) -> list[Figure]:
    script = s.raw_dir.parent / "raw_query.py"
    script.write_text(RAW_QUERY)
    pond_sql = HOURLY.format(table="source")
    api_sql = HOURLY.format(table=f'"{SERIES}"')
    from datafusion import SessionContext

    def raw_api() -> float:
        def go() -> None:
            ctx = SessionContext()
            ctx.register_parquet("source", str(s.raw_dir))
            ctx.sql(pond_sql).collect()

        return timed(go)

    def pond_api() -> float:
        return timed(lambda: s.pond.sql(api_sql))

    def pond_cli() -> ChildRun:
        argv = [POND_BIN, "cat", SERIES, "--sql", pond_sql, "--format", "csv"]
        return run_child(argv, env=pond_env(s.pond_dir))

    def raw_cli() -> ChildRun:
        return run_child([PYTHON, str(script), str(s.raw_dir), pond_sql])

    samples = interleaved(
        {"pond": pond_api, "raw": raw_api, "pond_cli": pond_cli, "raw_cli": raw_cli}, repeat
    )
    rows = f"{s.total_rows / 1e6:g}M-row series of {s.versions} versions"
    figures = []
    for key, pond_key, raw_key, label in (
        ("f.api", "pond", "raw", f"hourly avg/min/max, {rows}: Pond.sql"),
        ("f.cli", "pond_cli", "raw_cli", f"hourly avg/min/max, {rows}: pond cat --sql"),
    ):
        value, base = median(samples[pond_key]), median(samples[raw_key])
        figures.append(
            Figure(
                key,
                label,
                value,
                "s",
                baseline=base,
                baseline_label="DataFusion register_parquet on the version files",
                target="<= 1.3x",
                met=value <= 1.3 * base,
                samples=samples[pond_key],
                cpu=cpu_of(samples, pond_key),
                baseline_cpu=cpu_of(samples, raw_key),
            )
        )
    return figures


def bench_range(s: SeriesPond, repeat: int) -> list[Figure]:
    start, end = s.span(s.versions // 2)
    sql = HOURLY.format(table="source")
    from datafusion import SessionContext

    def cat(bounded: bool) -> float:
        low, high = (start, end) if bounded else (None, None)

        def go() -> None:
            root, persistence = s.pond.root, s.pond.persistence
            engine.cat(
                root, SERIES, sql=sql, start=low, end=high, persistence=persistence
            ).read_all()

        return timed(go)

    def read(bounded: bool) -> float:
        low, high = (start, end) if bounded else (None, None)
        return timed(lambda: s.pond.read_table(SERIES, start=low, end=high))

    def cli(bounded: bool) -> ChildRun:
        argv = [POND_BIN, "cat", SERIES, "--sql", sql, "--format", "csv"]
        if bounded:
            argv += ["--start", iso(start), "--end", iso(end)]
        return run_child(argv, env=pond_env(s.pond_dir))

    def raw_where() -> float:
        where = (
            f"SELECT * FROM source WHERE timestamp >= '{iso(start)}' AND timestamp < '{iso(end)}'"
        )

        def go() -> None:
            ctx = SessionContext()
            ctx.register_parquet("source", str(s.raw_dir))
            ctx.sql(HOURLY.format(table=f"({where})")).collect()

        return timed(go)

    samples = interleaved(
        {
            "cat_range": lambda: cat(True),
            "cat_full": lambda: cat(False),
            "read_range": lambda: read(True),
            "read_full": lambda: read(False),
            "cli_range": lambda: cli(True),
            "cli_full": lambda: cli(False),
            "raw_range": raw_where,
        },
        repeat,
    )
    figures = []
    for key, what in (
        ("g.sql", "hourly SQL (engine.cat, what pond cat runs)"),
        ("g.read", "Pond.read_table"),
        ("g.cli", "pond cat --sql (whole process)"),
    ):
        prefix = key.split(".")[1].replace("sql", "cat")
        rng, full = median(samples[f"{prefix}_range"]), median(samples[f"{prefix}_full"])
        speedup = full / rng
        whole_process = key == "g.cli"
        figures.append(
            Figure(
                key,
                f"1% time range vs full scan, {what}: speed-up",
                speedup,
                "x",
                # A whole process spends most of a 1% query starting up (importing
                # DataFusion and pyarrow), so the target is judged in process.
                target="" if whole_process else ">= 10x",
                met=None if whole_process else speedup >= 10,
                note=f"range {rng * 1000:.0f} ms, full {full * 1000:.0f} ms",
                samples=samples[f"{prefix}_range"],
            )
        )
    raw = median(samples["raw_range"])
    cat_range = median(samples["cat_range"])
    figures.append(
        Figure(
            "g.raw",
            "1% range, hourly SQL: engine.cat --start/--end",
            cat_range,
            "s",
            baseline=raw,
            baseline_label="DataFusion WHERE on all version files",
        )
    )
    return figures


def bench_memory(s: SeriesPond, repeat: int) -> list[Figure]:
    script = s.raw_dir.parent / "raw_csv_export.py"
    script.write_text(RAW_CSV_EXPORT)
    runs: dict[str, list[tuple[float, float]]] = {"pond": [], "raw": []}

    def pond_cat() -> float:
        with open(os.devnull, "wb") as sink:
            argv = [POND_BIN, "cat", SERIES, "--format", "csv"]
            run = run_child(argv, env=pond_env(s.pond_dir), stdout=sink)
        runs["pond"].append((run.seconds, run.max_rss_mb))
        return run.seconds

    def raw_cat() -> float:
        with open(os.devnull, "wb") as sink:
            run = run_child([PYTHON, str(script), str(s.raw_dir)], stdout=sink)
        runs["raw"].append((run.seconds, run.max_rss_mb))
        return run.seconds

    interleaved({"pond": pond_cat, "raw": raw_cat}, repeat, warmup=0)
    rss = median([r for _, r in runs["pond"]])
    raw_rss = median([r for _, r in runs["raw"]])
    seconds = median([t for t, _ in runs["pond"]])
    raw_seconds = median([t for t, _ in runs["raw"]])
    rows = f"{s.total_rows / 1e6:g}M rows"
    return [
        Figure(
            "h.rss",
            f"peak RSS of pond cat --format csv, {rows} > /dev/null",
            rss,
            "MB",
            baseline=raw_rss,
            baseline_label="pyarrow iter_batches -> CSVWriter",
            target="< 500 MB",
            met=rss < 500,
            samples=[r for _, r in runs["pond"]],
        ),
        Figure(
            "h.time",
            f"time of pond cat --format csv, {rows} > /dev/null",
            seconds,
            "s",
            baseline=raw_seconds,
            baseline_label="pyarrow iter_batches -> CSVWriter",
            samples=[t for t, _ in runs["pond"]],
        ),
    ]


def main() -> None:
    args = parse_args(__doc__ or "")
    quick = args.quick
    header("tables, series, SQL" + (" (quick)" if quick else ""))
    figures = Figures()
    add = figures.add

    with workdir("series") as work:
        if selected(args, "csv"):
            add(bench_csv(work, rows=200_000 if quick else 1_000_000, repeat=3 if quick else 7))
        if any(selected(args, name) for name in ("agg", "range", "memory")):
            rows = 20_000 if quick else 100_000
            series = SeriesPond(work, versions=100, rows=rows, step_s=1)
            if selected(args, "agg"):
                add(bench_agg(series, repeat=3 if quick else 7))
            if selected(args, "range"):
                add(bench_range(series, repeat=3 if quick else 7))
            if selected(args, "memory"):
                add(bench_memory(series, repeat=1 if quick else 3))
            series.pond.close()
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
