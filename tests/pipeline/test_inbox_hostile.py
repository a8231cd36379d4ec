"""An Inbox facing hostile or broken files: every good file lands, nothing outside is read,
and no name reaches the terminal raw."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from ..cli.conftest import POND_SCRIPT, child_env
from .conftest import PondRunner, doc, yaml_file
from .test_run import CSV_A, CSV_B, inbox_pond

SECRET = "timestamp,temp\n2025-03-03T00:00:00,99.0\n"


def failed_files(pond: PondRunner) -> list[str]:
    [record] = pond.json("query", "SELECT details FROM runs ORDER BY start DESC LIMIT 1")
    return list(json.loads(record["details"])["failed_files"])


@pytest.fixture
def inbox(pond: PondRunner, host: Path, tmp_path: Path) -> Path:
    folder = host / "in"
    inbox_pond(pond, tmp_path, folder)
    (folder / "good-a.csv").write_text(CSV_A)
    (folder / "good-b.csv").write_text(CSV_B)
    return folder


def assert_good_files_landed(pond: PondRunner) -> None:
    assert pond.paths("/inbox/drop/*") == ["/inbox/drop/good-a.csv", "/inbox/drop/good-b.csv"]


def test_a_symlink_pointing_outside_is_not_followed(
    pond: PondRunner, inbox: Path, host: Path
) -> None:
    outside = host / "private.csv"
    outside.write_text(SECRET)
    (inbox / "leak.csv").symlink_to(outside)
    result = pond("run")
    assert result.exit_code == 1
    assert_good_files_landed(pond)
    [line] = failed_files(pond)
    assert line.startswith(f"{inbox / 'leak.csv'}: cannot be read: leads outside the inbox")
    assert "99.0" not in pond.ok("cat", "/inbox/drop/good-a.csv").stdout


def test_a_symlinked_directory_leading_outside_is_not_followed(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    folder = host / "in"
    folder.mkdir()
    elsewhere = host / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "private.csv").write_text(SECRET)
    (folder / "sub").symlink_to(elsewhere)
    (folder / "own").mkdir()
    (folder / "own" / "good.csv").write_text(CSV_A)
    f = yaml_file(
        tmp_path / "inbox.yaml",
        doc("Inbox", "drop", f"{{pattern: '{folder}/**/*.csv', format: series, settle: 0s}}"),
    )
    pond.ok("apply", "-f", str(f))
    assert pond("run").exit_code == 1
    assert pond.paths("/inbox/drop/*") == ["/inbox/drop/good.csv"]
    [line] = failed_files(pond)
    assert line.startswith(f"{folder / 'sub' / 'private.csv'}: cannot be read: leads outside")


def test_a_symlink_inside_the_inbox_is_read(pond: PondRunner, inbox: Path) -> None:
    (inbox / "z-alias.csv").symlink_to(inbox / "good-a.csv")
    pond.ok("run")
    # The same content twice in one run: imported once, the alias skipped as a duplicate.
    assert_good_files_landed(pond)


def test_a_pattern_with_dotdot_is_refused_at_apply(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    (host / "in").mkdir()
    f = yaml_file(
        tmp_path / "inbox.yaml",
        doc("Inbox", "drop", f"{{pattern: '{host}/in/*/../../*.csv', settle: 0s}}"),
    )
    message = pond.fails("apply", "-f", str(f))
    assert "spec.pattern" in message and "'..'" in message


def test_a_fifo_is_named_and_skipped_without_blocking(pond: PondRunner, inbox: Path) -> None:
    os.mkfifo(inbox / "pipe.csv")
    result = pond("run")
    assert result.exit_code == 1
    assert_good_files_landed(pond)
    assert failed_files(pond) == [f"{inbox / 'pipe.csv'}: cannot be read: a FIFO, not a file"]


def test_a_vanished_file_is_named_and_skipped(pond: PondRunner, inbox: Path) -> None:
    """Listed but gone when opened: a symlink whose target was removed is that state."""
    (inbox / "gone.csv").symlink_to(inbox / "removed-meanwhile.csv")
    assert pond("run").exit_code == 1
    assert_good_files_landed(pond)
    [line] = failed_files(pond)
    assert line.startswith(f"{inbox / 'gone.csv'}: cannot be read: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_named_and_skipped(pond: PondRunner, inbox: Path) -> None:
    locked = inbox / "locked.csv"
    locked.write_text(CSV_A.replace("1.5", "7.5"))
    locked.chmod(0)
    assert pond("run").exit_code == 1
    assert_good_files_landed(pond)
    assert failed_files(pond) == [f"{locked}: cannot be read: Permission denied"]


def test_an_escape_sequence_in_a_file_name_never_reaches_the_terminal(
    pond: PondRunner, inbox: Path
) -> None:
    hostile = inbox / "a\x1b[2J\x1b]0;owned\x07\r.csv"
    hostile.write_text("timestamp;temp\n2025-01-01T00:00:00;1.0\n")  # unreadable as a series
    results = [pond("run"), pond("resources")]
    results.append(pond("query", "SELECT error FROM runs"))
    for result in results:
        for text in (result.stdout, result.stderr):
            assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b[2J" in results[0].stdout


def test_files_that_change_kind_while_the_run_waits_are_named(
    pond: PondRunner, pond_dir: Path, host: Path, tmp_path: Path
) -> None:
    """Listed and hashed as files, then, during the settle wait: one removed, one replaced
    by a directory, one by a symlink leading out.  A real ``pond run`` process."""
    folder = host / "in"
    folder.mkdir()
    (folder / "good-a.csv").write_text(CSV_A)
    for name in ("gone.csv", "dir.csv", "link.csv"):
        (folder / name).write_text(CSV_B.replace("3.5", str(len(name))))
    outside = host / "private.csv"
    outside.write_text(SECRET)
    f = yaml_file(
        tmp_path / "inbox.yaml",
        doc("Inbox", "drop", f"{{pattern: '{folder}/*.csv', format: series, settle: 6s}}"),
    )
    pond.ok("apply", "-f", str(f))
    child = subprocess.Popen(
        [str(POND_SCRIPT), "--pond", str(pond_dir), "--json", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        lock = pond_dir / "run.lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text().strip()):
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
        time.sleep(3)  # listed and hashed by now; reading comes after the 6 s wait
        (folder / "gone.csv").unlink()
        (folder / "dir.csv").unlink()
        (folder / "dir.csv").mkdir()
        (folder / "link.csv").unlink()
        (folder / "link.csv").symlink_to(outside)
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1
    [result] = json.loads(out)["results"]
    failed = sorted(result["details"]["failed_files"])
    assert failed[0].startswith(f"{folder / 'dir.csv'}: cannot be read: a directory, not a file")
    assert failed[1].startswith(f"{folder / 'gone.csv'}: cannot be read: No such file")
    assert failed[2].startswith(f"{folder / 'link.csv'}: cannot be read: leads outside")
    assert pond.paths("/inbox/drop/*") == ["/inbox/drop/good-a.csv"]
