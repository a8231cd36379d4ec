"""What every command module shares: the ``pond`` group, its settings and the error boundary.

Command modules import from here (never from ``main``), so the package has no import
cycle: ``main`` imports ``app`` and the command modules, and registers them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from .. import __version__
from ..errors import PondError
from ..printable import escape_controls
from .output import Output, make_output

if TYPE_CHECKING:
    from ..pond import Pond

F = TypeVar("F", bound=Callable[..., Any])
ARGV_KEY = "duckpond.argv"


class UserError(click.ClickException):
    """A user error: one ``error:`` line on stderr, exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        # A name holding a newline must not split the one error line.
        click.echo(f"error: {escape_controls(self.format_message())}", err=True)


def describe_error(exc: BaseException) -> str:
    """One line that names what was wrong, in the CLI's words (flag names, not parameters).

    Any secret resolved in this process is masked: the last guard before the terminal.
    """
    from ..errors import describe
    from ..pipeline.secrets import scrub

    return scrub(describe(exc, cli=True))


class PondGroup(click.Group):
    """Turns every error into a one-line message (tracebacks only with --debug)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The command line a transaction records: what this invocation parsed,
        # which is not sys.argv when the CLI runs inside another program.
        ctx.meta[ARGV_KEY] = list(args)
        # `--json` is the group's option; after the command (`pond backup list --json`, as
        # the docs of each command write it) it means the same (not after a `--`).
        end = args.index("--") if "--" in args else len(args)
        if "--json" in args[1:end]:
            args = ["--json", *(a for i, a in enumerate(args) if a != "--json" or i >= end)]
        # `restore` takes store URLs and an endpoint, not pond URLs: it checks its own.
        if "restore" not in args:
            for before, arg in zip(["", *args], args, strict=False):
                # An endpoint (init on S3) is an http(s) address, and --pond names a pond
                # (a directory or a store, checked where it is opened), not a copy URL.
                if before not in ("--endpoint", "--pond") and not arg.startswith(
                    ("--endpoint=", "--pond=")
                ):
                    _check_scheme(arg)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.BadParameter as exc:
            if isinstance(exc, click.MissingParameter):
                raise  # a command line missing a part: click's usage, exit 2
            # A bad option value (``--tables xls``) is a user error like any other:
            # one line, exit 1, not click's usage block and exit 2.
            raise UserError(exc.format_message()) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
            # A closed pipe (``pond list | head``) is click's to end quietly.
            raise
        except (PondError, OSError) as exc:
            if _debug(ctx):
                raise
            raise UserError(describe_error(exc)) from exc
        except Exception as exc:
            from ..errors import translate

            if _debug(ctx):
                raise
            # Third-party errors that escaped the library's boundary still read as one line.
            known = translate(exc)
            if known is not exc:
                raise UserError(describe_error(known)) from exc
            # A bug rather than a user error, but still no traceback unless asked for.
            raise UserError(
                f"internal error: {type(exc).__name__}: {describe_error(exc)} "
                "(run with --debug for the traceback)"
            ) from exc


# Text that starts like a URL (``word[+word]:/``): its scheme must be one we know, or a
# typo (``hst:///tmp/x``) would be read as a relative pond path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:\+[A-Za-z0-9]+)*:/")


def _check_scheme(arg: str) -> None:
    if not _SCHEME.match(arg) or arg.lower().startswith(("s3://", "s3a://")):
        # S3 URLs name stores (a pond read in place), which the store layer checks.
        return
    from ..query.urls import parse_url

    try:
        parse_url(arg)
    except PondError as exc:
        raise UserError(describe_error(exc)) from None


def _debug(ctx: click.Context) -> bool:
    settings = ctx.find_object(Settings)
    return settings is not None and settings.debug


@dataclass
class Settings:
    """The global options, and the pond they open."""

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

    def pond_path(self) -> str:
        """``--pond`` or ``$POND`` (click reads the variable into the option)."""
        if not self.pond_dir:
            raise UserError("no pond given: pass --pond DIR or set $POND")
        return self.pond_dir

    def open(self, *, at_txn: int | None = None, at: str | None = None) -> Pond:
        from ..pond import Pond
        from ..timeparse import parse_time

        when = parse_time(at) if at else None
        pond = Pond.open(self.pond_path(), at_txn=at_txn, at=when, lock_timeout=self.lock_timeout)
        pond.command = self.command
        # Closed when the command ends, whatever way it ends: a pond read in place keeps
        # a scratch directory that must not outlive the command.
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.call_on_close(pond.close)
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


def register(module: Any) -> None:
    """Add every command a module lists in ``COMMANDS`` to the ``pond`` group."""
    for command in module.COMMANDS:
        _keep_examples_whole(command)
        cli.add_command(command)


def _keep_examples_whole(command: click.Command) -> None:
    """Mark each indented example paragraph of a help text so click never rewraps it.

    A rewrapped example breaks a command across lines where it cannot be pasted;
    click leaves a paragraph alone when it starts with a ``\b`` line.
    """
    if command.help:
        import inspect

        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(
            f"\b\n{p}" if p.startswith("    ") and not p.startswith("\b") else p for p in paragraphs
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _keep_examples_whole(sub)


_keep_examples_whole(cli)
