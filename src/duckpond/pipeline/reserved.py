"""Where a resource's outputs may not go: the pond's own paths, in the pond and on the host.

In the pond, ``/etc`` belongs to DuckPond: ``/etc/resources`` holds the
resources and ``/etc/runs.series`` the runs record (``pond run``), and what
a later version keeps there goes there too.  An output at or under ``/etc``
(or at ``/``, which would be the whole pond) is refused, whatever way the
path is written: ``/ETC/x`` (a pond's names are case-sensitive, but an
output spelled so is a mistake or a trick), ``/a/../etc``, ``/etc/``, or a
path through a symlink that leads under ``/etc``.

On the host, an output folder (Site's ``out``) may not be the pond's own
directory, lie inside it, or contain it: building a site there would write
into the Delta table or move the pond aside.

Both are checked at ``pond apply`` and again before each run (a symlink may
have been made since).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidPathError
from ..tinyfs import WD
from ..tinyfs import paths as tpaths

RESERVED = tpaths.RESERVED
"""The pond folder DuckPond keeps for itself (resources, runs record)."""

_MAX_LINKS = 40


def _resolve(root: WD, parts: tuple[str, ...]) -> tuple[str, ...]:
    """``parts`` with every symlink among its existing prefixes followed (lexically after)."""
    done: list[str] = []
    todo = list(parts)
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = tpaths.join([*done, part])
        if not root.exists(candidate):
            # Nothing below a missing component can be a symlink yet.
            done.append(part)
            done.extend(todo)
            break
        np = root.get(candidate, follow=False)
        if not np.is_symlink():
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise InvalidPathError(f"too many levels of symlinks: {tpaths.join(list(parts))}")
        target = root.readlink(candidate)
        if target.startswith("/"):
            done = []
        todo = tpaths.split(target) + todo
    return tuple(done)


def output_problem(root: WD | None, path: str) -> str | None:
    """Why ``path`` cannot be a resource's output, or None if it can.

    ``root`` is the pond to resolve symlinks in (None: lexical checks only).
    """
    try:
        parts = tpaths.normalize(path)
    except InvalidPathError as exc:
        return str(exc)
    shown = tpaths.join(parts)
    if not parts:
        return "/ is the whole pond, not an output path"
    if tpaths.is_reserved(parts):
        return (
            f"{shown} is reserved: {RESERVED} belongs to the pond itself (resources, runs record)"
        )
    if root is None:
        return None
    try:
        resolved = _resolve(root, parts)
    except InvalidPathError as exc:
        return str(exc)
    if tpaths.is_reserved(resolved):
        return (
            f"{shown} leads to {tpaths.join(resolved)} through a symlink, and {RESERVED} "
            "belongs to the pond itself (resources, runs record)"
        )
    return None


def host_output_problem(out: str, pond_dir: str | os.PathLike[str] | None) -> str | None:
    """Why the host folder ``out`` cannot receive a resource's output, or None if it can.

    A file (or a symlink to one) at ``out`` can never become the folder: it is
    said at apply, in the words ``pond mirror`` uses, not as mkdir's "File exists".
    """
    where = os.path.expanduser(out)
    if os.path.lexists(where) and not os.path.isdir(where):
        return f"an output folder is a folder, and this is not one: {out}"
    if pond_dir is None:
        return None
    here = Path(os.path.realpath(os.path.expanduser(out)))
    pond = Path(os.path.realpath(pond_dir))
    if here == pond or pond in here.parents:
        return f"{out} is inside the pond's own directory {pond}"
    if here in pond.parents:
        return f"{out} contains the pond's own directory {pond}"
    return None
