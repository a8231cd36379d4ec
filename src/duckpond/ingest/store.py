"""Storing host files and frames as pond file versions.

Tabular sources (CSV, Parquet, Arrow/pandas/polars frames) are stored as
Parquet with their schema, row count and (for series) event-time range;
anything else is kept as raw bytes.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, FormatError
from ..tinyfs import FILE_DATA, FILE_SERIES, FILE_TABLE, WD, NodePath, VersionInfo
from ..tinyfs.persistence import DYNAMIC_FILE

if TYPE_CHECKING:
    import pyarrow as pa

    from .options import CopyOptions

FORMAT_TYPES = {"data": FILE_DATA, "table": FILE_TABLE, "series": FILE_SERIES}
TABULAR = (FILE_TABLE, FILE_SERIES)


def _data_suffix(host: Path) -> str:
    """The extension that names the format, under any compression: ``a.tsv.gz`` -> ``.tsv``."""
    suffixes = [s.lower() for s in host.suffixes]
    while suffixes and suffixes[-1] in (".gz", ".zst"):
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def source_format(host: Path, declared: str | None) -> str:
    """``csv`` or ``parquet``: from the URL's format if given, else from the file's extension."""
    if declared:
        return declared
    suffix = _data_suffix(host)
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    # The way in that works, in the words of whoever reads the error: a host+csv URL
    # to pond copy, the csv: key to an Inbox (a Campbell .dat, a logger's .txt).
    url = f"host+csv://{host.absolute()}"
    raise FormatError(
        f"cannot tell the format of {host.name}: name it .csv or .parquet, or read it "
        "as CSV with {source_format} (or keep its raw bytes with {format})",
        options={"source_format": (url, "csv"), "format": ("data", "data")},
    )


def store_file(
    root: WD,
    host: Path,
    pond_path: str,
    format: str | None,
    options: CopyOptions,
    warnings: list[str] | None = None,
) -> bool:
    """Store one host file at ``pond_path``; False if the latest version already has these bytes.

    What is stored but worth a look (rows of a series at equal times) is appended to
    ``warnings``, one line per file.

    ``format`` (data, table or series; None means data) is what a new node becomes; an
    existing node keeps its type, and a ``format`` naming another type is a ``ConfigError``.
    Raises ``FormatError`` for unreadable input or a version that does not fit its series.
    """
    existing = root.get(pond_path) if root.exists(pond_path) else None
    if existing is not None and existing.is_dir():
        raise IsADirectoryError(21, "a directory is in the way", existing.path)
    if existing is None:
        node_type = FORMAT_TYPES[format or "data"]
    else:
        node_type = existing.node_type
        if format is not None and FORMAT_TYPES[format] != node_type:
            raise ConfigError(
                f"{existing.path} is a {node_type}: cannot add a version of format {format}"
            )
    if node_type == DYNAMIC_FILE:
        raise FormatError(f"{pond_path} is computed by a factory and cannot be written")
    given = options.set_fields(reading_only=True)
    if node_type not in TABULAR and given:
        # Raw bytes are kept as they are: a CSV option would silently do nothing.
        named = ", ".join("{" + name + "}" for name in given)
        raise ConfigError(
            f"{host.name}: {named} read CSV into a table or series, but {pond_path} would "
            "be stored as raw bytes, where they do nothing: give {format} or table "
            "(or leave them out)",
            options={**dict.fromkeys(given, ""), "format": ("series", "series")},
        )
    attributes: dict[str, Any] = {}
    event_range: tuple[int, int] | None = None
    if node_type in TABULAR:
        stored = to_parquet_from_host(host, node_type, options)
        data = stored.data
        attributes = stored.attributes
        if node_type == FILE_SERIES:
            timestamp_column = stored.attributes["timestamp_column"]
            from_csv = source_format(host, options.source_format) == "csv"
            seen = (
                SchemasSeen.of_new_series()
                if existing is None
                else check_series_append(
                    existing,
                    stored.schema,
                    timestamp_column,
                    csv_rows=stored.data if from_csv else None,
                )
            )
            attributes = seen.for_next(attributes)
        event_range = stored.event_range
        if stored.duplicate_times and warnings is not None:
            warnings.append(duplicate_times_warning(host, stored.duplicate_times))
    else:
        data = host.read_bytes()
    if existing is not None and existing.info().sha256 == hashlib.sha256(data).hexdigest():
        return False
    root.write_file(
        pond_path, data, node_type=node_type, attributes=attributes, event_range=event_range
    )
    return True


@dataclass(frozen=True)
class Stored:
    """Parquet bytes ready to store, with the attributes and event range to record."""

    data: bytes
    attributes: dict[str, Any]
    event_range: tuple[int, int] | None
    schema: pa.Schema
    # Rows of a series whose time equals an earlier row's (stored all the same).
    duplicate_times: int = 0


def duplicate_times_warning(host: Path, count: int) -> str:
    """The one-line warning for ``count`` rows of ``host`` at a time seen before in it."""
    return f"{host}: {count} row(s) with the same time as an earlier row (all stored)"


def to_parquet_from_host(
    host: Path, node_type: str, options: CopyOptions, *, content: bytes | None = None
) -> Stored:
    """Parquet for a host CSV or Parquet file, read as ``options`` say.

    ``content`` is the file's bytes when the caller has read them already (through
    a checked open file): ``host`` then only names the file and its format.
    """
    from ..query import csvread, parquet

    fmt = source_format(host, options.source_format)
    # From the name when not given: bytes read already (an Inbox's) carry no name, and
    # gzip read as text fails on its magic byte.
    compression = options.compression or csvread.compression_for(host.name)
    series = node_type == FILE_SERIES
    if fmt == "csv":
        delimiter = options.delimiter
        if delimiter is None and _data_suffix(host) == ".tsv":
            delimiter = "\t"
        converted = csvread.csv_to_parquet(
            host if content is None else content,
            options=options.csv(delimiter),
            require_timestamp=series,
            compression=compression,
        )
    elif fmt == "parquet":
        converted = parquet.check_parquet(
            host.read_bytes() if content is None else content,
            timestamp_column=options.timestamp_column,
            require_timestamp=series,
            tz=options.tz,
            name=str(host),
        )
    else:
        raise FormatError(
            f"cannot store {fmt} as a table: use CSV or Parquet, or {{format}}",
            options={"format": "data"},
        )
    attributes = converted.attributes()
    if fmt == "csv" and (options.skip_rows or options.skip_rows_after_header):
        above, below = _header_lines(host, content, options)
        if above:
            attributes["preamble"] = above
        if below:
            attributes["below_header"] = below
    return Stored(
        converted.data,
        attributes,
        converted.event_range,
        converted.schema,
        converted.duplicate_times,
    )


PREAMBLE_LINES = 32
PREAMBLE_CHARS = 1024
# Decompressed bytes looked at for them: 34 lines of 1 KiB and more.
_HEAD_BYTES = 64 * 1024


def _header_lines(
    host: Path, content: bytes | None, options: CopyOptions
) -> tuple[list[str], list[str]]:
    """The lines a CSV's reading skipped, kept with the node as its metadata: those
    above the header (a logger's station line) and those under it (TOA5's units and
    processing), at most ``PREAMBLE_LINES`` each, each cut to ``PREAMBLE_CHARS``.

    Read from the bytes converted (``content``, else the file), decompressed as the
    reading was, so every way in keeps the same lines."""
    import pyarrow as pa

    from ..query.csvread import compression_for

    compression = options.compression or compression_for(host.name)
    try:
        raw = pa.BufferReader(content) if content is not None else pa.OSFile(str(host))
        with pa.CompressedInputStream(raw, compression) if compression else raw as stream:
            head = stream.read(_HEAD_BYTES)
        text = head.decode(options.encoding or "utf-8", errors="replace")
    except (OSError, LookupError, pa.ArrowException):
        return [], []
    lines = [line[:PREAMBLE_CHARS] for line in text.splitlines()]
    above = lines[: min(options.skip_rows, PREAMBLE_LINES)]
    start = options.skip_rows + (1 if options.header else 0)
    below = lines[start : start + min(options.skip_rows_after_header, PREAMBLE_LINES)]
    return above, below


SCHEMAS_SEEN = "schemas_seen"
"""The attribute, on a series version written through ``check_series_append``'s answer,
that lets the next append be checked without reading every version: ``{"since": the
oldest version it covers, "through": its own version, "seen": [[version, columns], ...]
(each distinct recorded schema, with the first version that has it, in order),
"unrecorded": [versions without a recorded schema]}``."""

# Distinct schemas and unrecorded versions a summary carries at most: a series whose
# versions keep changing columns stops carrying one and is checked version by version.
_SEEN_LIMIT = 64


@dataclass(frozen=True)
class SchemasSeen:
    """The recorded schemas of a series' versions ``since`` to ``through`` (see
    ``SCHEMAS_SEEN``), which ``check_series_append`` answers with."""

    since: int
    through: int
    seen: tuple[tuple[int, list[Any]], ...]
    unrecorded: tuple[int, ...]

    @classmethod
    def of_new_series(cls) -> SchemasSeen:
        """What a series created now starts from (its first version is 1)."""
        return cls(1, 0, (), ())

    def for_next(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """``attributes`` of the version written next (number ``through + 1``) with
        ``SCHEMAS_SEEN`` added, or left out when the series has too many schemas."""
        version = self.through + 1
        columns = attributes.get("schema")
        seen, unrecorded = list(self.seen), list(self.unrecorded)
        if not isinstance(columns, list):
            unrecorded.append(version)
        elif all(known != columns for _, known in seen):
            seen.append((version, columns))
        out = {k: v for k, v in attributes.items() if k != SCHEMAS_SEEN}
        if len(seen) + len(unrecorded) <= _SEEN_LIMIT:
            out[SCHEMAS_SEEN] = {
                "since": self.since,
                "through": version,
                "seen": [[v, c] for v, c in seen],
                "unrecorded": unrecorded,
            }
        return out


def _recorded_seen(series: NodePath, latest: VersionInfo) -> SchemasSeen | None:
    """The newest version's summary if it covers every version stored now, else None.

    It does when it names the newest version as its own (a writer that copied another
    version's attributes, or wrote none, breaks the chain) and starts at the oldest
    (``pond maintain`` consolidating the older versions moves that).
    """
    record = latest.attributes.get(SCHEMAS_SEEN)
    if not isinstance(record, dict):
        return None
    since, through = record.get("since"), record.get("through")
    seen, unrecorded = record.get("seen"), record.get("unrecorded")
    if not (
        isinstance(since, int)
        and through == latest.version
        and isinstance(seen, list)
        and isinstance(unrecorded, list)
        and all(isinstance(v, int) for v in unrecorded)
        and all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], int) and isinstance(e[1], list)
            for e in seen
        )
    ):
        return None
    if series.node.oldest().version != since:
        return None
    return SchemasSeen(since, through, tuple((e[0], e[1]) for e in seen), tuple(unrecorded))


def _differs(columns: Any, new_types: Mapping[str, str]) -> bool:
    """Whether a version with recorded ``columns`` must be read to tell if it unifies:
    no recorded schema, or a column of the new version's name with another type."""
    return not isinstance(columns, list) or any(
        new_types.get(str(c["name"]), str(c["type"])) != str(c["type"]) for c in columns
    )


def check_series_append(
    series: NodePath,
    schema: pa.Schema,
    timestamp_column: str | None = None,
    *,
    csv_rows: bytes | None = None,
) -> SchemasSeen:
    """Refuse a version whose columns cannot be read together with the series' versions,
    or whose time column is not the series' (its rows would have no time there).

    Reading a series unifies its versions' schemas by column name (widening types where
    Arrow can); a version that cannot unify would make the whole series unreadable.
    The recorded schemas answer without reading content when the types agree, which is
    the common case; only versions that differ are read for their Parquet footers.

    The distinct recorded schemas come from the newest version's ``SCHEMAS_SEEN`` when it
    covers the series (O(1) in the number of versions; one footer read per distinct
    schema that differs), else from every version's attributes; either way the answer,
    and the error, are the same.  Returns what the version written next records
    (``SchemasSeen.for_next``).  Raises ``FormatError`` (one line) to refuse, naming
    each column whose types conflict (the first few, then how many more) with its type
    in the series and in the new version (``in_words``).  ``csv_rows``: the new version's
    Parquet bytes when it was read from CSV; where text came for numbers, the error then
    names a value that is not a number and the CSV option that reads it as missing
    (``null_values``, ``column_types``).
    """
    import pyarrow as pa

    from ..errors import flatten
    from .versions import version_schema

    latest = series.info()
    current = latest.attributes.get("timestamp_column")
    if timestamp_column is not None and current and timestamp_column != current:
        raise FormatError(
            f"{series.path}: the new version's time column is {timestamp_column!r}, "
            f"the series' is {current!r}; rename the column to {current!r}"
        )
    new_types = {f.name: str(f.type) for f in schema}
    summary = _recorded_seen(series, latest)
    differing: list[int] = []
    if summary is not None:
        # One version per distinct schema: versions with equal recorded schemas have
        # equal footers' types, and unifying a schema twice changes nothing.
        differing = sorted(
            [v for v, columns in summary.seen if _differs(columns, new_types)]
            + list(summary.unrecorded)
        )
    else:
        versions = series.node.versions()
        seen: list[tuple[int, list[Any]]] = []
        unrecorded: list[int] = []
        for info in versions:
            columns = info.attributes.get("schema")
            if _differs(columns, new_types):
                differing.append(info.version)
            if not isinstance(columns, list):
                unrecorded.append(info.version)
            elif all(known != columns for _, known in seen):
                seen.append((info.version, columns))
        summary = SchemasSeen(versions[0].version, latest.version, tuple(seen), tuple(unrecorded))
    if differing:
        schemas = [version_schema(series, version) for version in differing]
        try:
            pa.unify_schemas([*schemas, schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            conflicts = _conflicts(schemas, schema)
            if not conflicts:
                raise FormatError(
                    f"{series.path}: the new version's columns do not match the series "
                    f"({flatten(str(exc))}); fix the input, or store it as a new series"
                ) from None
            raise _mismatch(series.path, conflicts, csv_rows) from None
    return summary


# Columns a type-mismatch error describes one by one; the rest are counted.
_NAMED_CONFLICTS = 3


def in_words(t: pa.DataType) -> str:
    """An Arrow type as a person reads it, the type itself after: ``integer (int64)``,
    ``number (double)``, ``text (string)``, ``time (timestamp[us, tz=UTC])``; a type
    without such a word is given as Arrow names it."""
    import pyarrow.types as pt

    kinds = (
        (pt.is_integer, "integer"),
        (lambda t: pt.is_floating(t) or pt.is_decimal(t), "number"),
        (_is_text, "text"),
        (pt.is_timestamp, "time"),
        (pt.is_date, "date"),
        (pt.is_time, "time of day"),
        (pt.is_boolean, "true/false"),
        (lambda t: pt.is_binary(t) or pt.is_large_binary(t) or pt.is_binary_view(t), "bytes"),
    )
    word = next((word for test, word in kinds if test(t)), None)
    return str(t) if word is None else f"{word} ({t})"


def _is_text(t: pa.DataType) -> bool:
    import pyarrow.types as pt

    return bool(pt.is_string(t) or pt.is_large_string(t) or pt.is_string_view(t))


def _conflicts(
    schemas: list[pa.Schema], schema: pa.Schema
) -> list[tuple[str, pa.DataType, pa.DataType]]:
    """(column, its type in the series, its type in ``schema``) for each column of
    ``schema`` that cannot be read together with the series' column of that name, in
    ``schema``'s order.  The series' type is its versions' (``schemas``) unified, as a
    read gives it; versions that do not unify among themselves are compared one by one."""
    import pyarrow as pa

    try:
        olds = [pa.unify_schemas(schemas, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        olds = schemas
    found = []
    for new in schema:
        for old in olds:
            i = old.get_field_index(new.name)
            if i < 0:
                continue
            try:
                pa.unify_schemas(
                    [pa.schema([old.field(i)]), pa.schema([new])], promote_options="permissive"
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                found.append((new.name, old.field(i).type, new.type))
                break
    return found


def _not_a_number(csv_rows: bytes, column: str) -> str | None:
    """The first value of ``column`` (text) in Parquet ``csv_rows`` that does not read as
    a number, None if every one does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = pq.read_table(pa.BufferReader(csv_rows), columns=[column]).column(0)
    for value in values.drop_null().unique().to_pylist():
        try:
            float(value)
        except (TypeError, ValueError):
            return str(value)
    return None


def _mismatch(
    path: str, conflicts: list[tuple[str, pa.DataType, pa.DataType]], csv_rows: bytes | None
) -> FormatError:
    """The one-line error naming each conflicting column (the first few, then a count),
    its type in the series and in the new version; where text came for numbers, how to
    read it as numbers (from CSV: the marker to name with ``null_values``)."""
    import pyarrow.types as pt

    said = [
        f"{name!r} is {in_words(new)} where the series has {in_words(old)}"
        for name, old, new in conflicts[:_NAMED_CONFLICTS]
    ]
    more = len(conflicts) - len(said)
    if len(conflicts) == 1:
        text = f"{path}: the new version's column {said[0]}"
    else:
        text = f"{path}: {len(conflicts)} of the new version's columns do not match the series: "
        text += ", ".join(said) + (f", and {more} more" if more else "")
    options: dict[str, tuple[str, str]] = {}
    texts = [
        (name, old)
        for name, old, new in conflicts
        if (pt.is_integer(old) or pt.is_floating(old)) and _is_text(new)
    ]
    if texts and csv_rows is not None:
        name, old = texts[0]
        as_type = "int64" if pt.is_integer(old) else "float64"
        value = _not_a_number(csv_rows, name)
        if value is not None:
            options["null_values"] = (shlex.quote(value), f"[{value!r}]")
            text += (
                f"; {value!r} in column {name!r} is not a number: if it means no value, "
                "name it a missing value with {null_values}"
            )
        else:
            options["column_types"] = (f"{name}={as_type}", f"{{{name!r}: {as_type}}}")
            text += f"; read column {name!r} as numbers with {{column_types}}"
    elif texts:
        text += f"; give column {texts[0][0]!r} as numbers (no value as null)"
    return FormatError(
        text + "; fix the input, or store it as a new series", path=path, options=options
    )


def store_tabular(
    root: WD, path: str, data: Any, node_type: str, timestamp_column: str | None
) -> None:
    """Write a frame as a new table or series, or a version of the existing one."""
    from ..query import parquet

    existing = root.get(path) if root.exists(path) else None
    if existing is not None and existing.node_type in TABULAR:
        # The node keeps its type, so a series is checked as a series whatever was asked.
        node_type = existing.node_type
    converted = parquet.table_to_parquet(
        parquet.as_arrow(data),
        timestamp_column=timestamp_column,
        require_timestamp=node_type == FILE_SERIES,
    )
    attributes = converted.attributes()
    if node_type == FILE_SERIES:
        seen = (
            SchemasSeen.of_new_series()
            if existing is None
            else check_series_append(existing, converted.schema, converted.timestamp_column)
        )
        attributes = seen.for_next(attributes)
    root.write_file(
        path,
        converted.data,
        node_type=node_type,
        attributes=attributes,
        event_range=converted.event_range,
    )
