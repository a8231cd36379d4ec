"""Which pond nodes a mirror holds: its patterns, as ``pond list`` and ``pond copy`` read them.

A pattern is a pond glob or a literal path.  A matched directory brings
everything below it, hidden names (``.x``) excepted, as a glob skips them; a
literal path names its node even when hidden.  ``selected_by`` answers the
same question for a path that is not in the pond yet (a new host file).
"""

from __future__ import annotations

import errno
from collections.abc import Sequence

from ...tinyfs import WD, NodePath
from ...tinyfs import paths as tpaths
from ...tinyfs.glob import Segment, compile_pattern, has_wildcard, match_segment


def select(root: WD, patterns: Sequence[str]) -> dict[str, NodePath]:
    """Pond path -> node for every node the patterns select, with the directories above them.

    Raises ``FileNotFoundError`` for a literal path that does not exist.  A node
    reached through a symlinked directory is left out: the symlink is mirrored
    as a symlink, and the host reaches the node through it.
    """
    chosen: dict[str, NodePath] = {}
    for pattern in patterns:
        if has_wildcard(pattern):
            matches = [m.node_path for m in root.glob(pattern)]
        else:
            matches = [root.get(tpaths.join(tpaths.normalize(pattern)), follow=False)]
        for np in matches:
            below = root.visit(np.path, hidden=False) if np.is_dir() else iter([np])
            for node in below:
                chosen.setdefault(node.path, node)
    out: dict[str, NodePath] = {}
    for path in sorted(chosen, key=tpaths.split):
        parent = path.rsplit("/", 1)[0] or "/"
        known = out.get(parent)
        if known is not None and not known.is_symlink():
            out[path] = chosen[path]  # the common case: its folder is held already
            continue
        parts = tpaths.split(path)
        through_link = False
        for i in range(1, len(parts)):
            above = tpaths.join(parts[:i])
            if above not in out:
                np = root.get(above, follow=False)
                if np.is_symlink():
                    out[above] = np
                    through_link = True
                    break
                out[above] = np
            elif out[above].is_symlink():
                through_link = True
                break
        if not through_link and parts:
            out[path] = chosen[path]
    return out


def require_matches(root: WD, patterns: Sequence[str]) -> None:
    """Raise ``FileNotFoundError`` naming the first pattern that selects no node at all.

    A mirror holds what its patterns select and removes the rest from its
    folder, so a mistyped pattern would empty it: a pattern the mirror is
    given anew (``pond mirror DIR PATTERN``, a Mirror resource's first run or
    changed spec) must match something.  The record's own patterns are not
    asked again: a pond that removed what they matched empties the mirror, as
    it should.
    """
    for pattern in patterns:
        if has_wildcard(pattern):
            found = any(True for _ in root.glob(pattern))
        else:
            found = root.exists(tpaths.join(tpaths.normalize(pattern)))
        if not found:
            raise FileNotFoundError(
                errno.ENOENT,
                "the pattern matches nothing in the pond, so the mirror would hold none of it:"
                " its folder is left as it is",
                pattern,
            )


def _match(segments: list[Segment], i: int, parts: Sequence[str], j: int) -> bool:
    if i == len(segments):
        return j == len(parts)
    segment = segments[i]
    if segment.is_recursive:
        if i + 1 == len(segments):
            # A trailing '**' is everything below its base, never the base itself.
            return j < len(parts) and not any(tpaths.is_hidden(p) for p in parts[j:])
        for k in range(j, len(parts) + 1):
            if k > j and tpaths.is_hidden(parts[k - 1]):
                break
            if _match(segments, i + 1, parts, k):
                return True
        return False
    if j == len(parts) or match_segment(segment, parts[j], hidden=False) is None:
        return False
    return _match(segments, i + 1, parts, j + 1)


def selected_by(path: str, patterns: Sequence[str]) -> bool:
    """True when ``select`` would hold ``path`` if it existed (symlinks aside)."""
    parts = tpaths.split(path)
    for pattern in patterns:
        segments = compile_pattern(tpaths.normalize(pattern))
        for k in range(len(parts), 0, -1):
            below = parts[k:]
            if _match(segments, 0, parts[:k], 0) and not any(tpaths.is_hidden(p) for p in below):
                return True
    return False
