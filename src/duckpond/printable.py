"""Text for a terminal: names and paths with their control characters escaped.

A shared leaf like ``errors``: every layer may build a line of output that
names a pond path or a host file (the CLI prints it, a library report returns
it), and a name holding a newline or an escape sequence must neither split
that line nor drive the terminal.
"""

from __future__ import annotations

import re

# C0 and C1 control characters and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """``text`` with control characters written as Python escapes (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], text)
