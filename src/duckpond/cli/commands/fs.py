"""Filesystem commands: init, mkdir, list, rm, mv, ln."""

from __future__ import annotations

import click

from ...printable import escape_controls
from ..app import Settings, pass_settings, time_travel


@click.command()
@pass_settings
def init(settings: Settings) -> None:
    """Create a new, empty pond.

    Example:

        pond --pond ~/pond init
    """
    from ...pond import Pond

    pond = Pond.init(settings.pond_path(), command=settings.command)
    settings.output.message(f"initialised pond at {pond.path}")


@click.command()
@click.option(
    "-p", "--parents", is_flag=True, help="Create missing parents; no error if it exists."
)
@click.argument("paths", nargs=-1, required=True)
@pass_settings
def mkdir(settings: Settings, parents: bool, paths: tuple[str, ...]) -> None:
    """Create directories (one transaction: all of them or none).

    Example:

        pond mkdir -p /raw/site-a /data
    """
    settings.open().mkdir(*paths, parents=parents)


@click.command(name="list")
@click.argument("pattern", required=False)
@click.option("-l", "long", is_flag=True, help="Long form: type, size, version, time.")
@click.option("-a", "all_", is_flag=True, help="Show hidden entries (names starting with '.').")
@time_travel
@pass_settings
def list_(
    settings: Settings,
    pattern: str | None,
    long: bool,
    all_: bool,
    at_txn: int | None,
    at: str | None,
) -> None:
    """List pond entries (recursive by default).

    PATTERN: none for everything, '/' or '/d/' for a directory's entries,
    '/d' for the entry itself, or a glob such as '/**/*.csv'.

    Example:

        pond list -l '/raw/**'
    """
    pond = settings.open(at_txn=at_txn, at=at)
    unlisted: dict[str, str] = {}
    settings.output.entries(pond.list(pattern, all=all_, unlisted=unlisted), pond.entry, long=long)
    for path, reason in sorted(unlisted.items()):
        click.echo(
            escape_controls(f"warning: {path}: not listed: {reason.removeprefix(path + ': ')}"),
            err=True,
        )


@click.command()
@click.option("-r", "--recursive", is_flag=True, help="Remove a directory and its contents.")
@click.argument("path")
@pass_settings
def rm(settings: Settings, recursive: bool, path: str) -> None:
    """Remove a file, symlink or (with -r) directory; its history stays.

    Example:

        pond rm -r /scratch
    """
    settings.open().remove(path, recursive=recursive)


@click.command()
@click.argument("src")
@click.argument("dest")
@pass_settings
def mv(settings: Settings, src: str, dest: str) -> None:
    """Move or rename a node (it keeps its id and history).

    Example:

        pond mv /raw/a.csv /archive/
    """
    settings.open().move(src, dest)


@click.command()
@click.option("-s", "symbolic", is_flag=True, required=True, help="Make a symbolic link.")
@click.argument("target")
@click.argument("path")
@pass_settings
def ln(settings: Settings, symbolic: bool, target: str, path: str) -> None:
    """Create a symbolic link at PATH pointing to TARGET.

    Example:

        pond ln -s /data/site-a.series /latest
    """
    settings.open().symlink(target, path)


COMMANDS = [init, mkdir, list_, rm, mv, ln]
