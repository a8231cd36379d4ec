"""Parquet as tables and series store it: checked, rewritten in the canonical form, written.

Parquet input that is already canonical (``canonical.is_canonical``, no NaN,
a series sorted with a time in every row) is stored byte for byte, so its
sha256 stays what the user gave; other Parquet, and Arrow tables from any
library, are rewritten in that form.  A series version is also sorted by
event time and has a time in every row.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import FormatError, flatten
from .canonical import (
    TIMESTAMP_CANDIDATES,
    canonical_batch,
    canonical_schema,
    event_range,
    find_timestamp_column,
    has_nan,
    is_canonical,
    schema_json,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

PARQUET_MAGIC = b"PAR1"

# Bytes of dictionary a column may build per row group before it is written plain.
DICTIONARY_PAGE_LIMIT = 256 << 10

# Rows per Parquet row group: blocks are gathered up to this before writing, since one
# row group per small block compresses worse (+40%) and gives statistics too fine to help.
ROW_GROUP_ROWS = 1 << 18


@dataclass(frozen=True)
class Converted:
    """Parquet ready to store (``data``), with what the caller records beside it."""

    data: bytes
    schema: pa.Schema
    rows: int
    timestamp_column: str | None
    event_range: tuple[int, int] | None
    # A series version is stored sorted by event time; readers trust this attribute.
    sorted: bool = False
    # Rows of a series whose time equals an earlier row's: kept, but worth a warning.
    duplicate_times: int = 0

    def attributes(self) -> dict[str, Any]:
        """The node attributes this content is stored with."""
        attributes: dict[str, Any] = {
            "timestamp_column": self.timestamp_column,
            "schema": schema_json(self.schema),
            "rows": self.rows,
        }
        if self.sorted:
            attributes["sorted"] = True
        return attributes


# -- writing ----------------------------------------------------------------------------


def write_parquet(
    batches: Iterator[pa.RecordBatch],
    require_timestamp: bool,
    timestamp_column: str | None,
    *,
    schema: pa.Schema | None = None,
    name: str | None = None,
) -> Converted:
    """Canonical batches as Parquet; a series (``require_timestamp``) is also checked to
    have a time in every row and is stored sorted by it."""
    import pyarrow as pa

    sink = io.BytesIO()
    writer: pq.ParquetWriter | None = None
    column: str | None = None
    rows = 0
    span: tuple[int, int] | None = None
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    order = _Order()
    for batch in batches:
        if writer is None and require_timestamp and batch.num_rows == 0:
            schema = batch.schema  # its time column may not be typed yet: wait for rows
            continue
        if writer is None:
            schema = batch.schema
            column = _timestamp_for(schema, require_timestamp, timestamp_column)
            writer = _parquet_writer(sink, schema)
        if batch.num_rows == 0:
            continue
        if require_timestamp and column is not None:
            _require_times(batch, column, rows, name)
            order.see(batch.column(column))
        pending.append(batch)
        pending_rows += batch.num_rows
        rows += batch.num_rows
        if column is not None:
            span = _merge(span, event_range(batch, column))
        if pending_rows >= ROW_GROUP_ROWS:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=pending_rows)
            pending, pending_rows = [], 0
    if writer is not None and pending:
        writer.write_table(pa.Table.from_batches(pending), row_group_size=pending_rows)
    where = f"{name}: " if name else ""
    if require_timestamp and rows == 0:
        # A version without rows would record no event range and add nothing to read;
        # a table may be empty (a query's empty result), a series version may not.
        raise FormatError(f"{where}no data rows; a series version needs at least one row")
    if writer is None:
        if schema is None:
            raise FormatError(f"{where}not valid CSV: no data rows")
        column = _timestamp_for(schema, require_timestamp, timestamp_column)
        writer = _parquet_writer(sink, schema)
    writer.close()
    assert schema is not None
    series = require_timestamp and column is not None
    data = sink.getvalue()
    duplicates = order.equal
    if series and not order.in_order:
        assert column is not None
        data, duplicates = _sorted_parquet(data, column)
    return Converted(
        data, schema, rows, column, span, sorted=series, duplicate_times=duplicates if series else 0
    )


class _Order:
    """Whether the timestamps seen so far, batch after batch, never go back in time."""

    def __init__(self) -> None:
        self.in_order = True
        self.equal = 0  # times equal to the one before (while in order)
        self._last: Any = None

    def see(self, times: pa.Array) -> None:
        import pyarrow.compute as pc

        if not self.in_order or len(times) == 0:
            return
        if self._last is not None and pc.less(times[0], self._last).as_py():
            self.in_order = False
            return
        if self._last is not None and pc.equal(times[0], self._last).as_py():
            self.equal += 1
        if len(times) > 1:
            after, before = times.slice(1), times.slice(0, len(times) - 1)
            if not pc.all(pc.greater_equal(after, before)).as_py():
                self.in_order = False
                return
            self.equal += pc.sum(pc.equal(after, before)).as_py() or 0
        self._last = times[len(times) - 1]


def _require_times(batch: pa.RecordBatch, column: str, offset: int, name: str | None) -> None:
    """Refuse a series row without a time: it could never be placed or found by range."""
    import pyarrow.compute as pc

    times = batch.column(column)
    if times.null_count:
        first = pc.index(pc.is_null(times), True).as_py()
        where = f"{name}: " if name else ""
        raise FormatError(
            f"{where}data row {offset + first + 1} has no time in column {column!r}; "
            "every row of a series needs one"
        )


def _sorted_parquet(data: bytes, column: str) -> tuple[bytes, int]:
    """Parquet ``data`` rewritten sorted by ``column`` (stable: equal times keep their order),
    and how many rows have a time equal to an earlier row's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.ParquetFile(pa.BufferReader(data)).read()
    table = table.take(pa.compute.sort_indices(table, [(column, "ascending")]))
    sink = io.BytesIO()
    writer = _parquet_writer(sink, table.schema)
    writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    writer.close()
    duplicates = table.num_rows - pa.compute.count_distinct(table.column(column)).as_py()
    return sink.getvalue(), duplicates


def _parquet_writer(sink: BinaryIO, schema: pa.Schema) -> Any:
    import pyarrow.parquet as pq

    # zstd: a good ratio at a speed that keeps conversion I/O bound; statistics let
    # time-range reads skip row groups.  A column of many distinct values (timestamps,
    # raw sensor floats) builds a dictionary in every row group until it reaches the
    # page limit and is then written plain anyway: at 256 KiB rather than the default
    # 1 MiB it gives up sooner.  On 1M readings that writes 30-40% faster and 10-25%
    # smaller; columns of few values keep their dictionary.
    return pq.ParquetWriter(
        sink,
        schema,
        compression="zstd",
        write_statistics=True,
        dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT,
    )


def _timestamp_for(schema: pa.Schema, required: bool, explicit: str | None) -> str | None:
    column = find_timestamp_column(schema, explicit)
    if required and column is None:
        names = ", ".join(schema.names)
        lowered = {c.lower() for c in TIMESTAMP_CANDIDATES}
        named = [f for f in schema if f.name.lower() in lowered]
        if named:
            # A time column by name that did not read as times: say so, not "none found".
            raise FormatError(
                f"column {named[0].name!r} was read as {named[0].type}, not as times: some "
                "values are not times in a recognised layout (a units row under the header? "
                "mixed formats?); skip such rows or give the timestamp format"
            )
        raise FormatError(
            "a series needs a timestamp column (named one of "
            f"{', '.join(TIMESTAMP_CANDIDATES)}, or the only timestamp column); "
            f"columns found: {names}"
        )
    return column


def _merge(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1])


# -- checking Parquet input --------------------------------------------------------------


def is_parquet(data: bytes) -> bool:
    """Whether ``data`` begins and ends with Parquet's magic bytes."""
    return len(data) >= 8 and data[:4] == PARQUET_MAGIC and data[-4:] == PARQUET_MAGIC


def check_parquet(
    data: bytes,
    *,
    timestamp_column: str | None = None,
    require_timestamp: bool = False,
    name: str = "input",
    tz: str | None = None,
) -> Converted:
    """Validate Parquet bytes offered for a table or series and describe them.

    Bytes already in the stored form (canonical types, no NaN, a series sorted with
    a time in every row) are kept as they are; others are rewritten in that form,
    naive timestamps taken to be in ``tz`` (UTC if None).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not is_parquet(data):
        raise FormatError(
            f"{name} is not Parquet (no PAR1 magic bytes); "
            "use --format data to keep it as raw bytes"
        )
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        schema = pf.schema_arrow
        column = _timestamp_for(schema, require_timestamp, timestamp_column)
        if not _parquet_is_canonical(pf, column, require_timestamp):
            table = pf.read()
            return _canonical_table(
                table, tz, require_timestamp=require_timestamp, timestamp_column=column
            )
        span = None
        if column is not None:
            span = event_range(pf.read(columns=[column]), column)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"{name} is not readable Parquet: {flatten(str(exc))}") from None
    except FormatError as exc:
        raise FormatError(f"{name}: {exc}") from None
    series = require_timestamp and column is not None
    return Converted(data, schema, pf.metadata.num_rows, column, span, sorted=series)


def _parquet_is_canonical(pf: Any, column: str | None, series: bool) -> bool:
    """Whether a Parquet file can be stored byte for byte: canonical types, no NaN in
    its float columns and, for a series, a time in every row, in order."""
    import pyarrow as pa

    schema = pf.schema_arrow
    if not is_canonical(schema):
        return False
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    if floats and any(has_nan(c) for c in pf.read(columns=floats).columns):
        return False
    if series and column is not None:
        times = pf.read(columns=[column]).column(column)
        if times.null_count:
            return False
        order = _Order()
        for chunk in times.chunks:
            order.see(chunk)
        return order.in_order
    return True


def parquet_file(
    path: str | os.PathLike[str],
    *,
    timestamp_column: str | None = None,
    require_timestamp: bool = False,
    tz: str | None = None,
) -> Converted:
    """``check_parquet`` of a host file, named in any error."""
    return check_parquet(
        Path(path).read_bytes(),
        timestamp_column=timestamp_column,
        require_timestamp=require_timestamp,
        name=str(path),
        tz=tz,
    )


def table_to_parquet(
    table: pa.Table, *, timestamp_column: str | None = None, require_timestamp: bool = False
) -> Converted:
    """Parquet for an Arrow table (from pandas, polars, a query...) in the stored form."""
    return _canonical_table(
        table, None, require_timestamp=require_timestamp, timestamp_column=timestamp_column
    )


def _canonical_table(
    table: pa.Table, tz: str | None, *, require_timestamp: bool, timestamp_column: str | None
) -> Converted:
    batches = (canonical_batch(b, tz) for b in table.to_batches())
    return write_parquet(
        batches, require_timestamp, timestamp_column, schema=canonical_schema(table.schema)
    )


def as_arrow(data: Any) -> pa.Table:
    """An Arrow table from Arrow, pandas, polars, or anything speaking the Arrow C stream."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if hasattr(data, "__arrow_c_stream__"):
        # polars, recent pandas, DataFusion and arro3 all export this zero-copy protocol.
        return pa.table(data)
    if type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, dict):
        return pa.table(data)
    raise FormatError(f"cannot make an Arrow table from {type(data).__name__}")
