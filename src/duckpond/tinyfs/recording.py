"""A read-only ``Persistence`` that records what a dynamic node's factory reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ReadOnlyError
from .persistence import DirEntry, Persistence, VersionInfo

if TYPE_CHECKING:
    from .context import InputRecorder


class RecordingPersistence:
    """A read-only ``Persistence`` over another that records each node it reads.

    Each read of a node records (node id, its newest version) - the newest
    even for a read of an older version, which can only invalidate a cache
    entry too often, never too seldom.  Directory listings are inputs too,
    so a glob that would match a new file sees the directory's new version.
    """

    def __init__(self, base: Persistence, recorder: InputRecorder) -> None:
        self.base = base
        self.recorder = recorder
        # Each node's newest version, asked of the base once: a series read version by
        # version would otherwise decode the head row's attributes several times a
        # version.  Were the base to gain a version meanwhile, the older number recorded
        # could only invalidate a cache entry too often, never too seldom.
        self._newest: dict[str, VersionInfo] = {}

    @property
    def read_only(self) -> bool:
        return True

    @property
    def in_transaction(self) -> bool:
        return self.base.in_transaction

    def _record(self, node_id: str) -> VersionInfo:
        info = self._newest.get(node_id)
        if info is None:
            info = self._newest[node_id] = self.base.latest(node_id)
        self.recorder.record(node_id, info.version)
        return info

    def node_type(self, node_id: str) -> str:
        return self.base.node_type(node_id)

    def latest(self, node_id: str) -> VersionInfo:
        return self._record(node_id)

    def versions(self, node_id: str) -> list[VersionInfo]:
        self._record(node_id)
        return self.base.versions(node_id)

    def oldest(self, node_id: str) -> VersionInfo:
        self._record(node_id)
        return self.base.oldest(node_id)

    def read_dir(self, dir_id: str) -> Mapping[str, DirEntry]:
        entries = self.base.read_dir(dir_id)
        self._record(dir_id)
        return entries

    def read_bytes(self, node_id: str, version: int | None = None) -> bytes:
        self._record(node_id)
        return self.base.read_bytes(node_id, version)

    def local_path(self, node_id: str, version: int) -> Any:
        """The base's on-disk path of a version, if it keeps one (tlogfs does)."""
        find = getattr(self.base, "local_path", None)
        if find is None:
            return None
        self._record(node_id)
        return find(node_id, version)

    def _refuse(self) -> ReadOnlyError:
        return ReadOnlyError("a dynamic node's factory reads the pond and cannot write it")

    def create_node(
        self,
        parent_id: str,
        node_type: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> str:
        raise self._refuse()

    def write_version(
        self,
        node_id: str,
        content: bytes,
        *,
        attributes: Mapping[str, Any] | None = None,
        event_range: tuple[int, int] | None = None,
    ) -> VersionInfo:
        raise self._refuse()

    def update_dir(
        self,
        dir_id: str,
        *,
        insert: Mapping[str, DirEntry] = {},
        delete: frozenset[str] = frozenset(),
    ) -> None:
        raise self._refuse()

    def begin(self) -> None:
        raise self._refuse()

    def commit(self, metadata: Mapping[str, Any] | None = None) -> int | None:
        raise self._refuse()

    def rollback(self) -> None:
        raise self._refuse()
