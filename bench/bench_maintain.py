"""Maintenance benchmarks: a station's year in a pond, before and after ``pond maintain``.

    .venv/bin/python bench/bench_maintain.py [--quick] [--json FILE]
    DAYS=30 KEEP_DAYS=7 .venv/bin/python bench/bench_maintain.py

The pond: 10 series, one version of each every 15 minutes (a transaction writing one
15-minute reading to each, 96 transactions a day), plus a ``Reduce`` of the series to
1h, 6h and 1d and a ``Site`` charting it, built once at the end (so the cache holds
its outputs).  ``DAYS`` (default 365: 35,040 transactions) scales the year down when
building it would take too long; ``KEEP_DAYS`` (default 30) is the window, and
``KEEP2_DAYS`` (default none) a second, shorter one measured after it (``disk2``: a
scaled-down pond keeping the share of its history that 30 days is of a year);
``KEEP_POND=DIR`` copies the pond as the first maintain left it to DIR;
``BUILT_POND=DIR`` builds the pond in DIR (a new directory; ``/dev/shm`` spares the disk)
and keeps it there, or, where DIR already holds one, copies it instead of building, so
the measured steps can be run again on the same year.  Commit
times are real (the pond is built in minutes), so the window is given as
``--keep-txns KEEP_DAYS*96``, which is what ``--keep 30d`` keeps on a real station.

Figures, whole processes unless said:

- disk: the pond directory before and after ``pond maintain``, against the same
  readings written as one zstd Parquet file per series by pyarrow (target: within
  1.5x after maintenance); the cache is counted apart (disposable).
- maintain: ``pond maintain --keep-txns N`` (target under 60 s).
- fsck: ``pond fsck`` after maintenance against ``sha256sum`` of every file under
  ``data/`` (target within 1.5x).
- copy, list: ``pond copy`` of one small file and ``pond list`` on a byte copy of
  the pond taken before maintenance and on the maintained pond, interleaved (target:
  no slower after).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from duckpond import Pond
from harness import (
    POND_BIN,
    REDUCE_AND_SITE,
    Figure,
    Figures,
    child_env,
    header,
    interleaved,
    median,
    parse_args,
    run_child,
    workdir,
    write_json,
)

SERIES = 10
STEP_US = 900 * 1_000_000
T0_US = 1_672_531_200 * 1_000_000  # 2023-01-01T00:00Z
PER_DAY = 96


def reading(step: int, n: int) -> pa.Table:
    t = pa.array([T0_US + step * STEP_US], pa.timestamp("us", "UTC"))
    value = 10.0 + n + np.sin(step / 96 * 2 * np.pi) + (step * 7919 % 1000) / 10_000
    return pa.table({"timestamp": t, "value": pa.array([value], pa.float64())})


def build(pond_dir: Path, days: int, tmp: Path) -> tuple[int, float]:
    """The simulated station; returns (transactions, seconds per transaction)."""
    pond = Pond.init(pond_dir, command=["bench", "init"])
    pond.mkdir("/data")
    resources = tmp / "resources.yaml"
    resources.write_text(
        REDUCE_AND_SITE.format(title="A station's year", charts="Series", out=tmp / "www")
    )
    pond.pipeline.apply([resources])
    steps = days * PER_DAY
    start = lap = time.perf_counter()
    for step in range(steps):
        with pond.transaction(command=["bench", "collect", str(step)]) as tx:
            for n in range(SERIES):
                tx.write_series(f"/data/s{n:02d}.series", reading(step, n))
        if step and step % 960 == 0:
            now = time.perf_counter()
            rate, recent = (now - start) / step, (now - lap) / 960
            lap = now
            print(
                f"  ... {step}/{steps} transactions, {rate * 1000:.0f} ms each "
                f"({recent * 1000:.0f} ms each of the last 960; load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    per_txn = (time.perf_counter() - start) / steps
    last = pond.last_txn
    pond.close()
    return last, per_txn


def export_parquet(pond_dir: Path, out: Path) -> int:
    """The same readings as one zstd Parquet file per series, written by pyarrow."""
    out.mkdir()
    with Pond.open(pond_dir) as pond:
        for n in range(SERIES):
            table = pond.read_table(f"/data/s{n:02d}.series")
            pq.write_table(table, out / f"s{n:02d}.parquet", compression="zstd")
    return tree_bytes(out)


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def pond_bytes(pond_dir: Path) -> tuple[int, int]:
    """(bytes outside the cache, bytes of the cache)."""
    cache = tree_bytes(pond_dir / "cache") if (pond_dir / "cache").exists() else 0
    return tree_bytes(pond_dir) - cache, cache


def main() -> None:
    args = parse_args(__doc__ or "")
    days = int(os.environ.get("DAYS", "2" if args.quick else "365"))
    keep_days = int(os.environ.get("KEEP_DAYS", "1" if args.quick else "30"))
    keep2_days = int(os.environ.get("KEEP2_DAYS", "0"))
    repeat = 3 if args.quick else 7
    header(f"maintenance: {SERIES} series, {days} days of 15-minute versions")
    figures = Figures()
    with workdir("maintain") as tmp:
        pond_dir = tmp / "pond"
        built = Path(os.environ["BUILT_POND"]) if os.environ.get("BUILT_POND") else None
        if built is None or not (built / "pond").exists():
            where = built or tmp
            where.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            txns, per_txn = build(where / "pond", days, where)
            print(
                f"  built {txns} transactions in {time.perf_counter() - t0:.0f} s "
                f"({per_txn * 1000:.0f} ms each)"
            )
        if built is not None:
            # The site's output directory was named at apply time: it stays under DIR.
            shutil.copytree(built / "pond", pond_dir, symlinks=True)
            print(f"  copied the pond built in {built}")
        env = child_env(POND=str(pond_dir), XDG_CACHE_HOME=str(tmp / "xdg-cache"))

        def pond(*argv: str, where: Path = pond_dir) -> float:
            return run_child([POND_BIN, "--pond", str(where), *argv], env=env).seconds

        site = pond("run")
        print(f"  pond run (Reduce and Site): {site:.1f} s")
        parquet = export_parquet(pond_dir, tmp / "export")
        before, cache = pond_bytes(pond_dir)
        figures.add(
            [
                Figure(
                    "disk0",
                    "pond before maintain (cache apart)",
                    before / 1e6,
                    "MB",
                    parquet / 1e6,
                    "as Parquet",
                    note=f"cache {cache / 1e6:.1f} MB",
                )
            ]
        )
        untouched = tmp / "before"
        shutil.copytree(pond_dir, untouched)

        def disk_after(key: str, label: str, note: str) -> Figure:
            after, cache = pond_bytes(pond_dir)
            return Figure(
                key,
                label,
                after / 1e6,
                "MB",
                parquet / 1e6,
                "as Parquet",
                target="within 1.5x",
                met=after <= 1.5 * parquet,
                note=f"{note}cache {cache / 1e6:.1f} MB",
            )

        keep = keep_days * PER_DAY
        first = run_child(
            [POND_BIN, "--pond", str(pond_dir), "maintain", "--keep-txns", str(keep)], env=env
        )
        took = first.seconds
        print(f"  maintain: {took:.1f} s, peak RSS {first.max_rss_mb:.0f} MB")
        figures.add([disk_after("disk1", f"pond after maintain --keep-txns {keep}", "")])
        if os.environ.get("KEEP_POND"):
            # For a look at where the bytes are (pond du) once the bench is done.
            shutil.copytree(pond_dir, Path(os.environ["KEEP_POND"]))
        figures.add(
            [
                Figure(
                    "maint",
                    "pond maintain (whole process)",
                    took,
                    "s",
                    target="under 60 s",
                    met=took < 60,
                    note=f"peak RSS {first.max_rss_mb:.0f} MB",
                )
            ]
        )

        data_files = [str(p) for p in (pond_dir / "data").rglob("*") if p.is_file()]

        def sha256sum() -> float:
            start = time.perf_counter()
            subprocess.run(["sha256sum", *data_files], stdout=subprocess.DEVNULL, check=True)
            return time.perf_counter() - start

        runs = interleaved({"fsck": lambda: pond("fsck"), "sha": sha256sum}, repeat)
        fsck, sha = median(runs["fsck"]), median(runs["sha"])
        figures.add(
            [
                Figure(
                    "fsck",
                    "pond fsck after maintain",
                    fsck,
                    "s",
                    sha,
                    "sha256sum of data/",
                    target="within 1.5x",
                    met=fsck <= 1.5 * sha,
                )
            ]
        )

        # The same comparison where hashing is the work: a pond of large blobs, whose
        # bytes take sha256sum far longer than a process takes to start.
        blobs_dir = tmp / "blobs-pond"
        blob_mb = 16 if args.quick else 256
        rng = np.random.default_rng(17)
        with Pond.init(blobs_dir, command=["bench", "init"]) as blobs:
            blobs.mkdir("/raw")
            for i in range(blob_mb // 8):
                blobs.write_bytes(f"/raw/b{i:03d}.bin", rng.bytes(8 << 20))
        blob_files = [str(p) for p in (blobs_dir / "data").rglob("*") if p.is_file()]

        def sha256sum_blobs() -> float:
            start = time.perf_counter()
            subprocess.run(["sha256sum", *blob_files], stdout=subprocess.DEVNULL, check=True)
            return time.perf_counter() - start

        runs = interleaved(
            {"fsck": lambda: pond("fsck", where=blobs_dir), "sha": sha256sum_blobs}, repeat
        )
        fsck, sha = median(runs["fsck"]), median(runs["sha"])
        figures.add(
            [
                Figure(
                    "fsck_bytes",
                    f"pond fsck of a pond of {blob_mb} MB of blobs",
                    fsck,
                    "s",
                    sha,
                    "sha256sum of its data/",
                    target="within 1.5x",
                    met=fsck <= 1.5 * sha,
                )
            ]
        )

        if keep2_days:
            # A shorter second window: a scaled-down station with the share of its history
            # that --keep 30d keeps of a year (30/365), for the disk ratio the year would see.
            keep2 = keep2_days * PER_DAY
            took2 = pond("maintain", "--keep-txns", str(keep2))
            label = f"then maintain --keep-txns {keep2}"
            figures.add([disk_after("disk2", label, f"maintain took {took2:.1f} s; ")])

        small = tmp / "small.txt"
        small.write_text("a small file\n")
        counter = iter(range(10**6))

        def copy_into(where: Path) -> float:
            return pond("copy", str(small), f"/data/note{next(counter)}.txt", where=where)

        runs = interleaved(
            {"after": lambda: copy_into(pond_dir), "before": lambda: copy_into(untouched)}, repeat
        )
        a, b = median(runs["after"]), median(runs["before"])
        figures.add(
            [
                Figure(
                    "copy1",
                    "pond copy of one small file, after maintain",
                    a,
                    "s",
                    b,
                    "before",
                    target="no slower",
                    met=a <= b * 1.05,
                )
            ]
        )
        runs = interleaved(
            {
                "after": lambda: pond("list", where=pond_dir),
                "before": lambda: pond("list", where=untouched),
            },
            repeat,
        )
        a, b = median(runs["after"]), median(runs["before"])
        figures.add(
            [
                Figure(
                    "list",
                    "pond list, after maintain",
                    a,
                    "s",
                    b,
                    "before",
                    target="no slower",
                    met=a <= b * 1.05,
                )
            ]
        )
    write_json(args.json, figures)


if __name__ == "__main__":
    sys.exit(main())
