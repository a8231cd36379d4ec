"""The disk cache under ``$POND/cache``: reuse, invalidation, deletion, time travel, secrets.

``Tally`` (tests/pipeline/conftest.py) records each computation in
``COMPUTED``; a read served by the cache adds nothing there.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond import Pond

from ..cli.conftest import write
from . import conftest as pipeline_conftest
from .conftest import PondRunner, doc, yaml_file


def tally(pond: PondRunner, path: str, *args: str) -> tuple[int, int]:
    rows = pond.json("cat", path, *args)
    return rows[0]["files"], rows[0]["bytes"]


@pytest.fixture
def two_tallies(pond: PondRunner, host: Path, tmp_path: Path) -> PondRunner:
    """/a and /b with one file each, and a Tally over each."""
    pond.ok("mkdir", "/a", "/b")
    pond.ok("copy", str(write(host / "one.txt", "1")), "/a/one.txt")
    pond.ok("copy", str(write(host / "two.txt", "22")), "/b/two.txt")
    f = yaml_file(
        tmp_path / "t.yaml",
        doc("Tally", "ta", "{pattern: '/a/*'}"),
        doc("Tally", "tb", "{pattern: '/b/*'}"),
    )
    pond.ok("apply", "-f", str(f))
    pipeline_conftest.COMPUTED.clear()
    return pond


def test_second_read_is_a_lookup(two_tallies: PondRunner) -> None:
    pond = two_tallies
    assert tally(pond, "/tally/ta") == (1, 1)
    assert pipeline_conftest.COMPUTED == ["/tally/ta"]
    for _ in range(3):
        assert tally(pond, "/tally/ta") == (1, 1)
    assert pipeline_conftest.COMPUTED == ["/tally/ta"]
    entries = [p for p in (pond.dir / "cache").glob("*/*") if p.is_dir()]
    assert len(entries) == 1
    inputs = json.loads((entries[0] / "manifest.json").read_text())["body"]["inputs"]
    assert all(isinstance(n, str) and isinstance(v, int) for n, v in inputs)
    assert (entries[0] / "data.parquet").exists()


def test_a_new_input_version_invalidates_only_what_reads_it(
    two_tallies: PondRunner, host: Path
) -> None:
    pond = two_tallies
    tally(pond, "/tally/ta")
    tally(pond, "/tally/tb")
    pipeline_conftest.COMPUTED.clear()
    # A new version of a file under /a: ta recomputes, tb is still a lookup.
    pond.ok("copy", str(write(host / "one.txt", "111")), "/a/one.txt")
    assert tally(pond, "/tally/ta") == (1, 3)
    assert tally(pond, "/tally/tb") == (1, 2)
    assert pipeline_conftest.COMPUTED == ["/tally/ta"]
    # A new file under /b: only tb.
    pond.ok("copy", str(write(host / "three.txt", "333")), "/b/three.txt")
    assert tally(pond, "/tally/ta") == (1, 3)
    assert tally(pond, "/tally/tb") == (2, 5)
    assert pipeline_conftest.COMPUTED == ["/tally/ta", "/tally/tb"]


def test_applying_another_resource_invalidates_nothing(
    two_tallies: PondRunner, tmp_path: Path
) -> None:
    pond = two_tallies
    tally(pond, "/tally/ta")
    f = yaml_file(tmp_path / "more.yaml", doc("Tally", "tc", "{pattern: '/c/*'}"))
    pond.ok("apply", "-f", str(f))
    pond.ok("rm", "/etc/resources/tc")
    assert tally(pond, "/tally/ta") == (1, 1)
    assert pipeline_conftest.COMPUTED == ["/tally/ta"]
    # Its own update does: a new configuration version.
    f = yaml_file(tmp_path / "t.yaml", doc("Tally", "ta", "{pattern: '/b/*'}"))
    pond.ok("apply", "-f", str(f))
    assert tally(pond, "/tally/ta") == (1, 2)
    assert pipeline_conftest.COMPUTED == ["/tally/ta", "/tally/ta"]


def test_superseded_entries_do_not_pile_up(two_tallies: PondRunner, host: Path) -> None:
    pond = two_tallies
    for i in range(6):
        pond.ok("copy", str(write(host / "one.txt", "x" * (i + 2))), "/a/one.txt")
        assert tally(pond, "/tally/ta") == (1, i + 2)
    assert len(pipeline_conftest.COMPUTED) == 6
    entries = [p for p in (pond.dir / "cache").glob("*/*") if p.is_dir()]
    assert len(entries) == 3
    # The newest is among them: the present is still a lookup.
    assert tally(pond, "/tally/ta") == (1, 7)
    assert len(pipeline_conftest.COMPUTED) == 6


def test_deleting_the_cache_loses_nothing_but_time(two_tallies: PondRunner, host: Path) -> None:
    import shutil

    pond = two_tallies
    assert tally(pond, "/tally/ta") == (1, 1)
    shutil.rmtree(pond.dir / "cache")
    assert tally(pond, "/tally/ta") == (1, 1)
    assert pipeline_conftest.COMPUTED == ["/tally/ta", "/tally/ta"]
    # A damaged entry is a miss, not an error.
    for data in (pond.dir / "cache").glob("*/*/data.parquet"):
        data.write_bytes(b"not parquet")
    assert tally(pond, "/tally/ta") == (1, 1)
    assert len(pipeline_conftest.COMPUTED) == 3


def test_time_travel_reads_and_caches_the_past_without_confusing_the_present(
    two_tallies: PondRunner, host: Path
) -> None:
    pond = two_tallies
    past = pond.json("log", "--limit", "1")[0]["txn_seq"]
    pond.ok("copy", str(write(host / "four.txt", "4444")), "/a/four.txt")
    # The past first: its entry is keyed by the inputs as they were.
    assert tally(pond, "/tally/ta", "--at-txn", str(past)) == (1, 1)
    assert tally(pond, "/tally/ta") == (2, 5)
    assert tally(pond, "/tally/ta", "--at-txn", str(past)) == (1, 1)
    assert tally(pond, "/tally/ta") == (2, 5)
    assert pipeline_conftest.COMPUTED == ["/tally/ta", "/tally/ta"]
    assert len([p for p in (pond.dir / "cache").glob("*/*") if p.is_dir()]) == 2


def test_an_edited_entry_is_not_served(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    """An entry rewritten as valid Parquet with other values fails its checksum: the
    output is computed again, not taken from the edited file."""
    pond.ok(
        "copy",
        "--format",
        "series",
        str(write(host / "a.csv", "timestamp,v\n2025-01-01T00:00:00Z,1\n")),
        "/a.series",
    )
    f = yaml_file(
        tmp_path / "d.yaml",
        doc(
            "SqlDerived",
            "d",
            "{inputs: {a: /a.series}, query: 'SELECT timestamp, v * 2 AS w FROM a'}",
        ),
    )
    pond.ok("apply", "-f", str(f))
    assert [r["w"] for r in pond.json("cat", "/sqlderived/d")] == [2]
    [entry] = (pond.dir / "cache").glob("*/*/data.parquet")
    table = pq.read_table(entry)
    pq.write_table(table.set_column(1, "w", pa.array([99])), entry)
    assert [r["w"] for r in pond.json("cat", "/sqlderived/d")] == [2]
    assert pq.read_table(entry).column("w").to_pylist() == [2]  # stored again
    # A new version of the input misses that entry.
    pond.ok(
        "copy",
        "--format",
        "series",
        str(write(host / "b.csv", "timestamp,v\n2025-01-02T00:00:00Z,5\n")),
        "/a.series",
    )
    assert [r["w"] for r in pond.json("cat", "/sqlderived/d")] == [2, 10]


def test_pond_api_counts_hits_and_stores(pond: PondRunner, tmp_path: Path) -> None:
    spec = (
        "{start: '2025-01-01T00:00:00Z', end: '2025-01-02T00:00:00Z', interval: 1h, "
        "points: [{name: x, components: [{type: sine}]}]}"
    )
    pond.ok("apply", "-f", str(yaml_file(tmp_path / "s.yaml", doc("Synthetic", "s", spec))))
    first = Pond.open(pond.dir)
    assert first.read_table("/synthetic/s").num_rows == 24
    assert (first.cache.stats.hits, first.cache.stats.stores) == (0, 1)
    second = Pond.open(pond.dir)
    table = second.read_table("/synthetic/s")
    assert table.equals(first.read_table("/synthetic/s"))
    assert (second.cache.stats.hits, second.cache.stats.stores) == (1, 0)


def test_nothing_is_cached_inside_a_transaction(pond: PondRunner, tmp_path: Path) -> None:
    spec = (
        "{start: '2025-01-01T00:00:00Z', end: '2025-01-01T05:00:00Z', interval: 1h, "
        "points: [{name: x, components: [{type: line, slope: 1}]}]}"
    )
    pond.ok("apply", "-f", str(yaml_file(tmp_path / "s.yaml", doc("Synthetic", "s", spec))))
    p = Pond.open(pond.dir)
    with p.transaction() as tx:
        tx.mkdir("/scratch")
        assert p.read_table("/synthetic/s").num_rows == 5
    assert p.cache.stats.stores == 0
    assert not list((pond.dir / "cache").glob("*/*/data.parquet"))


def test_secrets_reach_no_byte_of_the_pond_or_its_cache(
    pond: PondRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-Value-8f2d1c"
    monkeypatch.setenv("DERIV_TOKEN", secret)
    f = yaml_file(
        tmp_path / "v.yaml",
        doc("Vault", "vault", "{token: '${env:DERIV_TOKEN}'}"),
        doc(
            "SqlDerived",
            "seen",
            "{mode: table, inputs: {t: /tally/count}, query: 'SELECT files * 10 AS n FROM t'}",
        ),
        doc("Tally", "count", "{pattern: '/vault/vault/*'}"),
    )
    outputs = [pond.ok("apply", "-f", str(f)).output, pond.ok("run").output]
    outputs.append(pond.ok("cat", "/tally/count").output)
    outputs.append(pond.ok("cat", "/sqlderived/seen", "--format", "csv").output)
    assert outputs[-1].split() == ["n", "10"]
    outputs.append(pond.ok("describe", "/etc/resources/vault").output)
    outputs.append(pond.ok("query", "SELECT * FROM runs").output)
    assert list((pond.dir / "cache").glob("*/*/manifest.json"))
    needles = [secret.encode(), secret.encode("utf-16-le")]
    for path in pond.dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), f"the secret is in {path}"
    for text in outputs:
        assert secret not in text


def test_a_cached_table_reads_back_equal(pond: PondRunner, tmp_path: Path) -> None:
    spec = (
        "{start: '2025-01-01T00:00:00Z', end: '2025-01-08T00:00:00Z', interval: 1m, "
        "points: [{name: x, components: [{type: noise, seed: 3}]}, "
        "{name: y, components: [{type: square, period: 1h}]}]}"
    )
    pond.ok("apply", "-f", str(yaml_file(tmp_path / "s.yaml", doc("Synthetic", "s", spec))))
    fresh = pond.cat_bytes("/synthetic/s", "--format", "parquet")
    cached = pond.cat_bytes("/synthetic/s", "--format", "parquet")
    assert pq.read_table(io.BytesIO(fresh)).equals(pq.read_table(io.BytesIO(cached)))
    assert pq.read_table(io.BytesIO(cached)).num_rows == 7 * 24 * 60
