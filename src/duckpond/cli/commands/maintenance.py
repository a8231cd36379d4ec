"""Maintenance: recover (crash clean-up) and fsck (integrity proof)."""

from __future__ import annotations

import click

from ..app import Settings, UserError, pass_settings


@click.command()
@pass_settings
def recover(settings: Settings) -> None:
    """Clean up what a crash left: orphan blobs, temp files, a stale lock.

    Example:

        pond recover
    """
    report = settings.open().recover()
    settings.output.report(report.to_json(), report.summary())


@click.command()
@pass_settings
def fsck(settings: Settings) -> None:
    """Prove every stored version against its sha256.

    Example:

        pond fsck
    """
    report = settings.open().fsck()
    settings.output.report(report.to_json(), report.summary())
    if not report.ok:
        raise UserError(f"{len(report.problems)} problem(s) found")


COMMANDS = [recover, fsck]
