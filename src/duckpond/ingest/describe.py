"""What ``pond describe`` reports: type, versions, rows, schema, event-time range.

``size`` is every version's bytes together for a series (all of them are read) and
the latest version's for anything else; ``size_of`` says which, and ``latest_size``
is always the latest version's.  ``rows`` is what a read returns (newer versions'
rows replacing older ones' at the same times); ``stored_rows`` every stored row.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from ..tinyfs import FILE_SERIES, WD, NodePath, TableOutput, VersionInfo
from ..tinyfs.persistence import DIRECTORY, DYNAMIC_FILE, RESOURCE
from .store import TABULAR
from .versions import parquet_columns, parquet_rows, version_schema

DERIVATION_KEY = b"duckpond.describe"
"""The schema metadata key under which a computed table says what it was computed from."""


def describe_node(np: NodePath) -> dict[str, Any]:
    from ..timeparse import from_micros, iso

    versions = np.node.versions()
    latest = versions[-1]
    out: dict[str, Any] = {
        "path": np.path,
        "type": np.node_type,
        "size": sum(v.size for v in versions) if np.node_type == FILE_SERIES else latest.size,
        "size_of": "all versions" if np.node_type == FILE_SERIES else "latest version",
        "latest_size": latest.size,
        "versions": len(versions),
        "rows": None,
        "columns": [],
        "min_event_time": None,
        "max_event_time": None,
    }
    if np.node_type == DYNAMIC_FILE:
        return _describe_dynamic(np, out)
    if np.node_type == RESOURCE:
        # A pipeline resource: its validated document (secrets as references).
        out["document"] = json.loads(np.read_bytes())
    if np.node_type == DIRECTORY or np.node_type not in TABULAR:
        return out
    from ..query import canonical

    # A series is all its versions together; a table is its latest version alone.
    current = versions if np.node_type == FILE_SERIES else [latest]
    stored = sum(parquet_rows(np, v.version) for v in current)
    out["stored_rows"] = stored
    out["rows"] = _read_rows(np) if _overlapping(current) else stored
    if np.node_type == FILE_SERIES:
        out["columns"] = parquet_columns(np)
    else:
        recorded = latest.attributes.get("schema")
        out["columns"] = (
            recorded
            if isinstance(recorded, list)
            else canonical.schema_json(version_schema(np, latest.version))
        )
    mins = [v.min_event_time for v in current if v.min_event_time is not None]
    maxs = [v.max_event_time for v in current if v.max_event_time is not None]
    out["min_event_time"] = iso(from_micros(min(mins))) if mins else None
    out["max_event_time"] = iso(from_micros(max(maxs))) if maxs else None
    if latest.attributes.get("timestamp_column"):
        out["timestamp_column"] = latest.attributes["timestamp_column"]
    for kept in ("preamble", "below_header"):
        if latest.attributes.get(kept):
            out[kept] = latest.attributes[kept]
    return out


def _overlapping(versions: list[VersionInfo]) -> bool:
    """Whether any two versions' event ranges meet, so reads may replace rows."""
    spans = sorted(
        (v.min_event_time, v.max_event_time)
        for v in versions
        if v.min_event_time is not None and v.max_event_time is not None
    )
    return any(low <= prev_high for (_, prev_high), (low, _) in itertools.pairwise(spans))


def _read_rows(np: NodePath) -> int:
    """Rows a read of the series returns (after newer versions replace older rows)."""
    from ..query import engine

    reader = engine.cat(np.node.fs.root(), np.path, persistence=np.node.fs.persistence)
    return sum(batch.num_rows for batch in reader)


def _describe_dynamic(np: NodePath, out: dict[str, Any]) -> dict[str, Any]:
    """A dynamic file: its output's columns, rows and event range (computing it if need be)."""
    from ..query import canonical
    from ..timeparse import from_micros, iso

    output = np.output()
    if not isinstance(output, TableOutput):
        return out
    schema = output.schema()
    out["rows"] = sum(batch.num_rows for batch in output.batches())
    out["columns"] = canonical.schema_json(schema)
    span = output.event_range()
    if span is not None:
        out["min_event_time"] = iso(from_micros(span[0]))
        out["max_event_time"] = iso(from_micros(span[1]))
    column = canonical.find_timestamp_column(schema)
    if column is not None:
        out["timestamp_column"] = column
    # What a derivation says it was computed from (its kind, inputs and their versions,
    # Reduce's resolution and counts), kept in the schema metadata so the cache keeps it.
    recorded = (schema.metadata or {}).get(DERIVATION_KEY)
    if recorded:
        out["derivation"] = json.loads(recorded)
    return out


def describe_url(root: WD | None, persistence: Any, url: str) -> dict[str, Any]:
    """``describe`` of a URL: what reading it yields (host URLs need no pond)."""
    from ..query import canonical, engine
    from ..query.urls import parse_url
    from ..timeparse import from_micros, iso

    parsed = parse_url(url)
    reader = engine.cat(root, url, persistence=persistence)
    schema = reader.schema
    column = canonical.find_timestamp_column(schema)
    rows = 0
    low: int | None = None
    high: int | None = None
    for batch in reader:
        rows += batch.num_rows
        if column is not None and batch.num_rows:
            span = canonical.event_range(batch, column)
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
