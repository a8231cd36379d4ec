"""Writing query results: CSV, JSON and Parquet to a binary stream, and a terminal preview.

Every writer takes a whole table or a stream of record batches and works a
batch at a time, so ``cat --format csv`` of a 10M-row series needs memory
for one batch, not for the result.  Values are formatted with Arrow compute
kernels, column by column, rather than row by row in Python.

Floats are written in the shortest form that reads back to the same number
(Arrow's float-to-string cast is a shortest round-trip formatter, like
``repr``); timestamps as ISO 8601 in UTC with a ``Z``, with fractional
seconds only when a batch has any.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import ConfigError, one_line
from .canonical import plain_batch, plain_schema

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.table import Table as RichTable


def _batches(result: pa.Table | pa.RecordBatchReader) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The result's schema and batches, view types cast to the plain ones every writer
    (and every reader of what is written) knows."""
    import pyarrow as pa

    schema = plain_schema(result.schema)
    batches = iter(result.to_batches()) if isinstance(result, pa.Table) else iter(result)
    if schema.equals(result.schema):
        return schema, batches
    return schema, (plain_batch(b, schema) for b in batches)


# -- formatting columns as text --------------------------------------------------------


def format_timestamps(values: pa.Array) -> pa.Array:
    """ISO 8601 strings: UTC with ``Z`` for zoned values, no suffix for naive ones."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = values.type
    # Dropping the zone keeps the stored instant, i.e. the UTC wall time; formatting a
    # naive value with a cast is some 20 times faster than strftime with a zone.
    naive = values.cast(pa.timestamp(typ.unit))
    whole = naive.cast(pa.timestamp("s"), safe=False)
    # Whole seconds print as 2025-01-01T00:00:00; a batch with any fraction prints all
    # its values with the unit's digits, so lengths never mix within a batch.
    if typ.unit != "s" and not pc.all(pc.equal(whole.cast(naive.type), naive)).as_py():
        text = naive.cast(pa.string())
    else:
        text = whole.cast(pa.string())
    text = pc.replace_substring(text, " ", "T", max_replacements=1)
    if typ.tz is not None:
        text = pc.binary_join_element_wise(text, pa.scalar("Z"), "")
    return text


def _text_column(values: pa.Array) -> pa.Array:
    """A column as strings for CSV; nulls stay null (written as an empty field)."""
    import pyarrow as pa

    if pa.types.is_timestamp(values.type):
        return format_timestamps(values)
    if pa.types.is_nested(values.type) or pa.types.is_binary(values.type):
        # Arrow's CSV writer has no text form for these; JSON is one a reader can parse.
        return pa.array(
            [
                None if v is None else json.dumps(v, default=_json_default)
                for v in values.to_pylist()
            ],
            pa.string(),
        )
    return values


def _json_column(values: pa.Array) -> pa.Array:
    """A column as JSON value literals (``null`` for nulls, NaN and infinities)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = values.type
    if pa.types.is_boolean(typ) or pa.types.is_integer(typ):
        text = values.cast(pa.string())
    elif pa.types.is_floating(typ):
        finite = pc.is_finite(values)
        text = pc.if_else(finite, values.cast(pa.string()), pa.scalar(None, pa.string()))
    elif pa.types.is_timestamp(typ):
        text = _quote(format_timestamps(values))
    elif pa.types.is_date(typ):
        text = _quote(values.cast(pa.string()))
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        text = _json_strings(values.cast(pa.string()))
    else:
        text = pa.array(
            [
                None if v is None else json.dumps(v, default=_json_default)
                for v in values.to_pylist()
            ],
            pa.string(),
        )
    return pc.fill_null(text, "null")


def _quote(text: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(pa.scalar('"'), text, pa.scalar('"'), "")


def _json_strings(values: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    # Control characters need \u escapes that a substring replace cannot produce; they
    # are rare enough in data that Python's encoder handles those columns.  C1 controls
    # and DEL are valid raw in JSON but a terminal acts on them (0x9b starts a CSI
    # sequence): escaped too.
    if pc.any(pc.match_substring_regex(values, r"[\x00-\x1f\x7f-\x9f]")).as_py():
        return pa.array(
            [None if v is None else _json_text(v) for v in values.to_pylist()],
            pa.string(),
        )
    escaped = pc.replace_substring(values, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    return _quote(escaped)


_C1 = re.compile(r"[\x7f-\x9f]")


def _json_text(value: str) -> str:
    """``value`` as a JSON string, C0 and C1 control characters and DEL as ``\\u`` escapes."""
    return _C1.sub(lambda m: f"\\u{ord(m[0]):04x}", json.dumps(value, ensure_ascii=False))


def _json_default(value: Any) -> Any:
    import base64
    import datetime as dt
    import decimal

    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


# -- writers ---------------------------------------------------------------------------


def write_csv(result: pa.Table | pa.RecordBatchReader, out: BinaryIO) -> int:
    """CSV with a header row; return the number of data rows."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    schema, batches = _batches(result)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(schema.names)
    out.write(header.getvalue().encode("utf-8"))
    plain = pcsv.WriteOptions(include_header=False, quoting_style="none")
    quoted = pcsv.WriteOptions(include_header=False, quoting_style="needed")
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        columns = [_text_column(c) for c in batch.columns]
        text = pa.RecordBatch.from_arrays(columns, names=schema.names)
        sink = pa.BufferOutputStream()
        # Arrow's "needed" style quotes every string; plain output reads better and is
        # what other tools write, so quotes are used only for batches that need them.
        options = quoted if any(_needs_quotes(c) for c in columns) else plain
        pcsv.write_csv(text, sink, write_options=options)
        out.write(sink.getvalue().to_pybytes())
        rows += batch.num_rows
    return rows


def _needs_quotes(values: pa.Array) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return False
    # An empty string must be quoted too, or it would read back as a missing value.
    special = pc.match_substring_regex(values, r'^$|[",\r\n]')
    return bool(pc.any(special).as_py())


def write_json(result: pa.Table | pa.RecordBatchReader, out: BinaryIO) -> int:
    """A JSON array of row objects, one per line; return the number of rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema, batches = _batches(result)
    keys = [pa.scalar(json.dumps(name, ensure_ascii=False) + ":") for name in schema.names]
    out.write(b"[")
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        fields = [
            pc.binary_join_element_wise(key, _json_column(column), "")
            for key, column in zip(keys, batch.columns, strict=True)
        ]
        if fields:
            body = pc.binary_join_element_wise(*fields, ",")
        else:
            body = pa.array([""] * batch.num_rows, pa.string())
        # Every row as ",\n{...}", then the batch as one string, built by Arrow: no Python
        # object per row.  The first row of the output drops its comma.
        lines = pc.binary_join_element_wise(pa.scalar(",\n{"), body, pa.scalar("}"), "")
        offsets = pa.array([0, len(lines)], pa.int32())
        chunk = pc.binary_join(pa.ListArray.from_arrays(offsets, lines), "")[0].as_buffer()
        out.write(chunk[1:] if rows == 0 else chunk)
        rows += batch.num_rows
    out.write(b"\n]\n" if rows else b"]\n")
    return rows


def write_parquet(result: pa.Table | pa.RecordBatchReader, out: BinaryIO) -> int:
    """Parquet bytes (zstd); return the number of rows."""
    import pyarrow.parquet as pq

    schema, batches = _batches(result)
    rows = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


Writer = Callable[["pa.Table | pa.RecordBatchReader", BinaryIO], int]

WRITERS: dict[str, Writer] = {
    "csv": write_csv,
    "json": write_json,
    "parquet": write_parquet,
}


def write(result: pa.Table | pa.RecordBatchReader, fmt: str, out: BinaryIO) -> int:
    """Write ``result`` to ``out`` in the named format; return the number of rows."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        raise ConfigError(f"unknown output format {fmt!r} (one of {', '.join(WRITERS)})") from None
    return writer(result, out)


# -- the terminal preview -----------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """The first rows of a result and how many rows it has in all."""

    head: pa.Table
    total: int


def preview(result: pa.Table | pa.RecordBatchReader, limit: int = 20) -> Preview:
    """Keep the first ``limit`` rows; count the rest without keeping them."""
    import pyarrow as pa

    schema, batches = _batches(result)
    kept: list[pa.RecordBatch] = []
    have = 0
    total = 0
    for batch in batches:
        total += batch.num_rows
        if have < limit:
            piece = batch.slice(0, limit - have)
            kept.append(piece)
            have += piece.num_rows
    return Preview(pa.Table.from_batches(kept, schema=schema), total)


def _cell(value: Any) -> str:
    import datetime as dt

    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return value.isoformat()
    return str(value)


def render_preview(view: Preview) -> RichTable:
    """A rich table of the preview rows, captioned with the total row count."""
    import pyarrow as pa
    from rich.markup import escape
    from rich.table import Table

    shown = view.head.num_rows
    noun = "row" if view.total == 1 else "rows"
    caption = f"{view.total} {noun}" if shown == view.total else f"{shown} of {view.total} rows"
    table = Table(caption=caption)
    for f in view.head.schema:
        numeric = pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
        table.add_column(
            f"{escape(one_line(f.name))}\n[dim]{escape(str(f.type))}[/dim]",
            justify="right" if numeric else "left",
        )
    # By column, not to_pylist() of rows: duplicate column names would collapse in a dict.
    columns = [c.to_pylist() for c in view.head.columns]
    for row in zip(*columns, strict=True):
        # A name or value holding an escape sequence must not drive the terminal.
        table.add_row(*(escape(one_line(_cell(v))) for v in row))
    return table
