"""``CopyOptions``: how host files are read into the pond.

One typed model for every way host files come in: the flags of ``pond copy``
and the ``csv``-style fields of the Inbox resource's YAML (PIPELINE.md) are
both this model, so an option added here is an option everywhere.  Unknown
fields are errors (``extra="forbid"``); values are checked when the model is
built, so a bad zone or delimiter fails before anything is read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from ..errors import ConfigError


class CopyOptions(BaseModel):
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
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_format: Literal["csv", "parquet"] | None = None
    compression: Literal["gzip", "zstd"] | None = None
    delimiter: str | None = None
    header: bool = True
    tz: str | None = None
    timestamp_column: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"a CSV delimiter is one character, not {value!r}")
        return value

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            from ..query.convert import check_zone

            try:
                check_zone(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @classmethod
    def build(cls, **values: object) -> CopyOptions:
        """The model from keyword values, a ``ConfigError`` naming the field if one is bad."""
        from pydantic import ValidationError

        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "options"
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"{field}: {message}") from None
