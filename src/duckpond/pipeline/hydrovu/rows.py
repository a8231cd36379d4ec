"""HydroVu readings pages -> wide Arrow rows, one per timestamp.

A page lists readings per parameter (``parameterId``/``unitId``, in any
order); the pond keeps one row per timestamp with a ``timestamp`` column
(``timestamp[us, UTC]``) and one Float64 column per parameter named
``<parameter>.<unit>`` from the friendly-name dictionaries (an unknown id
stands for itself).  A timestamp that lacks a parameter has NULL there; a
parameter that appears later simply adds a column.  Two parameter blocks
that map to the same name share the column (the later reading wins).

Sentinel timestamps (``0``, ``960``: anything before 2000-01-01 UTC) are
dropped and counted.
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

    ``sentinels`` counts readings dropped for an implausible timestamp;
    ``timestamps`` is the number of distinct timestamps kept so far.
    """

    def __init__(self, names: FriendlyNames) -> None:
        self.names = names
        self.sentinels = 0
        self._columns: dict[str, dict[int, float | None]] = {}
        self._times: set[int] = set()

    @property
    def timestamps(self) -> int:
        return len(self._times)

    def add_page(self, page: dict[str, Any]) -> None:
        """Take the readings of one ``/data`` page (its JSON body)."""
        times = self._times
        for block in page.get("parameters") or []:
            name = self.names.column(str(block.get("parameterId")), str(block.get("unitId")))
            column = self._columns.setdefault(name, {})
            for reading in block.get("readings") or []:
                ts = int(reading["timestamp"])
                if ts < EARLIEST:
                    self.sentinels += 1
                    continue
                value = reading.get("value")
                column[ts] = None if value is None else float(value)
                times.add(ts)

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
        import pyarrow as pa

        times = sorted(self._times)
        names = sorted(name for name, column in self._columns.items() if column)
        arrays = [
            pa.array([t * 1_000_000 for t in times], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        ]
        for name in names:
            column = self._columns[name]
            arrays.append(pa.array([column.get(t) for t in times], pa.float64()))
        return pa.Table.from_arrays(arrays, schema=wide_schema(names))
