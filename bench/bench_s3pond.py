"""What a pond kept on S3 costs: a small write, a listing, an hourly aggregation.

    .venv/bin/python bench/bench_s3pond.py [--quick] [--only copy,read] [--rows N]

Every figure is a whole process against a real S3 server (SeaweedFS ``weed mini`` on
127.0.0.1, started here on a temporary directory):

- copy (s.copy): ``pond copy`` of one small file into a pond on S3, against a bare script
  appending one row with ``write_deltalake`` to a Delta table on the same server
  (target: within 1.5x).  The pond's side also proves the server honours create-only
  puts (two puts and a delete) and reads the pond's state, which the bare append does not.
- read (s.list_*, s.agg_*): ``pond list -l`` and an hourly aggregation (``pond cat --sql``
  with ``date_trunc('hour', ...)``) of one series of ``--rows`` rows (one a second) on
  S3, first with an empty local cache (cold) and then again (warm), each against the same
  command on a local pond holding the same data (targets: warm within 1.5x of local).
- cmds (s.status, s.push, s.maintain): ``pond status``, a full ``pond backup push`` to
  another prefix of the same server, and ``pond maintain`` (compaction of a crowded
  directory), each of a pond on S3 holding ``--commits`` small transactions and one
  series, against the same command on a local pond holding the same (no target: the
  ratio is what a pond on S3 costs).

Load average and CPU time are printed with each figure: on a shared machine, compare CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from duckpond.testing.s3server import S3Server
from harness import (
    PYTHON,
    Figure,
    Figures,
    child_env,
    header,
    median,
    run_child,
    workdir,
    write_json,
)

BUCKET = "bench"
POND = [PYTHON, "-m", "duckpond.cli"]

BARE_APPEND = """\
import os, sys
import pyarrow as pa
from deltalake import write_deltalake
url = sys.argv[1]
options = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
           "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ALLOW_HTTP")}
write_deltalake(url, pa.table({"name": [sys.argv[2]], "content": [b"one small file"]}),
                mode="append", storage_options=options)
"""

MAKE_SERIES = """\
import sys
import pyarrow as pa
import pyarrow.compute as pc
from duckpond import Pond
where, rows = sys.argv[1], int(sys.argv[2])
start = pa.scalar(1_735_689_600_000_000, pa.timestamp("us", tz="UTC"))  # 2025-01-01
offsets = pa.array(range(0, rows * 1_000_000, 1_000_000), pa.int64())
times = pc.add(pc.cast(offsets, pa.duration("us")), start)
values = pc.multiply(pc.cast(pa.array(range(rows)), pa.float64()), 0.001)
with (Pond.init(where) if sys.argv[3] == "init" else Pond.open(where)) as pond:
    pond.mkdir("/data", parents=True)
    pond.write_series("/data/big.series", pa.table({"timestamp": times, "v": values}))
"""

MAKE_COMMITS = """\
import sys
from duckpond import Pond
where, commits, backups = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
with Pond.open(where) as pond:
    pond.mkdir("/raw", parents=True)
    for i in range(commits):
        pond.write_bytes(f"/raw/f{i}.txt", f"reading {i}\\n".encode())
    for doc in backups:
        pond.pipeline.apply([doc])
"""

BACKUP = """\
apiVersion: duckpond/v1
kind: Backup
name: {name}
spec:
  url: {url}
"""

HOURLY = (
    "SELECT date_trunc('hour', timestamp) AS hour, avg(v) AS v, count(*) AS n "
    "FROM source GROUP BY 1 ORDER BY 1"
)


def s3_env(server: S3Server, cache: Path) -> dict[str, str]:
    return child_env(**server.env(), DUCKPOND_CACHE_DIR=str(cache))


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def bench_copy(work: Path, server: S3Server, repeat: int) -> list[Figure]:
    cache = work / "cache-copy"
    env = s3_env(server, cache)
    url = server.url(BUCKET, "copy-pond")
    run_child([*POND, "--pond", url, "init"], env=env)
    small = work / "small.txt"
    small.write_text("one small file\n")
    table = server.url(BUCKET, "bare-table")
    run_child([PYTHON, "-c", BARE_APPEND, table, "first"], env=env)
    ponds, bares, pond_cpu, bare_cpu = [], [], [], []
    for r in range(repeat):
        # Interleaved, so a burst of load hits both sides.
        run = run_child([*POND, "--pond", url, "copy", str(small), f"/small-{r}.txt"], env=env)
        ponds.append(run.seconds)
        pond_cpu.append(run.cpu_seconds)
        bare = run_child([PYTHON, "-c", BARE_APPEND, table, f"r{r}"], env=env)
        bares.append(bare.seconds)
        bare_cpu.append(bare.cpu_seconds)
    value, base = median(ponds), median(bares)
    return [
        Figure(
            "s.copy",
            "`pond copy` of one small file into a pond on S3",
            value,
            "s",
            baseline=base,
            baseline_label="bare write_deltalake append, same server",
            target="<= 1.5x",
            met=value <= 1.5 * base,
            samples=ponds,
            cpu=median(pond_cpu),
            baseline_cpu=median(bare_cpu),
            note=load(),
        )
    ]


def bench_read(work: Path, server: S3Server, rows: int, repeat: int) -> list[Figure]:
    local = work / "local-pond"
    url = server.url(BUCKET, "read-pond")
    env = s3_env(server, work / "cache-make")
    run_child([PYTHON, "-c", MAKE_SERIES, str(local), str(rows), "init"], env=env)
    run_child([PYTHON, "-c", MAKE_SERIES, url, str(rows), "init"], env=env)
    commands = {
        "list": ["list", "-l"],
        "agg": ["cat", "/data/big.series", "--sql", HOURLY, "--format", "csv"],
    }
    figures: list[Figure] = []
    for name, args in commands.items():
        cold, warm, localt, cold_cpu, warm_cpu, local_cpu = [], [], [], [], [], []
        for r in range(repeat):
            cache = work / f"cache-{name}-{r}"
            env = s3_env(server, cache)
            first = run_child([*POND, "--pond", url, *args], env=env)
            second = run_child([*POND, "--pond", url, *args], env=env)
            here = run_child([*POND, "--pond", str(local), *args], env=env)
            cold.append(first.seconds)
            warm.append(second.seconds)
            localt.append(here.seconds)
            cold_cpu.append(first.cpu_seconds)
            warm_cpu.append(second.cpu_seconds)
            local_cpu.append(here.cpu_seconds)
            shutil.rmtree(cache, ignore_errors=True)
        what = "`pond list -l`" if name == "list" else f"hourly aggregation of {rows:,} rows"
        base = median(localt)
        figures.append(
            Figure(
                f"s.{name}_cold",
                f"{what} on S3, empty local cache",
                median(cold),
                "s",
                baseline=base,
                baseline_label="the same on a local pond",
                samples=cold,
                cpu=median(cold_cpu),
                baseline_cpu=median(local_cpu),
                note=load(),
            )
        )
        figures.append(
            Figure(
                f"s.{name}_warm",
                f"{what} on S3, second run (warm cache)",
                median(warm),
                "s",
                baseline=base,
                baseline_label="the same on a local pond",
                target="<= 1.5x",
                met=median(warm) <= 1.5 * base,
                samples=warm,
                cpu=median(warm_cpu),
                baseline_cpu=median(local_cpu),
                note=load(),
            )
        )
    return figures


def bench_cmds(work: Path, server: S3Server, commits: int, repeat: int) -> list[Figure]:
    local = work / "cmds-local"
    url = server.url(BUCKET, "cmds-pond")
    env = s3_env(server, work / "cache-cmds")
    docs = []
    for r in range(repeat):
        for side in ("s3", "local"):
            doc = work / f"backup-{side}-{r}.yaml"
            doc.write_text(BACKUP.format(name=f"b{r}", url=server.url(BUCKET, f"to-{side}-{r}")))
            docs.append(doc)
    for where, side in ((url, "s3"), (str(local), "local")):
        run_child([PYTHON, "-c", MAKE_SERIES, where, "100000", "init"], env=env)
        mine = [str(d) for d in docs if f"-{side}-" in d.name]
        run_child([PYTHON, "-c", MAKE_COMMITS, where, str(commits), *mine], env=env)
    figures: list[Figure] = []
    for key, what, args, once in (
        ("s.status", "`pond status`", ["status"], False),
        ("s.push", f"full `pond backup push` ({commits} small txns and a blob)", None, False),
        ("s.maintain", f"`pond maintain` compacting {commits} small commits", ["maintain"], True),
    ):
        ours, theirs, our_cpu, their_cpu = [], [], [], []
        for r in range(1 if once else repeat):
            cmd = args if args is not None else ["backup", "push", f"b{r}"]
            first = run_child([*POND, "--pond", url, *cmd], env=env)
            here = run_child([*POND, "--pond", str(local), *cmd], env=env)
            ours.append(first.seconds)
            theirs.append(here.seconds)
            our_cpu.append(first.cpu_seconds)
            their_cpu.append(here.cpu_seconds)
        figures.append(
            Figure(
                key,
                f"{what} of a pond on S3",
                median(ours),
                "s",
                baseline=median(theirs),
                baseline_label="the same on a local pond",
                samples=ours,
                cpu=median(our_cpu),
                baseline_cpu=median(their_cpu),
                note=load(),
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--only", metavar="KEYS", help="comma-separated: copy, read, cmds")
    parser.add_argument("--commits", type=int, default=None, help="cmds: small txns (500)")
    parser.add_argument("--rows", type=int, default=None, help="the series' rows (10,000,000)")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    repeat = 3 if args.quick else 5
    only = set(args.only.split(",")) if args.only else None

    def chosen(name: str) -> bool:
        return only is None or name in only

    header("a pond on S3" + (" (quick)" if args.quick else ""))
    figures = Figures()
    with workdir("s3pond") as work, S3Server(work / "weed", buckets=[BUCKET]) as server:
        if chosen("copy"):
            figures.add(bench_copy(work, server, 5 if args.quick else 11))
        if chosen("read"):
            figures.add(bench_read(work, server, rows, repeat))
        if chosen("cmds"):
            commits = args.commits or (100 if args.quick else 500)
            figures.add(bench_cmds(work, server, commits, repeat))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
