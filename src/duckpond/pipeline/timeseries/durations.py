"""Durations as users write them in resource specs: ``30s``, ``15m``, ``1h``, ``7d``, ``2w``."""

from __future__ import annotations

import re

from ...errors import ConfigError

# Calendar months and years have no fixed length, so they are not durations here.
UNIT_MICROS: dict[str, int] = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "min": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}

_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")


def parse_duration(text: str) -> int:
    """The length of ``text`` (a positive whole number and a unit) in microseconds.

    Units: ``us``, ``ms``, ``s``, ``m``/``min``, ``h``, ``d``, ``w``.  Raises
    ``ConfigError`` naming the text for anything else, zero included.
    """
    match = _DURATION.match(text.lower()) if isinstance(text, str) else None
    if match is None or match.group(2) not in UNIT_MICROS:
        units = ", ".join(UNIT_MICROS)
        raise ConfigError(f"not a duration: {text!r} (a whole number and a unit: {units})")
    micros = int(match.group(1)) * UNIT_MICROS[match.group(2)]
    if micros <= 0:
        raise ConfigError(f"a duration must be positive: {text!r}")
    return micros


def format_duration(micros: int) -> str:
    """The shortest spelling of ``micros`` with one unit (``86_400_000_000`` -> ``1d``)."""
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = UNIT_MICROS[unit]
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"
