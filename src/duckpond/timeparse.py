"""Parsing the times users type: ``2025-01-01``, ``2025-01-01T00:00Z``, ``...+02:00``."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError


def parse_time(text: str, *, tz: str | None = None) -> datetime:
    """An aware datetime; a time without a zone is in ``tz`` (UTC by default)."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"not an ISO 8601 time: {text!r} (try 2025-01-01T00:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz) if tz else UTC)
    return value


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone: {name!r}") from None


def to_micros(value: datetime) -> int:
    delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
