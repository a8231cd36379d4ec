"""Moving files between the host and the pond, and describing what is stored.

Copying in decides, per source, where it lands and what type it becomes;
tabular sources (CSV, Parquet, Arrow/pandas/polars frames) are stored as
Parquet with their schema, row count and (for series) event-time range.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, FormatError, InvalidPathError
from .tinyfs import FILE_DATA, FILE_SERIES, FILE_TABLE, WD, NodePath
from .tinyfs import paths as tpaths
from .tinyfs.persistence import DIRECTORY, DYNAMIC_FILE

if TYPE_CHECKING:
    import pyarrow as pa

FORMAT_TYPES = {"data": FILE_DATA, "table": FILE_TABLE, "series": FILE_SERIES}
TABULAR = (FILE_TABLE, FILE_SERIES)


def _pond_name(host: Path) -> str:
    name = host.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPathError(
            f"host file name is not valid UTF-8: {os.fsencode(host)!r}; rename it first"
        ) from None
    return name


def plan_copy_in(root: WD, sources: Sequence[Path], dest: str) -> Iterator[tuple[Path, str, bool]]:
    """Yield ``(host path, pond path, is directory)`` for everything a copy-in writes."""
    if not sources:
        raise ConfigError("nothing to copy: give at least one source")
    for src in sources:
        if not src.exists():
            raise FileNotFoundError(2, "no such host file or directory", str(src))
    dest_abs = tpaths.join(tpaths.normalize(dest))
    into_dir = root.exists(dest_abs) and root.get(dest_abs).is_dir()
    if not into_dir:
        if dest.endswith("/"):
            raise FileNotFoundError(2, "no such pond directory", dest_abs)
        if len(sources) > 1:
            raise NotADirectoryError(
                20, "several sources need an existing destination directory", dest_abs
            )
    # Every host name that becomes a pond name is checked before anything is read.
    # A file copied to a name of its own choosing may have any host name.
    for src in sources:
        if into_dir:
            _pond_name(src)
        if src.is_dir():
            _check_tree_names(src)
    for src in sources:
        target = (
            tpaths.join([*tpaths.normalize(dest_abs), _pond_name(src)]) if into_dir else dest_abs
        )
        if src.is_dir():
            yield from _plan_tree(src, target)
        else:
            yield src, target, False


def _check_tree_names(src: Path) -> None:
    for top, dirs, files in os.walk(src):
        for name in (*dirs, *files):
            _pond_name(Path(top, name))


def _plan_tree(src: Path, target: str) -> Iterator[tuple[Path, str, bool]]:
    yield src, target, True
    for child in sorted(src.iterdir(), key=lambda p: p.name):
        child_target = f"{target.rstrip('/')}/{_pond_name(child)}"
        if child.is_dir():
            yield from _plan_tree(child, child_target)
        else:
            yield child, child_target, False


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
    raise FormatError(
        f"cannot tell the format of {host.name}: name it .csv or .parquet, "
        "or keep its raw bytes with --format data"
    )


def store_file(root: WD, host: Path, pond_path: str, format: str, options: dict[str, Any]) -> bool:
    """Store one host file at ``pond_path``; False if the latest version already has these bytes."""
    existing = root.get(pond_path) if root.exists(pond_path) else None
    if existing is not None and existing.is_dir():
        raise IsADirectoryError(21, "a directory is in the way", existing.path)
    node_type = existing.node_type if existing is not None else FORMAT_TYPES[format]
    if node_type == DYNAMIC_FILE:
        raise FormatError(f"{pond_path} is computed by a factory and cannot be written")
    attributes: dict[str, Any] = {}
    event_range: tuple[int, int] | None = None
    if node_type in TABULAR:
        stored = to_parquet_from_host(host, node_type, options)
        if existing is not None and node_type == FILE_SERIES:
            check_series_append(existing, stored.schema)
        data = stored.data
        attributes = stored.attributes
        event_range = stored.event_range
    else:
        data = host.read_bytes()
    if existing is not None and existing.info().sha256 == hashlib.sha256(data).hexdigest():
        return False
    root.write_file(
        pond_path, data, node_type=node_type, attributes=attributes, event_range=event_range
    )
    return True


class Stored:
    """Parquet bytes ready to store, with the attributes and event range to record."""

    def __init__(
        self,
        data: bytes,
        attributes: dict[str, Any],
        event_range: tuple[int, int] | None,
        schema: pa.Schema,
    ):
        self.data = data
        self.attributes = attributes
        self.event_range = event_range
        self.schema = schema


def to_parquet_from_host(host: Path, node_type: str, options: dict[str, Any]) -> Stored:
    from .query import convert

    fmt = source_format(host, options.get("source_format"))
    series = node_type == FILE_SERIES
    if fmt == "csv":
        delimiter = options.get("delimiter")
        if delimiter is None and _data_suffix(host) == ".tsv":
            delimiter = "\t"
        converted = convert.csv_to_parquet(
            host,
            delimiter=delimiter,
            has_header=options.get("header", True),
            tz=options.get("tz"),
            timestamp_column=options.get("timestamp_column"),
            require_timestamp=series,
            compression=options.get("compression"),
        )
    elif fmt == "parquet":
        converted = convert.parquet_file(
            host, timestamp_column=options.get("timestamp_column"), require_timestamp=series
        )
    else:
        raise FormatError(f"cannot store {fmt} as a table: use CSV or Parquet, or --format data")
    return Stored(converted.data, converted.attributes(), converted.event_range, converted.schema)


def check_series_append(series: NodePath, schema: pa.Schema) -> None:
    """Refuse a version whose columns cannot be read together with the series' versions.

    Reading a series unifies its versions' schemas by column name (widening types where
    Arrow can); a version that cannot unify would make the whole series unreadable.
    The recorded schemas answer without reading content when the types agree, which is
    the common case; only versions that differ are read for their Parquet footers.
    """
    import pyarrow as pa

    from .query.convert import one_line

    new_types = {f.name: str(f.type) for f in schema}
    differing: list[int] = []
    for info in series.node.versions():
        columns = info.attributes.get("schema")
        if not isinstance(columns, list) or any(
            new_types.get(str(c["name"]), str(c["type"])) != str(c["type"]) for c in columns
        ):
            differing.append(info.version)
    if not differing:
        return
    schemas = [_version_schema(series, version) for version in differing]
    try:
        pa.unify_schemas([*schemas, schema], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise FormatError(
            f"{series.path}: the new version's columns do not match the series "
            f"({one_line(str(exc))}); fix the input, or store it as a new series"
        ) from None


def _version_schema(np: NodePath, version: int) -> pa.Schema:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.ParquetFile(pa.BufferReader(np.read_bytes(version))).schema_arrow


def store_tabular(
    root: WD, path: str, data: Any, node_type: str, timestamp_column: str | None
) -> None:
    """Write a frame as a new table or series, or a version of the existing one."""
    from .query import convert

    existing = root.get(path) if root.exists(path) else None
    if existing is not None and existing.node_type in TABULAR:
        # The node keeps its type, so a series is checked as a series whatever was asked.
        node_type = existing.node_type
    converted = convert.table_to_parquet(
        convert.as_arrow(data),
        timestamp_column=timestamp_column,
        require_timestamp=node_type == FILE_SERIES,
    )
    if existing is not None and node_type == FILE_SERIES:
        check_series_append(existing, converted.schema)
    root.write_file(
        path,
        converted.data,
        node_type=node_type,
        attributes=converted.attributes(),
        event_range=converted.event_range,
    )


def export_node(np: NodePath, host: Path) -> None:
    """Write one pond file to the host: raw bytes, or Parquet (a series' versions as one file)."""
    if np.node_type == FILE_SERIES and len(np.node.versions()) > 1:
        import pyarrow.parquet as pq

        from .query.engine import read_node

        pq.write_table(read_node(np), host)
        return
    host.write_bytes(np.read_bytes())


def describe_node(np: NodePath) -> dict[str, Any]:
    from .timeparse import from_micros, iso

    versions = np.node.versions()
    latest = versions[-1]
    out: dict[str, Any] = {
        "path": np.path,
        "type": np.node_type,
        "size": sum(v.size for v in versions) if np.node_type == FILE_SERIES else latest.size,
        "versions": len(versions),
        "rows": None,
        "columns": [],
        "min_event_time": None,
        "max_event_time": None,
    }
    if np.node_type == DIRECTORY or np.node_type not in TABULAR:
        return out
    from .query import convert

    # A series is all its versions together; a table is its latest version alone.
    current = versions if np.node_type == FILE_SERIES else [latest]
    out["rows"] = sum(convert.parquet_rows(np, v.version) for v in current)
    if np.node_type == FILE_SERIES:
        out["columns"] = convert.parquet_columns(np)
    else:
        recorded = latest.attributes.get("schema")
        out["columns"] = (
            recorded
            if isinstance(recorded, list)
            else convert.schema_json(_version_schema(np, latest.version))
        )
    mins = [v.min_event_time for v in current if v.min_event_time is not None]
    maxs = [v.max_event_time for v in current if v.max_event_time is not None]
    out["min_event_time"] = iso(from_micros(min(mins))) if mins else None
    out["max_event_time"] = iso(from_micros(max(maxs))) if maxs else None
    if latest.attributes.get("timestamp_column"):
        out["timestamp_column"] = latest.attributes["timestamp_column"]
    return out


def describe_url(root: WD | None, persistence: Any, url: str) -> dict[str, Any]:
    """``describe`` of a URL: what reading it yields (host URLs need no pond)."""
    from .query import convert, engine
    from .query.urls import parse_url
    from .timeparse import from_micros, iso

    parsed = parse_url(url)
    reader = engine.cat(root, url, persistence=persistence)
    schema = reader.schema
    column = convert.find_timestamp_column(schema)
    rows = 0
    low: int | None = None
    high: int | None = None
    for batch in reader:
        rows += batch.num_rows
        if column is not None and batch.num_rows:
            span = convert.event_range(batch, column)
            if span is not None:
                low = span[0] if low is None else min(low, span[0])
                high = span[1] if high is None else max(high, span[1])
    return {
        "path": url,
        "type": parsed.format,
        "size": None,
        "versions": None,
        "rows": rows,
        "columns": [{"name": f.name, "type": str(f.type)} for f in schema],
        "min_event_time": iso(from_micros(low)) if low is not None else None,
        "max_event_time": iso(from_micros(high)) if high is not None else None,
    }
