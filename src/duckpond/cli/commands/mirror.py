"""``pond mirror``: the pond as plain host files for other tools, and their edits back in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..app import Settings, UserError, pass_settings, time_travel

if TYPE_CHECKING:
    from ...ingest.mirror import MirrorReport, SyncResult


@click.command()
@click.argument("directory", metavar="DIR")
@click.argument("patterns", nargs=-1, metavar="[PATTERN]...")
@click.option(
    "--tables",
    type=click.Choice(["parquet", "csv"]),
    help="Write tables and series as Parquet or CSV (default: as last time, else parquet).",
)
@click.option(
    "--sync",
    is_flag=True,
    help="Bring host edits in DIR into the pond as one transaction, then refresh DIR.",
)
@click.option(
    "--delete",
    is_flag=True,
    help="With --sync: remove from the pond the raw files removed in DIR.",
)
@time_travel
@pass_settings
def mirror(
    settings: Settings,
    directory: str,
    patterns: tuple[str, ...],
    tables: str | None,
    sync: bool,
    delete: bool,
    at_txn: int | None,
    at: str | None,
) -> None:
    """Keep DIR a folder of plain files holding the pond (or the nodes PATTERNs select).

    Raw files are written as their bytes; tables and series, stored or
    computed, as one Parquet (or CSV) file each, named with that extension;
    symlinks as symlinks inside DIR; folders as folders. DIR/.pond-mirror
    records what each file was made from. Running it again rewrites only what
    changed and removes what the pond removed (when the pond has not changed,
    or only wrote new versions of raw files, without opening it); a file you changed in DIR is never overwritten (it is
    reported), and files you added are named. Names a host cannot hold safely
    are written with %XX escapes (see README, "A mirror for other tools").
    --json gives each item's pond path ("path") and host path under DIR
    ("host") apart. A PATTERN the mirror was not made with must match a node.
    A second run into DIR waits for the first up to pond --lock-timeout.

    --sync brings your edits in DIR back as one transaction: a changed raw file
    becomes a new version, a new file a new node; when the pond changed the same
    file too, its version stays and yours is stored beside it as
    NAME.conflict-<time>. Nothing under /etc (resources) comes in, nor a new
    name the mirror would write otherwise (new%zz): each is named, left as it is. Tables and series are read-only in a mirror, and so
    is a mirror made with --at-txn or --at: run pond mirror DIR without them
    first to make it a mirror of the pond as it is now.

    Examples:

        pond mirror /srv/share

        pond mirror /srv/share '/hydrovu/**' --tables csv

        pond mirror /srv/share --sync --delete

        pond mirror /tmp/as-of-12 --at-txn 12
    """
    if sync:
        if patterns or tables or at_txn is not None or at is not None:
            raise UserError(
                "--sync uses the mirror's own patterns and the pond as it is now: "
                "give no PATTERN, --tables, --at-txn or --at with it"
            )
    elif delete:
        raise UserError("--delete goes with --sync")
    result: MirrorReport | SyncResult
    if sync:
        result = settings.open().mirrors.sync(directory, delete=delete)
    elif at_txn is not None or at is not None:
        result = settings.open(at_txn=at_txn, at=at).mirrors.write(
            directory, patterns, tables=tables
        )
    else:
        from ...pond.mirrors import refresh_mirror
        from ..lean import hide_numpy

        # Opens the pond only when the mirror has something to do (a second run
        # with nothing new never imports the Delta and Arrow libraries).
        result = refresh_mirror(
            settings.pond_path(),
            directory,
            patterns,
            tables=tables,
            lock_timeout=settings.lock_timeout,
            opener=settings.open,
            # A run that reads only the log's newest rows computes nothing: numpy,
            # most of pyarrow's import, is not needed (cli/lean.py).
            before_arrow=hide_numpy,
        )
    settings.output.data(result.to_json(), text="\n".join(result.lines()))


COMMANDS = [mirror]
