"""Command definitions.  Each command parses, calls one library function, prints."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from .. import __version__
from ..errors import ConfigError, PondError
from .output import Output, make_output

if TYPE_CHECKING:
    from ..ingest.options import CopyOptions
    from ..pond import Pond

F = TypeVar("F", bound=Callable[..., Any])
ARGV_KEY = "duckpond.argv"


class UserError(click.ClickException):
    """A user error: one ``error:`` line on stderr, exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def describe_error(exc: BaseException) -> str:
    """One line that names what was wrong."""
    if isinstance(exc, OSError) and not isinstance(exc, PondError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return _one_line(f"{exc.strerror}{where}")
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return _one_line(str(exc))
    text = str(exc) or type(exc).__name__
    return _one_line(" ".join(text.split()))


def _one_line(text: str) -> str:
    """Control characters (a newline in a path, say) escaped, so a message is one line."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


class PondGroup(click.Group):
    """Turns every error into a one-line message (tracebacks only with --debug)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The command line a transaction records: what this invocation parsed,
        # which is not sys.argv when the CLI runs inside another program.
        ctx.meta[ARGV_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
            # A closed pipe (``pond list | head``) is click's to end quietly.
            raise
        except (PondError, OSError) as exc:
            if _debug(ctx):
                raise
            raise UserError(describe_error(exc)) from exc
        except Exception as exc:
            # A bug rather than a user error, but still no traceback unless asked for.
            if _debug(ctx):
                raise
            raise UserError(
                f"internal error: {type(exc).__name__}: {describe_error(exc)} "
                "(run with --debug for the traceback)"
            ) from exc


def _debug(ctx: click.Context) -> bool:
    settings = ctx.find_object(Settings)
    return settings is not None and settings.debug


@dataclass
class Settings:
    pond_dir: str | None
    json_mode: bool
    debug: bool
    lock_timeout: float
    argv: list[str] = field(default_factory=list)
    output: Output = field(init=False)

    def __post_init__(self) -> None:
        self.output = make_output(self.json_mode)

    @property
    def command(self) -> list[str]:
        """The command line recorded in each transaction this invocation commits."""
        return ["pond", *self.argv]

    def open(self, *, at_txn: int | None = None, at: str | None = None) -> Pond:
        from ..pond import Pond, resolve_pond_dir
        from ..timeparse import parse_time

        when = parse_time(at) if at else None
        pond = Pond.open(
            resolve_pond_dir(self.pond_dir), at_txn=at_txn, at=when, lock_timeout=self.lock_timeout
        )
        pond.command = self.command
        return pond


pass_settings = click.make_pass_decorator(Settings)


def time_travel(fn: F) -> F:
    """The options every read command takes to see a past state."""
    fn = click.option(
        "--at", "at", metavar="TIME", help="Read the pond as of this time (ISO 8601)."
    )(fn)
    fn = click.option(
        "--at-txn", "at_txn", type=int, metavar="N", help="Read the pond right after txn N."
    )(fn)
    return fn


@click.group(cls=PondGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--pond",
    "pond_dir",
    envvar="POND",
    metavar="DIR",
    help="The pond directory (default: $POND).",
)
@click.option("--json", "json_mode", is_flag=True, help="Print machine-readable JSON.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--lock-timeout",
    type=float,
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="How long a writer waits for the pond's write lock.",
)
@click.version_option(__version__, prog_name="pond")
@click.pass_context
def cli(
    ctx: click.Context, pond_dir: str | None, json_mode: bool, debug: bool, lock_timeout: float
) -> None:
    """DuckPond: a versioned data lake for environmental time series.

    Example:

        export POND=~/pond && pond init && pond copy data.csv /raw/ && pond list
    """
    argv = ctx.meta.get(ARGV_KEY, sys.argv[1:])
    ctx.obj = Settings(pond_dir, json_mode, debug, lock_timeout, argv)


@cli.command()
@pass_settings
def init(settings: Settings) -> None:
    """Create a new, empty pond.

    Example:

        pond --pond ~/pond init
    """
    from ..pond import Pond, resolve_pond_dir

    pond = Pond.init(resolve_pond_dir(settings.pond_dir), command=settings.command)
    settings.output.message(f"initialised pond at {pond.path}")


@cli.command()
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


def _parse_source(text: str) -> tuple[str, dict[str, Any]]:
    """A copy source: a host path, ``host:///abs``, or a ``host+FORMAT[+COMP]:///`` URL."""
    if ":" not in text or text.startswith("/"):
        # A plain path: no need to import the query package (about 15 ms).
        return text, {}
    from ..query.urls import is_url, parse_url

    if not is_url(text):
        return text, {}
    url = parse_url(text)
    if not url.host:
        raise click.UsageError(f"copy sources are host files; {text} names a pond path")
    options: dict[str, Any] = {}
    if url.format in ("csv", "series", "table"):
        options["source_format"] = "csv" if url.format == "csv" else "parquet"
    if url.compression:
        options["compression"] = url.compression
    return url.path, options


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.argument("dest")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["data", "table", "series", "parquet", "csv"]),
    default=None,
    help="In: store host files as data (default), table or series (CSV converts to Parquet). "
    "Out: write tables and series as parquet or csv (default: csv for a .csv name).",
)
@click.option("--strip-prefix", metavar="P", help="Copying out: remove P from each pond path.")
@click.option("--delimiter", metavar="C", help="CSV field delimiter (default ',').")
@click.option("--no-header", is_flag=True, help="The CSV has no header row.")
@click.option("--tz", metavar="ZONE", help="Zone of CSV timestamps without one (default UTC).")
@click.option("--timestamp-column", metavar="NAME", help="The event-time column of a series.")
@pass_settings
def copy(
    settings: Settings,
    sources: tuple[str, ...],
    dest: str,
    fmt: str | None,
    strip_prefix: str | None,
    delimiter: str | None,
    no_header: bool,
    tz: str | None,
    timestamp_column: str | None,
) -> None:
    """Copy host files into the pond, or pond files out to a host directory.

    Examples:

        pond copy readings.csv /raw/                       # in, as raw bytes

        pond copy --format series site-a.csv /data/a.series

        pond copy '/raw/*' host:///tmp/out                 # out
    """
    if dest.startswith("host:"):
        from ..query.urls import parse_url

        out = parse_url(dest)
        if fmt in ("data", "table", "series"):
            raise ConfigError(f"--format {fmt} is for copying in; out, use parquet or csv")
        pond = settings.open()
        written = pond.copy_out(list(sources), out.path, strip_prefix=strip_prefix, format=fmt)
        settings.output.data(
            [str(p) for p in written], text=f"copied {len(written)} file(s) to {out.path}"
        )
        return
    if strip_prefix is not None:
        raise click.UsageError("--strip-prefix applies when copying out to host:///DIR")
    if fmt in ("parquet", "csv"):
        raise ConfigError(f"--format {fmt} is for copying out to host:///DIR")
    host_sources: list[str] = []
    options: dict[str, Any] = {
        "delimiter": delimiter,
        "header": not no_header,
        "tz": tz,
        "timestamp_column": timestamp_column,
    }
    for text in sources:
        path, extra = _parse_source(text)
        host_sources.append(path)
        options.update(extra)
    pond = settings.open()
    from ..ingest.options import CopyOptions

    result = _copy_with_progress(pond, host_sources, dest, fmt, CopyOptions.build(**options))
    if settings.output.json_mode:
        settings.output.data(
            {"written": result.written, "unchanged": result.unchanged, "txn_seq": result.txn_seq}
        )
        return
    for path in result.unchanged:
        settings.output.message(f"unchanged: {path} (same content as its latest version)")
    if result.written:
        settings.output.message(f"copied {len(result.written)} file(s), txn {result.txn_seq}")
    elif not result.unchanged:
        settings.output.message("nothing to copy")


def _copy_with_progress(
    pond: Pond, sources: list[str], dest: str, fmt: str | None, options: CopyOptions
) -> Any:
    import os
    from pathlib import Path

    if not sys.stderr.isatty() or os.environ.get("CI"):
        # No one to show a bar to: do not walk the sources twice.
        return pond.copy_in(sources, dest, format=fmt, options=options)
    total = files = 0
    for src in sources:
        p = Path(src)
        sizes = [f.stat().st_size for f in p.rglob("*") if f.is_file()] if p.is_dir() else []
        if p.is_file():
            sizes = [p.stat().st_size]
        total += sum(sizes)
        files += len(sizes)
    # A bar is worth showing for a large copy or a long one (many files).
    if total <= 32 * 1024 * 1024 and files <= 500:
        return pond.copy_in(sources, dest, format=fmt, options=options)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("copying", total=total)
        return pond.copy_in(
            sources,
            dest,
            format=fmt,
            options=options,
            progress=lambda n: progress.advance(task, n),
        )


@cli.command(name="list")
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
    nodes = pond.list(pattern, all=all_)
    out = settings.output
    if out.json_mode:
        out.data([pond.entry(np).to_json() for np in nodes])
    elif long:
        for np in nodes:
            e = pond.entry(np)
            stamp = e.timestamp.strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"{e.type:<13} {e.size:>12} v{e.version:<4} {stamp}  {e.path}")
    else:
        out.lines([np.path for np in nodes])


@cli.command()
@click.argument("path")
@click.option("--sql", metavar="SQL", help="Query the file (named 'source') with SQL.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["raw", "table", "csv", "json", "parquet"]),
    help="Output format (default: raw bytes for data files, a preview table otherwise).",
)
@click.option("--start", metavar="TIME", help="Series: first event time (inclusive).")
@click.option("--end", metavar="TIME", help="Series: end of event time (exclusive).")
@click.option("--version", "version", type=int, metavar="K", help="Read version K.")
@click.option("--output", "output_file", type=click.Path(dir_okay=False), help="Write to FILE.")
@time_travel
@pass_settings
def cat(
    settings: Settings,
    path: str,
    sql: str | None,
    fmt: str | None,
    start: str | None,
    end: str | None,
    version: int | None,
    output_file: str | None,
    at_txn: int | None,
    at: str | None,
) -> None:
    """Print a file's bytes, or query a table or series.

    Examples:

        pond cat /raw/notes.txt

        pond cat /data/a.series --sql "SELECT avg(\\"Temperature.C\\") FROM source"

        pond cat '/data/*.series' --start 2025-01-01 --end 2025-02-01 --format csv
    """
    from ..timeparse import parse_time
    from .render import render_cat

    start_t = parse_time(start) if start else None
    end_t = parse_time(end) if end else None
    render_cat(
        settings,
        path,
        sql=sql,
        fmt=fmt,
        start=start_t,
        end=end_t,
        version=version,
        output_file=output_file,
        at_txn=at_txn,
        at=at,
    )


@cli.command()
@click.argument("pattern")
@time_travel
@pass_settings
def describe(settings: Settings, pattern: str, at_txn: int | None, at: str | None) -> None:
    """Show type, schema, versions, rows, event-time range and size.

    Example:

        pond describe '/data/*.series'
    """
    from .render import render_describe

    render_describe(settings, pattern, at_txn=at_txn, at=at)


@cli.command()
@click.option("--limit", "-n", type=int, metavar="N", help="Show the newest N transactions.")
@time_travel
@pass_settings
def log(settings: Settings, limit: int | None, at_txn: int | None, at: str | None) -> None:
    """Show transactions, newest first.

    Example:

        pond log --limit 5
    """
    txns = settings.open(at_txn=at_txn, at=at).log(limit)
    rows: list[dict[str, Any]] = [t.to_json() for t in txns]
    if settings.output.json_mode:
        settings.output.data(rows)
        return
    for r in rows:
        command = " ".join(r["command"]) if isinstance(r["command"], list) else str(r["command"])
        click.echo(f"{r['txn_seq']:>6}  {r['timestamp']}  {r['user'] or ''}  {command}")


@cli.command()
@click.argument("path")
@time_travel
@pass_settings
def history(settings: Settings, path: str, at_txn: int | None, at: str | None) -> None:
    """Show the versions of one node (it follows the node across moves).

    Example:

        pond history /raw/notes.txt
    """
    from ..timeparse import iso

    versions = settings.open(at_txn=at_txn, at=at).history(path)
    rows: list[dict[str, Any]] = [
        {
            "version": v.version,
            "txn_seq": v.txn_seq,
            "timestamp": iso(v.timestamp),
            "size": v.size,
            "sha256": v.sha256,
        }
        for v in versions
    ]
    if settings.output.json_mode:
        settings.output.data(rows)
        return
    for r in rows:
        click.echo(
            f"v{r['version']:<4} txn {r['txn_seq']:<6} {r['timestamp']}  {r['size']:>12}  "
            f"{r['sha256'][:16]}"
        )


@cli.command()
@click.option("-r", "--recursive", is_flag=True, help="Remove a directory and its contents.")
@click.argument("path")
@pass_settings
def rm(settings: Settings, recursive: bool, path: str) -> None:
    """Remove a file, symlink or (with -r) directory; its history stays.

    Example:

        pond rm -r /scratch
    """
    settings.open().remove(path, recursive=recursive)


@cli.command()
@click.argument("src")
@click.argument("dest")
@pass_settings
def mv(settings: Settings, src: str, dest: str) -> None:
    """Move or rename a node (it keeps its id and history).

    Example:

        pond mv /raw/a.csv /archive/
    """
    settings.open().move(src, dest)


@cli.command()
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


@cli.command()
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    help="Output format (default: a table; JSON with --json).",
)
@click.option("--output", "output_file", type=click.Path(dir_okay=False), help="Write to FILE.")
@time_travel
@pass_settings
def query(
    settings: Settings,
    sql: str,
    fmt: str | None,
    output_file: str | None,
    at_txn: int | None,
    at: str | None,
) -> None:
    """Run SQL over the system tables (nodes, entries, transactions) and pond files.

    Example:

        pond query 'SELECT file_type, count(*) FROM nodes GROUP BY file_type'

        pond query 'SELECT avg(temp) FROM "/data/seattle.series"'
    """
    from .render import render_query

    render_query(settings, sql, fmt=fmt, output_file=output_file, at_txn=at_txn, at=at)


@cli.command()
@pass_settings
def recover(settings: Settings) -> None:
    """Clean up what a crash left: orphan blobs, temp files, a stale lock.

    Example:

        pond recover
    """
    report = settings.open().recover()
    settings.output.data(report.to_json(), text=report.summary())


@cli.command()
@pass_settings
def fsck(settings: Settings) -> None:
    """Prove every stored version against its sha256.

    Example:

        pond fsck
    """
    report = settings.open().fsck()
    settings.output.data(report.to_json(), text=report.summary())
    if not report.ok:
        raise UserError(f"{len(report.problems)} problem(s) found")


from . import pipeline_commands  # noqa: E402, F401  (it adds apply, resources and run to cli)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="pond")
