"""What happened: log (transactions) and history (the versions of one node)."""

from __future__ import annotations

import click

from ..app import Settings, pass_settings, time_travel


@click.command()
@click.option("--limit", "-n", type=int, metavar="N", help="Show the newest N transactions.")
@time_travel
@pass_settings
def log(settings: Settings, limit: int | None, at_txn: int | None, at: str | None) -> None:
    """Show transactions, newest first.

    Example:

        pond log --limit 5
    """
    settings.output.log(settings.open(at_txn=at_txn, at=at).log(limit))


@click.command()
@click.argument("path")
@time_travel
@pass_settings
def history(settings: Settings, path: str, at_txn: int | None, at: str | None) -> None:
    """Show the versions of one node (it follows the node across moves).

    Example:

        pond history /raw/notes.txt
    """
    settings.output.history(settings.open(at_txn=at_txn, at=at).history(path))


COMMANDS = [log, history]
