"""``CopyOptions``: how host files are read into the pond.

One typed model for every way host files come in: the flags of ``pond copy``
and the ``csv`` field of the Inbox resource's YAML (PIPELINE.md) are both this
model, so an option added here is an option everywhere.  It is a standard
dataclass, checked in ``__post_init__``, so that ``pond copy`` does not pay for
importing pydantic; pydantic validates it as a field of a resource spec (with
unknown fields refused, by ``__pydantic_config__``) and runs the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..query.csvread import CsvOptions

SourceFormat = Literal["csv", "parquet"]
Compression = Literal["gzip", "zstd"]
# How a local time in a fall-back hour is read (query.canonical.to_utc_micros_type).
DstPolicy = Literal["error", "earliest", "latest", "row-order"]
# What a column may be read as (query.csvread.COLUMN_TYPES).
ColumnType = Literal["string", "int64", "float64", "bool", "timestamp", "date"]


class OptionError(ConfigError):
    """A bad option value; ``field`` names the option, ``problem`` says what is wrong.

    The message says ``{field}`` and any option ``problem`` names as ``{name}``
    (``errors.render_options``), so ``pond copy`` shows flags and a resource its keys.
    """

    def __init__(self, field: str, problem: str, *others: str) -> None:
        super().__init__(f"{{{field}}}: {problem}", options=dict.fromkeys((field, *others), ""))
        self.field = field
        self._problem = problem

    @property
    def problem(self) -> str:
        """What is wrong, with options as a resource's keys (a resource's error names
        ``field`` itself)."""
        from ..errors import render_options

        return render_options(self._problem, self.options, cli=False)


@dataclass(frozen=True)
class CopyOptions:
    """How to read a host CSV or Parquet file into a table or series.

    - ``source_format``: ``csv`` or ``parquet``; None means by extension
      (``.csv``/``.tsv``, ``.parquet``/``.pq``, under ``.gz``/``.zst``).
    - ``compression``: ``gzip`` or ``zstd``; None means by extension.
    - ``delimiter``: one character; None means ``,`` (``\\t`` for ``.tsv``).
    - ``header``: whether the first row names the columns.
    - ``tz``: the IANA zone (or fixed offset) of timestamps written without
      one; None means UTC.  Stored times are always ``timestamp[us, UTC]``.
    - ``timestamp_column``: the event-time column of a series; None means the
      first of the usual names (``timestamp``, ``time``, ``datetime``...).
    - ``encoding``: the CSV's text encoding (a Python codec name such as
      ``latin-1``); None means UTF-8.
    - ``decimal``: the decimal mark, ``.`` or ``,`` (``11,5`` with ``;`` separators).
    - ``column_types``: column name to type (``string``, ``int64``, ``float64``,
      ``bool``, ``timestamp``, ``date``), e.g. ``{site: string}`` keeps ``01646500``.
    - ``timestamp_format``: a strptime format of the time column, e.g.
      ``%Y/%m/%d %H:%M:%S.%f`` (``%f``, fractions of a second, only at the end).
    - ``time_column``: a column of times of day joined to ``timestamp_column``'s
      dates (TMY's ``Date (MM/DD/YYYY)`` and ``Time (HH:MM)``; ``24:00`` is the next
      day's midnight), the pair read by ``timestamp_format`` (date, space, time).
    - ``skip_rows``: lines above the header (a logger's station metadata).
    - ``skip_rows_after_header``: rows under the header that are not data (units).
    - ``null_values``: cells meaning "missing" besides the empty cell (``NA``...);
      without them ``NA`` in a text column is text, and in a column of numbers an error.
    - ``dst``: a local time in a fall-back hour: ``error``, ``earliest``,
      ``latest``, or ``row-order`` (first occurrence the earlier offset, a repeat
      after the clock went back the later one).

    Raises ``ConfigError`` naming the field for a bad value.
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    source_format: SourceFormat | None = None
    compression: Compression | None = None
    delimiter: str | None = None
    header: bool = True
    tz: str | None = None
    timestamp_column: str | None = None
    encoding: str | None = None
    decimal: str = "."
    column_types: dict[str, ColumnType] = field(default_factory=dict)
    timestamp_format: str | None = None
    skip_rows_after_header: int = 0
    null_values: tuple[str, ...] = ()
    dst: DstPolicy = "error"
    time_column: str | None = None
    skip_rows: int = 0

    def __post_init__(self) -> None:
        _one_of("source_format", self.source_format, get_args(SourceFormat))
        _one_of("compression", self.compression, get_args(Compression))
        if self.delimiter is not None and len(self.delimiter) != 1:
            problem = f"a CSV delimiter is one character, not {self.delimiter!r}"
            raise OptionError("delimiter", problem)
        if not isinstance(self.header, bool):
            raise OptionError("header", f"true or false, not {self.header!r}")
        if self.tz is not None:
            from ..query.canonical import check_zone

            try:
                check_zone(self.tz)
            except ConfigError as exc:
                raise OptionError("tz", str(exc)) from None
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise OptionError("encoding", f"unknown encoding {self.encoding!r}") from None
        if self.decimal not in (".", ","):
            raise OptionError("decimal", f"'.' or ',', not {self.decimal!r}")
        if self.decimal == (self.delimiter or ","):
            raise OptionError("decimal", "the decimal mark cannot be the delimiter too")
        for name, typ in self.column_types.items():
            if typ not in get_args(ColumnType):
                choices = ", ".join(get_args(ColumnType))
                problem = f"column {name!r}: {typ!r} is not one of {choices}"
                raise OptionError("column_types", problem)
        fmt = self.timestamp_format
        if fmt is not None and ("%" not in fmt or "%f" in fmt[:-2] or fmt == "%f"):
            problem = f"a strptime format with %f only at the end, not {fmt!r}"
            raise OptionError("timestamp_format", problem)
        for name in ("skip_rows", "skip_rows_after_header"):
            skip = getattr(self, name)
            if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
                raise OptionError(name, f"a count of rows, not {skip!r}")
        if self.time_column is not None and (
            self.timestamp_column is None or self.timestamp_format is None
        ):
            problem = (
                "the times of day are joined to {timestamp_column}'s dates and read with "
                "{timestamp_format} (e.g. '%m/%d/%Y %H:%M'): give both"
            )
            raise OptionError("time_column", problem, "timestamp_column", "timestamp_format")
        if any(not isinstance(v, str) or v == "" for v in self.null_values):
            raise OptionError("null_values", "each marker is non-empty text")
        _one_of("dst", self.dst, get_args(DstPolicy))

    def set_fields(self, *, reading_only: bool = False) -> list[str]:
        """The names of the options given a value other than their default, in field
        order; ``reading_only`` leaves out ``source_format`` and ``compression`` (what a
        ``host+csv+gz://`` URL says, which raw bytes may carry too)."""
        blank = CopyOptions()
        skipped = ("source_format", "compression") if reading_only else ()
        return [
            f.name
            for f in fields(self)
            if f.name not in skipped and getattr(self, f.name) != getattr(blank, f.name)
        ]

    def csv(self, delimiter: str | None = None) -> CsvOptions:
        """The CSV reading options these say (``delimiter`` when the options leave it open)."""
        from ..query.csvread import CsvOptions

        return CsvOptions(
            delimiter=self.delimiter or delimiter or ",",
            has_header=self.header,
            tz=self.tz,
            encoding=self.encoding,
            decimal=self.decimal,
            column_types=tuple(self.column_types.items()),
            timestamp_format=self.timestamp_format,
            timestamp_column=self.timestamp_column,
            skip_rows_after_header=self.skip_rows_after_header,
            null_values=tuple(self.null_values),
            dst=self.dst,
            time_column=self.time_column,
            skip_rows=self.skip_rows,
        )

    @classmethod
    def build(cls, **values: Any) -> CopyOptions:
        """The options from keyword values; ``ConfigError`` naming an unknown or bad field."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**values)


def _one_of(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value is not None and value not in allowed:
        choices = ", ".join(str(a) for a in allowed)
        raise OptionError(name, f"{value!r} is not one of {choices}")
