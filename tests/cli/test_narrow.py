"""Tables and status on a narrow terminal (a fresh user's trial: ``COLUMNS=60`` made
``pond backup list`` wrap, cells kept whole at their width): every line fits the
terminal, and every value is still printed whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from duckpond import Pond
from duckpond.cli.main import cli

from ..backup.conftest import SYNTH, apply_text, backup_doc


@pytest.fixture(scope="module")
def pond_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pond with a Synthetic resource and two Backups to long file:// URLs: one pushed,
    one whose push failed (its directory is a file), so its error is long too."""
    tmp = tmp_path_factory.mktemp("narrow")
    deep = tmp / "field-station-noyo-harbor" / "backups-of-the-logger-pond" / "nas-share"
    blocked = tmp / "a-file-where-a-directory-should-be-for-the-second-backup"
    blocked.write_text("in the way\n")
    path = tmp / "pond"
    with Pond.init(path) as pond:
        apply_text(pond, tmp, SYNTH)
        apply_text(pond, tmp, backup_doc("nas", f"file://{deep}"))
        apply_text(pond, tmp, backup_doc("offsite", f"file://{blocked}/sub"))
        pond.write_bytes("/readme.txt", b"hello\n")
    runner = CliRunner()
    runner.invoke(cli, ["--pond", str(path), "backup", "push"])
    return path


def pond(pond_dir: Path, columns: int, *args: str) -> str:
    result = CliRunner(env={"COLUMNS": str(columns)}).invoke(cli, ["--pond", str(pond_dir), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _squeezed(text: str) -> str:
    """``text`` without whitespace: a value folded across lines reads whole again; in a
    table, each column's cells read top to bottom, one column after another."""
    rows = [line.split("│")[1:-1] for line in text.splitlines() if line.startswith("│")]
    if rows:
        text = "".join("".join(column) for column in zip(*rows, strict=True))
    return re.sub(r"\s+", "", text)


def _values(records: list[dict[str, object]], keys: tuple[str, ...]) -> list[str]:
    return [str(r[k]) for r in records for k in keys if r.get(k) not in (None, "")]


@pytest.mark.parametrize(
    ("command", "keys"),
    [
        (("backup", "list"), ("name", "url", "last_pushed_txn", "last_outcome", "last_error")),
        (("resources",), ("kind", "name", "uuid", "path")),
        (("status",), ("path", "pond_id")),
    ],
)
def test_every_line_fits_and_nothing_is_lost(
    pond_dir: Path, command: tuple[str, ...], keys: tuple[str, ...]
) -> None:
    data = json.loads(pond(pond_dir, 60, "--json", *command))
    records = data if isinstance(data, list) else [data]
    values = _values(records, keys)
    if command == ("backup", "list"):
        assert any(r["last_error"] for r in records), records  # the long cell is there
    if command == ("status",):
        values += [str(b["url"]) for b in data["backups"]]
    for columns in (60, 200):
        text = pond(pond_dir, columns, *command)
        lines = text.splitlines()
        too_long = [line for line in lines if len(line) > columns]
        assert not too_long, (columns, text)
        for value in values:
            assert _squeezed(value) in _squeezed(text), (value, text)
    # JSON does not depend on the terminal.
    assert json.loads(pond(pond_dir, 200, "--json", *command)) == data


def test_a_wide_terminal_keeps_the_table(pond_dir: Path) -> None:
    wide = pond(pond_dir, 200, "backup", "list").splitlines()
    head = [word for word in wide[1].split("┃") if word.strip()]
    assert [word.strip() for word in head] == [
        "name",
        "url",
        "pushed txn",
        "lag",
        "last push",
        "outcome",
        "error",
    ], wide
    # Short cells whole on one line: the time of the last push is not folded.
    assert re.search(r"│ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ │", "\n".join(wide)), wide
    narrow = pond(pond_dir, 60, "backup", "list")
    # One block a backup, its fields one a line.
    assert re.search(r"^name: +nas$", narrow, re.M), narrow
    assert re.search(r"^  lag: +\d+ txn, ", narrow, re.M), narrow
