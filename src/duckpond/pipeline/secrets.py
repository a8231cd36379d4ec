"""Secret fields: references to the environment, resolved only when a run uses them.

A secret field holds ``${env:NAME}`` (a default, ``${env:NAME:-default}``, is refused at
apply: it would be stored in the pond as written; one an older pond stored is read).  The
reference is what is validated, stored in the pond and shown; a literal
value is refused at apply.  ``SecretRef.resolve()`` gives a ``Secret``
whose ``str``/``repr`` are masked, and every value resolved in this process
is remembered so that ``scrub`` can remove it from error text before that
text is printed or recorded in a run.

A secret shorter than ``MIN_LENGTH`` characters is refused (at apply when
the environment shows it, else when a run resolves it):
masking a value that short would garble ordinary words and give the value
away by the pattern of the masks.  ``scrub`` masks a secret as a whole
token: the run of characters around it up to a space, quote or separator
becomes ``***``, so neither the secret nor its neighbours show.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from .secretref import MASK, MIN_LENGTH, Secret, SecretRef, mask, scrub, short_problem

__all__ = [
    "MASK",
    "MIN_LENGTH",
    "Secret",
    "SecretField",
    "SecretRef",
    "mask",
    "scrub",
    "secret_problems",
    "short_problem",
]


def _validate(value: Any) -> SecretRef:
    if isinstance(value, SecretRef):
        return value
    if not isinstance(value, str):
        raise ValueError(
            "a secret field takes a reference to the environment, ${env:NAME}, not a literal value"
        )
    return SecretRef.parse(value)


SecretField = Annotated[
    SecretRef,
    BeforeValidator(_validate),
    PlainSerializer(lambda ref: ref.text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$"}),
]
"""The pydantic field type of a secret: validates a reference, stores it as written."""


def secret_problems(model: Any, prefix: str = "spec") -> list[tuple[str, str]]:
    """``(field, problem)`` for each secret field of a spec model that ``check`` refuses."""
    from pydantic import BaseModel

    found: list[tuple[str, str]] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, SecretRef):
            problem = value.check()
            if problem is not None:
                found.append((where, problem))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{where}.{name}")
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{where}.{i}")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}")

    walk(model, prefix)
    return found
