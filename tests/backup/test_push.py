"""Pushes against a real S3 server: incremental and content-addressed, identity, conflicts."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from duckpond import Pond
from duckpond.backup import Remote, push, restore, verify
from duckpond.backup.layout import log_key
from duckpond.backup.local import LocalLog
from duckpond.errors import BackupConflictError
from duckpond.testing.s3server import S3Server
from duckpond.tlogfs.layout import BLOB_PREFIX

from .conftest import rich_pond, snapshot


def test_one_small_file_change_sends_that_file_plus_bounded_overhead(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=40)
    push(pond.path, Remote(s3_url, create=True), "offsite")
    before = s3_server.objects(s3_url)
    pond.write_bytes("/raw/notes.txt", b"one small change\n")
    report = push(pond.path, Remote(s3_url), "offsite")
    after = s3_server.objects(s3_url)
    new = {k: v for k, v in after.items() if k not in before}
    assert all(before[k] == after[k] for k in before), "a push replaced an existing object"
    entry = [k for k in new if k.startswith("data/_delta_log/")]
    assert len(entry) == 1
    overhead = sum(len(v) for k, v in new.items() if k != entry[0])
    assert overhead < 64 * 1024, (overhead, sorted(new))
    assert report.bytes_sent == sum(len(v) for v in new.values())
    # Nothing new: nothing sent.
    again = push(pond.path, Remote(s3_url), "offsite")
    assert again.up_to_date and again.bytes_sent == 0
    assert s3_server.objects(s3_url).keys() == after.keys()


def test_large_content_is_sent_once_however_many_files_share_it(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = Pond.init(tmp_path / "pond")
    blob = os.urandom(2_000_000)
    pond.mkdir("/a", "/b")
    pond.write_bytes("/a/one.bin", blob)
    push(pond.path, Remote(s3_url, create=True), "offsite")
    pond.write_bytes("/b/two.bin", blob)
    pond.write_bytes("/a/one.bin", b"small now")
    pond.write_bytes("/a/one.bin", blob)  # back to the shared content: a third version
    report = push(pond.path, Remote(s3_url), "offsite")
    assert report.bytes_sent < 64 * 1024
    blobs = [k for k in s3_server.objects(s3_url) if k.startswith("data/_large_files/")]
    assert len(blobs) == 1


def test_another_pond_is_refused_naming_both_ids(s3_url: str, tmp_path: Path) -> None:
    first = Pond.init(tmp_path / "first")
    second = Pond.init(tmp_path / "second")
    push(first.path, Remote(s3_url, create=True), "offsite")
    with pytest.raises(BackupConflictError) as info:
        push(second.path, Remote(s3_url), "offsite")
    assert first.pond_id in str(info.value) and second.pond_id in str(info.value)
    assert restore(s3_url, tmp_path / "r").pond_id == first.pond_id


def test_a_restored_copy_that_diverged_cannot_push_over_the_original(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    original = Pond.init(tmp_path / "original")
    original.write_bytes("/a.txt", b"one")
    push(original.path, Remote(s3_url, create=True), "offsite")
    restore(s3_url, tmp_path / "copy")
    copy = Pond.open(tmp_path / "copy")
    copy.write_bytes("/a.txt", b"the copy's own")
    original.write_bytes("/a.txt", b"the original's")
    push(original.path, Remote(s3_url), "offsite")
    objects = s3_server.objects(s3_url)
    with pytest.raises(BackupConflictError, match="diverged"):
        push(copy.path, Remote(s3_url), "offsite")
    assert s3_server.objects(s3_url) == objects, "a refused push changed the remote"
    assert verify(copy.path, Remote(s3_url)).status == "diverged"
    restore(s3_url, tmp_path / "again")
    assert Pond.open(tmp_path / "again").read_bytes("/a.txt") == b"the original's"
    assert snapshot(tmp_path / "again") == snapshot(tmp_path / "original")


def test_push_and_verify_name_the_same_transaction_where_a_copy_diverged(
    s3_url: str, tmp_path: Path
) -> None:
    """A copy restored at txn N wrote txn N+1 while the original pushed N+1 and N+2: the
    remote holds more than the copy, yet it is not "ahead": both push and verify say
    "diverged at txn N+1" (a fresh-user trial got "ahead" from push and "diverged" from
    verify, and Delta version numbers nobody sees elsewhere)."""
    original = Pond.init(tmp_path / "original")
    original.write_bytes("/a.txt", b"one")
    push(original.path, Remote(s3_url, create=True), "offsite")
    restore(s3_url, tmp_path / "copy")
    copy = Pond.open(tmp_path / "copy")
    parted = copy.last_txn + 1
    copy.write_bytes("/a.txt", b"the copy's own")
    original.write_bytes("/a.txt", b"the original's")
    original.write_bytes("/b.txt", b"and more")
    push(original.path, Remote(s3_url), "offsite")
    with pytest.raises(BackupConflictError) as info:
        push(copy.path, Remote(s3_url), "offsite")
    assert f"diverged at txn {parted} " in str(info.value), info.value
    assert "Delta version" not in str(info.value)
    report = verify(copy.path, Remote(s3_url))
    assert (report.status, report.diverged_txn) == ("diverged", parted)
    for _ in range(2):
        copy.write_bytes("/c.txt", b"the copy goes on")
    with pytest.raises(BackupConflictError, match=f"diverged at txn {parted} "):
        push(copy.path, Remote(s3_url), "offsite")


def test_a_pond_behind_its_backup_is_refused_as_ahead(s3_url: str, tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/a.txt", b"one")
    push(pond.path, Remote(s3_url, create=True), "offsite")
    restore(s3_url, tmp_path / "old", at_txn=1)
    with pytest.raises(BackupConflictError, match=r"ahead of this pond .* after txn 1,"):
        push(tmp_path / "old", Remote(s3_url), "offsite")
    assert verify(tmp_path / "old", Remote(s3_url)).status == "ahead"
    pond.write_bytes("/b.txt", b"two")
    report = verify(pond.path, Remote(s3_url))
    assert (report.status, report.behind_by) == ("behind", 1)


def test_two_pushers_of_one_version_cannot_both_win(s3_url: str, tmp_path: Path) -> None:
    """Each log entry is written create-only: a second writer of a version is refused."""
    remote = Remote(s3_url, create=True)
    assert remote.put_new(log_key(0), b"first")
    assert not remote.put_new(log_key(0), b"second")
    assert remote.get(log_key(0)) == b"first"


def _verify_cli(pond: Path) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from duckpond.cli import cli

    result = CliRunner().invoke(cli, ["--pond", str(pond), "backup", "verify", "offsite"])
    return result.exit_code, result.stdout, result.stderr


def test_verify_names_a_different_pond_and_where_a_copy_diverged(
    s3_url: str, tmp_path: Path
) -> None:
    from .conftest import apply_text, backup_doc

    first = Pond.init(tmp_path / "first")
    for i in range(3):
        first.write_bytes(f"/f{i}.txt", b"x")
    push(first.path, Remote(s3_url, create=True), "offsite")
    other = Pond.init(tmp_path / "other")
    for pond in (first, other):
        apply_text(pond, tmp_path, backup_doc("offsite", s3_url))
    code, out, err = _verify_cli(other.path)
    assert code == 1
    assert out.splitlines()[0] == (
        f"offsite: different pond (remote holds pond {first.pond_id}, this is pond {other.pond_id})"
    )
    assert err.strip() == (
        "error: backup offsite is not usable as it is: different pond; that URL holds the "
        "backup of another pond: give this pond's Backup another URL and push there; "
        "nothing was overwritten"
    )

    push(first.path, Remote(s3_url), "offsite")  # the Backup resource, txn 5
    restore(s3_url, tmp_path / "copy")
    copy = Pond.open(tmp_path / "copy")
    copy.write_bytes("/copy.txt", b"the copy's own")  # txn 6 here
    for i in range(6):
        first.write_bytes(f"/g{i}.txt", b"y")  # txns 6..11 there
    push(first.path, Remote(s3_url), "offsite")
    code, out, _ = _verify_cli(copy.path)
    assert code == 1
    assert out.splitlines()[0] == "offsite: diverged at txn 6 (remote txn 11, local txn 6)"
    # The remote's entry matches its own push record: a real divergence, not damage.
    report = verify(copy.path, Remote(s3_url))
    assert (report.status, report.diverged_txn, report.remote_txn) == ("diverged", 6, 11)
    assert report.problems == [] and report.local_root is None
    assert "does not hold" not in report.root_detail
    assert report.root_detail.startswith("the remote's transactions from txn 6 on are another")
    assert report.advice("offsite") == (
        "a copy of this pond wrote its own transactions there: push this pond to another "
        "URL; nothing was overwritten"
    )


def test_one_broken_backup_does_not_stop_the_others(s3_url: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from duckpond.cli import cli

    from .conftest import apply_text, backup_doc

    stranger = Pond.init(tmp_path / "stranger")
    taken = f"{s3_url}-taken"
    push(stranger.path, Remote(taken, create=True), "x")
    pond = Pond.init(tmp_path / "pond")
    pond.write_bytes("/a.txt", b"one")
    apply_text(pond, tmp_path, backup_doc("aaa-broken", taken))
    apply_text(pond, tmp_path, backup_doc("offsite", s3_url))
    result = CliRunner().invoke(cli, ["--pond", str(pond.path), "backup", "push"])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "aaa-broken: failed"
    assert lines[1].startswith(f"offsite: pushed through txn {pond.last_txn} to {s3_url}")
    assert result.stderr.startswith(f"error: aaa-broken: {taken} holds the backup of pond")
    assert len(result.stderr.strip().splitlines()) == 1
    assert verify(pond.path, Remote(s3_url)).status == "equal"

    pond.write_bytes("/b.txt", b"two")
    reports = pond.backups.push()
    assert [(r.name, r.ok) for r in reports] == [("aaa-broken", False), ("offsite", True)]
    assert reports[0].error is not None and stranger.pond_id in reports[0].error
    # A bare str is one name, not a sequence of one-letter names.
    pond.write_bytes("/c.txt", b"three")
    (only,) = pond.backups.push("offsite")
    assert only.ok and only.last_txn == pond.last_txn


def test_a_new_backup_of_a_maintained_pond_starts_from_its_snapshot(tmp_path: Path) -> None:
    """History removed by maintain --keep is not needed: a first push sends the snapshot
    the pond starts from (tests/backup/test_seed.py has the rest)."""
    pond = Pond.init(tmp_path / "pond")
    pond.mkdir("/raw")
    for i in range(12):
        pond.write_bytes(f"/raw/f{i % 3}.txt", f"v{i}".encode())
    pond.maintenance.maintain(keep_txns=3)
    nas = tmp_path / "nas"
    assert push(pond.path, Remote(f"file://{nas}", create=True), "nas").ok
    restore(f"file://{nas}", tmp_path / "restored")
    assert Pond.check(tmp_path / "restored").content_root == pond.fsck().content_root


class _HeldRemote(Remote):
    """A remote whose upload of one key waits until the test lets it go; counts HEADs."""

    def __init__(self, url: str, held: str) -> None:
        super().__init__(url, create=True)
        self.held, self.release, self.heads = held, threading.Event(), 0

    def upload(self, key: str, *args: Any, **kwargs: Any) -> None:
        if key == self.held:
            assert self.release.wait(60), "the test never let the upload go"
        super().upload(key, *args, **kwargs)

    def size(self, key: str) -> int | None:
        self.heads += 1
        return super().size(key)


def test_a_log_entry_goes_up_once_what_it_names_is_there_not_its_whole_batch(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = Pond.init(tmp_path / "pond")
    pond.mkdir("/small", "/big")
    for i in range(6):
        pond.write_bytes(f"/small/f{i}.txt", f"reading {i}\n".encode())
    early = LocalLog(pond.path).newest()
    blob = os.urandom(300_000)
    pond.write_bytes("/big/b.bin", blob)  # the batch's last version names this blob
    blob_key = f"data/_large_files/{BLOB_PREFIX}{hashlib.sha256(blob).hexdigest()}"
    remote = _HeldRemote(s3_url, blob_key)
    pushing = ThreadPoolExecutor(max_workers=1).submit(push, pond.path, remote, "offsite")
    try:
        # Every entry before the blob's version goes up while the blob is held back.
        deadline = time.monotonic() + 30
        while log_key(early) not in s3_server.objects(s3_url):
            assert time.monotonic() < deadline, "entries waited for the whole batch"
            time.sleep(0.05)
        assert log_key(early + 1) not in s3_server.objects(s3_url)
    finally:
        remote.release.set()
    report = pushing.result(timeout=60)
    assert report.ok and report.to_version == LocalLog(pond.path).newest()
    # A first push lists the remote's blobs once instead of asking for each.
    assert remote.heads == 0
    restored = restore(s3_url, tmp_path / "restored")
    assert restored.txn_seq == pond.last_txn


def test_a_first_push_does_not_resend_a_blob_an_interrupted_one_left(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    pond = Pond.init(tmp_path / "pond")
    blob = os.urandom(400_000)
    pond.write_bytes("/b.bin", blob)
    blob_key = f"data/_large_files/{BLOB_PREFIX}{hashlib.sha256(blob).hexdigest()}"
    remote = Remote(s3_url, create=True)
    remote.put(blob_key, blob)  # as if a push were killed after sending it
    report = push(pond.path, remote, "offsite")
    assert report.ok and report.objects_present == 1
    assert report.bytes_sent < len(blob)
    assert s3_server.objects(s3_url)[blob_key] == blob
