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

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from ...tinyfs.persistence import DYNAMIC_FILE
from ..documents import PondPath, PondPattern, StrictModel
from . import Kind, register_kind

if TYPE_CHECKING:
    import pyarrow as pa

    from ...tinyfs import FactoryContext, TableOutput


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


def compute_join(spec: JoinSpec, ctx: FactoryContext) -> pa.Table:
    """The joined table, its schema metadata naming the inputs read (and their versions)."""
    from ..timeseries import JoinInput, join
    from ._series import input_record, matches, read_table, substitute, with_description

    pieces: list[JoinInput] = []
    described: list[dict[str, Any]] = []
    for index, item in enumerate(spec.inputs):
        begin = instant_micros(item.range.begin) if item.range else None
        end = instant_micros(item.range.end) if item.range else None
        found = matches(ctx.root, item.pattern)
        if not found and "$" not in item.scope:
            # Nothing matched: the scope is still there, empty.
            pieces.append(JoinInput(item.scope, None, begin, end))
        for match in found:
            scope = substitute(item.scope, match.captures, f"spec.inputs.{index}.scope")
            pieces.append(JoinInput(scope, read_table(ctx.root, match.node), begin, end))
            described.append({**input_record(match.node), "scope": scope})
    table = join(pieces)
    return with_description(table, {"kind": "Join", "inputs": described})


def join_output(spec: JoinSpec, ctx: FactoryContext) -> TableOutput:
    """The Join's output: one table, computed when first read."""
    from ._series import ComputedTable

    return ComputedTable(lambda: compute_join(spec, ctx))


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
