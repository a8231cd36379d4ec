"""Secret fields: references to the environment, resolved only when a run uses them.

A secret field holds ``${env:NAME}`` or ``${env:NAME:-default}``.  The
reference is what is validated, stored in the pond and shown; a literal
value is refused at apply.  ``SecretRef.resolve()`` gives a ``Secret``
whose ``str``/``repr`` are masked, and every value resolved in this process
is remembered so that ``scrub`` can remove it from error text before that
text is printed or recorded in a run.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from ..errors import ConfigError

_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\}", re.DOTALL)
MASK = "***"

_resolved: set[str] = set()
_resolved_guard = threading.Lock()


class Secret:
    """A resolved secret: ``reveal()`` gives the value; printing it shows ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if value:
            with _resolved_guard:
                _resolved.add(value)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class SecretRef:
    """``${env:NAME}`` or ``${env:NAME:-default}``, as written."""

    text: str
    env: str
    default: str | None

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        """Parse a reference; ``ValueError`` (which never quotes the text) for anything else."""
        m = _REF.fullmatch(text.strip())
        if m is None:
            raise ValueError(
                "a secret field takes a reference, ${env:NAME} or ${env:NAME:-default}, "
                "not a literal value"
            )
        return cls(text.strip(), m.group(1), m.group(2))

    def resolve(self) -> Secret:
        """The value from the environment, else the default; ``ConfigError`` if neither."""
        value = os.environ.get(self.env)
        if value is None:
            if self.default is None:
                raise ConfigError(
                    f"secret {self.text} is not set: export the environment variable {self.env}"
                )
            value = self.default
        return Secret(value)

    def __str__(self) -> str:
        return self.text


def _validate(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str):
        raise ValueError(
            "a secret field takes a reference, ${env:NAME} or ${env:NAME:-default}, "
            "not a literal value"
        )
    return SecretRef.parse(value)


SecretField = Annotated[
    SecretRef,
    BeforeValidator(_validate),
    PlainSerializer(lambda ref: ref.text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*(:-.*)?\}$"}),
]
"""The pydantic field type of a secret: validates a reference, stores it as written."""


def scrub(text: str) -> str:
    """``text`` with every secret resolved in this process replaced by ``***``."""
    with _resolved_guard:
        values = sorted(_resolved, key=len, reverse=True)
    for value in values:
        text = text.replace(value, MASK)
    return text
