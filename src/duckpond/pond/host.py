"""What the CLI needs beyond the verbs, without a pond: URLs, reading and describing
host data (``host+...:///``), and printing rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import boundary

if TYPE_CHECKING:
    import pyarrow as pa

    from ..query.urls import PondURL


def parse_url(text: str) -> PondURL | None:
    """``text`` as a ``[host+]format[+compression]:///path`` URL, or None for a plain path."""
    if ":" not in text or text.startswith("/"):
        # A plain path: no need to import the query package (about 15 ms).
        return None
    from ..query.urls import is_url
    from ..query.urls import parse_url as parse

    return parse(text) if is_url(text) else None


def read_host(
    target: str,
    *,
    sql: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pa.RecordBatchReader:
    """A ``host+...:///`` URL as rows, streamed, without a pond (as ``Pond.cat``)."""
    from ..query import engine

    with boundary(path=target):
        return engine.cat(None, target, sql=sql, start=start, end=end)


def describe_host(url: str) -> dict[str, Any]:
    """What ``Pond.describe`` says of a ``host+...:///`` URL, without a pond."""
    from ..ingest.describe import describe_url

    with boundary(path=url):
        return describe_url(None, None, url)


def preview_rows(result: pa.Table | pa.RecordBatchReader, limit: int = 20) -> Any:
    """A rich table of the first ``limit`` rows, captioned with the total row count."""
    from ..query.output import preview, render_preview

    with boundary():
        return render_preview(preview(result, limit=limit))


def write_rows(result: pa.Table | pa.RecordBatchReader, fmt: str, out: BinaryIO) -> int:
    """Write rows to ``out`` as ``csv``, ``json`` or ``parquet``; return the row count."""
    from ..query.output import write

    with boundary():
        return write(result, fmt, out)
