"""A stand-in for the HydroVu public API: a real HTTP server on 127.0.0.1.

It speaks the shapes of shared/HYDROVU.md: an OAuth2 client-credentials token
endpoint with expiring tokens, ``v1/sispec/friendlynames``, the paged
``v1/locations/list`` and paged ``v1/locations/{id}/data`` with opaque
next-page cursors (``X-ISI-Next-Page`` / ``X-ISI-Start-Page``), about two
days of readings per page, and a 404 when a location has nothing at or after
``startTime``.  Faults can be injected (a status such as 429 or 500 with
headers, or a slow answer), tokens revoked, and a per-request latency added
to stand for a real network.  ``paging`` makes the data paging misbehave as a
broken server could: ``repeat-cursor`` (every next-page cursor is the one the
request came with), ``stale-pages`` (a continued page is served again and
again, each time with a fresh cursor), ``endless`` (after the real readings,
page after page of one new reading each, stamped in 2100).

Data sets are Python objects (``Location`` with ``Parameter`` readings);
``synthetic_location`` makes regular readings and ``sf_temps_location``
serves real measurements shipped by the ``vega_datasets`` package (hourly
San Francisco air temperatures of 2010, degrees Fahrenheit).

Use it as a context manager::

    with HydroVuServer([synthetic_location(1, "A", start, days=3)]) as server:
        client = HydroVuClient(server.client_id, server.client_secret, base_url=server.base_url)

or as a process: ``python -m duckpond.testing.hydrovu_server --devices 10``
prints the base URL and serves until interrupted.
"""

from __future__ import annotations

import base64
import bisect
import json
import math
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_PARAMETERS = {
    "1": "Temperature",
    "2": "Specific Conductivity",
    "4": "Level: Depth to Water",
    "9": "pH",
    "17": "Dissolved Oxygen",
    "batt": "Battery",
}
# 2100-01-01T00:00:00Z: where ``paging="endless"`` pages go on after the real readings.
ENDLESS_FROM = 4_102_444_800
DEFAULT_UNITS = {"1": "C", "2": "F", "17": "uS/cm", "35": "m", "117": "mg/L", "pH": "pH", "V": "V"}

__all__ = [
    "DEFAULT_PARAMETERS",
    "DEFAULT_UNITS",
    "Fault",
    "HydroVuServer",
    "Location",
    "Parameter",
    "sf_temps_location",
    "synthetic_location",
]


@dataclass
class Parameter:
    """One parameter's readings at a location: ``times`` (Unix s, ascending) and ``values``."""

    parameter_id: str
    unit_id: str
    times: list[int]
    values: list[float]


@dataclass
class Location:
    """A HydroVu location (a device).  ``sentinels`` are ``(parameter_id, unit_id,
    timestamp, value)`` readings with implausible times that the server adds to
    the first page of every data request, as instruments with an unset clock do."""

    id: int
    name: str
    parameters: list[Parameter] = field(default_factory=list)
    description: str = ""
    latitude: float | None = None
    longitude: float | None = None
    sentinels: list[tuple[str, str, int, float]] = field(default_factory=list)

    def readings(self) -> dict[tuple[str, str], dict[int, float]]:
        """Every reading served (sentinels aside): ``(parameter, unit) -> {time: value}``."""
        return {
            (p.parameter_id, p.unit_id): dict(zip(p.times, p.values, strict=True))
            for p in self.parameters
        }


@dataclass
class Fault:
    """An injected failure for requests whose path contains ``path``.

    The first ``after`` matching requests pass; the next ``times`` get the
    fault: after ``delay`` seconds, ``status`` with ``headers`` (or, with no
    status, the normal answer, late); ``revoke`` first revokes every token
    (so the request meets a 401, as when a token expires unannounced).
    """

    path: str
    status: int | None = None
    revoke: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1
    after: int = 0
    seen: int = 0


@dataclass
class Served:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    start_page: str | None = None


def synthetic_location(
    id: int,
    name: str,
    start: datetime,
    *,
    days: float,
    interval: int = 900,
    parameters: Sequence[tuple[str, str]] = (("1", "1"), ("2", "17")),
    added_halfway: Sequence[tuple[str, str]] = (),
    latitude: float | None = 39.4,
    longitude: float | None = -123.8,
) -> Location:
    """Regular readings every ``interval`` seconds for ``days`` from ``start`` (UTC).

    ``added_halfway`` parameters start reporting at the middle of the span (a
    sensor added).  Values are smooth and distinct per parameter and time.
    """
    t0 = int(start.timestamp())
    count = int(days * 86400 // interval)
    times = [t0 + i * interval for i in range(count)]
    params = []
    for k, (pid, uid) in enumerate([*parameters, *added_halfway]):
        span = times if k < len(parameters) else times[count // 2 :]
        values = [
            round(10 * (k + 1) + 5 * math.sin((t - t0) / 86400 * 2 * math.pi + k) + id % 7, 6)
            for t in span
        ]
        params.append(Parameter(pid, uid, list(span), values))
    return Location(id, name, params, latitude=latitude, longitude=longitude)


def _vega_file(name: str) -> Path:
    # Found without importing vega_datasets, which would import pandas for nothing.
    import importlib.util

    spec = importlib.util.find_spec("vega_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the vega_datasets package is not installed", name="vega_datasets"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "_data" / name


def sf_temps_location(id: int = 5_000_000_000_000_001, name: str = "SFTemps") -> Location:
    """Hourly air temperatures measured in San Francisco in 2010 (degrees F), from the
    ``sf-temps`` data set that ``vega_datasets`` ships.

    The file gives local clock times without a zone; they are read as Pacific
    Standard Time (UTC-8) all year, which keeps them unique and ascending.
    """
    import csv

    pst = timezone(timedelta(hours=-8))
    times: list[int] = []
    values: list[float] = []
    with _vega_file("sf-temps.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            when = datetime.strptime(row["date"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=pst)
            times.append(int(when.timestamp()))
            values.append(float(row["temp"]))
    return Location(
        id,
        name,
        [Parameter("1", "2", times, values)],
        description="San Francisco air temperature (vega_datasets sf-temps)",
        latitude=37.77,
        longitude=-122.42,
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without this, Nagle's algorithm meets the
    # client's delayed ACK and every answer stalls some 40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HydroVuServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer closes its socket: not worth a traceback.
        pass


class HydroVuServer:
    """The stand-in server.  ``base_url`` ends with ``/public-api/``.

    ``token_lifetime`` (seconds) is how long a token really works;
    ``expires_in`` is what the token endpoint announces (by default the
    lifetime; announce more to make tokens expire unannounced mid-run).
    ``latency`` seconds are added to every answer.  Readings after ``now``
    (Unix seconds; None: all) are not served yet, as if not yet measured: move
    it forward between runs.  ``served`` records every request;
    ``tokens_issued`` counts tokens.
    """

    def __init__(
        self,
        locations: Iterable[Location],
        *,
        parameters: dict[str, str] | None = None,
        units: dict[str, str] | None = None,
        client_id: str = "stand-in-client",
        client_secret: str = "stand-in-secret-0123456789",
        token_lifetime: float = 3600.0,
        expires_in: float | None = None,
        page_seconds: int = 2 * 86400,
        locations_page_size: int = 2,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.locations = {loc.id: loc for loc in locations}
        self.parameters = dict(DEFAULT_PARAMETERS if parameters is None else parameters)
        self.units = dict(DEFAULT_UNITS if units is None else units)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.expires_in = expires_in
        self.page_seconds = page_seconds
        self.locations_page_size = locations_page_size
        self.latency = latency
        self.now: int | None = None
        self.paging: str = "normal"
        self.faults: list[Fault] = []
        self.served: list[Served] = []
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}
        self._cursors: dict[str, tuple[str, dict[str, str], int]] = {}
        self._lock = threading.Lock()
        self._minute = (0, 0)
        self._all_times = {
            loc.id: sorted({t for p in loc.parameters for t in p.times})
            for loc in self.locations.values()
        }
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/public-api/"

    def start(self) -> HydroVuServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="hydrovu-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HydroVuServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, fault: Fault) -> Fault:
        """Add a fault; it applies to matching requests from now on."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (as if it had expired)."""
        with self._lock:
            self._tokens.clear()

    def data_requests(self, location_id: int | None = None) -> list[Served]:
        """The ``/data`` requests served so far (of one location, if given)."""
        part = f"/locations/{location_id}/data" if location_id is not None else "/data"
        return [s for s in self.served if part in s.path]

    # -- request handling -------------------------------------------------

    def _fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path in path:
                    fault.seen += 1
                    if fault.after < fault.seen <= fault.after + fault.times:
                        return fault
        return None

    def _rate_headers(self) -> dict[str, str]:
        minute = int(time.time() // 60)
        with self._lock:
            count = self._minute[1] + 1 if self._minute[0] == minute else 1
            self._minute = (minute, count)
        return {"X-ISI-Requests-This-Minute": str(count)}

    def _handle(self, req: _Handler, method: str) -> None:
        url = urlsplit(req.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = b""
        length = int(req.headers.get("Content-Length") or 0)
        if length:
            body = req.rfile.read(length)
        if self.latency:
            time.sleep(self.latency)
        fault = self._fault(url.path)
        if fault is not None and fault.revoke:
            self.revoke_tokens()
        status, headers, payload = self._route(req, method, url.path, query, body)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status is not None:
                status, headers, payload = fault.status, dict(fault.headers), {"error": "injected"}
        with self._lock:
            self.served.append(
                Served(method, url.path, query, status, req.headers.get("X-ISI-Start-Page"))
            )
        data = json.dumps(payload).encode()
        try:
            req.send_response(status)
            for name, value in {**self._rate_headers(), **headers}.items():
                req.send_header(name, value)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except OSError:
            req.close_connection = True

    def _route(
        self, req: _Handler, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        prefix = "/public-api/"
        if not path.startswith(prefix):
            return 404, {}, {"error": "not found"}
        path = path[len(prefix) :]
        if path == "oauth/token":
            return (405, {}, {}) if method != "POST" else self._token(req, body)
        if method != "GET":
            return 405, {}, {"error": "method not allowed"}
        if not self._authorized(req.headers.get("Authorization", "")):
            return 401, {}, {"error": "invalid_token"}
        start_page = req.headers.get("X-ISI-Start-Page") or None
        if path == "v1/sispec/friendlynames":
            return 200, {}, {"parameters": self.parameters, "units": self.units}
        if path == "v1/locations/list":
            return self._locations(path, query, start_page)
        parts = path.split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "locations"] and parts[3] == "data":
            return self._data(path, parts[2], query, start_page)
        return 404, {}, {"error": "not found"}

    def _token(self, req: _Handler, body: bytes) -> tuple[int, dict[str, str], Any]:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = req.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return 400, {}, {"error": "unsupported_grant_type"}
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {}, {"error": "invalid_client"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
            self.tokens_issued += 1
        announced = self.token_lifetime if self.expires_in is None else self.expires_in
        return (
            200,
            {},
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": math.ceil(announced),
                "scope": "read:locations read:data",
            },
        )

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Bearer "):
            return False
        with self._lock:
            expiry = self._tokens.get(header[7:])
        return expiry is not None and time.monotonic() < expiry

    def _cursor(self, path: str, query: dict[str, str], position: int) -> str:
        cursor = secrets.token_hex(32)  # 64 characters, as the real cursors are
        with self._lock:
            self._cursors[cursor] = (path, query, position)
        return cursor

    def _resume(
        self, path: str, query: dict[str, str], start_page: str | None
    ) -> int | tuple[int, dict[str, str], Any] | None:
        if start_page is None:
            return None
        with self._lock:
            saved = self._cursors.get(start_page)
        if saved is None or saved[0] != path or saved[1] != query:
            return 400, {}, {"error": "invalid page cursor for this request"}
        return saved[2]

    def _locations(
        self, path: str, query: dict[str, str], start_page: str | None
    ) -> tuple[int, dict[str, str], Any]:
        position = self._resume(path, query, start_page)
        if isinstance(position, tuple):
            return position
        first = position or 0
        items = sorted(self.locations.values(), key=lambda loc: loc.id)
        page = items[first : first + self.locations_page_size]
        body = [
            {
                "id": loc.id,
                "name": loc.name,
                "description": loc.description,
                "gps": {"latitude": loc.latitude, "longitude": loc.longitude},
            }
            for loc in page
        ]
        following = first + self.locations_page_size
        headers = (
            {"X-ISI-Next-Page": self._cursor(path, query, following)}
            if following < len(items)
            else {}
        )
        return 200, headers, body

    def _data(
        self, path: str, location: str, query: dict[str, str], start_page: str | None
    ) -> tuple[int, dict[str, str], Any]:
        try:
            loc = self.locations[int(location)]
            start = int(query["startTime"])
            end = int(query["endTime"]) if "endTime" in query else None
        except (KeyError, ValueError):
            return 404, {}, {"error": "not found"}
        if self.now is not None:
            end = self.now if end is None else min(end, self.now)
        position = self._resume(path, query, start_page)
        if isinstance(position, tuple):
            return position
        times = self._all_times[loc.id]
        if self.paging == "endless" and position is not None and position >= ENDLESS_FROM:
            return self._endless(path, loc, query, position)
        if position is None:
            i = bisect.bisect_left(times, start)
            if i == len(times) or (end is not None and times[i] > end):
                return 404, {}, {"error": "no data"}
            position = times[i]
        window_end = position + self.page_seconds  # exclusive
        if end is not None:
            window_end = min(window_end, end + 1)
        blocks = []
        for p in loc.parameters:
            lo = bisect.bisect_left(p.times, position)
            hi = bisect.bisect_left(p.times, window_end)
            if lo < hi:
                readings = [
                    {"timestamp": t, "value": v}
                    for t, v in zip(p.times[lo:hi], p.values[lo:hi], strict=True)
                ]
                blocks.append([p.parameter_id, p.unit_id, readings])
        if start_page is None:
            for pid, uid, ts, value in loc.sentinels:
                blocks.append([pid, uid, [{"timestamp": ts, "value": value}]])
        # The API promises no order of parameters: alternate it.
        if (position // self.page_seconds) % 2:
            blocks.reverse()
        body = {
            "locationId": loc.id,
            "parameters": [
                {"parameterId": pid, "unitId": uid, "customParameter": False, "readings": r}
                for pid, uid, r in blocks
            ],
        }
        k = bisect.bisect_left(times, window_end)
        headers = {}
        if self.paging == "repeat-cursor" and start_page is not None:
            headers["X-ISI-Next-Page"] = start_page
        elif self.paging == "stale-pages" and start_page is not None:
            headers["X-ISI-Next-Page"] = self._cursor(path, query, position)
        elif k < len(times) and (end is None or times[k] <= end):
            headers["X-ISI-Next-Page"] = self._cursor(path, query, times[k])
        elif self.paging == "endless":
            headers["X-ISI-Next-Page"] = self._cursor(path, query, ENDLESS_FROM)
        return 200, headers, body

    def _endless(
        self, path: str, loc: Location, query: dict[str, str], position: int
    ) -> tuple[int, dict[str, str], Any]:
        """One reading at ``position`` (in 2100), and a cursor to a minute later."""
        first = loc.parameters[0]
        body = {
            "locationId": loc.id,
            "parameters": [
                {
                    "parameterId": first.parameter_id,
                    "unitId": first.unit_id,
                    "customParameter": False,
                    "readings": [{"timestamp": position, "value": 0.0}],
                }
            ],
        }
        return 200, {"X-ISI-Next-Page": self._cursor(path, query, position + 60)}, body


def main(argv: Sequence[str] | None = None) -> None:
    """Serve synthetic devices (and optionally sf-temps) until interrupted; print the base URL."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=3, help="synthetic devices")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--interval", type=int, default=900, help="seconds between readings")
    parser.add_argument("--start", default="2024-01-01", help="first reading (UTC date)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--sf-temps", action="store_true", help="also serve vega_datasets sf-temps")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    locations = [
        synthetic_location(
            1_000_000 + i, f"Device{i:02d}", start, days=args.days, interval=args.interval
        )
        for i in range(args.devices)
    ]
    if args.sf_temps:
        locations.append(sf_temps_location())
    server = HydroVuServer(locations, latency=args.latency, port=args.port).start()
    print(server.base_url, server.client_id, server.client_secret, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
