"""Printing query results and descriptions: the parts of the CLI that handle data."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from ..tinyfs.glob import has_wildcard
from ..tinyfs.persistence import is_file_type

if TYPE_CHECKING:
    import pyarrow as pa

    from .main import Settings

TABULAR = ("file:table", "file:series")


@contextmanager
def _sink(output_file: str | None) -> Iterator[BinaryIO]:
    if output_file is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with open(output_file, "wb") as fh:
        yield fh


def _write_bytes(data: bytes, output_file: str | None) -> None:
    with _sink(output_file) as out:
        out.write(data)


def emit_result(
    settings: Settings,
    result: pa.RecordBatchReader | pa.Table,
    fmt: str | None,
    output_file: str | None,
) -> None:
    """Print a query result: a preview table by default, every row with ``--format``."""
    from ..query.output import preview, render_preview, write

    if fmt is None:
        if settings.output.json_mode:
            fmt = "json"
        elif output_file is not None:
            fmt = "csv"
        else:
            _print_table(render_preview(preview(result)), None)
            return
    if fmt == "table":
        _print_table(render_preview(preview(result, limit=sys.maxsize)), output_file)
        return
    with _sink(output_file) as out:
        write(result, fmt, out)


def _print_table(table: Any, output_file: str | None) -> None:
    from rich.console import Console

    if output_file is None:
        Console(soft_wrap=True).print(table)
        return
    with open(output_file, "w", encoding="utf-8") as fh:
        Console(file=fh, soft_wrap=True, color_system=None).print(table)


def render_cat(
    settings: Settings,
    path: str,
    *,
    sql: str | None,
    fmt: str | None,
    start: datetime | None,
    end: datetime | None,
    version: int | None,
    output_file: str | None,
    at_txn: int | None,
    at: str | None,
) -> None:
    from ..query import engine
    from ..query.urls import is_url, parse_url

    if is_url(path) and parse_url(path).host:
        result = engine.cat(None, path, sql=sql, start=start, end=end)
        emit_result(settings, result, fmt, output_file)
        return
    pond = settings.open(at_txn=at_txn, at=at)
    if not is_url(path) and not has_wildcard(path):
        np = pond.root.get(path)
        if np.is_dir():
            raise IsADirectoryError(21, "is a directory (use pond list)", np.path)
        tabular = np.is_tabular()
        if version is not None:
            if sql or start or end or fmt not in (None, "raw"):
                raise click.UsageError(
                    "--version prints one version's bytes; it does not combine with "
                    "--sql, --start/--end or --format"
                )
            _write_bytes(pond.read_bytes(path, version=version), output_file)
            return
        as_rows = sql is not None or start is not None or end is not None
        if fmt == "raw" or (fmt is None and not as_rows and not tabular):
            _write_bytes(pond.read_bytes(path), output_file)
            return
        if not is_file_type(np.node_type):
            raise IsADirectoryError(21, "not a file", np.path)
    elif fmt == "raw":
        raise click.UsageError("--format raw needs one file, not a glob or URL")
    result = pond.cat(path, sql=sql, start=start, end=end)
    emit_result(settings, result, fmt, output_file)


def render_query(
    settings: Settings,
    sql: str,
    *,
    fmt: str | None,
    output_file: str | None,
    at_txn: int | None,
    at: str | None,
) -> None:
    result = settings.open(at_txn=at_txn, at=at).query(sql)
    emit_result(settings, result, fmt, output_file)


def render_describe(
    settings: Settings, pattern: str, *, at_txn: int | None, at: str | None
) -> None:
    from ..ingest.describe import describe_url
    from ..query.urls import is_url, parse_url

    if is_url(pattern) and parse_url(pattern).host:
        # A host URL needs no pond.
        described = [describe_url(None, None, pattern)]
    else:
        described = settings.open(at_txn=at_txn, at=at).describe(pattern)
    if not described:
        raise FileNotFoundError(2, "no pond path matches", pattern)
    if settings.output.json_mode:
        settings.output.data(described)
        return
    for i, d in enumerate(described):
        if i:
            click.echo()
        _describe_text(d)


def _describe_text(d: dict[str, Any]) -> None:
    click.echo(d["path"])
    click.echo(f"  type:     {d['type']}")
    if d.get("size") is not None:
        click.echo(f"  size:     {d['size']} bytes")
    if d.get("versions") is not None:
        click.echo(f"  versions: {d['versions']}")
    if d.get("rows") is not None:
        click.echo(f"  rows:     {d['rows']}")
    if d.get("min_event_time"):
        click.echo(f"  events:   {d['min_event_time']} .. {d['max_event_time']}")
    if d.get("timestamp_column"):
        click.echo(f"  time col: {d['timestamp_column']}")
    if d.get("document"):
        import yaml

        click.echo("  document:")
        # In the order people write documents, not the stored (sorted) order.
        order = ("apiVersion", "kind", "name", "desc", "spec")
        document = {k: d["document"][k] for k in order if k in d["document"]}
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        click.echo("\n".join(f"    {line}" for line in text.splitlines()))
    if d.get("columns"):
        click.echo("  columns:")
        width = max(len(c["name"]) for c in d["columns"])
        for c in d["columns"]:
            click.echo(f"    {c['name']:<{width}}  {c['type']}")
