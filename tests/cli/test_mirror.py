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
    assert doc["sync"]["changed"] == [{"path": "/notes.txt", "host": "notes.txt"}]
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
    assert "matches nothing" in pond.fails("mirror", str(out), "/missing")
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
    assert json.loads((out / ".pond-mirror").read_text().splitlines()[0])["txn"] == 2


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
    assert json.loads((out / ".pond-mirror").read_text().splitlines()[0])["at_txn"] == 2
    (out / "a").write_text("edited in the past")
    message = pond.fails("mirror", str(out), "--sync")
    assert "read-only" in message and f"pond mirror {out}" in message
    assert "without --at-txn" in message
    # fails() saw the pond unchanged; the host is left as it was too.
    assert pond.cat_bytes("/a") == b"two"
    assert json.loads((out / ".pond-mirror").read_text().splitlines()[0])["at_txn"] == 2
    assert (out / "a").read_text() == "edited in the past"
    # Nor does a run of the past state promise a sync it would refuse.
    again = pond.ok("mirror", str(out), "--at-txn", "2").stdout
    assert "a mirror of a past state is read-only: the edit is left" in again
    assert "--sync" not in again


def test_dir_that_is_a_file_is_a_user_error(pond: PondRunner, tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("not a folder")
    message = pond.fails("mirror", str(tmp_path / "plain.txt"))
    assert "not" in message and "folder" in message and "plain.txt" in message
    assert (tmp_path / "plain.txt").read_text() == "not a folder"


def test_json_keeps_pond_and_host_paths_apart(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    write(host / "s.csv", "timestamp,t\n2026-01-01T00:00:00Z,1.5\n")
    pond.ok("mkdir", "/site")
    pond.ok("copy", "--format", "series", str(host / "s.csv"), "/site/temp")
    write(host / "n", "50 percent")
    pond.ok("copy", str(host / "n"), "/site/50%")
    out = tmp_path / "m"
    doc = pond.json("mirror", str(out))
    assert sorted(doc["written"], key=lambda w: w["path"]) == [
        {"path": "/site/50%", "host": "site/50%25"},
        {"path": "/site/temp", "host": "site/temp.parquet"},
    ]
    pond.ok("rm", "/site/temp")
    (out / "site" / "new.txt").write_text("mine")
    doc = pond.json("mirror", str(out))
    assert doc["removed"] == [{"path": "/site/temp", "host": "site/temp.parquet"}]
    assert doc["new"] == [
        {
            "path": "/site/new.txt",
            "host": "site/new.txt",
            "reason": "a new host file: pond mirror --sync brings it in",
        }
    ]


def test_a_plain_run_names_new_host_files_and_sync_names_what_it_brought(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    write(host / "a", "one")
    pond.ok("copy", str(host / "a"), "/a")
    pond.ok("copy", str(host / "a"), "/b")
    out = tmp_path / "m"
    pond.ok("mirror", str(out))
    (out / "a").write_text("edited")
    (out / "c").write_text("new")
    (out / "b").unlink()
    text = pond.ok("mirror", str(out)).stdout.splitlines()
    assert text[0].endswith(
        "1 written, 0 removed, 0 unchanged, 1 edited on the host, 1 new on the host"
    )
    assert "written: /b" in text
    assert "edited: /a: edited on the host: pond mirror --sync brings it in" in text
    assert "new: /c: a new host file: pond mirror --sync brings it in" in text
    (out / "b").unlink()
    synced = pond.ok("mirror", str(out), "--sync").stdout.splitlines()
    assert synced[0].endswith(
        "(txn 4): 2 brought in (1 changed, 1 new, 0 deleted), 1 left on the host"
    )
    assert "changed: /a" in synced and "new: /c" in synced
    assert "left: /b: removed on the host: kept in the pond (--delete)" in synced
    # The refresh that follows says what it wrote, as a plain run does.
    assert "written: /b" in synced
    assert synced[synced.index("written: /b") - 1].startswith("mirrored ")


def test_names_alike_but_for_case_from_the_host_are_mapped_and_said(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    pond.ok("mirror", str(out))
    (out / "A.txt").write_text("upper")
    (out / "a.txt").write_text("lower")
    text = pond.ok("mirror", str(out), "--sync").stdout.splitlines()
    assert "new: /A.txt" in text and "new: /a.txt" in text
    # A case-insensitive host could not hold both: the rule moves the upper-case one,
    # and the output names both host paths.
    assert "written: /A.txt (%41.txt)" in text and "removed: /A.txt (A.txt)" in text
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "%41.txt",
        "a.txt",
    ]
    assert pond.cat_bytes("/A.txt") == b"upper" and (out / "%41.txt").read_text() == "upper"


# -- faults a fresh-user trial found (issue 18) ---------------------------------------------


def test_sync_never_touches_etc(pond: PondRunner, host: Path, tmp_path: Path) -> None:
    write(host / "a", "a")
    pond.ok("mkdir", "-p", "/etc/resources")
    pond.ok("copy", str(host / "a"), "/etc/resources/keep")
    pond.ok("copy", str(host / "a"), "/etc/old")
    out = tmp_path / "m"
    pond.ok("mirror", str(out), "/**", "/etc/**")
    before = pond.paths()
    write(out / "etc" / "resources" / "evil", "not: [yaml")
    write(out / "ETC" / "x", "case trick")
    (out / "etc" / "old").unlink()
    doc = pond.json("mirror", str(out), "--sync", "--delete")
    assert doc["sync"]["created"] == [] and doc["sync"]["deleted"] == []
    left = {item["host"]: item["reason"] for item in doc["sync"]["kept"]}
    assert {"etc/resources/evil", "ETC", "etc/old"} <= set(left)
    assert all("/etc belongs to the pond itself" in left[h] for h in ("etc/resources/evil", "ETC"))
    assert pond.paths() == before
    assert (out / "etc" / "resources" / "evil").read_text() == "not: [yaml"


def test_a_new_name_the_mirror_would_rename_is_refused_not_renamed(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    write(host / "a", "a")
    pond.ok("mkdir", "/odd2")
    pond.ok("copy", str(host / "a"), "/odd2/a")
    out = tmp_path / "m"
    pond.ok("mirror", str(out))
    write(out / "odd2" / "new%zz", "u")
    write(out / "odd2" / "new%09tab", "t")
    # A plain run says already that --sync will not bring it in, and why.
    said = {n["host"]: n["reason"] for n in pond.json("mirror", str(out))["new"]}
    assert "not brought in by --sync" in said["odd2/new%zz"]
    assert "--sync brings it in" in said["odd2/new%09tab"]
    doc = pond.json("mirror", str(out), "--sync")
    assert doc["sync"]["created"] == [{"path": "/odd2/new\ttab", "host": "odd2/new%09tab"}]
    [left] = doc["sync"]["kept"]
    assert left["host"] == "odd2/new%zz" and "rename it to new%25zz" in left["reason"]
    assert doc["mirror"]["removed"] == [] and doc["mirror"]["written"] == []
    assert (out / "odd2" / "new%zz").read_text() == "u"
    assert not (out / "odd2" / "new%25zz").exists()
    assert "/odd2/new%zz" not in pond.paths()
    text = pond.ok("mirror", str(out), "--sync").stdout
    assert "left: /odd2/new%zz" in text and "removed:" not in text


def test_every_output_line_escapes_control_characters(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    write(host / "a", "a")
    pond.ok("mkdir", "/odd")
    pond.ok("copy", str(host / "a"), "/odd/a\nb")
    out = tmp_path / "m"
    written = pond.ok("mirror", str(out)).stdout
    assert "written: /odd/a\\nb (odd/a%0Ab)" in written
    (out / "odd" / "a%0Ab").write_text("edited")
    synced = pond.ok("mirror", str(out), "--sync").stdout
    assert "changed: /odd/a\\nb (odd/a%0Ab)" in synced
    pond.ok("rm", "/odd/a\nb")
    removed = pond.ok("mirror", str(out)).stdout
    assert "removed: /odd/a\\nb (odd/a%0Ab)" in removed
    for text in (written, synced, removed):
        assert all(
            line.startswith(("mirrored", "synced", "written", "changed", "removed"))
            for line in text.splitlines()
        ), text


def test_a_pattern_matching_nothing_leaves_the_mirror(
    pond: PondRunner, host: Path, tmp_path: Path
) -> None:
    write(host / "a", "a")
    pond.ok("mkdir", "/data")
    pond.ok("copy", str(host / "a"), "/data/a")
    out = tmp_path / "m"
    pond.ok("mirror", str(out))
    message = pond.fails("mirror", str(out), "/nonexist/**")
    assert "/nonexist/**" in message and "matches nothing" in message
    assert (out / "data" / "a").read_text() == "a"
    assert "/nope*" in pond.fails("mirror", str(tmp_path / "new"), "/nope*")
    assert not (tmp_path / "new").exists()
    # The mirror's own patterns are not asked again: the pond may empty them.
    pond.ok("mirror", str(out), "/data/**")
    pond.ok("rm", "/data/a")
    assert pond.json("mirror", str(out), "/data/**")["removed"][0]["path"] == "/data/a"


def test_a_bad_option_value_is_one_error_line(pond: PondRunner, tmp_path: Path) -> None:
    result = pond("mirror", str(tmp_path / "m"), "--tables", "xls")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "xls" in result.stderr and not (tmp_path / "m").exists()
    assert "lock-timeout" in pond.ok("mirror", "--help").stdout
