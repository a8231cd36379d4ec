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

from collections.abc import Callable, Sequence
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
    tables: list[pa.Table] = []
    schema: pa.Schema | None = None
    for info in versions:
        table = read_parquet_bytes(read(info.version), f"{label}@v{info.version}")
        if schema is None:
            schema = table.schema
        elif not table.schema.equals(schema, check_metadata=True):
            return None
        rank = int64s([info.version] * table.num_rows)
        tables.append(table.append_column(_VERSION_COLUMN, rank))
    assert schema is not None
    column = _stored_timestamp_column(versions) or find_timestamp_column(schema)
    if column is None or column not in schema.names:
        return None
    merged = newest_rows(pa.concat_tables(tables), column)
    if merged.num_rows == 0 or merged.column(column).null_count:
        return None
    converted = write_parquet(iter(merged.to_batches()), True, column, schema=schema, name=label)
    assert converted.event_range is not None
    return Consolidated(converted.data, converted.event_range, converted.attributes())
