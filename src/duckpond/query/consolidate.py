"""A series' versions merged into one, as a read sees them (for ``pond maintain --keep``).

``consolidate`` gives the rows a read of versions ``v1..vk`` returns (``sources``:
event-time order, and at a time several versions hold, only the newest of them),
as one canonical series version.  Reading it together with any later versions
gives the rows the originals gave with them: at each time the newest version that
holds it wins either way, and the consolidated version ranks below every later one.

It declines (returns None) where that could fail to hold: a version without a
recorded event range (a read places those apart, unmerged), versions whose Parquet
schemas differ (a read would promote them), no time column.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..tinyfs import VersionInfo
from ..tlogfs.arrays import int64s
from ..tlogfs.consolidation import Consolidated
from .canonical import find_timestamp_column
from .parquet import write_parquet
from .sources import _VERSION_COLUMN, _stored_timestamp_column, newest_rows, read_parquet_bytes

if TYPE_CHECKING:
    import pyarrow as pa


def consolidate(
    label: str, versions: Sequence[VersionInfo], read: Callable[[int], bytes]
) -> Consolidated | None:
    """The versions (oldest first) as one series version, or None where a merge could
    change what reads return (see the module doc).

    ``read(version)`` gives a version's bytes, verified against its sha256 (raises
    ``CorruptDataError`` otherwise).  Raises ``FormatError`` if a version is not Parquet.
    """
    import pyarrow as pa

    if not versions or any(v.min_event_time is None or v.max_event_time is None for v in versions):
        return None
    # Read (and verified) here, in this thread, a chunk at a time; each chunk parsed in
    # the pool as soon as it is read (reading and parsing go on together), and joined
    # into one table at once: a year of a station is some 35,000 small Parquet versions
    # a series, and as many small tables would hold a few KB each.
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        futures = []
        for start in range(0, len(versions), _CHUNK):
            chunk = [
                (f"{label}@v{v.version}", v.version, read(v.version))
                for v in versions[start : start + _CHUNK]
            ]
            futures.append(pool.submit(_parse, chunk))
        parsed = [future.result() for future in futures]
    if any(t is None for t in parsed):
        return None
    tables = [t for t in parsed if t is not None]
    schema = tables[0].schema
    if any(not t.schema.equals(schema, check_metadata=True) for t in tables):
        return None
    schema = schema.remove(schema.get_field_index(_VERSION_COLUMN))
    column = _stored_timestamp_column(versions) or find_timestamp_column(schema)
    if column is None or column not in schema.names:
        return None
    rows = pa.concat_tables(tables).combine_chunks()
    del parsed, tables, futures
    merged = newest_rows(rows, column)
    if merged.num_rows == 0 or merged.column(column).null_count:
        return None
    converted = write_parquet(iter(merged.to_batches()), True, column, schema=schema, name=label)
    assert converted.event_range is not None
    return Consolidated(converted.data, converted.event_range, converted.attributes())


_CHUNK = 512


def _parse(chunk: list[tuple[str, int, bytes]]) -> pa.Table | None:
    """A chunk's versions as one table with their numbers in ``_VERSION_COLUMN``; None if
    their Parquet schemas differ (metadata included: a read would promote them)."""
    import pyarrow as pa

    tables = [read_parquet_bytes(data, label) for label, _, data in chunk]
    schema = tables[0].schema
    if any(not t.schema.equals(schema, check_metadata=True) for t in tables):
        return None
    ranks = int64s(
        [
            version
            for (_, version, _), t in zip(chunk, tables, strict=True)
            for _ in range(t.num_rows)
        ]
    )
    joined = pa.concat_tables(tables).combine_chunks()
    return joined.append_column(_VERSION_COLUMN, ranks)
