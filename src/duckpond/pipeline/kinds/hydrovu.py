"""``HydroVu``: a collector of In-Situ HydroVu readings, one wide series per device.

Each run resumes every active device from its series' newest event time + 1 s
(or ``since`` for a new device), fetches its readings over the network with
no lock held (``duckpond.pipeline.hydrovu.collect``), then, in the resource's
transaction, appends one series version per device with new rows to
``<path>/<device name>.series`` and keeps the parameter and unit
dictionaries and the location list as tables under ``<path>/meta/``
(a new version only when they change).  A device that fails is named in
the run record's details with its error; the others are still written.
When every device fails, the run fails.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from ...tinyfs import FILE_SERIES, FILE_TABLE, WD
from ..documents import PondPath, StrictModel
from ..hydrovu import DEFAULT_BASE_URL
from ..secrets import SecretField
from . import Kind, RunContext, RunStats, WriteStep, register_kind

DEVICE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
META = "meta"


class HydroVuDevice(StrictModel):
    """A device (HydroVu location): ``name`` names its series, ``id`` is HydroVu's."""

    name: Annotated[str, Field(pattern=DEVICE_NAME, max_length=100)]
    id: int
    active: bool = True
    comment: str | None = None


class HydroVuSpec(StrictModel):
    """``client_id``/``client_secret``: ``${env:...}`` references; ``since``: the first
    import's start (a date or time, UTC unless it says otherwise); ``max_points_per_run``:
    timestamps per device per run; ``concurrency``: devices fetched at once."""

    client_id: SecretField
    client_secret: SecretField
    base_url: str = DEFAULT_BASE_URL
    path: PondPath
    since: datetime
    devices: list[HydroVuDevice] = Field(min_length=1)
    max_points_per_run: int = Field(default=200_000, ge=1)
    concurrency: int = Field(default=4, ge=1, le=16)

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


def _newest_event_us(root: WD, path: str) -> int | None:
    if not root.exists(path):
        return None
    times = [v.max_event_time for v in root.get(path).node.versions()]
    known = [t for t in times if t is not None]
    return max(known) if known else None


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
        DeviceRequest,
        collect,
        locations_table,
        names_table,
        resume_start,
    )

    spec: HydroVuSpec = ctx.spec
    since = int(spec.since.timestamp())
    requests = [
        DeviceRequest(
            d.name,
            d.id,
            resume_start(_newest_event_us(ctx.root, f"{spec.path}/{d.name}.series"), since),
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
        "locations.table": locations_table(fetched.locations),
    }

    def write(root: WD) -> RunStats:
        from ...ingest.store import check_series_append
        from ...query.parquet import table_to_parquet

        stats = RunStats()
        devices: dict[str, Any] = {}
        root.mkdir(f"{spec.path}/{META}", parents=True)
        for name, table in meta.items():
            converted = table_to_parquet(table)
            target = f"{spec.path}/{META}/{name}"
            digest = hashlib.sha256(converted.data).hexdigest()
            if root.exists(target) and root.get(target).info().sha256 == digest:
                continue
            root.write_file(
                target, converted.data, node_type=FILE_TABLE, attributes=converted.attributes()
            )
            stats.bytes += len(converted.data)
        for device in fetched.devices:
            devices[device.name] = {
                "start": datetime.fromtimestamp(device.start, UTC).isoformat(),
                "rows": device.rows,
                "pages": device.pages,
                "sentinels": device.sentinels,
                "retries": device.retries,
                "complete": device.complete,
                "error": device.error,
            }
            if device.table is None:
                continue
            converted = table_to_parquet(device.table, timestamp_column="timestamp")
            target = f"{spec.path}/{device.name}.series"
            if root.exists(target):
                check_series_append(root.get(target), converted.schema)
            root.write_file(
                target,
                converted.data,
                node_type=FILE_SERIES,
                attributes=converted.attributes(),
                event_range=converted.event_range,
            )
            stats.rows += device.rows
            stats.bytes += len(converted.data)
        behind = [d for d in fetched.devices if not d.complete]
        stats.details = {
            "devices": devices,
            "sentinels": sum(d.sentinels for d in fetched.devices),
            "retries": sum(d.retries for d in fetched.devices),
            "failed": [d.name for d in failed],
        }
        written = sum(1 for d in fetched.devices if d.rows)
        stats.summary = f"{stats.rows} rows for {written} of {len(fetched.devices)} devices"
        if behind:
            stats.summary += f", {len(behind)} to continue next run"
        if failed:
            stats.summary += ", failed: " + "; ".join(f"{d.name}: {d.error}" for d in failed)
        return stats

    return write


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
