"""Dependency order between resources.

A comes before B when a pattern among B's inputs can match a path at or
under A's output path.  Derivations are part of the graph, so a publisher
reading a derivation that reads a collector comes after the collector.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    return bool(OutputIndex({"": path}).writers_reached(pattern))


@dataclass
class _Dir:
    """One component of the output-path index: the writers whose path ends here, and below."""

    writers: list[str] = field(default_factory=list)
    children: dict[str, _Dir] = field(default_factory=dict)
    _names: list[str] | None = None

    def sorted_names(self) -> list[str]:
        if self._names is None:
            self._names = sorted(self.children)
        return self._names

    def matching(self, segment: Segment) -> Iterator[_Dir]:
        """The children one non-recursive segment can match, found by its literal prefix."""
        if segment.is_literal:
            child = self.children.get(segment.text)
            if child is not None:
                yield child
            return
        prefix = _literal_prefix(segment.text)
        names = self.sorted_names()
        start = bisect_left(names, prefix)
        for name in names[start:]:
            if not name.startswith(prefix):
                break
            if match_segment(segment, name, hidden=True) is not None:
                yield self.children[name]


def _literal_prefix(text: str) -> str:
    for i, ch in enumerate(text):
        if ch in "*?[":
            return text[:i]
    return text


class OutputIndex:
    """Resources' output paths as a tree of components, to find who a pattern reads from.

    ``readers_of(pattern)`` visits only the branches the pattern can match
    (a literal component is one lookup, a wildcard's literal prefix narrows
    the children to try), so finding every resource's dependencies is near
    linear in their number, not a comparison of every pair.
    """

    def __init__(self, paths: Mapping[str, str | None]) -> None:
        self.root = _Dir()
        for name, path in paths.items():
            if path is None:
                continue
            node = self.root
            for part in tpaths.split(path):
                node = node.children.setdefault(part, _Dir())
            node.writers.append(name)

    def writers_reached(self, pattern: str) -> set[str]:
        """The resources whose output path ``pattern`` can match, or some path below it."""
        segments = _compiled(pattern)
        found: set[str] = set()
        seen: set[tuple[int, int]] = set()
        stack: list[tuple[_Dir, int]] = [(self.root, 0)]
        while stack:
            node, i = stack.pop()
            if (id(node), i) in seen:
                continue
            seen.add((id(node), i))
            # Every component of these writers' path is matched: what is left matches below it.
            found.update(node.writers)
            if i == len(segments):
                continue
            segment = segments[i]
            if segment.is_recursive:
                stack.append((node, i + 1))
                stack.extend((child, i) for child in node.children.values())
            else:
                stack.extend((child, i + 1) for child in node.matching(segment))
        return found


@cache
def _compiled(pattern: str) -> list[Segment]:
    return compile_pattern(tpaths.split(pattern))


def dependencies(
    paths: Mapping[str, str | None], inputs: Mapping[str, Sequence[str]]
) -> dict[str, set[str]]:
    """For each resource, the resources whose outputs it reads."""
    index = OutputIndex(paths)
    deps: dict[str, set[str]] = {name: set() for name in paths}
    for reader, patterns in inputs.items():
        found = deps.setdefault(reader, set())
        for pattern in patterns:
            found.update(index.writers_reached(pattern))
        found.discard(reader)
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
