"""``Reduce``: series downsampled to several resolutions, incrementally.

::

    kind: Reduce
    name: bdock-down
    spec:
      in_pattern: "/join/bdock"
      resolutions: [1h, 6h, 1d, 1mo]
      aggregations: [{type: avg}, {type: min, columns: ["*.C"]}, {type: max}]
      allowed_lateness: 1d
      timezone: America/Los_Angeles    # where days begin (default UTC; +05:30 works too)
      week_start: monday               # the weekday 1w buckets begin on (the default)

The output is one dynamic directory at ``spec.path``.  Each file ``in_pattern`` matches
(a physical series or table, or a Join or Pivot output) gives the files
``res=<R>.series``, one per resolution, with columns ``<column>.<agg>``.  Buckets are
counted in ``timezone`` as people count them: ``1d`` is a local day (23 or 25 hours across
a DST change), ``1w`` a week from ``week_start``, ``1mo``/``3mo``/``1y`` calendar months,
quarters and years; each is labelled by its local start, stored as a UTC instant
(``pipeline.timeseries.calendar``).
Where they go: ``out_pattern`` (``$0``, ``$1``... the match's captures) names a
subdirectory per match; by default a pattern without wildcards puts them directly in
the Reduce directory and one with wildcards in ``<$0>/<$1>/...`` (its captures as
nested directories).  Resolutions must nest (each bucket whole buckets of the next finer; weeks do not
nest in months): apply fails naming them otherwise.

Incremental: the finest partials of each match are kept under
``$POND/cache/reduce-state/`` with the (node id, version) of every node read to make
them.  When a later read finds that only series gained versions, only the finest buckets
holding those versions' rows are recomputed from raw rows, and
the coarser buckets holding them from the finer partials; anything else (a rewritten
table, a new file matched, another spec) recomputes in full.  Late data (older than the
newest bucket minus ``allowed_lateness``) is applied and counted; ``pond describe`` of
an output shows the counts, the last update, and the inputs and versions it was
computed from.  Deleting the state loses nothing but time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from ...errors import ConfigError
from ...ingest.options import OptionError
from ...tinyfs.persistence import DIRECTORY, DYNAMIC_DIR, FILE_SERIES
from ..cache import HOST_INPUT
from ..documents import PondPath, PondPattern, StrictModel, checked_by
from . import Kind, register_kind

if TYPE_CHECKING:
    import pyarrow as pa

    from ...tinyfs import WD, FactoryContext, NodePath, Output
    from ..timeseries import Change, Partials, ReduceConfig, Resolution
    from ._series import Match

STATE_DIR = "reduce-state"
_TIMESERIES = "duckpond.pipeline.timeseries"


def _check_out_pattern(value: str | None) -> str | None:
    if value is None:
        return None
    if value.startswith("/") or any(part in (".", "..") for part in value.split("/")):
        raise ValueError(f"out_pattern is a relative name below spec.path: {value!r}")
    return value


class AggregationSpec(StrictModel):
    """One aggregation: ``type`` and the ``columns`` it applies to (names or globs;
    default every numeric column)."""

    type: Literal["avg", "min", "max", "count", "sum"]
    columns: list[str] | None = Field(default=None, min_length=1)


def _default_aggregations() -> list[AggregationSpec]:
    return [AggregationSpec(type="avg"), AggregationSpec(type="min"), AggregationSpec(type="max")]


class ReduceSpec(StrictModel):
    """See the module's docstring."""

    in_pattern: PondPattern
    out_pattern: Annotated[str | None, AfterValidator(_check_out_pattern)] = None
    resolutions: Annotated[list[str], checked_by(_TIMESERIES, "parse_resolutions")] = Field(
        min_length=1
    )
    aggregations: list[AggregationSpec] = Field(default_factory=_default_aggregations, min_length=1)
    allowed_lateness: Annotated[str, checked_by(_TIMESERIES, "parse_duration")] = "1d"
    timezone: Annotated[str, checked_by("duckpond.timeparse", "zone")] = "UTC"
    week_start: Annotated[str, checked_by(f"{_TIMESERIES}.calendar", "parse_weekday")] = "monday"
    path: PondPath

    @model_validator(mode="after")
    def _week_start_has_weeks(self) -> ReduceSpec:
        # A weekday given for no week would silently do nothing: 7d buckets are counted
        # from 1970-01-01, a Thursday, and only w buckets start on week_start.  (The
        # default, Monday, is in every stored spec, so only another day is seen as asked.)
        from ..timeseries.calendar import parse_weekday

        if parse_weekday(self.week_start) != 0 and not any(
            r.strip().lower().endswith("w") for r in self.resolutions
        ):
            sevens = [r for r in self.resolutions if r.strip().lower() in ("7d", "168h")]
            why = (
                f" ({sevens[0]} buckets are counted from 1970-01-01, a Thursday; "
                "write 1w for weeks from week_start)"
                if sevens
                else ""
            )
            raise OptionError(
                "week_start", f"{self.week_start!r} starts 1w buckets, and none is asked{why}"
            )
        return self

    def config(self) -> ReduceConfig:
        from ..timeseries import Aggregation, ReduceConfig

        return ReduceConfig.parse(
            self.resolutions,
            [
                Aggregation(a.type, tuple(a.columns) if a.columns is not None else None)
                for a in self.aggregations
            ],
            self.allowed_lateness,
            timezone=self.timezone,
            week_start=self.week_start,
        )


# ---------------------------------------------------------------------------- layout


@dataclass
class _Tree:
    """The output directory: subdirectories, and the match whose files are here (if any)."""

    dirs: dict[str, _Tree] = field(default_factory=dict)
    match: Match | None = None


def _out_dir(spec: ReduceSpec, match: Match) -> tuple[str, ...]:
    from ._series import substitute

    if spec.out_pattern is not None:
        name = substitute(spec.out_pattern, match.captures, "spec.out_pattern")
    else:
        name = "/".join(match.captures)
    return tuple(part for part in name.split("/") if part)


def _layout(spec: ReduceSpec, root: WD, where: str) -> _Tree:
    from ._series import matches

    tree = _Tree()
    for match in matches(root, spec.in_pattern):
        node = tree
        for part in _out_dir(spec, match):
            node = node.dirs.setdefault(part, _Tree())
        if node.match is not None:
            shown = "/".join(_out_dir(spec, match)) or "."
            raise ConfigError(
                f"{where}: {node.match.path} and {match.path} would both be reduced into "
                f"{shown!r} (give out_pattern a capture that tells them apart)"
            )
        node.match = match
    return tree


class ReduceDir:
    """A directory of the Reduce output: subdirectories and ``res=<R>.series`` files."""

    def __init__(
        self, spec: ReduceSpec, config: ReduceConfig, tree: _Tree | None, ctx: FactoryContext
    ) -> None:
        self.spec = spec
        self.config = config
        self._tree = tree
        self._ctx = ctx

    def tree(self) -> _Tree:
        if self._tree is None:
            self._tree = _layout(self.spec, self._ctx.root, self._ctx.path)
        return self._tree

    def _files(self) -> dict[str, Resolution]:
        tree = self.tree()
        if tree.match is None:
            return {}
        return {r.output: r for r in self.config.resolutions}

    def entries(self) -> Mapping[str, str]:
        from ...tinyfs.dynamic import KIND_DIR, KIND_SERIES

        out = {name: KIND_DIR for name in self.tree().dirs}
        for name in self._files():
            if name in out:
                raise ConfigError(f"{self._ctx.path}/{name}: both a directory and an output")
            out[name] = KIND_SERIES
        return out

    def child(self, name: str, ctx: FactoryContext) -> Output:
        import errno

        tree = self.tree()
        if name in tree.dirs:
            return ReduceDir(self.spec, self.config, tree.dirs[name], ctx)
        resolution = self._files().get(name)
        if resolution is None or tree.match is None:
            raise FileNotFoundError(errno.ENOENT, "no such output", f"{self._ctx.path}/{name}")
        from ._series import ComputedTable

        match_path = tree.match.path
        # Computed on first use, so listing the outputs computes none of them.
        match = tree.match.node
        return ComputedTable(
            lambda: reduce_table(self.spec, self.config, match_path, resolution, ctx),
            lambda: _output_names(self.config, match),
        )


def reduce_table(
    spec: ReduceSpec,
    config: ReduceConfig,
    match_path: str,
    resolution: Resolution,
    ctx: FactoryContext,
) -> pa.Table:
    """One ``res=<R>.series``: read off the match's partials, with its description."""
    from ..timeseries.reduce import output_table
    from ._series import with_description

    partials, described = compute_partials(config, match_path, ctx)
    _check_columns(config, partials, match_path, ctx)
    level = config.resolutions.index(resolution)
    return with_description(
        output_table(config, partials.tables[level]),
        {
            "kind": "Reduce",
            "resolution": resolution.name,
            "aggregations": [a.model_dump(mode="json") for a in spec.aggregations],
            "allowed_lateness": spec.allowed_lateness,
            "timezone": spec.timezone,
            **described,
        },
    )


def _check_columns(
    config: ReduceConfig, partials: Partials, match_path: str, ctx: FactoryContext
) -> None:
    """Every pattern in ``aggregations[].columns`` must reduce some column of a non-empty
    input: ConfigError listing the input's columns (and the closest) otherwise."""
    from ._series import rows

    finest = partials.tables[0]
    if finest.num_rows == 0:
        return
    reduced = [name.rsplit(".", 1)[0] for name in finest.schema.names if name != "timestamp"]
    if not unreduced_columns(config, reduced, reduced, match_path):
        return
    # Only to say what is wrong: the input's columns, numeric or not, from its first rows.
    piece = next(iter(rows(ctx.root, ctx.root.get(match_path))), None)
    names = [n for n in piece.schema.names if n != "timestamp"] if piece else []
    for field_name, problem in unreduced_columns(config, reduced, names, match_path):
        raise ConfigError(f"{ctx.path}: {field_name}: {problem}")


def unreduced_columns(
    config: ReduceConfig, numeric: list[str], names: list[str], match_path: str
) -> list[tuple[str, str]]:
    """``(field, problem)`` for each ``aggregations[].columns`` pattern matching none of
    ``numeric`` (the input's numeric columns); ``names`` (all its columns but the time)
    are listed, with the closest."""
    from ._series import unmatched

    return [
        (f"spec.aggregations.{index}.columns", problem)
        for index, agg in enumerate(config.aggregations)
        for problem in unmatched(
            agg.columns or (), numeric, names, f"numeric column of {match_path}"
        )
    ]


def _output_names(config: ReduceConfig, np: NodePath) -> list[str] | None:
    """The columns of a ``res=<R>.series`` over ``np`` (``<column>.<aggregation>``), from
    a stored input's columns without computing; None for a computed input."""
    from ._series import stored_columns

    columns = stored_columns(np)
    if columns is None:
        return None
    return [f"{c}.{agg}" for c in columns[0] for agg in config.outputs_for(c)]


def _pond_problems(spec: ReduceSpec, root: WD) -> list[tuple[str, str]]:
    """At apply: ``aggregations[].columns`` naming no column of a stored input.  Computed
    inputs are checked when the Reduce is read."""
    from ._series import matches, stored_columns

    config = spec.config()
    for match in matches(root, spec.in_pattern):
        columns = stored_columns(match.node)
        if columns is not None:
            problems = unreduced_columns(config, *columns, match.path)
            if problems:
                return problems
    return []


def reduce_output(spec: ReduceSpec, ctx: FactoryContext) -> Output:
    """The Reduce's output directory (its listing is the matches; nothing computed yet)."""
    return ReduceDir(spec, spec.config(), None, ctx)


# ---------------------------------------------------------------------------- state


def _config_key(config: ReduceConfig) -> str:
    return json.dumps(
        {
            "resolutions": [
                [r.name, r.buckets.count, r.buckets.unit, r.buckets.tz, r.buckets.week_start]
                for r in config.resolutions
            ],
            "aggregations": [[a.type, a.columns] for a in config.aggregations],
            "allowed_lateness": config.allowed_lateness,
        },
        sort_keys=True,
    )


@dataclass
class _State:
    """What is kept between reads for one match."""

    config_key: str
    inputs: frozenset[tuple[str, int]]
    tables: tuple[pa.Table, ...]
    late_rows_total: int = 0
    late_buckets_total: int = 0
    last_update: dict[str, Any] = field(default_factory=dict)


class _StateStore:
    """One match's state in ``$POND/cache/reduce-state/<hash>/``: ``state.json`` (the
    config, the inputs, the counts, the generation) and one Arrow IPC file per resolution
    named by generation.  ``state.json`` is replaced last, by rename, so a reader sees a
    whole state or the previous one.  Nothing read back is trusted: ``state.json`` is
    sealed (``cache.seal``) and names its owner (the Reduce node and the match) and the
    size and SHA-256 of each Arrow file; a state failing any check (damaged, truncated,
    another match's state or files put in its place) is removed and counts as no state,
    so the partials are computed again in full."""

    def __init__(self, directory: Path, owner: str) -> None:
        self.directory = directory
        self.owner = owner

    @classmethod
    def of(cls, ctx: FactoryContext, match_path: str) -> _StateStore | None:
        from ._series import pond_dir_of

        pond_dir = pond_dir_of(ctx.root)
        if pond_dir is None:
            return None
        top = ctx.node_id.split("/", 1)[0]
        owner = f"{top}\0{match_path}"
        digest = hashlib.sha256(owner.encode()).hexdigest()[:32]
        return cls(Path(pond_dir) / "cache" / STATE_DIR / digest, owner)

    def load(self) -> _State | None:
        """The kept state if it is whole and this match's; else None (a bad one is removed)."""
        import pyarrow as pa

        from ..cache import map_verified, unseal

        try:
            text = (self.directory / "state.json").read_text()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            text = ""
        try:
            meta = unseal(text)
            if meta is None or meta["owner"] != self.owner:
                raise ValueError("not this match's state")
            tables = []
            for index in range(int(meta["levels"])):
                name = f"{meta['generation']}-{index}.arrow"
                mapped = map_verified(self.directory / name, meta["files"][name])
                if mapped is None:
                    raise ValueError(f"{name} fails its checksum")
                # Zero-copy: the tables keep the checked mapping alive.
                tables.append(pa.ipc.open_file(pa.py_buffer(mapped)).read_all())
            return _State(
                str(meta["config_key"]),
                frozenset((str(n), int(v)) for n, v in meta["inputs"]),
                tuple(tables),
                int(meta.get("late_rows_total", 0)),
                int(meta.get("late_buckets_total", 0)),
                dict(meta.get("last_update") or {}),
            )
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
            self.clear()
            return None

    def clear(self) -> None:
        """Remove the kept state (a damaged one: the next read computes in full)."""
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)

    def save(self, state: _State) -> None:
        import os
        import uuid

        import pyarrow as pa

        from ..cache import file_checksum, seal

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            generation = uuid.uuid4().hex
            files = {}
            for index, table in enumerate(state.tables):
                final = self.directory / f"{generation}-{index}.arrow"
                temp = final.with_suffix(".tmp")
                with (
                    pa.OSFile(str(temp), "wb") as sink,
                    pa.ipc.new_file(sink, table.schema) as writer,
                ):
                    writer.write_table(table)
                files[final.name] = file_checksum(temp)
                os.replace(temp, final)
            meta = {
                "owner": self.owner,
                "config_key": state.config_key,
                "inputs": sorted([n, v] for n, v in state.inputs),
                "levels": len(state.tables),
                "generation": generation,
                "files": files,
                "late_rows_total": state.late_rows_total,
                "late_buckets_total": state.late_buckets_total,
                "last_update": state.last_update,
            }
            temp = self.directory / f"state.{generation}.tmp"
            temp.write_text(seal(meta))
            os.replace(temp, self.directory / "state.json")
            for old in self.directory.iterdir():
                if old.suffix == ".arrow" and not old.name.startswith(generation):
                    old.unlink(missing_ok=True)
        except OSError:
            # The state is a cache: failing to keep it costs time on the next read only.
            return


def _version_times(base: Any, info: Any) -> pa.Array | None:
    """The event times of one stored series version (its time column alone), or None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ...query.canonical import find_timestamp_column

    try:
        local = getattr(base, "local_path", None)
        path = local(info.node_id, info.version) if local is not None else None
        source: Any = (
            str(path)
            if path is not None
            else pa.BufferReader(base.read_bytes(info.node_id, info.version))
        )
        pf = pq.ParquetFile(source)
        column = info.attributes.get("timestamp_column") or find_timestamp_column(pf.schema_arrow)
        if not column:
            return None
        return pf.read(columns=[column], use_threads=False).column(0).combine_chunks()
    except (OSError, ValueError, pa.ArrowException):
        return None


def _changes(base: Any, inputs: frozenset[tuple[str, int]], stitched: bool) -> list[Change] | None:
    """The new series versions since ``inputs`` were read, as changes; None when something
    else changed (then only a full computation is right)."""
    from ..timeseries import Change

    changes: list[Change] = []
    for node_id, old in sorted(inputs):
        if node_id.startswith(HOST_INPUT):
            return None  # a host file read through a derivation: no versions to compare
        try:
            info = base.latest(node_id)
        except (FileNotFoundError, KeyError, NotADirectoryError):
            return None
        if info.version == old:
            continue
        if info.version < old or info.node_type != FILE_SERIES:
            return None
        versions = base.versions(node_id)
        before = [v for v in versions if v.version <= old]
        added = [v for v in versions if v.version > old]
        for v in added:
            if v.min_event_time is None or v.max_event_time is None:
                return None
            changes.append(Change(v.min_event_time, v.max_event_time, _version_times(base, v)))
        if stitched and added:
            # Through a Join, a later input's new readings move the span over which it
            # replaces an earlier input's: the time between its old and new readings
            # changes too.
            old_low = min(
                (v.min_event_time for v in before if v.min_event_time is not None), default=None
            )
            old_high = max(
                (v.max_event_time for v in before if v.max_event_time is not None), default=None
            )
            new_low = min(v.min_event_time for v in added if v.min_event_time is not None)
            new_high = max(v.max_event_time for v in added if v.max_event_time is not None)
            if old_low is not None and new_high < old_low:
                changes.append(Change(new_high, old_low))
            if old_high is not None and new_low > old_high:
                changes.append(Change(old_high, new_low))
    return changes


def _may_stitch(np: NodePath) -> bool:
    """Whether new readings of an input may change rows of ``np`` outside their own time:
    a Join that stitches inputs (says so), or any other computed input (may)."""
    if not np.is_dynamic():
        return False
    stitches = getattr(np.output(), "stitches", None)
    return bool(stitches()) if callable(stitches) else True


def _update(mode: str, recomputed: int, late_rows: int, late_buckets: int) -> dict[str, Any]:
    return {
        "mode": mode,
        "recomputed_buckets": recomputed,
        "late_rows": late_rows,
        "late_buckets": late_buckets,
    }


def compute_partials(
    config: ReduceConfig, match_path: str, ctx: FactoryContext
) -> tuple[Partials, dict[str, Any]]:
    """The partials of one match, updated from the kept state where only series grew.

    Returns them with what ``describe`` shows of the computation: the input, the
    (node id, version) of every file read, the update (``full``, ``incremental`` or
    ``unchanged``, the finest buckets recomputed, late rows and buckets) and the late
    totals since the state was last computed in full.
    """
    from ...tinyfs import InputRecorder, ReadOnlyFS
    from ..timeseries import Partials, reduce_full, reduce_update
    from ._series import base_persistence, input_record, rows

    # Our own recorder (under the context's): the inputs of this match alone, to keep.
    recorder = InputRecorder()
    view = ReadOnlyFS(ctx.root.fs, recorder).root()
    np: NodePath = view.get(match_path)
    base = base_persistence(ctx.root)
    store = _StateStore.of(ctx, match_path)
    key = _config_key(config)
    state = store.load() if store is not None else None
    changes = None
    if state is not None and state.config_key == key:
        changes = _changes(base, state.inputs, stitched=_may_stitch(np))

    if state is None or changes is None:
        partials = reduce_full(config, rows(view, np))
        update = _update("full", partials.tables[0].num_rows, 0, 0)
        inputs = recorder.snapshot()
        totals = (0, 0)
    elif not changes:
        partials = Partials(config, state.tables)
        # Nothing new: what brought the partials here is the kept state's last update.
        update = state.last_update or _update("full", partials.tables[0].num_rows, 0, 0)
        inputs = state.inputs | recorder.snapshot()
        totals = (state.late_rows_total, state.late_buckets_total)
    else:
        result = reduce_update(
            Partials(config, state.tables),
            changes,
            lambda start, end: rows(view, np, start, end),
            config,
        )
        partials = result.partials
        update = _update(
            "incremental", result.recomputed_buckets, result.late_rows, result.late_buckets
        )
        current = {node_id: base.latest(node_id).version for node_id, _ in state.inputs}
        inputs = frozenset(current.items()) | recorder.snapshot()
        totals = (
            state.late_rows_total + result.late_rows,
            state.late_buckets_total + result.late_buckets,
        )
    # One version per node: the newest seen.
    newest: dict[str, int] = {}
    for node_id, version in inputs:
        newest[node_id] = max(version, newest.get(node_id, version))
    for node_id, version in newest.items():
        ctx.record_input(node_id, version)
    # A past state (time travel) or an open transaction must not replace the kept state.
    if store is not None and changes != [] and not base.read_only and not base.in_transaction:
        kept = _State(key, frozenset(newest.items()), partials.tables, *totals, update)
        store.save(kept)
    read = []
    for node_id, version in sorted(newest.items()):
        try:
            node_type = base.node_type(node_id)
        except (FileNotFoundError, KeyError):
            continue
        if node_type not in (DIRECTORY, DYNAMIC_DIR):
            read.append({"node_id": node_id, "type": node_type, "version": version})
    described = {
        "inputs": [input_record(np)],
        "input_versions": read,
        "update": update,
        "late_rows_total": totals[0],
        "late_buckets_total": totals[1],
    }
    return partials, described


def reduce_inputs(spec: ReduceSpec) -> list[str]:
    return [spec.in_pattern]


register_kind(
    Kind(
        "Reduce",
        "derivation",
        ReduceSpec,
        inputs=reduce_inputs,
        output=reduce_output,
        output_type=lambda spec: DYNAMIC_DIR,
        check_pond=_pond_problems,
    )
)
