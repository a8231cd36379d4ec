"""``pond backup prune``: a remote's own retention, on file:// remotes and the real S3 server.

A pruned remote restores every kept transaction exactly (content roots equal the
pond's at that transaction), refuses one before the window by name, still takes pushes
and passes ``verify --deep``; a ``kill -9`` of prune at random instants leaves it
restorable at every kept transaction, and the next prune finishes the job.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore
import pytest
from click.testing import CliRunner

from duckpond import Pond
from duckpond.backup import Remote, prune, push, restore
from duckpond.backup.layout import FLOOR_KEY, LOG_PREFIX, log_key, record_key
from duckpond.backup.prune import window_start
from duckpond.backup.verify import verify
from duckpond.cli import cli
from duckpond.errors import ConfigError, CorruptDataError

from .conftest import apply_text, backup_doc, rich_pond

KEEP = 12


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pond of some 60 transactions (files, a series, blobs), closed."""
    tmp = tmp_path_factory.mktemp("prune")
    pond = rich_pond(tmp / "pond", tmp, transactions=60)
    pond.close()
    return tmp / "pond"


def root_of(pond_dir: Path, at_txn: int | None = None) -> str:
    """The content root of a pond that passes fsck."""
    check = Pond.check(pond_dir, at_txn=at_txn)
    assert check.ok and check.content_root is not None, check.summary()
    return check.content_root


def roots(pond_dir: Path, txns: list[int]) -> dict[int, str]:
    return {t: root_of(pond_dir, t) for t in txns}


def restored_root(url: str, dest: Path, at_txn: int | None = None) -> str:
    restore(url, dest, at_txn=at_txn)
    root = root_of(dest)
    shutil.rmtree(dest)
    return root


def keys(url: str) -> set[str]:
    return set(Remote(url).keys(""))


def transactions(pond_dir: Path) -> list[tuple[int, datetime]]:
    with Pond.open(pond_dir) as pond:
        return [(t.txn_seq, t.timestamp) for t in pond.persistence.transactions()]


@pytest.fixture(params=["file", "s3"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return f"file://{tmp_path}/remote"
    return str(request.getfixturevalue("s3_url"))


def test_prune_keeps_the_window_exact_refuses_before_it_and_takes_pushes(
    base: Path, tmp_path: Path, url: str
) -> None:
    pond_dir = tmp_path / "pond"
    shutil.copytree(base, pond_dir)
    pond = Pond.open(pond_dir)
    apply_text(pond, tmp_path, backup_doc("offsite", url))
    pond.backups.push(["offsite"])
    last = pond.last_txn
    first = last - KEEP + 1
    expected = roots(pond_dir, [first, first + 5, last])
    before = keys(url)

    dry = pond.backups.prune("offsite", keep_txns=KEEP, dry_run=True)
    assert dry.dry_run and dry.earliest_kept_txn == first and dry.removed
    assert keys(url) == before  # a dry run changes nothing

    report = pond.backups.prune("offsite", keep_txns=KEEP)
    assert (report.earliest_kept_txn, report.last_txn) == (first, last)
    assert {k for k, _ in report.removed} == {k for k, _ in dry.removed}
    after = keys(url)
    checkpoint = f"{LOG_PREFIX}{report.version:020d}.checkpoint.parquet"
    archived = {k for k in after - before if k.startswith("meta/")}
    assert len(archived) == 1  # the commit metadata of the transactions it removed
    assert after - archived < before | {FLOOR_KEY, checkpoint, f"{LOG_PREFIX}_last_checkpoint"}
    removed = {k for k, _ in report.removed}
    assert removed and not removed & after
    assert record_key(1) not in after and log_key(1) not in after and log_key(0) in after
    assert report.bytes_removed > 0

    # Every kept transaction restores exactly; one before the window is refused by name.
    for txn, root in expected.items():
        assert restored_root(url, tmp_path / "r", None if txn == last else txn) == root
    with pytest.raises(ConfigError, match=rf"the earliest kept is {first}$"):
        restore(url, tmp_path / "r", at_txn=first - 1)
    assert not (tmp_path / "r").exists()
    # The restored pond itself refuses the older transactions, by name.
    restore(url, tmp_path / "r")
    from duckpond.errors import HistoryRemovedError

    with pytest.raises(HistoryRemovedError, match=f"earliest kept is {first}"):
        Pond.open(tmp_path / "r", at_txn=first - 1)
    shutil.rmtree(tmp_path / "r")

    check = pond.backups.verify("offsite", deep=True)
    assert check.ok and not check.problems and check.status == "equal", check.problems

    # The remote takes pushes as before, and a second prune moves the window again.
    for i in range(6):
        pond.write_bytes(f"/raw/late-{i}.txt", f"late {i}".encode())
    assert pond.backups.push(["offsite"])[0].ok
    again = pond.backups.prune("offsite", keep_txns=3)
    assert again.earliest_kept_txn == pond.last_txn - 2
    assert again.removed
    assert Remote(url).floor() is not None
    assert restored_root(url, tmp_path / "r") == pond.fsck().content_root
    assert restored_root(url, tmp_path / "r", again.earliest_kept_txn) == (
        root_of(pond_dir, again.earliest_kept_txn)
    )
    check = pond.backups.verify("offsite", deep=True)
    assert check.ok and not check.problems, check.problems
    # Pruning to the same window again removes nothing.
    assert not pond.backups.prune("offsite", keep_txns=3).removed
    pond.close()


def test_prune_never_deletes_an_object_no_record_names(tmp_path: Path, base: Path) -> None:
    """A key a push under way may have sent (named by no record yet) stays."""
    url = f"file://{tmp_path}/remote"
    push(base, Remote(url, create=True), "offsite")
    stray = "data/part_id=00000000000000000000000000000000/part-in-flight.parquet"
    obstore.put(Remote(url).store, stray, b"not yet named")
    prune(Remote(url), "offsite", transactions(base), keep_txns=KEEP)
    assert stray in keys(url)


def test_a_deleted_or_altered_floor_is_named(tmp_path: Path, base: Path) -> None:
    url = f"file://{tmp_path}/remote"
    push(base, Remote(url, create=True), "offsite")
    prune(Remote(url), "offsite", transactions(base), keep_txns=KEEP)
    floor = tmp_path / "remote" / FLOOR_KEY
    good = floor.read_bytes()
    floor.write_bytes(re.sub(rb'"earliest_txn":(\d+)', rb'"earliest_txn":1', good))
    with pytest.raises(CorruptDataError, match=r"floor\.json was altered"):
        restore(url, tmp_path / "r")
    floor.unlink()  # the records before the window are gone: named, not guessed
    with pytest.raises(CorruptDataError, match=r"_delta_log/0+1\.json is missing while later"):
        restore(url, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_repair_fetches_an_object_only_the_floor_names(tmp_path: Path, base: Path) -> None:
    """A blob written before the window is named by no kept record, only by the floor:
    ``fsck --repair`` still fetches it."""
    pond_dir = tmp_path / "pond"
    shutil.copytree(base, pond_dir)
    url = f"file://{tmp_path}/remote"
    with Pond.open(pond_dir) as pond:
        apply_text(pond, tmp_path, backup_doc("offsite", url))
        pond.backups.push(["offsite"])
        pond.backups.prune("offsite", keep_txns=3)
    floor = Remote(url).floor()
    assert floor is not None
    blobs = [o.key for o in floor.all_objects() if o.key.startswith("data/_large_files/")]
    assert blobs
    (pond_dir / blobs[0]).unlink()
    assert not Pond.check(pond_dir).ok
    from duckpond.pond.backups import repair_pond

    report = repair_pond(pond_dir, "offsite")
    assert report.ok and blobs[0] in report.repaired, report.unrepaired


def test_window_start_by_span_and_count() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    txns = [(t, now - timedelta(days=100 - t)) for t in range(1, 101)]
    assert window_start(txns, 100, timedelta(days=10), None, now) == 90
    assert window_start(txns, 80, timedelta(days=10), None, now) == 80  # the newest is kept
    assert window_start(txns, 100, None, 5, now) == 96
    assert window_start(txns, 100, timedelta(days=1000), None, now) == 1
    for bad in [(None, None), (timedelta(days=1), 3), (None, 0), (timedelta(0), None)]:
        with pytest.raises(ConfigError):
            window_start(txns, 100, bad[0], bad[1], now)


def test_cli_prune_output_json_and_errors(tmp_path: Path, base: Path) -> None:
    pond_dir = tmp_path / "pond"
    shutil.copytree(base, pond_dir)
    url = f"file://{tmp_path}/remote"
    with Pond.open(pond_dir) as pond:
        apply_text(pond, tmp_path, backup_doc("offsite", url))
        pond.backups.push(["offsite"])
        last = pond.last_txn

    def run(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--pond", str(pond_dir), *args])
        return result.exit_code, result.stdout, result.stderr

    code, out, err = run("backup", "prune", "--help")
    assert code == 0 and "Example:" in out
    code, out, err = run("backup", "prune", "offsite")
    assert code == 1 and err.strip() == "error: give --keep SPAN or --keep-txns N"
    code, out, err = run("backup", "prune", "offsite", "--keep", "1y", "--keep-txns", "3")
    assert code == 1 and err.strip().startswith("error: give --keep or --keep-txns")
    code, out, err = run("backup", "prune", "nosuch", "--keep", "1y")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "nosuch" in err
    code, out, err = run("backup", "prune", "offsite", "--keep", "1y")
    assert code == 0 and out.startswith("offsite: kept transactions 1 to"), (out, err)
    assert "removed 0 object(s)" in out
    code, out, err = run("--json", "backup", "prune", "offsite", "--keep-txns", "4", "--dry-run")
    import json

    data = json.loads(out)
    assert data["dry_run"] and data["earliest_kept_txn"] == last - 3 and data["objects_removed"]
    code, out, err = run("backup", "prune", "offsite", "--keep-txns", "4")
    assert code == 0 and f"kept transactions {last - 3} to {last}; removed" in out
    result = CliRunner().invoke(cli, ["restore", url, str(tmp_path / "r"), "--at-txn", "2"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: transaction 2 is no longer kept")
    assert lines[0].endswith(f"the earliest kept is {last - 3}")


# -- kill -9 ---------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """\
    import sys, time
    import deltalake, obstore  # imported before "ready": the kill lands inside the prune
    import duckpond.backup.remote
    from duckpond.backup import Remote, prune
    from duckpond.backup.prune import window_start
    from duckpond import Pond
    pond_dir, url, keep = sys.argv[1:4]
    with Pond.open(pond_dir) as pond:
        txns = [(t.txn_seq, t.timestamp) for t in pond.persistence.transactions()]
    remote = Remote(url)
    # One key a delete request, each a little slowed: the removal phase lasts long enough
    # for kills to land inside it (the order of the prune's steps is its own).
    duckpond.backup.remote.DELETE_BATCH = 1
    delete = obstore.delete
    def slow(*args, **kwargs):
        time.sleep(0.003)
        return delete(*args, **kwargs)
    obstore.delete = slow
    put = remote.put
    def said(key, data):
        put(key, data)
        print("floor", time.perf_counter() - started, flush=True)  # the parent may wait for it
    remote.put = said
    started = time.perf_counter()
    print("ready", flush=True)
    prune(remote, "offsite", txns, keep_txns=int(keep))
    """
)


def _prune_killed(
    pond_dir: Path, url: str, delay: float | None, *, after_floor: bool = False
) -> float:
    """Run prune in a child and kill -9 it ``delay`` s after it is ready (or, with
    ``after_floor``, after it wrote the floor); without a delay, let it finish and
    return how long the prune took to write its floor (s)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(pond_dir), url, str(KEEP)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline().strip() == b"ready", child.stderr.read()
    if delay is None:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        return float(out.split()[1])
    if after_floor:
        assert child.stdout.readline().startswith(b"floor"), child.stderr.read()
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    return delay


@pytest.mark.parametrize("where", ["file", "s3"])
def test_kill_9_of_prune_at_random_instants(
    base: Path, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    txns = transactions(base)
    last = txns[0][0]
    first = last - KEEP + 1
    kept = [first, (first + last) // 2, last]
    expected = roots(base, [*kept, 1])

    def fresh(name: str) -> str:
        if where == "file":
            target = f"file://{tmp_path}/{name}"
        else:
            target = f"{request.getfixturevalue('s3_url')}-{uuid.uuid4().hex[:6]}"
        push(base, Remote(target, create=True), "offsite")
        return target

    # An uninterrupted prune: how long it takes to move the window, and what it leaves.
    reference = fresh("reference")
    took = _prune_killed(base, reference, None)
    left = {k for k in keys(reference) if not k.startswith(LOG_PREFIX + "_last_")}

    rng = random.Random(23 if where == "file" else 29)
    trials = 10 if where == "file" else 5
    outcomes = {"before floor": 0, "mid removal": 0, "done": 0}
    for trial in range(trials):
        target = fresh(f"crash{trial}")
        if trial % 2:
            _prune_killed(base, target, rng.uniform(0, 0.3), after_floor=True)
        else:
            # The first kill lands at once (before the floor, however loaded the machine:
            # the prune must read the remote first); the others anywhere.
            _prune_killed(base, target, rng.uniform(0, took * 1.1) if trial else 0.0)
        floor = Remote(target).floor()
        if floor is None:
            outcomes["before floor"] += 1
        elif floor.removing or floor.versions[0] < floor.versions[1]:
            outcomes["mid removal"] += 1
        else:
            outcomes["done"] += 1
        # Restorable at every kept transaction, whatever the instant.
        earliest = floor.earliest_txn if floor else 1
        for txn in [earliest, *kept]:
            got = restored_root(target, tmp_path / "r", None if txn == last else txn)
            assert got == expected.get(txn, got), f"trial {trial} txn {txn}"
            assert got == root_of(base, txn)
        report = verify(base, Remote(target), deep=True)
        assert not report.problems and report.status == "equal", (trial, report.problems)
        # The next prune finishes the job: the same objects as an uninterrupted one.
        prune(Remote(target), "offsite", txns, keep_txns=KEEP)
        done = Remote(target).floor()
        assert done is not None and not done.removing
        now = {k for k in keys(target) if not k.startswith(LOG_PREFIX + "_last_")}
        assert now == left, f"trial {trial}: {sorted(now ^ left)[:5]}"
        assert restored_root(target, tmp_path / "r", first) == expected[first]
    assert outcomes["before floor"] >= 1 and outcomes["mid removal"] >= 1, outcomes


def test_run_records_survive_prunes_and_restore(tmp_path: Path) -> None:
    """Run records go to the remote in pieces that a restore joins from byte 0: a prune
    keeps every piece (the floor names them), however many prunes have moved the window."""
    pond = Pond.init(tmp_path / "pond")
    url = f"file://{tmp_path / 'nas'}"
    apply_text(pond, tmp_path, backup_doc("nas", url))
    for round_ in range(2):
        for i in range(3):
            pond.mkdir(f"/r{round_}d{i}")
            pond.pipeline.run()  # the Backup pushes; each run adds a run record
        txns = [(t.txn_seq, t.timestamp) for t in pond.persistence.transactions()]
        prune(Remote(url), "nas", txns, keep_txns=1)
        dest = tmp_path / f"restored{round_}"
        restore(url, dest)
        local = (pond.path / "runs.jsonl").read_bytes()
        got = (dest / "runs.jsonl").read_bytes()
        # All but the last run's own record (appended after its push) came back.
        assert got and local.startswith(got), round_
        assert got.count(b"\n") == local.count(b"\n") - 1 == 3 * (round_ + 1) - 1
        assert Pond.check(dest).content_root == pond.fsck().content_root
