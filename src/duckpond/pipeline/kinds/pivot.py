"""``Pivot``: chosen columns of many series side by side, ``<site>.<column>``, one table.

::

    kind: Pivot
    name: temperatures
    spec:
      pattern: "/hydrovu/*/Temp*.series"
      columns: ["Temperature.C"]

Each file ``pattern`` matches is one site, named by the pattern's first capture (else
the file name without its extension); NULL where a site has no reading at a time.
``columns`` are names or ``*`` globs (default: every column).  A pattern matching
nothing gives a table with only ``timestamp``.  The output is one dynamic file (a
series) at ``spec.path``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ...errors import ConfigError
from ...tinyfs.persistence import DYNAMIC_FILE
from ..documents import PondPath, PondPattern, StrictModel
from . import Kind, register_kind

if TYPE_CHECKING:
    import pyarrow as pa

    from ...tinyfs import WD, FactoryContext, TableOutput


class PivotSpec(StrictModel):
    """``pattern``: the series, one per site; ``columns``: which of their columns."""

    pattern: PondPattern
    columns: list[str] | None = Field(default=None, min_length=1)
    path: PondPath


def site_of(path: str, captures: tuple[str, ...]) -> str:
    """A site's name: the first non-empty capture, else the file name without extension."""
    from ._series import stem

    first = captures[0] if captures else ""
    return first if first else stem(path)


def compute_pivot(spec: PivotSpec, ctx: FactoryContext) -> pa.Table:
    """The pivoted table, its schema metadata naming the sites and input versions."""
    from ..timeseries import pivot
    from ._series import input_record, matches, read_table, unmatched, with_description

    series: list[tuple[str, Any]] = []
    described: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for match in matches(ctx.root, spec.pattern):
        site = site_of(match.path, match.captures)
        if site in seen:
            raise ConfigError(
                f"{ctx.path}: {seen[site]} and {match.path} would both be site {site!r}"
            )
        seen[site] = match.path
        series.append((site, read_table(ctx.root, match.node)))
        described.append({**input_record(match.node), "site": site})
    if series:
        names = _names(t.schema.names for _, t in series)
        for problem in unmatched(spec.columns or (), names, names, "column of any input"):
            raise ConfigError(f"{ctx.path}: spec.columns: {problem}")
    table = pivot(series, spec.columns)
    return with_description(table, {"kind": "Pivot", "inputs": described})


def _names(schemas: Iterable[Sequence[str]]) -> list[str]:
    """Every column of the inputs but their time, each once, in order of appearance."""
    from ..timeseries._arrow import TIME

    return list(dict.fromkeys(n for names in schemas for n in names if n != TIME))


def _pond_problems(spec: PivotSpec, root: WD) -> list[tuple[str, str]]:
    """At apply: ``columns`` naming no column of any stored input (a computed input is
    checked when the Pivot is read, in the same words)."""
    from ._series import matches, stored_columns, unmatched

    if not spec.columns:
        return []
    schemas = []
    for match in matches(root, spec.pattern):
        columns = stored_columns(match.node)
        if columns is None:
            return []
        schemas.append(columns[1])
    names = _names(schemas)
    if not names:
        return []
    return [
        ("spec.columns", p) for p in unmatched(spec.columns, names, names, "column of any input")
    ]


def pivot_output(spec: PivotSpec, ctx: FactoryContext) -> TableOutput:
    """The Pivot's output: one table, computed when first read."""
    from ._series import ComputedTable

    return ComputedTable(lambda: compute_pivot(spec, ctx))


register_kind(
    Kind(
        "Pivot",
        "derivation",
        PivotSpec,
        inputs=lambda spec: [spec.pattern],
        output=pivot_output,
        output_type=lambda spec: DYNAMIC_FILE,
        check_pond=_pond_problems,
    )
)
