"""``status``, ``du``, ``backup push|list|verify|prune`` on a pond kept on S3 (issue 19).

Each is compared with a local pond doing the same, against the real SeaweedFS server; a
push from a pond on S3 is restored and its content root compared with the pond's.
"""

from __future__ import annotations

import json
import subprocess
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
