"""One output interface, two implementations: human text and ``--json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


class Output:
    """Prints what a command produced; ``--json`` picks ``JsonOutput``."""

    json_mode = False

    def data(self, value: Any, *, text: str | None = None) -> None:
        """Machine-readable ``value``; in text mode, ``text`` if given."""
        click.echo(text if text is not None else str(value))

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

    def message(self, text: str) -> None:
        click.echo(text, err=True)

    def lines(self, lines: Sequence[str]) -> None:
        self.data(list(lines))


def make_output(json_mode: bool) -> Output:
    return JsonOutput() if json_mode else Output()
