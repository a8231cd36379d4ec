"""A pond with a bit of everything, and a snapshot that says what "reads exactly as" means."""

from __future__ import annotations

import hashlib
import random
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa

from duckpond import Pond

SYNTH = textwrap.dedent(
    """\
    apiVersion: duckpond/v1
    kind: Synthetic
    name: demo
    spec:
      start: '2025-03-01T00:00:00Z'
      end: '2025-03-02T00:00:00Z'
      interval: 10m
      points:
        - {name: wave, components: [{type: sine, amplitude: 2, period: 6h}]}
    """
)


def backup_doc(name: str, url: str, **extra: str) -> str:
    lines = [
        "apiVersion: duckpond/v1",
        "kind: Backup",
        f"name: {name}",
        "spec:",
        f"  url: {url}",
        *(f"  {k}: {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def apply_text(pond: Pond, tmp: Path, text: str) -> None:
    doc = tmp / f"doc-{hashlib.sha256(text.encode()).hexdigest()[:8]}.yaml"
    doc.write_text(text)
    pond.pipeline.apply([str(doc)])


def series(day: int, rows: int = 24) -> pa.Table:
    import pandas as pd

    return pa.Table.from_pandas(
        pd.DataFrame(
            {
                "timestamp": pd.date_range(f"2025-06-{day:02d}", periods=rows, freq="h", tz="UTC"),
                "temp": [float(day * 100 + i) for i in range(rows)],
            }
        ),
        preserve_index=False,
    )


def rich_pond(path: Path, tmp: Path, *, transactions: int = 50, seed: int = 7) -> Pond:
    """Files, tables, a multi-version series, large blobs (one shared), symlinks,
    a derivation resource and its dynamic output; ``transactions`` commits or more."""
    rng = random.Random(seed)
    pond = Pond.init(path)
    pond.mkdir("/raw", "/data", "/links", parents=True)
    shared = rng.randbytes(300_000)
    pond.write_bytes("/raw/big-a.bin", shared)
    pond.write_bytes("/raw/big-b.bin", shared)  # the same content: one blob
    pond.write_bytes("/raw/big-c.bin", rng.randbytes(1_500_000))
    pond.write_table("/data/table", pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]}))
    pond.symlink("/raw/big-a.bin", "/links/a")
    pond.symlink("../data/table", "/links/rel")
    apply_text(pond, tmp, SYNTH)
    day = 1
    while pond.last_txn < transactions:
        step = pond.last_txn % 3
        if step == 0:
            pond.write_series("/data/temps.series", series(day))
            day += 1
        elif step == 1:
            pond.write_bytes("/raw/notes.txt", f"note {pond.last_txn}\n".encode())
        else:
            pond.write_bytes(f"/raw/small-{pond.last_txn}.txt", rng.randbytes(200))
    pond.write_bytes("/raw/big-a.bin", rng.randbytes(100_000))  # a second blob version
    return pond


def snapshot(pond_dir: Path, at_txn: int | None = None) -> dict[str, Any]:
    """Every path, entry type, version and byte (hashes), the log, and computed outputs."""
    pond = Pond.open(pond_dir, at_txn=at_txn)
    entries: dict[str, Any] = {}
    for np in pond.list("/**", all=True):
        entry = pond.entry(np)
        item: dict[str, Any] = {"type": entry.type, "version": entry.version}
        if entry.type.startswith("file:") or entry.type == "symlink":
            item["versions"] = [(v.version, v.sha256, v.size) for v in pond.history(np.path)]
        if entry.type in ("file:data", "file:table", "file:series"):
            item["bytes"] = hashlib.sha256(pond.read_bytes(np.path)).hexdigest()
        entries[np.path] = item
    computed = pond.read_table("/synthetic/demo") if pond.root.exists("/synthetic/demo") else None
    out = {
        "last_txn": pond.last_txn,
        "entries": entries,
        "log": [(t.txn_seq, t.command, t.timestamp) for t in pond.log()],
        "computed": None if computed is None else computed.to_pylist(),
        "pond_id": pond.pond_id,
    }
    pond.close()
    return out
