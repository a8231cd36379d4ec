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
@click.option(
    "--at-txn", "at_txn", type=int, metavar="N", help="Give the content root of the tree at txn N."
)
@pass_settings
def fsck(settings: Settings, at_txn: int | None) -> None:
    """Prove every oplog file, version and blob; end with the pond's content root.

    The content root (64 hex digits) is equal for a pond, a byte copy, a
    restore and a maintained pond, and changes with any content.  Exit 1 names
    each problem found.

    Example:

        pond fsck
        pond --json fsck --at-txn 12
    """
    from ...pond import Pond

    # Not settings.open(): a pond too damaged to open must still get its report.
    report = Pond.check(settings.pond_path(), at_txn=at_txn)
    settings.output.report(report.to_json(), report.summary())
    if not report.ok:
        raise UserError(f"{len(report.problems)} problem(s) found")


COMMANDS = [recover, fsck]
