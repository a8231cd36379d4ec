"""The open transaction's writes, held until commit.

Each ``write_version`` is a version, even twice in one transaction; a
directory changed many times in one transaction gets one version, its final
entry table, written at commit.  Content of 64 KiB or more goes to its blob
as soon as it is written (so a big transaction does not hold all its bytes
in memory); rollback deletes the blobs the transaction created.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from ..tinyfs.persistence import DIRECTORY, DirEntry
from .blobs import BlobStore
from .index import Row
from .layout import LARGE_FILE_THRESHOLD
from .oplog import encode_entries


def now_us() -> int:
    """The current time in microseconds since the epoch (UTC)."""
    return time.time_ns() // 1000


@dataclass
class PendingDir:
    """A directory's entry table as the open transaction leaves it."""

    node_id: str
    version: int
    entries: dict[str, DirEntry]
    timestamp_us: int
    _encoded: tuple[bytes, str] | None = field(default=None, repr=False)

    def encoded(self) -> bytes:
        return self._encode()[0]

    def _encode(self) -> tuple[bytes, str]:
        if self._encoded is None:
            data = encode_entries(self.entries)
            self._encoded = (data, hashlib.sha256(data).hexdigest())
        return self._encoded

    def touch(self) -> None:
        self._encoded = None
        self.timestamp_us = now_us()

    def row(self, txn_seq: int) -> Row:
        data, digest = self._encode()
        return Row(
            part_id=self.node_id,
            node_id=self.node_id,
            file_type=DIRECTORY,
            version=self.version,
            txn_seq=txn_seq,
            timestamp_us=self.timestamp_us,
            sha256=digest,
            size=len(data),
            min_event_time=None,
            max_event_time=None,
            attributes=None,
        )


class TxnBuffer:
    """Rows, inline content and directory tables written since ``begin``."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self.rows: dict[str, list[Row]] = {}
        self.content: dict[tuple[str, int], bytes] = {}
        self.dirs: dict[str, PendingDir] = {}
        self.new_nodes: set[str] = set()
        self.new_blobs: set[str] = set()

    @property
    def empty(self) -> bool:
        return not self.rows and not self.dirs

    def add_version(self, row: Row, data: bytes) -> None:
        """Buffer one file version whose ``sha256`` and ``size`` describe ``data``."""
        if len(data) >= LARGE_FILE_THRESHOLD:
            self._put_blob(row.sha256, data)
        else:
            self.content[(row.node_id, row.version)] = data
        self.rows.setdefault(row.node_id, []).append(row)

    def _put_blob(self, sha256: str, data: bytes) -> None:
        if self._blobs.put(sha256, data):
            self.new_blobs.add(sha256)

    def commit_rows(self, txn_seq: int) -> tuple[list[Row], dict[tuple[str, int], bytes]]:
        """Every row of the transaction and the inline content they carry.

        Directory tables are encoded now; a large one goes to its blob, and
        all blobs are made durable before this returns.
        """
        rows = [row for rows in self.rows.values() for row in rows]
        contents = dict(self.content)
        for pending_dir in self.dirs.values():
            row = pending_dir.row(txn_seq)
            rows.append(row)
            if row.size < LARGE_FILE_THRESHOLD:
                contents[(row.node_id, row.version)] = pending_dir.encoded()
            else:
                self._put_blob(row.sha256, pending_dir.encoded())
        if any(row.size >= LARGE_FILE_THRESHOLD for row in rows):
            self._blobs.sync()
        return rows, contents

    def discard_blobs(self) -> None:
        """Delete the blobs this transaction created (rollback)."""
        for digest in self.new_blobs:
            self._blobs.remove(digest)

    def clear(self) -> None:
        self.rows.clear()
        self.content.clear()
        self.dirs.clear()
        self.new_nodes.clear()
        self.new_blobs.clear()
