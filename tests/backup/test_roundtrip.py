"""Round trips against a real S3 server (and a file:// directory): every path, version and
byte of the restore equal to the source, at the newest transaction and at older ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.backup import Remote, push, restore, verify
from duckpond.errors import PondExistsError

from .conftest import rich_pond, snapshot


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("source")
    rich_pond(tmp / "pond", tmp, transactions=52).close()
    return tmp / "pond"


def test_round_trip_s3_every_byte_at_newest_and_older_txns(
    source: Path, s3_url: str, tmp_path: Path
) -> None:
    report = push(source, Remote(s3_url, create=True), "offsite")
    assert report.last_txn == Pond.open(source).last_txn >= 53
    restored = tmp_path / "restored"
    result = restore(s3_url, restored)
    assert result.txn_seq == report.last_txn
    assert snapshot(restored) == snapshot(source)
    for txn in (1, 9, 30):
        older = tmp_path / f"at-{txn}"
        restore(s3_url, older, at_txn=txn)
        assert snapshot(older) == snapshot(source, at_txn=txn)
        # Time travel inside the full restore reads the same as the source's.
        assert snapshot(restored, at_txn=txn) == snapshot(source, at_txn=txn)
    fsck = Pond.open(restored).fsck()
    assert fsck.ok, fsck.problems
    assert verify(source, Remote(s3_url)).status == "equal"


def test_round_trip_file_url(source: Path, tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'nas' / 'pond-backup'}"
    push(source, Remote(url, create=True), "nas")
    restore(url, tmp_path / "restored")
    assert snapshot(tmp_path / "restored") == snapshot(source)
    # The remote's data/ is a Delta table any reader opens in place.
    from deltalake import DeltaTable

    table = DeltaTable(str(tmp_path / "nas" / "pond-backup" / "data"))
    assert table.version() == max(
        int(p.name[:20]) for p in (source / "data" / "_delta_log").glob("*.json")
    )


def test_restore_refuses_an_existing_pond_and_leaves_it(source: Path, tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'bk'}"
    push(source, Remote(url, create=True), "nas")
    other = Pond.init(tmp_path / "other")
    other.close()
    before = snapshot(tmp_path / "other")
    with pytest.raises(PondExistsError):
        restore(url, tmp_path / "other")
    assert snapshot(tmp_path / "other") == before
    # An empty directory is fine.
    (tmp_path / "empty").mkdir()
    restore(url, tmp_path / "empty")
    assert Pond.open(tmp_path / "empty").last_txn == Pond.open(source).last_txn


def test_restored_pond_keeps_the_id_and_writes_on(source: Path, tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'bk'}"
    push(source, Remote(url, create=True), "nas")
    restore(url, tmp_path / "r")
    pond = Pond.open(tmp_path / "r")
    assert pond.pond_id == Pond.open(source).pond_id
    pond.write_bytes("/raw/after-restore.txt", b"still a pond")
    assert pond.read_bytes("/raw/after-restore.txt") == b"still a pond"
    assert pond.fsck().ok


def test_a_restored_pond_knows_its_backup_holds_everything(s3_url: str, tmp_path: Path) -> None:
    from .conftest import apply_text, backup_doc

    pond = Pond.init(tmp_path / "pond")
    apply_text(pond, tmp_path, backup_doc("offsite", s3_url))
    apply_text(pond, tmp_path, backup_doc("elsewhere", f"{s3_url}-other"))
    for i in range(5):
        pond.write_bytes(f"/f{i}.txt", b"x")
    pond.backups.push(["offsite"])
    Pond.restore(s3_url, tmp_path / "copy")
    copy = Pond.open(tmp_path / "copy")
    lags = {b.name: (b.last_pushed_txn, b.lag_txns) for b in copy.status().backups}
    assert lags == {"offsite": (copy.last_txn, 0), "elsewhere": (0, copy.last_txn)}
    (report,) = copy.backups.push("offsite")
    assert report.ok and report.up_to_date


def test_a_restore_is_sealed_like_its_source(tmp_path: Path) -> None:
    """Files only older transactions read (replaced by a compaction) come back sealed with
    their checked hashes: fsck of the restore finds nothing to recover."""
    pond = Pond.init(tmp_path / "pond")
    for i in range(12):
        pond.write_bytes(f"/f{i}.txt", f"version {i}".encode())
    pond.maintenance.maintain()  # compacts: the small files stay for time travel
    url = f"file://{tmp_path / 'nas'}"
    push(pond.path, Remote(url, create=True), "nas")
    restore(url, tmp_path / "restored")
    check = Pond.open(tmp_path / "restored").fsck()
    assert check.ok, check.problems
    assert check.unsealed_files == 0 and check.debris_files == 0, check.summary()
    assert check.content_root == pond.fsck().content_root


RESTORE_AND_REPORT = """\
import json, sys
from duckpond import Pond
report = Pond.restore(sys.argv[1], sys.argv[2])
heavy = sorted(m for m in ("pyarrow", "deltalake", "datafusion", "pydantic", "pandas")
               if m in sys.modules)
print(json.dumps({"txn": report.txn_seq, "heavy": heavy}))
"""


def test_a_restore_opens_nothing_heavy_and_its_note_is_checked(tmp_path: Path) -> None:
    """A restore is the transfer and its checks: no Delta table opened, no resource
    document read (pyarrow, deltalake and pydantic cost tenths of a second each).  The
    note it leaves (``_restored.json``) is what a Backup at the same URL starts from; a
    damaged note is ignored, and the push then looks at the remote in full."""

    from duckpond.backup.state import RESTORED_FILE, STATE_DIR, load_state

    from .conftest import apply_text, backup_doc

    url = f"file://{tmp_path / 'nas'}"
    pond = Pond.init(tmp_path / "pond")
    apply_text(pond, tmp_path, backup_doc("nas", url))
    for i in range(4):
        pond.write_bytes(f"/f{i}.txt", b"x" * (i + 1) * 50_000)
    (pushed,) = pond.backups.push(["nas"])
    assert pushed.ok
    done = subprocess.run(
        [sys.executable, "-c", RESTORE_AND_REPORT, url, str(tmp_path / "copy")],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result == {"txn": pond.last_txn, "heavy": []}
    copy = Pond.open(tmp_path / "copy")
    assert copy.fsck().ok
    state = load_state(copy.path, "nas", url + "/")
    assert (state.last_txn, state.last_version) == (pond.last_txn, pushed.to_version)
    assert load_state(copy.path, "other", f"{url}-other").last_version == -1
    note = copy.path / STATE_DIR / RESTORED_FILE
    note.write_text('{"format": "duckpond-restored/1", "url": 3}')
    assert load_state(copy.path, "nas", url).last_version == -1
    copy.write_bytes("/after.txt", b"new")
    (report,) = copy.backups.push(["nas"])
    assert report.ok and report.last_txn == copy.last_txn
