"""Collectors always finish: future readings quarantined, paging bounded, a time limit.

The stand-in server (a real HTTP server on 127.0.0.1) is made to misbehave with its
``paging`` modes, a logger clock in 2099, and slow answers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from duckpond.pipeline.hydrovu.collect import DeviceRequest, collect
from duckpond.pond import Pond
from duckpond.testing.hydrovu_server import Fault, HydroVuServer, synthetic_location

from ..cli.conftest import PondRunner
from .conftest import START, T0, client_for, collected, served
from .test_kind import last_run, resource, stored, versions

Y2099 = 4_070_908_800  # 2099-01-01T00:00:00Z
DAY = 86400


def with_future(loc: Any, *times: int) -> Any:
    """The location's first parameter also reports at ``times`` (a clock gone wrong)."""
    first = loc.parameters[0]
    first.times.extend(times)
    first.values.extend(float(i) for i in range(len(times)))
    return loc


def test_future_readings_are_quarantined_not_kept(stand_in: Any) -> None:
    loc = synthetic_location(31, "A", START, days=2, interval=3600)
    real = served(loc)
    with_future(loc, Y2099, Y2099 + 60)
    server = stand_in([loc])
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("A", 31, T0)], with_locations=False).devices
    assert device.error is None and device.complete
    assert collected([device.table]) == real
    assert device.quarantined == 2
    assert device.quarantine is not None
    assert [int(t.timestamp()) for t in device.quarantine.column("timestamp").to_pylist()] == [
        Y2099,
        Y2099 + 60,
    ]


def test_a_tolerance_keeps_readings_a_little_ahead(stand_in: Any) -> None:
    now = T0 + DAY
    loc = synthetic_location(32, "A", START, days=2, interval=3600)
    server = stand_in([loc])
    with client_for(server) as client:
        (device,) = collect(
            client,
            [DeviceRequest("A", 32, T0)],
            with_locations=False,
            now=now,
            future_tolerance=3 * 3600,
        ).devices
    times = collected([device.table])
    assert max(times) == now + 3 * 3600
    assert device.quarantined == 2 * (48 - 24 - 3 - 1)  # two parameters, the rest of day 2


@pytest.fixture
def clocked(stand_in: Any, monkeypatch: pytest.MonkeyPatch) -> HydroVuServer:
    a = with_future(synthetic_location(101, "A", START, days=3), Y2099)
    b = synthetic_location(102, "B", START, days=3)
    server: HydroVuServer = stand_in([a, b])
    monkeypatch.setenv("HV_ID", server.client_id)
    monkeypatch.setenv("HV_SECRET", server.client_secret)
    return server


def two_devices(tmp_path: Path, server: HydroVuServer, extra: str = "") -> Path:
    path = resource(tmp_path, server, extra)
    path.write_text(
        path.read_text().replace("    - {name: Empty, id: 103, comment: no data yet}\n", "")
    )
    return path


def test_a_run_quarantines_warns_and_resumes_from_trustworthy_time(
    pond: PondRunner, pond_dir: Path, clocked: HydroVuServer, tmp_path: Path
) -> None:
    server = clocked
    pond.ok("apply", "-f", str(two_devices(tmp_path, server)))
    result = pond.ok("run")
    assert "warning: noyo: A: 1 readings stamped after now + 1h quarantined" in result.stderr
    assert "/hydrovu/noyo/quarantine/A.table" in result.stderr
    expected = {t: v for t, v in served(server.locations[101]).items() if t < Y2099}
    assert stored(pond_dir, "/hydrovu/noyo/A.series") == expected
    quarantined = pond.json("cat", "/hydrovu/noyo/quarantine/A.table")
    assert len(quarantined) == 1 and quarantined[0]["timestamp"].startswith("2099-01-01")
    run = last_run(pond)
    details = json.loads(run["details"]) if isinstance(run["details"], str) else run["details"]
    assert details["quarantined"] == 1 and details["devices"]["A"]["quarantined"] == 1
    assert any("quarantined" in w for w in details["warnings"])
    # The next run starts right after the newest trustworthy reading, and the quarantine
    # (the same reading again) writes no new version.
    server.served.clear()
    pond.ok("run")
    [request] = server.data_requests(101)
    assert int(request.query["startTime"]) == max(expected) + 1
    assert versions(pond, "/hydrovu/noyo/quarantine/A.table") == 1
    assert versions(pond, "/hydrovu/noyo/A.series") == 1


def test_future_readings_stored_before_do_not_set_the_resume_point(
    pond: PondRunner, pond_dir: Path, clocked: HydroVuServer, tmp_path: Path
) -> None:
    """A pond written by an older collector holds a 2099 reading: resume ignores it."""
    server = clocked
    newest_real = T0 + DAY
    old = Pond.open(pond_dir)
    old.mkdir("/hydrovu/noyo", parents=True)
    times = pa.array([newest_real * 10**6, Y2099 * 10**6], pa.timestamp("us", tz="UTC"))
    old.write_series(
        "/hydrovu/noyo/B.series",
        pa.table({"timestamp": times, "Temperature.C": pa.array([1.0, 2.0])}),
    )
    old.close()
    pond.ok("apply", "-f", str(two_devices(tmp_path, server)))
    pond.ok("run")
    [request] = server.data_requests(102)
    assert int(request.query["startTime"]) == newest_real + 1


@pytest.mark.parametrize(
    ("paging", "cause"),
    [
        ("repeat-cursor", "repeats an earlier X-ISI-Next-Page cursor"),
        ("stale-pages", "brings no new readings"),
        ("endless", "more than 401 pages, the most this run allows"),
    ],
)
def test_paging_that_never_ends_is_an_error_naming_why(
    pond: PondRunner,
    pond_dir: Path,
    clocked: HydroVuServer,
    tmp_path: Path,
    paging: str,
    cause: str,
) -> None:
    server = clocked
    server.paging = paging
    server.page_seconds = 6 * 3600  # 12 pages of real readings, 288 timestamps
    pond.ok("apply", "-f", str(two_devices(tmp_path, server, "  max_points_per_run: 400\n")))
    started = time.monotonic()
    message = pond.error("run")
    assert time.monotonic() - started < 60
    assert "1 of 1 run(s) failed: noyo" in message
    run = last_run(pond)
    assert run["outcome"] == "failed" and cause in run["error"]
    # The run lock is free again: another run starts at once (and fails the same way).
    server.paging = "normal"
    pond.ok("run", "--no-wait")


def test_a_run_stops_at_its_time_limit_and_commits_what_it_has(
    pond: PondRunner, pond_dir: Path, clocked: HydroVuServer, tmp_path: Path
) -> None:
    server = clocked
    server.page_seconds = 6 * 3600  # 12 pages per device
    server.latency = 0.25
    pond.ok("apply", "-f", str(two_devices(tmp_path, server, "  time_limit: 2s\n")))
    started = time.monotonic()
    result = pond.ok("run")
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 5  # the limit, and the write
    assert "time limit of 2s reached" in result.stderr
    first = stored(pond_dir, "/hydrovu/noyo/B.series")
    assert 0 < len(first) < len(served(server.locations[102]))
    # Later runs go on from there: in the end every reading exactly once.
    server.latency = 0.0
    pond.ok("run")
    assert stored(pond_dir, "/hydrovu/noyo/B.series") == served(server.locations[102])


def test_a_hanging_request_is_cut_at_the_time_limit(stand_in: Any) -> None:
    loc = synthetic_location(33, "A", START, days=6, interval=3600)
    server = stand_in([loc])
    server.inject(Fault("/data", delay=30.0, after=1, times=1))
    with client_for(server, read_timeout=60.0) as client:
        started = time.monotonic()
        (device,) = collect(
            client, [DeviceRequest("A", 33, T0)], with_locations=False, time_limit=1.5
        ).devices
        elapsed = time.monotonic() - started
    assert elapsed < 5
    assert device.error is None and not device.complete and device.stopped == "time limit"
    # The first page's readings, less its newest timestamp.
    first_page = {t: v for t, v in served(loc).items() if t < T0 + 2 * DAY - 3600}
    assert collected([device.table]) == first_page
