"""``SqlDerived``: a table or series computed by SQL over other pond data.

::

    kind: SqlDerived
    name: harbor-f
    spec:
      inputs:
        harbor: /hydrovu/harbor-mouth.series     # a pond path, glob or URL
      query: SELECT timestamp, "Temperature.C" * 1.8 + 32 AS temp_f FROM harbor
      mode: series                               # or table

Each input is a table named by its key, read through the query package
(DataFusion): a pond path, a glob whose matches are unioned by column name,
or a URL (``csv:///inbox/*.csv``).  Inputs are read through the factory's
read-only view of the pond, at the reader's transaction (``--at-txn`` sees
the inputs as they were).  ``mode: series`` requires a timestamp column in
the result.

Without ``per_match`` the output is one ``dynamic:file`` at ``spec.path``.
With ``per_match: true`` exactly one input is a pond glob; the output is a
``dynamic:dir`` with one entry per match, in which that input names only the
match, and each entry is named by ``name`` with ``$0``, ``$1``... replaced by
the match's captures (default ``$0``, the first wildcard's text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ...errors import ConfigError, FormatError, QueryError
from ...tinyfs import DYNAMIC_DIR, DYNAMIC_FILE, KIND_SERIES, KIND_TABLE, FactoryContext, Output
from ..documents import PondPath, StrictModel
from . import Kind, register_kind

if TYPE_CHECKING:
    import pyarrow as pa

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CAPTURE = re.compile(r"\$(\d+)")


def _pond_pattern(value: str) -> str | None:
    """The pond path or glob an input reads, or None for a host URL."""
    from ...query.urls import parse_url

    url = parse_url(value)
    return None if url.host else url.path


class SqlDerivedSpec(StrictModel):
    """``inputs``: table name -> pond path, glob or URL; ``query``: SQL over those names."""

    inputs: dict[str, str] = Field(min_length=1)
    query: str = Field(min_length=1)
    mode: Literal["table", "series"] = "series"
    per_match: bool = False
    # per_match only: how each output is named from its match's captures.
    name: str = "$0"
    path: PondPath

    @field_validator("inputs")
    @classmethod
    def _check_inputs(cls, value: dict[str, str]) -> dict[str, str]:
        from ...tinyfs import paths as tpaths
        from ...tinyfs.glob import compile_pattern

        for key, target in value.items():
            if not _IDENTIFIER.match(key):
                raise ValueError(
                    f"input name {key!r} is not an SQL identifier ([A-Za-z_][A-Za-z0-9_]*)"
                )
            try:
                pattern = _pond_pattern(target)
                if pattern is not None:
                    compile_pattern(tpaths.split(pattern))
            except (FormatError, ConfigError) as exc:
                raise ValueError(f"input {key!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _check_per_match(self) -> SqlDerivedSpec:
        if not self.per_match:
            return self
        from ...tinyfs.glob import has_wildcard

        globs = [k for k, v in self.inputs.items() if has_wildcard(_pond_pattern(v) or "")]
        if len(globs) != 1:
            raise ValueError(
                f"per_match needs exactly one input that is a pond glob (found {len(globs)})"
            )
        if not _CAPTURE.search(self.name) or "/" in self.name:
            raise ValueError("name is an output name with captures ($0, $1...), without '/'")
        return self

    @property
    def match_input(self) -> str:
        """The per_match input's name."""
        from ...tinyfs.glob import has_wildcard

        return next(k for k, v in self.inputs.items() if has_wildcard(_pond_pattern(v) or ""))


def sql_inputs(spec: SqlDerivedSpec) -> list[str]:
    """The pond patterns a SqlDerived reads (for the dependency order)."""
    return [p for p in (_pond_pattern(v) for v in spec.inputs.values()) if p is not None]


@dataclass
class SqlTable:
    """One SQL result as a ``TableOutput``: the query runs when the schema is first asked for.

    The first stream is the one whose schema was read; a later ``batches()``
    runs the query again.  For a series the event range is known once a
    stream has been read to its end (None before: a reader reads it all).
    """

    ctx: FactoryContext
    inputs: Mapping[str, str]
    query: str
    mode: str
    _reader: Any = None
    _schema: Any = None
    _range: tuple[int, int] | None = None
    _column: str | None = field(default=None)

    def _named(self, exc: Exception) -> Exception:
        """``exc`` as an error whose message starts with this output's pond path.

        A query's error alone ("No field named x") does not say which of the
        pond's derived outputs failed, in a ``pond export`` of many.
        """
        prefix = f"{self.ctx.path}: "
        text = str(exc)
        if text.startswith(prefix):
            return exc
        if isinstance(exc, OSError):
            # Keep the OSError family (a missing input is FileNotFoundError).
            return type(exc)(exc.errno, f"{prefix}{exc.strerror or text}", exc.filename)
        for base in (QueryError, FormatError, ConfigError):
            if isinstance(exc, base):
                try:
                    return type(exc)(f"{prefix}{text}")
                except TypeError:  # a subclass with another constructor
                    return base(f"{prefix}{text}")
        return QueryError(f"{prefix}{type(exc).__name__}: {text}")

    def _open(self) -> pa.RecordBatchReader:
        from ...query.engine import QuerySession

        try:
            self._record_host_inputs()
            session = QuerySession(self.ctx.root, persistence=self.ctx.root.fs.persistence)
            for name, target in self.inputs.items():
                session.register(name, target)
            return session.stream(self.query)
        except Exception as exc:
            raise self._named(exc) from exc

    def _record_host_inputs(self) -> None:
        """Key the output by what each host input holds now (``cache.host_version``).

        A host file is no pond node, so the pond's versions cannot see it change;
        its fingerprint (paths, sizes, mtimes and content hashes), taken before the
        query reads it, is checked again at each lookup.
        """
        from ...query.urls import parse_url
        from ..cache import HOST_INPUT, host_version

        for target in self.inputs.values():
            url = parse_url(target)
            if url.host:
                self.ctx.record_input(f"{HOST_INPUT}{url.path}", host_version(url.path))

    def schema(self) -> pa.Schema:
        if self._schema is None:
            from ...query.canonical import find_timestamp_column

            self._reader = self._open()
            self._schema = self._reader.schema
            self._column = find_timestamp_column(self._schema)
            if self.mode == "series" and self._column is None:
                raise FormatError(
                    f"{self.ctx.path}: a series needs a timestamp column, and the query "
                    f"gives {', '.join(self._schema.names)} (use mode: table)"
                )
        schema: pa.Schema = self._schema
        return schema

    def event_range(self) -> tuple[int, int] | None:
        return self._range

    def _read(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        """The reader's batches; an error while the query runs names this output."""
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except Exception as exc:
                raise self._named(exc) from exc
            yield batch

    def batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = self.schema()
        reader, self._reader = self._reader, None
        if reader is None:
            reader = self._open()
        low: int | None = None
        high: int | None = None
        for batch in self._read(reader):
            if batch.schema != schema:
                # DataFusion may report nullability differently per batch: one schema for all.
                batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
            if self._column is not None and batch.num_rows:
                times = batch.column(self._column).cast(pa.int64())
                lo, hi = pc.min(times).as_py(), pc.max(times).as_py()
                if lo is not None:
                    low = lo if low is None else min(low, lo)
                    high = hi if high is None else max(high, hi)
            yield batch
        if self._column is not None and low is not None and high is not None:
            self._range = (low, high)


@dataclass
class SqlPerMatch:
    """A ``per_match`` SqlDerived: one ``SqlTable`` per match of its glob input."""

    spec: SqlDerivedSpec
    ctx: FactoryContext
    _matches: dict[str, str] | None = None

    def _by_name(self) -> dict[str, str]:
        if self._matches is None:
            pattern = _pond_pattern(self.spec.inputs[self.spec.match_input])
            assert pattern is not None
            found: dict[str, str] = {}
            for m in self.ctx.root.glob(pattern):
                if not m.node_path.is_file():
                    continue
                name = _name_of(self.spec.name, m.captures)
                if not name or "/" in name or name in (".", ".."):
                    raise ConfigError(
                        f"{self.ctx.path}: {m.node_path.path} would be named {name!r}"
                    )
                other = found.setdefault(name, m.node_path.path)
                if other != m.node_path.path:
                    raise ConfigError(
                        f"{self.ctx.path}: {other} and {m.node_path.path} are both named {name!r}"
                    )
            self._matches = found
        return self._matches

    def entries(self) -> Mapping[str, str]:
        kind = KIND_SERIES if self.spec.mode == "series" else KIND_TABLE
        return {name: kind for name in self._by_name()}

    def child(self, name: str, ctx: FactoryContext) -> Output:
        inputs = dict(self.spec.inputs)
        inputs[self.spec.match_input] = self._by_name()[name]
        return SqlTable(ctx, inputs, self.spec.query, self.spec.mode)


def _name_of(template: str, captures: tuple[str, ...]) -> str:
    """``template`` with ``$N`` replaced by capture N; ``ConfigError`` for a missing one."""

    def one(m: re.Match[str]) -> str:
        index = int(m.group(1))
        if index >= len(captures):
            raise ConfigError(f"${index} names no capture (the pattern has {len(captures)})")
        return captures[index]

    return _CAPTURE.sub(one, template)


def sql_derived_output(spec: SqlDerivedSpec, ctx: FactoryContext) -> Output:
    """A SqlDerived resource's output: one table, or a directory of one per match."""
    if spec.per_match:
        return SqlPerMatch(spec, ctx)
    return SqlTable(ctx, spec.inputs, spec.query, spec.mode)


register_kind(
    Kind(
        "SqlDerived",
        "derivation",
        SqlDerivedSpec,
        inputs=sql_inputs,
        output=sql_derived_output,
        output_type=lambda spec: DYNAMIC_DIR if spec.per_match else DYNAMIC_FILE,
    )
)
