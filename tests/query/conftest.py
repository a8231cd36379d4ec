"""Ponds in memory for the query tests, with an optional disk for large versions."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from duckpond.query.parquet import check_parquet
from duckpond.tinyfs import FILE_SERIES, FS, WD, MemoryPersistence, VersionInfo

HOUR = 3_600_000_000
UTC_US = pa.timestamp("us", tz="UTC")


class CountingPersistence(MemoryPersistence):
    """Memory persistence that counts content reads, so tests can see what was skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[tuple[str, int]] = Counter()

    def read_bytes(self, node_id: str, version: int | None = None) -> bytes:
        v = self.latest(node_id).version if version is None else version
        self.reads[(node_id, v)] += 1
        return super().read_bytes(node_id, version)


class DiskPersistence(CountingPersistence):
    """Keeps versions of ``threshold`` bytes and more as files, like tlogfs' large blobs."""

    def __init__(self, root: Path, threshold: int = 64 * 1024) -> None:
        self.root = root
        self.threshold = threshold
        self.blobs: dict[tuple[str, int], Path] = {}
        super().__init__()

    def _new_version(
        self,
        node_id: str,
        node_type: str,
        content: bytes,
        attributes: Mapping[str, Any] | None,
        event_range: tuple[int, int] | None,
    ) -> VersionInfo:
        info = super()._new_version(node_id, node_type, content, attributes, event_range)
        if len(content) >= self.threshold:
            # Named like the pond's blob store: by hash, without an extension.
            path = self.root / f"sha256={hashlib.sha256(content).hexdigest()}"
            path.write_bytes(content)
            self.blobs[(node_id, info.version)] = path
        return info

    def local_path(self, node_id: str, version: int) -> Path | None:
        return self.blobs.get((node_id, version))


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def add_version(wd: WD, path: str, table: pa.Table) -> None:
    """Append one series version the way ``pond copy --format series`` would."""
    described = check_parquet(parquet_bytes(table), require_timestamp=True)
    wd.write_file(
        path,
        described.data,
        node_type=FILE_SERIES,
        attributes=described.attributes(),
        event_range=described.event_range,
    )


def hourly(start_hour: int, hours: int, per_hour: int = 4, **columns: Any) -> pa.Table:
    """Rows every 60/per_hour minutes from ``start_hour``, plus the given columns."""
    n = hours * per_hour
    step = HOUR // per_hour
    ts = pa.array([start_hour * HOUR + i * step for i in range(n)], UTC_US)
    data: dict[str, Any] = {"timestamp": ts}
    for name, make in columns.items():
        data[name] = make(n) if callable(make) else make
    return pa.table(data)


@pytest.fixture
def persistence() -> CountingPersistence:
    return CountingPersistence()


@pytest.fixture
def wd(persistence: CountingPersistence) -> WD:
    root = FS(persistence).root()
    root.mkdir("/data")
    return root


@pytest.fixture
def disk(tmp_path: Path) -> DiskPersistence:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    return DiskPersistence(blobs, threshold=2048)


@pytest.fixture
def disk_wd(disk: DiskPersistence) -> WD:
    root = FS(disk).root()
    root.mkdir("/data")
    return root
