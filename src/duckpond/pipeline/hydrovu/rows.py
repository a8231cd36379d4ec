"""HydroVu readings pages -> wide Arrow rows, one per timestamp.

A page lists readings per parameter (``parameterId``/``unitId``, in any
order); the pond keeps one row per timestamp with a ``timestamp`` column
(``timestamp[us, UTC]``) and one Float64 column per parameter named
``<parameter>.<unit>`` from the friendly-name dictionaries (an unknown id
stands for itself).  A timestamp that lacks a parameter has NULL there; a
parameter that appears later simply adds a column.  Two parameter blocks
that map to the same name share the column (the later reading wins).

Sentinel timestamps (``0``, ``960``: anything before 2000-01-01 UTC) are
dropped and counted.  Readings stamped after ``latest`` (the run's "now" plus a
tolerance: a logger whose clock is wrong, say 2099) are quarantined: kept
aside in their own wide table (``quarantined_table``) and counted, never mixed
with the readings the pond keeps, so they cannot move a device's resume point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import FriendlyNames

if TYPE_CHECKING:
    import pyarrow as pa

# 2000-01-01T00:00:00Z: instruments report 0, 960 and the like when their clock is unset.
EARLIEST = 946_684_800

__all__ = ["EARLIEST", "WideRows", "wide_schema"]


def wide_schema(columns: list[str]) -> pa.Schema:
    """``timestamp`` then one nullable Float64 per column name, in the given order."""
    import pyarrow as pa

    fields = [pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False)]
    fields += [pa.field(name, pa.float64()) for name in columns]
    return pa.schema(fields)


class WideRows:
    """Accumulates readings pages and builds the wide table.

    ``latest`` (Unix s) is the newest trustworthy time: later readings go to the
    quarantine.  ``sentinels`` counts readings dropped for an implausible
    timestamp, ``quarantined`` readings set aside for a future one;
    ``timestamps`` is the number of distinct timestamps kept so far.
    """

    def __init__(self, names: FriendlyNames, latest: int | None = None) -> None:
        self.names = names
        self.latest = latest
        self.sentinels = 0
        self._columns: dict[str, dict[int, float | None]] = {}
        self._times: set[int] = set()
        self._future: dict[str, dict[int, float | None]] = {}
        self._seen_sentinels: set[tuple[str, int]] = set()

    @property
    def timestamps(self) -> int:
        return len(self._times)

    @property
    def quarantined(self) -> int:
        """Readings set aside for a timestamp after ``latest``."""
        return sum(len(column) for column in self._future.values())

    def add_page(self, page: dict[str, Any]) -> int:
        """Take the readings of one ``/data`` page (its JSON body); return how many of
        them were not seen before (0: the page repeats earlier ones)."""
        times = self._times
        fresh = 0
        for block in page.get("parameters") or []:
            name = self.names.column(str(block.get("parameterId")), str(block.get("unitId")))
            column = self._columns.setdefault(name, {})
            for reading in block.get("readings") or []:
                ts = int(reading["timestamp"])
                value = reading.get("value")
                number = None if value is None else float(value)
                if ts < EARLIEST:
                    if (name, ts) not in self._seen_sentinels:
                        self._seen_sentinels.add((name, ts))
                        self.sentinels += 1
                        fresh += 1
                    continue
                target = column
                if self.latest is not None and ts > self.latest:
                    target = self._future.setdefault(name, {})
                elif ts not in times:
                    times.add(ts)
                if ts not in target:
                    fresh += 1
                target[ts] = number
        return fresh

    def first_times(self, n: int) -> None:
        """Keep only the ``n`` earliest timestamps (a run's bound on points)."""
        if len(self._times) <= n:
            return
        keep = set(sorted(self._times)[:n])
        self._times = keep
        for name, column in self._columns.items():
            self._columns[name] = {t: v for t, v in column.items() if t in keep}

    def newest(self) -> int | None:
        """The newest timestamp kept (Unix seconds), None when there is none."""
        return max(self._times) if self._times else None

    def table(self) -> pa.Table:
        """One row per timestamp, ascending; columns sorted by name after ``timestamp``."""
        return _wide(self._columns, self._times)

    def quarantined_table(self) -> pa.Table | None:
        """The readings stamped after ``latest``, in the same wide shape; None without any."""
        times = {t for column in self._future.values() for t in column}
        return _wide(self._future, times) if times else None


def _wide(columns: dict[str, dict[int, float | None]], times_set: set[int]) -> pa.Table:
    import pyarrow as pa

    times = sorted(times_set)
    names = sorted(name for name, column in columns.items() if column)
    arrays = [
        pa.array([t * 1_000_000 for t in times], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    ]
    for name in names:
        column = columns[name]
        arrays.append(pa.array([column.get(t) for t in times], pa.float64()))
    return pa.Table.from_arrays(arrays, schema=wide_schema(names))
