"""Filesystem commands: init, mkdir, list, rm, mv, ln."""

from __future__ import annotations

import click

from ...printable import escape_controls
from ..app import Settings, pass_settings, time_travel


@click.command()
@click.option("--endpoint", metavar="URL", help="The S3 endpoint (default: $AWS_ENDPOINT_URL).")
@click.option("--region", metavar="NAME", help="The S3 region (default: $AWS_REGION).")
@click.option(
    "--allow-http", is_flag=True, default=None, help="Allow plain HTTP (default: $AWS_ALLOW_HTTP)."
)
@pass_settings
def init(
    settings: Settings, endpoint: str | None, region: str | None, allow_http: bool | None
) -> None:
    """Create a new, empty pond: in a directory, or on S3 (--pond s3://BUCKET/PREFIX).

    A pond on S3 is written in place by any number of machines; the server must
    honour create-only puts (If-None-Match), which init checks.  Credentials come
    from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; later commands reach the
    server through the AWS_* variables.

    Example:

        pond --pond ~/pond init
        pond --pond s3://field-data/pond init --endpoint https://s3.example.org
    """
    from ...pond import Pond
    from ...tlogfs.objectstore import StoreOptions

    store = StoreOptions(endpoint=endpoint, region=region, allow_http=allow_http)
    pond = Pond.init(settings.pond_path(), command=settings.command, store=store)
    settings.output.message(f"initialised pond at {pond.location}")


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
