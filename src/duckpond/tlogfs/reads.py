"""Reads of the oplog: the committed rows with the open transaction's writes on top.

``OplogView`` answers every read of the ``Persistence`` protocol from the
row index (committed rows up to ``last_txn``) and the transaction buffer,
and puts the protocol's writes into the buffer.  Every byte it returns is
checked: inline content against the row's sha256 on each read (at most
64 KiB), blobs through ``BlobStore``, which checks each blob file once per
process, against the XXH3-128 the row records when it was written with one
(``FAST_CHECKSUM`` in its attributes, hidden from ``VersionInfo``), else
against the sha256.  A mismatch or a missing blob is a ``CorruptDataError`` that names
the node's path when a walk from the root finds it.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import CorruptDataError, PondCorruptError
from ..tinyfs.ids import uuid7
from ..tinyfs.persistence import (
    DIRECTORY,
    NODE_TYPES,
    ROOT_ID,
    DirEntry,
    VersionInfo,
    is_dir_type,
)
from .blobs import FAST_CHECKSUM, BlobError, BlobStore, fast_checksum
from .buffer import PendingDir, TxnBuffer, now_us
from .index import Row, RowIndex
from .layout import LARGE_FILE_THRESHOLD
from .oplog import decode_entries

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIR_CACHE_SIZE = 1024


class OplogView:
    """Nodes as of ``last_txn`` plus the open transaction's writes in ``buffer``."""

    def __init__(self, index: RowIndex, blobs: BlobStore, last_txn: int) -> None:
        self.index = index
        self.blobs = blobs
        self.buffer = TxnBuffer(blobs)
        self.last_txn = last_txn
        self._dirs: OrderedDict[tuple[str, int], dict[str, DirEntry]] = OrderedDict()

    def clear_cache(self) -> None:
        self._dirs.clear()
        self.index.clear_cache()

    # -- rows ------------------------------------------------------------------

    def _committed(self, node_id: str) -> list[Row]:
        if node_id in self.buffer.new_nodes:
            return []
        return self.index.lookup(node_id) or []

    def _head(self, node_id: str) -> Row:
        """The newest row of a node, the open transaction's included."""
        pending_dir = self.buffer.dirs.get(node_id)
        if pending_dir is not None:
            return pending_dir.row(self.last_txn + 1)
        pending = self.buffer.rows.get(node_id)
        if pending:
            return pending[-1]
        rows = self._committed(node_id)
        if not rows:
            raise FileNotFoundError(f"no such node: {node_id}")
        return rows[-1]

    def _row(self, node_id: str, version: int | None) -> Row:
        if version is None:
            return self._head(node_id)
        pending_dir = self.buffer.dirs.get(node_id)
        if pending_dir is not None and pending_dir.version == version:
            return pending_dir.row(self.last_txn + 1)
        committed = self._committed(node_id)
        pending = self.buffer.rows.get(node_id, [])
        if not committed and not pending and pending_dir is None:
            raise FileNotFoundError(f"no such node: {node_id}")
        # Looked up in place, not in a joined copy: a series read version by version
        # would copy its whole list at each (quadratic over a year of versions).
        found = _version_in(committed, version) or _version_in(pending, version)
        if found is None:
            raise FileNotFoundError(f"node {node_id} has no version {version}")
        return found

    # -- reads -----------------------------------------------------------------

    def node_type(self, node_id: str) -> str:
        # A directory changed in this transaction is a directory: asking its
        # head row would re-encode its whole entry table on every insert.
        if node_id in self.buffer.dirs:
            return DIRECTORY
        return self._head(node_id).file_type

    def latest(self, node_id: str) -> VersionInfo:
        return version_info(self._head(node_id))

    def versions(self, node_id: str) -> list[VersionInfo]:
        rows = [*self._committed(node_id), *self.buffer.rows.get(node_id, [])]
        pending_dir = self.buffer.dirs.get(node_id)
        if pending_dir is not None:
            rows.append(pending_dir.row(self.last_txn + 1))
        if not rows:
            raise FileNotFoundError(f"no such node: {node_id}")
        return [version_info(r) for r in rows]

    def oldest(self, node_id: str) -> VersionInfo:
        committed = self._committed(node_id)
        if committed:
            return version_info(committed[0])
        pending = self.buffer.rows.get(node_id)
        if pending:
            return version_info(pending[0])
        return self.versions(node_id)[0]

    def read_dir(self, dir_id: str) -> Mapping[str, DirEntry]:
        pending_dir = self.buffer.dirs.get(dir_id)
        if pending_dir is not None:
            return dict(pending_dir.entries)
        return dict(self._committed_entries(dir_id))

    def _committed_entries(self, dir_id: str) -> dict[str, DirEntry]:
        head = self._head(dir_id)
        if head.file_type != DIRECTORY:
            raise NotADirectoryError(f"not a directory: {dir_id}")
        key = (dir_id, head.version)
        entries = self._dirs.get(key)
        if entries is not None:
            self._dirs.move_to_end(key)
            return entries
        entries = decode_entries(self._row_bytes(head))
        for entry in entries.values():
            # Directories are their own partition; everything else sits in its parent's.
            self.index.hint(
                entry.node_id, entry.node_id if entry.node_type == DIRECTORY else dir_id
            )
        self._dirs[key] = entries
        if len(self._dirs) > _DIR_CACHE_SIZE:
            self._dirs.popitem(last=False)
        return entries

    def read_bytes(self, node_id: str, version: int | None = None, *, verify: bool = True) -> bytes:
        if version is None:
            pending_dir = self.buffer.dirs.get(node_id)
            if pending_dir is not None:
                return pending_dir.encoded()
        return self._row_bytes(self._row(node_id, version), verify=verify)

    def _row_bytes(self, row: Row, *, verify: bool = True) -> bytes:
        if row.path is None and row.file_type == DIRECTORY:
            return self.buffer.dirs[row.node_id].encoded()
        if row.size < LARGE_FILE_THRESHOLD:
            if row.path is None:
                # Written by this transaction: in memory, hashed as it was written.
                inline = self.buffer.content.get((row.node_id, row.version))
                if inline is not None:
                    return inline
            else:
                inline = self.index.content(row)
                if inline is not None:
                    if verify and hashlib.sha256(inline).hexdigest() != row.sha256:
                        raise self._corrupt(
                            row, "its stored content does not match its sha256 (corrupt data)"
                        )
                    return inline
        try:
            return self.blobs.read(row.sha256, verify=verify, xxh3=_recorded_checksum(row))
        except BlobError as e:
            raise self._corrupt(row, str(e)) from None

    def local_path(self, node_id: str, version: int | None = None) -> Path | None:
        """The blob file holding a large version's bytes, verified; None if they are inline.

        The file is hashed once per process (see ``BlobStore.verified_path``);
        raises ``CorruptDataError`` if it is missing or its bytes changed.
        """
        row = self._blob_row(node_id, version)
        if row is None:
            return None
        try:
            return self.blobs.verified_path(row.sha256, _recorded_checksum(row))
        except BlobError as e:
            raise self._corrupt(row, str(e)) from None

    def blob_path(self, node_id: str, version: int | None = None) -> Path | None:
        """Where a large version's blob should be, unchecked (for ``fsck``); None if inline."""
        row = self._blob_row(node_id, version)
        return None if row is None else self.blobs.path(row.sha256)

    def _blob_row(self, node_id: str, version: int | None) -> Row | None:
        row = self._row(node_id, version)
        # A directory's table reaches a blob only when its transaction commits.
        pending_dir = row.path is None and row.file_type == DIRECTORY
        if row.size < LARGE_FILE_THRESHOLD or pending_dir:
            return None
        return row

    def _corrupt(self, row: Row, what: str) -> CorruptDataError:
        where = self.path_of(row.node_id) or f"node {row.node_id}"
        return CorruptDataError(
            f"{where} version {row.version}: {what}; run 'pond fsck' to check the whole pond"
        )

    def path_of(self, node_id: str) -> str | None:
        """The path of a node in this view, found by walking from the root (slow: for errors)."""
        if node_id == ROOT_ID:
            return "/"
        todo = [(ROOT_ID, "")]
        while todo:
            dir_id, prefix = todo.pop()
            try:
                entries = self.read_dir(dir_id)
            except (PondCorruptError, OSError):
                continue
            for name, entry in entries.items():
                path = f"{prefix}/{name}"
                if entry.node_id == node_id:
                    return path
                if entry.node_type == DIRECTORY:
                    todo.append((entry.node_id, path))
        return None

    # -- writes into the buffer ------------------------------------------------

    def create_node(
        self,
        parent_id: str,
        node_type: str,
        content: bytes,
        attributes: Mapping[str, Any] | None,
        event_range: tuple[int, int] | None,
    ) -> str:
        if node_type not in NODE_TYPES:
            raise ValueError(f"unknown node type {node_type!r}")
        if not is_dir_type(self.node_type(parent_id)):
            raise NotADirectoryError(f"not a directory: {parent_id}")
        node_id = uuid7()
        self.buffer.new_nodes.add(node_id)
        if node_type == DIRECTORY:
            if content:
                raise ValueError("a directory's content is its entries: use update_dir")
            self.buffer.dirs[node_id] = PendingDir(node_id, 1, {}, now_us())
        else:
            self._add_version(parent_id, node_id, node_type, 1, content, attributes, event_range)
        return node_id

    def write_version(
        self,
        node_id: str,
        content: bytes,
        attributes: Mapping[str, Any] | None,
        event_range: tuple[int, int] | None,
    ) -> VersionInfo:
        head = self._head(node_id)
        if head.file_type == DIRECTORY:
            raise IsADirectoryError(f"a directory's versions come from update_dir: {node_id}")
        row = self._add_version(
            head.part_id,
            node_id,
            head.file_type,
            head.version + 1,
            content,
            attributes,
            event_range,
        )
        return version_info(row)

    def _add_version(
        self,
        part_id: str,
        node_id: str,
        node_type: str,
        version: int,
        content: bytes,
        attributes: Mapping[str, Any] | None,
        event_range: tuple[int, int] | None,
    ) -> Row:
        data = bytes(content)
        stored = dict(attributes) if attributes else {}
        stored.pop(FAST_CHECKSUM, None)
        if len(data) >= LARGE_FILE_THRESHOLD:
            stored[FAST_CHECKSUM] = fast_checksum(data)
        row = Row(
            part_id=part_id,
            node_id=node_id,
            file_type=node_type,
            version=version,
            txn_seq=self.last_txn + 1,
            timestamp_us=now_us(),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            min_event_time=event_range[0] if event_range else None,
            max_event_time=event_range[1] if event_range else None,
            attributes=json.dumps(stored, sort_keys=True) if stored else None,
        )
        self.buffer.add_version(row, data)
        return row

    def update_dir(
        self, dir_id: str, insert: Mapping[str, DirEntry], delete: frozenset[str]
    ) -> None:
        pending_dir = self.buffer.dirs.get(dir_id)
        if pending_dir is None:
            head = self._head(dir_id)
            entries = dict(self._committed_entries(dir_id))
            pending_dir = PendingDir(dir_id, head.version + 1, entries, now_us())
            self.buffer.dirs[dir_id] = pending_dir
        for name in delete:
            pending_dir.entries.pop(name, None)
        pending_dir.entries.update(insert)
        pending_dir.touch()


def _recorded_checksum(row: Row) -> str | None:
    """The XXH3-128 a blob version's row recorded at write time; None for older versions."""
    if not row.attributes:
        return None
    value = json.loads(row.attributes).get(FAST_CHECKSUM)
    return value if isinstance(value, str) else None


def _version_in(rows: list[Row], version: int) -> Row | None:
    """The row of ``version`` in ``rows`` (a node's, by version, oldest first), or None."""
    # Versions are 1..n until a consolidation replaces a run of them by its last one:
    # the list position is the first guess, a bisection the rest.
    if 0 < version <= len(rows) and rows[version - 1].version == version:
        return rows[version - 1]
    at = bisect.bisect_left(rows, version, key=lambda row: row.version)
    return rows[at] if at < len(rows) and rows[at].version == version else None


def _attributes(row: Row) -> dict[str, Any]:
    """A row's attributes as its writer gave them (without the recorded checksum)."""
    if not row.attributes:
        return {}
    attributes: dict[str, Any] = json.loads(row.attributes)
    attributes.pop(FAST_CHECKSUM, None)
    return attributes


def version_info(row: Row, *, attributes: bool = True) -> VersionInfo:
    """A stored row's ``VersionInfo``; without ``attributes``, with none (decoding their
    JSON is most of the cost, for a caller going over a long series that needs few)."""
    return VersionInfo(
        node_id=row.node_id,
        node_type=row.file_type,
        version=row.version,
        txn_seq=row.txn_seq,
        timestamp=_EPOCH + timedelta(microseconds=row.timestamp_us),
        size=row.size,
        sha256=row.sha256,
        min_event_time=row.min_event_time,
        max_event_time=row.max_event_time,
        attributes=_attributes(row) if attributes else {},
    )
