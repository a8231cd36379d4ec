"""Beyond one machine: importing another pond, and other engines over exported Delta tables.

    .venv/bin/python bench/bench_beyond.py [--quick] [--only import,engine]

- import: a hub pond imports a station pond of 1,000 series files (``kind: Import``);
  then the station gets one new version of one series and ``pond run`` on the hub
  brings it, as a whole process (target under 2 s), and the Import's own part of it
  (its run record's elapsed time: reading the station's log tail, copying, committing).
  Also timed: the same ``pond run`` when nothing is new (an empty log tail: nothing
  read, nothing committed), and the first import of all 1,000 files.
- engine: 100 series exported with ``pond export --format delta`` (first export, and a
  re-export with nothing new, each a whole process), then an hourly average over all
  100 Delta tables by Dask on a ``LocalCluster`` of 2 worker processes (``dask-deltatable``),
  as a whole process including the cluster's start and, separately, the computation
  alone; against ``pond cat '/data/*.series' --sql`` of the same aggregation over the
  pond, a whole process.  Reported, no target: the issue asks for both figures.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from harness import (
    POND_BIN,
    PYTHON,
    ChildRun,
    Figure,
    Figures,
    child_env,
    cpu_of,
    header,
    interleaved,
    median,
    parse_args,
    run_child,
    selected,
    workdir,
    write_json,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def series(rows: int, seed: int, start: datetime = T0, minutes: int = 10) -> pa.Table:
    rng = np.random.default_rng(seed)
    times = np.datetime64(start.replace(tzinfo=None), "us") + np.arange(rows) * np.timedelta64(
        minutes * 60_000_000, "us"
    )
    return pa.table(
        {
            "timestamp": pa.array(times, pa.timestamp("us")).cast(pa.timestamp("us", "UTC")),
            "v": pa.array(rng.normal(10, 2, rows)),
        }
    )


def pond_run(pond_dir: Path, elapsed: list[float] | None = None) -> ChildRun:
    """``pond run`` as a whole process; ``elapsed`` gets its resources' own run time."""
    out = pond_dir.parent / "run.json"
    with out.open("w") as fh:
        run = run_child([POND_BIN, "--pond", str(pond_dir), "--json", "run"], stdout=fh)
    if elapsed is not None:
        report = json.loads(out.read_text())
        elapsed.append(sum(r["elapsed_s"] for r in report["results"]))
    return run


def bench_import(work: Path, quick: bool) -> list[Figure]:
    from duckpond import Pond

    files = 200 if quick else 1000
    station = work / "station"
    with Pond.init(station) as p, p.transaction() as tx:
        tx.mkdir(*(f"/data/d{d:02d}" for d in range((files + 99) // 100)), parents=True)
        for i in range(files):
            tx.write_series(f"/data/d{i // 100:02d}/s{i:04d}.series", series(24, i))
    hub = work / "hub"
    Pond.init(hub).close()
    doc = {"apiVersion": "duckpond/v1", "kind": "Import", "name": "station"}
    (work / "import.yaml").write_text(json.dumps({**doc, "spec": {"url": str(station)}}))
    with Pond.open(hub) as p:
        p.pipeline.apply([work / "import.yaml"])
    first = pond_run(hub).seconds

    counter = iter(range(1, 1000))
    own: list[float] = []

    def one_new_version() -> ChildRun:
        with Pond.open(station) as p:
            n = next(counter)
            p.write_series(
                "/data/d05/s0500.series" if files > 500 else "/data/d01/s0100.series",
                series(6, 10_000 + n, T0 + timedelta(days=n)),
            )
        return pond_run(hub, own)

    samples = interleaved(
        {"new": one_new_version, "none": lambda: pond_run(hub)}, 3 if quick else 7
    )
    with Pond.open(hub) as p:
        imported = len([e for e in p.list("/imports/station/**") if e.is_file()])
    assert imported == files, imported
    return [
        Figure(
            "import",
            f"pond run: Import of 1 new version from a {files}-file pond",
            median(samples["new"]),
            "s",
            target="< 2 s",
            met=median(samples["new"]) < 2.0,
            cpu=cpu_of(samples, "new"),
            samples=samples["new"],
        ),
        Figure(
            "import.own",
            "  the Import's own part of that run (its run record's elapsed time)",
            median(own[-len(samples["new"]) :]),
            "s",
            samples=own[-len(samples["new"]) :],
        ),
        Figure(
            "import0",
            f"pond run: Import with nothing new ({files}-file pond, empty log tail)",
            median(samples["none"]),
            "s",
            cpu=cpu_of(samples, "none"),
            samples=samples["none"],
        ),
        Figure("import1", f"pond run: first Import of all {files} files", first, "s"),
    ]


DASK = """\
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from dask.distributed import Client, LocalCluster
import dask.dataframe as dd
import dask_deltatable

if __name__ == "__main__":
    tables = sorted(str(p.parent) for p in Path(sys.argv[1]).glob("data/*/_delta_log"))
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster, Client(cluster):
        ready = time.perf_counter()
        frame = dd.concat([dask_deltatable.read_deltalake(t) for t in tables])
        # split_out=1: a tree reduction of partial sums; a shuffle costs far more here.
        hourly = frame.assign(hour=frame.timestamp.dt.floor("h")).groupby("hour")["v"].mean(
            split_out=1
        )
        result = hourly.compute()
        done = time.perf_counter()
    print(json.dumps({"rows": len(result), "compute_s": done - ready, "tables": len(tables)}))
"""

SQL = "SELECT date_trunc('hour', timestamp) AS hour, avg(v) AS v FROM source GROUP BY 1 ORDER BY 1"


def bench_engine(work: Path, quick: bool) -> list[Figure]:
    from duckpond import Pond

    outputs, rows = 100, (2_000 if quick else 50_000)
    pond = work / "pond"
    with Pond.init(pond) as p, p.transaction() as tx:
        tx.mkdir("/data")
        for i in range(outputs):
            tx.write_series(f"/data/s{i:03d}.series", series(rows, i, minutes=1))
    lake = work / "lake"
    export = [POND_BIN, "--pond", str(pond), "export", "/data", "--format", "delta", "--dir"]
    first = run_child([*export, str(lake)])
    again = run_child([*export, str(lake)])
    script = work / "dask_hourly.py"
    script.write_text(DASK)
    computed: list[float] = []

    def dask_run() -> ChildRun:
        out = work / "dask.json"
        with out.open("w") as fh:
            # Dask is built on pandas: its process has it, unlike DuckPond's.
            run = run_child([PYTHON, str(script), str(lake)], stdout=fh, env=child_env(pandas=True))
        result = json.loads(out.read_text().strip().splitlines()[-1])
        assert result["tables"] == outputs, result
        computed.append(result["compute_s"])
        return run

    def pond_cat() -> ChildRun:
        return run_child(
            [
                POND_BIN,
                "--pond",
                str(pond),
                "cat",
                "/data/*.series",
                "--sql",
                SQL,
                "--format",
                "csv",
            ]
        )

    samples = interleaved({"dask": dask_run, "pond": pond_cat}, 2 if quick else 5)
    total = f"{outputs} series x {rows:,} rows"
    return [
        Figure(
            "export",
            f"pond export --format delta, first: {total}",
            first.seconds,
            "s",
            cpu=first.cpu_seconds,
        ),
        Figure(
            "export0",
            "pond export --format delta again, nothing new (no commit)",
            again.seconds,
            "s",
            cpu=again.cpu_seconds,
        ),
        Figure(
            "dask",
            f"Dask LocalCluster(2) hourly avg over {outputs} Delta tables, whole process",
            median(samples["dask"]),
            "s",
            baseline=median(samples["pond"]),
            baseline_label="pond cat --sql",
            cpu=cpu_of(samples, "dask"),
            baseline_cpu=cpu_of(samples, "pond"),
            samples=samples["dask"],
        ),
        Figure(
            "dask1",
            "  the same, the computation alone (cluster already up)",
            median(computed),
            "s",
            baseline=median(samples["pond"]),
            baseline_label="pond cat --sql (whole process)",
            samples=computed,
        ),
    ]


def main() -> None:
    args = parse_args(__doc__ or "")
    header("beyond one machine: Import and other engines")
    figures = Figures()
    if selected(args, "import"):
        with workdir("import") as work:
            figures.add(bench_import(work, args.quick))
    if selected(args, "engine"):
        with workdir("engine") as work:
            figures.add(bench_engine(work, args.quick))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
