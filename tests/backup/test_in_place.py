"""``pond --pond s3://bucket/prefix ...``: a backup read in place, read-only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from duckpond import Pond
from duckpond.backup import Remote, push
from duckpond.cli import cli

from .conftest import rich_pond, snapshot


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("in-place")
    rich_pond(tmp / "pond", tmp, transactions=20).close()
    return tmp / "pond"


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--pond", url, *args], catch_exceptions=True)
    return result.exit_code, result.stdout, result.stderr


def test_a_backup_reads_in_place_as_the_pond_does(
    source: Path, s3_url: str, tmp_path: Path
) -> None:
    push(source, Remote(s3_url, create=True), "offsite")
    assert snapshot(source) == snapshot(s3_url)  # type: ignore[arg-type]
    assert snapshot(source, at_txn=7) == snapshot(s3_url, at_txn=7)  # type: ignore[arg-type]
    local, remote = Pond.open(source), Pond.open(s3_url)
    query = 'SELECT count(*) AS n, max(temp) AS m FROM "/data/temps.series"'
    assert remote.sql(query).to_pylist() == local.sql(query).to_pylist()
    for args in (
        ("list", "-l"),
        ("cat", "/raw/notes.txt"),
        ("--json", "log"),
        ("--json", "describe", "/data/*"),
        ("query", query),
        ("cat", "/synthetic/demo", "--format", "csv"),
    ):
        code, out, err = run(s3_url, *args)
        assert code == 0, (args, err)
        assert out == CliRunner().invoke(cli, ["--pond", str(source), *args]).stdout
    code, _, err = run(s3_url, "export", "/data/*", "--dir", str(tmp_path / "out"))
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())


@pytest.mark.parametrize(
    "args",
    [
        ("mkdir", "/new"),
        ("rm", "/raw/notes.txt"),
        ("recover",),
        ("backup", "push"),
        ("run",),
    ],
)
def test_write_commands_are_refused_saying_to_restore(
    source: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = f"file://{tmp_path / 'bk'}"
    push(source, Remote(url, create=True), "nas")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "bk").rglob("*"))
    code, _, err = run(url, *args)
    assert code == 1
    assert err.strip() == (
        f"error: {url} is read in place and cannot be written: restore it first "
        f"(pond restore {url} DIR)"
    )
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "bk").rglob("*")) == before


def test_no_pond_at_the_url(s3_url: str) -> None:
    code, _, err = run(s3_url, "list")
    assert code == 1 and err.startswith("error: no pond at s3://"), err
