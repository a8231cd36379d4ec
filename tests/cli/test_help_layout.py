"""Help texts a person can copy from: examples never rewrapped, no reST markup."""

from __future__ import annotations

import click
from click.testing import CliRunner

from duckpond.cli import cli


def all_commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found = []
    for name, command in group.commands.items():
        found.append([*prefix, name])
        if isinstance(command, click.Group):
            found += all_commands(command, [*prefix, name])
    return found


def test_help_examples_are_whole_lines_and_plain_text() -> None:
    runner = CliRunner()
    for words in [[], *all_commands(cli, [])]:
        text = runner.invoke(cli, [*words, "--help"], terminal_width=80).output
        assert "``" not in text, words
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("      pond "):
                # The line after an example is blank or another example, never its tail.
                after = lines[i + 1] if i + 1 < len(lines) else ""
                assert after.strip() == "" or after.startswith("      pond "), (words, line)


def test_a_long_example_is_not_wrapped() -> None:
    text = CliRunner().invoke(cli, ["cat", "--help"], terminal_width=60).output
    assert 'pond cat /data/a.series --sql "SELECT avg(\\"Temperature.C\\") FROM source"' in text
