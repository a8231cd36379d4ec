"""An in-memory persistence: the reference the Delta one is tested against."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import TransactionError
from .ids import uuid7
from .persistence import DIRECTORY, ROOT_ID, DirEntry, VersionInfo


@dataclass
class _State:
    versions: dict[str, list[VersionInfo]] = field(default_factory=dict)
    contents: dict[tuple[str, int], bytes] = field(default_factory=dict)
    dirs: dict[str, dict[str, DirEntry]] = field(default_factory=dict)
    txn_seq: int = 0


class MemoryPersistence:
    """Keeps every version of every node in dictionaries; transactions snapshot them."""

    def __init__(self) -> None:
        self._state = _State()
        self._saved: _State | None = None
        self.begin()
        self._new_version(ROOT_ID, DIRECTORY, b"", None, None)
        self._state.dirs[ROOT_ID] = {}
        self.commit()

    @property
    def read_only(self) -> bool:
        return False

    @property
    def in_transaction(self) -> bool:
        return self._saved is not None

    @property
    def last_txn(self) -> int:
        return self._state.txn_seq

    # -- reads -------------------------------------------------------------

    def _versions(self, node_id: str) -> list[VersionInfo]:
        try:
            return self._state.versions[node_id]
        except KeyError:
            raise FileNotFoundError(f"no such node: {node_id}") from None

    def node_type(self, node_id: str) -> str:
        return self._versions(node_id)[-1].node_type

    def latest(self, node_id: str) -> VersionInfo:
        return self._versions(node_id)[-1]

    def versions(self, node_id: str) -> list[VersionInfo]:
        return list(self._versions(node_id))

    def oldest(self, node_id: str) -> VersionInfo:
        return self._versions(node_id)[0]

    def read_dir(self, dir_id: str) -> Mapping[str, DirEntry]:
        try:
            return dict(self._state.dirs[dir_id])
        except KeyError:
            raise NotADirectoryError(f"not a directory: {dir_id}") from None

    def read_bytes(self, node_id: str, version: int | None = None) -> bytes:
        v = self.latest(node_id).version if version is None else version
        try:
            return self._state.contents[(node_id, v)]
        except KeyError:
            raise FileNotFoundError(f"node {node_id} has no version {v}") from None

    # -- writes -------------------------------------------------------------

    def _require_txn(self) -> None:
        if self._saved is None:
            raise TransactionError("write outside a transaction")

    def _new_version(
        self,
        node_id: str,
        node_type: str,
        content: bytes,
        attributes: Mapping[str, Any] | None,
        event_range: tuple[int, int] | None,
    ) -> VersionInfo:
        self._require_txn()
        history = self._state.versions.setdefault(node_id, [])
        info = VersionInfo(
            node_id=node_id,
            node_type=node_type,
            version=len(history) + 1,
            txn_seq=self._state.txn_seq + 1,
            timestamp=datetime.now(UTC),
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            min_event_time=event_range[0] if event_range else None,
            max_event_time=event_range[1] if event_range else None,
            attributes=dict(attributes or {}),
        )
        history.append(info)
        self._state.contents[(node_id, info.version)] = bytes(content)
        return info

    def create_node(
        self,
        parent_id: str,
        node_type: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> str:
        node_id = uuid7()
        self._new_version(node_id, node_type, content, attributes, event_range)
        if node_type == DIRECTORY:
            self._state.dirs[node_id] = {}
        return node_id

    def write_version(
        self,
        node_id: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> VersionInfo:
        node_type = self.node_type(node_id)
        return self._new_version(node_id, node_type, content, attributes, event_range)

    def update_dir(
        self,
        dir_id: str,
        *,
        insert: Mapping[str, DirEntry] = {},
        delete: frozenset[str] = frozenset(),
    ) -> None:
        self._require_txn()
        entries = self._state.dirs[dir_id]
        for name in delete:
            entries.pop(name, None)
        entries.update(insert)
        last = self.latest(dir_id)
        if last.txn_seq != self._state.txn_seq + 1:
            self._new_version(dir_id, DIRECTORY, b"", None, None)

    # -- transactions --------------------------------------------------------

    def begin(self) -> None:
        if self._saved is not None:
            raise TransactionError("a transaction is already open")
        self._saved = copy.deepcopy(self._state)

    def commit(self, metadata: Mapping[str, Any] | None = None) -> int | None:
        self._require_txn()
        assert self._saved is not None
        changed = any(
            v[-1].txn_seq == self._state.txn_seq + 1 for v in self._state.versions.values()
        )
        self._saved = None
        if not changed:
            return None
        self._state.txn_seq += 1
        return self._state.txn_seq

    def rollback(self) -> None:
        self._require_txn()
        assert self._saved is not None
        self._state, self._saved = self._saved, None
