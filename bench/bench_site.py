"""Site benchmarks: building the static site through Reduce, and a chart page's first view.

    .venv/bin/python bench/bench_site.py [--quick] [--json FILE] [--only build,page,pond]

- build: 3 sites x 10 parameters x 2 years of 15-minute readings (2.1M values in 210k
  rows, as Parquet files) reduced by ``duckpond.pipeline.timeseries.reduce_full`` to 15m,
  1h, 6h and 1d with avg/min/max, then ``build_site``; one whole process (target under
  30 s). The Vega bundle cache is warmed first: vl-convert makes it once per version
  (some 4-9 s), later builds copy it.
- page: a site page (10 charts) and a parameter page (3 charts) in headless Chromium
  (Debian's ``/usr/bin/chromium``), served by http.server on 127.0.0.1: the bytes loaded
  for the first view (document, script, style and data; target at most 2 MB) and the time
  from navigation until every chart is drawn (the page records it).

- pond: the same readings through a pond, every step a ``pond`` process: ``pond init``,
  ``pond copy --format series`` of each site's file (one version per site holding both
  years), ``pond apply`` of a ``Reduce`` (``/data/*.series`` to 1h, 6h and 1d,
  avg/min/max) and a ``Site`` charting its outputs; then ``pond site build`` timed three
  ways: the first build (``$POND/cache`` deleted before each run: every Reduce output
  computed from the raw rows; target under 30 s), the rebuild after ``pond copy`` appended
  one new day to one site's series as a new version (Reduce updates incrementally; target
  under 5 s), and a rebuild with nothing new. The Vega bundle cache is warmed first.
"""

from __future__ import annotations

import functools
import http.server
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harness import (
    POND_BIN,
    PYTHON,
    REDUCE_AND_SITE,
    Figure,
    Figures,
    child_env,
    header,
    median,
    parse_args,
    run_child,
    selected,
    workdir,
    write_json,
)

SITES = ("North", "Harbor", "South")
PARAMS = [
    "Temperature.C",
    "Salinity.psu",
    "Conductivity.uS",
    "DissolvedOxygen.mgL",
    "pH.pH",
    "Turbidity.NTU",
    "Depth.m",
    "Chlorophyll.ugL",
    "Pressure.kPa",
    "ORP.mV",
]
STEP_S = 900
T0_S = 1_672_531_200  # 2023-01-01T00:00Z
RESOLUTIONS = ["15m", "1h", "6h", "1d"]

BUILD = """\
import sys
from pathlib import Path

import pyarrow.parquet as pq

from duckpond.pipeline.site import ChartGroup, SeriesData, SiteOptions, build_site
from duckpond.pipeline.timeseries import ReduceConfig, outputs, reduce_full

config = ReduceConfig.parse(sys.argv[3].split(","), ["avg", "min", "max"])
series = []
for path in sorted(Path(sys.argv[1]).glob("*.parquet")):
    reduced = outputs(reduce_full(config, pq.ParquetFile(path).iter_batches()))
    series.append(SeriesData(path.stem, f"/reduce/{path.stem}", reduced))
report = build_site(
    Path(sys.argv[2]), SiteOptions(title="Bench waters"), [ChartGroup(series=series)]
)
print(report.charts, report.data_files, report.points)
"""


def write_inputs(directory: Path, days: int) -> int:
    """One Parquet file per site of 15-minute readings; returns the values written."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = days * 86_400 // STEP_S
    t = T0_S + np.arange(rows, dtype=np.int64) * STEP_S
    rng = np.random.default_rng(7)
    for n, site in enumerate(SITES):
        columns: dict[str, Any] = {
            "timestamp": pa.array(t * 1_000_000).cast(pa.timestamp("us", tz="UTC"))
        }
        for i, name in enumerate(PARAMS):
            level = 10 + 5 * i + n
            season = 3 * np.sin(2 * math.pi * t / 31_557_600 + i)
            day = np.sin(2 * math.pi * t / 86_400)
            values = level + season + day + rng.normal(0, 0.3, rows)
            # A week without readings in each series: gaps show as gaps.
            gap = (t >= T0_S + (100 + 30 * i) * 86_400) & (t < T0_S + (107 + 30 * i) * 86_400)
            columns[name] = pa.array(np.where(gap, np.nan, values))
        table = pa.table(columns)
        keep = pa.array(~np.isnan(table.column(PARAMS[0]).to_numpy()))
        pq.write_table(table.filter(keep), directory / f"{site}.parquet")
    return rows * len(SITES) * len(PARAMS)


def bench_build(tmp: Path, days: int, repeat: int) -> list[Figure]:
    inputs = tmp / "inputs"
    values = write_inputs(inputs, days)
    cache = tmp / "xdg-cache"
    env = child_env(XDG_CACHE_HOME=str(cache))
    argv = [PYTHON, "-c", BUILD, str(inputs), str(tmp / "www"), ",".join(RESOLUTIONS)]
    run_child(argv, env=env)  # warms the Vega bundle cache
    samples = [run_child(argv, env=env) for _ in range(repeat)]
    value = median([s.seconds for s in samples])
    return [
        Figure(
            "site-build",
            f"site build, {len(SITES)} sites x {len(PARAMS)} parameters x {days} days of "
            f"15-min readings ({values / 1e6:.1f}M values) through Reduce (process)",
            value,
            "s",
            target="under 30 s",
            met=value < 30,
            samples=[s.seconds for s in samples],
            cpu=median([s.cpu_seconds for s in samples]),
            note=f"resolutions {','.join(RESOLUTIONS)}; peak RSS {max(s.max_rss_mb for s in samples):.0f} MB",
        )
    ]


def write_day(directory: Path, days: int, day: int, site: str) -> Path:
    """One day (``day``, 0-based from 2023-01-01) of one site's readings, as Parquet: the
    rows ``write_inputs`` would write for that day in a longer run."""
    more = directory / f"more-{day}"
    write_inputs(more, day + 1)
    table = pq.read_table(more / f"{site}.parquet")
    start = pa.scalar((T0_S + day * 86_400) * 1_000_000, pa.timestamp("us", tz="UTC"))
    keep = pc.greater_equal(table.column("timestamp"), start)
    path = directory / f"{site}-day{day}.parquet"
    pq.write_table(table.filter(keep), path)
    for extra in more.iterdir():
        extra.unlink()
    more.rmdir()
    return path


def bench_pond(tmp: Path, days: int, repeat: int) -> list[Figure]:
    import shutil

    inputs = tmp / "inputs"
    if not inputs.exists():
        write_inputs(inputs, days)
    pond_dir = tmp / "pond"
    out = tmp / "www-pond"
    env = child_env(POND=str(pond_dir), XDG_CACHE_HOME=str(tmp / "xdg-cache"))

    def pond(*argv: str) -> Any:
        return run_child([POND_BIN, *argv], env=env)

    pond("init")
    pond("mkdir", "/data")
    rows = 0
    for site in SITES:
        rows += pq.ParquetFile(inputs / f"{site}.parquet").metadata.num_rows
        pond("copy", "--format", "series", str(inputs / f"{site}.parquet"), f"/data/{site}.series")
    resources = tmp / "resources.yaml"
    resources.write_text(REDUCE_AND_SITE.format(title="Bench waters", charts="Sites", out=out))
    pond("apply", "-f", str(resources))
    build = ("site", "build", "web")
    pond(*build)  # warms the Vega bundle cache, as the build figure does
    first = []
    for _ in range(repeat):
        shutil.rmtree(pond_dir / "cache", ignore_errors=True)
        first.append(pond(*build))
    new, none = [], []
    for r in range(repeat):
        day = write_day(tmp, days, days + r, SITES[0])
        pond("copy", "--format", "series", str(day), f"/data/{SITES[0]}.series")
        new.append(pond(*build))
        none.append(pond(*build))
    shape = f"{len(SITES)} series x {len(PARAMS)} columns, {rows:,} rows, one version per site"

    def figure(key: str, label: str, runs: list[Any], limit: float | None, note: str) -> Figure:
        value = median([s.seconds for s in runs])
        return Figure(
            key,
            label,
            value,
            "s",
            target=f"under {limit:.0f} s" if limit else "",
            met=value < limit if limit else None,
            samples=[s.seconds for s in runs],
            cpu=median([s.cpu_seconds for s in runs]),
            note=f"{note}; peak RSS {max(s.max_rss_mb for s in runs):.0f} MB",
        )

    return [
        figure(
            "site-pond-first",
            "pond site build: first build, empty $POND/cache, Reduce 1h,6h,1d (process)",
            first,
            30,
            shape,
        ),
        figure(
            "site-pond-new",
            "pond site build after one new day appended to one series (process)",
            new,
            5,
            f"a new version of /data/{SITES[0]}.series each run",
        ),
        figure(
            "site-pond-none",
            "pond site build again, nothing new (process)",
            none,
            None,
            "Reduce outputs from the cache",
        ),
    ]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def first_view(driver: Any, url: str) -> tuple[int, float, int]:
    """Bytes loaded until every chart is drawn, the time it took (s), and the chart count."""
    driver.get(url)
    deadline = time.monotonic() + 60
    script = (
        "const cs = Array.from(document.querySelectorAll('.chart'));"
        "return cs.length && cs.every(c => c.dataset.drawnAt) ?"
        " cs.map(c => +c.dataset.drawnAt) : null;"
    )
    drawn = None
    while drawn is None and time.monotonic() < deadline:
        drawn = driver.execute_script(script)
        time.sleep(0.02)
    if drawn is None:
        raise RuntimeError(f"charts not drawn at {url}")
    sizes = driver.execute_script(
        "const nav = performance.getEntriesByType('navigation')[0];"
        "return [nav.encodedBodySize,"
        " ...performance.getEntriesByType('resource').map(r => r.encodedBodySize)];"
    )
    return sum(sizes), max(drawn) / 1000, len(drawn)


def bench_page(tmp: Path, days: int, repeat: int) -> list[Figure]:
    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        print("   page: skipped, Debian's chromium and chromium-driver are not installed")
        return []
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    www = tmp / "www"
    if not www.exists():
        write_inputs(tmp / "inputs", days)
        argv = [PYTHON, "-c", BUILD, str(tmp / "inputs"), str(www), ",".join(RESOLUTIONS)]
        run_child(argv, env=child_env(XDG_CACHE_HOME=str(tmp / "xdg-cache")))
    handler = functools.partial(_Quiet, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    figures: list[Figure] = []
    try:
        for key, page in (
            ("site-page", "sites/north.html"),
            ("param-page", "params/temperature-c.html"),
        ):
            sizes, times = [], []
            charts = 0
            for _ in range(repeat):
                options = webdriver.ChromeOptions()
                options.binary_location = "/usr/bin/chromium"
                for flag in (
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    f"--user-data-dir={tmp / f'profile-{time.monotonic_ns()}'}",
                    "--window-size=1280,900",
                ):
                    options.add_argument(flag)
                driver = webdriver.Chrome(
                    options=options, service=Service(executable_path="/usr/bin/chromedriver")
                )
                try:
                    size, seconds, charts = first_view(driver, base + page)
                finally:
                    driver.quit()
                sizes.append(size)
                times.append(seconds)
            mb = median(sizes) / 1e6
            figures.append(
                Figure(
                    f"{key}-bytes",
                    f"first view of a page of {charts} charts: bytes loaded (script + data)",
                    mb,
                    "MB",
                    target="at most 2 MB",
                    met=mb <= 2,
                    samples=[s / 1e6 for s in sizes],
                    note=f"{median(sizes) / 1024:.0f} KiB",
                )
            )
            figures.append(
                Figure(
                    f"{key}-drawn",
                    f"first view of a page of {charts} charts: until every chart is drawn "
                    "(headless Chromium, fresh profile)",
                    median(times),
                    "s",
                    samples=times,
                )
            )
    finally:
        server.shutdown()
        server.server_close()
    return figures


def main() -> None:
    args = parse_args(__doc__ or "")
    days = 90 if args.quick else 730
    repeat = 1 if args.quick else 3
    header(f"Site benchmarks ({days} days of 15-minute readings)")
    figures = Figures()
    with workdir("site") as tmp:
        if selected(args, "build"):
            figures.add(bench_build(tmp, days, repeat))
        if selected(args, "page"):
            figures.add(bench_page(tmp, days, repeat))
        if selected(args, "pond"):
            figures.add(bench_pond(tmp, days, repeat))
    write_json(args.json, figures)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
