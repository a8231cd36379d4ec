"""Parsing the times users type: ``2025-01-01``, ``2025-01-01T00:00Z``, ``...+02:00``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
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


_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{2}):?(\d{2})$")


def fixed_offset(name: str) -> timezone | None:
    """``+05:30``, ``-0800`` or ``UTC+02:00`` as a fixed zone; None for anything else."""
    match = _OFFSET.match(name.strip())
    if match is None or int(match.group(2)) > 23 or int(match.group(3)) > 59:
        return None
    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return timezone(-delta if match.group(1) == "-" else delta)


def zone(name: str) -> tzinfo:
    """The zone ``name`` names: an IANA name (``America/New_York``, ``UTC``) or a fixed
    offset (``+05:30``); raises ``ConfigError`` naming it otherwise."""
    fixed = fixed_offset(name) if isinstance(name, str) else None
    if fixed is not None:
        return fixed
    return named_zone(name)


def named_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` names (``America/New_York``, ``UTC``), from this machine's
    tz database; raises ``ConfigError`` ("unknown time zone") for any other name.

    The one place a zone name is looked up: a name that is a folder of the database
    (``Pacific``, ``Etc``) or unreadable there is unknown too, never an OS error
    naming the database's path."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ConfigError(
            f"unknown time zone: {name!r} (an IANA name such as America/New_York, "
            "or an offset such as +05:30)"
        ) from None


def to_micros(value: datetime) -> int:
    delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_time(value: object, *, tz: str | None = None) -> datetime:
    """An aware datetime from what Python users pass as a time.

    Accepts an ISO 8601 string, a ``datetime`` (naive means ``tz``, UTC by
    default), a ``date`` (its midnight), a pandas ``Timestamp`` (a ``datetime``
    subclass) or numpy ``datetime64`` (naive, so ``tz``).  Anything else is a
    ``ConfigError`` naming its type.
    """
    from datetime import date

    if isinstance(value, str):
        return parse_time(value, tz=tz)
    if isinstance(value, datetime):
        when: datetime = value
        if hasattr(when, "to_pydatetime"):  # pandas Timestamp: drop nanoseconds it may carry
            when = when.to_pydatetime()
        return when if when.tzinfo is not None else when.replace(tzinfo=zone(tz) if tz else UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone(tz) if tz else UTC)
    if type(value).__name__ == "datetime64":
        micros = int(value.astype("datetime64[us]").astype("int64"))  # type: ignore[attr-defined]
        naive = from_micros(micros).replace(tzinfo=None)
        return naive.replace(tzinfo=zone(tz) if tz else UTC)
    raise ConfigError(f"not a time: {value!r} (give an ISO 8601 string or a datetime)")


_SPAN_UNITS = {
    "s": 1,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "mo": 30 * 86400,
    "y": 365 * 86400,
}
_SPAN = re.compile(r"([0-9]+)([a-z]+)")


def parse_span(text: str) -> timedelta:
    """A span of time written as a number and a unit: ``90d``, ``12h``, ``6mo``, ``1y``.

    Units: ``s``, ``min`` (minutes), ``h``, ``d``, ``w``, ``mo`` (a month of 30 days) and
    ``y`` (365 days); case does not matter.  A bare ``m`` is refused: a retention of
    ``1m`` read as one minute would remove nearly all history where a month was meant
    (pipeline intervals, which are not spans of history, keep ``10m`` for minutes).
    Raises ``ValueError`` naming the text for anything else.
    """
    found = _SPAN.fullmatch(text.strip().lower())
    if found is not None and found.group(2) == "m":
        raise ValueError(
            f"{text.strip()!r} is ambiguous: write {found.group(1)}min for minutes or "
            f"{found.group(1)}mo for months"
        )
    if found is None or found.group(2) not in _SPAN_UNITS:
        raise ValueError(f"not a span of time: {text!r} (examples: 90d, 6mo, 1y, 12h, 30min)")
    return timedelta(seconds=int(found.group(1)) * _SPAN_UNITS[found.group(2)])
