"""The network half of a HydroVu run: every device's new readings as Arrow tables.

``collect`` does all the slow work (HTTP) and returns tables and counts; the
pipeline then writes one series version per device with new rows inside its
own transaction, so the pond's write lock is never held across the network.
Devices are fetched concurrently (threads share one ``HydroVuClient``); a
device that fails is reported with its (secret-free) error and does not stop
the others.

Every fetch finishes, whatever the server does:

- readings stamped after ``now + future_tolerance`` are quarantined
  (``DeviceResult.quarantine``, counted in ``quarantined``), never among the
  rows kept, so they cannot move the device's resume point past now;
- a page that brings no reading not seen before in this fetch, a repeated
  next-page cursor, or more pages than ``max_points_per_run`` allows (each
  page must bring something new, so more pages mean a server that is not
  progressing) is the device's error, naming the cause;
- ``time_limit`` seconds bound the whole collection: requests are cut short
  at the deadline and each device keeps what it has fetched (less its newest
  timestamp, which a page cut short may have split), marked incomplete so the
  next run continues from there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .client import FriendlyNames, HydroVuClient, HydroVuError, HydroVuTimeLimit, count_retries
from .rows import WideRows

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Collected",
    "DeviceRequest",
    "DeviceResult",
    "collect",
    "locations_table",
    "names_table",
    "newest_trustworthy",
    "resume_start",
]


@dataclass(frozen=True)
class DeviceRequest:
    """One device to fetch: its pond name, HydroVu location id, and the first second wanted."""

    name: str
    id: int | str
    start: int  # Unix seconds, UTC, inclusive


@dataclass
class DeviceResult:
    """What one device's fetch gave.

    ``table`` holds the new wide rows (None when there are none or on error);
    ``complete`` is False when ``max_points_per_run`` or the time limit stopped
    the fetch early (the next run goes on from the newest row; ``stopped`` says
    which); ``sentinels`` counts readings dropped for an implausible timestamp;
    ``quarantined`` counts readings set aside for a timestamp in the future,
    which ``quarantine`` holds (wide, as ``table``); ``error`` is a secret-free
    message.
    """

    name: str
    id: int | str
    start: int
    table: pa.Table | None = None
    pages: int = 0
    sentinels: int = 0
    quarantined: int = 0
    quarantine: pa.Table | None = None
    retries: int = 0
    complete: bool = True
    stopped: str | None = None
    error: str | None = None

    @property
    def rows(self) -> int:
        return 0 if self.table is None else self.table.num_rows


@dataclass
class Collected:
    """A run's fetch: per-device results, the friendly names and the location list
    (None when it was not fetched: not asked for, or the time limit came first)."""

    devices: list[DeviceResult]
    names: FriendlyNames
    locations: list[dict[str, Any]] | None = field(default_factory=list)

    @property
    def failed(self) -> list[DeviceResult]:
        return [d for d in self.devices if d.error is not None]


def resume_start(newest_event_us: int | None, since: int) -> int:
    """Where a device's next fetch starts (Unix seconds): the newest stored event time
    (microseconds) + 1 s, or ``since`` for a device with nothing stored yet."""
    if newest_event_us is None:
        return since
    return newest_event_us // 1_000_000 + 1


def newest_trustworthy(times_us: pa.Array, latest: int) -> int | None:
    """The newest of ``times_us`` (event times, microseconds) at or before ``latest``
    (Unix seconds), None if there is none: a series written before future readings were
    quarantined may hold some, and they must not set the resume point."""
    import pyarrow.compute as pc

    times = times_us.cast("int64")
    kept = pc.filter(times, pc.less_equal(times, latest * 1_000_000))
    newest = pc.max(kept).as_py()
    return None if newest is None else int(newest)


TIME_LIMIT = "time limit"
POINTS_LIMIT = "max_points_per_run"


def _fetch(
    client: HydroVuClient,
    names: FriendlyNames,
    device: DeviceRequest,
    max_points: int | None,
    latest: int | None,
) -> DeviceResult:
    result = DeviceResult(device.name, device.id, device.start)
    retries = count_retries()
    rows = WideRows(names, latest)
    # Each page must bring a new reading; beyond this many, the server is not progressing.
    max_pages = None if max_points is None else max_points + 1
    try:
        try:
            pages = client.data_pages(device.id, device.start, max_pages=max_pages)
            for page in pages:
                result.pages += 1
                if not rows.add_page(page):
                    raise HydroVuError(
                        f"HydroVu location {device.id}: page {result.pages} brings no new "
                        "readings (it repeats earlier ones; the paging would never end)"
                    )
                # One timestamp beyond the bound proves every reading of the kept ones has
                # arrived (pages could split a timestamp); the next run starts right after
                # the kept ones.
                if max_points is not None and rows.timestamps > max_points:
                    result.complete, result.stopped = False, POINTS_LIMIT
                    break
                if client.deadline is not None and time.monotonic() >= client.deadline:
                    raise HydroVuTimeLimit("the run's time limit was reached")
        except HydroVuTimeLimit:
            # Stop cleanly: keep what arrived, less the newest timestamp (its page may
            # have been cut short), and go on from there next run.
            result.complete, result.stopped = False, TIME_LIMIT
            rows.first_times(max(rows.timestamps - 1, 0))
        if result.stopped == POINTS_LIMIT and max_points is not None:
            rows.first_times(max_points)
        result.sentinels = rows.sentinels
        result.quarantined = rows.quarantined
        result.quarantine = rows.quarantined_table()
        if rows.timestamps:
            result.table = rows.table()
    except Exception as error:  # one device's failure, of any kind, must not stop the others
        result.error = client.scrub(str(error) or type(error).__name__)
        result.table = None
        result.quarantine = None
    result.retries = retries[0]
    return result


def collect(
    client: HydroVuClient,
    devices: Sequence[DeviceRequest],
    *,
    max_points_per_run: int | None = None,
    concurrency: int = 4,
    with_locations: bool = True,
    now: int | None = None,
    future_tolerance: int = 3600,
    time_limit: float | None = None,
) -> Collected:
    """Fetch every device's readings from its ``start``, ``concurrency`` devices at a time.

    ``max_points_per_run`` bounds the timestamps fetched per device in this run.
    Readings later than ``now`` (Unix seconds, default the clock's) plus
    ``future_tolerance`` seconds are quarantined.  ``time_limit`` (seconds) bounds
    the whole collection (see the module's docstring).
    Raises ``HydroVuError`` only when the friendly names or the location list
    cannot be fetched; a device's failure is in its ``DeviceResult.error``.
    """
    if time_limit is not None:
        client.deadline = time.monotonic() + time_limit
    latest = (int(time.time()) if now is None else now) + future_tolerance
    names = client.friendly_names()
    workers = max(1, min(concurrency, len(devices) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hydrovu") as pool:
        # The location list is one more paged request: it waits in line with the devices.
        listing = pool.submit(client.locations) if with_locations else None
        results = list(
            pool.map(lambda d: _fetch(client, names, d, max_points_per_run, latest), devices)
        )
        locations: list[dict[str, Any]] | None = None
        if listing is not None:
            try:
                locations = listing.result()
            except HydroVuTimeLimit:
                locations = None  # the readings matter more: keep them, list next run
    return Collected(results, names, locations)


def names_table(names: dict[str, str]) -> pa.Table:
    """A dictionary (parameters or units) as a table ``id`` (string), ``name`` (string)."""
    import pyarrow as pa

    ids = sorted(names)
    return pa.table(
        {"id": pa.array(ids, pa.string()), "name": pa.array([names[i] for i in ids], pa.string())}
    )


def locations_table(locations: list[dict[str, Any]]) -> pa.Table:
    """The location list as ``id`` (int64), ``name``, ``description``, ``latitude``,
    ``longitude`` (degrees, Float64, NULL when unknown)."""
    import pyarrow as pa

    def coord(loc: dict[str, Any], key: str) -> float | None:
        value = (loc.get("gps") or {}).get(key)
        return None if value is None else float(value)

    return pa.table(
        {
            "id": pa.array([int(loc["id"]) for loc in locations], pa.int64()),
            "name": pa.array([str(loc.get("name", "")) for loc in locations], pa.string()),
            "description": pa.array(
                [str(loc.get("description") or "") for loc in locations], pa.string()
            ),
            "latitude": pa.array([coord(loc, "latitude") for loc in locations], pa.float64()),
            "longitude": pa.array([coord(loc, "longitude") for loc in locations], pa.float64()),
        }
    )
