"""What a fresh user of maintain, du, status and the backup commands was told (issue 17's
trial), through the CLI on real ponds and real file:// backups: retention spans that
cannot be misread, a dry run that says the real run would be refused, lag and verify at
zero said as zero, the push --push-first made, a failed attempt recorded, and a removal
worded by what removed it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from duckpond import Pond
from duckpond.cli import cli
from duckpond.errors import HistoryRemovedError
from duckpond.timeparse import parse_span

from .conftest import apply_text, backup_doc, rich_pond


def pond_cli(pond_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--pond", str(pond_dir), *args], catch_exceptions=True)


def ok(pond_dir: Path, *args: str) -> str:
    result = pond_cli(pond_dir, *args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
    return result.stdout


def error_line(result: Result) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0].removeprefix("error: ")


def files(pond_dir: Path) -> dict[str, int]:
    return {
        str(p.relative_to(pond_dir)): p.stat().st_size
        for p in (pond_dir / "data").rglob("*")
        if p.is_file()
    }


@pytest.fixture
def pond_with_nas(tmp_path: Path) -> tuple[Path, str]:
    """A pond of a few dozen transactions with a file:// Backup that never pushed."""
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=24)
    nas = f"file://{tmp_path / 'nas'}"
    apply_text(pond, tmp_path, backup_doc("nas", nas))
    pond.close()
    return tmp_path / "pond", nas


def test_a_retention_span_refuses_a_bare_m_and_takes_min_and_mo(
    pond_with_nas: tuple[Path, str],
) -> None:
    pond_dir, _ = pond_with_nas
    before = files(pond_dir)
    for command in (
        ("maintain", "--dry-run"),
        ("maintain",),
        ("du",),
        ("backup", "prune", "nas", "--dry-run"),
    ):
        for span in ("1m", "1M", "90m"):
            line = error_line(pond_cli(pond_dir, *command, "--keep", span))
            number = span[:-1]
            assert line == (
                f"--keep: '{span}' is ambiguous: write {number}min for minutes or "
                f"{number}mo for months"
            ), (command, line)
    assert files(pond_dir) == before  # refused: nothing changed

    assert parse_span("6mo") == timedelta(days=180)  # a month counts 30 days
    assert parse_span("1MO") == parse_span("30d") and parse_span("1y") == timedelta(days=365)
    assert parse_span("30min") == timedelta(minutes=30) and parse_span("2w") == timedelta(14)
    # 1mo keeps every transaction of this young pond; 1min (minutes, as written) too.
    dry = json.loads(ok(pond_dir, "--json", "maintain", "--keep", "1mo", "--dry-run"))
    assert dry["earliest_kept_txn"] == 1 and dry["versions_removed"] == 0
    assert json.loads(ok(pond_dir, "--json", "du", "--keep", "1min"))["keep"] == "--keep 1min"
    # Help shows the spans a retention is written in.
    for command in (("maintain",), ("du",), ("backup", "prune")):
        text = " ".join(ok(pond_dir, *command, "--help").split())
        assert "90d, 6mo, 1y" in text and "min: minutes" in text, (command, text)


def test_pipeline_intervals_keep_m_for_minutes() -> None:
    from duckpond.pipeline.documents import parse_duration

    assert parse_duration("10m") == timedelta(minutes=10)


def test_a_dry_run_and_du_say_the_real_run_would_be_refused(
    pond_with_nas: tuple[Path, str],
) -> None:
    pond_dir, _ = pond_with_nas
    before = files(pond_dir)
    reason = error_line(pond_cli(pond_dir, "maintain", "--keep-txns", "5"))
    assert reason.startswith("backup nas lags: it holds nothing yet (never pushed);"), reason
    assert "up to 0" not in reason and reason.endswith("or give --push-first")

    text = ok(pond_dir, "maintain", "--keep-txns", "5", "--dry-run")
    assert text.splitlines()[-1] == f"a real run would be refused: {reason}"
    dry = json.loads(ok(pond_dir, "--json", "maintain", "--keep-txns", "5", "--dry-run"))
    assert dry["refused"] == reason and dry["pushes"] == []

    du = ok(pond_dir, "du", "--keep-txns", "5").splitlines()
    assert du[-2] == (
        f"pond maintain --keep-txns 5 would reclaim about 0 bytes now, and would be "
        f"refused: {reason}"
    )
    space = json.loads(ok(pond_dir, "--json", "du", "--keep-txns", "5"))
    assert space["reclaimable_bytes"] == 0 and space["refused"] == reason
    after_push = space["reclaimable_bytes_after_push"]
    assert after_push > 0 and du[-1] == (
        f"once every backup is pushed, it would reclaim about {after_push} bytes "
        "(not counting the files its compaction replaces)"
    )
    assert files(pond_dir) == before  # dry runs and du change nothing

    # Once pushed, du's figure is what it said, and nothing is refused.
    ok(pond_dir, "backup", "push", "nas")
    space = json.loads(ok(pond_dir, "--json", "du", "--keep-txns", "5"))
    assert space["refused"] is None and space["reclaimable_bytes"] == after_push
    dry = json.loads(ok(pond_dir, "--json", "maintain", "--keep-txns", "5", "--dry-run"))
    assert dry["refused"] is None
    assert "refused" not in ok(pond_dir, "maintain", "--keep-txns", "5", "--dry-run")


def test_after_push_first_the_lag_is_zero_and_verify_equal(
    pond_with_nas: tuple[Path, str],
) -> None:
    pond_dir, nas = pond_with_nas
    last = Pond.open(pond_dir).last_txn
    out = ok(pond_dir, "maintain", "--keep-txns", "5", "--push-first").splitlines()
    # The push it made, as pond backup push prints it, before the maintenance report.
    assert out[0].startswith(f"nas: pushed through txn {last} to {nas}: "), out[0]
    assert out[1].startswith(f"kept transactions {last - 4} to {last}; removed"), out

    [listed] = json.loads(ok(pond_dir, "--json", "backup", "list"))
    assert (listed["lag_txns"], listed["lag_bytes"]) == (0, 0), listed
    commits = listed["lag_versions"]
    assert commits > 0  # maintain's own commits, not pushed yet
    status = ok(pond_dir, "status")
    assert f"lag 0 txn, 0 B (+{commits} maintain commit(s))" in status, status

    text = ok(pond_dir, "backup", "verify", "nas").splitlines()
    assert text[0] == f"nas: equal (remote txn {last}, local txn {last})", text
    assert text[1].startswith(f"the remote lacks {commits} maintenance commit(s)"), text
    verified = json.loads(ok(pond_dir, "--json", "backup", "verify", "nas"))
    assert verified["status"] == "equal" and verified["behind_by"] == 0
    assert verified["roots_equal"] is True

    # The next maintain is held back by those commits, and says so.
    reason = error_line(pond_cli(pond_dir, "maintain", "--keep-txns", "3"))
    assert reason.startswith(
        "backup nas lags: it holds every transaction but not the last maintenance's commits"
    ), reason
    # --json carries the push --push-first made.
    again = json.loads(ok(pond_dir, "--json", "maintain", "--keep-txns", "3", "--push-first"))
    [pushed] = again["pushes"]
    assert pushed["name"] == "nas" and pushed["ok"] and pushed["objects_sent"] > 0, pushed
    assert again["earliest_kept_txn"] == last - 2

    # A new transaction is a lag again, with its bytes.
    pond = Pond.open(pond_dir)
    pond.write_bytes("/late.txt", b"not pushed yet")
    pond.close()
    [listed] = json.loads(ok(pond_dir, "--json", "backup", "list"))
    assert listed["lag_txns"] == 1 and listed["lag_bytes"] > 0
    text = ok(pond_dir, "backup", "verify", "nas").splitlines()
    assert text[0] == f"nas: behind by 1 txn (remote txn {last}, local txn {last + 1})"


def test_a_push_that_cannot_start_is_recorded_as_failed(tmp_path: Path) -> None:
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=8)
    (tmp_path / "a-file").write_bytes(b"not a directory")
    apply_text(pond, tmp_path, backup_doc("far", f"file://{tmp_path / 'a-file' / 'pond'}"))
    pond.close()
    pond_dir = tmp_path / "pond"
    before = files(pond_dir)
    reason = error_line(pond_cli(pond_dir, "maintain", "--keep-txns", "3", "--push-first"))
    assert reason.startswith("backup far lags and the push before maintain failed: "), reason
    assert reason.endswith("; nothing was removed")
    assert files(pond_dir) == before
    [listed] = json.loads(ok(pond_dir, "--json", "backup", "list"))
    assert listed["last_outcome"] == "failed" and listed["last_error"], listed
    assert listed["last_error"] in reason
    assert "last attempt failed" in ok(pond_dir, "status")

    # pond backup push records the same failure, at its own time.
    error_line(pond_cli(pond_dir, "backup", "push", "far"))
    [again] = json.loads(ok(pond_dir, "--json", "backup", "list"))
    assert again["last_outcome"] == "failed" and again["last_error"] == listed["last_error"]
    record = json.loads((pond_dir / "backups" / "far.json").read_text())
    assert record["last_attempt"]["outcome"] == "failed" and record["last_version"] == -1


def test_history_removed_is_worded_by_what_removed_it(tmp_path: Path) -> None:
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=12)
    nas = f"file://{tmp_path / 'nas'}"
    apply_text(pond, tmp_path, backup_doc("nas", nas))
    pond.backups.push(["nas"])
    pond.backups.prune("nas", keep_txns=3)
    pond.close()
    restored = CliRunner().invoke(cli, ["restore", nas, str(tmp_path / "restored")])
    assert restored.exit_code == 0, (restored.stdout, restored.stderr)
    with pytest.raises(HistoryRemovedError) as caught:
        Pond.open(tmp_path / "restored", at_txn=2)
    message = str(caught.value)
    assert "pond maintain removed" not in message, message
    assert "pond backup prune removed the content of transactions before" in message

    # A pond maintain removed from says so.
    pond = Pond.open(tmp_path / "pond")
    pond.maintenance.maintain(keep_txns=3, push_first=True)
    pond.backups.push(["nas"])  # maintain's commits and its retention record
    pond.close()
    with pytest.raises(HistoryRemovedError) as caught:
        Pond.open(tmp_path / "pond", at_txn=2)
    assert "pond maintain removed the content of transactions before" in str(caught.value)
    # and so does a restore of its backup, which carries the pond's record.
    again = CliRunner().invoke(cli, ["restore", nas, str(tmp_path / "again")])
    assert again.exit_code == 0, (again.stdout, again.stderr)
    with pytest.raises(HistoryRemovedError) as caught:
        Pond.open(tmp_path / "again", at_txn=2)
    assert "pond maintain removed the content of transactions before" in str(caught.value)


def test_a_refusal_names_every_lagging_backup(
    pond_with_nas: tuple[Path, str], tmp_path: Path
) -> None:
    pond_dir, _ = pond_with_nas
    ok(pond_dir, "backup", "push", "nas")
    with Pond.open(pond_dir) as pond:
        apply_text(pond, tmp_path, backup_doc("usb", f"file://{tmp_path / 'usb'}"))
    reason = error_line(pond_cli(pond_dir, "maintain", "--keep-txns", "5"))
    # Each lagging backup with where it stands: nas was pushed before usb was added.
    assert reason.startswith("backups nas and usb lag (the pond is at txn "), reason
    assert "nas holds transactions up to " in reason, reason
    assert "usb holds nothing yet (never pushed)" in reason, reason
    assert "run pond backup push nas usb first" in reason
    # No transaction 0, in a restore either: not "no longer kept".
    ok(pond_dir, "backup", "push", "nas")
    restored = pond_cli(
        pond_dir, "restore", f"file://{tmp_path / 'nas'}", str(tmp_path / "r"), "--at-txn", "0"
    )
    assert error_line(restored) == "no transaction 0: transactions are numbered from 1"


def test_a_restore_at_the_newest_txn_takes_the_maintain_commits_after_it(
    pond_with_nas: tuple[Path, str], tmp_path: Path
) -> None:
    """The newest transaction restored is the backup's newest state, maintain's commits
    after it included: the restored pond is equal to the backup and can push there."""
    pond_dir, nas = pond_with_nas
    ok(pond_dir, "maintain", "--keep-txns", "5", "--push-first")
    ok(pond_dir, "backup", "push", "nas")
    newest = json.loads(ok(pond_dir, "--json", "status"))["last_txn"]
    restored = tmp_path / "at-newest"
    ok(pond_dir, "restore", nas, str(restored), "--at-txn", str(newest))
    verdict = json.loads(ok(restored, "--json", "backup", "verify", "nas"))
    assert verdict["status"] == "equal", verdict
    (tmp_path / "new.txt").write_text("written on the restored copy\n")
    ok(restored, "copy", str(tmp_path / "new.txt"), "/new.txt")
    ok(restored, "backup", "push", "nas")
    # An older transaction is that transaction: the backup is ahead of it.
    older = tmp_path / "older"
    ok(pond_dir, "restore", nas, str(older), "--at-txn", str(newest - 1))
    assert json.loads(ok(older, "--json", "status"))["last_txn"] == newest - 1


def test_a_restored_copy_does_not_claim_what_its_other_backups_hold(
    pond_with_nas: tuple[Path, str], tmp_path: Path
) -> None:
    pond_dir, nas = pond_with_nas
    with Pond.open(pond_dir) as pond:
        apply_text(pond, tmp_path, backup_doc("usb", f"file://{tmp_path / 'usb'}"))
    ok(pond_dir, "backup", "push")
    restored = tmp_path / "copy"
    ok(pond_dir, "restore", nas, str(restored))
    listed = {b["name"]: b for b in json.loads(ok(restored, "--json", "backup", "list"))}
    assert listed["nas"]["known"] and listed["nas"]["lag_txns"] == 0, listed
    # usb holds everything, but this copy has no record of it: unknown, not "lags by all".
    usb = listed["usb"]
    assert not usb["known"] and usb["lag_txns"] is None and usb["last_pushed_txn"] is None
    assert "usb file://" in ok(restored, "status") and "unknown (a restored copy" in ok(
        restored, "status"
    )
    assert "unknown to this restored copy" in error_line(
        pond_cli(restored, "maintain", "--keep-txns", "5")
    )
    # The next push asks the remote: nothing to send, and then it is known.
    report = json.loads(ok(restored, "--json", "backup", "push", "usb"))[0]
    assert report["up_to_date"], report
    usb = {b["name"]: b for b in json.loads(ok(restored, "--json", "backup", "list"))}["usb"]
    assert usb["known"] and usb["lag_txns"] == 0, usb


def test_an_older_restore_does_not_claim_its_backup_holds_no_more(
    pond_with_nas: tuple[Path, str], tmp_path: Path
) -> None:
    """Restored at an older transaction, the copy is behind its backup: neither "no lag"
    nor a starting point for a push; once its own push is refused (diverged), maintain
    says so instead of "push first", which would be refused again."""
    pond_dir, nas = pond_with_nas
    for i in range(3):
        (tmp_path / "more.txt").write_text(f"more {i}\n")
        ok(pond_dir, "copy", str(tmp_path / "more.txt"), f"/more{i}.txt")
    ok(pond_dir, "backup", "push", "nas")
    newest = json.loads(ok(pond_dir, "--json", "status"))["last_txn"]
    at = newest - 2
    older = tmp_path / "older"
    restored = json.loads(ok(pond_dir, "--json", "restore", nas, str(older), "--at-txn", str(at)))
    assert restored["remote_version"] > restored["version"], restored
    (nas_row,) = json.loads(ok(older, "--json", "backup", "list"))
    assert not nas_row["known"] and nas_row["lag_txns"] is None, nas_row
    assert json.loads(ok(older, "--json", "status"))["last_txn"] == at

    (tmp_path / "own.txt").write_text("the copy's own transaction\n")
    ok(older, "copy", str(tmp_path / "own.txt"), "/own.txt")
    assert pond_cli(older, "backup", "push", "nas").exit_code == 1
    (nas_row,) = json.loads(ok(older, "--json", "backup", "list"))
    assert nas_row["last_outcome"] == "refused" and not nas_row["known"], nas_row
    assert "none: its last push was refused" in ok(older, "backup", "list")
    before = files(older)
    reason = error_line(pond_cli(older, "maintain", "--keep-txns", "3"))
    assert reason.startswith("backup nas refused this pond's last push (")
    assert f"diverged at txn {at + 1}" in reason and "point nas at a new URL" in reason, reason
    assert files(older) == before
