"""Text for a terminal: names and paths with their control characters escaped.

A shared leaf like ``errors``: every layer may build a line of output that
names a pond path or a host file (the CLI prints it, a library report returns
it), and a name holding a newline or an escape sequence must neither split
that line nor drive the terminal; and a count reads as English (``1 file``,
``2 files``), a size as a person reads it (``3.2 MiB``).
"""

from __future__ import annotations

import re

# C0 and C1 control characters and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """``text`` with control characters written as Python escapes (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], text)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, the noun plural unless ``n`` is 1: ``1 file``, ``3 files``.

    ``plural`` for a noun that does not take an ``s`` (``counted(2, "entry", "entries")``).
    """
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def sized(n: int) -> str:
    """A size in bytes as a person reads it, in binary units: ``512 B``, ``3.2 MiB``,
    ``12.0 GiB`` (GiB is the largest unit)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
