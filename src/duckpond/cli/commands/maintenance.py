"""Maintenance: recover (crash clean-up), fsck (integrity proof), maintain and du (disk)."""

from __future__ import annotations

from typing import Any

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
@click.option(
    "--repair",
    metavar="NAME",
    help="Fetch every missing or corrupt file from backup NAME, put it back, fsck again.",
)
@pass_settings
def fsck(settings: Settings, at_txn: int | None, repair: str | None) -> None:
    """Prove every oplog file, version and blob; end with the pond's content root.

    The content root (64 hex digits) is equal for a pond, a byte copy, a
    restore and a maintained pond, and changes with any content.  Exit 1 names
    each problem found.

    Example:

        pond fsck
        pond --json fsck --at-txn 12
        pond fsck --repair offsite
    """
    from ...pond import Pond

    if repair is not None:
        if at_txn is not None:
            raise UserError("give --repair or --at-txn, not both")
        mended = Pond.repair(settings.pond_path(), repair)
        lines = [f"repaired from {repair}: {path}" for path in mended.repaired]
        lines.append(mended.fsck.summary())
        lines.extend(f"not repairable: {where}: {why}" for where, why in mended.unrepaired)
        settings.output.report(mended.to_json(), "\n".join(lines))
        if not mended.ok:
            raise UserError(f"{len(mended.unrepaired)} problem(s) not repaired")
        return

    # Not settings.open(): a pond too damaged to open must still get its report.
    report = Pond.check(settings.pond_path(), at_txn=at_txn)
    settings.output.report(report.to_json(), report.summary())
    if not report.ok:
        raise UserError(f"{len(report.problems)} problem(s) found")


def _window(keep: str | None, keep_txns: int | None) -> dict[str, Any]:
    if keep is not None and keep_txns is not None:
        raise UserError("give --keep or --keep-txns, not both")
    return {"keep": keep, "keep_txns": keep_txns}


_keep = click.option(
    "--keep",
    metavar="SPAN",
    help="Keep the transactions of the last SPAN: 90d, 6mo, 1y (mo: 30 days; min: minutes).",
)
_keep_txns = click.option(
    "--keep-txns", "keep_txns", type=int, metavar="N", help="Keep the newest N transactions."
)


@click.command()
@_keep
@_keep_txns
@click.option(
    "--dry-run", is_flag=True, help="Print what would be removed, by kind; change nothing."
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Also list each file removed (or, dry, to remove)."
)
@click.option("--cache-only", is_flag=True, help="Only prune the cache to its size bound.")
@click.option("--push-first", is_flag=True, help="Push every lagging backup first, then maintain.")
@click.option(
    "--cache-max", "cache_max", type=int, metavar="BYTES", help="The cache's size bound (1 GiB)."
)
@click.option(
    "--grace",
    metavar="SPAN",
    help="A pond on S3: remove objects no commit names only once older than SPAN (24h, 30min).",
)
@pass_settings
def maintain(
    settings: Settings,
    keep: str | None,
    keep_txns: int | None,
    dry_run: bool,
    verbose: bool,
    cache_only: bool,
    cache_max: int | None,
    push_first: bool,
    grace: str | None,
) -> None:
    """Compact the oplog, prune the cache; with a window, remove what it does not read.

    Without --keep or --keep-txns nothing is removed.  With one, every file
    that no transaction inside the window reads (old oplog data files,
    superseded versions, blobs, checkpoints and log entries) is removed, and
    each series' versions before the window (but its newest) become one
    version holding the rows they read as; time travel inside the window
    stays exact, before it fails naming the earliest kept transaction, and
    pond log still lists every transaction.

    It prints a summary: what is kept, the files removed counted and sized by
    kind (each one with -v; --json lists them all), the bytes reclaimed and the
    time taken.

    On a pond kept on S3 it is safe beside writers on other machines: each of its
    commits lands only on the version it read, and an object no commit names (an
    upload whose commit is still to come, or an orphan of a killed writer) is
    removed only once older than --grace.

    Example:

        pond maintain --keep 90d --dry-run -v
        pond maintain --keep 6mo
        pond maintain --keep-txns 5000
    """
    report = settings.open().maintenance.maintain(
        **_window(keep, keep_txns),
        dry_run=dry_run,
        cache_only=cache_only,
        cache_max_bytes=cache_max,
        push_first=push_first,
        grace=grace,
    )
    from .backup import push_lines

    # What --push-first pushed, as pond backup push prints it, then the maintenance.
    text = "\n".join([*push_lines(report.pushes), report.summary(cli=True, files=verbose)])
    settings.output.report(report.to_json(cli=True), text)


@click.command()
@_keep
@_keep_txns
@pass_settings
def du(settings: Settings, keep: str | None, keep_txns: int | None) -> None:
    """Show the space taken by the log, blobs, cache and each top-level directory.

    With --keep or --keep-txns, also what pond maintain would reclaim with it.

    Example:

        pond du --keep 6mo
    """
    report = settings.open().maintenance.du(**_window(keep, keep_txns))
    settings.output.report(report.to_json(cli=True), report.summary(cli=True))


COMMANDS = [recover, fsck, maintain, du]
