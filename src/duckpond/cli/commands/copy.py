"""``pond copy``: host files into the pond, or pond files out to a host directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..app import Settings, UserError, pass_settings

if TYPE_CHECKING:
    from ...ingest.options import CopyOptions
    from ...pond import CopyResult, Pond


def copy_options(
    sources: tuple[str, ...],
    *,
    delimiter: str | None,
    no_header: bool,
    tz: str | None,
    timestamp_column: str | None,
    **csv: Any,
) -> tuple[list[str], CopyOptions]:
    """The host paths to copy in, and how to read them, from the command line.

    A source is a host path, ``host:///abs``, or a ``host+FORMAT[+COMP]:///`` URL whose
    format and compression become options.  ``csv`` holds the other CSV flags by their
    ``CopyOptions`` names (``column_types`` as ``NAME=TYPE`` texts); None means unset.
    """
    from ...ingest.options import CopyOptions
    from ...pond import parse_url

    options: dict[str, Any] = {
        "delimiter": delimiter,
        "header": not no_header,
        "tz": tz,
        "timestamp_column": timestamp_column,
    }
    for key, value in csv.items():
        if value is None or value == ():
            continue
        if key == "column_types":
            value = dict(_column_type(text) for text in value)
        options[key] = value
    paths: list[str] = []
    for text in sources:
        url = parse_url(text)
        if url is None:
            paths.append(text)
            continue
        if not url.host:
            raise click.UsageError(f"copy sources are host files; {text} names a pond path")
        if url.format in ("csv", "series", "table"):
            options["source_format"] = "csv" if url.format == "csv" else "parquet"
        if url.compression:
            options["compression"] = url.compression
        paths.append(url.path)
    return paths, CopyOptions.build(**options)


def _column_type(text: str) -> tuple[str, str]:
    name, sep, typ = text.rpartition("=")
    if not sep or not name:
        raise click.UsageError(f"--column-type is NAME=TYPE (e.g. site=string), not {text!r}")
    return name, typ


@click.command()
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
@click.option(
    "--tz", metavar="ZONE", help="Zone of CSV or Parquet timestamps without one (default UTC)."
)
@click.option("--timestamp-column", metavar="NAME", help="The event-time column of a series.")
@click.option(
    "--time-column",
    metavar="NAME",
    help="A column of times of day joined to --timestamp-column's dates (24:00 is the "
    "next day's 00:00); --timestamp-format reads the pair, e.g. '%m/%d/%Y %H:%M'.",
)
@click.option(
    "--skip-rows",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="CSV lines above the header (a logger's station metadata).",
)
@click.option(
    "--encoding", metavar="CODEC", help="CSV text encoding, e.g. latin-1 (default utf-8)."
)
@click.option("--decimal", metavar="C", help="CSV decimal mark: '.' (default) or ','.")
@click.option(
    "--column-type",
    "column_types",
    metavar="NAME=TYPE",
    multiple=True,
    help="Read a CSV column as string, int64, float64, bool, timestamp or date (repeatable).",
)
@click.option(
    "--timestamp-format",
    metavar="FMT",
    help="strptime format of the CSV time column, e.g. '%Y/%m/%d %H:%M:%S.%f'.",
)
@click.option(
    "--skip-rows-after-header",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="CSV rows under the header that are not data (a units row).",
)
@click.option(
    "--null-value",
    "null_values",
    metavar="TEXT",
    multiple=True,
    help="A CSV cell meaning 'missing' besides the empty cell, e.g. NA (repeatable).",
)
@click.option(
    "--dst",
    type=click.Choice(["error", "earliest", "latest", "row-order"]),
    default=None,
    help="Local times in a DST fall-back hour: refuse (default), the earlier or later "
    "offset, or by row order (a repeat after the clock went back is the later one).",
)
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
    time_column: str | None,
    skip_rows: int | None,
    encoding: str | None,
    decimal: str | None,
    column_types: tuple[str, ...],
    timestamp_format: str | None,
    skip_rows_after_header: int | None,
    null_values: tuple[str, ...],
    dst: str | None,
) -> None:
    """Copy host files into the pond, or pond files out to a host directory.

    Examples:

        pond copy readings.csv /raw/                       # in, as raw bytes

        pond copy --format series site-a.csv /data/a.series

        pond copy --format series --decimal , --delimiter ';' --tz +01:00 de.csv /de.series

        pond copy --format series --skip-rows 1 --tz -05:00 \
            --timestamp-column 'Date (MM/DD/YYYY)' --time-column 'Time (HH:MM)' \
            --timestamp-format '%m/%d/%Y %H:%M' 723170TYA.CSV /weather/tmy.series

        pond copy '/raw/*' host:///tmp/out                 # out
    """
    if dest.startswith("host:"):
        from ...pond import parse_url

        out = parse_url(dest)
        if out is None:
            raise click.UsageError(f"{dest} is not a host:///DIR URL")
        if fmt in ("data", "table", "series"):
            raise UserError(f"--format {fmt} is for copying in; out, use parquet or csv")
        pond = settings.open()
        written = pond.copy_out(list(sources), out.path, strip_prefix=strip_prefix, format=fmt)
        settings.output.copied_out(written, out.path)
        return
    if strip_prefix is not None:
        raise click.UsageError("--strip-prefix applies when copying out to host:///DIR")
    if fmt in ("parquet", "csv"):
        raise UserError(f"--format {fmt} is for copying out to host:///DIR")
    host_sources, options = copy_options(
        sources,
        delimiter=delimiter,
        no_header=no_header,
        tz=tz,
        timestamp_column=timestamp_column,
        time_column=time_column,
        skip_rows=skip_rows,
        encoding=encoding,
        decimal=decimal,
        column_types=column_types,
        timestamp_format=timestamp_format,
        skip_rows_after_header=skip_rows_after_header,
        null_values=null_values,
        dst=dst,
    )
    pond = settings.open()
    settings.output.copied_in(_copy_with_progress(pond, host_sources, dest, fmt, options))


def _copy_with_progress(
    pond: Pond, sources: list[str], dest: str, fmt: str | None, options: CopyOptions
) -> CopyResult:
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


COMMANDS = [copy]
