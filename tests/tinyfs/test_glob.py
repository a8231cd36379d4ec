"""Property tests of glob segment matching, with ``fnmatch.fnmatchcase`` as the reference.

fnmatch and TinyFS agree on patterns made of literals, ``*``, ``?``, ``[abc]`` and
``[!abc]`` matched against names that do not start with a dot; TinyFS adds the
shell's hidden-name rule and numbered captures.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from duckpond.errors import GlobError
from duckpond.tinyfs.glob import compile_segment, has_wildcard, match_segment

LITERALS = "abcxyz019_-.!^ é日\\\n"
CLASS_CHARS = "abcxyz019é"

literal_chars = st.sampled_from(LITERALS)
classes = st.tuples(st.booleans(), st.text(CLASS_CHARS, min_size=1, max_size=4)).map(
    lambda t: f"[{'!' if t[0] else ''}{t[1]}]"
)
tokens = st.one_of(literal_chars, literal_chars, st.just("*"), st.just("?"), classes)
# A component that is exactly '**' means "any directories" and is not a name pattern.
patterns = st.lists(tokens, min_size=1, max_size=8).map("".join).filter(lambda p: p != "**")
visible_names = st.text(LITERALS, min_size=1, max_size=10).filter(lambda n: not n.startswith("."))


def token_split(pattern: str) -> list[str]:
    """The pattern's tokens: a '*' run, '?', a '[...]' class, or one literal character."""
    return re.findall(r"\*+|\?|\[!?[^\]]+\]|.", pattern, re.DOTALL)


@st.composite
def pattern_and_instance(draw: st.DrawFn) -> tuple[str, str]:
    """A pattern and a name built to match it, so that matches are common."""
    pattern = draw(patterns)
    out = []
    for token in token_split(pattern):
        if token.startswith("*"):
            out.append(draw(st.text(LITERALS, max_size=4)))
        elif token == "?":
            out.append(draw(literal_chars))
        elif token.startswith("[!"):
            allowed = [c for c in LITERALS if c not in token[2:-1]]
            out.append(draw(st.sampled_from(allowed)))
        elif token.startswith("["):
            out.append(draw(st.sampled_from(token[1:-1])))
        else:
            out.append(token)
    return pattern, "".join(out)


def matches(pattern: str, name: str, *, hidden: bool = False) -> bool:
    return match_segment(compile_segment(pattern), name, hidden=hidden) is not None


@settings(max_examples=300)
@given(patterns, visible_names)
@example("*.csv", "a.csv")
@example("[!a]?", "ab")
@example("a*b*c", "abc")
def test_matching_agrees_with_fnmatch(pattern: str, name: str) -> None:
    assert matches(pattern, name) == fnmatchcase(name, pattern)


@settings(max_examples=300)
@given(pattern_and_instance())
def test_built_instances_match_both(pair: tuple[str, str]) -> None:
    pattern, name = pair
    assert fnmatchcase(name, pattern)
    # A wildcard may have produced a leading dot, which only matches with hidden=True.
    assert matches(pattern, name, hidden=name.startswith("."))


@given(patterns, visible_names)
def test_hidden_flag_changes_nothing_for_visible_names(pattern: str, name: str) -> None:
    assert matches(pattern, name, hidden=True) == matches(pattern, name, hidden=False)


@given(patterns.filter(lambda p: not p.startswith(".")), st.text(LITERALS, max_size=8))
def test_wildcards_never_match_hidden_names_unless_asked(pattern: str, rest: str) -> None:
    name = "." + rest
    if has_wildcard(pattern):
        assert not matches(pattern, name)
    assert matches(pattern, name, hidden=True) == fnmatchcase(name, pattern)


@given(st.text(LITERALS, max_size=8))
def test_a_literal_dot_name_matches_itself(rest: str) -> None:
    name = "." + rest
    assert matches(name, name)
    assert not matches(name, name + "x")


@given(st.lists(st.one_of(st.text("abc.é-", max_size=3), st.just("*")), min_size=1, max_size=6))
def test_captures_rebuild_the_name(parts: list[str]) -> None:
    pattern = "".join(parts)
    if pattern == "**":
        return
    segment = compile_segment(pattern)
    stars = len(re.findall(r"\*+", pattern))
    assert segment.captures == stars
    # Give every star a different text, then check the captures say where each went.
    fills = iter(["A", "", "BB", "Ç", "x.y", "", "Z"])
    name = re.sub(r"\*+", lambda _: next(fills), pattern)
    got = match_segment(segment, name, hidden=True)
    assert got is not None and len(got) == stars
    rebuilt = iter(got)
    assert re.sub(r"\*+", lambda _: next(rebuilt), pattern) == name


@given(pattern_and_instance())
def test_captures_fill_the_pattern_back_to_the_name(pair: tuple[str, str]) -> None:
    pattern, name = pair
    got = match_segment(compile_segment(pattern), name, hidden=True)
    assert got is not None
    tokens = token_split(pattern)
    assert len(got) == sum(t.startswith("*") for t in tokens)
    # Every non-star token covers one character; the stars cover the captured text.
    rebuilt, fills, position = [], iter(got), 0
    for token in tokens:
        piece = next(fills) if token.startswith("*") else name[position]
        rebuilt.append(piece)
        position += len(piece)
    assert "".join(rebuilt) == name


def test_captures_of_examples() -> None:
    assert match_segment(compile_segment("*-*.csv"), "site-7.csv", hidden=False) == ("site", "7")
    assert match_segment(compile_segment("a?[xy]*"), "abx", hidden=False) == ("",)
    assert match_segment(compile_segment("**x"), "aax", hidden=False) == ("aa",)
    assert match_segment(compile_segment("plain"), "plain", hidden=False) == ()


def test_double_star_component_is_recursive() -> None:
    segment = compile_segment("**")
    assert segment.is_recursive and segment.captures == 1
    assert not compile_segment("a**").is_recursive


@given(st.text(LITERALS, min_size=1, max_size=8))
def test_literal_segments_match_only_themselves(text: str) -> None:
    segment = compile_segment(text)
    assert segment.is_literal
    assert matches(text, text) and matches(text, text, hidden=True)
    assert not matches(text, text + "a") and not matches(text, "a" + text)


def test_brace_alternatives_match_any_one_as_a_shell_does() -> None:
    segment = compile_segment("{BDock,Silver}*.series")
    assert segment.captures == 2  # the alternative matched is a capture, as * is
    assert match_segment(segment, "BDockAT500.series", hidden=False) == ("BDock", "AT500")
    assert match_segment(segment, "SilverVulink.series", hidden=False) == ("Silver", "Vulink")
    assert match_segment(segment, "Other.series", hidden=False) is None
    assert matches("x.{csv,tsv}", "x.tsv") and not matches("x.{csv,tsv}", "x.{csv,tsv}")
    assert has_wildcard("{a,b}")


def test_a_name_in_braces_is_no_named_capture() -> None:
    with pytest.raises(GlobError, match=r"\{site\} in glob pattern \{site\} names no capture"):
        compile_segment("{site}")


@pytest.mark.parametrize(
    "pattern", ["[abc", "a[", "[!", "x]", "]", "a]*", "{a,b", "a}", "{a}", "{a,*}", "{a,[b]}"]
)
def test_malformed_patterns_raise(pattern: str) -> None:
    with pytest.raises(GlobError):
        compile_segment(pattern)
