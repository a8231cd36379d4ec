"""The operation log's row format: the Delta table schema and directory encoding.

One row is one version of one node (docs/architecture.md, "On-disk format").  A
directory row holds the directory's whole entry table as an Arrow IPC
stream, so reading a directory costs O(its entries), never O(its history).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from ..tinyfs.persistence import DirEntry
from .arrays import strings

TIMESTAMP = pa.timestamp("us", tz="UTC")

SCHEMA = pa.schema(
    [
        pa.field("part_id", pa.string(), nullable=False),
        pa.field("node_id", pa.string(), nullable=False),
        pa.field("file_type", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("txn_seq", pa.int64(), nullable=False),
        pa.field("timestamp", TIMESTAMP, nullable=False),
        pa.field("content", pa.binary(), nullable=True),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("min_event_time", pa.int64(), nullable=True),
        pa.field("max_event_time", pa.int64(), nullable=True),
        pa.field("attributes", pa.string(), nullable=True),
    ]
)

PARTITION_COLUMN = "part_id"

# Everything but the partition column (not stored in the Parquet files) and
# the content (loaded only when asked for).
METADATA_COLUMNS = [name for name in SCHEMA.names if name not in (PARTITION_COLUMN, "content")]

# The oplog as the query layer sees it: every column but the content.
INDEX_SCHEMA = pa.schema([SCHEMA.field(n) for n in SCHEMA.names if n != "content"])

ENTRY_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("child_node_id", pa.string(), nullable=False),
        pa.field("child_type", pa.string(), nullable=False),
    ]
)


def encode_entries(entries: Mapping[str, DirEntry]) -> bytes:
    """A directory's entries as an IPC stream, sorted by name so equal tables hash equal."""
    names = sorted(entries)
    batch = pa.RecordBatch.from_arrays(
        [
            strings(names),
            strings([entries[n].node_id for n in names]),
            strings([entries[n].node_type for n in names]),
        ],
        schema=ENTRY_SCHEMA,
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, ENTRY_SCHEMA) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def decode_entries(data: bytes) -> dict[str, DirEntry]:
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    names = table.column("name").to_pylist()
    ids = table.column("child_node_id").to_pylist()
    types = table.column("child_type").to_pylist()
    return {n: DirEntry(n, i, t) for n, i, t in zip(names, ids, types, strict=True)}
