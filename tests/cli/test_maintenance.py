"""recover and fsck through the CLI, and what a real process records in the log."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import PondRunner, assert_user_error, run_pond, sha256, write


def blob_dir(pond: PondRunner) -> Path:
    return pond.dir / "data" / "_large_files"


def test_fsck_of_a_healthy_pond(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "big", bytes(range(256)) * 400)), "/big")
    pond.ok("copy", str(write(host / "small", b"small")), "/small")
    assert pond.ok("fsck").stdout.splitlines()[0].endswith("ok")
    report = pond.json("fsck")
    assert report["ok"] is True and report["problems"] == []
    assert report["blobs_checked"] == 1
    assert report["versions_checked"] >= 4


def test_fsck_finds_a_tampered_blob(pond: PondRunner, host: Path) -> None:
    data = bytes(range(256)) * 400
    pond.ok("copy", str(write(host / "big", data)), "/big")
    [blob] = blob_dir(pond).iterdir()
    assert blob.name == f"sha256={sha256(data)}"
    blob.write_bytes(b"X" + data[1:])
    result = pond("fsck")
    assert "sha256 mismatch" in result.stdout
    assert "1 problem" in assert_user_error(result)
    result = pond("--json", "fsck")
    assert_user_error(result)
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [p["kind"] for p in report["problems"]] == ["sha256 mismatch"]
    assert report["problems"][0]["node_id"] == pond.json("list", "/big")[0]["node_id"]


def test_fsck_finds_a_missing_blob(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "big", b"b" * 70_000)), "/big")
    for blob in blob_dir(pond).iterdir():
        blob.unlink()
    result = pond("--json", "fsck")
    assert_user_error(result)
    assert [p["kind"] for p in json.loads(result.stdout)["problems"]] == ["missing blob"]


def test_recover_removes_orphans_and_a_stale_lock(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "big", b"k" * 70_000)), "/keep")
    orphan = b"o" * 70_000
    (blob_dir(pond) / f"sha256={sha256(orphan)}").write_bytes(orphan)
    (pond.dir / "write.lock").write_text(
        json.dumps({"pid": 999_999, "command": ["pond", "copy"], "since": "2025-01-01"})
    )
    assert pond.json("fsck")["unreferenced_blobs"] == 1
    before = pond.snapshot()
    report = pond.json("recover")
    assert report["removed_blobs"] == [sha256(orphan)]
    assert report["bytes_freed"] == len(orphan)
    assert report["stale_lock"]["pid"] == 999_999
    assert pond.snapshot() == before
    assert pond.cat_bytes("/keep") == b"k" * 70_000
    assert pond.json("fsck")["unreferenced_blobs"] == 0
    assert "nothing to recover" in pond.ok("recover").stdout


def test_a_real_process_records_its_command_line(pond: PondRunner) -> None:
    proc = run_pond("mkdir", "-p", "/a/b", pond_dir=pond.dir)
    assert proc.returncode == 0, proc.stderr
    [latest, *_] = pond.json("log")
    assert latest["command"] == ["pond", "--pond", str(pond.dir), "mkdir", "-p", "/a/b"]
    text = run_pond("log", "-n", "1", pond_dir=pond.dir).stdout.decode()
    assert "mkdir -p /a/b" in text
