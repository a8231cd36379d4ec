"""Glob patterns over the pond: ``*``, ``?``, ``[...]``, ``{a,b}`` and ``**``.

A pattern is split into components.  ``**`` alone in a component matches
zero or more directories; every ``*`` and ``**`` is a capture, numbered
from ``$0`` left to right, which factories use to name their outputs.
``{a,b,c}`` matches any one of its comma-separated alternatives, as in a
shell, within one component; the alternatives are literal text, and the one
matched is a capture too (``/raw/{north,south}/*.series``: ``$0`` the station,
``$1`` the file's stem).  ``{name}`` alone is no named capture: it is refused
with a message saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import GlobError

WILDCARDS = frozenset("*?[{")


def has_wildcard(text: str) -> bool:
    return any(ch in WILDCARDS for ch in text)


@dataclass(frozen=True)
class Segment:
    """One component of a pattern: a literal name, ``**``, or a compiled wildcard."""

    text: str
    regex: re.Pattern[str] | None
    captures: int

    @property
    def is_recursive(self) -> bool:
        return self.text == "**"

    @property
    def is_literal(self) -> bool:
        return self.regex is None and not self.is_recursive


def _translate(component: str) -> tuple[str, int]:
    """Translate one wildcard component to a regex; return it and its capture count."""
    out: list[str] = []
    captures = 0
    i, n = 0, len(component)
    while i < n:
        ch = component[i]
        if ch == "*":
            while i + 1 < n and component[i + 1] == "*":
                i += 1
            out.append("(.*)")
            captures += 1
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            j = i + 1
            if j < n and component[j] in "!^":
                j += 1
            if j < n and component[j] == "]":
                j += 1
            while j < n and component[j] != "]":
                j += 1
            if j >= n:
                raise GlobError(f"unterminated '[' in glob pattern: {component}")
            body = component[i + 1 : j]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            if not body:
                raise GlobError(f"empty character class in glob pattern: {component}")
            body = body.replace("\\", "\\\\")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = j
        elif ch == "{":
            j = component.find("}", i + 1)
            if j < 0:
                raise GlobError(
                    f"unterminated '{{' in glob pattern: {component} "
                    "(alternatives {a,b} stay within one path component)"
                )
            choices = component[i + 1 : j].split(",")
            if len(choices) < 2 and not WILDCARDS & set(choices[0]):
                raise GlobError(
                    f"{{{choices[0]}}} in glob pattern {component} names no capture: "
                    "captures are numbered, not named ($0, $1... for each * and {a,b} "
                    "from the left); write * to capture any name, {a,b} to choose among names"
                )
            if len(choices) < 2 or any(WILDCARDS & set(c) for c in choices):
                raise GlobError(
                    f"bad alternatives in glob pattern: {component} "
                    "(write {a,b}: two or more literal names separated by commas)"
                )
            out.append("(" + "|".join(re.escape(c) for c in choices) + ")")
            captures += 1
            i = j
        elif ch in "]}":
            raise GlobError(f"unmatched {ch!r} in glob pattern: {component}")
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out), captures


@lru_cache(maxsize=512)
def compile_segment(component: str) -> Segment:
    # '**' means "any directories" only as a whole component; elsewhere it is '*'.
    if component == "**":
        return Segment(component, None, 1)
    if not has_wildcard(component):
        for closing in "]}":
            if closing in component:
                raise GlobError(f"unmatched {closing!r} in glob pattern: {component}")
        return Segment(component, None, 0)
    body, captures = _translate(component)
    try:
        regex = re.compile(body + r"\Z", re.DOTALL)
    except re.error as exc:
        raise GlobError(f"bad glob pattern {component!r}: {exc}") from None
    return Segment(component, regex, captures)


def match_segment(segment: Segment, name: str, *, hidden: bool) -> tuple[str, ...] | None:
    """Captures if ``name`` matches one non-recursive segment, else None.

    A name starting with ``.`` is hidden: no wildcard segment matches it unless
    ``hidden`` is set (stricter than a shell, where ``.*`` would): only ``-a``
    lets a glob reach hidden names.  A literal segment always matches.
    """
    if segment.regex is None:
        return () if name == segment.text else None
    if name.startswith(".") and not hidden:
        return None
    m = segment.regex.match(name)
    return None if m is None else m.groups()


def compile_pattern(components: tuple[str, ...] | list[str]) -> list[Segment]:
    return [compile_segment(c) for c in components]
