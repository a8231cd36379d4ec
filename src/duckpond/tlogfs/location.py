"""Which host directories can hold a pond's Delta table.

delta-rs takes a table location as a URL even when given a plain path, so some
names are read as something else: ``%20`` is decoded (``/data/Q1%20data`` opens
``/data/Q1 data``: another pond, or none), ``\\`` becomes a path separator,
``[ ] ^ |`` make it panic and control characters are refused.  A file URL with
the path percent-encoded does not help: delta-rs decodes it once more.  So a pond
directory whose absolute path holds one of these is refused by name, before
anything is written or read; every other character (spaces, ``#``, ``?``, ``&``,
quotes, non-ASCII letters) works and is tested.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError

# Checked against delta-rs 1.x on every printable ASCII character.
_UNUSABLE = re.compile(r"%[0-9A-Fa-f]{2}|[\[\]\\^|\x00-\x1f\x7f]")


def check_location(pond_dir: Path) -> None:
    """``ConfigError`` naming the first character sequence of ``pond_dir`` (made absolute)
    that the Delta Lake library would misread."""
    text = str(pond_dir.absolute())
    found = _UNUSABLE.search(text)
    if found is None:
        return
    what = found[0]
    why = (
        "it is read as an escaped character, naming another directory"
        if what.startswith("%")
        else "the Delta Lake library cannot use it in a table's path"
    )
    raise ConfigError(
        f"cannot keep a pond at {text!r}: it contains {what!r}, and {why}; "
        "choose a directory whose path does not"
    )
