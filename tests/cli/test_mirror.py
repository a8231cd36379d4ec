"""``pond mirror``: the command's contract (one-line errors, --json, escaped names)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import PondRunner, write


def test_mirror_sync_and_json(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    write(host / "notes.txt", "hello\n")
    pond.ok("copy", str(host / "notes.txt"), "/notes.txt")
    out = tmp_path / "m"
    first = pond.ok("mirror", str(out))
    assert first.stdout.startswith(f"mirrored {out} at txn 2: 1 written")
    (out / "notes.txt").write_text("hello again\n")
    doc = pond.json("mirror", str(out), "--sync")
    assert doc["sync"]["changed"] == ["/notes.txt"]
    assert doc["sync"]["txn_seq"] == 3
    assert doc["mirror"]["written"] == []
    assert pond.cat_bytes("/notes.txt") == b"hello again\n"
    log = pond.json("log", "--limit", "1")[0]
    assert log["command"][-2:] == [str(out), "--sync"]


def test_conflicts_are_named_with_control_characters_escaped(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    write(host / "x", "1")
    pond.ok("copy", str(host / "x"), "/bad\x1bname")
    out = tmp_path / "m"
    pond.ok("mirror", str(out))
    (out / "bad%1Bname").write_text("host")
    write(host / "y", "pond")
    pond.ok("copy", str(host / "y"), "/bad\x1bname")
    text = pond.ok("mirror", str(out)).stdout
    assert "conflict: /bad\\x1bname (bad%1Bname): edited on the host" in text
    assert "\x1b" not in text
    synced = pond.ok("mirror", str(out), "--sync").stdout
    assert "conflict: /bad\\x1bname: the pond's version stays" in synced
    assert "\x1b" not in synced


def test_user_errors(pond: PondRunner, tmp_path: Path) -> None:
    out = tmp_path / "m"
    assert "--delete goes with --sync" in pond.fails("mirror", str(out), "--delete")
    assert "--sync" in pond.fails("mirror", str(out), "--sync", "/x/*")
    (tmp_path / "plain").mkdir()
    assert "not a mirror" in pond.fails("mirror", str(tmp_path / "plain"), "--sync")
    assert "pond's own directory" in pond.fails("mirror", str(tmp_path))
    assert "no such file" in pond.fails("mirror", str(out), "/missing").lower()
    pond.ok("mirror", str(out))
    assert "--sync" in pond.fails("mirror", str(out), "--sync", "--at-txn", "1")


def test_at_txn(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    write(host / "a", "one")
    pond.ok("copy", str(host / "a"), "/a")
    write(host / "a", "two")
    pond.ok("copy", str(host / "a"), "/a")
    out = tmp_path / "m"
    doc = pond.json("mirror", str(out), "--at-txn", "2")
    assert doc["at_txn"] == 2
    assert (out / "a").read_text() == "one"
    assert json.loads((out / ".pond-mirror").read_text())["txn"] == 2


def test_help_has_an_example(pond: PondRunner) -> None:
    text = pond.ok("mirror", "--help").stdout
    assert "Example" in text and "pond mirror /srv/share --sync" in text


def test_a_mirror_of_the_past_is_never_synced(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    write(host / "a", "one")
    pond.ok("copy", str(host / "a"), "/a")
    write(host / "a", "two")
    pond.ok("copy", str(host / "a"), "/a")
    out = tmp_path / "m"
    pond.ok("mirror", str(out), "--at-txn", "2")
    assert json.loads((out / ".pond-mirror").read_text())["at_txn"] == 2
    (out / "a").write_text("edited in the past")
    message = pond.fails("mirror", str(out), "--sync")
    assert "read-only" in message and f"pond mirror {out}" in message
    assert "without --at-txn" in message
    # fails() saw the pond unchanged; the host is left as it was too.
    assert pond.cat_bytes("/a") == b"two"
    assert json.loads((out / ".pond-mirror").read_text())["at_txn"] == 2
    assert (out / "a").read_text() == "edited in the past"
    # Nor does a run of the past state promise a sync it would refuse.
    again = pond.ok("mirror", str(out), "--at-txn", "2").stdout
    assert "a mirror of a past state is read-only: the edit is left" in again
    assert "--sync" not in again
