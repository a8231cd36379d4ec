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
