"""``pond export``: tables and series to Hive-partitioned files with a manifest."""

from __future__ import annotations

import click

from ..app import Settings, pass_settings, time_travel


@click.command()
@click.argument("patterns", nargs=-1, required=True, metavar="PATTERN...")
@click.option(
    "--dir",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The host directory to export into (created if missing).",
)
@click.option(
    "--partition",
    type=click.Choice(["year", "month"]),
    default=None,
    help="Split timed outputs by the year or month of their event time, in UTC "
    "(default: month; not with --format delta).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv", "delta"]),
    default="parquet",
    show_default=True,
    help="The file format of each partition, or delta: one Delta table per output.",
)
@click.option("--start", metavar="TIME", help="First event time to export (inclusive).")
@click.option("--end", metavar="TIME", help="End of the event times to export (exclusive).")
@time_travel
@pass_settings
def export(
    settings: Settings,
    patterns: tuple[str, ...],
    out_dir: str,
    partition: str | None,
    fmt: str,
    start: str | None,
    end: str | None,
    at_txn: int | None,
    at: str | None,
) -> None:
    """Export tables and series as Hive-partitioned files plus a manifest.

    Each table or series that a PATTERN matches (or that lies below a matched
    directory), stored or computed, is written to DIR/<its pond path>/ as
    year=YYYY/month=MM/data.parquet: partitions are periods of event time in UTC.
    A table without a time column is one data.parquet. DIR/manifest.json lists
    every file (pond path, partition, time range, rows, sha256, bytes) and every
    output's schema. Exporting again rewrites only the files whose content
    changed and removes the files of the previous export that are no longer
    produced; every file is written atomically.

    With --format delta each output becomes a standard Delta table at
    DIR/<its pond path>, readable by Polars, DataFusion, deltalake, Dask, Spark...:
    its rows as `pond cat` gives them, its event-time column as the pond has it.
    Exporting again appends what is new (or replaces the rows a new version
    changed), one commit per table; a table with nothing new gets no commit.

    Examples:

        pond export '/hydrovu/**/*.series' --dir /srv/export

        pond export /data/a.series --dir out --partition year --format csv

        pond export '/data/*' --dir out --start 2025-01-01 --end 2025-07-01

        pond export '/hydrovu/**/*.series' --format delta --dir /srv/lake
    """
    from ...timeparse import parse_time

    pond = settings.open(at_txn=at_txn, at=at)
    result = pond.export(
        list(patterns),
        out_dir,
        partition=partition,
        format=fmt,
        start=parse_time(start) if start else None,
        end=parse_time(end) if end else None,
    )
    settings.output.data(result.to_json(), text=result.summary())


COMMANDS = [export]
