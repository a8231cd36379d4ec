"""A Backup added after ``pond maintain --keep`` removed history: its first push starts
from the pond's snapshot (a floor, as ``pond backup prune`` leaves one), and a push
interrupted anywhere leaves a remote that holds nothing or the whole pond."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from duckpond import Pond
from duckpond.backup import Remote, push, restore, verify
from duckpond.backup.layout import FLOOR_KEY
from duckpond.errors import BackupConflictError, ConfigError, HistoryRemovedError, RemoteError

from .conftest import apply_text, backup_doc, rich_pond, snapshot


def maintained_pond(tmp_path: Path) -> Pond:
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=40)
    pond.maintenance.maintain(keep_txns=8)
    return pond


def assert_restores_as(pond: Pond, url: str, dest: Path) -> None:
    report = restore(url, dest)
    assert report.txn_seq == pond.last_txn
    check = Pond.check(dest)
    assert check.ok, check.problems[:3]
    assert check.content_root == pond.fsck().content_root
    assert snapshot(dest) == snapshot(pond.path)


def test_a_backup_added_after_maintain_starts_from_the_snapshot(
    s3_url: str, tmp_path: Path
) -> None:
    pond = maintained_pond(tmp_path)
    earliest = pond.fsck().root_txn - 7
    apply_text(pond, tmp_path, backup_doc("offsite", s3_url))
    (info,) = pond.backups.list()  # no raw error on the files maintain removed
    assert info.lag_txns > 0 and info.lag_bytes > 0
    (report,) = pond.backups.push(["offsite"])
    assert report.ok, report.error
    assert pond.backups.verify("offsite").status == "equal"
    assert_restores_as(pond, s3_url, tmp_path / "restored")
    # The restore refuses what the source no longer holds, by name, and logs it as removed.
    with pytest.raises(HistoryRemovedError) as refused:
        Pond.open(tmp_path / "restored", at_txn=earliest - 1)
    assert refused.value.earliest == earliest
    with Pond.open(s3_url) as in_place:  # read in place: a Delta table from its checkpoint
        assert in_place.last_txn == pond.last_txn
        assert in_place.read_bytes("/raw/big-c.bin") == pond.read_bytes("/raw/big-c.bin")
        # The retention the backup carries holds in place too.
        assert [(r.txn_seq, r.content_removed) for r in in_place.log()] == [
            (r.txn_seq, r.content_removed) for r in pond.log()
        ]
    with pytest.raises(ConfigError, match="inside the snapshot the backup starts from") as e:
        restore(s3_url, tmp_path / "too-early", at_txn=earliest)
    # Its advice works: a restore at the first restore point reads that transaction.
    first = int(str(e.value).split("--at-txn ")[1].split(",")[0])
    restore(s3_url, tmp_path / "first-point", at_txn=first)
    with (
        Pond.open(tmp_path / "first-point", at_txn=earliest) as early,
        Pond.open(pond.path, at_txn=earliest) as source,
    ):
        assert early.fsck().content_root == source.fsck().content_root
    with pytest.raises(ConfigError, match=f"the earliest kept is {earliest}") as before:
        restore(s3_url, tmp_path / "before", at_txn=earliest - 1)
    # ... and says how to read it, with the same first restore point.
    assert f"restore with --at-txn {first}, its first restore point" in str(before.value)
    with pytest.raises(HistoryRemovedError) as in_place_refused:
        Pond.open(s3_url, at_txn=earliest - 1)
    assert in_place_refused.value.earliest == earliest

    # Later pushes go on from there; a prune of the seeded remote keeps it restorable.
    pond.write_bytes("/raw/after.txt", b"after the first push")
    (again,) = pond.backups.push(["offsite"])
    assert again.ok and again.bytes_sent < 64 * 1024
    assert_restores_as(pond, s3_url, tmp_path / "again")
    pond.write_bytes("/raw/later.txt", b"later still")
    pond.backups.push(["offsite"])
    pond.backups.prune("offsite", keep_txns=2)
    assert_restores_as(pond, s3_url, tmp_path / "pruned")


def test_a_lagging_backup_of_a_maintained_pond_is_refused_in_one_line(tmp_path: Path) -> None:
    url = (tmp_path / "bk").as_uri()
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=20)
    push(pond.path, Remote(url, create=True), "offsite")
    for i in range(10):
        pond.write_bytes("/raw/more.txt", f"more {i}".encode())
    pond.maintenance.maintain(keep_txns=3)  # no Backup resource: maintain does not wait
    with pytest.raises(ConfigError, match="push to a new URL") as caught:
        push(pond.path, Remote(url), "offsite")
    assert "\n" not in str(caught.value)
    # A new URL starts from the snapshot.
    fresh = (tmp_path / "fresh").as_uri()
    assert push(pond.path, Remote(fresh, create=True), "fresh").ok
    assert_restores_as(pond, fresh, tmp_path / "restored")


class _Failing(Remote):
    """Fails its ``after``-th write (create-only or plain), as a network cut would."""

    def __init__(self, url: str, after: int) -> None:
        super().__init__(url, create=True)
        self.after, self.writes = after, 0

    def _count(self) -> None:
        self.writes += 1
        if self.writes == self.after:
            raise RemoteError("the network went away (test)")

    def put_new(self, key: str, data: bytes) -> bool:
        self._count()
        return super().put_new(key, data)

    def put(self, key: str, data: bytes) -> None:
        self._count()
        super().put(key, data)

    def upload(self, key: str, *args: Any, **kwargs: Any) -> None:
        self._count()
        super().upload(key, *args, **kwargs)


def test_a_first_push_from_a_snapshot_cut_anywhere_leaves_nothing_or_everything(
    tmp_path: Path,
) -> None:
    pond = maintained_pond(tmp_path)
    counting = _Failing((tmp_path / "count").as_uri(), after=-1)
    push(pond.path, counting, "count")
    total = counting.writes
    assert total > 10
    for n, after in enumerate(sorted({1, 2, total // 3, total // 2, total - 3, total - 1})):
        url = (tmp_path / f"cut-{n}").as_uri()
        with pytest.raises(RemoteError):
            push(pond.path, _Failing(url, after), "offsite")
        try:
            held = restore(url, tmp_path / f"cut-{n}-restored")
        except RemoteError as e:
            assert "holds no pond backup" in str(e)
        else:  # whatever it holds is a whole pond at a committed transaction
            assert Pond.check(tmp_path / f"cut-{n}-restored").ok
            assert held.txn_seq <= pond.last_txn
        report = push(pond.path, Remote(url), "offsite")
        assert report.ok
        assert verify(pond.path, Remote(url)).status == "equal"
        assert (tmp_path / f"cut-{n}" / FLOOR_KEY).exists()
        assert_restores_as(pond, url, tmp_path / f"cut-{n}-whole")


def test_a_second_backup_added_after_maintain_kept_entries_for_the_first(
    tmp_path: Path,
) -> None:
    """maintain keeps the log entries a Backup had not received (its own commits): the
    pond's log then starts before its first checkpoint, and a Backup added later starts
    from that checkpoint's snapshot; status, list and maintain keep working."""
    pond = Pond.init(tmp_path / "pond")
    apply_text(pond, tmp_path, backup_doc("x", (tmp_path / "x").as_uri()))
    for i in range(6):
        pond.write_bytes(f"/f{i % 2}.txt", f"reading {i}\n".encode())
    pond.backups.push(["x"])
    for i in range(3):
        pond.write_bytes(f"/g{i}.txt", f"more {i}\n".encode())
    pond.backups.push(["x"])
    pond.maintenance.maintain(keep_txns=3)
    url = (tmp_path / "y").as_uri()
    apply_text(pond, tmp_path, backup_doc("y", url))
    assert {b.name for b in pond.backups.list()} == {"x", "y"}
    pond.status()
    (report,) = pond.backups.push(["y"])
    assert report.ok, report.error
    assert_restores_as(pond, url, tmp_path / "restored")
    pond.maintenance.maintain(keep_txns=3, push_first=True)


def test_where_a_copy_pushed_first_the_original_is_told_the_txn_they_part_at(
    tmp_path: Path,
) -> None:
    pond = maintained_pond(tmp_path)
    url = (tmp_path / "bk").as_uri()
    push(pond.path, Remote(url, create=True), "offsite")  # seeded: entries from a floor
    restore(url, tmp_path / "copy")
    copy = Pond.open(tmp_path / "copy")
    copy.write_bytes("/raw/copy.txt", b"the copy's")
    push(copy.path, Remote(url), "offsite")
    pond.write_bytes("/raw/ours.txt", b"the original's")
    with pytest.raises(BackupConflictError) as caught:
        push(pond.path, Remote(url), "offsite")
    assert f"diverged at txn {pond.last_txn}" in str(caught.value)
    assert verify(pond.path, Remote(url)).diverged_txn == pond.last_txn


def test_a_backup_added_after_two_maintains_with_a_push_between(tmp_path: Path) -> None:
    # The second maintain keeps the checkpoint the first one ended with (the newest the
    # first backup held) but removes data files it lists, which the second one's
    # compaction replaced: a new Backup's first push starts from a checkpoint whose files
    # the pond still holds, where it failed with a raw "No such file".
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=60)
    first_url = (tmp_path / "first").as_uri()
    apply_text(pond, tmp_path, backup_doc("first", first_url))
    pond.backups.push(["first"])
    pond.maintenance.maintain(keep_txns=5)
    pond.backups.push(["first"])
    pond.maintenance.maintain(keep_txns=3)
    second_url = (tmp_path / "second").as_uri()
    apply_text(pond, tmp_path, backup_doc("second", second_url))
    (report,) = pond.backups.push(["second"])
    assert report.ok, report.error
    assert pond.backups.verify("second").status == "equal"
    assert_restores_as(pond, second_url, tmp_path / "restored")
