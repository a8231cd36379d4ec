"""Dependency order between resources.

A comes before B when a pattern among B's inputs can match a path at or
under A's output path.  Derivations are part of the graph, so a publisher
reading a derivation that reads a collector comes after the collector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from ..errors import ConfigError
from ..tinyfs import paths as tpaths
from ..tinyfs.glob import Segment, compile_pattern, match_segment


class CycleError(ConfigError):
    """Resources that read each other's outputs in a circle.

    ``cycle`` lists them writers first, from one resource back to itself.
    """

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__(f"dependency cycle between resources: {' -> '.join(self.cycle)}")


def pattern_reaches(pattern: str, path: str) -> bool:
    """True if ``pattern`` can match ``path`` itself or some path below it."""
    segments = compile_pattern(tpaths.split(pattern))
    components = tpaths.split(path)

    @cache
    def walk(i: int, j: int) -> bool:
        if j == len(components):
            # Every component of the path is consumed: what remains can match below it.
            return True
        if i == len(segments):
            return False
        segment: Segment = segments[i]
        if segment.is_recursive:
            return walk(i + 1, j) or walk(i, j + 1)
        if match_segment(segment, components[j], hidden=True) is None:
            return False
        return walk(i + 1, j + 1)

    return walk(0, 0)


def dependencies(
    paths: Mapping[str, str | None], inputs: Mapping[str, Sequence[str]]
) -> dict[str, set[str]]:
    """For each resource, the resources whose outputs it reads."""
    deps: dict[str, set[str]] = {name: set() for name in paths}
    for reader, patterns in inputs.items():
        for writer, path in paths.items():
            if writer == reader or path is None:
                continue
            if any(pattern_reaches(p, path) for p in patterns):
                deps.setdefault(reader, set()).add(writer)
    return deps


def order(deps: Mapping[str, set[str]]) -> list[str]:
    """Names in dependency order (ties by name); ``CycleError`` naming a cycle."""
    from graphlib import CycleError as GraphCycle
    from graphlib import TopologicalSorter

    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name in sorted(deps):
        sorter.add(name, *sorted(deps[name]))
    try:
        sorter.prepare()
    except GraphCycle as exc:
        cycle = list(exc.args[1])
        # graphlib lists it from a node back to itself, each node a dependency (a writer)
        # of the next: writers first already.
        raise CycleError(cycle) from None
    out: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        out.extend(ready)
        sorter.done(*ready)
    return out
