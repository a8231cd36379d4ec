"""Writing pond files back to the host (``pond copy`` out)."""

from __future__ import annotations

from pathlib import Path

from ..tinyfs import FILE_SERIES, NodePath


def export_node(np: NodePath, host: Path) -> None:
    """Write one pond file to the host: raw bytes, or Parquet (a series' versions as one file)."""
    if np.node_type == FILE_SERIES and len(np.node.versions()) > 1:
        import pyarrow.parquet as pq

        from ..query.engine import read_node

        pq.write_table(read_node(np), host)
        return
    host.write_bytes(np.read_bytes())
