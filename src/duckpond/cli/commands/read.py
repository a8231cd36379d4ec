"""Reading data: cat (bytes or rows), describe (what is stored), query (SQL)."""

from __future__ import annotations

import click

from ..app import Settings, UserError, pass_settings, time_travel


@click.command()
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
@click.option(
    "--all-versions",
    is_flag=True,
    help="Series: every stored row of every version, in stored order (by default a "
    "newer version's rows replace an older one's at the same times).",
)
@click.option(
    "--with-path",
    is_flag=True,
    help="Add a 'path' column naming the file each row came from (for a glob).",
)
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
    all_versions: bool,
    with_path: bool,
    at_txn: int | None,
    at: str | None,
) -> None:
    """Print a file's bytes, or query a table or series.

    Examples:

        pond cat /raw/notes.txt

        pond cat /data/a.series --sql "SELECT avg(\\"Temperature.C\\") FROM source"

        pond cat '/data/*.series' --start 2025-01-01 --end 2025-02-01 --format csv

        pond cat '/data/*.series' --with-path --sql "SELECT path, count(*) FROM source GROUP BY path"
    """
    from ...pond import is_literal, parse_url, read_host
    from ...timeparse import parse_time

    start_t = parse_time(start) if start else None
    end_t = parse_time(end) if end else None
    out = settings.output
    url = parse_url(path)
    if url is not None and url.host:
        out.rows(read_host(path, sql=sql, start=start_t, end=end_t), fmt, output_file)
        return
    pond = settings.open(at_txn=at_txn, at=at)
    if url is None and is_literal(pond.root, path):
        entry = pond.stat(path)
        if entry.is_dir:
            raise UserError(f"is a directory (use pond list): {entry.path}")
        if version is not None:
            if sql or start or end or fmt not in (None, "raw"):
                raise click.UsageError(
                    "--version prints one version's bytes; it does not combine with "
                    "--sql, --start/--end or --format"
                )
            out.raw(pond.read_bytes(path, version=version), output_file)
            return
        as_rows = (
            sql is not None or start_t is not None or end_t is not None or all_versions or with_path
        )
        if fmt == "raw" or (fmt is None and not as_rows and not entry.tabular):
            out.raw(pond.read_bytes(path), output_file)
            return
        if not entry.is_file:
            raise UserError(f"not a file: {entry.path}")
    elif fmt == "raw":
        raise click.UsageError("--format raw needs one file, not a glob or URL")
    rows = pond.cat(
        path, sql=sql, start=start_t, end=end_t, all_versions=all_versions, with_path=with_path
    )
    out.rows(rows, fmt, output_file)


@click.command()
@click.argument("pattern")
@time_travel
@pass_settings
def describe(settings: Settings, pattern: str, at_txn: int | None, at: str | None) -> None:
    """Show type, schema, versions, rows, event-time range and size.

    Example:

        pond describe '/data/*.series'
    """
    from ...pond import describe_host, parse_url

    url = parse_url(pattern)
    if url is not None and url.host:
        # A host URL needs no pond.
        described = [describe_host(pattern)]
    else:
        described = settings.open(at_txn=at_txn, at=at).describe(pattern)
    if not described:
        raise UserError(f"no pond path matches: {pattern}")
    settings.output.describe(described)


@click.command()
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
    result = settings.open(at_txn=at_txn, at=at).query(sql)
    settings.output.rows(result, fmt, output_file)


COMMANDS = [cat, describe, query]
