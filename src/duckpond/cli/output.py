"""One output interface, two implementations: human text (rich) and ``--json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click


class Output:
    """Prints what a command produced; ``--json`` picks ``JsonOutput``."""

    json_mode = False

    def data(self, value: Any, *, text: str | None = None) -> None:
        """Machine-readable ``value``; on a human terminal, ``text`` if given."""
        click.echo(text if text is not None else str(value))

    def table(
        self, rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str | None = None
    ) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        Console(soft_wrap=True).print(table)

    def message(self, text: str) -> None:
        """A human note: stdout for text output, stderr when stdout carries JSON."""
        click.echo(text)

    def lines(self, lines: Sequence[str]) -> None:
        for line in lines:
            click.echo(line)


class JsonOutput(Output):
    json_mode = True

    def data(self, value: Any, *, text: str | None = None) -> None:
        click.echo(json.dumps(value, indent=2, default=str))

    def table(
        self, rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str | None = None
    ) -> None:
        self.data(list(rows))

    def message(self, text: str) -> None:
        click.echo(text, err=True)

    def lines(self, lines: Sequence[str]) -> None:
        self.data(list(lines))


def make_output(json_mode: bool) -> Output:
    return JsonOutput() if json_mode else Output()


def is_terminal() -> bool:
    return sys.stdout.isatty()
