"""POSIX-like path handling for the pond: absolute from ``/``, with ``.`` and ``..``."""

from __future__ import annotations

from ..errors import InvalidPathError


def split(path: str) -> list[str]:
    """The non-empty components of a path, ``.`` removed; ``..`` is kept for the caller."""
    if "\x00" in path:
        raise InvalidPathError(f"path contains a NUL byte: {path!r}")
    return [part for part in path.split("/") if part not in ("", ".")]


def normalize(path: str, cwd: str = "/") -> tuple[str, ...]:
    """Resolve ``path`` against ``cwd`` lexically into root-relative components.

    ``..`` that would climb above the root is an error, not a no-op: in a
    pond it is almost always a mistake in a script.
    """
    parts: list[str] = [] if path.startswith("/") else list(split(cwd))
    for part in split(path):
        if part == "..":
            if not parts:
                raise InvalidPathError(f"path climbs above the root: {path}")
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


def join(parts: tuple[str, ...] | list[str]) -> str:
    return "/" + "/".join(parts)


def is_hidden(name: str) -> bool:
    return name.startswith(".")


RESERVED = "/etc"
"""The pond folder DuckPond keeps for itself: resources (``/etc/resources``), the
runs record (``/etc/runs.series``) and what a later version keeps there.  No
resource output and no mirror ``--sync`` may create, change or remove anything
at or under it (``pipeline/reserved.py`` says how paths are spelled around it)."""


def is_reserved(parts: tuple[str, ...] | list[str]) -> bool:
    """True for the pond root (no parts) and for a path at or under ``RESERVED``.

    Compared after ``casefold``: a pond's names are case-sensitive, but ``/ETC/x``
    is a mistake or a trick, never a user's own folder.
    """
    return not parts or parts[0].casefold() == RESERVED.strip("/")
