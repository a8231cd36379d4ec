"""``HydroVu``: a collector of In-Situ HydroVu readings, one wide series per device.

Each run resumes every active device from its series' newest event time + 1 s
(or ``since`` for a new device), fetches its readings over the network with
no lock held (``duckpond.pipeline.hydrovu.collect``), then, in the resource's
transaction, appends one series version per device with new rows to
``<path>/<device name>.series`` and keeps the parameter and unit
dictionaries and the location list as tables under ``<path>/meta/``
(a new version only when they change).  A device that fails is named in
the run record's details with its error; the others are still written and
committed, and the run is recorded as failed naming each failed device and its
cause (exit 1).  When every device fails, the run fails with nothing written.

Every run finishes (``duckpond.pipeline.hydrovu.collect``): readings stamped
later than now plus ``future_tolerance`` (default 1h) are quarantined to
``<path>/quarantine/<device>.table`` (a new version only when they change),
counted in the record and named in the run's warnings, and never move the
resume point, which is the newest trustworthy stored time; paging that does not
progress ends the device's fetch with an error naming why; ``time_limit``
(default 5m) bounds the network part, after which the run commits what it has.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from ...tinyfs import FILE_SERIES, FILE_TABLE, WD
from ..documents import PondPath, StrictModel, checked_by
from ..hydrovu import DEFAULT_BASE_URL
from ..secrets import SecretField
from . import Kind, RunContext, RunStats, WriteStep, register_kind

DEVICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
META = "meta"
QUARANTINE = "quarantine"


# A span written as Reduce's are (``15m``, ``1h``), kept as written.
_Span = Annotated[str, checked_by("duckpond.pipeline.timeseries", "parse_duration")]


def _seconds(value: str) -> int:
    from ..timeseries import parse_duration

    return max(1, parse_duration(value) // 1_000_000)


class HydroVuDevice(StrictModel):
    """A device (HydroVu location): ``name`` names its series, ``id`` is HydroVu's."""

    name: Annotated[str, Field(pattern=DEVICE_NAME, max_length=100)]
    id: int
    active: bool = True
    comment: str | None = None


class HydroVuSpec(StrictModel):
    """``client_id``/``client_secret``: ``${env:...}`` references; ``since``: the first
    import's start (a date or time, UTC unless it says otherwise); ``max_points_per_run``:
    timestamps per device per run; ``concurrency``: devices fetched at once;
    ``future_tolerance``: how far past now a reading may be stamped before it is
    quarantined; ``time_limit``: the longest a run may spend fetching (durations as
    ``30s``, ``5m``, ``1h``)."""

    client_id: SecretField
    client_secret: SecretField
    base_url: str = DEFAULT_BASE_URL
    path: PondPath
    since: datetime
    devices: list[HydroVuDevice] = Field(min_length=1)
    max_points_per_run: int = Field(default=200_000, ge=1)
    concurrency: int = Field(default=4, ge=1, le=16)
    future_tolerance: _Span = "1h"
    time_limit: _Span = "5m"

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        if isinstance(value, str) and len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if value.year < 2000:
            raise ValueError("since must be 2000-01-01 or later (HydroVu times before are junk)")
        return value.astimezone(UTC)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _unique(self) -> HydroVuSpec:
        for key in ("name", "id"):
            seen: set[Any] = set()
            for device in self.devices:
                value = getattr(device, key)
                if value in seen:
                    raise ValueError(f"two devices have the {key} {value!r}")
                seen.add(value)
        return self


def _newest_event_us(root: WD, path: str, latest: int) -> int | None:
    """The newest stored event time (us) at or before ``latest`` (Unix s): a version
    whose range reaches past it (written before quarantine existed) is read for its
    newest trustworthy time."""
    if not root.exists(path):
        return None
    node = root.get(path)
    newest: int | None = None
    for version in node.node.versions():
        high = version.max_event_time
        if high is None:
            continue
        if high > latest * 1_000_000:
            high = _trustworthy_in(node, version.version, latest)
        if high is not None and (newest is None or high > newest):
            newest = high
    return newest


def _trustworthy_in(node: Any, version: int, latest: int) -> int | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..hydrovu.collect import newest_trustworthy

    table = pq.read_table(pa.BufferReader(node.read_bytes(version)), columns=["timestamp"])
    return newest_trustworthy(table.column(0).combine_chunks(), latest)


def client_for(ctx: RunContext) -> Any:
    """A ``HydroVuClient`` for the resource's credentials (secrets resolved now)."""
    from ..hydrovu.client import HydroVuClient

    spec: HydroVuSpec = ctx.spec
    return HydroVuClient(
        ctx.secret(spec.client_id).reveal(),
        ctx.secret(spec.client_secret),
        base_url=spec.base_url,
        max_connections=spec.concurrency + 2,
    )


def run_hydrovu(ctx: RunContext) -> WriteStep:
    """Fetch every active device's new readings (no lock held); return the step storing them."""
    from ..hydrovu.collect import (
        TIME_LIMIT,
        DeviceRequest,
        collect,
        locations_table,
        names_table,
        resume_start,
    )

    spec: HydroVuSpec = ctx.spec
    since = int(spec.since.timestamp())
    now = int(time.time())
    tolerance = _seconds(spec.future_tolerance)
    requests = [
        DeviceRequest(
            d.name,
            d.id,
            resume_start(
                _newest_event_us(ctx.root, f"{spec.path}/{d.name}.series", now + tolerance),
                since,
            ),
        )
        for d in spec.devices
        if d.active
    ]
    with client_for(ctx) as client:
        fetched = collect(
            client,
            requests,
            max_points_per_run=spec.max_points_per_run,
            concurrency=spec.concurrency,
            now=now,
            future_tolerance=tolerance,
            time_limit=_seconds(spec.time_limit),
        )
    failed = fetched.failed
    if failed and len(failed) == len(fetched.devices):
        # Nothing collected at all: the run fails (exit 1) rather than pass as a quiet no-op.
        from ..hydrovu.client import HydroVuError

        raise HydroVuError(
            "every device failed: " + "; ".join(f"{d.name}: {d.error}" for d in failed)
        )
    meta = {
        "parameters.table": names_table(fetched.names.parameters),
        "units.table": names_table(fetched.names.units),
    }
    if fetched.locations is not None:
        meta["locations.table"] = locations_table(fetched.locations)

    def write(root: WD) -> RunStats:
        from ...ingest.store import SchemasSeen, check_series_append
        from ...query.parquet import table_to_parquet

        stats = RunStats()
        devices: dict[str, Any] = {}
        root.mkdir(f"{spec.path}/{META}", parents=True)
        for name, table in meta.items():
            stats.bytes += _write_if_changed(root, f"{spec.path}/{META}/{name}", table)
        for device in fetched.devices:
            devices[device.name] = {
                "start": datetime.fromtimestamp(device.start, UTC).isoformat(),
                "rows": device.rows,
                "pages": device.pages,
                "sentinels": device.sentinels,
                "quarantined": device.quarantined,
                "retries": device.retries,
                "complete": device.complete,
                "stopped": device.stopped,
                "error": device.error,
            }
            if device.quarantine is not None:
                root.mkdir(f"{spec.path}/{QUARANTINE}", parents=True, exist_ok=True)
                target = f"{spec.path}/{QUARANTINE}/{device.name}.table"
                stats.bytes += _write_if_changed(root, target, device.quarantine)
                stats.warnings.append(
                    f"{device.name}: {device.quarantined} readings stamped after "
                    f"now + {spec.future_tolerance} quarantined to {target}"
                )
            if device.table is None:
                continue
            converted = table_to_parquet(device.table, timestamp_column="timestamp")
            target = f"{spec.path}/{device.name}.series"
            seen = (
                check_series_append(root.get(target), converted.schema)
                if root.exists(target)
                else SchemasSeen.of_new_series()
            )
            root.write_file(
                target,
                converted.data,
                node_type=FILE_SERIES,
                attributes=seen.for_next(converted.attributes()),
                event_range=converted.event_range,
            )
            stats.rows += device.rows
            stats.bytes += len(converted.data)
        behind = [d for d in fetched.devices if not d.complete]
        stats.details = {
            "devices": devices,
            "sentinels": sum(d.sentinels for d in fetched.devices),
            "quarantined": sum(d.quarantined for d in fetched.devices),
            "retries": sum(d.retries for d in fetched.devices),
            "failed": [d.name for d in failed],
        }
        written = sum(1 for d in fetched.devices if d.rows)
        stats.summary = f"{stats.rows} rows for {written} of {len(fetched.devices)} devices"
        if behind:
            stats.summary += f", {len(behind)} to continue next run"
        timed_out = [d.name for d in fetched.devices if d.stopped == TIME_LIMIT]
        if timed_out:
            stats.warnings.append(
                f"time limit of {spec.time_limit} reached: stopped {', '.join(timed_out)} "
                "early, kept what was fetched"
            )
        if failed:
            stats.error = f"{len(failed)} of {len(fetched.devices)} devices failed: " + "; ".join(
                f"{d.name}: {d.error}" for d in failed
            )
        return stats

    return write


def _write_if_changed(root: WD, target: str, table: Any) -> int:
    """Store ``table`` at ``target`` unless its latest version holds the same bytes;
    the bytes written (0 when unchanged: a run with nothing new commits nothing)."""
    from ...query.parquet import table_to_parquet

    converted = table_to_parquet(table)
    digest = hashlib.sha256(converted.data).hexdigest()
    if root.exists(target) and root.get(target).info().sha256 == digest:
        return 0
    root.write_file(target, converted.data, node_type=FILE_TABLE, attributes=converted.attributes())
    return len(converted.data)


register_kind(Kind("HydroVu", "collector", HydroVuSpec, run=run_hydrovu))


def resource_locations(root: WD, name: str) -> list[dict[str, Any]]:
    """The locations of the HydroVu account of resource ``name`` (``list_locations``'s shape),
    each with the parameters of its first readings at or after the resource's ``since``.

    Raises ``ConfigError`` when there is no such resource or it is not a HydroVu one,
    ``HydroVuError`` when the API fails.
    """
    from ...errors import ConfigError
    from ..apply import resource_path
    from ..documents import load_stored
    from ..hydrovu.client import HydroVuClient, list_locations

    path = resource_path(name)
    if not root.exists(path):
        raise ConfigError(f"no resource named {name!r} (see pond resources)")
    doc = load_stored(root.get(path).read_bytes(), name)
    if doc.kind.name != "HydroVu":
        raise ConfigError(f"{name} is a {doc.kind.name} resource, not a HydroVu one")
    spec: HydroVuSpec = doc.spec  # type: ignore[assignment]
    with HydroVuClient(
        spec.client_id.resolve().reveal(), spec.client_secret.resolve(), base_url=spec.base_url
    ) as client:
        return list_locations(client, since=int(spec.since.timestamp()))
