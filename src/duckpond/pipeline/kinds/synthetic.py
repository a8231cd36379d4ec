"""``Synthetic``: a deterministic series computed from formulas, for demos and tests.

::

    kind: Synthetic
    name: wave
    spec:
      start: 2025-06-01T00:00:00Z
      end: 2025-07-01T00:00:00Z        # exclusive
      interval: 15m
      points:
        - name: temperature
          components:
            - {type: line, offset: 12}
            - {type: sine, amplitude: 3, period: 1d}
            - {type: noise, amplitude: 0.2, seed: 7}

The output is one ``dynamic:file`` series at ``spec.path``: a ``timestamp``
column (``timestamp[us, UTC]``) at ``start, start + interval, ...`` before
``end``, and one float64 column per point, the sum of its components.  With
``t`` the row's time in microseconds since the epoch and
``u = (t mod period) / period + phase`` (the modulo taken in exact integer
microseconds, so a time at a multiple of the period gives ``u = phase`` exactly;
``phase`` in periods):

- ``sine``: ``amplitude * sin(2 pi u)``
- ``triangle``: ``amplitude * (1 - 4 |frac(u) - 1/2|)`` (-1 at ``frac(u) = 0``, +1 at 1/2)
- ``square``: ``amplitude`` when ``frac(u) < 1/2``, else ``-amplitude``
- ``line``: ``offset + slope * d``, ``d`` days since ``start``
- ``noise``: ``amplitude *`` standard normal draws of ``numpy.random.default_rng(seed)``,
  row by row from ``start``

Every component also adds its ``offset``.  Rows are streamed in batches of
``BATCH_ROWS``; the event range is known from the spec alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from ...tinyfs import DYNAMIC_FILE, FactoryContext
from ..documents import Duration, PondPath, StrictModel
from . import Kind, register_kind

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

BATCH_ROWS = 65_536
US = 1_000_000
DAY_S = 86_400.0


class Component(StrictModel):
    """One term of a point's value (see the module docstring for the formulas)."""

    type: Literal["sine", "triangle", "square", "line", "noise"]
    amplitude: float = 1.0
    period: Duration = timedelta(days=1)
    phase: float = 0.0
    offset: float = 0.0
    slope: float = 0.0
    seed: int = 0

    @field_validator("period")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("a period is longer than zero")
        return value


class Point(StrictModel):
    """One column: its name and the components summed into it."""

    name: str = Field(min_length=1)
    components: list[Component] = Field(min_length=1)


class SyntheticSpec(StrictModel):
    """``start`` (inclusive) and ``end`` (exclusive) are ISO 8601 times with a zone."""

    start: AwareDatetime
    end: AwareDatetime
    interval: Duration
    points: list[Point] = Field(min_length=1)
    path: PondPath

    @model_validator(mode="after")
    def _check(self) -> SyntheticSpec:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.interval.total_seconds() <= 0:
            raise ValueError("interval must be longer than zero")
        names = [p.name for p in self.points]
        if len(set(names)) != len(names) or "timestamp" in names:
            raise ValueError("point names are distinct and not 'timestamp'")
        return self


def _micros(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=value.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def _interval_us(value: timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * US + value.microseconds


@dataclass
class SyntheticOutput:
    """The series of a ``SyntheticSpec`` (a ``TableOutput``), computed batch by batch."""

    spec: SyntheticSpec
    batch_rows: int = BATCH_ROWS

    @property
    def start_us(self) -> int:
        return _micros(self.spec.start)

    @property
    def step_us(self) -> int:
        return _interval_us(self.spec.interval)

    @property
    def rows(self) -> int:
        span = _micros(self.spec.end) - self.start_us
        return -(-span // self.step_us)

    def schema(self) -> pa.Schema:
        import pyarrow as pa

        fields = [pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False)]
        fields += [pa.field(p.name, pa.float64()) for p in self.spec.points]
        return pa.schema(fields)

    def event_range(self) -> tuple[int, int] | None:
        return (self.start_us, self.start_us + (self.rows - 1) * self.step_us)

    def batches(self) -> Iterator[pa.RecordBatch]:
        import numpy as np
        import pyarrow as pa

        schema = self.schema()
        # One generator per noise component, drawn in row order: the values do not
        # depend on how the rows are cut into batches.
        rngs = {
            (i, j): np.random.default_rng(c.seed)
            for i, p in enumerate(self.spec.points)
            for j, c in enumerate(p.components)
            if c.type == "noise"
        }
        for first in range(0, self.rows, self.batch_rows):
            n = min(self.batch_rows, self.rows - first)
            times = self.start_us + (np.arange(first, first + n, dtype=np.int64) * self.step_us)
            columns: list[Any] = [pa.array(times, pa.int64()).cast(schema.field(0).type)]
            for i, point in enumerate(self.spec.points):
                total = np.zeros(n)
                for j, comp in enumerate(point.components):
                    total += _component(comp, times, self.start_us, rngs.get((i, j)))
                columns.append(pa.array(total, pa.float64()))
            yield pa.record_batch(columns, schema=schema)


def _component(
    comp: Component, times_us: np.ndarray, start_us: int, rng: np.random.Generator | None
) -> np.ndarray:
    import numpy as np

    if comp.type == "line":
        days = (times_us - start_us) / (US * DAY_S)
        return comp.offset + comp.slope * days
    if comp.type == "noise":
        assert rng is not None
        return comp.offset + comp.amplitude * rng.standard_normal(len(times_us))
    # Reduce the time modulo the period in exact integer microseconds first: scaling
    # epoch microseconds (~1.7e15) to periods in floating point leaves rounding noise
    # (sin of 2 pi times a large number), so a multiple of the period would not give 0.
    period_us = _interval_us(comp.period)
    u = (times_us % period_us) / period_us + comp.phase
    frac = u - np.floor(u)
    if comp.type == "sine":
        wave = np.sin(2 * np.pi * u)
    elif comp.type == "triangle":
        wave = 1 - 4 * np.abs(frac - 0.5)
    else:
        wave = np.where(frac < 0.5, 1.0, -1.0)
    return comp.offset + comp.amplitude * wave


def synthetic_output(spec: SyntheticSpec, ctx: FactoryContext) -> SyntheticOutput:
    """A Synthetic resource's output: it reads nothing from the pond."""
    return SyntheticOutput(spec)


register_kind(
    Kind(
        "Synthetic",
        "derivation",
        SyntheticSpec,
        output=synthetic_output,
        output_type=lambda spec: DYNAMIC_FILE,
    )
)
