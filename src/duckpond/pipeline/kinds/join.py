"""``Join``: series of several scopes side by side on ``timestamp``, one table output.

::

    kind: Join
    name: bdock
    spec:
      inputs:
        - {pattern: "/hydrovu/noyo/BDockAT500.series", scope: BDock, range: {end: 2024-06-01}}
        - {pattern: "/hydrovu/noyo/BDockVulink.series", scope: BDock, range: {begin: 2024-06-01}}
        - {pattern: "/hydrovu/noyo/Air*.series", scope: Air}

Inputs of one scope are stitched (a later input wins over its range, see
``pipeline.timeseries.join``); scopes are full-outer-joined on ``timestamp``; columns
are ``<scope>.<column>``.  A pattern may match several files: each is one input of the
scope, in path order, and a scope may name them by capture (``scope: "$0"``).  A
pattern matching nothing gives an empty scope, not an error.  ``range: {begin, end}``
(``[begin, end)``, ISO 8601, UTC without a zone) limits an input to the time its
instrument was deployed.  The output is one dynamic file (a series) at ``spec.path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from ...tinyfs.persistence import DYNAMIC_FILE
from ..documents import PondPath, PondPattern, StrictModel
from . import Kind, register_kind

if TYPE_CHECKING:
    import pyarrow as pa

    from ...tinyfs import FactoryContext, NodePath, TableOutput


def validate_instant(value: Any) -> str:
    """A time as users write it (ISO 8601, or a YAML date), stored as ISO 8601 UTC."""
    from ...errors import ConfigError
    from ...timeparse import as_time, iso

    try:
        shown = iso(as_time(value))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    assert shown is not None
    return shown


Instant = Annotated[str, BeforeValidator(validate_instant)]
"""A point in time, written ``2024-06-01`` or ``2024-06-01T12:00Z``; stored ISO 8601 UTC."""


def instant_micros(value: str | None) -> int | None:
    from ...timeparse import parse_time, to_micros

    return None if value is None else to_micros(parse_time(value))


class RangeSpec(StrictModel):
    """``[begin, end)``: the time an input counts for; either bound may be left open."""

    begin: Instant | None = None
    end: Instant | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeSpec:
        low, high = instant_micros(self.begin), instant_micros(self.end)
        if low is not None and high is not None and low >= high:
            raise ValueError(f"begin {self.begin} is not before end {self.end}")
        return self


class JoinInputSpec(StrictModel):
    """One input: the files ``pattern`` matches, in scope ``scope`` (``$0``... captures)."""

    pattern: PondPattern
    scope: str = Field(min_length=1)
    range: RangeSpec | None = None


class JoinSpec(StrictModel):
    """``inputs``: the series to join, in order (later inputs of a scope win)."""

    inputs: list[JoinInputSpec] = Field(min_length=1)
    path: PondPath


def join_inputs(spec: JoinSpec) -> list[str]:
    return [item.pattern for item in spec.inputs]


class JoinTable:
    """The Join's output (a ``TableOutput``), computed when first read.

    Besides the joined table it offers ``pieces()``: the same rows scope by scope, not
    yet aligned on time, so that a reader that aggregates column by column (Reduce)
    never holds the joined table, which is mostly NULLs when scopes' times differ.
    """

    def __init__(self, spec: JoinSpec, ctx: FactoryContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self._scopes: list[tuple[str, pa.Table | None]] | None = None
        self._described: list[dict[str, Any]] = []
        self._table: pa.Table | None = None

    def scopes(self) -> list[tuple[str, pa.Table | None]]:
        """Each scope's stitched rows (one row per time, sorted; None: schema unknown)."""
        if self._scopes is None:
            from ..timeseries import JoinInput
            from ..timeseries.join import stitch
            from ._series import input_record, matches, read_table, substitute

            by_scope: dict[str, list[JoinInput]] = {}
            for index, item in enumerate(self.spec.inputs):
                begin = instant_micros(item.range.begin) if item.range else None
                end = instant_micros(item.range.end) if item.range else None
                found = matches(self.ctx.root, item.pattern)
                if not found and "$" not in item.scope:
                    # Nothing matched: the scope is still there, empty.
                    by_scope.setdefault(item.scope, []).append(JoinInput(item.scope, None))
                for match in found:
                    scope = substitute(item.scope, match.captures, f"spec.inputs.{index}.scope")
                    data = read_table(self.ctx.root, match.node)
                    by_scope.setdefault(scope, []).append(JoinInput(scope, data, begin, end))
                    self._described.append({**input_record(match.node), "scope": scope})
            self._scopes = [(scope, stitch(items)) for scope, items in by_scope.items()]
        return self._scopes

    def table(self) -> pa.Table:
        """The joined table, its schema metadata naming the inputs read and their versions."""
        if self._table is None:
            from ..timeseries.join import align
            from ._series import with_description

            joined = align(self.scopes())
            self._table = with_description(joined, {"kind": "Join", "inputs": self._described})
        return self._table

    def pieces(self, start: int | None = None, end: int | None = None) -> Iterator[pa.Table]:
        """The output's rows scope by scope: ``timestamp`` and that scope's
        ``<scope>.<column>`` columns; the output is their full outer join on time.

        With ``start`` or ``end`` (microseconds, ``[start, end)``), the rows in that
        window only, reading only the series versions whose recorded event range
        overlaps it: what an incremental Reduce needs after a small new version.
        """
        from ..timeseries._arrow import TIME

        bounded = start is not None or end is not None
        scopes = self.window(start, end) if bounded else self.scopes()
        for scope, table in scopes:
            if table is not None:
                yield table.rename_columns(
                    [name if name == TIME else f"{scope}.{name}" for name in table.schema.names]
                )

    def stitches(self) -> bool:
        """True when some scope may have several inputs (one replacing another over its
        span), so that new readings of one input can change rows outside their own time."""
        from ._series import matches

        scopes: set[str] = set()
        for item in self.spec.inputs:
            found = matches(self.ctx.root, item.pattern)
            if "$" in item.scope or len(found) > 1 or item.scope in scopes:
                return True
            scopes.add(item.scope)
        return False

    def window(self, start: int | None, end: int | None) -> list[tuple[str, pa.Table | None]]:
        """Each scope's stitched rows within ``[start, end)``: equal to ``scopes()`` cut to
        the window.  An input's span (over which it replaces earlier inputs of its scope)
        is its declared range, its undeclared bounds taken from the oplog's event ranges
        of its versions, so rows outside the window need not be read to know it."""
        import pyarrow as pa

        from ..timeseries import JoinInput
        from ..timeseries._arrow import TIME, time_type
        from ..timeseries.join import stitch
        from ._series import matches, rows, substitute

        low = start if start is not None else -(2**63)
        high = end if end is not None else 2**63 - 1
        by_scope: dict[str, list[JoinInput]] = {}
        for index, item in enumerate(self.spec.inputs):
            begin = instant_micros(item.range.begin) if item.range else None
            stop = instant_micros(item.range.end) if item.range else None
            found = matches(self.ctx.root, item.pattern)
            if not found and "$" not in item.scope:
                by_scope.setdefault(item.scope, []).append(JoinInput(item.scope, None))
            for match in found:
                scope = substitute(item.scope, match.captures, f"spec.inputs.{index}.scope")
                span = _recorded_span(match.node, begin, stop)
                if span is None:
                    by_scope.setdefault(scope, []).append(JoinInput(scope, None))
                    continue
                lo, hi = max(span[0], low), min(span[1], high)
                if lo >= hi:
                    by_scope.setdefault(scope, []).append(JoinInput(scope, None))
                    continue
                data = list(rows(self.ctx.root, match.node, lo, hi))
                # No rows in the window still replaces earlier inputs' rows in it.
                empty = pa.table({TIME: pa.array([], type=time_type())})
                by_scope.setdefault(scope, []).append(JoinInput(scope, data or empty, lo, hi))
        return [(scope, stitch(items)) for scope, items in by_scope.items()]

    def schema(self) -> pa.Schema:
        return self.table().schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        return iter(self.table().to_batches())

    def event_range(self) -> tuple[int, int] | None:
        from ..timeseries._arrow import micros

        low: int | None = None
        high: int | None = None
        for _, table in self.scopes():
            if table is not None and table.num_rows:
                times = micros(table)  # sorted: stitch leaves one row per time, in order
                low = int(times[0]) if low is None else min(low, int(times[0]))
                high = int(times[-1]) if high is None else max(high, int(times[-1]))
        return None if low is None else (low, high if high is not None else low)


def _recorded_span(np: NodePath, begin: int | None, stop: int | None) -> tuple[int, int] | None:
    """An input's span ``[begin, end)`` as ``stitch`` takes it: declared bounds as given,
    the others its first and last reading (from its versions' recorded event ranges, or
    its rows when it has none); None when it has no reading in its range."""
    from ...tinyfs.persistence import FILE_SERIES
    from ..timeseries._arrow import micros
    from ._series import read_table

    if begin is not None and stop is not None:
        return begin, stop
    versions = np.node.versions() if np.node_type == FILE_SERIES else []
    mins = [v.min_event_time for v in versions if v.min_event_time is not None]
    maxs = [v.max_event_time for v in versions if v.max_event_time is not None]
    if versions and len(mins) == len(versions):
        first, last = min(mins), max(maxs)
    else:
        # A table or a computed input has no per-version ranges: its rows say.
        table = read_table(np.node.fs.root(), np)
        if table is None or table.num_rows == 0:
            return None
        times = micros(table)
        inside = times[
            (times >= (begin if begin is not None else times.min()))
            & (times < (stop if stop is not None else times.max() + 1))
        ]
        if len(inside) == 0:
            return None
        first, last = int(inside.min()), int(inside.max())
    lo = begin if begin is not None else first
    hi = stop if stop is not None else last + 1
    if (begin is not None and last < begin) or (stop is not None and first >= stop) or lo >= hi:
        return None
    return lo, hi


def compute_join(spec: JoinSpec, ctx: FactoryContext) -> pa.Table:
    """The joined table (see ``JoinTable.table``)."""
    return JoinTable(spec, ctx).table()


def join_output(spec: JoinSpec, ctx: FactoryContext) -> TableOutput:
    """The Join's output: one table, computed when first read."""
    return JoinTable(spec, ctx)


register_kind(
    Kind(
        "Join",
        "derivation",
        JoinSpec,
        inputs=join_inputs,
        output=join_output,
        output_type=lambda spec: DYNAMIC_FILE,
    )
)
