"""maintain --keep consolidates a series' versions before the window into one: every kept
transaction reads the same rows and bytes, the content root stays, and the chain digest
a consolidated version records stands for the versions it replaced."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from duckpond import Pond
from duckpond.cli.main import cli
from duckpond.tlogfs import content_root
from duckpond.tlogfs.consolidation import CHAIN_START, CONSOLIDATED, series_chain

from .test_maintain import pond_argv, roots

HOUR = 3_600_000_000
START = 1_735_689_600_000_000  # 2025-01-01 UTC, microseconds
KEEP = 8

REDUCE = """\
apiVersion: duckpond/v1
kind: Reduce
name: down
spec:
  in_pattern: /s/a.series
  resolutions: [1h, 6h]
  aggregations: [{type: avg}, {type: max}, {type: count}]
"""


def frame(hours: list[int], value: float) -> pa.Table:
    times = pa.array([START + h * HOUR for h in hours], pa.timestamp("us", "UTC"))
    return pa.table({"timestamp": times, "v": [value + h for h in hours]})


def build(path: Path, tmp: Path) -> Pond:
    """A series written in order, with late rows and rewrites of earlier hours (so versions
    overlap and newer rows win), one whose schema changes, a series never written in the
    window, and a Reduce over the first."""
    pond = Pond.init(path)
    pond.mkdir("/s")
    doc = tmp / "reduce.yaml"
    doc.write_text(REDUCE)
    plan = [
        ([0, 1, 2, 3], 0.0),
        ([4, 5, 6], 0.0),
        ([2, 3], 100.0),  # rewrites hours 2 and 3: these rows win from now on
        ([10, 11], 0.0),
        ([7, 8, 9], 0.0),  # late: between two earlier versions
        ([8, 9, 10, 11, 12], 200.0),  # overlaps both
        ([13], 0.0),
        ([12, 14], 300.0),
        ([15, 16], 0.0),
        ([3, 17], 400.0),
    ]
    for i, (hours, value) in enumerate(plan):
        pond.write_series("/s/a.series", frame(hours, value))
        pond.write_series("/s/quiet.series", frame([i], float(i)))
        if i < 4:
            table = frame([20 + i], 1.0)
            if i >= 2:
                table = table.append_column("extra", pa.array([i], pa.int64()))
            pond.write_series("/s/b.series", table)
        if i == 2:
            pond.pipeline.apply([str(doc)])
    for i, (hours, value) in enumerate(plan):
        pond.write_series("/s/a.series", frame([h + 30 for h in hours], value + 1000 * i))
        pond.write_bytes("/notes.txt", f"note {i}".encode())
    return pond


def readings(pond_dir: Path, txns: range) -> dict[int, dict[str, object]]:
    """What each transaction reads: every series as rows and as CSV bytes, a time range,
    SQL, and the Reduce's outputs."""
    found: dict[int, dict[str, object]] = {}
    runner = CliRunner()
    for txn in txns:
        seen: dict[str, object] = {}
        with Pond.open(pond_dir, at_txn=txn) as pond:
            for path in ("/s/a.series", "/s/b.series", "/s/quiet.series"):
                seen[path] = pond.read_table(path).to_pylist()
            seen["range"] = pond.read_table(
                "/s/a.series", start="2025-01-01T03:00Z", end="2025-01-01T11:00Z"
            ).to_pylist()
            sql = pond.sql('SELECT count(*) AS n, sum(v) AS s FROM "/s/a.series"')
            seen["sql"] = sql.to_pylist()
            reduced = [e.path for e in pond.list("/reduce/**") if e.path.endswith(".series")]
            for path in reduced:
                seen[path] = pond.read_table(path).to_pylist()
            if txn > 5:
                assert reduced, "the Reduce's outputs are read too"
        for path in ("/s/a.series", "/s/b.series"):
            out = runner.invoke(
                cli, ["--pond", str(pond_dir), "cat", path, "--at-txn", str(txn), "--format", "csv"]
            )
            assert out.exit_code == 0, out.output
            seen[f"csv {path}"] = hashlib.sha256(out.output.encode()).hexdigest()
        found[txn] = seen
    return found


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("consolidate")
    build(tmp / "pond", tmp).close()
    return tmp / "pond"


def copy_of(base: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(base, tmp_path / "pond")
    return tmp_path / "pond"


def test_every_kept_transaction_reads_the_same_after_consolidation(
    base: Path, tmp_path: Path
) -> None:
    pond_dir = copy_of(base, tmp_path)
    with Pond.open(pond_dir) as pond:
        last = pond.last_txn
        before_versions = {p: len(pond.history(p)) for p in ("/s/a.series", "/s/quiet.series")}
        heads = {p: pond.history(p)[-1] for p in ("/s/a.series", "/s/quiet.series")}
    first = last - KEEP + 1
    window = range(first, last + 1)
    expected, expected_roots = readings(pond_dir, window), roots(pond_dir, window)
    with Pond.open(pond_dir) as pond:
        report = pond.maintenance.maintain(keep_txns=KEEP)
        assert report.series_consolidated == 2  # a and quiet; b's schema changes
        a = pond.history("/s/a.series")
        quiet = pond.history("/s/quiet.series")
        b = pond.history("/s/b.series")
        assert report.versions_removed >= len(a) - 1
    assert readings(pond_dir, window) == expected
    assert roots(pond_dir, window) == expected_roots
    check = Pond.check(pond_dir)
    assert check.ok, check.summary()
    assert check.content_root == expected_roots[last]

    # a: its versions before the window are one, numbered as the last it replaced and
    # visible from that one's transaction; the window's versions are as they were.
    merged = a[0]
    record = merged.attributes[CONSOLIDATED]
    assert record["versions"] == [1, merged.version] and merged.txn_seq < first
    assert all(v.txn_seq >= first for v in a[1:])
    assert [v.version for v in a] == list(range(merged.version, before_versions["/s/a.series"] + 1))
    assert merged.attributes["sorted"] is True and merged.attributes["rows"] > 0
    # quiet was last written before the window: its newest version stays as it was.
    assert len(quiet) == 2 and quiet[-1] == heads["/s/quiet.series"]
    assert quiet[0].attributes[CONSOLIDATED]["versions"] == [
        1,
        before_versions["/s/quiet.series"] - 1,
    ]
    assert len(b) == 4 and all(CONSOLIDATED not in v.attributes for v in b)

    # What history, describe and cat --all-versions show.
    runner = CliRunner()
    out = runner.invoke(cli, ["--pond", str(pond_dir), "--json", "history", "/s/a.series"])
    assert [v["version"] for v in json.loads(out.output)] == [v.version for v in a]
    assert json.loads(out.output)[0]["consolidated"] == [1, merged.version]
    assert "consolidated" not in json.loads(out.output)[1]
    out = runner.invoke(cli, ["--pond", str(pond_dir), "history", "/s/a.series"])
    first_line, second_line = out.output.splitlines()[:2]
    assert first_line.endswith(f"(consolidated: versions 1 to {merged.version})")
    assert "consolidated" not in second_line
    out = runner.invoke(cli, ["--pond", str(pond_dir), "--json", "describe", "/s/a.series"])
    assert json.loads(out.output)[0]["versions"] == len(a)
    with Pond.open(pond_dir) as pond:
        every = pond.read_table("/s/a.series", all_versions=True)
        assert every.num_rows == sum(v.attributes["rows"] for v in a)


def test_the_chain_digest_stands_for_the_versions_replaced() -> None:
    hashes = [hashlib.sha256(bytes([i])).hexdigest() for i in range(5)]
    whole = series_chain((h, None) for h in hashes)
    chain3 = series_chain((h, None) for h in hashes[:3])
    record = json.dumps({CONSOLIDATED: {"versions": [1, 3], "chain": chain3.hex()}})
    replaced = "0" * 64  # the consolidated version's own hash does not enter
    assert series_chain([(replaced, record), *((h, None) for h in hashes[3:])]) == whole
    changed = [*hashes[:4], hashlib.sha256(b"other").hexdigest()]
    assert series_chain((h, None) for h in changed) != whole
    assert series_chain([]) == CHAIN_START
    # A record honoured only on the oldest row: elsewhere the row's own hash folds.
    assert series_chain([(hashes[0], None), (hashes[1], record)]) == series_chain(
        (h, None) for h in hashes[:2]
    )
    with pytest.raises(ValueError, match="64 hex"):
        series_chain([(replaced, json.dumps({CONSOLIDATED: {"chain": "xyz"}}))])


def test_a_second_maintain_consolidates_on_from_the_first(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    with Pond.open(pond_dir) as pond:
        pond.maintenance.maintain(keep_txns=KEEP)
        first_merge = pond.history("/s/a.series")[0]
        for i in range(4):
            pond.write_series("/s/a.series", frame([40 + i, 31], 5000.0 + i))
        last = pond.last_txn
        window = range(last - 2, last + 1)
        expected, expected_roots = readings(pond_dir, window), roots(pond_dir, window)
        report = pond.maintenance.maintain(keep_txns=3)
        assert report.series_consolidated >= 1
        again = pond.history("/s/a.series")[0]
    assert again.version > first_merge.version
    assert again.attributes[CONSOLIDATED]["versions"] == [1, again.version]
    assert readings(pond_dir, window) == expected
    assert roots(pond_dir, window) == expected_roots
    check = Pond.check(pond_dir)
    assert check.ok, check.summary()


def test_a_tampered_chain_record_changes_the_root(base: Path, tmp_path: Path) -> None:
    """The root covers what the consolidated version records: two ponds whose merged
    versions claim different pasts have different roots."""
    pond_dir = copy_of(base, tmp_path)
    with Pond.open(pond_dir) as pond:
        pond.maintenance.maintain(keep_txns=KEEP)
        root = pond.fsck().content_root
        store = pond.persistence
        node = pond.root.get("/s/a.series").node_id
        rows = store.stored_rows(node)
        assert series_chain((r.sha256, r.attributes) for r in rows).hex() == store.series_chain(
            node
        )
        forged = json.loads(rows[0].attributes or "{}")
        forged[CONSOLIDATED]["chain"] = "0" * 64
        rows[0].attributes = json.dumps(forged)  # in the index only: what a forged file reads
        assert content_root(store) != root


# -- crashes -----------------------------------------------------------------------------


def big_pond(path: Path) -> Pond:
    """A series whose consolidated version is a blob (written before the commit naming it)."""
    import random

    rng = random.Random(5)
    pond = Pond.init(path)
    for i in range(14):
        hours = list(range(i * 1000, i * 1000 + 1500))  # each overlaps the next by 500 hours
        table = frame(hours, 0.0)
        table = table.set_column(1, "v", pa.array([rng.random() for _ in hours], pa.float64()))
        pond.write_series("/big.series", table)
    return pond


def maintain_process(pond_dir: Path) -> list[str]:
    return pond_argv(pond_dir, "maintain", "--keep-txns", "3")


def test_kill_9_during_a_consolidating_maintain(tmp_path: Path) -> None:
    """A kill -9 at instants spread over a whole maintain (its length measured first): the
    pond passes fsck, reads every kept transaction as before, and the next maintain
    finishes the consolidation."""
    import random
    import shutil
    import signal
    import subprocess
    import time

    base = tmp_path / "base"
    big_pond(base).close()
    with Pond.open(base) as pond:
        last = pond.last_txn
    window = range(last - 2, last + 1)

    def reads(pond_dir: Path) -> dict[int, list[dict[str, object]]]:
        found = {}
        for txn in window:
            with Pond.open(pond_dir, at_txn=txn) as pond:
                found[txn] = pond.read_table("/big.series").to_pylist()
        return found

    expected, expected_roots = reads(base), roots(base, window)
    timed = tmp_path / "timed"
    shutil.copytree(base, timed)
    began = time.monotonic()
    subprocess.run(maintain_process(timed), check=True, capture_output=True, timeout=120)
    length = time.monotonic() - began
    with Pond.open(timed) as pond:
        merged = pond.history("/big.series")[0]
        assert CONSOLIDATED in merged.attributes and merged.size >= 64 * 1024  # a blob
    rng = random.Random(11)
    for i in range(3):
        pond_dir = tmp_path / f"crash{i}"
        shutil.copytree(base, pond_dir)
        child = subprocess.Popen(
            maintain_process(pond_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(length * (0.3 + 0.7 * (i + rng.random()) / 3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        check = Pond.check(pond_dir)
        assert check.ok, f"kill after try {i}: {check.summary()}"
        assert check.content_root == expected_roots[last]
        assert reads(pond_dir) == expected
        subprocess.run(maintain_process(pond_dir), check=True, capture_output=True, timeout=120)
        check = Pond.check(pond_dir)
        assert check.ok and check.unreferenced_blobs == 0 and check.debris_files == 0, (
            check.summary()
        )
        assert reads(pond_dir) == expected and roots(pond_dir, window) == expected_roots
        with Pond.open(pond_dir) as pond:
            assert pond.history("/big.series")[0].version == merged.version
        shutil.rmtree(pond_dir)
