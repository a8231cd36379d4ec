"""The oplog as SQL tables: ``nodes``, ``entries``, ``transactions`` and ``runs``.

``nodes`` comes from the persistence's ``all_rows()`` when it has one (the
Delta log: every version ever written, deleted nodes included); otherwise
it is built by walking the directory tree, which sees only nodes that are
still linked.  ``entries`` is always a walk, since it is the current tree.
Event times are shown as timestamps, not the stored microsecond integers,
so that ``WHERE max_event_time > '2025-01-01'`` just works.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..tinyfs import DIRECTORY, ROOT_ID, Persistence

if TYPE_CHECKING:
    import pyarrow as pa

    from ..tlogfs import TxnRecord


@runtime_checkable
class OplogSource(Protocol):
    """A persistence that can hand over its whole operation log as Arrow (tlogfs can)."""

    def all_rows(self) -> pa.Table: ...


NODE_COLUMNS = (
    "node_id",
    "part_id",
    "file_type",
    "version",
    "txn_seq",
    "timestamp",
    "size",
    "sha256",
    "min_event_time",
    "max_event_time",
    "attributes",
)


def _node_schema() -> pa.Schema:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [
            ("node_id", pa.string()),
            ("part_id", pa.string()),
            ("file_type", pa.string()),
            ("version", pa.int64()),
            ("txn_seq", pa.int64()),
            ("timestamp", ts),
            ("size", pa.int64()),
            ("sha256", pa.string()),
            ("min_event_time", ts),
            ("max_event_time", ts),
            ("attributes", pa.string()),
        ]
    )


def _walk(persistence: Persistence) -> Iterator[tuple[str, str, str, str, str]]:
    """(path, name, node_id, node_type, parent_id) for every entry under the root.

    Reads directories through the persistence, not through TinyFS, so that dynamic
    directories are listed as nodes without running their factories.
    """
    stack = [("", ROOT_ID)]
    seen = {ROOT_ID}
    while stack:
        base, dir_id = stack.pop()
        for name, entry in sorted(persistence.read_dir(dir_id).items()):
            path = f"{base}/{name}"
            yield path, name, entry.node_id, entry.node_type, dir_id
            # A directory linked twice would otherwise be walked twice (or forever).
            if entry.node_type == DIRECTORY and entry.node_id not in seen:
                seen.add(entry.node_id)
                stack.append((path, entry.node_id))


def nodes_table(persistence: Persistence) -> pa.Table:
    """One row per version of every node, without content."""
    if isinstance(persistence, OplogSource):
        return _nodes_from_oplog(persistence.all_rows())
    return _nodes_from_walk(persistence)


def _nodes_from_oplog(rows: pa.Table) -> pa.Table:
    import pyarrow as pa

    schema = _node_schema()
    columns = []
    for f in schema:
        if f.name not in rows.column_names:
            columns.append(pa.nulls(rows.num_rows, f.type))
            continue
        column = rows.column(f.name)
        if f.name in ("min_event_time", "max_event_time") and pa.types.is_integer(column.type):
            column = column.cast(pa.int64()).cast(f.type)
        columns.append(column.cast(f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _nodes_from_walk(persistence: Persistence) -> pa.Table:
    import pyarrow as pa

    parents: dict[str, str] = {ROOT_ID: ROOT_ID}
    for _path, _name, node_id, node_type, parent_id in _walk(persistence):
        # As in the oplog: a directory is its own partition, anything else its parent's.
        parents.setdefault(node_id, node_id if node_type == DIRECTORY else parent_id)
    rows: dict[str, list[Any]] = {name: [] for name in NODE_COLUMNS}
    for node_id, part_id in parents.items():
        for info in persistence.versions(node_id):
            rows["node_id"].append(node_id)
            rows["part_id"].append(part_id)
            rows["file_type"].append(info.node_type)
            rows["version"].append(info.version)
            rows["txn_seq"].append(info.txn_seq)
            rows["timestamp"].append(info.timestamp)
            rows["size"].append(info.size)
            rows["sha256"].append(info.sha256)
            rows["min_event_time"].append(info.min_event_time)
            rows["max_event_time"].append(info.max_event_time)
            rows["attributes"].append(
                json.dumps(dict(info.attributes), sort_keys=True) if info.attributes else None
            )
    schema = _node_schema()
    arrays = [
        pa.array(rows[f.name], type=pa.int64()).cast(f.type)
        if f.name in ("min_event_time", "max_event_time")
        else pa.array(rows[f.name], type=f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema).sort_by(
        [("txn_seq", "ascending"), ("node_id", "ascending"), ("version", "ascending")]
    )


def entries_table(persistence: Persistence) -> pa.Table:
    """One row per directory entry of the current tree, with its full path."""
    import pyarrow as pa

    paths, names, parents, node_ids, parent_ids, types = [], [], [], [], [], []
    for path, name, node_id, node_type, parent_id in _walk(persistence):
        paths.append(path)
        names.append(name)
        parents.append(path.rsplit("/", 1)[0] or "/")
        node_ids.append(node_id)
        parent_ids.append(parent_id)
        types.append(node_type)
    return pa.table(
        {
            "path": pa.array(paths, pa.string()),
            "name": pa.array(names, pa.string()),
            "parent": pa.array(parents, pa.string()),
            "node_id": pa.array(node_ids, pa.string()),
            "parent_id": pa.array(parent_ids, pa.string()),
            "type": pa.array(types, pa.string()),
        }
    )


@runtime_checkable
class TransactionLog(Protocol):
    """A persistence that keeps a record per transaction (tlogfs: Delta commit metadata)."""

    def transactions(self) -> list[TxnRecord]: ...


def transactions_table(persistence: Persistence) -> pa.Table:
    """One row per transaction: when, by whom, the command, and what it wrote.

    Counts (versions, nodes, bytes) come from ``nodes``; user and command from the
    persistence's transaction log when it keeps one.
    """
    import pyarrow as pa

    nodes = nodes_table(persistence)
    summary = nodes.group_by("txn_seq").aggregate(
        [
            ("timestamp", "max"),
            ("version", "count"),
            ("node_id", "count_distinct"),
            ("size", "sum"),
        ]
    )
    summary = summary.rename_columns(
        {
            "timestamp_max": "timestamp",
            "version_count": "versions",
            "node_id_count_distinct": "nodes",
            "size_sum": "bytes",
        }
    )
    summary = summary.select(["txn_seq", "timestamp", "versions", "nodes", "bytes"])
    if not isinstance(persistence, TransactionLog):
        return summary.sort_by("txn_seq")
    # The log names every transaction, even one whose rows are gone from view; joined
    # in Python because Arrow's hash join cannot carry the list-typed command column.
    counts = {row["txn_seq"]: row for row in summary.to_pylist()}
    records = sorted(persistence.transactions(), key=lambda r: r.txn_seq)
    seqs = [r.txn_seq for r in records]
    empty: dict[str, Any] = {}

    def counted(name: str) -> pa.Array:
        return pa.array([counts.get(seq, empty).get(name) or 0 for seq in seqs], pa.int64())

    return pa.table(
        {
            "txn_seq": pa.array(seqs, pa.int64()),
            "timestamp": pa.array([r.timestamp for r in records], _utc_us()),
            "user": pa.array([r.user for r in records], pa.string()),
            "command": pa.array([r.command for r in records], pa.list_(pa.string())),
            "versions": counted("versions"),
            "nodes": counted("nodes"),
            "bytes": counted("bytes"),
        }
    )


def _utc_us() -> pa.DataType:
    import pyarrow as pa

    return pa.timestamp("us", tz="UTC")


# -- runs (pipeline): the records of ``pond run`` (tlogfs.runlog; older ponds: a series) ---

RUNS_PATH = ("etc", "runs.series")


def runs_schema() -> pa.Schema:
    """One row per resource run; ``start`` is the series' event time."""
    import pyarrow as pa

    return pa.schema(
        [
            ("start", _utc_us()),
            ("run_id", pa.string()),
            ("resource", pa.string()),
            ("uuid", pa.string()),
            ("kind", pa.string()),
            ("outcome", pa.string()),
            ("elapsed_s", pa.float64()),
            ("rows", pa.int64()),
            ("bytes", pa.int64()),
            ("peak_rss_bytes", pa.int64()),
            ("txn_seq", pa.int64()),
            ("error", pa.string()),
            ("details", pa.string()),
        ]
    )


def runs_table(persistence: Persistence) -> pa.Table:
    """Every recorded run, oldest first (empty before the first ``pond run``): the
    records beside the oplog (``tlogfs.runlog``), after those older ponds kept in the
    series ``/etc/runs.series``."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    from ..tlogfs.runlog import read_records

    schema = runs_schema()
    tables: list[pa.Table] = []
    node_id: str | None = ROOT_ID
    for name in RUNS_PATH:
        entry = persistence.read_dir(node_id).get(name) if node_id is not None else None
        node_id = entry.node_id if entry is not None else None
    if node_id is not None:
        tables.extend(
            pq.read_table(pa.BufferReader(persistence.read_bytes(node_id, info.version)))
            for info in persistence.versions(node_id)
        )
    runs_dir = getattr(persistence, "runs_dir", None)
    records = read_records(runs_dir) if runs_dir is not None else []
    if records:
        # Through Arrow's JSON reader: building arrays from Python values makes pyarrow
        # import pandas (0.3 s or more), which a cron-driven run should not pay.
        lines = "\n".join(json.dumps({k: r.get(k) for k in schema.names}) for r in records)
        tables.append(
            pa_json.read_json(
                io.BytesIO(lines.encode()),
                parse_options=pa_json.ParseOptions(explicit_schema=schema),
            )
        )
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(
        [t.select([n for n in schema.names if n in t.column_names]).cast(schema) for t in tables]
    ).sort_by("start")


SYSTEM_TABLES: dict[str, Callable[[Persistence], pa.Table]] = {
    "nodes": nodes_table,
    "entries": entries_table,
    "transactions": transactions_table,
    "runs": runs_table,
}
