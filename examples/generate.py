"""Generate the bundled example: three sites shaped like HydroVu exports.

Wide CSVs, one row per 15 minutes, a ``timestamp`` column (UTC, ISO 8601)
and Float64 columns named ``Parameter.unit``.  Three months, split by month
so that each site's series grows one version per month.  Readings are
deterministic (a seeded random walk over daily and seasonal cycles) with a
few gaps where an instrument was out of the water.  A conductivity sensor is
added at one site in the third month, so the series gains a column.

    python examples/generate.py OUT_DIR
"""

from __future__ import annotations

import csv
import math
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2025, 4, 1, tzinfo=UTC)
MONTHS = 3
STEP = timedelta(minutes=15)
SITES = {
    "silver-lake": {"temp": 11.0, "do": 9.1, "depth": 3.2},
    "redwood-creek": {"temp": 9.0, "do": 10.4, "depth": 0.8},
    "harbor-mouth": {"temp": 12.5, "do": 7.8, "depth": 6.5},
}
# (site, start, hours) where the instrument was out of the water.
GAPS = [
    ("silver-lake", datetime(2025, 4, 17, 6, tzinfo=UTC), 30),
    ("redwood-creek", datetime(2025, 5, 9, 0, tzinfo=UTC), 72),
    ("harbor-mouth", datetime(2025, 6, 2, 12, tzinfo=UTC), 8),
]


def month_start(index: int) -> datetime:
    year, month = START.year, START.month + index
    return START.replace(year=year + (month - 1) // 12, month=(month - 1) % 12 + 1)


def in_gap(site: str, when: datetime) -> bool:
    return any(
        s == site and start <= when < start + timedelta(hours=hours) for s, start, hours in GAPS
    )


def generate(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for site_index, (site, base) in enumerate(SITES.items()):
        rng = random.Random(1000 + site_index)
        drift = 0.0
        for m in range(MONTHS):
            begin, end = month_start(m), month_start(m + 1)
            with_conductivity = site == "harbor-mouth" and m == MONTHS - 1
            header = ["timestamp", "Temperature.C", "Dissolved Oxygen.mg/L", "Depth.m"]
            if with_conductivity:
                header.append("Specific Conductivity.uS/cm")
            path = out_dir / f"{site}-{begin:%Y-%m}.csv"
            with path.open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                when = begin
                while when < end:
                    drift += rng.gauss(0, 0.02)
                    if not in_gap(site, when):
                        day = 2 * math.pi * (when.hour * 60 + when.minute) / 1440
                        season = (when - START).days / 90
                        temp = base["temp"] + 3 * season + 1.5 * math.sin(day - 2) + drift
                        do = base["do"] - 0.25 * (temp - base["temp"]) + rng.gauss(0, 0.05)
                        depth = base["depth"] + 0.1 * math.sin(day * 2) + rng.gauss(0, 0.01)
                        row = [
                            when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            round(temp, 3),
                            round(do, 3),
                            round(depth, 3),
                        ]
                        if with_conductivity:
                            row.append(round(41000 + 500 * math.sin(day) + rng.gauss(0, 20), 1))
                        writer.writerow(row)
                    when += STEP
            written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples/data")
    for p in generate(target):
        print(p)
