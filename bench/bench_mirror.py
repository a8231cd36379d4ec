"""The local mirror on a 10,000-file pond, as whole ``pond`` processes.

    .venv/bin/python bench/bench_mirror.py [--quick] [--only first,second,sync]

- m.first: ``pond mirror DIR`` into an empty folder, against ``pond copy '/**'
  host:///DIR`` (the copy out the pond had before, writing the same files);
  target within 1.5x.
- m.second: ``pond mirror DIR`` again after one file changed in the pond
  (target under 0.5 s), beside ``pond list '/**'`` over the same pond, the
  least any command that looks at all 10,000 nodes does.
- m.sync: ``pond mirror DIR --sync`` after one file was edited in DIR (one
  transaction, then the refresh; target under 1 s), beside a ``pond copy`` of
  one file into the pond (one transaction, nothing else).

The pond holds 100 folders of 100 small files (one transaction).  Runs are
interleaved A B A B; the folders and edits each run needs are made before its
process starts, outside the timing.
"""

from __future__ import annotations

import shutil
import subprocess
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


def make_pond(work: Path, folders: int, per_folder: int) -> Path:
    pond_dir = work / "pond"
    pond = Pond.init(pond_dir, command=COMMAND)
    with pond.transaction(COMMAND) as tx:
        for d in range(folders):
            tx.mkdir(f"/site{d:03d}")
            for i in range(per_folder):
                tx.write_file(f"/site{d:03d}/reading-{i:03d}.csv", b"t,v\n%d,%d\n" % (d, i))
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
        if selected(args, "second"):
            figures.add(bench_second(work, pond_dir, repeat=3 if args.quick else 7))
        if selected(args, "sync"):
            figures.add(bench_sync(work, pond_dir, repeat=3 if args.quick else 7))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
