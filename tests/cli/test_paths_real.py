"""Paths are names, not patterns (issue 8, section 4).

Pond directories with characters the Delta Lake library misreads, pond files whose
names hold glob characters or control characters, and URL schemes with typos.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from duckpond import Pond
from duckpond.cli import cli

from .conftest import PondRunner, assert_user_error, write


def run(pond_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--pond", str(pond_dir), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "name",
    ["Q1 data", "we#ird?name", "a&b=c+d", "caf\u00e9 \u00fc", 'it\'s "quoted"', "100%", "a;b,c"],
)
def test_a_pond_at_an_odd_path_works(tmp_path: Path, name: str) -> None:
    pond_dir = tmp_path / name / "pond"
    src = write(tmp_path / "r.csv", "timestamp,v\n2025-01-01T00:00:00Z,1.5\n")
    assert run(pond_dir, "init")[0] == 0
    assert run(pond_dir, "copy", "--format", "series", str(src), "/r.series")[0] == 0
    code, out, _ = run(pond_dir, "cat", "/r.series", "--format", "json")
    assert code == 0 and json.loads(out) == [{"timestamp": "2025-01-01T00:00:00Z", "v": 1.5}]
    # Stored under the directory named, and nowhere else.
    assert (pond_dir / "data" / "_delta_log").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "r.csv"])
    assert Pond.open(pond_dir).read_table("/r.series").num_rows == 1


def test_a_percent_escape_in_the_pond_path_is_refused(tmp_path: Path) -> None:
    encoded = tmp_path / "Q1%20data" / "pond"
    code, _, err = run(encoded, "init")
    assert code == 1 and err.startswith("error: ") and "'%20'" in err
    assert not encoded.exists()


def test_init_at_the_escaped_path_of_another_pond_does_not_touch_it(tmp_path: Path) -> None:
    real = tmp_path / "Q1 data" / "pond"
    assert run(real, "init")[0] == 0
    src = write(tmp_path / "a.txt", "mine")
    assert run(real, "copy", str(src), "/a.txt")[0] == 0
    encoded = tmp_path / "Q1%20data" / "pond"
    code, _, err = run(encoded, "init")
    assert code == 1 and "'%20'" in err
    code, _, err = run(encoded, "list", "/")
    assert code == 1 and "a.txt" not in err
    assert run(real, "cat", "/a.txt")[1] == "mine"
    assert not (tmp_path / "Q1%20data").exists()


@pytest.mark.parametrize("bad", ["b[1]", "a|b", "a\\b", "tab\tx"])
def test_characters_the_storage_cannot_use_are_refused_by_name(tmp_path: Path, bad: str) -> None:
    code, _, err = run(tmp_path / bad / "pond", "init")
    assert code == 1 and err.startswith("error: cannot keep a pond at") and "internal" not in err
    assert "\n" not in err.rstrip("\n")


@pytest.fixture
def bracketed(pond: PondRunner, host: Path) -> PondRunner:
    src = write(
        host / "export[1].csv", "timestamp,v\n2025-01-01T00:00:00Z,1\n2025-01-02T00:00:00Z,3\n"
    )
    pond.ok("copy", str(src), "/")
    pond.ok("copy", "--format", "series", str(src), "/s[1].series")
    return pond


@pytest.mark.parametrize(
    "target", ["/export[1].csv", "/export?1?.csv", "/export*.csv", "/s[1].series", "/s?1?.series"]
)
def test_names_with_glob_characters_are_read(bracketed: PondRunner, target: str) -> None:
    pond = bracketed
    rows = json.loads(pond.ok("cat", target, "--format", "json").stdout)
    assert [r["v"] for r in rows] == [1, 3]
    described = pond.json("describe", target)
    assert len(described) == 1
    assert described[0]["path"] in ("/export[1].csv", "/s[1].series")
    out = pond.ok("query", f'SELECT sum(v) AS s FROM "{target}"', "--format", "json").stdout
    assert json.loads(out) == [{"s": 4}]


def test_a_literal_bracket_name_is_not_a_character_class(bracketed: PondRunner, host: Path) -> None:
    pond = bracketed
    other = write(host / "export1.csv", "timestamp,v\n2025-01-03T00:00:00Z,100\n")
    pond.ok("copy", str(other), "/")
    rows = json.loads(pond.ok("cat", "/export[1].csv", "--format", "json").stdout)
    assert [r["v"] for r in rows] == [1, 3]


def test_control_characters_in_names_are_escaped(pond: PondRunner, host: Path) -> None:
    src = write(host / "plain.txt", "x")
    pond.ok("copy", str(src), "/two\nlines\x1b[31m.txt")
    listed = pond.ok("list", "/").stdout
    assert listed.splitlines() == ["/two\\nlines\\x1b[31m.txt"]
    long = pond.ok("list", "-l", "/").stdout
    assert len(long.splitlines()) == 2 and "/two\\nlines\\x1b[31m.txt" in long
    described = pond.ok("describe", "/two*").stdout
    assert described.splitlines()[0] == "/two\\nlines\\x1b[31m.txt"
    # JSON keeps the real name.
    assert pond.json("list", "/")[0]["path"] == "/two\nlines\x1b[31m.txt"


@pytest.mark.parametrize(
    "args",
    [
        ("list", "hst:///tmp"),
        ("cat", "hst:///tmp/x"),
        ("cat", "hst:/tmp/x"),
        ("copy", "/a", "hst:///tmp/x"),
        ("copy", "hots+csv:///tmp/a.csv", "/a"),
    ],
)
def test_an_unknown_url_scheme_is_named(pond: PondRunner, args: tuple[str, ...]) -> None:
    message = assert_user_error(pond(*args))
    word = args[-1].split(":")[0] if "hst" in args[-1] else "hots"
    assert repr(word) in message and "scheme" in message


def test_an_error_naming_a_control_character_stays_one_line(pond: PondRunner) -> None:
    message = assert_user_error(pond("cat", "/no\nsuch\x1b.txt"))
    assert "/no\\nsuch\\x1b.txt" in message
