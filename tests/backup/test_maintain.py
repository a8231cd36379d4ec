"""maintain never destroys the only copy: a lagging Backup makes it refuse, --push-first
pushes first, and the backup can still push, verify and restore after maintenance
(against the real S3 server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.backup import Remote, push, restore, verify
from duckpond.errors import BackupConflictError, ConfigError, HistoryRemovedError

from .conftest import apply_text, backup_doc, rich_pond


def files(pond_dir: Path) -> dict[str, int]:
    return {
        str(p.relative_to(pond_dir)): p.stat().st_size
        for p in (pond_dir / "data").rglob("*")
        if p.is_file()
    }


def test_maintain_refuses_while_a_backup_lags_and_pushes_first_when_told(
    tmp_path: Path, s3_url: str
) -> None:
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=30)
    apply_text(pond, tmp_path, backup_doc("offsite", s3_url))
    pond.backups.push(["offsite"])
    pond.write_bytes("/late.txt", b"not pushed yet")

    before = files(pond.path)
    with pytest.raises(ConfigError, match="backup offsite lags") as caught:
        pond.maintenance.maintain(keep_txns=5)
    assert "pond backup push offsite" in str(caught.value)
    assert files(pond.path) == before  # refused: nothing changed
    dry = pond.maintenance.maintain(keep_txns=5, dry_run=True)  # a dry run says, refuses not
    assert dry.dry_run and files(pond.path) == before

    root = pond.fsck().content_root
    report = pond.maintenance.maintain(keep_txns=5, push_first=True)
    assert report.removed and report.earliest_kept_txn == pond.last_txn - 4
    assert report.series_consolidated == 1  # /data/temps.series: its versions before the window
    assert pond.fsck().ok and pond.fsck().content_root == root

    # The backup goes on: what maintain wrote is pushed, and the remote is the pond.
    pond.write_bytes("/after.txt", b"after maintenance")
    pond.backups.push(["offsite"])
    assert pond.backups.verify("offsite").ok
    restored = restore(s3_url, tmp_path / "restored")
    assert restored.txn_seq == pond.last_txn
    assert Pond.check(tmp_path / "restored").content_root == pond.fsck().content_root

    # The remote's own window moves past the consolidation, and a restore still matches.
    pond.backups.prune("offsite", keep_txns=2)
    assert pond.backups.verify("offsite").ok
    again = restore(s3_url, tmp_path / "after-prune")
    assert again.txn_seq == pond.last_txn
    assert Pond.check(tmp_path / "after-prune").content_root == pond.fsck().content_root
    assert Pond.open(tmp_path / "after-prune").read_table("/data/temps.series") == pond.read_table(
        "/data/temps.series"
    )


def test_push_first_that_fails_says_why_and_removes_nothing(tmp_path: Path) -> None:
    """--push-first over a backup that cannot take the push (here: another pond's) names
    the push's failure, not "give --push-first" (a fresh-user trial got that)."""
    from duckpond.backup import Remote, push

    nas = f"file://{tmp_path / 'nas'}"
    other = Pond.init(tmp_path / "other")
    push(other.path, Remote(nas, create=True), "x")
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=12)
    apply_text(pond, tmp_path, backup_doc("nas", nas))
    before = files(pond.path)
    with pytest.raises(ConfigError) as caught:
        pond.maintenance.maintain(keep_txns=3, push_first=True)
    message = str(caught.value)
    assert message.startswith("backup nas lags and the push before maintain failed:"), message
    assert "holds the backup of pond" in message and "or give" not in message
    assert files(pond.path) == before


def test_a_restore_of_a_maintained_ponds_backup_keeps_its_retention(tmp_path: Path) -> None:
    """The backup held the history maintain removed locally; a restore at the newest
    transaction reads as the source does (fsck clean, the same refusal before the window,
    the same log), and one before the maintenance still has the old history."""
    url = (tmp_path / "bk").as_uri()
    pond = Pond.init(tmp_path / "pond")
    apply_text(pond, tmp_path, backup_doc("offsite", url))
    for i in range(30):
        pond.write_bytes(f"/f{i % 3}.txt", f"reading {i}\n".encode())
    old_txn = pond.last_txn - 20
    with Pond.open(pond.path, at_txn=old_txn) as then:
        old_bytes = then.read_bytes("/f0.txt")
    pond.backups.push(["offsite"])
    pond.maintenance.maintain(keep_txns=5)
    pond.write_bytes("/after.txt", b"after maintenance")
    pond.backups.push(["offsite"])

    restore(url, tmp_path / "restored")
    copy = Pond.open(tmp_path / "restored")
    check = Pond.check(tmp_path / "restored")
    assert check.ok, check.problems[:3]
    assert check.content_root == pond.fsck().content_root
    with pytest.raises(HistoryRemovedError) as refused:
        Pond.open(tmp_path / "restored", at_txn=old_txn)
    assert refused.value.earliest == pond.last_txn - 5  # the window and the later write
    assert [(r.txn_seq, r.content_removed) for r in copy.log()] == [
        (r.txn_seq, r.content_removed) for r in pond.log()
    ]
    # Before the maintenance the backup holds every transaction as it was.
    earlier = restore(url, tmp_path / "earlier", at_txn=old_txn + 10)
    assert earlier.txn_seq == old_txn + 10
    with Pond.open(tmp_path / "earlier", at_txn=old_txn) as then:
        assert then.read_bytes("/f0.txt") == old_bytes
    assert Pond.check(tmp_path / "earlier").ok
    # A prune of the remote keeps the retention the snapshot was made under.
    pond.backups.prune("offsite", keep_txns=2)
    restore(url, tmp_path / "pruned")
    pruned = Pond.check(tmp_path / "pruned")
    assert pruned.ok and pruned.content_root == pond.fsck().content_root


def test_verify_and_push_when_maintain_removed_the_entry_the_remote_ends_at(
    tmp_path: Path,
) -> None:
    """The remote's newest entry is one this pond no longer holds (maintain removed it
    after the push): compared by the archived commit, equal; a copy's transaction
    there is still told apart (diverged)."""
    url = (tmp_path / "bk").as_uri()
    pond = Pond.init(tmp_path / "pond")
    apply_text(pond, tmp_path, backup_doc("offsite", url))
    for i in range(20):
        pond.write_bytes(f"/f{i % 3}.txt", f"reading {i}\n".encode())
    pond.maintenance.maintain()  # compaction only: the push ends at its commit
    pond.backups.push(["offsite"])
    pond.maintenance.maintain(keep_txns=5)  # removes the entries the remote ends at
    report = pond.backups.verify("offsite")
    assert report.ok and report.status in ("equal", "behind"), report.to_json()
    (pushed,) = pond.backups.push(["offsite"])
    assert pushed.ok
    assert pond.backups.verify("offsite").status == "equal"
    restore(url, tmp_path / "restored")
    assert Pond.check(tmp_path / "restored").content_root == pond.fsck().content_root


def test_a_copys_transaction_is_told_apart_where_maintain_removed_ours(tmp_path: Path) -> None:
    url = (tmp_path / "bk").as_uri()
    pond = Pond.init(tmp_path / "pond")  # no Backup resource: maintain does not wait for it
    for i in range(12):
        pond.write_bytes(f"/f{i % 3}.txt", f"reading {i}\n".encode())
    push(pond.path, Remote(url, create=True), "offsite")
    restore(url, tmp_path / "copy")
    copy = Pond.open(tmp_path / "copy")
    copy.write_bytes("/mine.txt", b"the copy's own transaction")
    push(copy.path, Remote(url), "offsite")  # the remote now ends at the copy's txn
    pond.write_bytes("/ours.txt", b"the original's transaction of the same number")
    pond.maintenance.maintain(keep_txns=1)  # our entry of that number is gone
    pond.write_bytes("/later.txt", b"later")
    report = verify(pond.path, Remote(url))
    assert report.status == "diverged", report.to_json()
    with pytest.raises(BackupConflictError, match="diverged"):
        push(pond.path, Remote(url), "offsite")


def test_files_maintain_keeps_for_a_backups_next_push_are_not_leftovers(tmp_path: Path) -> None:
    """maintain --push-first: its compaction's files, added by commits the backup has not
    received and replaced by its last, stay for the next push; fsck must not call them
    leftovers (recover would delete what that push sends)."""
    url = (tmp_path / "bk").as_uri()
    pond = Pond.init(tmp_path / "pond")
    apply_text(pond, tmp_path, backup_doc("offsite", url))
    for i in range(40):
        pond.write_bytes(f"/f{i % 3}.txt", f"reading {i}\n".encode())
    pond.backups.push(["offsite"])
    for i in range(5):
        pond.write_bytes(f"/g{i % 3}.txt", f"more {i}\n".encode())
    pond.maintenance.maintain(keep_txns=10, push_first=True)
    check = pond.fsck()
    assert check.ok and not check.leftovers and not check.unsealed_files, check.to_json()
    (report,) = pond.backups.push(["offsite"])
    assert report.ok, report.error
    restore(url, tmp_path / "restored")
    assert Pond.check(tmp_path / "restored").content_root == pond.fsck().content_root
