"""Property tests of pond path normalisation, with ``posixpath.normpath`` as the reference."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from duckpond.errors import InvalidPathError
from duckpond.tinyfs import paths

names = st.text(alphabet=st.sampled_from("abcXYZ019_-. ~éü日\t"), min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..")
)
components = st.one_of(names, st.sampled_from([".", "..", "", "..."]))
relative_paths = st.lists(components, max_size=10).map("/".join)
any_paths = st.tuples(st.sampled_from(["", "/", "//"]), relative_paths).map("".join)
cwds = st.lists(names, max_size=4).map(paths.join)


def reference(path: str, cwd: str) -> tuple[str, ...] | None:
    """What normpath says ``path`` from ``cwd`` is, as components; None if it climbs above /.

    normpath keeps a leading '..' exactly when a relative path climbs above its start,
    so the root-relative form of the path tells both answers.
    """
    rooted = posixpath.join(cwd, path).lstrip("/")
    norm = posixpath.normpath(rooted) if rooted else "."
    if norm == ".":
        return ()
    parts = tuple(norm.split("/"))
    return None if parts[0] == ".." else parts


@given(any_paths, cwds)
@example("/a/b/../c/./d", "/")
@example("a/../../b", "/x")
@example("...//.../..", "/")
def test_normalize_agrees_with_normpath(path: str, cwd: str) -> None:
    expected = reference(path, cwd)
    if expected is None:
        with pytest.raises(InvalidPathError):
            paths.normalize(path, cwd)
    else:
        assert paths.normalize(path, cwd) == expected


@given(any_paths, cwds)
def test_normalized_components_are_plain_names(path: str, cwd: str) -> None:
    try:
        parts = paths.normalize(path, cwd)
    except InvalidPathError:
        return
    assert all(part not in ("", ".", "..") and "/" not in part for part in parts)


@given(any_paths, cwds)
def test_normalize_is_idempotent(path: str, cwd: str) -> None:
    try:
        parts = paths.normalize(path, cwd)
    except InvalidPathError:
        return
    assert paths.normalize(paths.join(parts)) == parts
    assert paths.normalize(paths.join(parts), cwd) == parts


@given(relative_paths, cwds, cwds)
def test_absolute_paths_ignore_the_cwd(path: str, cwd: str, other: str) -> None:
    try:
        expected = paths.normalize("/" + path, cwd)
    except InvalidPathError:
        with pytest.raises(InvalidPathError):
            paths.normalize("/" + path, other)
        return
    assert paths.normalize("/" + path, other) == expected


@given(cwds, st.integers(min_value=1, max_value=6))
def test_climbing_above_the_root_raises(cwd: str, extra: int) -> None:
    depth = len(paths.split(cwd))
    assert paths.normalize("/".join([".."] * depth), cwd) == ()
    with pytest.raises(InvalidPathError):
        paths.normalize("/".join([".."] * (depth + extra)), cwd)
    with pytest.raises(InvalidPathError):
        paths.normalize("/" + "/".join([".."] * extra), cwd)


@given(st.lists(names, max_size=6))
def test_join_and_split_round_trip(parts: list[str]) -> None:
    joined = paths.join(parts)
    assert joined == "/" or (joined.startswith("/") and not joined.endswith("/"))
    assert paths.split(joined) == parts
    assert paths.normalize(joined) == tuple(parts)


@given(any_paths)
def test_nul_is_rejected_anywhere(path: str) -> None:
    for at in (0, len(path) // 2, len(path)):
        with pytest.raises(InvalidPathError):
            paths.normalize(path[:at] + "\x00" + path[at:])


def test_hidden_names() -> None:
    assert paths.is_hidden(".git") and paths.is_hidden("...")
    assert not paths.is_hidden("a.b") and not paths.is_hidden("x.")
