"""HydroVu backfill benchmark, against the stand-in server on 127.0.0.1.

    .venv/bin/python bench/bench_hydrovu.py [--quick] [--only backfill]

- backfill: 10 devices x 1 year of 15-minute readings (35,040 timestamps and
  183 two-day pages each: about 350,000 timestamps and 1,830 pages) collected
  into wide Arrow tables with ``concurrency`` 4, against a bare sequential loop
  that fetches the same pages with the same HTTP client and does nothing with
  them (target: at most 0.5x).  The stand-in runs in its own process and adds
  a fixed latency to each answer, standing for the network between a user and
  the real service (which the benchmark must not call); without it, both sides
  would only measure the CPU of two processes on a loaded machine.
- memory: peak RSS of the collecting process during that backfill (target
  under 300 MB).
- routine: ``pond run`` of a HydroVu resource of 10 devices that are up to
  date, as a whole process (target under 2 s).

Both sides run as child processes, each timing only its fetch loop (imports
and the first token excluded), interleaved A B A B.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from harness import (
    POND_BIN,
    PYTHON,
    ChildRun,
    Figure,
    Figures,
    child_env,
    header,
    interleaved,
    median,
    parse_args,
    run_child,
    selected,
    workdir,
    write_json,
)

LATENCY = 0.02  # seconds per answer: a short round trip to a nearby cloud region
FIRST_ID = 1_000_000  # the stand-in's synthetic devices are numbered from here
START = 1_704_067_200  # 2024-01-01T00:00:00Z, the stand-in's first reading


def child(argv: list[str]) -> None:
    """One measured side, in its own process: ``collect`` or ``bare``."""
    mode, url, client_id, secret, devices_text, out = argv
    from duckpond.pipeline.hydrovu.client import NEXT_PAGE, START_PAGE, HydroVuClient
    from duckpond.pipeline.hydrovu.collect import DeviceRequest, collect

    devices = int(devices_text)
    with HydroVuClient(client_id, secret, base_url=url) as client:
        client.friendly_names()  # the token, outside the timing on both sides
        began = time.perf_counter()
        if mode == "collect":
            requests = [DeviceRequest(f"D{i}", FIRST_ID + i, START) for i in range(devices)]
            result = collect(client, requests, concurrency=4, with_locations=False)
            rows = sum(d.rows for d in result.devices)
            pages = sum(d.pages for d in result.devices)
            assert not result.failed, [d.error for d in result.failed]
        else:
            rows, pages = 0, 0
            for i in range(devices):
                cursor = None
                while True:
                    headers = {START_PAGE: cursor} if cursor else {}
                    response = client.http.get(
                        f"v1/locations/{FIRST_ID + i}/data",
                        params={"startTime": START},
                        headers=headers,
                    )
                    response.raise_for_status()
                    pages += 1
                    cursor = response.headers.get(NEXT_PAGE)
                    if not cursor:
                        break
        seconds = time.perf_counter() - began
    Path(out).write_text(json.dumps({"seconds": seconds, "rows": rows, "pages": pages}))


def bench_backfill(work: Path, devices: int, days: int, repeat: int) -> list[Figure]:
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "duckpond.testing.hydrovu_server",
            "--devices",
            str(devices),
            "--days",
            str(days),
            "--interval",
            "900",
            "--latency",
            str(LATENCY),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert server.stdout is not None
        url, client_id, secret = server.stdout.readline().split()
        seen: dict[str, dict[str, float]] = {}
        rss: list[float] = []

        def side(mode: str) -> float:
            out = work / f"{mode}.json"
            run: ChildRun = run_child(
                [PYTHON, __file__, "--child", mode, url, client_id, secret, str(devices), str(out)]
            )
            if mode == "collect":
                rss.append(run.max_rss_mb)
            seen[mode] = json.loads(out.read_text())
            return float(seen[mode]["seconds"])

        samples = interleaved(
            {"collect": lambda: side("collect"), "bare": lambda: side("bare")},
            repeat=repeat,
            warmup=0,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    ours, bare = median(samples["collect"]), median(samples["bare"])
    rows, pages = int(seen["collect"]["rows"]), int(seen["collect"]["pages"])
    assert pages == seen["bare"]["pages"], (pages, seen["bare"]["pages"])
    note = (
        f"{devices} devices, {rows:,} timestamps, {pages:,} pages, {LATENCY * 1000:.0f} ms latency"
    )
    return [
        Figure(
            "hv-fill",
            "HydroVu backfill, concurrency 4, into wide Arrow tables",
            ours,
            "s",
            baseline=bare,
            baseline_label="bare sequential page loop",
            target="<= 0.5x",
            met=ours <= 0.5 * bare,
            note=note,
            samples=samples["collect"],
        ),
        Figure(
            "hv-mem",
            "HydroVu backfill peak RSS (collecting process)",
            max(rss),
            "MB",
            target="< 300 MB",
            met=max(rss) < 300,
            note=note,
        ),
    ]


RESOURCE = """\
apiVersion: duckpond/v1
kind: HydroVu
name: bench
spec:
  client_id: ${{env:HV_BENCH_ID}}
  client_secret: ${{env:HV_BENCH_SECRET}}
  base_url: {url}
  since: 2024-01-01
  devices:
{devices}
"""


def start_server(devices: int, days: int) -> tuple[subprocess.Popen[str], list[str]]:
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "duckpond.testing.hydrovu_server",
            "--devices",
            str(devices),
            "--days",
            str(days),
            "--latency",
            str(LATENCY),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert server.stdout is not None
    return server, server.stdout.readline().split()


def bench_routine(work: Path, devices: int, repeat: int) -> list[Figure]:
    server, (url, client_id, secret) = start_server(devices, days=10)
    try:
        pond = work / "pond"
        env = child_env(POND=str(pond), HV_BENCH_ID=client_id, HV_BENCH_SECRET=secret)
        listed = "\n".join(f"    - {{name: D{i}, id: {FIRST_ID + i}}}" for i in range(devices))
        doc = work / "bench.yaml"
        doc.write_text(RESOURCE.format(url=url, devices=listed))
        for argv in (["init"], ["apply", "-f", str(doc)], ["run"]):
            subprocess.run([POND_BIN, *argv], env=env, check=True, capture_output=True)
        runs = [run_child([POND_BIN, "run"], env=env) for _ in range(repeat)]
    finally:
        server.terminate()
        server.wait(timeout=10)
    seconds = median([r.seconds for r in runs])
    return [
        Figure(
            "hv-noop",
            f"pond run, HydroVu, {devices} devices with nothing new (whole process)",
            seconds,
            "s",
            target="< 2 s",
            met=seconds < 2,
            note=f"{LATENCY * 1000:.0f} ms latency",
            samples=[r.seconds for r in runs],
            cpu=median([r.cpu_seconds for r in runs]),
        )
    ]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    args = parse_args(__doc__ or "")
    quick = args.quick
    header("hydrovu" + (" (quick)" if quick else ""))
    figures = Figures()
    with workdir("hydrovu") as work:
        if selected(args, "backfill"):
            if quick:
                figures.add(bench_backfill(work, devices=4, days=60, repeat=1))
            else:
                figures.add(bench_backfill(work, devices=10, days=365, repeat=3))
        if selected(args, "routine"):
            figures.add(bench_routine(work, devices=10, repeat=3 if quick else 7))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
