"""Reading CSV from the host into the canonical form, and storing it as Parquet.

CSV is read in blocks and written as Parquet row groups as it goes, so a
large file never sits in memory as Arrow all at once.  Types are inferred by
Arrow unless ``CsvOptions.column_types`` names them; every batch is put in
the stored form (``canonical.canonical_batch``) as it is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

from ..errors import ConfigError, DstError, FormatError, flatten
from .canonical import DST_POLICIES, TIMESTAMP_CANDIDATES, DstState, canonical_batch, check_zone
from .parquet import Converted, write_parquet

if TYPE_CHECKING:
    import pyarrow as pa

# Arrow infers ISO 8601 on its own; these cover the other layouts loggers commonly write.
# Day-first and month-first layouts are left out on purpose: guessing between them is
# how a series silently ends up a month off.
EXTRA_TIMESTAMP_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M")

# Type inference sees the first block (some 30,000 rows of typical data).  Larger blocks
# cost far more than their size: Arrow's streaming reader peaked at 430 MB on a 334 MB
# file with 8 MiB blocks, 140 MB with 1 MiB.
CSV_BLOCK_SIZE = 1 << 20

# Inputs up to this size are parsed whole, on every core, rather than streamed.
WHOLE_READ_BYTES = 64 << 20

Source = bytes | str | os.PathLike[str] | BinaryIO

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
    - ``time_column``: a column of times of day (``13:00``, and ``24:00`` as the next
      day's midnight) to join to ``timestamp_column``'s dates, parsed together by
      ``timestamp_format`` (the date, a space, the time);
    - ``skip_rows``: lines above the header (station metadata);
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
    time_column: str | None = None
    skip_rows: int = 0

    def __post_init__(self) -> None:
        if self.time_column is not None and (
            self.timestamp_column is None or self.timestamp_format is None
        ):
            raise ConfigError(
                "time_column: a time-of-day column is joined to the dates of "
                "timestamp_column and read with timestamp_format (e.g. '%m/%d/%Y %H:%M'): "
                "name both"
            )
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
        skip_rows=options.skip_rows,
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
        column_types={
            # Read as text, so that the format reads every value (24:00, compact dates
            # 19580329, and ISO 8601 text is no silent exception to the format given).
            **{name: pa.string() for name in _formatted_names(options)},
            **{name: types[typ] for name, typ in options.column_types},
        },
    )
    return read, parse, convert


def _formatted_names(options: CsvOptions) -> list[str]:
    """The columns ``timestamp_format`` reads: the time column named (and the time of
    day joined to it), else any of the usual names."""
    if options.timestamp_format is None:
        return []
    if options.timestamp_column is None:
        # The usual names are found in any case; these are the cases files write.
        spelt = (f(c) for c in TIMESTAMP_CANDIDATES for f in (str, str.lower, str.upper, str.title))
        return list(dict.fromkeys(spelt))
    return [n for n in (options.timestamp_column, options.time_column) if n is not None]


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


class _CsvReading:
    """One CSV input being read: its name for errors, the options, and what carries
    from batch to batch (rows so far, the DST state)."""

    def __init__(self, options: CsvOptions, name: str | None) -> None:
        self.options = options
        self.name = name
        self.rows = 0
        self.dst = DstState()
        self.checked_header = False
        # The column ``timestamp_format`` reads when none is named nor has a usual name.
        self.formatted: str | None = None

    def where(self) -> str:
        return f"{self.name}: " if self.name else ""

    def batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A parsed batch checked and in the stored form."""
        import pyarrow as pa

        if not self.checked_header:
            self.check_header(batch.schema.names)
            self.formatted = self._formatted_column(batch)
            self.checked_header = True
        if self.options.time_column is not None:
            batch = self._join_date_and_time(batch)
        columns = []
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            columns.append(self._column(name, column))
        prepared = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
        if self.rows == 0:
            self._check_zone_used(prepared)
        try:
            canonical = canonical_batch(prepared, self.options.tz, self.options.dst, self.dst)
        except DstError as exc:
            # The time's file and physical line, which only the reading knows.
            raise FormatError(
                f"{self.where()}{self._line(exc.index)}: {exc.args[0]}", options=exc.options
            ) from None
        self.rows += batch.num_rows
        return canonical

    def _check_zone_used(self, batch: pa.RecordBatch) -> None:
        """A ``tz`` that no time of the file is read in would silently do nothing: refuse
        it when every time column says its own zone (``...Z``, ``+02:00``)."""
        import pyarrow as pa

        tz = self.options.tz
        if tz is None or tz == "UTC":
            return
        zoned = [f.name for f in batch.schema if pa.types.is_timestamp(f.type) and f.type.tz]
        if zoned and len(zoned) == sum(pa.types.is_timestamp(f.type) for f in batch.schema):
            raise FormatError(
                f"{self.where()}{{tz}}: every time in column {zoned[0]!r} says its own "
                f"zone (as 2024-06-01T12:00Z or +02:00 do), so none would be read in {tz}: "
                "leave the option out",
                options={"tz": (tz, repr(tz))},
            )

    def _join_date_and_time(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The date column replaced by its dates and the time column's times parsed
        together; the time column dropped.  ``24:00`` is the next day's ``00:00``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        date_name, time_name = self.options.timestamp_column, self.options.time_column
        assert date_name is not None and time_name is not None
        dates = pc.cast(batch.column(date_name), pa.string())
        times = pc.utf8_trim_whitespace(pc.cast(batch.column(time_name), pa.string()))
        # Hour-ending files (TMY, many loggers) write the last hour of a day as 24:00.
        # Only that exact instant is the next day's 00:00: 24:30 is no time of any day,
        # and read as 00:30 it would be stored a day early, silently.
        ending = pc.fill_null(pc.match_substring_regex(times, r"^24(:?00){1,2}$"), False)
        past = pc.and_(pc.match_substring_regex(times, r"^24"), pc.invert(ending))
        if pc.any(past).as_py():
            first = pc.index(past, True).as_py()
            raise FormatError(
                f"{self.where()}{self._line(first)}, column {time_name!r}: "
                f"{times[first].as_py()!r} is past the end of the day; only 24:00 "
                "(the next day's 00:00) is read as an hour-ending time"
            )
        times = pc.replace_substring_regex(times, pattern=r"^24", replacement="00")
        joined = pc.binary_join_element_wise(dates, times, " ")
        parsed = self._parse_times(f"{date_name}+{time_name}", joined)
        day = pa.scalar(86_400_000_000, pa.int64())
        micros = pc.if_else(ending, pc.add(parsed.cast(pa.int64()), day), parsed.cast(pa.int64()))
        names = [n for n in batch.schema.names if n != time_name]
        arrays = [
            micros.cast(pa.timestamp("us")) if n == date_name else batch.column(n) for n in names
        ]
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def check_header(self, names: list[str]) -> None:
        for option, name in (
            ("timestamp_column", self.options.timestamp_column),
            ("time_column", self.options.time_column),
            *(("column_types", n) for n, _ in self.options.column_types),
        ):
            if name is not None and name not in names:
                # Written as the option's flag or YAML key by whoever shows the error.
                raise FormatError(
                    f"{self.where()}{missing_column('{' + option + '}', name, names)}",
                    options={option: ""},
                )
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
        explicit = self.options.timestamp_column or self.formatted
        if explicit is not None:
            return name == explicit
        return _usual_time_name(name)

    def _formatted_column(self, batch: pa.RecordBatch) -> str | None:
        """With a ``timestamp_format`` but no time column named, nor one of the usual
        names: the one column whose every value in the first block the format reads
        (``obs_date`` holding ``19580329``).  None, a FormatError saying what to pass when
        no column or several fit."""
        import pyarrow as pa
        import pyarrow.compute as pc

        fmt = self.options.timestamp_format
        names = batch.schema.names
        if fmt is None or self.options.timestamp_column or any(map(_usual_time_name, names)):
            return None
        fitting: list[str] = []
        for name, column in zip(names, batch.columns, strict=True):
            if not (pa.types.is_integer(column.type) or pa.types.is_string(column.type)):
                continue
            values = pc.drop_null(column.cast(pa.string()))
            if len(values) == 0 or "%f" in fmt:
                continue
            parsed = pc.strptime(values, format=fmt, unit="us", error_is_null=True)
            if parsed.null_count == 0:
                fitting.append(name)
        if len(fitting) == 1:
            return fitting[0]
        found = (
            f"reads columns {', '.join(map(repr, fitting))} alike"
            if fitting
            else f"reads no column's values (columns: {', '.join(names)})"
        )
        raise FormatError(
            f"{self.where()}{{timestamp_format}} {found}: name the time column with "
            "{timestamp_column}",
            options={"timestamp_format": (repr(fmt), repr(fmt)), "timestamp_column": ""},
        )

    def _column(self, name: str, column: pa.Array) -> pa.Array:
        import pyarrow as pa

        typ = column.type
        if pa.types.is_binary(typ):
            self._bad_text(name, column)
        if pa.types.is_date32(typ) and self._is_time_column(name):
            # A date-only time column: each day at midnight, local in ``tz``.  Several
            # rows of one date would all be stored at midnight: the times are elsewhere.
            self._check_one_row_per_date(name, column)
            return column.cast(pa.timestamp("s"))
        if (
            pa.types.is_integer(typ)
            and self.options.timestamp_format
            and self._is_time_column(name)
        ):
            # Compact dates (19580329) look like numbers to type inference.
            return self._parse_times(name, column.cast(pa.string()))
        if pa.types.is_string(typ):
            if self.options.timestamp_format and self._is_time_column(name):
                return self._parse_times(name, column)
            self._check_markers(name, column)
        return column

    def _row(self, index: int) -> int:
        return self.rows + index + 1

    def _line(self, index: int) -> str:
        """Where data row ``index`` of this batch is: its row and physical line numbers."""
        row = self._row(index)
        line = row + self.options.skip_rows + self.options.skip_rows_after_header
        line += 1 if self.options.has_header else 0
        return f"data row {row} (line {line})"

    def _check_one_row_per_date(self, name: str, column: pa.Array) -> None:
        import pyarrow.compute as pc

        days = pc.drop_null(column)
        if len(pc.unique(days)) == len(days):
            return
        counts = pc.value_counts(days)
        repeated = pc.filter(counts, pc.greater(pc.struct_field(counts, "counts"), 1))[0]
        day, count = repeated["values"].as_py(), repeated["counts"].as_py()
        raise FormatError(
            f"{self.where()}column {name!r} holds dates only, and {count} rows are on "
            f"{day}: stored, they would all be at midnight; name the time-of-day column "
            "with {time_column} (and the pair's {timestamp_format})",
            options={"time_column": "", "timestamp_format": ""},
        )

    def _bad_text(self, name: str, column: pa.Array) -> None:
        for i, value in enumerate(column.to_pylist()):
            if value is None:
                continue
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError(
                    f"{self.where()}{self._line(i)}, column {name!r}: not UTF-8 text "
                    f"({value[:20]!r}); name the file's encoding with {{encoding}} "
                    "(e.g. latin-1)",
                    options={"encoding": ""},
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
            f"{self.where()}{self._line(first)}, column {name!r}: {value!r} in a "
            "column of numbers; name it a missing value with {null_values} "
            "(or keep the column as text with {column_types})",
            options={
                "null_values": (value, f"[{value!r}]"),
                "column_types": (f"{name}=string", f"{{{name!r}: string}}"),
            },
        )

    def _parse_times(self, name: str, column: pa.Array) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        fmt = given = self.options.timestamp_format
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
                f"{self.where()}{self._line(first)}, column {name!r}: "
                f"{column[first].as_py()!r} does not match {{timestamp_format}}",
                options={"timestamp_format": (repr(given), repr(given))},
            )
        if fraction is not None:
            micros = pc.add(parsed.cast(pa.int64()), fraction)
            parsed = micros.cast(pa.timestamp("us"))
        return parsed


def _usual_time_name(name: str) -> bool:
    """Whether ``name`` is one of the names a time column is found by (any case)."""
    return name.lower() in {c.lower() for c in TIMESTAMP_CANDIDATES}


def missing_column(option: str, name: str, names: list[str]) -> str:
    """``option`` names a column that is not there: the message, with the real columns
    and the closest one."""
    import difflib

    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{option}: no column {name!r} (columns: {', '.join(names)}){hint}"


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
        raise FormatError(f"{reading.where()}cannot read the CSV: {flatten(str(exc))}") from None
    raise _Restart(_read_csv_whole(opener(), options, name, opener, quoted))


def _csv_error(
    exc: Exception, options: CsvOptions, name: str | None, opener: Callable[[], Any] | None
) -> FormatError:
    """Arrow's CSV error as one line naming the file and, where it can be found, the row
    and column."""
    where = f"{name}: " if name else ""
    message = flatten(str(exc))
    if message.startswith("Could not skip initial"):
        return FormatError(
            f"{where}{{skip_rows}}: the file has no header after {options.skip_rows} "
            "lines above it (it is shorter)",
            options={"skip_rows": (str(options.skip_rows), str(options.skip_rows))},
        )
    found = re.search(r"In CSV column #(\d+): .*?invalid value '(.*)'", message)
    if found and opener is not None and options.has_header:
        located = _locate_value(opener, options, int(found[1]), found[2])
        if located is not None:
            row, column = located
            line = row + options.skip_rows + options.skip_rows_after_header + 1
            return FormatError(
                f"{where}data row {row} (line {line}), column {column!r}: "
                f"cannot read {found[2]!r} "
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
        "name the file's encoding with {encoding} (e.g. latin-1, cp1252)",
        options={"encoding": ""},
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
            return write_parquet(
                iter(whole.to_batches()),
                require_timestamp,
                timestamp_column,
                schema=whole.schema,
                name=name,
            )
        batches = _prefetched(iter_csv(source, options, compression=compression, name=name))
        return write_parquet(batches, require_timestamp, timestamp_column, name=name)
    except _Restart as restart:
        table = restart.table
        return write_parquet(
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
