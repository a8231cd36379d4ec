"""What stored Parquet versions hold (rows, columns, schema), read from attributes or footers.

``describe`` answers from these; the node attributes written with each version
(``parquet.Converted.attributes``) answer without reading content when present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import FormatError
from ..query.canonical import schema_json
from ..query.parquet import is_parquet

if TYPE_CHECKING:
    import pyarrow as pa

    from ..tinyfs import NodePath, VersionInfo


def version_schema(np: NodePath, version: int) -> pa.Schema:
    """The Arrow schema of one stored Parquet version, from its footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.ParquetFile(pa.BufferReader(np.read_bytes(version))).schema_arrow


def _version_info(np: NodePath, version: int | None) -> VersionInfo:
    versions = np.node.versions()
    if version is None:
        return versions[-1]
    for info in versions:
        if info.version == version:
            return info
    raise FileNotFoundError(f"{np.path} has no version {version}")


def _footer(np: NodePath, version: int) -> Any:
    """The Parquet footer of one stored version, from its blob file when it has one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = getattr(np.node.fs.persistence, "local_path", None)
    path = local(np.node_id, version) if local is not None else None
    if path is not None:
        return pq.ParquetFile(path)
    data = np.read_bytes(version)
    if not is_parquet(data):
        raise FormatError(f"{np.path} version {version} is not Parquet")
    return pq.ParquetFile(pa.BufferReader(data))


def parquet_rows(np: NodePath, version: int | None = None) -> int:
    """Rows in one stored version: from its attributes, else its Parquet footer."""
    info = _version_info(np, version)
    rows = info.attributes.get("rows")
    if isinstance(rows, int):
        return rows
    return int(_footer(np, info.version).metadata.num_rows)


def parquet_columns(np: NodePath) -> list[dict[str, str]]:
    """``[{name, type}]`` of what reading every version together returns: by name in order
    of first appearance, types unified as reads unify them (int and float versions read
    as double, an all-empty ``null`` column as its type in other versions).

    Stored attributes answer without reading content when the versions agree; a
    version without them, or versions whose types differ, are read for their footers.
    """
    import pyarrow as pa

    seen: dict[str, str] = {}
    differ = False
    for info in np.node.versions():
        columns = info.attributes.get("schema")
        if not isinstance(columns, list):
            columns = schema_json(_footer(np, info.version).schema_arrow)
        for column in columns:
            typ = seen.setdefault(str(column["name"]), str(column["type"]))
            differ = differ or typ != str(column["type"])
    if differ:
        schemas = [_footer(np, info.version).schema_arrow for info in np.node.versions()]
        try:
            return schema_json(pa.unify_schemas(schemas, promote_options="permissive"))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # a series that cannot be read whole still describes its first types
    return [{"name": name, "type": typ} for name, typ in seen.items()]
