"""``[host+]format[+compression]:///path-or-glob``: naming data in the pond or on the host.

A bare path (no scheme) is a pond path, read according to its node type.
``host+`` reads the host filesystem and needs no pond.  Each format is a
reader in ``FORMATS``, looked up by name, that turns the URL into parts for
the engine (see ``sources``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, FormatError, flatten
from ..tinyfs import FILE_SERIES, FILE_TABLE, NodePath
from .canonical import canonical_batch, find_timestamp_column
from .csvread import CsvOptions, compression_for, read_csv
from .parquet import is_parquet
from .sources import (
    Part,
    PondReader,
    TimeRange,
    check_parquet_file,
    filter_table,
    host_paths,
    read_parquet_bytes,
    require_timestamp,
)

if TYPE_CHECKING:
    import pyarrow as pa

COMPRESSIONS = ("gzip", "zstd")

# A scheme is letters joined by '+', then ':', then the path; '///' keeps the path absolute.
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9]*(?:\+[A-Za-z0-9]+)*):(?P<rest>.*)$", re.S)


@dataclass(frozen=True)
class PondURL:
    """A parsed URL.  ``format`` None means "by what the data is" (node type or extension)."""

    path: str
    format: str | None = None
    compression: str | None = None
    host: bool = False
    # A path a glob already matched: never matched again as a pattern.
    literal: bool = False

    def __str__(self) -> str:
        words = (["host"] if self.host else []) + [w for w in (self.format, self.compression) if w]
        return f"{'+'.join(words)}://{self.path}" if words else self.path


def is_url(text: str) -> bool:
    """True for ``scheme:...`` text; a plain path (pond or host) is not a URL."""
    return not text.startswith("/") and _URL.match(text) is not None


def parse_url(text: str) -> PondURL:
    """Parse a URL or a bare pond path; a malformed one is a ``FormatError`` saying why."""
    if not is_url(text):
        if not text.startswith("/"):
            raise FormatError(f"not an absolute pond path or a URL: {text!r}")
        return PondURL(text)
    m = _URL.match(text)
    assert m is not None
    words = m["scheme"].lower().split("+")
    rest = m["rest"]
    host = words[0] == "host"
    if host:
        words = words[1:]
    fmt = words.pop(0) if words and words[0] in FORMATS else None
    compression = words.pop(0) if words and words[0] in COMPRESSIONS else None
    if words:
        raise ConfigError(
            f"unknown URL scheme word {words[0]!r} in {text!r}: formats are "
            f"{', '.join(FORMATS)}, compressions {', '.join(COMPRESSIONS)}, "
            "and host+ may come first"
        )
    if not rest.startswith("///"):
        raise FormatError(
            f"a URL's path must be absolute, written with three slashes "
            f"(e.g. {m['scheme']}:///data/file): {text!r}"
        )
    if not host and fmt is None:
        raise ConfigError(f"URL {text!r} names no format (one of {', '.join(FORMATS)})")
    path = rest[2:]
    if compression is not None and fmt in ("table", "series"):
        raise ConfigError(f"Parquet is compressed inside; {compression} does not apply: {text!r}")
    return PondURL(path, fmt, compression, host)


# -- readers ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadContext:
    """What a reader may use: the pond (absent for host-only reads), options, the range."""

    pond: PondReader | None
    time_range: TimeRange
    csv: CsvOptions
    # Every stored row of a series, in stored order, not merged by time (see sources).
    all_versions: bool = False


Reader = Callable[[PondURL, ReadContext], list[Part]]


def read_parts(url: PondURL, ctx: ReadContext) -> list[Part]:
    """The parts a URL names, in order, through the reader registered for its format."""
    if not url.host and ctx.pond is None:
        raise ConfigError(f"{url} is a pond path, and no pond is open")
    fmt = url.format or _format_from_name(url.path, url.host)
    reader = _read_auto if fmt is None else FORMATS[fmt]
    return reader(url, ctx)


def _format_from_name(path: str, host: bool) -> str | None:
    """A host file's format from its extension; pond nodes know their own type."""
    if not host:
        return None
    suffixes = [s.lower() for s in PurePosixPath(path).suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst"):
        suffixes = suffixes[:-1]
    for suffix in reversed(suffixes):
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
    raise FormatError(
        f"cannot tell the format of {path} from its name; "
        f"say it in the URL (host+csv:///..., host+table:///...)"
    )


_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "table",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def _compression_for(url: PondURL, name: str) -> str | None:
    return url.compression if url.compression is not None else compression_for(name)


def _stream(data: bytes | Path, compression: str | None) -> Any:
    """A readable Arrow stream over host file or pond bytes, decompressing if asked."""
    import pyarrow as pa

    raw = pa.BufferReader(data) if isinstance(data, bytes) else pa.OSFile(str(data))
    return raw if compression is None else pa.CompressedInputStream(raw, compression)


def _pond(ctx: ReadContext) -> PondReader:
    assert ctx.pond is not None
    return ctx.pond


def _text_sources(url: PondURL, ctx: ReadContext) -> list[tuple[str, bytes | Path]]:
    """(label, content) for every file a text-format URL names."""
    if url.host:
        return [(str(p), p) for p in host_paths(url.path)]
    pond = _pond(ctx)
    return [(np.path, pond.latest_bytes(np)) for np in pond.match(url.path, literal=url.literal)]


def _table_part(label: str, table: pa.Table, ctx: ReadContext) -> Part:
    column = find_timestamp_column(table.schema)
    require_timestamp(label, column, ctx.time_range)
    return Part(label, table=filter_table(table, column, ctx.time_range), timestamp_column=column)


def _read_csv(url: PondURL, ctx: ReadContext) -> list[Part]:
    parts = []
    for label, content in _text_sources(url, ctx):
        options = ctx.csv
        if label.lower().endswith((".tsv", ".tsv.gz", ".tsv.zst")) and options.delimiter == ",":
            options = dataclasses.replace(options, delimiter="\t")
        table = read_csv(content, options, compression=_compression_for(url, label))
        parts.append(_table_part(label, table, ctx))
    return parts


def _read_jsonl(url: PondURL, ctx: ReadContext) -> list[Part]:
    import pyarrow as pa
    import pyarrow.json as pjson

    parts = []
    for label, content in _text_sources(url, ctx):
        try:
            table = pjson.read_json(_stream(content, _compression_for(url, label)))
        except pa.ArrowInvalid as exc:
            raise FormatError(f"{label} is not valid JSON lines: {flatten(str(exc))}") from None
        batches = [canonical_batch(b, ctx.csv.tz) for b in table.to_batches()]
        if batches:
            table = pa.Table.from_batches(batches)
        parts.append(_table_part(label, table, ctx))
    return parts


def _read_parquet_format(url: PondURL, ctx: ReadContext, series: bool) -> list[Part]:
    if url.host:
        parts = []
        for path in host_paths(url.path):
            check_parquet_file(path)
            parts.append(_host_parquet_part(path, ctx))
        return parts
    pond = _pond(ctx)
    out: list[Part] = []
    for np in pond.match(url.path):
        if series:
            out.extend(pond.series_parts(np, ctx.time_range, all_versions=ctx.all_versions))
        else:
            out.append(pond.table_part(np, ctx.time_range))
    return out


def _host_parquet_part(path: Path, ctx: ReadContext) -> Part:
    import pyarrow.parquet as pq

    column = find_timestamp_column(pq.read_schema(path))
    require_timestamp(str(path), column, ctx.time_range)
    return Part(str(path), path=path, timestamp_column=column)


def _read_table(url: PondURL, ctx: ReadContext) -> list[Part]:
    return _read_parquet_format(url, ctx, series=False)


def _read_series(url: PondURL, ctx: ReadContext) -> list[Part]:
    return _read_parquet_format(url, ctx, series=True)


def _read_file(url: PondURL, ctx: ReadContext) -> list[Part]:
    raise FormatError(
        f"{url} names raw bytes, not a table; to query it, say how to read it "
        "(csv://, jsonl://, table://, series://)"
    )


def _read_auto(url: PondURL, ctx: ReadContext) -> list[Part]:
    """A pond path or glob, each match read as its node type says."""
    pond = _pond(ctx)
    out: list[Part] = []
    for np in pond.match(url.path):
        out.extend(_node_parts(np, url, ctx))
    return out


def _node_parts(np: NodePath, url: PondURL, ctx: ReadContext) -> list[Part]:
    pond = _pond(ctx)
    if np.node_type == FILE_SERIES:
        return pond.series_parts(np, ctx.time_range, all_versions=ctx.all_versions)
    if np.node_type == FILE_TABLE:
        return [pond.table_part(np, ctx.time_range)]
    if np.is_tabular():
        # A dynamic table: its schema and batches, never bytes to sniff.
        return [pond.dynamic_part(np, ctx.time_range)]
    # Raw data and dynamic bytes: the name decides; stored raw data may also be Parquet.
    one = PondURL(np.path, None, url.compression, False, literal=True)
    name = np.path.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    fmt = _EXTENSIONS.get(PurePosixPath(name).suffix)
    if fmt in ("csv", "jsonl"):
        return FORMATS[fmt](one, ctx)
    data = pond.latest_bytes(np)
    if not np.is_dynamic() and is_parquet(data):
        return [_table_part(np.path, read_parquet_bytes(data, np.path), ctx)]
    raise FormatError(
        f"{np.path} is {np.node_type} and not Parquet, CSV or JSON lines; "
        "it cannot be read as a table"
    )


FORMATS: dict[str, Reader] = {
    "file": _read_file,
    "table": _read_table,
    "series": _read_series,
    "csv": _read_csv,
    "jsonl": _read_jsonl,
}


def read_url(
    text: str,
    *,
    pond: PondReader | None = None,
    time_range: TimeRange | None = None,
    csv: CsvOptions | None = None,
) -> pa.Table:
    """Read a URL (or bare pond path) whole into one Arrow table, parts unioned by name."""
    import pyarrow as pa

    from .sources import scan_parts, unified_schema

    ctx = ReadContext(pond, time_range or TimeRange(), csv or CsvOptions())
    parts = read_parts(parse_url(text), ctx)
    schema = unified_schema(parts)
    return pa.Table.from_batches(list(scan_parts(parts, ctx.time_range)), schema=schema)
