"""A remote someone changed: restore refuses naming the object; ``verify --deep`` names each."""

from __future__ import annotations

import os
from pathlib import Path

import obstore
import pytest

from duckpond import Pond
from duckpond.backup import Remote, push, restore, verify
from duckpond.backup.layout import log_key
from duckpond.backup.verify import MISMATCH
from duckpond.errors import CorruptDataError
from duckpond.testing.s3server import S3Server


@pytest.fixture
def pushed(s3_server: S3Server, s3_url: str, tmp_path: Path) -> tuple[Path, str]:
    pond = Pond.init(tmp_path / "pond")
    pond.mkdir("/d")
    pond.write_bytes("/d/big.bin", os.urandom(500_000))
    pond.write_bytes("/d/small.txt", b"small")
    pond.write_bytes("/d/big2.bin", os.urandom(300_000))
    push(pond.path, Remote(s3_url, create=True), "offsite")
    return pond.path, s3_url


def _flip(server: S3Server, url: str, key: str) -> None:
    store = server.store(url)
    data = bytearray(obstore.get(store, key).bytes())
    data[len(data) // 2] ^= 0x01
    obstore.put(store, key, bytes(data))


def _keys(server: S3Server, url: str, prefix: str) -> list[str]:
    return sorted(k for k in server.objects(url) if k.startswith(prefix))


def test_a_flipped_bit_in_a_blob(
    s3_server: S3Server, pushed: tuple[Path, str], tmp_path: Path
) -> None:
    pond_dir, url = pushed
    blob = _keys(s3_server, url, "data/_large_files/")[0]
    _flip(s3_server, url, blob)
    with pytest.raises(CorruptDataError, match=blob):
        restore(url, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    assert not list(tmp_path.glob(".r.restore-*")), "a failed restore left its staging"
    report = verify(pond_dir, Remote(url), deep=True)
    assert report.problems == [(blob, "does not match its recorded sha256")]
    assert not report.ok


def test_a_flipped_bit_in_a_data_file_and_a_deleted_log_entry(
    s3_server: S3Server, pushed: tuple[Path, str], tmp_path: Path
) -> None:
    pond_dir, url = pushed
    data_file = _keys(s3_server, url, "data/part_id=")[-1]
    _flip(s3_server, url, data_file)
    with pytest.raises(CorruptDataError, match=data_file.replace("=", "=")):
        restore(url, tmp_path / "r")
    blob = _keys(s3_server, url, "data/_large_files/")[-1]
    obstore.delete(s3_server.store(url), blob)
    report = verify(pond_dir, Remote(url), deep=True)
    named = [(data_file, "does not match its recorded sha256"), (blob, "missing")]
    assert all(problem in report.problems for problem in named), report.problems
    # Where the flipped bit makes the file unparseable (it depends on where the middle
    # byte falls), the remote tree's content root cannot be computed either: said of
    # the same file, and nothing else.
    others = [p for p in report.problems if p not in named]
    assert all(key == "data" and data_file in why for key, why in others), others
    assert not report.ok


def test_a_deleted_blob_stops_restore_naming_it(
    s3_server: S3Server, pushed: tuple[Path, str], tmp_path: Path
) -> None:
    _, url = pushed
    blob = _keys(s3_server, url, "data/_large_files/")[0]
    obstore.delete(s3_server.store(url), blob)
    with pytest.raises(CorruptDataError, match=f"{blob} is missing"):
        restore(url, tmp_path / "r")


def test_an_edited_push_record(
    s3_server: S3Server, pushed: tuple[Path, str], tmp_path: Path
) -> None:
    pond_dir, url = pushed
    records = _keys(s3_server, url, "pushes/")
    key = records[2]
    store = s3_server.store(url)
    text = bytes(obstore.get(store, key).bytes()).decode()
    obstore.put(store, key, text.replace('"txn_seq":3', '"txn_seq":30').encode())
    with pytest.raises(CorruptDataError, match=key):
        restore(url, tmp_path / "r")
    report = verify(pond_dir, Remote(url), deep=True)
    assert [k for k, _ in report.problems] == [key]
    # A record rewritten with a fresh checksum still breaks the chain of the next one.
    records_after = records[3]
    import hashlib
    import json

    body = json.loads(text)
    body.pop("checksum")
    body["txn_seq"] = 30
    body["checksum"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    obstore.put(
        store, key, (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()
    )
    with pytest.raises(CorruptDataError, match=records_after):
        restore(url, tmp_path / "r2")


def test_deep_verify_of_a_good_backup_checks_every_object(
    s3_server: S3Server, pushed: tuple[Path, str]
) -> None:
    pond_dir, url = pushed
    report = verify(pond_dir, Remote(url), deep=True)
    assert report.ok and report.status == "equal"
    objects = s3_server.objects(url)
    assert report.objects_checked == len([k for k in objects if not k.startswith("pushes/")])


def test_fetch_verified_reads_one_object_checked_against_its_record(
    s3_server: S3Server, pushed: tuple[Path, str]
) -> None:
    pond_dir, url = pushed
    remote = Remote(url)
    data_file = _keys(s3_server, url, "data/part_id=")[0]
    assert remote.fetch_verified(data_file) == (pond_dir / data_file).read_bytes()
    blob = _keys(s3_server, url, "data/_large_files/")[0]
    assert remote.fetch_verified(blob) == (pond_dir / blob).read_bytes()
    _flip(s3_server, url, data_file)
    with pytest.raises(CorruptDataError, match="does not match"):
        Remote(url).fetch_verified(data_file)
    with pytest.raises(CorruptDataError, match="not named by any push record"):
        remote.fetch_verified("data/nothing.parquet")


def test_a_flipped_bit_in_the_newest_log_entry_is_damage_not_divergence(
    s3_server: S3Server, pushed: tuple[Path, str]
) -> None:
    """The remote's own push record of that version names the pond's entry, so the
    entry was changed after the push: a damaged object (issue 16's trial called it
    "diverged", and said the pond lacked a transaction it holds)."""
    pond_dir, url = pushed
    remote = Remote(url)
    entry = log_key(remote.tip())
    _flip(s3_server, url, entry)
    report = verify(pond_dir, Remote(url))
    assert (report.status, report.diverged_txn) == ("damaged", None)
    assert (entry, MISMATCH) in report.problems
    assert report.local_root is not None and "does not hold" not in report.root_detail
    local = Pond.open(pond_dir)
    assert report.local_txn == report.remote_txn == local.last_txn
    assert "pond backup mend offsite --deep" in report.advice("offsite")
    assert report.to_json("offsite")["advice"] == report.advice("offsite")
