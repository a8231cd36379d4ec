"""A HydroVu stand-in server on 127.0.0.1 and helpers to compare what it served with what
the collector returned, reading by reading."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from duckpond.pipeline.hydrovu.client import HydroVuClient, RetryPolicy
from duckpond.testing.hydrovu_server import (
    DEFAULT_PARAMETERS,
    DEFAULT_UNITS,
    HydroVuServer,
    Location,
)

from ..cli.conftest import _no_pond_env, pond, pond_dir  # noqa: F401 (fixtures)

START = datetime(2024, 1, 1, tzinfo=UTC)
T0 = int(START.timestamp())
FAST = RetryPolicy(attempts=4, initial=0.01, max_wait=2.0, jitter=0.01)


def client_for(server: HydroVuServer, **options: Any) -> HydroVuClient:
    """A client of the stand-in with quick retries and a short read timeout."""
    options.setdefault("retry", FAST)
    options.setdefault("read_timeout", 10.0)
    options.setdefault("connect_timeout", 10.0)
    return HydroVuClient(
        server.client_id, server.client_secret, base_url=server.base_url, **options
    )


def column(pid: str, uid: str) -> str:
    return f"{DEFAULT_PARAMETERS.get(pid, pid)}.{DEFAULT_UNITS.get(uid, uid)}"


def served(location: Location, start: int = T0) -> dict[int, dict[str, float]]:
    """Every reading of a location at or after ``start`` (not sentinels): time -> column -> value."""
    out: dict[int, dict[str, float]] = {}
    for (pid, uid), readings in location.readings().items():
        for t, v in readings.items():
            if t >= start:
                out.setdefault(t, {})[column(pid, uid)] = v
    return out


def collected(tables: list[Any]) -> dict[int, dict[str, float]]:
    """Readings of wide tables, time (Unix s) -> column -> value (NULLs left out).
    Fails on a timestamp seen twice."""
    out: dict[int, dict[str, float]] = {}
    for table in tables:
        for row in table.to_pylist():
            t = int(row.pop("timestamp").timestamp())
            assert t not in out, f"timestamp {t} collected twice"
            out[t] = {k: v for k, v in row.items() if v is not None}
    return out


@pytest.fixture
def stand_in() -> Iterator[type[HydroVuServer]]:
    """``stand_in(locations, **options)`` starts a server that stops after the test."""
    started: list[HydroVuServer] = []

    class _Started(HydroVuServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)
            self.start()

    yield _Started
    for server in started:
        server.stop()
