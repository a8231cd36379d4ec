"""``pond fsck --repair NAME``: local faults mended from a real S3 backup; the rest named."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.testing.s3server import S3Server

from .test_cli import make, pond_cli, secret_env

__all__ = ["secret_env"]


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_fsck_repair_mends_what_the_backup_holds_and_names_the_rest(
    s3_server: S3Server,
    s3_url: str,
    secret_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pond_dir = make(tmp_path, s3_server, s3_url)
    pond = Pond.open(pond_dir)
    pond.write_bytes("/raw/big.bin", os.urandom(400_000))
    for i in range(6):
        pond.write_bytes(f"/raw/n{i}.txt", f"note {i}".encode())
    pond.close()
    assert pond_cli(pond_dir, "backup", "push", "offsite").exit_code == 0
    root = json.loads(pond_cli(pond_dir, "--json", "fsck").stdout)["content_root"]

    data = pond_dir / "data"
    data_files = sorted(data.glob("part_id=*/*.parquet"))
    blobs = sorted((data / "_large_files").glob("sha256=*"))
    entries = sorted((data / "_delta_log").glob("*.json"))
    flipped, deleted, truncated = data_files[0], blobs[0], entries[-3]
    _flip(flipped)
    deleted.unlink()
    truncated.write_bytes(truncated.read_bytes()[:20])
    broken = pond_cli(pond_dir, "--json", "fsck")
    assert broken.exit_code == 1
    found = {p["path"] for p in json.loads(broken.stdout)["problems"]}
    faults = {str(p.relative_to(pond_dir)) for p in (flipped, deleted, truncated)}
    # The blob is named once the rows can be read again: repair goes round until then.
    assert faults - {str(deleted.relative_to(pond_dir))} <= found, found

    # The truncated log entry keeps the pond from opening, so its Backup resource cannot
    # be read: the URL comes from the last push's record, the store settings from AWS_*.
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    result = pond_cli(pond_dir, "--json", "fsck", "--repair", "offsite")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert faults <= set(report["repaired"])
    assert report["ok"] and not report["unrepaired"]
    after = json.loads(pond_cli(pond_dir, "--json", "fsck").stdout)
    assert after["ok"] and after["content_root"] == root
    assert not list(data.rglob("*repair-*")), "a temporary file was left"

    # A blob written after the push: the backup cannot mend it, and says so.
    pond = Pond.open(pond_dir)
    pond.write_bytes("/raw/new.bin", os.urandom(300_000))
    pond.close()
    fresh = set((data / "_large_files").glob("sha256=*")) - set(blobs)
    (lost,) = fresh
    lost.unlink()
    result = pond_cli(pond_dir, "--json", "fsck", "--repair", "offsite")
    assert result.exit_code == 1
    assert "not repaired" in result.stderr
    report = json.loads(result.stdout)
    rel = str(lost.relative_to(pond_dir))
    assert [u["path"] for u in report["unrepaired"]] == [rel]
    assert "not named by any push record" in report["unrepaired"][0]["why"]
    text = pond_cli(pond_dir, "fsck", "--repair", "offsite")
    assert f"not repairable: {rel}" in text.stdout


def test_repair_takes_the_write_lock(tmp_path: Path) -> None:
    """While another process holds the pond's write lock, repair waits, then gives up
    naming the holder, having put nothing back; once the lock is free it mends."""
    import subprocess
    import sys

    from duckpond.backup import Remote, push, repair
    from duckpond.errors import LockTimeoutError

    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/big.bin", os.urandom(300_000))
    pond.close()
    url = f"file://{tmp_path}/remote"
    push(pond.path, Remote(url, create=True), "offsite")
    blob = next((pond.path / "data" / "_large_files").glob("sha256=*"))
    blob.unlink()

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from duckpond.tlogfs.lock import WriterLock\n"
            "with WriterLock(sys.argv[1]):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.read()\n",
            str(pond.path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(LockTimeoutError, match=f"pid {holder.pid}"):
            repair(pond.path, Remote(url), lock_timeout=0.5)
        assert not blob.exists()  # nothing put back while a writer held the pond
    finally:
        holder.communicate(b"", timeout=30)
    report = repair(pond.path, Remote(url), lock_timeout=5)
    assert report.ok and blob.exists() and report.repaired == [str(blob.relative_to(pond.path))]


def _file_backup_pond(tmp_path: Path) -> Path:
    """A pond with a checkpoint amid its log and one at its newest version, a Backup
    resource at a file:// URL, pushed."""
    from .conftest import backup_doc

    pond = Pond.init(tmp_path / "pond")
    pond.mkdir("/raw")
    for i in range(4):
        pond.write_bytes(f"/raw/n{i}.txt", f"note {i}".encode())
    pond.close()
    assert pond_cli(pond.path, "maintain").exit_code == 0  # compacts and checkpoints
    doc = tmp_path / "backup.yaml"
    doc.write_text(backup_doc("offsite", f"file://{tmp_path}/remote"))
    assert pond_cli(pond.path, "apply", "-f", str(doc)).exit_code == 0
    pond = Pond.open(pond.path)
    pond.write_bytes("/raw/late.txt", b"late")
    pond.close()
    # A checkpoint at the newest version too: the newest entry is then read only by the
    # commits' history, as after any `pond maintain`.
    assert pond_cli(pond.path, "maintain").exit_code == 0
    pushed = pond_cli(pond.path, "backup", "push", "offsite")
    assert pushed.exit_code == 0, pushed.output
    return pond.path


def _cut_covered_entry(pond_dir: Path) -> list[Path]:
    """Cut part-way a log entry the checkpoint covers: only the commits' history reads it."""
    log = pond_dir / "data" / "_delta_log"
    first = min(int(c.name.split(".")[0]) for c in log.glob("*.checkpoint.parquet"))
    entry = sorted(log.glob("*.json"))[first - 1]
    with open(entry, "r+b") as f:
        f.truncate(100)
    return [entry]


def _cut_newest_entry(pond_dir: Path) -> list[Path]:
    """Cut part-way the newest log entry (a checkpoint at its version covers it)."""
    entry = sorted((pond_dir / "data" / "_delta_log").glob("*.json"))[-1]
    with open(entry, "r+b") as f:
        f.truncate(100)
    return [entry]


def _delete_root_and_resources_files(pond_dir: Path) -> list[Path]:
    """A data file of ``/`` and one of ``/etc/resources``: the pond opens, but cannot read
    its Backup resource."""
    from duckpond.tinyfs.persistence import ROOT_ID

    with Pond.open(pond_dir) as pond:
        resources = pond.root.get("/etc/resources").node_id
    data = pond_dir / "data"
    lost = [sorted((data / f"part_id={p}").glob("*.parquet"))[0] for p in (ROOT_ID, resources)]
    for f in lost:
        f.unlink()
    return lost


@pytest.mark.parametrize(
    ("fault", "specs_cache"),
    [
        (_cut_covered_entry, True),
        (_cut_newest_entry, True),
        (_delete_root_and_resources_files, True),
        (_delete_root_and_resources_files, False),
    ],
    ids=["covered-entry", "newest-entry", "root-and-resources", "root-and-resources-no-cache"],
)
def test_repair_mends_cut_log_entries_and_the_data_files_of_root_and_resources(
    tmp_path: Path, fault: Callable[[Path], list[Path]], specs_cache: bool
) -> None:
    """A log entry cut part-way, or data files of the root and /etc/resources partitions
    deleted: fsck names each (not the parser's error) and exits 1; --repair, though the
    pond may not read its Backup resource, gets the backup from the pond's records (the
    specs cache, or else the URL its last push recorded), puts everything back, and the
    pond is whole with its content root."""
    pond_dir = _file_backup_pond(tmp_path)
    root = json.loads(pond_cli(pond_dir, "--json", "fsck").stdout)["content_root"]
    if not specs_cache:
        (pond_dir / "backups" / "_specs.json").unlink()
    faults = {str(p.relative_to(pond_dir)) for p in fault(pond_dir)}

    broken = pond_cli(pond_dir, "fsck")
    assert broken.exit_code == 1
    assert broken.stderr.startswith("error: ") and "problem(s) found" in broken.stderr
    for name in faults:
        assert name in broken.stdout, broken.stdout

    result = pond_cli(pond_dir, "--json", "fsck", "--repair", "offsite")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert faults <= set(report["repaired"]) and not report["unrepaired"]
    after = json.loads(pond_cli(pond_dir, "--json", "fsck").stdout)
    assert after["ok"] and after["content_root"] == root


def test_repair_from_a_backup_the_pond_has_not_is_said_as_such(tmp_path: Path) -> None:
    # A healthy pond that reads fine has no Backup by that name: the error says that, and
    # not that the pond cannot be read.
    pond = Pond.init(tmp_path / "p")
    pond.write_bytes("/a", b"a")
    result = pond_cli(pond.path, "fsck", "--repair", "nosuch")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no Backup resource named 'nosuch' (backups: none)"
