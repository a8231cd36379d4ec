"""The collector against a real HTTP stand-in: every reading exactly once, through faults."""

from __future__ import annotations

import time

import pytest

from duckpond.pipeline.hydrovu.collect import (
    DeviceRequest,
    collect,
    locations_table,
    names_table,
    resume_start,
)
from duckpond.pipeline.hydrovu.rows import EARLIEST
from duckpond.testing.hydrovu_server import Fault, Location, synthetic_location

from .conftest import START, T0, client_for, collected, served


def test_paging_gives_every_reading_once(stand_in):
    loc = synthetic_location(11, "A", START, days=10, interval=600)
    server = stand_in([loc])
    with client_for(server) as client:
        result = collect(client, [DeviceRequest("A", 11, T0)])
    (device,) = result.devices
    assert device.error is None and device.complete
    assert collected([device.table]) == served(loc)
    # Two-day pages: 5 of them, the first without a cursor and the others with the one given.
    data = server.data_requests(11)
    assert device.pages == len(data) == 5
    assert data[0].start_page is None and all(len(r.start_page or "") == 64 for r in data[1:])
    assert all(r.query == {"startTime": str(T0)} for r in data)
    assert device.table.schema.field("timestamp").type.tz == "UTC"
    assert device.table.schema.field("timestamp").type.unit == "us"
    assert [f.name for f in device.table.schema] == [
        "timestamp",
        "Specific Conductivity.uS/cm",
        "Temperature.C",
    ]


def test_start_time_is_inclusive_and_resume_adds_one_second(stand_in):
    loc = synthetic_location(12, "A", START, days=1, interval=3600)
    server = stand_in([loc])
    newest_us = (T0 + 5 * 3600) * 1_000_000
    start = resume_start(newest_us, since=T0)
    assert start == T0 + 5 * 3600 + 1
    assert resume_start(None, since=T0) == T0
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("A", 12, start)]).devices
    assert collected([device.table]) == served(loc, start)
    assert min(collected([device.table])) == T0 + 6 * 3600


def test_locations_are_paged_and_dictionaries_are_tables(stand_in):
    locations = [Location(i, f"L{i}", latitude=1.0 * i, longitude=-2.0) for i in range(1, 6)]
    server = stand_in(locations, locations_page_size=2)
    with client_for(server) as client:
        result = collect(client, [])
    assert [loc["id"] for loc in result.locations] == [1, 2, 3, 4, 5]
    assert len([s for s in server.served if s.path.endswith("locations/list")]) == 3
    table = locations_table(result.locations)
    assert table.column("latitude").to_pylist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    params = names_table(result.names.parameters)
    assert dict(zip(params["id"].to_pylist(), params["name"].to_pylist(), strict=True)) == (
        server.parameters
    )


def test_token_expiring_unannounced_mid_run_is_renewed_once(stand_in):
    loc = synthetic_location(13, "A", START, days=20)
    server = stand_in([loc])
    server.inject(Fault("/data", revoke=True, after=3))
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("A", 13, T0)], with_locations=False).devices
    assert device.error is None
    assert collected([device.table]) == served(loc)
    assert server.tokens_issued == 2
    assert [s.status for s in server.data_requests(13)].count(401) == 1


def test_token_renewed_before_its_announced_expiry(stand_in):
    loc = synthetic_location(14, "A", START, days=40)
    # Tokens really last 1 s; the run takes longer, so the client must renew in time.
    server = stand_in([loc], token_lifetime=1.0, latency=0.06)
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("A", 14, T0)], with_locations=False).devices
    assert device.error is None
    assert collected([device.table]) == served(loc)
    assert server.tokens_issued >= 2


def test_429_waits_as_the_rate_limit_headers_say(stand_in):
    loc = synthetic_location(15, "A", START, days=6)
    server = stand_in([loc])
    headers = {"X-ISI-Requests-This-Minute": "1000", "X-ISI-Requests-Timeout": "0.3"}
    server.inject(Fault("/data", status=429, headers=headers, times=2, after=1))
    began = time.monotonic()
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("A", 15, T0)], with_locations=False).devices
    assert time.monotonic() - began >= 0.6
    assert device.error is None and device.retries == 2
    assert collected([device.table]) == served(loc)
    statuses = [s.status for s in server.data_requests(15)]
    assert statuses.count(429) == 2 and statuses.count(200) == 3


def test_5xx_retried_and_a_device_that_keeps_failing_does_not_stop_the_others(stand_in):
    a = synthetic_location(16, "A", START, days=6)
    b = synthetic_location(17, "B", START, days=6)
    server = stand_in([a, b])
    server.inject(Fault("/locations/16/data", status=500, times=2))
    server.inject(Fault("/locations/17/data", status=503, times=100, after=1))
    with client_for(server) as client:
        ra, rb = collect(client, [DeviceRequest("A", 16, T0), DeviceRequest("B", 17, T0)]).devices
    assert ra.error is None and ra.retries == 2
    assert collected([ra.table]) == served(a)
    assert rb.table is None and rb.error is not None and "503" in rb.error
    # Bounded: the first page, then the policy's 4 attempts at the second.
    assert len(server.data_requests(17)) == 1 + 4
    assert server.client_secret not in rb.error


def test_read_timeout_is_retried_then_bounded(stand_in):
    a = synthetic_location(18, "A", START, days=4)
    b = synthetic_location(19, "B", START, days=4)
    server = stand_in([a, b])
    server.inject(Fault("/locations/18/data", delay=4.0, times=1, after=1))
    server.inject(Fault("/locations/19/data", delay=4.0, times=100))
    began = time.monotonic()
    with client_for(server, read_timeout=1.0) as client:
        ra, rb = collect(client, [DeviceRequest("A", 18, T0), DeviceRequest("B", 19, T0)]).devices
    assert ra.error is None and ra.retries >= 1
    assert collected([ra.table]) == served(a)
    assert rb.error is not None and "timed out" in rb.error
    # Four attempts of 1 s each and short waits, not 100 slow answers.
    assert time.monotonic() - began < 20


def test_parameter_added_half_way_adds_a_column_null_before(stand_in):
    loc = synthetic_location(20, "A", START, days=8, added_halfway=[("batt", "V")])
    server = stand_in([loc])
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("A", 20, T0)], with_locations=False).devices
    table = device.table
    assert "Battery.V" in table.column_names
    battery = table.column("Battery.V").to_pylist()
    half = table.num_rows // 2
    assert battery[:half] == [None] * half and None not in battery[half:]
    assert collected([table]) == served(loc)


def test_sentinel_timestamps_are_dropped_and_counted(stand_in):
    loc = synthetic_location(21, "A", START, days=4)
    loc.sentinels = [("1", "1", 0, -1.0), ("1", "1", 960, -2.0), ("2", "17", 900_000_000, 0.0)]
    server = stand_in([loc])
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("A", 21, T0)], with_locations=False).devices
    assert device.sentinels == 3
    times = collected([device.table])
    assert min(times) >= EARLIEST
    assert times == served(loc)


def test_a_device_without_data_is_a_404_and_no_error(stand_in):
    empty = Location(22, "Empty")
    old = synthetic_location(23, "Old", START, days=1)
    server = stand_in([empty, old])
    with client_for(server) as client:
        re, ro = collect(
            client, [DeviceRequest("Empty", 22, T0), DeviceRequest("Old", 23, T0 + 10 * 86400)]
        ).devices
    for device in (re, ro):
        assert device.error is None and device.table is None and device.rows == 0
    assert [s.status for s in server.data_requests()] == [404, 404]


def test_max_points_per_run_stops_and_resumes_without_gap_or_duplicate(stand_in):
    loc = synthetic_location(24, "A", START, days=10, added_halfway=[("batt", "V")])
    server = stand_in([loc])
    tables = []
    start = T0
    runs = 0
    with client_for(server) as client:
        while True:
            runs += 1
            (device,) = collect(
                client, [DeviceRequest("A", 24, start)], max_points_per_run=250
            ).devices
            assert device.error is None
            if device.table is None:
                break
            assert device.rows <= 250
            tables.append(device.table)
            newest = device.table.column("timestamp")[-1].value
            start = resume_start(newest, since=T0)
            if device.complete:
                break
    assert runs == 4  # 960 readings: 250 + 250 + 250 + 210
    assert collected(tables) == served(loc)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrent_devices_each_get_their_own_readings(stand_in, concurrency):
    locations = [synthetic_location(30 + i, f"D{i}", START, days=5) for i in range(5)]
    server = stand_in(locations, latency=0.01)
    requests = [DeviceRequest(loc.name, loc.id, T0) for loc in locations]
    with client_for(server) as client:
        result = collect(client, requests, concurrency=concurrency)
    assert [d.name for d in result.devices] == [loc.name for loc in locations]
    for device, loc in zip(result.devices, locations, strict=True):
        assert collected([device.table]) == served(loc)
