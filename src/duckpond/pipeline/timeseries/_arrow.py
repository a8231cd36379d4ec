"""Arrow helpers the time-series computations share: the time column as integers, the
union of tables by column name, and latest-wins de-duplication."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Union

from ...errors import FormatError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

TIME = "timestamp"

Tabular = Union["pa.Table", "pa.RecordBatch", Iterable["pa.RecordBatch"], None]
"""An input: a table, one batch, batches, or nothing (an empty input)."""


def time_type() -> pa.DataType:
    import pyarrow as pa

    return pa.timestamp("us", tz="UTC")


def batches(data: Tabular) -> Iterator[pa.RecordBatch | pa.Table]:
    """The pieces of ``data`` in order: a table stays whole (its chunks are not split)."""
    import pyarrow as pa

    if data is None:
        return
    if isinstance(data, pa.Table | pa.RecordBatch):
        yield data
        return
    yield from data


def as_table(data: Tabular) -> pa.Table | None:
    """``data`` as one table (pieces with different columns unioned by name), or None."""
    import pyarrow as pa

    pieces = [
        pa.table(piece) if isinstance(piece, pa.RecordBatch) else piece for piece in batches(data)
    ]
    if not pieces:
        return None
    return union(pieces)


def union(tables: list[pa.Table]) -> pa.Table:
    """Rows of every table, columns unioned by name (missing ones NULL, types promoted)."""
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise FormatError(f"columns of the same name with incompatible types: {exc}") from None


def micros(table: pa.Table | pa.RecordBatch) -> npt.NDArray[np.int64]:
    """The ``timestamp`` column as microseconds since the epoch (UTC), a numpy int64 array.

    A zone-less timestamp counts as UTC.  Raises ``FormatError`` when the column is
    missing, not a timestamp, or holds NULLs.
    """
    import pyarrow as pa

    if TIME not in table.schema.names:
        raise FormatError(f"no {TIME!r} column (columns: {', '.join(table.schema.names)})")
    column = table.column(TIME)
    if not pa.types.is_timestamp(column.type):
        raise FormatError(f"column {TIME!r} is {column.type}, not a timestamp")
    if column.null_count:
        raise FormatError(f"column {TIME!r} holds {column.null_count} NULL times")
    if column.type.unit != "us":
        column = column.cast(pa.timestamp("us", tz=column.type.tz), safe=False)
    ints = column.cast(pa.int64())
    if isinstance(ints, pa.ChunkedArray):
        ints = ints.combine_chunks() if ints.num_chunks != 1 else ints.chunk(0)
    return ints.to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def with_time(table: pa.Table, values: npt.NDArray[np.int64]) -> pa.Table:
    """``table`` with its ``timestamp`` column replaced by ``values`` (microseconds, UTC)."""
    import pyarrow as pa

    column = pa.array(values, type=pa.int64()).cast(time_type())
    if TIME in table.schema.names:
        return table.set_column(table.schema.get_field_index(TIME), TIME, column)
    return table.add_column(0, TIME, column)


def latest_per_time(table: pa.Table) -> pa.Table:
    """``table`` sorted by time, one row per time: of rows with the same time the last wins."""
    import numpy as np

    times = micros(table)
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    keep = np.ones(len(order), dtype=bool)
    keep[:-1] = ordered[1:] != ordered[:-1]
    indices = order[keep]
    if len(indices) == len(times) and bool(np.all(indices[:-1] < indices[1:])):
        return with_time(table, times)
    return with_time(table.take(indices), times[indices])
