"""Planning a copy in: which host file lands at which pond path (docs/architecture.md, "The command line")."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import ConfigError, InvalidPathError
from ..tinyfs import FILE_SERIES, WD
from ..tinyfs import paths as tpaths


def _pond_name(host: Path) -> str:
    name = host.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPathError(
            f"host file name is not valid UTF-8: {os.fsencode(host)!r}; rename it first"
        ) from None
    return name


def plan_copy_in(
    root: WD, sources: Sequence[Path], dest: str, format: str | None = None
) -> Iterator[tuple[Path, str, bool]]:
    """Yield ``(host path, pond path, is directory)`` for everything a copy-in writes.

    Into an existing directory each source keeps its name; onto a series (an existing
    one, or a new one with ``format`` series) several files append one version each
    in the order given; otherwise there is exactly one source and ``dest`` is its name.
    """
    if not sources:
        raise ConfigError("nothing to copy: give at least one source")
    for src in sources:
        if not src.exists():
            raise FileNotFoundError(2, "no such host file or directory", str(src))
    dest_abs = tpaths.join(tpaths.normalize(dest))
    existing = root.get(dest_abs) if root.exists(dest_abs) else None
    into_dir = existing is not None and existing.is_dir()
    onto_series = existing.node_type == FILE_SERIES if existing is not None else format == "series"
    if not into_dir:
        if dest.endswith("/"):
            raise FileNotFoundError(2, "no such pond directory", dest_abs)
        if onto_series and all(src.is_file() for src in sources):
            for src in sources:
                yield src, dest_abs, False
            return
        if len(sources) > 1:
            raise NotADirectoryError(
                20, "several sources need an existing destination directory", dest_abs
            )
    # Every host name that becomes a pond name is checked before anything is read.
    # A file copied to a name of its own choosing may have any host name.
    for src in sources:
        if into_dir:
            _pond_name(src)
        if src.is_dir():
            _check_tree_names(src)
    for src in sources:
        target = (
            tpaths.join([*tpaths.normalize(dest_abs), _pond_name(src)]) if into_dir else dest_abs
        )
        if src.is_dir():
            yield from _plan_tree(src, target)
        else:
            yield src, target, False


def _check_tree_names(src: Path) -> None:
    for top, dirs, files in os.walk(src):
        for name in (*dirs, *files):
            _pond_name(Path(top, name))


def _plan_tree(src: Path, target: str) -> Iterator[tuple[Path, str, bool]]:
    yield src, target, True
    for child in sorted(src.iterdir(), key=lambda p: p.name):
        child_target = f"{target.rstrip('/')}/{_pond_name(child)}"
        if child.is_dir():
            yield from _plan_tree(child, child_target)
        else:
            yield child, child_target, False
