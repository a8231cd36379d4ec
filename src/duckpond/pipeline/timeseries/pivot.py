"""Pivot: chosen columns of many series side by side, ``<site>.<column>``."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...errors import ConfigError
from ._arrow import TIME, Tabular, as_table, latest_per_time
from .join import align

if TYPE_CHECKING:
    import pyarrow as pa


def _chosen(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    if patterns is None:
        return [n for n in names if n != TIME]
    return [n for n in names if n != TIME and any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def pivot(series: Sequence[tuple[str, Tabular]], columns: Sequence[str] | None = None) -> pa.Table:
    """One table of ``timestamp[us, UTC]`` and ``<site>.<column>`` for each site (in the
    order given) and each chosen column it has (names or ``*`` globs; None: every column),
    NULL where a site has no reading at a time; sorted by time, one row per time (of a
    site's rows with equal times the last wins).  A column named without a glob that a site
    lacks is still given for it, all NULL, typed as at the other sites (float64 if none has
    it).  Raises ``ConfigError`` for a site named twice."""
    import pyarrow as pa

    sites: list[str] = []
    tables: list[pa.Table | None] = []
    for site, data in series:
        if site in sites:
            raise ConfigError(f"site {site!r} given twice")
        sites.append(site)
        tables.append(as_table(data))
    literal = [c for c in columns or () if not any(ch in c for ch in "*?[")]
    types: dict[str, pa.DataType] = {}
    for table in tables:
        for field in table.schema if table is not None else ():
            types.setdefault(field.name, field.type)
    frames: list[tuple[str, pa.Table | None]] = []
    for site, table in zip(sites, tables, strict=True):
        if table is None:
            table = pa.table({TIME: pa.array([], type=pa.timestamp("us", tz="UTC"))})
        keep = _chosen(table.schema.names, columns)
        picked = latest_per_time(table.select([TIME, *keep]))
        for name in literal:
            if name not in picked.schema.names:
                picked = picked.append_column(
                    name, pa.nulls(picked.num_rows, types.get(name, pa.float64()))
                )
        frames.append((site, picked.select([TIME, *_order(picked.schema.names, columns)])))
    return align(frames)


def _order(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    """Columns in the order the patterns name them (a glob's matches in table order)."""
    if patterns is None:
        return [n for n in names if n != TIME]
    ordered: list[str] = []
    for pattern in patterns:
        for name in names:
            if name != TIME and name not in ordered and fnmatch.fnmatchcase(name, pattern):
                ordered.append(name)
    return ordered
