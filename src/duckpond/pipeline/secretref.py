"""Secret references and resolved secrets, without pydantic (``secrets`` adds the field type).

``SecretRef`` is ``${env:NAME}`` as written (``${env:NAME:-default}`` is read where an
older pond stored one, and refused at apply); ``resolve()``
gives a masked ``Secret`` and remembers its value so that ``scrub`` can remove it from
error text.  Kept free of pydantic so that a command reading a stored reference (a backup
push's cached spec) need not import it; ``duckpond.pipeline.secrets`` says the rules.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\}", re.DOTALL)
MASK = "***"
MIN_LENGTH = 8
"""The shortest secret accepted: shorter ones cannot be masked without giving them away."""
# What ends a token around a secret (with whitespace): quotes and separators.
_SEPARATORS = frozenset("\"'`,;&?=()[]{}<>")

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
                "a secret field takes a reference to the environment, ${env:NAME}, "
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
        problem = short_problem(value, self)
        if problem is not None:
            raise ConfigError(problem)
        return Secret(value)

    def check(self) -> str | None:
        """At apply: why this reference cannot be used (a default, a short value), or None.

        A default is refused: it is stored in the pond as written, and pushed to its
        backups, so a default that is the credential itself would be kept in both
        (never quoted here).
        """
        if self.default is not None:
            return (
                f"secret {self.env}: a default (${{env:{self.env}:-...}}) would be stored "
                "in the pond as written, and in its backups: set the variable "
                f"{self.env} in the environment instead"
            )
        value = os.environ.get(self.env)
        return None if value is None else short_problem(value, self)

    def __str__(self) -> str:
        return self.text


def short_problem(value: str, ref: SecretRef, what: str = "its value") -> str | None:
    """The one-line refusal of a secret too short to mask, or None (never quotes it)."""
    if len(value) >= MIN_LENGTH:
        return None
    return (
        f"secret {ref.env}: {what} is shorter than {MIN_LENGTH} characters, too short to "
        "keep out of messages (masking it would give it away); use the full credential"
    )


def _separates(ch: str) -> bool:
    return ch.isspace() or ch in _SEPARATORS


def mask(text: str, values: Iterable[str]) -> str:
    """``text`` with each token holding one of ``values`` replaced by ``***``.

    A token runs from the secret out to the nearest space, quote or separator
    on each side.  Values shorter than ``MIN_LENGTH`` are left alone: masking
    them would turn every matching letter into ``***``.  Linear in ``text``.
    """
    spans: list[tuple[int, int]] = []
    for value in {v for v in values if len(v) >= MIN_LENGTH}:
        at = text.find(value)
        while at != -1:
            spans.append((at, at + len(value)))
            at = text.find(value, at + 1)
    if not spans:
        return text
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            continue
        while start > 0 and not _separates(text[start - 1]):
            start -= 1
        while end < len(text) and not _separates(text[end]):
            end += 1
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    pieces: list[str] = []
    done = 0
    for start, end in merged:
        pieces.append(text[done:start])
        pieces.append(MASK)
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def scrub(text: str) -> str:
    """``text`` with every secret resolved in this process masked (see ``mask``)."""
    with _resolved_guard:
        values = list(_resolved)
    return mask(text, values)
