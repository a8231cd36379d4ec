"""Buckets as people count them: local days, weeks from a chosen weekday, months, years.

A ``Buckets`` is one resolution's grid in one time zone: ``floor`` maps instants
(microseconds since the epoch, UTC) to the start of the bucket holding them, and
``following`` maps a bucket start to the next one.  Both work on local wall-clock time:

- ``us``, ``ms``, ``s``, ``m``/``min``, ``h``, ``d``: whole multiples of the unit counted
  from 1970-01-01 00:00 local time (``6h`` buckets start at 00, 06, 12 and 18 local).
- ``w``: weeks starting on ``week_start`` (Monday by default) at local midnight.
- ``mo``, ``y``: calendar months and years (``3mo`` are quarters: January, April, July,
  October), from 1970 on.

A bucket's start is the first instant its local start time names.  So a local day is
23 or 25 hours long across a DST change; a local start that the clocks skip (a spring
gap) starts at the change itself; and a local hour that occurs twice (clocks set back)
is one bucket of two hours.  In UTC or a fixed offset every bucket of a fixed unit is
that unit long.  Starts are stored as UTC instants; labels are the local starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING

from ...errors import ConfigError
from .durations import UNIT_MICROS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Times = npt.NDArray[np.int64]

DAY = 86_400_000_000
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CALENDAR_UNITS = ("w", "mo", "y")
# Nominal lengths (the mean Gregorian month and year) to order and compare resolutions.
NOMINAL_MICROS: dict[str, int] = {
    **UNIT_MICROS,
    "mo": 2_629_746_000_000,
    "y": 31_556_952_000_000,
}
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday
_RESOLUTION = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")


def parse_weekday(name: str) -> int:
    """Monday 0 ... Sunday 6; raises ``ConfigError`` naming the weekdays otherwise."""
    text = name.strip().lower()
    for index, day in enumerate(WEEKDAYS):
        if text == day or (len(text) >= 3 and day.startswith(text)):
            return index
    import difflib

    close = difflib.get_close_matches(text, WEEKDAYS, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ConfigError(f"not a weekday: {name!r} (one of {', '.join(WEEKDAYS)}){hint}")


def split_resolution(text: str) -> tuple[int, str]:
    """``3mo`` -> ``(3, "mo")``; raises ``ConfigError`` naming the text otherwise."""
    match = _RESOLUTION.match(text.lower()) if isinstance(text, str) else None
    if match is None or match.group(2) not in NOMINAL_MICROS or int(match.group(1)) <= 0:
        units = ", ".join(NOMINAL_MICROS)
        raise ConfigError(f"not a resolution: {text!r} (a whole number and a unit: {units})")
    return int(match.group(1)), match.group(2)


@dataclass(frozen=True)
class Buckets:
    """``count`` ``unit`` buckets in the zone ``tz`` (an IANA name, ``UTC`` or a fixed
    offset ``+HH:MM``); weeks start on ``week_start`` (Monday 0)."""

    count: int
    unit: str
    tz: str = "UTC"
    week_start: int = 0

    @classmethod
    def parse(cls, text: str, tz: str = "UTC", week_start: int = 0) -> Buckets:
        count, unit = split_resolution(text)
        check_zone(tz)
        return cls(count, unit, tz, week_start)

    @property
    def nominal(self) -> int:
        """The length in microseconds (months and years by their mean length)."""
        return self.count * NOMINAL_MICROS[self.unit]

    @property
    def is_calendar(self) -> bool:
        return self.unit in CALENDAR_UNITS

    def nests_in(self, coarser: Buckets) -> bool:
        """Whether every bucket of ``coarser`` is a whole number of these buckets."""
        if self.unit not in CALENDAR_UNITS and coarser.unit not in CALENDAR_UNITS:
            return coarser.nominal % self.nominal == 0
        if self.unit not in CALENDAR_UNITS:
            return DAY % self.nominal == 0
        if self.unit == "w" or coarser.unit == "w":
            return self.unit == coarser.unit and coarser.count % self.count == 0
        months = {"mo": 1, "y": 12}
        return (coarser.count * months[coarser.unit]) % (self.count * months[self.unit]) == 0

    # -------------------------------------------------------------- the grid

    def floor(self, times: Times) -> Times:
        """The start of the bucket holding each instant (microseconds UTC)."""
        wall = self._floor_wall(self._to_wall(times))
        if _fixed_micros(self.tz) is not None:
            return self._to_utc(wall)
        # Times come mostly in order: a bucket's start is looked up once per run of it.
        return _per_run(wall, self._to_utc)

    def following(self, starts: Times) -> Times:
        """The start of the bucket after each bucket start (microseconds UTC)."""
        import numpy as np

        wall = self._floor_wall(self._to_wall(starts))
        if self.unit in ("mo", "y"):
            months = self._months(wall) + self.count * (12 if self.unit == "y" else 1)
            following = _month_starts(months)
        elif self.unit == "w":
            following = wall + self.count * 7 * DAY
        else:
            following = wall + self.count * UNIT_MICROS[self.unit]
        return np.asarray(self._to_utc(following), dtype=np.int64)

    def _floor_wall(self, wall: Times) -> Times:
        import numpy as np

        if self.unit in ("mo", "y"):
            step = self.count * (12 if self.unit == "y" else 1)

            def months(days: Times) -> Times:
                return _month_starts((self._months(days * DAY) // step) * step)

            return _per_run(np.asarray(wall, dtype=np.int64) // DAY, months)
        if self.unit == "w":
            days = wall // DAY
            # The first week start on or before the epoch, then whole multiples of weeks.
            origin = -((_EPOCH_WEEKDAY - self.week_start) % 7)
            weeks = (days - origin) // (7 * self.count) * self.count
            return np.asarray((origin + weeks * 7) * DAY, dtype=np.int64)
        size = self.count * UNIT_MICROS[self.unit]
        # numpy's floor division rounds towards minus infinity: times before 1970 too.
        return np.asarray((wall // size) * size, dtype=np.int64)

    @staticmethod
    def _months(wall: Times) -> Times:
        """Months since 1970-01 of each wall time (integer civil-calendar arithmetic:
        numpy's datetime64 month casts are some ten times slower)."""
        import numpy as np

        z = np.asarray(wall, dtype=np.int64) // DAY + 719_468
        era = z // 146_097
        doe = z - era * 146_097
        yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        month = np.where(mp < 10, mp + 3, mp - 9)
        year = yoe + era * 400 + (month <= 2)
        return np.asarray((year - 1970) * 12 + month - 1, dtype=np.int64)

    def _to_wall(self, times: Times) -> Times:
        import numpy as np

        times = np.asarray(times, dtype=np.int64)
        offset = _fixed_micros(self.tz)
        if offset is not None:
            return times + offset
        if times.size == 0:
            return times
        # A zone's offset changes a few times a year: take it per UTC day, and ask Arrow
        # only about the rows of a day it changes in.
        days = times // DAY
        first = int(days.min())
        starts = np.arange(first, int(days.max()) + 2, dtype=np.int64) * DAY
        at = _arrow_wall(starts, self.tz) - starts
        index = days - first
        wall = times + at[index]
        changing = at[index] != at[index + 1]
        if changing.any():
            wall[changing] = _arrow_wall(times[changing], self.tz)
        return wall

    def _to_utc(self, wall: Times) -> Times:
        import numpy as np

        wall = np.asarray(wall, dtype=np.int64)
        offset = _fixed_micros(self.tz)
        if offset is not None:
            return wall - offset
        if wall.size == 0:
            return wall
        # A guess by the offset at the day's start, kept where it reads back as the same
        # local time and is the first instant to; the rest (the hours of a DST change)
        # go to Arrow.
        days = wall // DAY
        first = int(days.min())
        starts = np.arange(first - 1, int(days.max()) + 2, dtype=np.int64) * DAY
        at = _arrow_wall(starts, self.tz) - starts
        guess = wall - at[days - first + 1]
        back = self._to_wall(guess)
        earlier = self._to_wall(guess - 3_600_000_000 * 3)
        # Unsure where the local time does not come back, or a few hours before may name
        # it too (a repeated hour): Arrow decides those.
        unsure = (back != wall) | (earlier - (guess - 3_600_000_000 * 3) != back - guess)
        if unsure.any():
            guess[unsure] = _arrow_utc(wall[unsure], self.tz)
        return guess


def _per_run(values: Times, fn: Callable[[Times], Times]) -> Times:
    """``fn`` applied once per run of equal values, spread back over the runs."""
    import numpy as np

    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return np.asarray(fn(values), dtype=np.int64)
    firsts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    lengths = np.diff(np.append(firsts, values.size))
    return np.repeat(np.asarray(fn(values[firsts]), dtype=np.int64), lengths)


def _arrow_wall(times: Times, tz: str) -> Times:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    aware = pa.array(times, type=pa.int64()).cast(pa.timestamp("us", tz=tz))
    wall = pc.local_timestamp(aware).cast(pa.int64())
    return np.asarray(wall.to_numpy(zero_copy_only=False), dtype=np.int64)


def _arrow_utc(wall: Times, tz: str) -> Times:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    naive = pa.array(wall, type=pa.int64()).cast(pa.timestamp("us"))
    # The first instant a local time names; one the clocks skip starts at the change.
    utc = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="latest")
    return np.asarray(utc.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _month_starts(months: Times) -> Times:
    """The first microsecond of each month (months since 1970-01), civil arithmetic."""
    import numpy as np

    months = np.asarray(months, dtype=np.int64)
    year = 1970 + months // 12
    month = months % 12 + 1
    year = year - (month <= 2)
    era = year // 400
    yoe = year - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray((era * 146_097 + doe - 719_468) * DAY, dtype=np.int64)


def _fixed_micros(tz: str) -> int | None:
    from ...timeparse import fixed_offset

    if tz.upper() in ("UTC", "ETC/UTC"):
        return 0
    zone = fixed_offset(tz)
    offset = zone.utcoffset(None) if zone is not None else None
    if offset is None:
        return None
    return int(offset.total_seconds()) * 1_000_000


def check_zone(name: str) -> tzinfo:
    """The zone ``name`` names (IANA, ``UTC`` or ``+HH:MM``); ``ConfigError`` otherwise."""
    from ...timeparse import zone

    return zone(name)
