"""pond maintain: the disk back outside the kept window, every kept transaction exact,
crash-safe removal, readers that get their answer or a clean error."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from duckpond import Pond
from duckpond.cli.main import cli
from duckpond.errors import ConfigError, HistoryRemovedError
from duckpond.tlogfs import DeltaPersistence, content_root

from .sample import build

KEEP = 20


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("maintain") / "pond"
    build(path, rounds=12).close()
    return path


def copy_of(base: Path, tmp_path: Path, name: str = "copy") -> Path:
    dest = tmp_path / name
    shutil.copytree(base, dest)
    return dest


def roots(pond_dir: Path, txns: range) -> dict[int, str]:
    """The content root of the state after each transaction (what time travel reads)."""
    found = {}
    for txn in txns:
        with DeltaPersistence.open(pond_dir, at_txn=txn) as past:
            found[txn] = content_root(past)
    return found


def series_reads(pond_dir: Path, txns: tuple[int, ...]) -> dict[int, list[dict[str, object]]]:
    """The series' rows as each transaction reads them (consolidation must not change them)."""
    found = {}
    for txn in txns:
        with Pond.open(pond_dir, at_txn=txn) as pond:
            found[txn] = pond.read_table("/data/a.series").to_pylist()
    return found


def files(pond_dir: Path) -> dict[str, int]:
    return {
        str(p.relative_to(pond_dir)): p.stat().st_size
        for p in (pond_dir / "data").rglob("*")
        if p.is_file()
    }


def pond_argv(pond_dir: Path, *args: str) -> list[str]:
    """The command line of a ``pond`` process on ``pond_dir``."""
    return [sys.executable, "-m", "duckpond", "--pond", str(pond_dir), *args]


def pond_cli(pond_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pond_argv(pond_dir, *args),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_maintain_keeps_the_window_exact_and_refuses_before_it(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    with Pond.open(pond_dir) as pond:
        last = pond.last_txn
        first = last - KEEP + 1
        expected = roots(pond_dir, range(first, last + 1))
        before_root = pond.fsck().content_root
        big_at_first = Pond.open(pond_dir, at_txn=first).read_bytes("/raw/big.bin")
        before = files(pond_dir)
        report = pond.maintenance.maintain(keep_txns=KEEP)
    assert report.earliest_kept_txn == first and report.versions_removed > 0
    kinds = {r.kind for r in report.removed}
    assert {"data file", "log entry", "blob", "checkpoint"} <= kinds
    assert report.bytes_reclaimed == sum(r.bytes for r in report.removed) > 0
    for r in report.removed:
        assert not (pond_dir / r.path).exists()
        assert r.bytes == before.get(r.path, r.bytes)  # maintain's own compaction output aside
    assert roots(pond_dir, range(first, last + 1)) == expected
    assert Pond.open(pond_dir, at_txn=first).read_bytes("/raw/big.bin") == big_at_first
    check = Pond.check(pond_dir)
    assert check.ok, check.summary()
    assert check.content_root == before_root and check.earliest_kept_txn == first
    # Delta's own retention follows the window, and never cleans up on its own.
    with Pond.open(pond_dir) as pond:
        config = pond.persistence.table.metadata().configuration
    assert config["delta.enableExpiredLogCleanup"] == "false"
    assert config["delta.appendOnly"] == "true"
    assert config["delta.logRetentionDuration"].startswith("interval ")
    # Removed files are maintain's to delete: no tombstones swell the checkpoint.
    assert config["delta.deletedFileRetentionDuration"] == "interval 0 seconds"
    [checkpoint] = (pond_dir / "data" / "_delta_log").glob("*.checkpoint.parquet")
    import pyarrow.parquet as pq

    removes = pq.ParquetFile(checkpoint).read(columns=["remove"]).column("remove")
    assert removes.null_count == len(removes)

    with pytest.raises(HistoryRemovedError) as caught:
        Pond.open(pond_dir, at_txn=first - 1)
    message = str(caught.value)
    assert f"earliest kept is {first}" in message and "pond maintain removed" in message
    with Pond.open(pond_dir) as pond:  # a cache-only run reports the window as it is
        assert pond.maintenance.maintain(cache_only=True).earliest_kept_txn == first
    for none in (0, -1):  # no such transaction, maintained or not
        with pytest.raises(
            ConfigError,
            match=f"no transaction {none}: this pond keeps transactions {first} to {last}",
        ):
            Pond.open(pond_dir, at_txn=none)
    with Pond.open(pond_dir) as pond:
        old = next(t for t in pond.log() if t.txn_seq == first - 1)
        with pytest.raises(HistoryRemovedError):
            Pond.open(pond_dir, at=old.timestamp)
        log = pond.log()
    # Every transaction's metadata is still listed; those before the window are marked.
    assert [t.txn_seq for t in log] == list(range(last, 0, -1))
    assert [t.txn_seq for t in log if t.content_removed] == list(range(first - 1, 0, -1))
    assert log[-1].command == ["test", "init"]
    archive = sorted(p.name for p in (pond_dir / "data" / "_pond").iterdir())
    assert "transactions.parquet" in archive and "transactions.jsonl" not in archive

    result = CliRunner().invoke(cli, ["--pond", str(pond_dir), "list", "--at-txn", "3"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: transaction 3 is no longer kept") and f"{first}" in line
    text = CliRunner().invoke(cli, ["--pond", str(pond_dir), "log"]).output.splitlines()
    assert text[0].strip().startswith(str(last)) and "(content removed)" not in text[0]
    assert "(content removed)" in text[-1]


def test_the_pond_goes_on_after_maintenance(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    with Pond.open(pond_dir) as pond:
        pond.maintenance.maintain(keep_txns=KEEP)
        pond.write_bytes("/raw/after.txt", b"after")
        pond.write_bytes("/raw/big.bin", os.urandom(80_000))
        again = pond.maintenance.maintain(keep_txns=3)
        assert again.earliest_kept_txn == pond.last_txn - 2
        assert pond.read_bytes("/raw/after.txt") == b"after"
    check = Pond.check(pond_dir)
    assert check.ok, check.summary()


def test_without_a_window_nothing_is_removed(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    before = files(pond_dir)
    with Pond.open(pond_dir) as pond:
        report = pond.maintenance.maintain()
        assert report.removed == [] and report.compacted
        assert set(before) <= set(files(pond_dir))
        every = roots(pond_dir, range(1, pond.last_txn + 1))
        # Every transaction is recent: no version goes, only files no transaction
        # reads (the data files compaction replaced, log entries before the checkpoint).
        recent = pond.maintenance.maintain(keep="90d")
        assert recent.earliest_kept_txn == 1 and recent.versions_removed == 0
        assert {r.kind for r in recent.removed} <= {"data file", "log entry", "checkpoint"}
        assert roots(pond_dir, range(1, pond.last_txn + 1)) == every


def test_a_dry_run_changes_nothing(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    before = files(pond_dir)
    argv = ["--pond", str(pond_dir), "maintain", "--keep-txns", str(KEEP), "--dry-run"]
    result = CliRunner().invoke(cli, [*argv, "-v"])
    assert result.exit_code == 0, result.output
    assert "would remove blob data/_large_files/sha256=" in result.output
    assert "bytes) reclaimable" in result.output
    assert files(pond_dir) == before
    assert Pond.open(pond_dir, at_txn=1).last_txn == 1


def _maintain(pond_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--pond", str(pond_dir), "maintain", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_maintain_prints_a_summary_not_a_line_a_file(base: Path, tmp_path: Path) -> None:
    """A fresh user's trial: maintain filled the terminal with a line per file removed.
    It prints a few lines whatever it removes; -v (and --json) still name every file."""
    pond_dir = copy_of(base, tmp_path)
    window = ("--keep-txns", str(KEEP))
    dry = json.loads(
        CliRunner()
        .invoke(cli, ["--pond", str(pond_dir), "--json", "maintain", *window, "--dry-run"])
        .output
    )
    doomed = dry["removed"]
    assert len(doomed) > 20 and isinstance(dry["seconds"], float)
    kinds = {r["kind"] for r in doomed}

    text = _maintain(pond_dir, *window, "--dry-run")
    assert len(text.splitlines()) <= 6, text
    assert not any(r["path"] in text for r in doomed), text
    assert f"would remove {len(doomed)} files, " in text, text
    for kind in kinds:  # each kind counted
        n = sum(r["kind"] == kind for r in doomed)
        assert f" {n} {kind[:-1]}" in text, (kind, text)  # "log entr(y|ies)"
    assert f"({dry['bytes_reclaimed']} bytes) reclaimable in " in text, text

    listed = _maintain(pond_dir, *window, "--dry-run", "--verbose").splitlines()
    assert all(
        f"would remove {r['kind']} {r['path']} ({r['bytes']} bytes)" in listed for r in doomed
    )

    other = copy_of(base, tmp_path, "other")
    text = _maintain(pond_dir, *window).splitlines()
    assert len(text) <= 5, text
    assert not any("data/" in line for line in text), text
    assert "oplog compacted and checkpointed" in text[0], text
    assert " bytes) reclaimed in " in text[-1] and text[-1].endswith(" s"), text
    # The same run with -v: each file first, then the same summary.
    verbose = _maintain(other, *window, "-v").splitlines()
    each = [line for line in verbose if line.startswith("removed ") and " data/" in line]
    assert verbose[len(each) :][:-1] == text[:-1], (verbose, text)
    assert f"removed {len(each)} files, " in text[1], text
    paths = ["data/" + line.split(" data/", 1)[1].rsplit(" (", 1)[0] for line in each]
    assert all(p.startswith("data/") and not (other / p).exists() for p in paths), paths


def test_a_bad_window_is_one_line(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    for args in (
        ["--keep", "soon"],
        ["--keep-txns", "0"],
        ["--keep", "1d", "--keep-txns", "3"],
        ["--cache-max", "-1"],
        ["--push-first"],  # nothing is removed without a window: nothing to push first for
    ):
        result = CliRunner().invoke(cli, ["--pond", str(pond_dir), "maintain", *args])
        assert result.exit_code == 1 and result.output.startswith("error: "), result.output
        assert len(result.output.strip().splitlines()) == 1


def test_du_names_the_parts_and_what_maintain_would_reclaim(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    with Pond.open(pond_dir) as pond:
        space = pond.maintenance.du(keep_txns=KEEP)
        assert space.usage.blob_bytes == sum(
            p.stat().st_size for p in (pond_dir / "data" / "_large_files").iterdir()
        )
        assert set(space.directories) >= {"/", "/raw", "/data", "/tmp"}
        assert space.directories["/raw"] > 12 * 70_000  # every big.bin version, all history
        dry = pond.maintenance.maintain(keep_txns=KEEP, dry_run=True).bytes_reclaimed
        assert space.reclaimable == dry > 0
    result = CliRunner().invoke(cli, ["--pond", str(pond_dir), "--json", "du"])
    assert result.exit_code == 0
    assert '"blob_bytes"' in result.output and '"/raw"' in result.output


def test_du_counts_in_english(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/big.bin", os.urandom(300_000))  # the one blob
    pond.close()
    result = CliRunner().invoke(cli, ["--pond", str(pond.path), "du"])
    assert result.exit_code == 0, result.output
    (blobs,) = [line for line in result.output.splitlines() if line.startswith("blobs ")]
    assert blobs.endswith("(1 file)"), blobs
    assert "(0 files, disposable)" in result.output and "(1 files" not in result.output


def test_the_cache_is_pruned_to_its_bound(base: Path, tmp_path: Path) -> None:
    pond_dir = copy_of(base, tmp_path)
    cache = pond_dir / "cache"
    for i in range(5):
        entry = cache / f"key{i}" / f"entry{i}"
        entry.mkdir(parents=True)
        (entry / "manifest.json").write_text("[]")
        (entry / "data.bin").write_bytes(b"x" * 1000)
        os.utime(entry / "manifest.json", (1000 + i, 1000 + i))  # key0 used longest ago
    with Pond.open(pond_dir) as pond:
        report = pond.maintenance.maintain(cache_only=True, cache_max_bytes=2500)
    assert report.cache_entries_removed == 3
    assert "cache: removed 3 entries, " in report.summary()
    assert sorted(p.name for p in cache.iterdir() if any(p.iterdir())) == ["key3", "key4"]


# -- crashes and readers ---------------------------------------------------------------


def test_kill_9_at_any_instant_of_maintain(base: Path, tmp_path: Path) -> None:
    """A kill -9 at random instants: the pond opens, passes fsck, reads every kept
    transaction exactly, and the next maintain finishes the job."""
    with Pond.open(base) as pond:
        last = pond.last_txn
    first = last - KEEP + 1
    expected = roots(base, range(first, last + 1))
    series = series_reads(base, (first, last))
    rng = random.Random(17)
    for i in range(6):
        pond_dir = copy_of(base, tmp_path, f"crash{i}")
        child = subprocess.Popen(
            pond_argv(pond_dir, "maintain", "--keep-txns", str(KEEP)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.4 + rng.random() * 2.5)
        child.send_signal(signal.SIGKILL)
        child.wait()
        check = Pond.check(pond_dir)
        assert check.ok, f"kill after try {i}: {check.summary()}"
        assert roots(pond_dir, range(first, last + 1)) == expected
        assert series_reads(pond_dir, (first, last)) == series
        finish = pond_cli(pond_dir, "maintain", "--keep-txns", str(KEEP))
        assert finish.returncode == 0, finish.stderr
        check = Pond.check(pond_dir)
        assert check.ok and check.unsealed_files == 0 and check.debris_files == 0, check.summary()
        assert roots(pond_dir, range(first, last + 1)) == expected
        assert series_reads(pond_dir, (first, last)) == series
        with Pond.open(pond_dir) as pond:  # its versions before the window are one
            assert "consolidated" in pond.history("/data/a.series")[0].attributes
        shutil.rmtree(pond_dir)


def test_a_reader_during_maintain_gets_its_answer_or_a_clean_error(
    base: Path, tmp_path: Path
) -> None:
    pond_dir = copy_of(base, tmp_path)
    with Pond.open(base) as pond:
        first = pond.last_txn - KEEP + 1
    want = hashlib.sha256(Pond.open(pond_dir, at_txn=first).read_bytes("/raw/big.bin")).hexdigest()
    reader = tmp_path / "reader.py"
    reader.write_text(
        "import hashlib, sys\n"
        "from duckpond import Pond\n"
        "from duckpond.errors import PondError\n"
        "try:\n"
        f"    data = Pond.open(sys.argv[1], at_txn={first}).read_bytes('/raw/big.bin')\n"
        "    print(hashlib.sha256(data).hexdigest())\n"
        "except PondError as e:\n"
        "    print('error:', e)\n"
    )
    maintainer = subprocess.Popen(
        pond_argv(pond_dir, "maintain", "--keep-txns", str(KEEP)),
    )
    answers = []
    while maintainer.poll() is None or len(answers) < 3:
        out = subprocess.run(
            [sys.executable, str(reader), str(pond_dir)], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr  # no traceback, no crash
        answers.append(out.stdout.strip())
    assert maintainer.wait() == 0
    for answer in answers:
        assert answer == want or (answer.startswith("error:") and "\n" not in answer), answer
    assert answers[-1] == want
