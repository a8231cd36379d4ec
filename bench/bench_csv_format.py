"""An instrument's CSV read with ``--timestamp-format``, against pyarrow doing the same.

    .venv/bin/python bench/bench_csv_format.py [--quick]

- format (i): a 1M-row CSV whose times are day-first (``31.12.2024 23:00:00``, as many
  European loggers write them) imported as a series with ``pond copy --format series
  --timestamp-format '%d.%m.%Y %H:%M:%S'`` (whole process) against a script calling
  pyarrow ``read_csv`` with that format as its one timestamp parser, then
  ``write_table`` (zstd).  DuckPond reads every value of the time column with the
  format (text that does not fit is an error naming its row), where pyarrow's parser
  list would fall back silently; target within 1.5x.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from duckpond.pond import Pond
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
    workdir,
    write_json,
)

FORMAT = "%d.%m.%Y %H:%M:%S"
T0_US = 1_704_067_200_000_000  # 2024-01-01T00:00Z

RAW = """\
import sys

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

convert = pcsv.ConvertOptions(timestamp_parsers=[sys.argv[3]])
table = pcsv.read_csv(sys.argv[1], convert_options=convert)
pq.write_table(table, sys.argv[2], compression="zstd")
"""


def write_csv(path: Path, rows: int) -> None:
    """A logger-style CSV: day-first local times a minute apart and two sensors."""
    rng = np.random.default_rng(7)
    chunk = 250_000
    schema = pa.schema([("Zeit", pa.string()), ("temp", pa.float64()), ("cond", pa.float64())])
    options = pcsv.WriteOptions(quoting_style="none")
    with pcsv.CSVWriter(path, schema, write_options=options) as writer:
        for first in range(0, rows, chunk):
            n = min(chunk, rows - first)
            minutes = np.arange(first, first + n, dtype=np.int64)
            times = pa.array(T0_US // 1_000_000 + minutes * 60, pa.timestamp("s"))
            writer.write_table(
                pa.table(
                    {
                        "Zeit": pc.strftime(times, FORMAT),
                        "temp": np.round(12 + rng.normal(0, 0.3, n), 3),
                        "cond": np.round(rng.normal(480, 15, n), 1),
                    },
                    schema=schema,
                )
            )


def bench_format(work: Path, rows: int, repeat: int) -> list[Figure]:
    src = work / "zeit.csv"
    write_csv(src, rows)
    size_mb = src.stat().st_size / 1e6
    pond_dir = work / "pond"
    Pond.init(pond_dir, command=["bench"]).close()
    script = work / "raw.py"
    script.write_text(RAW)
    out = work / "raw.parquet"
    n = {"cli": 0}

    def pond_cli() -> ChildRun:
        n["cli"] += 1
        argv = [POND_BIN, "copy", "--format", "series", "--timestamp-column", "Zeit"]
        argv += ["--timestamp-format", FORMAT, str(src), f"/zeit-{n['cli']:02d}.series"]
        return run_child(argv, env=pond_env(pond_dir))

    def raw_cli() -> ChildRun:
        return run_child([PYTHON, str(script), str(src), str(out), FORMAT])

    samples = interleaved({"pond": pond_cli, "raw": raw_cli}, repeat)
    value, base = median(samples["pond"]), median(samples["raw"])
    return [
        Figure(
            "i.format",
            f"{rows:,}-row day-first CSV ({size_mb:.0f} MB) as a series with "
            "--timestamp-format (whole process)",
            value,
            "s",
            baseline=base,
            baseline_label="pyarrow read_csv(timestamp_parsers=[fmt]) + write_table(zstd)",
            target="<= 1.5x",
            met=value <= 1.5 * base,
            samples=samples["pond"],
            cpu=cpu_of(samples, "pond"),
            baseline_cpu=cpu_of(samples, "raw"),
        )
    ]


def main() -> None:
    args = parse_args(__doc__ or "")
    header("CSV with a timestamp format" + (" (quick)" if args.quick else ""))
    figures = Figures()
    with workdir("csv-format") as work:
        figures.add(
            bench_format(work, 200_000 if args.quick else 1_000_000, 3 if args.quick else 5)
        )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
