"""init, mkdir, list, rm, mv, ln -s, log and history through the CLI on real ponds."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from duckpond.cli import cli

from .conftest import PondRunner, assert_user_error, sha256, write


def iso_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- init -------------------------------------------------------------------------------


def test_init_creates_a_pond_with_transaction_one(pond_dir: Path) -> None:
    pond = PondRunner(pond_dir)
    result = pond.ok("init")
    assert str(pond_dir) in result.stdout
    assert (pond_dir / "data" / "_delta_log").is_dir()
    log = pond.json("log")
    assert [t["txn_seq"] for t in log] == [1]
    assert log[0]["command"][0] == "pond" and log[0]["command"][-1] == "init"
    assert pond.json("list") == []


def test_init_refuses_an_existing_pond(pond: PondRunner) -> None:
    pond.ok("mkdir", "/keep")
    message = pond.fails("init")
    assert "already" in message and str(pond.dir) in message
    assert pond.paths() == ["/keep"]


def test_init_uses_dollar_pond_and_pond_option_wins(
    pond_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POND", str(pond_dir))
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert (pond_dir / "data").is_dir()
    other = pond_dir.parent / "other"
    assert runner.invoke(cli, ["--pond", str(other), "init"]).exit_code == 0
    assert (other / "data").is_dir()
    assert runner.invoke(cli, ["mkdir", "/via-env"]).exit_code == 0
    assert PondRunner(pond_dir).paths() == ["/via-env"]
    assert PondRunner(other).paths() == []


# -- mkdir ------------------------------------------------------------------------------


def test_mkdir(pond: PondRunner) -> None:
    pond.ok("mkdir", "/a")
    pond.ok("mkdir", "/a/b")
    assert pond.paths() == ["/a", "/a/b"]
    assert pond.json("list", "/a")[0]["type"] == "directory"


def test_mkdir_of_several_paths_is_one_transaction(pond: PondRunner) -> None:
    txns = len(pond.json("log"))
    pond.ok("mkdir", "-p", "/raw", "/data/a")
    assert pond.paths() == ["/data", "/data/a", "/raw"]
    assert len(pond.json("log")) == txns + 1
    # One bad path and none of them is made.
    assert "exists" in pond.fails("mkdir", "/new", "/raw")
    assert "/new" not in pond.paths()


def test_mkdir_without_p_needs_the_parent_and_refuses_an_existing_path(pond: PondRunner) -> None:
    message = pond.fails("mkdir", "/x/y")
    assert "no such file or directory" in message and "/x" in message
    pond.ok("mkdir", "/x")
    assert "exists" in pond.fails("mkdir", "/x")


def test_mkdir_p_creates_parents_and_accepts_an_existing_directory(pond: PondRunner) -> None:
    pond.ok("mkdir", "-p", "/x/y/z")
    assert pond.paths() == ["/x", "/x/y", "/x/y/z"]
    txns = len(pond.json("log"))
    pond.ok("mkdir", "-p", "/x/y")
    pond.ok("mkdir", "--parents", "/x/y/z")
    assert pond.paths() == ["/x", "/x/y", "/x/y/z"]
    # Nothing changed, so nothing was committed.
    assert len(pond.json("log")) == txns


def test_mkdir_p_through_a_file_fails(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "f", b"x")), "/f")
    assert "not a directory" in pond.fails("mkdir", "-p", "/f/sub")


def test_paths_are_normalised_and_absolute(pond: PondRunner) -> None:
    pond.ok("mkdir", "a")
    pond.ok("mkdir", "/a/./b/")
    pond.ok("mkdir", "/a/b/../c")
    assert pond.paths() == ["/a", "/a/b", "/a/c"]


# -- list -------------------------------------------------------------------------------


def make_tree(pond: PondRunner, host: Path) -> None:
    """/d/{x.csv, y.txt, .hidden, sub/z.csv, .dot/w.csv}, /top.csv"""
    pond.ok("mkdir", "-p", "/d/sub")
    pond.ok("mkdir", "/d/.dot")
    for path in ("/d/x.csv", "/d/y.txt", "/d/.hidden", "/d/sub/z.csv", "/d/.dot/w.csv"):
        pond.ok("copy", str(write(host / "src", path.encode())), path)
    pond.ok("copy", str(write(host / "src", b"top")), "/top.csv")


def test_list_without_pattern_is_everything_recursively(pond: PondRunner, host: Path) -> None:
    make_tree(pond, host)
    expected = ["/d", "/d/sub", "/d/sub/z.csv", "/d/x.csv", "/d/y.txt", "/top.csv"]
    assert sorted(pond.paths()) == expected
    assert sorted(pond.ok("list").stdout.splitlines()) == expected
    assert pond.ok("list").stdout == pond.ok("list", "/**").stdout


def test_list_root_and_directory_contents_and_entry_itself(pond: PondRunner, host: Path) -> None:
    make_tree(pond, host)
    assert sorted(pond.paths("/")) == ["/d", "/top.csv"]
    assert sorted(pond.paths("/d/")) == ["/d/sub", "/d/x.csv", "/d/y.txt"]
    assert pond.paths("/d") == ["/d"]
    assert pond.paths("/d/sub") == ["/d/sub"]
    assert pond.paths("d") == ["/d"]


def test_list_hidden_entries_only_with_a(pond: PondRunner, host: Path) -> None:
    make_tree(pond, host)
    everything = sorted(pond.paths("-a"))
    assert everything == [
        "/d",
        "/d/.dot",
        "/d/.dot/w.csv",
        "/d/.hidden",
        "/d/sub",
        "/d/sub/z.csv",
        "/d/x.csv",
        "/d/y.txt",
        "/top.csv",
    ]
    assert sorted(pond.paths("-a", "/d/")) == [
        "/d/.dot",
        "/d/.hidden",
        "/d/sub",
        "/d/x.csv",
        "/d/y.txt",
    ]
    assert "/d/.dot/w.csv" not in pond.paths("/**/*.csv")
    assert "/d/.dot/w.csv" in pond.paths("-a", "/**/*.csv")
    # Only -a lets a glob match a hidden name, even one whose pattern starts with a dot.
    assert pond.paths("/d/?hidden") == []
    assert pond.paths("/d/.*") == []
    assert pond.paths("/d/.hidden") == ["/d/.hidden"]
    assert sorted(pond.paths("-a", "/d/.*")) == ["/d/.dot", "/d/.hidden"]


def test_list_globs(pond: PondRunner, host: Path) -> None:
    make_tree(pond, host)
    assert sorted(pond.paths("/**/*.csv")) == ["/d/sub/z.csv", "/d/x.csv", "/top.csv"]
    assert sorted(pond.paths("/d/*")) == ["/d/sub", "/d/x.csv", "/d/y.txt"]
    assert sorted(pond.paths("/d/?.txt")) == ["/d/y.txt"]
    assert sorted(pond.paths("/d/[xy].*")) == ["/d/x.csv", "/d/y.txt"]
    # A trailing ** matches everything below its base, never the base itself.
    assert sorted(pond.paths("/d/**")) == ["/d/sub", "/d/sub/z.csv", "/d/x.csv", "/d/y.txt"]
    assert pond.paths("/nothing/*") == []


def test_list_text_output_is_one_absolute_path_per_line(pond: PondRunner, host: Path) -> None:
    make_tree(pond, host)
    lines = pond.ok("list", "/d/").stdout.splitlines()
    assert sorted(lines) == ["/d/sub", "/d/x.csv", "/d/y.txt"]
    for line in lines:
        assert line.startswith("/") and not line.endswith("/")


def test_list_long(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(write(host / "f", b"12345")), "/d/f")
    header, *lines = pond.ok("list", "-l", "/d/").stdout.splitlines()
    assert "latest size" in header
    assert len(lines) == 1
    fields = lines[0].split()
    assert fields[0] == "file:data"
    assert fields[1] == "5"
    assert fields[2] == "v1"
    assert fields[-1] == "/d/f"


def test_list_json_shape(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(write(host / "f", b"12345")), "/d/f")
    pond.ok("copy", str(write(host / "f", b"123456")), "/d/f")
    pond.ok("ln", "-s", "/d/f", "/link")
    entries = {e["path"]: e for e in pond.json("list")}
    assert set(entries) == {"/d", "/d/f", "/link"}
    for e in entries.values():
        assert {"path", "type", "size", "version", "node_id", "timestamp"} <= set(e)
        assert isinstance(e["size"], int) and isinstance(e["version"], int)
        assert iso_time(e["timestamp"]).tzinfo is not None
        assert len(e["node_id"]) == 36
    f = entries["/d/f"]
    assert (f["type"], f["size"], f["version"]) == ("file:data", 6, 2)
    assert entries["/d"]["type"] == "directory"
    assert entries["/link"]["type"] == "symlink"
    assert len({e["node_id"] for e in entries.values()}) == 3


def test_list_of_a_missing_path_fails(pond: PondRunner) -> None:
    assert "/nope" in pond.fails("list", "/nope")
    assert "/nope" in pond.fails("list", "/nope/")


def test_list_with_a_file_where_a_directory_is_needed(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "f", b"x")), "/f")
    assert "not a directory" in pond.fails("list", "/f/")
    assert "not a directory" in pond.fails("list", "/f/x")


# -- rm ----------------------------------------------------------------------------------


def test_rm_file_and_symlink(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "f", b"x")), "/f")
    pond.ok("ln", "-s", "/f", "/l")
    pond.ok("rm", "/l")
    assert pond.paths() == ["/f"]
    assert pond.cat_bytes("/f") == b"x"
    pond.ok("rm", "/f")
    assert pond.paths() == []


def test_rm_directory_needs_r(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/d/e")
    pond.ok("copy", str(write(host / "f", b"x")), "/d/e/f")
    assert "not empty" in pond.fails("rm", "/d")
    pond.ok("rm", "-r", "/d")
    assert pond.paths("-a") == []
    pond.ok("mkdir", "/empty")
    pond.ok("rm", "/empty")
    assert pond.paths() == []


def test_rm_missing_and_root(pond: PondRunner) -> None:
    assert "/nope" in pond.fails("rm", "/nope")
    pond.fails("rm", "-r", "/")


def test_removed_file_is_still_visible_in_the_past(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "f", b"old")), "/f")
    txn = pond.json("log")[0]["txn_seq"]
    pond.ok("rm", "/f")
    assert pond.paths() == []
    assert pond.paths("--at-txn", str(txn)) == ["/f"]
    assert pond.cat_bytes("/f", "--at-txn", str(txn)) == b"old"


# -- mv ----------------------------------------------------------------------------------


def test_mv_renames_and_keeps_the_node_id(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "f", b"data")), "/f")
    node_id = pond.json("list", "/f")[0]["node_id"]
    pond.ok("mv", "/f", "/g")
    assert pond.paths() == ["/g"]
    assert pond.json("list", "/g")[0]["node_id"] == node_id
    assert pond.cat_bytes("/g") == b"data"


def test_mv_into_a_directory_keeps_the_name(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(write(host / "f", b"data")), "/f")
    node_id = pond.json("list", "/f")[0]["node_id"]
    pond.ok("mv", "/f", "/d/")
    assert pond.paths() == ["/d", "/d/f"]
    assert pond.json("list", "/d/f")[0]["node_id"] == node_id


def test_mv_a_directory_moves_its_contents(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/a/b")
    pond.ok("copy", str(write(host / "f", b"data")), "/a/b/f")
    ids = {e["path"]: e["node_id"] for e in pond.json("list")}
    pond.ok("mv", "/a", "/z")
    moved = {e["path"]: e["node_id"] for e in pond.json("list")}
    assert moved == {p.replace("/a", "/z", 1): i for p, i in ids.items()}


def test_mv_onto_an_existing_path_fails(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "f", b"1")), "/f")
    pond.ok("copy", str(write(host / "f", b"2")), "/g")
    assert "exists" in pond.fails("mv", "/f", "/g")
    assert pond.cat_bytes("/g") == b"2"


def test_mv_errors(pond: PondRunner) -> None:
    pond.ok("mkdir", "-p", "/a/b")
    assert "no such file or directory: /nope" in pond.fails("mv", "/nope", "/x")
    assert "cannot move /a inside itself" in pond.fails("mv", "/a", "/a/b/c")
    assert "no such file or directory: /missing" in pond.fails("mv", "/a", "/missing/x")


# -- ln -s -------------------------------------------------------------------------------


def test_symlink_reads_through_and_lists_itself(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(write(host / "f", b"through")), "/d/f")
    pond.ok("ln", "-s", "/d/f", "/abs")
    pond.ok("ln", "-s", "f", "/d/rel")
    pond.ok("ln", "-s", "/d", "/dirlink")
    assert pond.cat_bytes("/abs") == b"through"
    assert pond.cat_bytes("/d/rel") == b"through"
    assert pond.cat_bytes("/dirlink/f") == b"through"
    assert pond.json("list", "/abs")[0]["type"] == "symlink"


def test_dangling_symlink_is_allowed(pond: PondRunner) -> None:
    pond.ok("ln", "-s", "/not/yet", "/dangling")
    assert pond.paths() == ["/dangling"]
    assert "/dangling" in pond.fails("cat", "/dangling")


def test_symlink_loop_read_fails_saying_so(pond: PondRunner) -> None:
    pond.ok("ln", "-s", "/b", "/a")
    pond.ok("ln", "-s", "/a", "/b")
    pond.ok("ln", "-s", "/self", "/self")
    for path in ("/a", "/b", "/self", "/a/x"):
        message = pond.fails("cat", path)
        assert "symbolic link" in message or "loop" in message, message
    assert sorted(pond.paths()) == ["/a", "/b", "/self"]


def test_ln_onto_an_existing_path_fails(pond: PondRunner) -> None:
    pond.ok("mkdir", "/d")
    assert "exists" in pond.fails("ln", "-s", "/x", "/d")


def test_ln_without_s_is_a_usage_error(pond: PondRunner) -> None:
    result = pond("ln", "/x", "/y")
    assert result.exit_code == 2


# -- log ---------------------------------------------------------------------------------


def test_log_newest_first_with_commands(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/a/b")
    pond.ok("copy", str(write(host / "f", b"x")), "/a/b/")
    log = pond.json("log")
    assert [t["txn_seq"] for t in log] == [3, 2, 1]
    for t in log:
        assert set(t) >= {"txn_seq", "timestamp", "command"}
        assert isinstance(t["command"], list)
        assert t["command"][0] == "pond"
        iso_time(t["timestamp"])
    assert log[2]["command"][-1] == "init"
    assert log[1]["command"][-3:] == ["mkdir", "-p", "/a/b"]
    assert log[0]["command"][-3:] == ["copy", str(host / "f"), "/a/b/"]
    stamps = [iso_time(t["timestamp"]) for t in log]
    assert stamps == sorted(stamps, reverse=True)
    text = pond.ok("log").stdout.splitlines()
    assert [line.split()[0] for line in text] == ["3", "2", "1"]
    assert "mkdir -p /a/b" in text[1]


def test_log_limit(pond: PondRunner) -> None:
    for name in "abc":
        pond.ok("mkdir", f"/{name}")
    assert [t["txn_seq"] for t in pond.json("log", "--limit", "2")] == [4, 3]
    assert [t["txn_seq"] for t in pond.json("log", "-n", "1")] == [4]


def test_log_at_a_past_state(pond: PondRunner) -> None:
    for name in "abc":
        pond.ok("mkdir", f"/{name}")
    assert [t["txn_seq"] for t in pond.json("log", "--at-txn", "2")] == [2, 1]
    at = pond.json("log")[1]["timestamp"]
    assert [t["txn_seq"] for t in pond.json("log", "--at", at)] == [3, 2, 1]


def test_read_commands_make_no_transactions(pond: PondRunner, host: Path) -> None:
    pond.ok("copy", str(write(host / "f", b"x")), "/f")
    before = pond.json("log")
    for args in (("list",), ("cat", "/f"), ("describe", "/f"), ("history", "/f"), ("fsck",)):
        pond.ok(*args)
    pond.ok("query", "SELECT count(*) FROM nodes")
    assert pond.json("log") == before


# -- history -----------------------------------------------------------------------------


def test_history_lists_versions_with_hashes(pond: PondRunner, host: Path) -> None:
    contents = [b"one", b"two two", b"three three three"]
    for data in contents:
        pond.ok("copy", str(write(host / "f", data)), "/f")
    hist = pond.json("history", "/f")
    assert [h["version"] for h in hist] == [1, 2, 3]
    assert [h["size"] for h in hist] == [len(c) for c in contents]
    assert [h["sha256"] for h in hist] == [sha256(c) for c in contents]
    assert [h["txn_seq"] for h in hist] == [2, 3, 4]
    for h in hist:
        assert set(h) >= {"version", "txn_seq", "timestamp", "size", "sha256"}
        iso_time(h["timestamp"])
    lines = pond.ok("history", "/f").stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("v1")


def test_history_follows_the_node_across_mv(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/d")
    pond.ok("copy", str(write(host / "f", b"v1")), "/f")
    pond.ok("mv", "/f", "/d/g")
    pond.ok("copy", str(write(host / "f", b"v2")), "/d/g")
    hist = pond.json("history", "/d/g")
    assert [h["sha256"] for h in hist] == [sha256(b"v1"), sha256(b"v2")]
    assert "/f" in pond.fails("history", "/f")
    # A new node at the old path has its own history.
    pond.ok("copy", str(write(host / "f", b"new")), "/f")
    assert [h["sha256"] for h in pond.json("history", "/f")] == [sha256(b"new")]


def test_history_of_a_missing_path(pond: PondRunner) -> None:
    assert "/nope" in pond.fails("history", "/nope")


def test_commands_on_a_fresh_runner_see_committed_state(pond: PondRunner) -> None:
    # Each CLI call opens the pond anew: nothing is cached between invocations.
    pond.ok("mkdir", "/a")
    other = PondRunner(pond.dir)
    assert other.paths() == ["/a"]
    assert_user_error(other("mkdir", "/a"))


def test_symlinks_do_not_make_list_recurse_forever(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/d/e")
    pond.ok("ln", "-s", "/", "/d/root")
    pond.ok("ln", "-s", "..", "/d/e/up")
    assert sorted(pond.paths()) == ["/d", "/d/e", "/d/e/up", "/d/root"]
    assert pond.paths("/**/up") == ["/d/e/up"]


def test_rm_and_mv_of_a_symlink_leave_its_target(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "-p", "/d/e")
    pond.ok("copy", str(write(host / "f", b"f")), "/d/e/f")
    pond.ok("ln", "-s", "/d/e", "/elink")
    pond.ok("mv", "/elink", "/elink2")
    assert pond.cat_bytes("/elink2/f") == b"f"
    pond.ok("rm", "/elink2")
    assert sorted(pond.paths()) == ["/d", "/d/e", "/d/e/f"]


def test_copy_into_a_symlinked_directory(pond: PondRunner, host: Path) -> None:
    pond.ok("mkdir", "/real")
    pond.ok("ln", "-s", "/real", "/via")
    pond.ok("copy", str(write(host / "f", b"f")), "/via/")
    assert pond.paths("/real/") == ["/real/f"]
