"""The local mirror on a 10,000-file pond, as whole ``pond`` processes.

    .venv/bin/python bench/bench_mirror.py [--quick] [--only first,idle,second,sync]

- m.first: ``pond mirror DIR`` into an empty folder, against ``pond copy '/**'
  host:///DIR`` (the copy out the pond had before, writing the same files);
  target within 1.5x.
- m.first_bare: the same run against a bare Python process doing the same
  writes with the raw library: each raw file's bytes copied from a folder
  holding them, each series read with pyarrow from a Parquet file holding it
  and written again with ``pyarrow.parquet.write_table`` (no target: the
  floor a mirror could reach).
- m.idle: ``pond mirror DIR`` again with nothing changed (target under 0.5 s),
  beside ``pond list /``, the least any command that opens the pond does.
- m.second: ``pond mirror DIR`` again after one file changed in the pond
  (target under 0.5 s), beside ``pond list '/**'`` over the same pond, the
  least any command that looks at all 10,000 nodes does.
- m.sync: ``pond mirror DIR --sync`` after one file was edited in DIR (one
  transaction, then the refresh; target under 1 s), beside a ``pond copy`` of
  one file into the pond (one transaction, nothing else).

The pond holds 100 folders of 100 small raw files and one series of 2,000 rows
each (10,100 files, one transaction).  Runs are interleaved A B A B; the
folders and edits each run needs are made before its process starts, outside
the timing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from duckpond.pond import Pond
from harness import (
    POND_BIN,
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
    versus,
    workdir,
    write_json,
)

COMMAND = ["bench_mirror"]
FIRST_RATIO = 1.5
SECOND_TARGET = 0.5
SYNC_TARGET = 1.0


SERIES_ROWS = 2000

BARE = """
import shutil, sys
from pathlib import Path
import pyarrow.parquet as pq
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for path in sorted(src.rglob("*")):
    out = dst / path.relative_to(src)
    if path.is_dir():
        out.mkdir(parents=True)
    elif path.suffix == ".parquet":
        pq.write_table(pq.read_table(path), out)
    else:
        shutil.copyfile(path, out)
"""


def make_pond(work: Path, folders: int, per_folder: int) -> Path:
    import pyarrow as pa

    pond_dir = work / "pond"
    pond = Pond.init(pond_dir, command=COMMAND)
    start = 1_796_000_000_000_000
    with pond.transaction(COMMAND) as tx:
        for d in range(folders):
            tx.mkdir(f"/site{d:03d}")
            for i in range(per_folder):
                tx.write_file(f"/site{d:03d}/reading-{i:03d}.csv", b"t,v\n%d,%d\n" % (d, i))
            times = pa.array(
                [start + 60_000_000 * i for i in range(SERIES_ROWS)], pa.timestamp("us", "UTC")
            )
            values = pa.array([float(d + i % 97) for i in range(SERIES_ROWS)])
            tx.write_series(
                f"/site{d:03d}/temp.series", pa.table({"timestamp": times, "t": values})
            )
    pond.close()
    return pond_dir


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def bench_first(work: Path, pond_dir: Path, repeat: int) -> list[Figure]:
    env = pond_env(pond_dir)
    mirror_dir, copy_dir = work / "first-mirror", work / "first-copy"
    samples = interleaved(
        {
            "mirror": lambda: run_child([POND_BIN, "mirror", str(fresh(mirror_dir))], env=env),
            "copy": lambda: run_child(
                [POND_BIN, "copy", "/**", f"host://{fresh(copy_dir)}"], env=env
            ),
        },
        repeat,
        warmup=0,
    )
    mirror, copy = median(samples["mirror"]), median(samples["copy"])
    return [
        Figure(
            "m.first",
            "pond mirror DIR of a 10,000-file pond, empty DIR",
            mirror,
            "s",
            baseline=copy,
            baseline_label="pond copy '/**' host:///DIR",
            target=f"<= {FIRST_RATIO}x",
            met=mirror <= FIRST_RATIO * copy,
            samples=samples["mirror"],
            cpu=cpu_of(samples, "mirror"),
            baseline_cpu=cpu_of(samples, "copy"),
        )
    ]


def bench_first_bare(work: Path, pond_dir: Path, repeat: int) -> list[Figure]:
    env = pond_env(pond_dir)
    source, mirror_dir, bare_dir = work / "bare-source", work / "bare-mirror", work / "bare-out"
    subprocess.run(
        [POND_BIN, "mirror", str(fresh(source))], env=env, check=True, stdout=subprocess.DEVNULL
    )
    for own in source.glob(".pond-mirror*"):
        own.unlink()
    samples = interleaved(
        {
            "mirror": lambda: run_child([POND_BIN, "mirror", str(fresh(mirror_dir))], env=env),
            "bare": lambda: run_child(
                [sys.executable, "-c", BARE, str(source), str(fresh(bare_dir))], env=env
            ),
        },
        repeat,
        warmup=0,
    )
    mirror, bare = median(samples["mirror"]), median(samples["bare"])
    return [
        Figure(
            "m.first_bare",
            "pond mirror DIR, empty DIR, against the raw library",
            mirror,
            "s",
            baseline=bare,
            baseline_label="bare copyfile + pyarrow read/write_table",
            samples=samples["mirror"],
            cpu=cpu_of(samples, "mirror"),
            baseline_cpu=cpu_of(samples, "bare"),
        )
    ]


def bench_idle(work: Path, pond_dir: Path, repeat: int) -> list[Figure]:
    env = pond_env(pond_dir)
    out = work / "idle"
    subprocess.run(
        [POND_BIN, "mirror", str(fresh(out))], env=env, check=True, stdout=subprocess.DEVNULL
    )
    samples = interleaved(
        {
            "idle": lambda: run_child([POND_BIN, "mirror", str(out)], env=env),
            "list": lambda: run_child([POND_BIN, "list", "/"], env=env),
        },
        repeat,
    )
    idle, listing = median(samples["idle"]), median(samples["list"])
    return [
        Figure(
            "m.idle",
            "pond mirror DIR again, nothing changed",
            idle,
            "s",
            baseline=listing,
            baseline_label="pond list /",
            target=f"< {SECOND_TARGET} s",
            met=idle < SECOND_TARGET,
            samples=samples["idle"],
            cpu=cpu_of(samples, "idle"),
            baseline_cpu=cpu_of(samples, "list"),
        )
    ]


def bench_second(work: Path, pond_dir: Path, repeat: int) -> list[Figure]:
    env = pond_env(pond_dir)
    out = work / "second"
    subprocess.run(
        [POND_BIN, "mirror", str(fresh(out))], env=env, check=True, stdout=subprocess.DEVNULL
    )
    counter = iter(range(1000, 1_000_000))
    change = work / "change.csv"

    def one_change_then_mirror() -> object:
        change.write_bytes(b"t,v\n0,%d\n" % next(counter))
        subprocess.run(
            [POND_BIN, "copy", str(change), "/site000/reading-000.csv"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return run_child([POND_BIN, "mirror", str(out)], env=env)

    samples = interleaved(
        {
            "second": one_change_then_mirror,  # type: ignore[dict-item]
            "list": lambda: run_child([POND_BIN, "list", "/**"], env=env),
        },
        repeat,
    )
    return [
        versus(
            "m.second",
            "pond mirror DIR again, one file changed in the pond",
            samples,
            "second",
            "list",
            "pond list '/**'",
            target=f"< {SECOND_TARGET} s",
            met=lambda value, _: value < SECOND_TARGET,
        )
    ]


def bench_sync(work: Path, pond_dir: Path, repeat: int) -> list[Figure]:
    env = pond_env(pond_dir)
    out = work / "sync"
    subprocess.run(
        [POND_BIN, "mirror", str(fresh(out))], env=env, check=True, stdout=subprocess.DEVNULL
    )
    counter = iter(range(1000, 1_000_000))
    one = work / "one.csv"
    one.write_bytes(b"t,v\n1,1\n")

    def edit_then_sync() -> object:
        (out / "site050/reading-050.csv").write_bytes(b"t,v\n9,%d\n" % next(counter))
        return run_child([POND_BIN, "mirror", str(out), "--sync"], env=env)

    def copy_one() -> object:
        one.write_bytes(b"t,v\n1,%d\n" % next(counter))
        return run_child([POND_BIN, "copy", str(one), "/one.csv"], env=env)

    samples = interleaved(
        {"sync": edit_then_sync, "copy": copy_one},  # type: ignore[dict-item]
        repeat,
    )
    return [
        versus(
            "m.sync",
            "pond mirror DIR --sync, one file edited in a 10,000-file mirror",
            samples,
            "sync",
            "copy",
            "pond copy of one file",
            target=f"< {SYNC_TARGET} s",
            met=lambda value, _: value < SYNC_TARGET,
        )
    ]


def main() -> None:
    args = parse_args(__doc__ or "")
    header("mirror" + (" (quick)" if args.quick else ""))
    figures = Figures()
    with workdir("mirror") as work:
        pond_dir = make_pond(work, 100, 100)
        if selected(args, "first"):
            figures.add(bench_first(work, pond_dir, repeat=1 if args.quick else 3))
            figures.add(bench_first_bare(work, pond_dir, repeat=1 if args.quick else 3))
        if selected(args, "idle"):
            figures.add(bench_idle(work, pond_dir, repeat=3 if args.quick else 7))
        if selected(args, "second"):
            figures.add(bench_second(work, pond_dir, repeat=3 if args.quick else 7))
        if selected(args, "sync"):
            figures.add(bench_sync(work, pond_dir, repeat=3 if args.quick else 7))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
