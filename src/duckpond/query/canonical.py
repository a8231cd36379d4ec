"""The one form stored tabular data has, whatever it came from, and the time zones in it.

Versions from any source (CSV, Parquet, Arrow, pandas, polars) append to each
other and read alike because they are stored in one canonical form
(``canonical_type``, ``canonical_batch``):

- text is ``string`` (utf8) and bytes ``binary``: the type Arrow's CSV and
  Parquet readers produce, which DataFusion reads as ``Utf8``; 32-bit offsets
  limit one array to 2 GiB, far beyond a batch.  ``large_string`` (pandas)
  and the view types (polars, DataFusion) are cast to it;
- timestamps are ``timestamp[us, UTC]`` (Delta and DataFusion both want
  microseconds, and a naive time is ambiguous once it leaves the machine
  that wrote it); a naive one is taken to be in the ``tz`` option, else UTC;
- a float NaN is a missing value, NULL, as an empty CSV cell is;
- dictionaries are decoded to their values.

Also here: finding the event-time column, reading naive times in a zone
(``to_utc_micros_type``), and a column's event range.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DstError, FormatError, flatten

if TYPE_CHECKING:
    import pyarrow as pa

# Tried in order; the first that names a timestamp column wins.
TIMESTAMP_CANDIDATES = (
    "timestamp",
    "Timestamp",
    "time",
    "ts",
    "datetime",
    "event_time",
    "date",
    "Date",
)

# What ``--dst`` may say about local times in a fall-back hour (see ``to_utc_micros_type``).
DST_POLICIES = ("error", "earliest", "latest", "row-order")


def schema_json(schema: pa.Schema) -> list[dict[str, str]]:
    """A schema as ``[{name, type}]``, the shape ``describe --json`` prints."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


# A fixed UTC offset as Arrow writes zones: +05:30, -08:00.
_FIXED_OFFSET = re.compile(r"^[+-](?:[01]\d|2[0-3]):[0-5]\d$")


def check_zone(name: str) -> None:
    """``ConfigError`` unless ``name`` is a zone this machine knows or a fixed offset
    written ``+HH:MM`` / ``-HH:MM``."""
    from ..timeparse import named_zone

    if _FIXED_OFFSET.match(name):
        return
    if re.match(r"^[+-]\d", name):
        raise ConfigError(f"a fixed offset is written +HH:MM or -HH:MM, not {name!r}")
    named_zone(name)


# -- timestamps -------------------------------------------------------------------


def find_timestamp_column(schema: pa.Schema, explicit: str | None = None) -> str | None:
    """The column holding event times, or None if there is no usable one.

    An explicit name must exist and hold timestamps.  Otherwise the usual names
    are tried (exact case first, then any case), and failing those a schema
    with exactly one timestamp column uses it.
    """
    import pyarrow as pa

    def usable(name: str) -> bool:
        return bool(pa.types.is_timestamp(schema.field(name).type))

    if explicit is not None:
        if explicit not in schema.names:
            raise FormatError(
                f"no column {explicit!r} for timestamps (columns: {', '.join(schema.names)})"
            )
        if not usable(explicit):
            raise FormatError(
                f"column {explicit!r} holds {schema.field(explicit).type}, not timestamps"
            )
        return explicit
    # A duplicated name cannot be selected unambiguously, so it is never the timestamp.
    names: list[str] = [n for n in schema.names if schema.get_field_index(n) >= 0]
    for candidate in TIMESTAMP_CANDIDATES:
        if candidate in names and usable(candidate):
            return candidate
    lowered = {c.lower() for c in TIMESTAMP_CANDIDATES}
    for name in names:
        if name.lower() in lowered and usable(name):
            return name
    stamped: list[str] = [n for n in names if usable(n)]
    return stamped[0] if len(stamped) == 1 else None


class DstState:
    """What ``row-order`` remembers from row to row of one input: the last local time
    seen in a fall-back hour, and whether the clock has gone back in it."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.later = False


def to_utc_micros_type(
    arr: pa.Array | pa.ChunkedArray,
    tz: str | None = None,
    dst: str = "error",
    state: DstState | None = None,
) -> Any:
    """Timestamps as ``timestamp[us, UTC]``; naive ones are taken to be in ``tz`` (UTC if None).

    A local time in a fall-back hour happens twice; ``dst`` says which is meant:
    ``error`` refuses it, ``earliest``/``latest`` take the first/second offset, and
    ``row-order`` the first offset until the times go back (or repeat) within that
    hour, the second after, as a logger writing through the change does.  A local
    time skipped by a spring-forward change is always refused.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = arr.type
    if typ.tz is None and tz is not None and tz != "UTC":
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        ambiguous = "raise" if dst in ("error", "row-order") else dst
        try:
            if dst == "row-order":
                arr = _row_order(arr, tz, state or DstState())
            else:
                arr = pc.assume_timezone(arr, timezone=tz, ambiguous=ambiguous, nonexistent="raise")
        except pa.ArrowInvalid as exc:
            raise _dst_error(arr, tz, dst) or FormatError(
                f"timestamps do not exist or repeat in {tz}: {flatten(str(exc))}"
            ) from None
    # Nanoseconds are truncated to microseconds, as Delta does; safe=False allows it.
    return arr.cast(pa.timestamp("us", tz="UTC"), safe=False)


def _dst_error(arr: pa.Array, tz: str, dst: str) -> DstError | None:
    """The first local time of ``arr`` that ``tz``'s DST changes skip (or repeat, with
    ``dst`` error), said with the way to read it; None if there is none."""
    import pyarrow.compute as pc

    def read(ambiguous: str, nonexistent: str) -> Any:
        return pc.assume_timezone(arr, timezone=tz, ambiguous=ambiguous, nonexistent=nonexistent)

    # Read both ways, a time differs only where the change made it skipped (or repeated).
    skipped = pc.fill_null(
        pc.not_equal(read("earliest", "earliest"), read("earliest", "latest")), False
    )
    repeated = pc.fill_null(
        pc.not_equal(read("earliest", "earliest"), read("latest", "earliest")), False
    )
    first_skipped = pc.index(skipped, True).as_py()
    first_repeated = pc.index(repeated, True).as_py() if dst == "error" else -1
    if first_skipped < 0 and first_repeated < 0:
        return None
    if first_repeated < 0 or 0 <= first_skipped < first_repeated:
        when = arr[first_skipped].as_py().isoformat(sep=" ")
        offset = _standard_offset(tz)
        return DstError(
            f"{when} does not exist in {tz} (the clock skipped that hour when daylight "
            "time began): a logger kept on standard time all year is read with its fixed "
            "offset, {tz}; {dst} only chooses within an hour repeated when it ended",
            first_skipped,
            options={"tz": (offset, repr(offset)), "dst": ""},
        )
    when = arr[first_repeated].as_py().isoformat(sep=" ")
    choices = "earliest|latest|row-order"
    return DstError(
        f"{when} happens twice in {tz} (the hour repeated when daylight time ended): "
        "say which is meant with {dst}",
        first_repeated,
        options={"dst": (choices, choices)},
    )


def _standard_offset(tz: str) -> str:
    """``tz``'s offset outside daylight time, as ``-08:00``: the smaller of January's
    and July's (daylight time adds, in either hemisphere)."""
    from datetime import datetime

    from ..timeparse import named_zone

    zone = named_zone(tz)
    offsets = []
    for month in (1, 7):
        delta = datetime(2025, month, 1, tzinfo=zone).utcoffset()
        offsets.append(int(delta.total_seconds()) // 60 if delta is not None else 0)
    minutes = min(offsets)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _row_order(arr: pa.Array, tz: str, state: DstState) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    early = pc.assume_timezone(arr, timezone=tz, ambiguous="earliest", nonexistent="raise")
    late = pc.assume_timezone(arr, timezone=tz, ambiguous="latest", nonexistent="raise")
    differs = pc.fill_null(pc.not_equal(early, late), False)
    if not pc.any(differs).as_py():
        return early
    local = arr.cast(pa.int64()).to_pylist()
    choose_late = [False] * len(arr)
    hour = 3_600_000_000 * _per_unit(arr.type.unit)
    for i in pc.indices_nonzero(differs).to_pylist():
        value = local[i]
        if state.last is None or abs(value - state.last) > 2 * hour:
            state.later = False  # another fall-back hour: start on the first offset again
        elif value <= state.last:
            state.later = True
        state.last = value
        choose_late[i] = state.later
    return pc.if_else(pa.array(choose_late), late, early)


def _per_unit(unit: str) -> float:
    return {"s": 1e-6, "ms": 1e-3, "us": 1, "ns": 1e3}[unit]


def event_range(table: pa.Table | pa.RecordBatch, column: str) -> tuple[int, int] | None:
    """(min, max) of a timestamp column in microseconds since the epoch, UTC; None if all null."""
    import pyarrow.compute as pc

    values = to_utc_micros_type(table.column(column))
    bounds = pc.min_max(values)
    low, high = bounds["min"], bounds["max"]
    if not low.is_valid:
        return None
    return int(low.value), int(high.value)


# -- types ------------------------------------------------------------------------


def canonical_type(typ: pa.DataType) -> pa.DataType:
    """The type a column of ``typ`` is stored as (see the module docstring)."""
    import pyarrow as pa

    t = pa.types
    if t.is_timestamp(typ):
        return pa.timestamp("us", tz="UTC")
    if t.is_large_string(typ) or t.is_string_view(typ):
        return pa.string()
    if t.is_large_binary(typ) or t.is_binary_view(typ):
        return pa.binary()
    if t.is_dictionary(typ):
        return canonical_type(typ.value_type)
    if t.is_list(typ) or t.is_large_list(typ) or t.is_list_view(typ) or t.is_large_list_view(typ):
        return pa.list_(typ.value_field.with_type(canonical_type(typ.value_type)))
    if t.is_struct(typ):
        return pa.struct([f.with_type(canonical_type(f.type)) for f in typ])
    return typ


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every column's type canonical (metadata kept)."""
    import pyarrow as pa

    return pa.schema(
        [f.with_type(canonical_type(f.type)) for f in schema], metadata=schema.metadata
    )


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with view types (``string_view``, ``binary_view``) as the plain types the
    pond stores: the engine may return views, and not every writer can write them."""
    import pyarrow as pa

    def plain(typ: pa.DataType) -> pa.DataType:
        if pa.types.is_string_view(typ):
            return pa.string()
        if pa.types.is_binary_view(typ):
            return pa.binary()
        return typ

    return pa.schema([f.with_type(plain(f.type)) for f in schema], metadata=schema.metadata)


def plain_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` cast to ``plain_schema`` (as is when it has no view types)."""
    if batch.schema.equals(schema):
        return batch
    return batch.cast(schema)


def has_nan(column: pa.Array | pa.ChunkedArray) -> bool:
    """Whether a float column holds a NaN (stored as NULL, so such input is rewritten)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_floating(column.type) or len(column) == 0:
        return False
    return bool(pc.any(pc.is_nan(column)).as_py())


def canonical_column(
    column: pa.Array | pa.ChunkedArray,
    tz: str | None = None,
    dst: str = "error",
    state: DstState | None = None,
) -> Any:
    """One column in its stored form: NaN as NULL, naive times in ``tz`` (else UTC)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = column.type
    if pa.types.is_timestamp(typ):
        return to_utc_micros_type(column, tz, dst, state)
    if has_nan(column):
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, typ), column)
    wanted = canonical_type(typ)
    return column if wanted == typ else column.cast(wanted)


def canonical_batch(
    batch: pa.RecordBatch,
    tz: str | None = None,
    dst: str = "error",
    state: DstState | None = None,
) -> pa.RecordBatch:
    """A batch in the stored form (``canonical_column`` of every column)."""
    import pyarrow as pa

    columns = [canonical_column(column, tz, dst, state) for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=canonical_schema(batch.schema))


def is_canonical(schema: pa.Schema) -> bool:
    """Whether every column of ``schema`` already has its stored type."""
    return all(canonical_type(f.type) == f.type for f in schema)
