"""What ``pond backup verify`` says of a damaged remote (issue 16, a fresh user's trial):
no bare "equal" above the problems, the local root computed when only the remote's tree
cannot be read, a changed log entry called damage (not divergence), and a next step on
the error line for every verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from duckpond import Pond
from duckpond.backup import restore
from duckpond.backup.verify import MISMATCH

from .conftest import apply_text, backup_doc, rich_pond
from .test_keep_wording import error_line, ok, pond_cli

MEND_THEN_VERIFY = "then pond backup verify nas --deep; what mend cannot put back is gone"


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Path, Path]:
    """A pond with a file:// Backup ``nas``, pushed: (pond directory, backup directory)."""
    pond = rich_pond(tmp_path / "pond", tmp_path, transactions=8)
    nas = tmp_path / "nas"
    apply_text(pond, tmp_path, backup_doc("nas", f"file://{nas}"))
    pond.close()
    ok(tmp_path / "pond", "backup", "push", "nas")
    return tmp_path / "pond", nas


def _root(pond_dir: Path) -> tuple[int, str]:
    fsck = json.loads(ok(pond_dir, "--json", "fsck"))
    return fsck["root_txn"], fsck["content_root"]


def _newest_entry(nas: Path) -> Path:
    return sorted((nas / "data" / "_delta_log").glob("*.json"))[-1]


def test_a_deleted_data_file_is_damage_under_equal_logs_and_the_local_root_is_computed(
    pushed: tuple[Path, Path],
) -> None:
    pond_dir, nas = pushed
    txn, root = _root(pond_dir)
    lost = sorted(p for p in (nas / "data").glob("part_id=*/*.parquet"))[-1]
    lost.unlink()

    result = pond_cli(pond_dir, "backup", "verify", "nas")
    text = result.stdout.splitlines()
    assert text[0] == (
        f"nas: equal logs, but the backup is damaged: 1 problem(s) "
        f"(remote txn {txn}, local txn {txn})"
    ), text
    assert text[1].startswith("bad: data: the remote tree cannot be read: "), text
    assert f"local content root at txn {txn}: {root}" in text, text
    line = error_line(result)
    assert line.startswith("backup nas is not usable as it is: the remote tree cannot be read; ")
    assert line.endswith(
        "; run pond backup verify nas --deep to name the bad objects, then pond backup "
        "mend nas --deep, " + MEND_THEN_VERIFY + " from this pond too"
    ), line

    verdict = json.loads(pond_cli(pond_dir, "--json", "backup", "verify", "nas").stdout)
    assert (verdict["status"], verdict["ok"], verdict["local_root"]) == ("equal", False, root)
    assert verdict["remote_root"] is None and verdict["advice"] in line

    # --deep names the file; a missing file needs no re-hash to be put back.
    result = pond_cli(pond_dir, "backup", "verify", "nas", "--deep")
    key = str(lost.relative_to(nas))
    assert f"bad: {key}: missing" in result.stdout.splitlines()
    assert error_line(result) == (
        "backup nas is not usable as it is: 1 bad object(s); run pond backup mend nas, "
        + MEND_THEN_VERIFY
        + " from this pond too"
    )
    # The advice works: mend, then verify --deep is clean.
    ok(pond_dir, "backup", "mend", "nas")
    text = ok(pond_dir, "backup", "verify", "nas", "--deep").splitlines()
    assert text[0] == f"nas: equal (remote txn {txn}, local txn {txn})"


@pytest.mark.parametrize("breaks_json", [False, True])
def test_a_changed_newest_log_entry_is_damage_not_divergence(
    pushed: tuple[Path, Path], breaks_json: bool
) -> None:
    pond_dir, nas = pushed
    txn, root = _root(pond_dir)
    entry = _newest_entry(nas)
    data = bytearray(entry.read_bytes())
    if breaks_json:
        at = len(data) // 2
    else:  # a digit for another: still JSON, still a Delta entry
        at = next(i for i in range(len(data) // 2, len(data)) if 0x30 <= data[i] <= 0x38)
    data[at] ^= 0x01
    entry.write_bytes(bytes(data))

    result = pond_cli(pond_dir, "backup", "verify", "nas")
    text = result.stdout.splitlines()
    key = str(entry.relative_to(nas))
    assert text[0] == f"nas: damaged (remote txn {txn}, local txn {txn})", text
    assert text[1] == (
        f"the remote's log entry of txn {txn} differs from this pond's, yet its push record "
        "names this pond's: the entry was changed on the remote after the push"
    )
    assert f"bad: {key}: {MISMATCH}" in text
    assert f"local content root at txn {txn}: {root}" in text, text
    assert "diverged" not in result.stdout and "does not hold" not in result.stdout
    assert error_line(result) == (
        "backup nas is not usable as it is: 1 bad object(s); run pond backup mend nas "
        "--deep, " + MEND_THEN_VERIFY + " from this pond too"
    )
    verdict = json.loads(pond_cli(pond_dir, "--json", "backup", "verify", "nas").stdout)
    assert (verdict["status"], verdict["diverged_txn"]) == ("damaged", None)
    # A push says the same (a second trial: it said "diverged", and "push to another URL").
    refused = error_line(pond_cli(pond_dir, "backup", "push", "nas"))
    assert "diverged" not in refused and f"{key} {MISMATCH}" in refused, refused
    assert "pond backup mend NAME --deep" in refused, refused
    assert {"key": key, "problem": MISMATCH} in verdict["problems"]

    # --deep names it once, and mend --deep puts the pond's entry back.
    deep = pond_cli(pond_dir, "backup", "verify", "nas", "--deep").stdout.splitlines()
    assert deep.count(f"bad: {key}: {MISMATCH}") == 1, deep
    ok(pond_dir, "backup", "mend", "nas", "--deep")
    assert ok(pond_dir, "backup", "verify", "nas").splitlines()[0] == (
        f"nas: equal (remote txn {txn}, local txn {txn})"
    )


def test_an_older_copy_is_told_to_restore_or_push_elsewhere(
    pushed: tuple[Path, Path], tmp_path: Path
) -> None:
    pond_dir, nas = pushed
    with Pond.open(pond_dir) as pond:
        pond.write_bytes("/one.txt", b"1")
        pond.write_bytes("/two.txt", b"2")
        newest = pond.last_txn
    ok(pond_dir, "backup", "push", "nas")
    restore(f"file://{nas}", tmp_path / "old", at_txn=newest - 2)
    result = pond_cli(tmp_path / "old", "backup", "verify", "nas")
    assert result.stdout.splitlines()[0].startswith("nas: ahead ")
    assert (
        f"this pond does not hold the remote's newest transaction (txn {newest}; this "
        f"pond's newest is txn {newest - 2})"
    ) in result.stdout.splitlines()
    assert error_line(result) == (
        "backup nas is not usable as it is: ahead; this pond lost history or is an older "
        "copy: restore from the backup (pond restore URL DEST), or push this pond to "
        "another URL"
    )


def test_a_real_divergence_on_file_is_still_diverged(
    pushed: tuple[Path, Path], tmp_path: Path
) -> None:
    """A copy's own entry matches the copy's push record: another history, not damage."""
    pond_dir, nas = pushed
    restore(f"file://{nas}", tmp_path / "copy")
    with Pond.open(tmp_path / "copy") as copy:
        copy.write_bytes("/copy.txt", b"the copy's own")
        parted = copy.last_txn
    with Pond.open(pond_dir) as pond:
        pond.write_bytes("/original.txt", b"the original's")
    ok(pond_dir, "backup", "push", "nas")
    report = Pond.open(tmp_path / "copy").backups.verify("nas")
    assert (report.status, report.diverged_txn, report.problems) == ("diverged", parted, [])
    line = error_line(pond_cli(tmp_path / "copy", "backup", "verify", "nas"))
    assert line == (
        f"backup nas is not usable as it is: diverged at txn {parted}; a copy of this pond "
        "wrote its own transactions there: push this pond to another URL; nothing was "
        "overwritten"
    )
