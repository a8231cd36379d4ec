"""``CopyOptions``: how host files are read into the pond.

One typed model for every way host files come in: the flags of ``pond copy``
and the ``csv`` field of the Inbox resource's YAML (PIPELINE.md) are both this
model, so an option added here is an option everywhere.  It is a standard
dataclass, checked in ``__post_init__``, so that ``pond copy`` does not pay for
importing pydantic; pydantic validates it as a field of a resource spec (with
unknown fields refused, by ``__pydantic_config__``) and runs the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, get_args

from ..errors import ConfigError

SourceFormat = Literal["csv", "parquet"]
Compression = Literal["gzip", "zstd"]


class OptionError(ConfigError):
    """A bad option value; ``field`` names the option, ``problem`` says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class CopyOptions:
    """How to read a host CSV or Parquet file into a table or series.

    - ``source_format``: ``csv`` or ``parquet``; None means by extension
      (``.csv``/``.tsv``, ``.parquet``/``.pq``, under ``.gz``/``.zst``).
    - ``compression``: ``gzip`` or ``zstd``; None means by extension.
    - ``delimiter``: one character; None means ``,`` (``\\t`` for ``.tsv``).
    - ``header``: whether the first row names the columns.
    - ``tz``: the IANA zone (or fixed offset) of timestamps written without
      one; None means UTC.  Stored times are always ``timestamp[us, UTC]``.
    - ``timestamp_column``: the event-time column of a series; None means the
      first of the usual names (``timestamp``, ``time``, ``datetime``...).

    Raises ``ConfigError`` naming the field for a bad value.
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    source_format: SourceFormat | None = None
    compression: Compression | None = None
    delimiter: str | None = None
    header: bool = True
    tz: str | None = None
    timestamp_column: str | None = None

    def __post_init__(self) -> None:
        _one_of("source_format", self.source_format, get_args(SourceFormat))
        _one_of("compression", self.compression, get_args(Compression))
        if self.delimiter is not None and len(self.delimiter) != 1:
            problem = f"a CSV delimiter is one character, not {self.delimiter!r}"
            raise OptionError("delimiter", problem)
        if not isinstance(self.header, bool):
            raise OptionError("header", f"true or false, not {self.header!r}")
        if self.tz is not None:
            from ..query.convert import check_zone

            try:
                check_zone(self.tz)
            except ConfigError as exc:
                raise OptionError("tz", str(exc)) from None

    @classmethod
    def build(cls, **values: Any) -> CopyOptions:
        """The options from keyword values; ``ConfigError`` naming an unknown or bad field."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**values)


def _one_of(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value is not None and value not in allowed:
        choices = ", ".join(str(a) for a in allowed)
        raise OptionError(name, f"{value!r} is not one of {choices}")
