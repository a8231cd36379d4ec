"""The dependency graph: the path index finds exactly what comparing every pair finds.

The reference below is the definition (PIPELINE.md, "Order"): A comes before
B when a pattern among B's inputs can match A's path or a path under it,
checked pair by pair.  The index must agree with it on any paths and
patterns; runs must come out in that order through derivations.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from duckpond.pipeline.graph import dependencies, order
from duckpond.tinyfs import paths as tpaths
from duckpond.tinyfs.glob import compile_pattern, match_segment

from .conftest import PondRunner, doc, yaml_file


def reaches_by_definition(pattern: str, path: str) -> bool:
    segments = compile_pattern(tpaths.split(pattern))
    components = tpaths.split(path)

    @cache
    def walk(i: int, j: int) -> bool:
        if j == len(components):
            return True
        if i == len(segments):
            return False
        segment = segments[i]
        if segment.is_recursive:
            return walk(i + 1, j) or walk(i, j + 1)
        if match_segment(segment, components[j], hidden=True) is None:
            return False
        return walk(i + 1, j + 1)

    return walk(0, 0)


def pairwise(paths: dict[str, str | None], inputs: dict[str, list[str]]) -> dict[str, set[str]]:
    return {
        reader: {
            writer
            for writer, path in paths.items()
            if writer != reader
            and path is not None
            and any(reaches_by_definition(p, path) for p in inputs.get(reader, []))
        }
        for reader in paths
    }


NAMES = st.sampled_from(["a", "ab", "b", "x.series", ".h", "abc", "b1"])
PATTERN_PARTS = st.sampled_from(
    ["a", "ab", "b", "*", "a*", "*b", "?", "[ab]", "**", "*.series", ".h"]
)


@st.composite
def graphs(draw: st.DrawFn) -> tuple[dict[str, str | None], dict[str, list[str]]]:
    count = draw(st.integers(1, 8))
    paths: dict[str, str | None] = {}
    inputs: dict[str, list[str]] = {}
    for i in range(count):
        name = f"r{i}"
        parts = draw(st.lists(NAMES, min_size=0, max_size=4))
        paths[name] = draw(st.sampled_from([None, "/" + "/".join(parts)]))
        inputs[name] = [
            "/" + "/".join(p)
            for p in draw(st.lists(st.lists(PATTERN_PARTS, max_size=4), max_size=3))
        ]
    return paths, inputs


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_the_index_agrees_with_every_pair(
    graph: tuple[dict[str, str | None], dict[str, list[str]]],
) -> None:
    paths, inputs = graph
    assert dependencies(paths, inputs) == pairwise(paths, inputs)


def test_a_thousand_resources_order_as_the_definition_says() -> None:
    paths: dict[str, str | None] = {}
    inputs: dict[str, list[str]] = {}
    for i in range(250):
        paths[f"in-{i}"] = f"/inbox/site-{i}"
        paths[f"sql-{i}"] = f"/sql/site-{i}"
        inputs[f"sql-{i}"] = [f"/inbox/site-{i}/*.csv"]
        paths[f"red-{i}"] = f"/reduce/site-{i}"
        inputs[f"red-{i}"] = [f"/sql/site-{i}"]
        paths[f"pub-{i}"] = None
        inputs[f"pub-{i}"] = [f"/reduce/site-{i % 10}*/res=*.series"]
    deps = dependencies(paths, inputs)
    assert deps == pairwise(paths, inputs)
    ranked = {name: i for i, name in enumerate(order(deps))}
    for reader, writers in deps.items():
        assert all(ranked[w] < ranked[reader] for w in writers)
    assert deps["pub-3"] == {f"red-{i}" for i in range(250) if str(i).startswith("3")}


def test_runs_are_ordered_through_derivations(pond: PondRunner, tmp_path: Path) -> None:
    """Collectors that read a derivation of another collector run after it."""
    log = tmp_path / "order.log"
    docs = []
    for i in range(30):
        docs.append(doc("Relay", f"first-{i}", f"{{inputs: [], path: /one/r{i}, log: '{log}'}}"))
        docs.append(doc("Tally", f"count-{i}", f"{{pattern: '/one/r{i}/*', path: /tally/t{i}}}"))
        docs.append(
            doc("Relay", f"then-{i}", f"{{inputs: ['/tally/t{i}'], path: /two/r{i}, log: '{log}'}}")
        )
    # Written readers first: the order comes from the graph, not from the file.
    f = yaml_file(tmp_path / "chain.yaml", *reversed(docs))
    pond.ok("apply", "-f", str(f))
    # The later Relays cannot copy a computed table's bytes and fail: only the order matters.
    pond("run")
    ran = log.read_text().split()
    for i in range(30):
        assert ran.index(f"first-{i}") < ran.index(f"then-{i}")
    result = pond.json("resources")
    assert len(result) == 90
    records = pond.json("query", "SELECT count(*) AS n FROM runs")
    assert records == [{"n": 60}]
    assert json.loads(pond.cat_bytes("/etc/resources/then-0"))["spec"]["inputs"] == ["/tally/t0"]
