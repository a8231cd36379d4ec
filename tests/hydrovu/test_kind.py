"""``kind: HydroVu`` through ``pond apply`` and ``pond run``, against the stand-in server:
afterwards the pond holds every reading served exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from duckpond.pond import Pond
from duckpond.testing.hydrovu_server import Fault, HydroVuServer, Location, synthetic_location

from ..cli.conftest import PondRunner
from .conftest import START, T0, collected, served

DAY = 86400


@pytest.fixture
def account(stand_in: Any, monkeypatch: pytest.MonkeyPatch) -> HydroVuServer:
    a = synthetic_location(101, "A", START, days=6, added_halfway=[("batt", "V")])
    a.sentinels = [("1", "1", 960, 0.0)]
    b = synthetic_location(102, "B", START, days=6)
    server: HydroVuServer = stand_in([a, b, Location(103, "Empty")])
    monkeypatch.setenv("HV_ID", server.client_id)
    monkeypatch.setenv("HV_SECRET", server.client_secret)
    return server


def resource(tmp_path: Path, server: HydroVuServer, extra: str = "") -> Path:
    path = tmp_path / "noyo.yaml"
    path.write_text(
        "apiVersion: duckpond/v1\nkind: HydroVu\nname: noyo\nspec:\n"
        "  client_id: ${env:HV_ID}\n  client_secret: ${env:HV_SECRET}\n"
        f"  base_url: {server.base_url}\n  since: 2024-01-01\n"
        "  devices:\n    - {name: A, id: 101}\n    - {name: B, id: 102}\n"
        "    - {name: Empty, id: 103, comment: no data yet}\n" + extra
    )
    return path


def stored(directory: Path, path: str) -> dict[int, dict[str, float]]:
    p = Pond.open(directory)
    try:
        return collected([p.read_table(path)])
    finally:
        p.close()


def versions(runner: PondRunner, path: str) -> int:
    return len(runner.json("history", path))


def last_run(runner: PondRunner) -> dict[str, Any]:
    rows = runner.json(
        "query", "SELECT outcome, rows, error, details FROM runs ORDER BY start DESC"
    )
    return dict(rows[0])


def test_runs_collect_new_readings_once(pond: PondRunner, pond_dir: Path, account, tmp_path):
    server = account
    server.now = T0 + 3 * DAY
    pond.ok("apply", "-f", str(resource(tmp_path, server)))
    pond.ok("run")
    assert versions(pond, "/hydrovu/noyo/A.series") == 1
    # Later readings arrive; a run appends them as one new version per device.
    server.now = None
    pond.ok("run")
    for loc in server.locations.values():
        if loc.parameters:
            assert stored(pond_dir, f"/hydrovu/noyo/{loc.name}.series") == served(loc)
            assert versions(pond, f"/hydrovu/noyo/{loc.name}.series") == 2
    # Nothing new: nothing written.
    before = pond.json("log")[0]["txn_seq"]
    pond.ok("run")
    assert versions(pond, "/hydrovu/noyo/A.series") == 2
    names = set(pond.paths("/hydrovu/noyo/**"))
    assert "/hydrovu/noyo/Empty.series" not in names
    assert {"/hydrovu/noyo/meta/parameters.table", "/hydrovu/noyo/meta/locations.table"} <= names
    assert versions(pond, "/hydrovu/noyo/meta/locations.table") == 1
    assert pond.json("log")[0]["txn_seq"] == before  # nothing new: no transaction
    run = last_run(pond)
    assert run["outcome"] == "ok" and run["rows"] == 0


def test_sentinels_and_a_failing_device_are_in_the_run_record(
    pond: PondRunner, pond_dir: Path, account, tmp_path
):
    server = account
    server.inject(Fault("/locations/102/data", status=500, times=1000))
    pond.ok("apply", "-f", str(resource(tmp_path, server)))
    # A's readings are committed, but the run is a failure that names B and why (exit 1).
    assert "1 of 1 run(s) failed: noyo" in pond.error("run")
    run = last_run(pond)
    assert run["outcome"] == "failed"
    assert run["error"].startswith("1 of 3 devices failed: B: ") and "HTTP 500" in run["error"]
    details = run["details"] if isinstance(run["details"], dict) else json.loads(run["details"])
    assert details["failed"] == ["B"]
    assert "HTTP 500" in details["devices"]["B"]["error"]
    assert details["sentinels"] == 1
    assert server.client_secret not in str(details)
    assert stored(pond_dir, "/hydrovu/noyo/A.series") == served(server.locations[101])
    # The next run, with the server well again, fills B in from the start.
    server.faults.clear()
    pond.ok("run")
    assert stored(pond_dir, "/hydrovu/noyo/B.series") == served(server.locations[102])


def test_max_points_per_run_continues_next_run(pond: PondRunner, pond_dir: Path, account, tmp_path):
    server = account
    pond.ok("apply", "-f", str(resource(tmp_path, server, "  max_points_per_run: 200\n")))
    for _ in range(3):
        pond.ok("run")
    loc = server.locations[101]
    assert versions(pond, "/hydrovu/noyo/A.series") == 3  # 576 readings: 200 + 200 + 176
    assert stored(pond_dir, "/hydrovu/noyo/A.series") == served(loc)


def test_a_literal_secret_is_refused(pond: PondRunner, account, tmp_path):
    path = resource(tmp_path, account)
    path.write_text(path.read_text().replace("${env:HV_SECRET}", "hunter2-literal"))
    message = pond.fails("apply", "-f", str(path))
    assert "client_secret" in message and "hunter2-literal" not in message


def test_hydrovu_locations_lists_the_account(pond: PondRunner, account, tmp_path):
    pond.ok("apply", "-f", str(resource(tmp_path, account)))
    listed = pond.json("hydrovu", "locations", "noyo")
    assert [(loc["id"], loc["name"]) for loc in listed] == [(101, "A"), (102, "B"), (103, "Empty")]
    assert listed[0]["parameters"] == ["Specific Conductivity.uS/cm", "Temperature.C"]
    assert listed[0]["gps"] == {"latitude": 39.4, "longitude": -123.8}
    text = pond.ok("hydrovu", "locations", "noyo").stdout
    assert "Temperature.C" in text and "101" in text
    assert "no resource named" in pond.error("hydrovu", "locations", "nope")


def test_a_run_where_every_device_fails_is_a_failed_run(pond: PondRunner, account, tmp_path):
    account.inject(Fault("/data", status=503, times=10_000))
    pond.ok("apply", "-f", str(resource(tmp_path, account)))
    message = pond.error("run")
    assert "1 of 1 run(s) failed: noyo" in message
    run = pond.json("query", "SELECT outcome, error FROM runs")[0]
    assert run["outcome"] == "failed"
    assert "every device failed" in run["error"] and "HTTP 503" in run["error"]
    assert account.client_secret not in run["error"]
    assert not pond.paths("/hydrovu/noyo/**")
