"""Nothing under ``$POND/cache`` is trusted: damaged, swapped or moved entries are dropped.

Every kind of file the cache writes (an entry's manifest, Parquet table, event-range
meta, file bytes, directory listing, the key marker; a Reduce state's ``state.json`` and
Arrow partials) is truncated, bit-flipped or replaced by another entry's file of the same
kind, and every output read again must equal a cold computation (no cache at all).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond import Pond
from duckpond.pipeline.cache import host_version

HOUR = 3600

DOCS = """\
apiVersion: duckpond/v1
kind: SqlDerived
name: double
spec:
  inputs: {a: /raw/a.series}
  query: SELECT timestamp, v * 2 AS w FROM a
---
apiVersion: duckpond/v1
kind: SqlDerived
name: each
spec:
  inputs: {s: /raw/*.series}
  query: SELECT timestamp, v + 1 AS v1 FROM s
  per_match: true
---
apiVersion: duckpond/v1
kind: Reduce
name: down
spec:
  in_pattern: /raw/*.series
  resolutions: [1h, 6h]
  aggregations: [{type: avg}, {type: max}]
---
apiVersion: duckpond/v1
kind: Template
name: pages
spec:
  in_pattern: /raw/*.series
  out_pattern: $0.txt
  template_file: /templates/page.j2
"""


def series(start: datetime, count: int, scale: float) -> pa.Table:
    times = [start + timedelta(minutes=10 * i) for i in range(count)]
    return pa.table(
        {
            "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            "v": pa.array([scale * i for i in range(count)], pa.float64()),
        }
    )


@pytest.fixture
def pond_dir(tmp_path: Path) -> Path:
    path = tmp_path / "pond"
    pond = Pond.init(path)
    pond.mkdir("/raw", "/templates")
    pond.write_bytes("/templates/page.j2", b"{{ output.name }} {{ output.rows }}")
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    pond.write_series("/raw/a.series", series(t0, 100, 1.0))
    pond.write_series("/raw/b.series", series(t0 + timedelta(hours=5), 80, -2.5))
    docs = tmp_path / "d.yaml"
    docs.write_text(DOCS)
    pond.pipeline.apply([docs])
    pond.close()
    return path


def outputs(pond_dir: Path) -> dict[str, object]:
    """Every output of the four derivations, read in a fresh handle."""
    pond = Pond.open(pond_dir)
    try:
        found: dict[str, object] = {}
        for parent in ("/sqlderived/each/*", "/reduce/down/*/*", "/template/pages/*"):
            found[parent] = sorted(np.path for np in pond.list(parent))
        for path in ["/sqlderived/double", *found["/sqlderived/each/*"]]:  # type: ignore[misc]
            found[path] = pond.read_table(path).to_pylist()
        for path in found["/reduce/down/*/*"]:  # type: ignore[union-attr]
            found[path] = pond.read_table(path).to_pylist()
        for path in found["/template/pages/*"]:  # type: ignore[union-attr]
            found[path] = pond.read_bytes(path)
        return found
    finally:
        pond.close()


def cold(pond_dir: Path) -> dict[str, object]:
    shutil.rmtree(pond_dir / "cache", ignore_errors=True)
    return outputs(pond_dir)


def truncate(path: Path, rng: random.Random, others: list[bytes]) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(len(data))] if data else b"x")


def bit_flip(path: Path, rng: random.Random, others: list[bytes]) -> None:
    data = bytearray(path.read_bytes())
    if not data:
        path.write_bytes(b"\0")
        return
    at = rng.randrange(len(data))
    data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def swap(path: Path, rng: random.Random, others: list[bytes]) -> None:
    """Another entry's file of the same kind put in this one's place."""
    different = [o for o in others if o != path.read_bytes()]
    assert different, f"no other {path.name} to swap in"
    path.write_bytes(rng.choice(different))


def key_dirs(pond_dir: Path) -> dict[str, Path]:
    """Each cache key directory by the pond path its ``key.json`` names."""
    return {
        json.loads((marker).read_text())["path"]: marker.parent
        for marker in (pond_dir / "cache").glob("*/key.json")
    }


def kind_of(path: Path) -> str:
    return "*.arrow" if path.suffix == ".arrow" else path.name


KINDS = [
    "manifest.json",
    "data.parquet",
    "meta.json",
    "data.bin",
    "listing.json",
    "key.json",
    "state.json",
    "*.arrow",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("damage", [truncate, bit_flip, swap], ids=lambda f: f.__name__)
def test_damaged_cache_files_are_never_served(
    pond_dir: Path, kind: str, damage: Callable[[Path, random.Random, list[bytes]], None]
) -> None:
    expected = cold(pond_dir)
    assert outputs(pond_dir) == expected  # warm: now every kind of file exists
    files = sorted(p for p in (pond_dir / "cache").rglob("*") if p.is_file())
    of_kind = [p for p in files if kind_of(p) == kind]
    assert of_kind, f"the cache holds no {kind}"
    rng = random.Random(f"{kind}-{damage.__name__}")
    originals = {p: p.read_bytes() for p in of_kind}
    for target in of_kind:
        damage(target, rng, [data for p, data in originals.items() if p != target])
    assert outputs(pond_dir) == expected
    # And again, from whatever the damaged read left behind.
    assert outputs(pond_dir) == expected


def test_a_damaged_entry_is_dropped_and_stored_again(pond_dir: Path) -> None:
    expected = cold(pond_dir)
    [entry] = key_dirs(pond_dir)["/sqlderived/double"].glob("*/data.parquet")
    content = entry.read_bytes()
    bit_flip(entry, random.Random(1), [])
    pond = Pond.open(pond_dir)
    assert pond.read_table("/sqlderived/double").to_pylist() == expected["/sqlderived/double"]
    assert pond.cache.stats.dropped == 1
    assert pond.cache.stats.stores == 1
    pond.close()
    [again] = key_dirs(pond_dir)["/sqlderived/double"].glob("*/data.parquet")
    assert again.read_bytes() == content


def test_an_entry_moved_under_another_key_is_not_served(pond_dir: Path) -> None:
    """Swap the whole entries of two per_match children: both inputs are current, so
    only the key each entry was written for tells them apart."""
    expected = cold(pond_dir)
    outputs(pond_dir)
    dirs = key_dirs(pond_dir)
    [a] = [p for p in dirs["/sqlderived/each/a"].iterdir() if p.is_dir()]
    [b] = [p for p in dirs["/sqlderived/each/b"].iterdir() if p.is_dir()]
    a.rename(b.parent / a.name)
    b.rename(a.parent / b.name)
    pond = Pond.open(pond_dir)
    for path in ("/sqlderived/each/a", "/sqlderived/each/b"):
        assert pond.read_table(path).to_pylist() == expected[path]
    assert pond.cache.stats.dropped == 2
    pond.close()


def test_reduce_state_of_one_series_under_another_key_is_dropped(pond_dir: Path) -> None:
    expected = cold(pond_dir)
    states = sorted((pond_dir / "cache" / "reduce-state").iterdir())
    assert len(states) == 2  # one per matched series
    # Put a's whole state where b's is kept (same file names, another match's partials).
    first, second = states
    shutil.rmtree(second)
    shutil.copytree(first, second)
    for entry in (pond_dir / "cache").iterdir():
        if entry.name != "reduce-state":
            shutil.rmtree(entry)  # the Reduce outputs must come from the states
    assert outputs(pond_dir) == expected


def test_a_sqlderived_over_host_files_is_keyed_by_what_they_hold(tmp_path: Path) -> None:
    data = tmp_path / "host"
    data.mkdir()
    one = data / "one.csv"
    one.write_text("timestamp,v\n2025-01-01T00:00:00Z,1\n")
    pond = Pond.init(tmp_path / "pond")
    docs = tmp_path / "d.yaml"
    docs.write_text(
        "apiVersion: duckpond/v1\nkind: SqlDerived\nname: h\nspec:\n"
        f"  inputs: {{c: 'host+csv://{data}/*.csv'}}\n"
        "  query: SELECT sum(v) AS total, count(*) AS n FROM c\n  mode: table\n"
    )
    pond.pipeline.apply([docs])
    pond.close()

    def read() -> tuple[int, int]:
        handle = Pond.open(tmp_path / "pond")
        row = handle.read_table("/sqlderived/h").to_pylist()[0]
        handle.close()
        return row["total"], row["n"]

    assert read() == (1, 1)
    assert read() == (1, 1)
    # The same size and mtime, other content: the hash sees it.
    stat = one.stat()
    one.write_text("timestamp,v\n2025-01-01T00:00:00Z,7\n")
    os.utime(one, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert read() == (7, 1)
    # A file added to the glob, then one removed.
    (data / "two.csv").write_text("timestamp,v\n2025-01-02T00:00:00Z,5\n")
    assert read() == (12, 2)
    one.unlink()
    assert read() == (5, 1)
    # Unchanged host files: a lookup.
    handle = Pond.open(tmp_path / "pond")
    handle.read_table("/sqlderived/h")
    assert handle.cache.stats.hits == 1
    handle.close()


def test_host_version_changes_with_content_not_with_reads(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    first = host_version(str(f))
    assert host_version(str(f)) == first
    f.write_text("a\n2\n")
    assert host_version(str(f)) != first
    assert host_version(str(tmp_path / "*.csv")) != host_version(str(tmp_path / "*.txt"))


def test_a_damaged_vega_bundle_is_made_again(tmp_path: Path) -> None:
    """The site's script bundle, kept per user: a truncated copy is never published."""
    from duckpond.pipeline.site.build import vega_bundle

    script, version = vega_bundle(tmp_path)
    [kept] = tmp_path.glob("*.js")
    assert vega_bundle(tmp_path) == (script, version)
    kept.write_bytes(kept.read_bytes()[:1000])
    assert vega_bundle(tmp_path) == (script, version)
    assert kept.read_text(encoding="utf-8") == script
