"""The HydroVu client's contract: credentials, secrets kept out of text, locations, real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from duckpond.errors import PondError
from duckpond.pipeline.hydrovu.client import (
    HydroVuAuthError,
    HydroVuClient,
    HydroVuError,
    list_locations,
)
from duckpond.pipeline.hydrovu.collect import DeviceRequest, collect
from duckpond.testing.hydrovu_server import Fault, Location, sf_temps_location, synthetic_location

from .conftest import FAST, START, T0, client_for, collected, served


class _Secret:
    """A pipeline-style secret: masked when printed, revealed on demand."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"


def test_wrong_secret_is_an_auth_error_that_does_not_show_it(stand_in):
    server = stand_in([synthetic_location(1, "A", START, days=1)])
    wrong = "not-the-secret-but-still-secret-42"
    with HydroVuClient(
        server.client_id, _Secret(wrong), base_url=server.base_url, retry=FAST
    ) as client:
        assert wrong not in repr(client) and wrong not in repr(client.auth)
        with pytest.raises(HydroVuAuthError) as caught:
            client.friendly_names()
    assert isinstance(caught.value, PondError)
    assert "HTTP 401" in str(caught.value)
    assert wrong not in str(caught.value)


def test_a_device_error_never_carries_the_secret_or_token(stand_in):
    server = stand_in([synthetic_location(1, "A", START, days=1)])
    server.inject(Fault("/data", status=500, times=100))
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("A", 1, T0)]).devices
        token = client.auth.secrets()[-1]
        assert client.scrub(f"x {server.client_secret} y {token}") == "x *** y ***"
    assert device.error == "HydroVu v1/locations/1/data: HTTP 500"
    assert device.retries == FAST.attempts - 1


def test_token_endpoint_failure_is_not_called_refused_credentials(stand_in):
    server = stand_in([])
    server.inject(Fault("oauth/token", status=502, times=100))
    with client_for(server) as client, pytest.raises(HydroVuError) as caught:
        client.locations()
    assert not isinstance(caught.value, HydroVuAuthError)
    assert "HTTP 502" in str(caught.value)


def test_connection_refused_is_bounded_and_friendly(stand_in):
    server = stand_in([])
    url = server.base_url
    server.stop()
    with (
        HydroVuClient("id", "secret", base_url=url, retry=FAST) as client,
        pytest.raises(HydroVuError, match="ConnectError"),
    ):
        client.friendly_names()


def test_list_locations_names_their_parameters(stand_in):
    server = stand_in(
        [
            synthetic_location(7, "Sonde", START, days=2, added_halfway=[("batt", "V")]),
            Location(8, "Quiet", latitude=38.0, longitude=-122.0),
        ]
    )
    with client_for(server) as client:
        listed = list_locations(client, since=T0)
    assert listed == [
        {
            "id": 8,
            "name": "Quiet",
            "gps": {"latitude": 38.0, "longitude": -122.0},
            "parameters": [],
        },
        {
            "id": 7,
            "name": "Sonde",
            "gps": {"latitude": 39.4, "longitude": -123.8},
            "parameters": ["Battery.V", "Specific Conductivity.uS/cm", "Temperature.C"],
        },
    ]


def test_sf_temps_real_measurements_are_served_and_collected(stand_in):
    pytest.importorskip("vega_datasets")
    loc = sf_temps_location()
    server = stand_in([loc])
    with client_for(server) as client:
        (device,) = collect(client, [DeviceRequest("SF", loc.id, 0)]).devices
    table = device.table
    assert table.num_rows == 8759  # 2010, hourly, one hour missing in the file
    assert table.column_names == ["timestamp", "Temperature.F"]
    assert collected([table]) == served(loc, 0)
    # The first reading of the file (47.8 F at 2010-01-01 00:00 PST).
    assert table.column("Temperature.F")[0].as_py() == 47.8
    assert str(table.column("timestamp")[0]) == "2010-01-01 08:00:00+00:00"


def test_stand_in_runs_as_a_process(tmp_path: Path):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "duckpond.testing.hydrovu_server", "--devices", "2", "--days", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url, client_id, client_secret = proc.stdout.readline().split()
        with HydroVuClient(client_id, client_secret, base_url=base_url, retry=FAST) as client:
            assert [loc["name"] for loc in client.locations()] == ["Device00", "Device01"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
