"""Turning host input into the Parquet that ``file:table`` and ``file:series`` nodes hold.

CSV is read in blocks and written as Parquet row groups as it goes, so a
large file never sits in memory as Arrow all at once.  Types are inferred by
Arrow.  Whatever the source (CSV, Parquet, Arrow, pandas, polars), stored
data has one canonical form, so versions from any of them append to each
other and read alike (``canonical_type``, ``canonical_batch``):

- text is ``string`` (utf8) and bytes ``binary``: the type Arrow's CSV and
  Parquet readers produce, which DataFusion reads as ``Utf8``; 32-bit offsets
  limit one array to 2 GiB, far beyond a batch.  ``large_string`` (pandas)
  and the view types (polars, DataFusion) are cast to it;
- timestamps are ``timestamp[us, UTC]`` (Delta and DataFusion both want
  microseconds, and a naive time is ambiguous once it leaves the machine
  that wrote it); a naive one is taken to be in the ``tz`` option, else UTC;
- a float NaN is a missing value, NULL, as an empty CSV cell is;
- dictionaries are decoded to their values.

A series version is also sorted by event time and has a time in every row.
Parquet input that is already canonical is stored byte for byte (its sha256
stays what the user gave); other Parquet is rewritten in the canonical form.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

from ..errors import ConfigError, FormatError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..tinyfs import NodePath, VersionInfo

PARQUET_MAGIC = b"PAR1"

# Tried in order; the first that names a timestamp column wins.
TIMESTAMP_CANDIDATES = ("timestamp", "Timestamp", "time", "ts", "datetime", "event_time")

# Arrow infers ISO 8601 on its own; these cover the other layouts loggers commonly write.
# Day-first and month-first layouts are left out on purpose: guessing between them is
# how a series silently ends up a month off.
EXTRA_TIMESTAMP_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")

# Type inference sees the first block (some 30,000 rows of typical data).  Larger blocks
# cost far more than their size: Arrow's streaming reader peaked at 430 MB on a 334 MB
# file with 8 MiB blocks, 140 MB with 1 MiB.
CSV_BLOCK_SIZE = 1 << 20

# Bytes of dictionary a column may build per row group before it is written plain.
DICTIONARY_PAGE_LIMIT = 256 << 10

# Inputs up to this size are parsed whole, on every core, rather than streamed.
WHOLE_READ_BYTES = 64 << 20

# Rows per Parquet row group: blocks are gathered up to this before writing, since one
# row group per small block compresses worse (+40%) and gives statistics too fine to help.
ROW_GROUP_ROWS = 1 << 18

Source = bytes | str | os.PathLike[str] | BinaryIO


# What ``--dst`` may say about local times in a fall-back hour (see ``to_utc_micros_type``).
DST_POLICIES = ("error", "earliest", "latest", "row-order")

# The names ``column_types`` accepts, each the Arrow type the column is read as.
COLUMN_TYPES = ("string", "int64", "float64", "bool", "timestamp", "date")

# Cells that mean "no value" to some tool; found in a column of numbers they are refused
# unless named as null markers, since reading them either way silently could be wrong.
COMMON_NULL_MARKERS = ("NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "-", "#N/A")


@dataclass(frozen=True)
class CsvOptions:
    """How to read a CSV file.

    - ``delimiter``, ``has_header``: the field separator and whether row 1 names columns;
    - ``tz``: the zone (IANA name or fixed offset ``+05:30``) of timestamps written
      without one, None for UTC; ``dst``: how a local time in a fall-back hour is read
      (one of ``DST_POLICIES``);
    - ``encoding``: the text encoding (any Python codec name), None for UTF-8;
    - ``decimal``: the decimal mark of numbers (``.`` or ``,``);
    - ``column_types``: ``(name, type)`` pairs, a type one of ``COLUMN_TYPES``;
    - ``timestamp_format``: a strptime format for the time column (``%f`` at the end
      for fractions of a second), else ISO 8601 and ``EXTRA_TIMESTAMP_FORMATS``;
    - ``timestamp_column``: the time column when it is not one of the usual names;
    - ``skip_rows_after_header``: rows under the header that are not data (units);
    - ``null_values``: cells that mean "missing" besides the empty cell.
    """

    delimiter: str = ","
    has_header: bool = True
    tz: str | None = None
    encoding: str | None = None
    decimal: str = "."
    column_types: tuple[tuple[str, str], ...] = ()
    timestamp_format: str | None = None
    timestamp_column: str | None = None
    skip_rows_after_header: int = 0
    null_values: tuple[str, ...] = ()
    dst: str = "error"

    def __post_init__(self) -> None:
        if len(self.delimiter) != 1:
            raise ConfigError(f"a CSV delimiter is one character, not {self.delimiter!r}")
        if self.tz is not None:
            check_zone(self.tz)
        if self.dst not in DST_POLICIES:
            raise ConfigError(f"dst: {self.dst!r} is not one of {', '.join(DST_POLICIES)}")
        for name, typ in self.column_types:
            if typ not in COLUMN_TYPES:
                raise ConfigError(
                    f"column type of {name!r}: {typ!r} is not one of {', '.join(COLUMN_TYPES)}"
                )


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


def schema_json(schema: pa.Schema) -> list[dict[str, str]]:
    """A schema as ``[{name, type}]``, the shape ``describe --json`` prints."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


# A fixed UTC offset as Arrow writes zones: +05:30, -08:00.
_FIXED_OFFSET = re.compile(r"^[+-](?:[01]\d|2[0-3]):[0-5]\d$")


def check_zone(name: str) -> None:
    """``ConfigError`` unless ``name`` is a zone this machine knows or a fixed offset
    written ``+HH:MM`` / ``-HH:MM``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if _FIXED_OFFSET.match(name):
        return
    if re.match(r"^[+-]\d", name):
        raise ConfigError(f"a fixed offset is written +HH:MM or -HH:MM, not {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone: {name!r}") from None


def one_line(message: str) -> str:
    """Collapse a library's multi-line message into one line for ``error: ...``."""
    return " ".join(message.split())


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
            hint = ""
            if "ambiguous" in str(exc).lower():
                hint = "; say how to read a repeated hour with --dst earliest|latest|row-order"
            raise FormatError(
                f"timestamps do not exist or repeat in {tz}: {one_line(str(exc))}{hint}"
            ) from None
    # Nanoseconds are truncated to microseconds, as Delta does; safe=False allows it.
    return arr.cast(pa.timestamp("us", tz="UTC"), safe=False)


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


def _merge(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1])


# -- CSV ------------------------------------------------------------------------------


def _quotes_in_rows(source: Source) -> bool:
    """Whether a quote character appears after the first line: only then can a value
    hold a newline.  Arrow's parsing with ``newlines_in_values`` costs some 15% more
    CPU, so a file without quoted rows (the usual logger export) is spared it.  A
    one-shot stream cannot be looked at first and is assumed to have quotes."""
    import mmap

    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return data.find(b'"', data.find(b"\n") + 1) >= 0
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    return False
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                    return view.find(b'"', view.find(b"\n") + 1) >= 0
        except (OSError, ValueError):
            return True
    return True


def _csv_options(options: CsvOptions, quoted_rows: bool = True) -> tuple[Any, Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(
        block_size=CSV_BLOCK_SIZE,
        autogenerate_column_names=not options.has_header,
        encoding=options.encoding or "utf8",
        skip_rows_after_names=options.skip_rows_after_header,
    )
    # A quoted value may hold newlines: without this Arrow cuts blocks at any newline,
    # inside quotes too, and a large file of notes fails where a small one loads.
    parse = pcsv.ParseOptions(delimiter=options.delimiter, newlines_in_values=quoted_rows)
    parsers: list[Any] = [pcsv.ISO8601, *EXTRA_TIMESTAMP_FORMATS]
    fmt = options.timestamp_format
    if fmt is not None and "%f" not in fmt:
        parsers.insert(0, fmt)
    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us"),
        "date": pa.date32(),
    }
    convert = pcsv.ConvertOptions(
        timestamp_parsers=parsers,
        # Only an empty cell is missing data (a quoted "" is still an empty string);
        # "NA" or "null" is text unless the user names it a null marker.
        null_values=["", *options.null_values],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        decimal_point=options.decimal,
        column_types={name: types[typ] for name, typ in options.column_types},
    )
    return read, parse, convert


def compression_for(name: str) -> str | None:
    """The compression a file name's extension implies (``.gz``, ``.zst``), if any."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        return "gzip"
    if lowered.endswith(".zst"):
        return "zstd"
    return None


def _opener(source: Source, compression: str | None) -> Callable[[], Any] | None:
    """A function giving a fresh readable stream of the input each call, or None when
    the input is a one-shot stream that cannot be read twice."""
    import pyarrow as pa

    def wrap(raw: Any) -> Any:
        return raw if compression is None else pa.CompressedInputStream(raw, compression)

    if isinstance(source, bytes | bytearray | memoryview):
        data = source
        return lambda: wrap(pa.BufferReader(data))
    if isinstance(source, str | os.PathLike):
        path = str(Path(source))
        return lambda: wrap(pa.OSFile(path))
    stream = source
    if getattr(stream, "seekable", lambda: False)():

        def rewind() -> Any:
            stream.seek(0)
            return wrap(stream)

        return rewind
    return None


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


def _has_nan(column: pa.Array | pa.ChunkedArray) -> bool:
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
    if _has_nan(column):
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


class _CsvReading:
    """One CSV input being read: its name for errors, the options, and what carries
    from batch to batch (rows so far, the DST state)."""

    def __init__(self, options: CsvOptions, name: str | None) -> None:
        self.options = options
        self.name = name
        self.rows = 0
        self.dst = DstState()
        self.checked_header = False

    def where(self) -> str:
        return f"{self.name}: " if self.name else ""

    def batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A parsed batch checked and in the stored form."""
        import pyarrow as pa

        if not self.checked_header:
            self.check_header(batch.schema.names)
            self.checked_header = True
        columns = []
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            columns.append(self._column(name, column))
        self.rows += batch.num_rows
        prepared = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
        return canonical_batch(prepared, self.options.tz, self.options.dst, self.dst)

    def check_header(self, names: list[str]) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(names, 1):
            if not name.strip():
                raise FormatError(
                    f"{self.where()}column {i} has no name in the header; "
                    "name every column (an unnamed column could not be selected)"
                )
            if name in seen:
                raise FormatError(
                    f"{self.where()}the header names column {name!r} twice "
                    f"(columns {seen[name]} and {i}); rename one so each can be read"
                )
            seen[name] = i

    def _is_time_column(self, name: str) -> bool:
        explicit = self.options.timestamp_column
        if explicit is not None:
            return name == explicit
        return name.lower() in {c.lower() for c in TIMESTAMP_CANDIDATES}

    def _column(self, name: str, column: pa.Array) -> pa.Array:
        import pyarrow as pa

        typ = column.type
        if pa.types.is_binary(typ):
            self._bad_text(name, column)
        if pa.types.is_date32(typ) and self._is_time_column(name):
            # A date-only time column: each day at midnight, local in ``tz``.
            return column.cast(pa.timestamp("s"))
        if pa.types.is_string(typ):
            if self.options.timestamp_format and self._is_time_column(name):
                return self._parse_times(name, column)
            self._check_markers(name, column)
        return column

    def _row(self, index: int) -> int:
        return self.rows + index + 1

    def _bad_text(self, name: str, column: pa.Array) -> None:
        for i, value in enumerate(column.to_pylist()):
            if value is None:
                continue
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError(
                    f"{self.where()}data row {self._row(i)}, column {name!r}: not UTF-8 text "
                    f"({value[:20]!r}); name the file's encoding with --encoding "
                    "(e.g. latin-1)"
                ) from None

    def _check_markers(self, name: str, column: pa.Array) -> None:
        """Refuse a column of numbers with "no value" markers (``NA``) in it: read as
        text it would silently stop being numbers; the user says what the markers mean."""
        import pyarrow as pa
        import pyarrow.compute as pc

        markers = pc.is_in(column, value_set=pa.array(COMMON_NULL_MARKERS))
        if not pc.any(markers).as_py():
            return
        rest = pc.filter(column, pc.invert(pc.fill_null(markers, False)))
        rest = pc.drop_null(rest)
        if len(rest) == 0:
            return
        try:
            pc.cast(pc.utf8_trim_whitespace(rest), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return  # text with a marker among it stays text
        first = pc.index(markers, True).as_py()
        value = column[first].as_py()
        raise FormatError(
            f"{self.where()}data row {self._row(first)}, column {name!r}: {value!r} in a "
            f"column of numbers; name it a missing value with --null-value {value} "
            f"(or keep the column as text with --column-type {name}=string)"
        )

    def _parse_times(self, name: str, column: pa.Array) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        fmt = self.options.timestamp_format
        assert fmt is not None
        values = column
        fraction = None
        if fmt.endswith("%f"):
            fmt, mark = fmt[:-3], fmt[-3]
            parts = pc.extract_regex(
                column, rf"^(?P<head>.*?)(?:{re.escape(mark)}(?P<frac>\d{{1,6}}))?$"
            )
            values = pc.struct_field(parts, "head")
            digits = pc.utf8_rpad(pc.struct_field(parts, "frac"), width=6, padding="0")
            fraction = pc.cast(pc.if_else(pc.equal(digits, "000000"), "0", digits), pa.int64())
        parsed = pc.strptime(values, format=fmt, unit="us", error_is_null=True)
        bad = pc.and_(pc.is_null(parsed), pc.is_valid(column))
        if pc.any(bad).as_py():
            first = pc.index(bad, True).as_py()
            raise FormatError(
                f"{self.where()}data row {self._row(first)}, column {name!r}: "
                f"{column[first].as_py()!r} does not match --timestamp-format "
                f"{self.options.timestamp_format!r}"
            )
        if fraction is not None:
            micros = pc.add(parsed.cast(pa.int64()), fraction)
            parsed = micros.cast(pa.timestamp("us"))
        return parsed


def iter_csv(
    source: Source,
    options: CsvOptions | None = None,
    *,
    compression: str | None = None,
    name: str | None = None,
) -> Iterator[pa.RecordBatch]:
    """CSV as record batches in the stored form (``canonical_batch``), a block at a time.

    Arrow's streaming reader fixes column types from the first block; when a
    later block disagrees (a float after many integers), the whole input is
    read again with Arrow's non-streaming reader, which widens types across
    blocks.  Batches already yielded are not repeated: the caller gets a
    ``_Restart`` carrying the whole table instead, and drops what it had.
    ``name`` (the file) is named in errors.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    options = options or CsvOptions()
    quoted = compression is not None or _quotes_in_rows(source)
    read, parse, convert = _csv_options(options, quoted)
    opener = _opener(source, compression)
    first = opener() if opener is not None else source
    if opener is None and compression is not None:
        first = pa.CompressedInputStream(source, compression)
    reading = _CsvReading(options, name)
    try:
        reader = pcsv.open_csv(
            first, read_options=read, parse_options=parse, convert_options=convert
        )
        empty = True
        for batch in reader:
            empty = False
            yield reading.batch(batch)
        if empty:
            # A header without rows: an empty table of the header's columns.
            yield reading.batch(pa.RecordBatch.from_pylist([], schema=reader.schema))
        return
    except pa.ArrowInvalid as exc:
        if "conversion error" not in str(exc) or opener is None or options.column_types:
            raise _csv_error(exc, options, name, opener) from None
    except UnicodeDecodeError as exc:
        raise _encoding_error(exc, options, name, opener) from None
    except OSError as exc:
        raise FormatError(f"{reading.where()}cannot read the CSV: {one_line(str(exc))}") from None
    raise _Restart(_read_csv_whole(opener(), options, name, opener, quoted))


def _csv_error(
    exc: Exception, options: CsvOptions, name: str | None, opener: Callable[[], Any] | None
) -> FormatError:
    """Arrow's CSV error as one line naming the file and, where it can be found, the row
    and column."""
    where = f"{name}: " if name else ""
    message = one_line(str(exc))
    found = re.search(r"In CSV column #(\d+): .*?invalid value '(.*)'", message)
    if found and opener is not None and options.has_header:
        located = _locate_value(opener, options, int(found[1]), found[2])
        if located is not None:
            row, column = located
            return FormatError(
                f"{where}data row {row}, column {column!r}: cannot read {found[2]!r} "
                f"({message.split(': ', 1)[1]})"
            )
    return FormatError(f"{where}not valid CSV: {message}")


def _locate_value(
    opener: Callable[[], Any], options: CsvOptions, index: int, value: str
) -> tuple[int, str] | None:
    """(data row, column name) of the first cell holding ``value`` in column ``index``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    read, parse, _ = _csv_options(options)
    try:
        names = pcsv.open_csv(
            opener(),
            read_options=read,
            parse_options=parse,
            convert_options=pcsv.ConvertOptions(include_columns=[]),
        ).schema.names
        if not names:
            # Arrow reports no names when no column is kept; read the header row alone.
            header = pcsv.read_csv(
                opener(),
                read_options=pcsv.ReadOptions(
                    encoding=read.encoding, autogenerate_column_names=True
                ),
                parse_options=parse,
                convert_options=pcsv.ConvertOptions(column_types={}),
            )
            names = [str(header.column(i)[0]) for i in range(header.num_columns)]
        column = names[index]
        table = pcsv.read_csv(
            opener(),
            read_options=read,
            parse_options=parse,
            convert_options=pcsv.ConvertOptions(
                include_columns=[column], column_types={column: pa.string()}
            ),
        )
        hits = pc.equal(table.column(column), value)
        row = pc.index(pc.fill_null(hits, False), True).as_py()
    except (pa.ArrowInvalid, OSError, IndexError, UnicodeDecodeError):
        return None
    return (row + 1, column) if row >= 0 else None


def _encoding_error(
    exc: UnicodeDecodeError,
    options: CsvOptions,
    name: str | None,
    opener: Callable[[], Any] | None,
) -> FormatError:
    """A text-decoding failure as one line naming the file, the line and the option."""
    where = f"{name}: " if name else ""
    encoding = options.encoding or "utf-8"
    line = ""
    if opener is not None:
        try:
            data = opener().read()
            position = bytes(data).find(exc.object[exc.start : exc.end])
            if position >= 0:
                newlines = bytes(data).count(b"\n", 0, position)
                line = f"line {newlines + 1}: "
        except OSError:
            pass
    return FormatError(
        f"{where}{line}not {encoding} text (byte {exc.object[exc.start : exc.end]!r}); "
        "name the file's encoding with --encoding (e.g. latin-1, cp1252)"
    )


class _Restart(Exception):
    """The streaming read must start over with this (fully read) table."""

    def __init__(self, table: pa.Table) -> None:
        super().__init__("restart")
        self.table = table


def _read_csv_whole(
    stream: Any,
    options: CsvOptions,
    name: str | None = None,
    opener: Callable[[], Any] | None = None,
    quoted_rows: bool = True,
) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    read, parse, convert = _csv_options(options, quoted_rows)
    try:
        table = pcsv.read_csv(
            stream, read_options=read, parse_options=parse, convert_options=convert
        )
        reading = _CsvReading(options, name)
        batches = [reading.batch(b) for b in table.to_batches()]
        if not batches:
            reading.check_header(table.schema.names)
            return table
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, options, name, opener) from None
    except UnicodeDecodeError as exc:
        raise _encoding_error(exc, options, name, opener) from None
    return pa.Table.from_batches(batches)


def read_csv(
    source: Source,
    options: CsvOptions | None = None,
    *,
    compression: str | None = None,
    name: str | None = None,
) -> pa.Table:
    """A whole CSV input as one Arrow table in the stored form; ``name`` is named in errors."""
    import pyarrow as pa

    if name is None and isinstance(source, str | os.PathLike):
        name = str(source)
    try:
        batches = list(iter_csv(source, options, compression=compression, name=name))
    except _Restart as restart:
        return restart.table
    if not batches:
        raise FormatError("not valid CSV: no data rows")
    return pa.Table.from_batches(batches)


def csv_to_parquet(
    source: Source,
    *,
    delimiter: str | None = None,
    has_header: bool = True,
    tz: str | None = None,
    timestamp_column: str | None = None,
    require_timestamp: bool = False,
    compression: str | None = None,
    options: CsvOptions | None = None,
) -> Converted:
    """Convert CSV (bytes, a host path or a binary stream) to Parquet.

    ``require_timestamp`` is for a series, which needs a timestamp column; its
    event range is measured on the way.  A path ending ``.gz`` or ``.zst`` is
    decompressed unless ``compression`` says otherwise.  ``options`` gives every
    reading option at once (then ``delimiter``, ``has_header`` and ``tz`` are unused).
    """
    import dataclasses

    import pyarrow as pa

    if options is None:
        options = CsvOptions(delimiter or ",", has_header, tz)
    if timestamp_column is not None and options.timestamp_column is None:
        options = dataclasses.replace(options, timestamp_column=timestamp_column)
    timestamp_column = options.timestamp_column
    # A host file is named in errors about its rows.
    name = str(source) if isinstance(source, str | os.PathLike) else None
    if compression is None and isinstance(source, str | os.PathLike):
        compression = compression_for(str(source))
    try:
        whole = _read_small_csv(source, options, compression, name)
        if whole is not None:
            return _write_parquet(
                iter(whole.to_batches()),
                require_timestamp,
                timestamp_column,
                schema=whole.schema,
                name=name,
            )
        batches = _prefetched(iter_csv(source, options, compression=compression, name=name))
        return _write_parquet(batches, require_timestamp, timestamp_column, name=name)
    except _Restart as restart:
        table = restart.table
        return _write_parquet(
            iter(table.to_batches()),
            require_timestamp,
            timestamp_column,
            schema=table.schema,
            name=name,
        )
    except pa.ArrowInvalid as exc:
        raise _csv_error(exc, options, name, None) from None


def _read_small_csv(
    source: Source, options: CsvOptions, compression: str | None, name: str | None = None
) -> pa.Table | None:
    """A small uncompressed input read whole, or None: large, compressed and one-shot
    inputs stream, as does one without data rows (the streaming path says what is wrong).

    Arrow's whole-file reader parses blocks on every core, its streaming reader on one:
    a 1M-row, 47 MB CSV takes 77 ms against 200 ms on two cores.  The price is holding
    the input as one Arrow table, about its own size, hence the bound.
    """
    if compression is not None:
        return None
    if isinstance(source, bytes | bytearray | memoryview):
        size = len(source)
    elif isinstance(source, str | os.PathLike):
        try:
            size = os.path.getsize(source)
        except OSError:
            return None
    else:
        return None
    opener = _opener(source, None)
    if size > WHOLE_READ_BYTES or opener is None:
        return None
    try:
        table = _read_csv_whole(opener(), options, name, opener, _quotes_in_rows(source))
    except OSError:
        return None
    return table if table.num_rows else None


_T = TypeVar("_T")

# Batches parsed ahead of the Parquet writer: enough to keep both threads busy, few
# enough (some 1 MiB of CSV each) that memory stays bounded.
PREFETCH_BATCHES = 4


def _prefetched(items: Iterator[_T], depth: int = PREFETCH_BATCHES) -> Iterator[_T]:
    """``items`` produced by a helper thread while the caller consumes them.

    Arrow's streaming CSV reader parses on one thread, and the Parquet writer
    compresses on one; both release the GIL, so overlapped on two cores a
    conversion takes about the longer of the two rather than their sum (a
    1M-row CSV: 0.36 s -> 0.25 s).  An exception in the producer is raised
    here, in the consumer.
    """
    import queue
    import threading

    done = object()
    handoff: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, done))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((False, exc))

    thread = threading.Thread(target=produce, name="duckpond-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                assert isinstance(item, BaseException)
                raise item
            if item is done:
                return
            yield cast(_T, item)
    finally:
        stop.set()
        thread.join()


def _write_parquet(
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
    if series and not order.in_order:
        assert column is not None
        data = _sorted_parquet(data, column)
    return Converted(data, schema, rows, column, span, sorted=series)


class _Order:
    """Whether the timestamps seen so far, batch after batch, never go back in time."""

    def __init__(self) -> None:
        self.in_order = True
        self._last: Any = None

    def see(self, times: pa.Array) -> None:
        import pyarrow.compute as pc

        if not self.in_order or len(times) == 0:
            return
        if self._last is not None and pc.less(times[0], self._last).as_py():
            self.in_order = False
            return
        if len(times) > 1:
            steps = pc.greater_equal(times.slice(1), times.slice(0, len(times) - 1))
            if not pc.all(steps).as_py():
                self.in_order = False
                return
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


def _sorted_parquet(data: bytes, column: str) -> bytes:
    """Parquet ``data`` rewritten sorted by ``column`` (stable: equal times keep their order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.ParquetFile(pa.BufferReader(data)).read()
    table = table.take(pa.compute.sort_indices(table, [(column, "ascending")]))
    sink = io.BytesIO()
    writer = _parquet_writer(sink, table.schema)
    writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    writer.close()
    return sink.getvalue()


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


# -- Parquet ------------------------------------------------------------------------------


def is_parquet(data: bytes) -> bool:
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
        raise FormatError(f"{name} is not readable Parquet: {one_line(str(exc))}") from None
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
    if floats and any(_has_nan(c) for c in pf.read(columns=floats).columns):
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
    return _write_parquet(
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


# -- describing stored versions -----------------------------------------------------------


def _version_info(np: NodePath, version: int | None) -> VersionInfo:
    versions = np.node.versions()
    if version is None:
        return versions[-1]
    for info in versions:
        if info.version == version:
            return info
    raise FileNotFoundError(f"{np.path} has no version {version}")


def _footer(np: NodePath, version: int) -> Any:
    """The Parquet footer of one stored version, from its blob file when it has one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = getattr(np.node.fs.persistence, "local_path", None)
    path = local(np.node_id, version) if local is not None else None
    if path is not None:
        return pq.ParquetFile(path)
    data = np.read_bytes(version)
    if not is_parquet(data):
        raise FormatError(f"{np.path} version {version} is not Parquet")
    return pq.ParquetFile(pa.BufferReader(data))


def parquet_rows(np: NodePath, version: int | None = None) -> int:
    """Rows in one stored version: from its attributes, else its Parquet footer."""
    info = _version_info(np, version)
    rows = info.attributes.get("rows")
    if isinstance(rows, int):
        return rows
    return int(_footer(np, info.version).metadata.num_rows)


def parquet_columns(np: NodePath) -> list[dict[str, str]]:
    """``[{name, type}]`` of what reading every version together returns: by name in order
    of first appearance, types unified as reads unify them (int and float versions read
    as double, an all-empty ``null`` column as its type in other versions).

    Stored attributes answer without reading content when the versions agree; a
    version without them, or versions whose types differ, are read for their footers.
    """
    import pyarrow as pa

    seen: dict[str, str] = {}
    differ = False
    for info in np.node.versions():
        columns = info.attributes.get("schema")
        if not isinstance(columns, list):
            columns = schema_json(_footer(np, info.version).schema_arrow)
        for column in columns:
            typ = seen.setdefault(str(column["name"]), str(column["type"]))
            differ = differ or typ != str(column["type"])
    if differ:
        schemas = [_footer(np, info.version).schema_arrow for info in np.node.versions()]
        try:
            return schema_json(pa.unify_schemas(schemas, promote_options="permissive"))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # a series that cannot be read whole still describes its first types
    return [{"name": name, "type": typ} for name, typ in seen.items()]
