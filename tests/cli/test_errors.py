"""Bad input: exit 1, one ``error:`` line on stderr, no traceback, the pond unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from duckpond.cli import cli

from .conftest import (
    SERIES_CSV,
    PondRunner,
    assert_process_user_error,
    assert_user_error,
    host_url,
    parquet_bytes,
    run_pond,
    write,
)


def tree_digest(path: Path) -> dict[str, str]:
    """Every file under ``path`` by its content hash, to prove nothing was touched."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def filled(pond: PondRunner, host: Path) -> PondRunner:
    pond.ok("mkdir", "-p", "/d/sub")
    pond.ok("copy", str(write(host / "f", b"file")), "/d/f")
    pond.ok("copy", "--format", "series", str(write(host / "s.csv", SERIES_CSV)), "/d/s")
    return pond


# -- paths -------------------------------------------------------------------------------------


def test_missing_parent(filled: PondRunner, host: Path) -> None:
    src = str(write(host / "x", b"x"))
    for args in (
        ("mkdir", "/nope/x"),
        ("copy", src, "/nope/x"),
        ("mv", "/d/f", "/nope/f"),
        ("ln", "-s", "/d/f", "/nope/l"),
    ):
        message = filled.fails(*args)
        assert "no such file or directory" in message and "/nope" in message, (args, message)


def test_existing_target(filled: PondRunner) -> None:
    assert "exists" in filled.fails("mkdir", "/d")
    assert "exists" in filled.fails("mkdir", "/d/f")
    assert "exists" in filled.fails("mv", "/d/f", "/d/s")
    assert "exists" in filled.fails("ln", "-s", "/x", "/d/f")


def test_bad_glob(filled: PondRunner, host: Path) -> None:
    for args in (
        ("list", "/a/[b"),
        ("describe", "/d/[x"),
        ("cat", "/d/[s", "--format", "csv"),
        ("copy", "/d/[f", host_url(host / "out")),
    ):
        message = filled.fails(*args)
        assert "[" in message and "glob" in message, (args, message)
    assert not (host / "out").exists()


def test_dotdot_above_the_root(filled: PondRunner, host: Path) -> None:
    src = str(write(host / "x", b"x"))
    for args in (
        ("mkdir", "/../x"),
        ("mkdir", "-p", "/d/../../x"),
        ("list", "/.."),
        ("cat", "/../d/f"),
        ("copy", src, "/../x"),
        ("mv", "/d/f", "/../f"),
        ("rm", "/d/../../d"),
    ):
        message = filled.fails(*args)
        assert "above the root" in message, (args, message)


def test_dotdot_within_the_pond_is_fine(filled: PondRunner) -> None:
    assert filled.cat_bytes("/d/sub/../f") == b"file"


def test_a_file_where_a_directory_is_needed(filled: PondRunner, host: Path) -> None:
    src = str(write(host / "x", b"x"))
    for args in (
        ("mkdir", "/d/f/x"),
        ("mkdir", "-p", "/d/f/x/y"),
        ("copy", src, "/d/f/x"),
        ("copy", src, "/d/f/"),
        ("list", "/d/f/"),
        ("cat", "/d/f/x"),
        ("mv", "/d/sub", "/d/f/sub"),
    ):
        message = filled.fails(*args)
        assert "not a directory" in message or "no such" in message, (args, message)


def test_a_directory_where_a_file_is_needed(filled: PondRunner, host: Path) -> None:
    assert "directory" in filled.fails("cat", "/d")
    assert "directory" in filled.fails("cat", "/d", "--format", "raw")
    src = str(write(host / "x", b"x"))
    # Copying onto an existing directory puts the file inside it; a directory in the way fails.
    filled.ok("mkdir", "/d/sub/x")
    assert "directory" in filled.fails("copy", src, "/d/sub/")


def test_missing_host_source(filled: PondRunner, host: Path) -> None:
    message = filled.fails("copy", str(host / "absent.txt"), "/d/")
    assert "absent.txt" in message


# -- ponds that are not there -------------------------------------------------------------------


COMMANDS = [
    ("list",),
    ("mkdir", "/x"),
    ("cat", "/x"),
    ("describe", "/x"),
    ("log",),
    ("history", "/x"),
    ("rm", "/x"),
    ("query", "SELECT count(*) FROM nodes"),
    ("fsck",),
    ("recover",),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_uninitialised_pond_directory(tmp_path: Path, args: tuple[str, ...]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    message = assert_user_error(PondRunner(empty)(*args))
    assert "no pond" in message and str(empty) in message
    assert list(empty.iterdir()) == []
    missing = tmp_path / "missing"
    message = assert_user_error(PondRunner(missing)(*args))
    assert "no pond" in message
    assert not missing.exists()


@pytest.mark.parametrize("args", [("list",), ("mkdir", "/x"), ("init",), ("log",)])
def test_no_pond_option_and_no_env(
    args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    message = assert_user_error(CliRunner().invoke(cli, list(args)))
    assert "--pond" in message and "$POND" in message
    assert list(tmp_path.iterdir()) == []


def test_pond_path_is_a_file(tmp_path: Path) -> None:
    afile = write(tmp_path / "afile", b"x")
    assert_user_error(PondRunner(afile)("list"))
    assert_user_error(PondRunner(afile)("init"))
    assert afile.read_bytes() == b"x"


@pytest.mark.parametrize(
    "damage",
    ["garbage_commit", "garbage_new_commit", "no_log", "truncated_data_file"],
)
def test_corrupted_pond_directory(pond: PondRunner, host: Path, damage: str) -> None:
    pond.ok("mkdir", "/a")
    pond.ok("copy", str(write(host / "f", b"x" * 100)), "/a/f")
    log_dir = pond.dir / "data" / "_delta_log"
    commits = sorted(log_dir.glob("*.json"))
    if damage == "garbage_commit":
        commits[-1].write_bytes(b"\x00garbage{{{ not json")
    elif damage == "garbage_new_commit":
        (log_dir / f"{len(commits):020d}.json").write_text("{not json\n")
    elif damage == "no_log":
        for c in commits:
            c.unlink()
    else:
        for data_file in (pond.dir / "data").rglob("*.parquet"):
            data_file.write_bytes(data_file.read_bytes()[:10])
    before = tree_digest(pond.dir / "data")
    commands = [*COMMANDS, ("copy", str(host / "f"), "/g"), ("ln", "-s", "/a", "/l")]
    if damage == "truncated_data_file":
        # The log is read from commit metadata alone, so it still works.
        commands.remove(("log",))
        assert [t["txn_seq"] for t in pond.json("log")] == [3, 2, 1]
    for args in commands:
        assert_user_error(pond(*args))
    assert tree_digest(pond.dir / "data") == before
    assert_user_error(pond("init"))


# -- host input ----------------------------------------------------------------------------------


def test_non_utf8_host_file_names(filled: PondRunner, host: Path) -> None:
    raw = os.fsencode(host)
    bad_file = raw + b"/bad\xff.txt"
    with open(bad_file, "wb") as fh:
        fh.write(b"content")
    tree = raw + b"/tree"
    os.mkdir(tree)
    for name in (b"ok.txt", b"z\xfe\xfd.txt"):
        with open(tree + b"/" + name, "wb") as fh:
            fh.write(b"x")
    message = filled.fails("copy", os.fsdecode(bad_file), "/d/")
    assert "UTF-8" in message
    message = filled.fails("copy", os.fsdecode(tree), "/t")
    assert "UTF-8" in message and "\\xfe" in message
    message = filled.fails("copy", os.fsdecode(tree), "/d/")
    assert "UTF-8" in message
    # A real process gets the name as bytes from the OS.
    proc = run_pond("copy", os.fsdecode(bad_file), "/d/", pond_dir=filled.dir)
    assert "UTF-8" in assert_process_user_error(proc)
    # A file copied to a name of its own choosing may have any host name.
    filled.ok("copy", os.fsdecode(bad_file), "/d/renamed.txt")
    assert filled.cat_bytes("/d/renamed.txt") == b"content"


def test_bad_csv(filled: PondRunner, host: Path) -> None:
    src = write(host / "bad.csv", "timestamp,v\n2025-01-01T00:00:00,1\n2025-01-01T01:00:00,2,3\n")
    for fmt in ("table", "series"):
        message = filled.fails("copy", "--format", fmt, str(src), "/d/bad")
        assert "CSV" in message, message
    unterminated = write(host / "quote.csv", 'a,b\n"x,1\n')
    assert "CSV" in filled.fails("copy", "--format", "table", str(unterminated), "/d/q")


@pytest.mark.parametrize("name", ["Mars/Olympus", "America", "Etc"])
def test_bad_csv_times(filled: PondRunner, host: Path, name: str) -> None:
    src = write(host / "t.csv", "timestamp,v\n2025-01-01T00:00:00,1\n")
    message = filled.fails("copy", "--format", "series", "--tz", name, str(src), "/x")
    # A tz database folder reads as a misspelled zone does, naming the flag, no path.
    assert f"--tz: unknown time zone: {name!r}" in message, message
    assert "tzdata" not in message and "directory" not in message, message


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--skip-rows", "1"], "--skip-rows"),
        (["--null-value", "NA", "--timestamp-format", "%Y"], "--timestamp-format, --null-value"),
        (["--format", "data", "--tz", "UTC", "--no-header"], "--no-header, --tz"),
    ],
)
def test_csv_flags_on_raw_bytes_are_refused(
    filled: PondRunner, host: Path, flags: list[str], said: str
) -> None:
    # Stored raw, the file's bytes are kept as they are: the flags did nothing, silently.
    src = write(host / "tmy.csv", "station line\ntimestamp,v\n2025-01-01T00:00:00,1\n")
    message = filled.fails("copy", *flags, str(src), "/d/")
    assert message.startswith(f"tmy.csv: {said} read CSV"), message
    assert "--format series" in message, message
    filled.ok("copy", str(src), "/d/")  # without them the raw copy is fine


def test_non_parquet_offered_as_parquet(filled: PondRunner, host: Path) -> None:
    src = write(host / "fake.parquet", b"this is not parquet at all")
    for fmt in ("table", "series"):
        message = filled.fails("copy", "--format", fmt, str(src), "/d/p")
        assert "not Parquet" in message and "--format data" in message, message
    # As raw bytes it is fine.
    filled.ok("copy", "--format", "data", str(src), "/d/p")


def test_truncated_parquet_is_refused(filled: PondRunner, host: Path) -> None:
    data = parquet_bytes([{"v": 1}])
    src = write(host / "cut.parquet", data[:4] + data[-20:])
    message = filled.fails("copy", "--format", "table", str(src), "/d/p")
    assert "Parquet" in message


def test_bad_sql_and_unknown_table(filled: PondRunner) -> None:
    assert filled.fails("query", "SELEC 1")
    assert "nope" in filled.fails("query", "SELECT * FROM nope")
    assert "nope" in filled.fails("query", "SELECT nope FROM nodes")
    assert filled.fails("cat", "/d/s", "--sql", "SELECT FROM WHERE")
    assert "nope" in filled.fails("cat", "/d/s", "--sql", "SELECT * FROM nope")


def test_bad_at_time_and_txn(filled: PondRunner) -> None:
    last = filled.json("log")[0]["txn_seq"]
    for command in (("list",), ("cat", "/d/f"), ("describe", "/d/f"), ("query", "SELECT 1")):
        assert "ISO 8601" in filled.fails(*command, "--at", "yesterday")
        message = filled.fails(*command, "--at-txn", str(last + 1))
        assert str(last + 1) in message and str(last) in message
        filled.fails(*command, "--at-txn", "-1")


def test_bad_version(filled: PondRunner) -> None:
    assert "version 2" in filled.fails("cat", "/d/f", "--version", "2")
    filled.fails("cat", "/d/f", "--version", "0")


def test_lock_timeout_must_be_a_number(filled: PondRunner) -> None:
    result = filled("--lock-timeout", "soon", "mkdir", "/x")
    assert result.exit_code == 2


# -- --debug and real processes ----------------------------------------------------------------


def test_debug_shows_a_traceback(filled: PondRunner) -> None:
    proc = run_pond("--debug", "mkdir", "/d", pond_dir=filled.dir)
    assert proc.returncode == 1
    stderr = proc.stderr.decode()
    assert "Traceback (most recent call last)" in stderr
    assert "FileExistsError" in stderr


def test_a_real_process_reports_one_line(filled: PondRunner, tmp_path: Path) -> None:
    proc = run_pond("mkdir", "/d", pond_dir=filled.dir)
    assert "exists" in assert_process_user_error(proc)
    proc = run_pond("list", pond_dir=tmp_path / "nothing")
    assert "no pond" in assert_process_user_error(proc)
    proc = run_pond("list")
    assert "$POND" in assert_process_user_error(proc)
    proc = run_pond("query", "SELEC 1", pond_dir=filled.dir)
    assert_process_user_error(proc)


def test_an_error_naming_a_path_with_a_newline_is_one_line(filled: PondRunner) -> None:
    filled.ok("mkdir", "/two\nlines")
    message = filled.fails("cat", "/two\nlines/missing")
    assert "/two\\nlines/missing" in message


def test_an_unexpected_exception_is_one_line_without_debug(
    filled: PondRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from duckpond.pond import Pond

    def broken(self: Pond, *args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(Pond, "list", broken)
    message = assert_user_error(filled("list"), internal=True)
    assert "internal error: RuntimeError: boom second line" in message
    assert "--debug" in message
    result = filled("--debug", "list")
    assert isinstance(result.exception, RuntimeError)


def test_a_bad_limit_names_the_flag(pond: PondRunner) -> None:
    assert pond.fails("log", "--limit", "0") == "--limit must be at least 1, not 0"


def test_no_pond_names_the_flag() -> None:
    result = CliRunner().invoke(cli, ["list"], env={"POND": ""})
    assert assert_user_error(result) == "no pond given: pass --pond DIR or set $POND"
