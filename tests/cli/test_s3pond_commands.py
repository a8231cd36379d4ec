"""``status``, ``du``, ``backup push|list|verify|prune`` on a pond kept on S3 (issue 19).

Each is compared with a local pond doing the same, against the real SeaweedFS server; a
push from a pond on S3 is restored and its content root compared with the pond's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from duckpond import Pond
from duckpond.cli import cli

from ..backup.conftest import apply_text, backup_doc, series
from .conftest import POND_SCRIPT, child_env


@pytest.fixture(autouse=True)
def _own_cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKPOND_CACHE_DIR", str(tmp_path / "in-process-cache"))


def run(pond: str, *args: str) -> Any:
    """``pond --pond POND --json ARGS`` in this process: its JSON output."""
    result = CliRunner().invoke(cli, ["--pond", pond, "--json", *args])
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.output)


def fill(pond: Pond, tmp: Path) -> None:
    """The same few transactions on any pond: directories, a small file, a blob, a series."""
    small = tmp / "small.txt"
    small.write_text("a few bytes\n")
    big = tmp / "big.bin"
    big.write_bytes(bytes(range(256)) * 1024)  # 256 KiB: a blob
    pond.mkdir("/raw", "/derived", parents=True)
    pond.copy_in([str(small), str(big)], "/raw")
    for day in (1, 2, 3):
        pond.write_series("/derived/wave.series", series(day))


def test_status_and_du_on_s3_equal_a_local_pond_doing_the_same(
    s3_url: str, s3_server: Any, tmp_path: Path
) -> None:
    import obstore

    local_dir = tmp_path / "local"
    with Pond.init(local_dir) as local:
        fill(local, tmp_path)
    with Pond.init(s3_url) as shared:
        fill(shared, tmp_path)
        cache = shared.path

    ours, theirs = run(s3_url, "status"), run(str(local_dir), "status")
    assert set(ours) == set(theirs) and set(ours["disk"]) == set(theirs["disk"])
    assert ours["path"] == s3_url and ours["last_txn"] == theirs["last_txn"] == 6
    assert ours["pond_id"] == Pond.open(s3_url).pond_id
    # Blobs are content-addressed: the same bytes on the store as on disk.
    for key in ("blob_bytes", "blob_files"):
        assert ours["disk"][key] == theirs["disk"][key] > 0, key
    # The log's bytes are those of one listing of data/ minus the blobs.
    listed = [m for chunk in obstore.list(s3_server.store(s3_url), "data/") for m in chunk]
    log = [m for m in listed if not str(m["path"]).startswith("data/_large_files/")]
    assert ours["disk"]["log_bytes"] == sum(int(m["size"]) for m in log)
    assert ours["disk"]["log_files"] == len(log)
    assert ours["disk"]["cache_path"] == str(cache)
    assert ours["disk"]["cache_bytes"] > 0  # the data files read are kept there

    du_s3, du_local = run(s3_url, "du"), run(str(local_dir), "du")
    assert set(du_s3) == set(du_local)
    assert du_s3["directories"] == du_local["directories"]
    assert du_s3["directories"]["/raw"] > 256 * 1024
    assert du_s3["reclaimable_bytes"] is None


def test_a_push_from_a_pond_on_s3_restores_to_the_same_content_root(
    s3_url: str, tmp_path: Path
) -> None:
    offsite, nas = f"{s3_url}-offsite", f"file://{tmp_path / 'nas'}"
    with Pond.init(s3_url) as pond:
        fill(pond, tmp_path)
        apply_text(pond, tmp_path, backup_doc("offsite", offsite))
        apply_text(pond, tmp_path, backup_doc("nas", nas))
        last = pond.last_txn

    before = {b["name"]: b for b in run(s3_url, "backup", "list")}
    assert before["offsite"]["last_pushed_txn"] == 0 and before["offsite"]["lag_txns"] == last
    assert before["offsite"]["lag_bytes"] > 256 * 1024  # the blob is still to send

    pushed = {r["name"]: r for r in run(s3_url, "backup", "push")}
    assert all(r["ok"] and r["last_txn"] == last for r in pushed.values()), pushed
    listed = {b["name"]: b for b in run(s3_url, "backup", "list")}
    for name in ("offsite", "nas"):
        assert listed[name]["last_pushed_txn"] == last and listed[name]["lag_txns"] == 0
        assert listed[name]["last_outcome"] == "ok"
    # The record of what was pushed lives beside the pond, on its own store.
    with Pond.open(s3_url) as pond:
        record = json.loads(pond.backups.files().read_state("offsite") or b"{}")
        assert record["last_txn"] == last and record["url"] == offsite

    root = run(s3_url, "fsck")["content_root"]
    for name, url in (("offsite", offsite), ("nas", nas)):
        verified = run(s3_url, "backup", "verify", name, "--deep")
        assert verified["status"] == "equal" and verified["roots_equal"], verified
        dest = tmp_path / f"restored-{name}"
        assert CliRunner().invoke(cli, ["restore", url, str(dest)]).exit_code == 0
        assert run(str(dest), "fsck")["content_root"] == root

    # One more transaction: listed as lag, then pushed alone.
    with Pond.open(s3_url) as pond:
        pond.mkdir("/later")
    assert {b["name"]: b["lag_txns"] for b in run(s3_url, "backup", "list")} == {
        "nas": 1,
        "offsite": 1,
    }
    again = run(s3_url, "backup", "push", "offsite")[0]
    assert again["ok"] and again["last_txn"] == last + 1
    assert again["bytes_sent"] < 64 * 1024  # not the blob again
    dest = tmp_path / "restored-again"
    assert CliRunner().invoke(cli, ["restore", offsite, str(dest)]).exit_code == 0
    assert run(str(dest), "fsck")["content_root"] == run(s3_url, "fsck")["content_root"]

    # The remote's own retention works the same from here.
    pruned = run(s3_url, "backup", "prune", "offsite", "--keep-txns", "2", "--dry-run")
    assert pruned["dry_run"] is True


def test_pond_run_pushes_a_pond_on_s3_and_then_has_nothing_to_push(
    s3_url: str, tmp_path: Path
) -> None:
    offsite = f"{s3_url}-offsite"
    with Pond.init(s3_url) as pond:
        fill(pond, tmp_path)
        apply_text(pond, tmp_path, backup_doc("offsite", offsite))
        first = pond.pipeline.run()
        second = pond.pipeline.run()
    assert [r.outcome for r in first.results] == ["ok"], first
    assert "pushed to" in first.results[0].summary
    assert "nothing new to push" in second.results[0].summary
    status = run(s3_url, "status")
    assert status["backups"][0]["lag_txns"] == 0


def test_two_machines_pushing_one_pond_on_s3_keep_one_sound_record(
    s3_url: str, tmp_path: Path
) -> None:
    """Two processes with caches of their own push at once: both records' writes are
    compare-and-swap puts, so the record that stays is whole and says the newest push."""
    offsite = f"{s3_url}-offsite"
    with Pond.init(s3_url) as pond:
        fill(pond, tmp_path)
        apply_text(pond, tmp_path, backup_doc("offsite", offsite))
        last = pond.last_txn
    procs = [
        subprocess.Popen(
            [str(POND_SCRIPT), "--pond", s3_url, "--json", "backup", "push"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(DUCKPOND_CACHE_DIR=str(tmp_path / f"machine-{i}")),
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        # A push that found the other's objects already there completes all the same;
        # one that met the other mid-way says so in one line and changes nothing.
        if proc.returncode != 0:
            assert err.decode().startswith("error:") and err.decode().count("\n") == 1, err
        else:
            assert json.loads(out)[0]["last_txn"] == last
    assert any(p.returncode == 0 for p in procs)
    listed = run(s3_url, "backup", "list")[0]
    assert listed["last_pushed_txn"] == last and listed["lag_txns"] == 0
    assert run(s3_url, "backup", "verify", "offsite")["status"] == "equal"


@pytest.mark.parametrize("existing", [False, True], ids=["create-only", "if-match"])
def test_the_push_record_on_the_store_is_written_by_compare_and_swap(
    s3_url: str, existing: bool
) -> None:
    """Another machine's write between our read and our put makes our put fail and be
    made again over theirs: never a blind overwrite."""
    with Pond.init(s3_url) as pond:
        files = pond.backups.files()
        if existing:
            files.write_state("offsite", lambda current: b"first")
        seen: list[bytes | None] = []

        def update(current: bytes | None) -> bytes:
            seen.append(current)
            if len(seen) == 1:  # the other machine writes now
                files.write_state("offsite", lambda _: b"theirs")
            return b"ours over " + (current or b"nothing")

        files.write_state("offsite", update)
        assert seen == [b"first" if existing else None, b"theirs"]
        assert files.read_state("offsite") == b"ours over theirs"


# -- maintain ----------------------------------------------------------------------------


def crowd(pond: Pond, tmp: Path, commits: int) -> None:
    """Many small commits into one directory (a partition with a data file each), and a
    file rewritten in each (versions a window supersedes)."""
    note = tmp / "note.txt"
    pond.mkdir("/raw")
    for i in range(commits):
        note.write_text(f"version {i}\n")
        pond.copy_in([str(note)], "/raw/note.txt")
        pond.mkdir(f"/raw/d{i}")


def data_files(s3_server: Any, url: str) -> list[str]:
    import obstore

    store = s3_server.store(url)
    return [
        str(m["path"])
        for chunk in obstore.list(store, "data/")
        for m in chunk
        if str(m["path"]).endswith(".parquet") and "/part_id=" in f"/{m['path']}"
    ]


def test_maintain_on_s3_compacts_removes_as_a_local_pond_does_and_keeps_the_content(
    s3_url: str, s3_server: Any, tmp_path: Path
) -> None:
    local_dir = tmp_path / "local"
    with Pond.init(local_dir) as local:
        crowd(local, tmp_path, 12)
    with Pond.init(s3_url) as shared:
        crowd(shared, tmp_path, 12)
        last = shared.last_txn
    root = run(s3_url, "fsck")["content_root"]
    kept_root = run(s3_url, "fsck", "--at-txn", str(last - 3))["content_root"]
    files_before = len(data_files(s3_server, s3_url))

    # Without a window: compaction (fewer data files), nothing committed removed.
    plain = run(s3_url, "maintain")
    assert plain["compacted"] and plain["removed"] == []
    assert run(s3_url, "fsck")["content_root"] == root
    assert len(data_files(s3_server, s3_url)) > files_before  # replaced files stay

    # With a window: what it would remove, then removes, as the local pond's maintain.
    dry = {p: run(p, "maintain", "--keep-txns", "4", "--dry-run") for p in (s3_url, str(local_dir))}
    assert dry[s3_url]["versions_removed"] == dry[str(local_dir)]["versions_removed"] > 0
    done = {p: run(p, "maintain", "--keep-txns", "4") for p in (s3_url, str(local_dir))}
    assert set(done[s3_url]) == set(done[str(local_dir)])
    for key in ("earliest_kept_txn", "versions_removed", "last_txn"):
        assert done[s3_url][key] == done[str(local_dir)][key], key
    assert done[s3_url]["earliest_kept_txn"] == last - 3
    # Log entries go; data files written within the grace period (a day) stay...
    assert {r["kind"] for r in done[s3_url]["removed"]} == {"log entry", "checkpoint"}
    assert {r["kind"] for r in done[str(local_dir)]["removed"]} >= {"data file", "log entry"}
    # ... until they are older than it.
    again = run(s3_url, "maintain", "--keep-txns", "4", "--grace", "0s")
    assert "data file" in {r["kind"] for r in again["removed"]}
    assert len(data_files(s3_server, s3_url)) < files_before

    report = run(s3_url, "fsck")
    assert report["problems"] == [] and report["content_root"] == root
    assert run(s3_url, "fsck", "--at-txn", str(last - 3))["content_root"] == kept_root
    # Before the window: refused by name, from another machine's cache too; pond log
    # still lists every transaction (archived on the store).
    result = CliRunner().invoke(cli, ["--pond", s3_url, "list", "--at-txn", "2"])
    assert result.exit_code == 1 and "no longer kept" in result.output, result.output
    assert [t["txn_seq"] for t in run(s3_url, "log")] == list(range(last, 0, -1))
    assert run(s3_url, "du", "--keep-txns", "4")["reclaimable_bytes"] is not None


def test_a_later_maintain_removes_orphans_once_past_the_grace_period(
    s3_url: str, s3_server: Any, tmp_path: Path
) -> None:
    """What a writer uploads before its commit (a data file, a blob) and never commits, as
    a kill -9 leaves it: kept while young (its commit may be on its way), then removed."""
    import hashlib
    import time

    import obstore

    with Pond.init(s3_url) as pond:
        fill(pond, tmp_path)
        part = data_files(s3_server, s3_url)[0].split("/")[1]
    root = run(s3_url, "fsck")["content_root"]
    store = s3_server.store(s3_url)
    blob = b"never committed " * 5000
    orphans = [
        f"data/{part}/part-00000-orphan-c000.zstd.parquet",
        f"data/_large_files/sha256={hashlib.sha256(blob).hexdigest()}",
    ]
    for key in orphans:
        obstore.put(store, key, blob)
    # fsck names them, and says what removes them on S3 (recover has nothing to do there).
    text = CliRunner().invoke(cli, ["--pond", s3_url, "fsck"]).output
    assert "pond maintain removes them once older than its --grace" in text, text
    assert "pond recover" not in text and "duckpond-fsck-" not in text, text

    young = run(s3_url, "maintain")
    assert young["removed"] == []
    for key in orphans:
        assert obstore.head(store, key)["size"] == len(blob)
    time.sleep(1.5)
    dry = run(s3_url, "maintain", "--grace", "1s", "--dry-run")
    assert sorted(r["path"] for r in dry["removed"]) == sorted(orphans)
    gone = run(s3_url, "maintain", "--grace", "1s")
    assert sorted(r["path"] for r in gone["removed"]) == sorted(orphans)
    listed = {str(m["path"]) for chunk in obstore.list(store) for m in chunk}
    assert not listed & set(orphans)
    report = run(s3_url, "fsck")
    assert report["problems"] == [] and report["content_root"] == root


def test_kill_9_of_a_writer_leaves_orphans_a_later_maintain_removes(
    s3_url: str, s3_server: Any, tmp_path: Path
) -> None:
    import os
    import random
    import signal
    import time

    import obstore

    Pond.init(s3_url).close()
    sources = tmp_path / "big"
    sources.mkdir()
    for i in range(6):
        (sources / f"f{i}.bin").write_bytes(os.urandom(400_000))
    rng = random.Random(19)
    for trial in range(3):
        writer = subprocess.Popen(
            [str(POND_SCRIPT), "--pond", s3_url, "copy", str(sources), f"/t{trial}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=child_env(DUCKPOND_CACHE_DIR=str(tmp_path / "writer")),
        )
        time.sleep(rng.uniform(0.8, 2.0))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    root = run(s3_url, "fsck")["content_root"]
    time.sleep(1.1)
    run(s3_url, "maintain", "--grace", "1s")
    store = s3_server.store(s3_url)
    with Pond.open(s3_url) as pond:
        named = {v.sha256 for e in pond.list("/**") for v in pond.history(e.path)}
    blobs = [
        str(m["path"]).rsplit("=", 1)[1]
        for chunk in obstore.list(store, "data/_large_files/")
        for m in chunk
    ]
    assert set(blobs) <= named, "a blob no version names is left"
    report = run(s3_url, "fsck")
    assert report["problems"] == [] and report["content_root"] == root


RACING_WRITER = """
import sys
import time
from duckpond import Pond
from duckpond.errors import BusyError

url, out, commands = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(out, "a") as log:
    for j in range(commands):
        data = (f"{j}:" * (20_000 if j % 4 == 0 else 1)).encode()  # every 4th a blob
        try:
            with Pond.open(url) as pond:
                pond.write_bytes(f"/raw/f{j}.txt", data)
        except BusyError:
            continue
        log.write(f"{j}\\n")
        log.flush()
        time.sleep(0.3)  # a busy station's pace, not a tight loop
"""


@pytest.mark.slow
def test_maintain_racing_a_writer_on_another_machine_loses_none_of_its_commits(
    s3_url: str, tmp_path: Path
) -> None:
    import time

    from .conftest import script

    with Pond.init(s3_url) as pond:
        crowd(pond, tmp_path, 6)
    code = script(tmp_path, "writer.py", RACING_WRITER)
    acks = tmp_path / "acks"
    writer = subprocess.Popen(
        [sys.executable, str(code), s3_url, str(acks), "30"],
        env=child_env(DUCKPOND_CACHE_DIR=str(tmp_path / "writer-cache")),
        stderr=subprocess.PIPE,
    )
    outcomes: list[str] = []
    windows = [[], ["--keep-txns", "8"]]
    while writer.poll() is None:
        args = ["--pond", s3_url, "--json", "maintain", *windows[len(outcomes) % 2]]
        result = CliRunner().invoke(cli, args)
        if result.exit_code == 0:
            outcomes.append("compacted" if json.loads(result.output)["compacted"] else "ok")
        else:
            assert "is busy" in result.output and result.output.count("\n") == 1, result.output
            outcomes.append("busy")
        time.sleep(0.2)
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err.decode()
    assert outcomes.count("compacted") >= 2, outcomes

    acked = [int(line) for line in acks.read_text().split()]
    assert len(acked) >= 22, acked
    with Pond.open(s3_url) as pond:
        for j in acked:
            data = (f"{j}:" * (20_000 if j % 4 == 0 else 1)).encode()
            assert pond.read_bytes(f"/raw/f{j}.txt") == data, j
        names = {e.path for e in pond.list("/raw/f*")}
        assert names == {f"/raw/f{j}.txt" for j in acked}
        last = pond.last_txn
    assert [t["txn_seq"] for t in run(s3_url, "log")] == list(range(last, 0, -1))
    report = run(s3_url, "fsck")
    assert report["problems"] == [], report
    # Maintain changes no content: the roots of the kept transactions stay as they are.
    roots = {t: run(s3_url, "fsck", "--at-txn", str(t))["content_root"] for t in (last, last - 2)}
    run(s3_url, "maintain", "--keep-txns", "8")
    assert {t: run(s3_url, "fsck", "--at-txn", str(t))["content_root"] for t in roots} == roots


def test_a_blob_too_big_to_hold_is_streamed_from_the_pond_on_s3_to_its_backup(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``STREAM_BYTES`` a blob goes up in chunks, hashed on the way, read from the
    store by a machine that never saw it; the restore holds the same bytes."""
    import os

    from duckpond.backup.remote import STREAM_BYTES

    nas = f"file://{tmp_path / 'nas'}"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(STREAM_BYTES + 1_000_000))
    with Pond.init(s3_url) as pond:
        pond.copy_in([str(big)], "/big.bin")
        apply_text(pond, tmp_path, backup_doc("nas", nas))
    monkeypatch.setenv("DUCKPOND_CACHE_DIR", str(tmp_path / "another-machine"))
    pushed = run(s3_url, "backup", "push")[0]
    assert pushed["ok"] and pushed["bytes_sent"] > STREAM_BYTES
    dest = tmp_path / "restored"
    assert CliRunner().invoke(cli, ["restore", nas, str(dest)]).exit_code == 0
    with Pond.open(dest) as restored:
        assert restored.read_bytes("/big.bin") == big.read_bytes()
