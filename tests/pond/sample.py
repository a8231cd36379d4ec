"""A small pond with every kind of stored content, for integrity and maintenance tests."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa

from duckpond import Pond


def series_frame(day: int, rows: int = 24) -> pa.Table:
    start = 1_735_689_600_000_000 + day * 86_400_000_000  # 2025-01-01 UTC, in microseconds
    times = pa.array([start + h * 3_600_000_000 for h in range(rows)], pa.timestamp("us", "UTC"))
    return pa.table({"timestamp": times, "v": [float(day * 100 + h) for h in range(rows)]})


def build(path: Path, *, rounds: int = 6, seed: int = 7) -> Pond:
    """Init, then ``rounds`` rounds of commits: a series version, an inline file
    rewritten, a blob file rewritten, a file created and one removed; a
    compaction with a checkpoint in the middle, so every kind of oplog file exists."""
    rng = random.Random(seed)
    pond = Pond.init(path, command=["test", "init"])
    pond.mkdir("/raw", "/data", "/tmp")
    for r in range(rounds):
        pond.write_series("/data/a.series", series_frame(r))
        pond.write_bytes("/raw/notes.txt", f"round {r}\n".encode())
        pond.write_bytes("/raw/big.bin", rng.randbytes(70_000 + r))
        pond.write_bytes(f"/tmp/t{r}.txt", f"scratch {r}".encode())
        if r:
            pond.remove(f"/tmp/t{r - 1}.txt")
        if r == rounds // 2:
            pond.persistence.maintain()
    pond.symlink("/raw/notes.txt", "/notes")
    return pond
