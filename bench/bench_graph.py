"""Many resources: ``pond apply`` and ``pond run`` stay near-linear in their number.

    .venv/bin/python bench/bench_graph.py [--quick] [--only graph,apply,run]

- graph (g.deps1k, g.deps2k): the dependency graph of 1,000 and 2,000 resources
  (a quarter each Inbox, SqlDerived over it, Reduce over that, Synthetic), in
  process, against comparing every pair as the graph did before (the baseline,
  timed once: it takes tens of seconds).
- apply (g.apply, g.reapply): ``pond apply -f`` of a file of 1,000 such resources
  into a fresh pond, and the same file again (nothing changes); whole processes,
  target under 5 s.
- run (g.run): ``pond run in-0`` (one Inbox over an empty folder) in a pond holding
  1,000 resources, against the same in a pond holding only that one resource: the
  difference is what the other 999 cost every run; target under 1 s.

``--quick`` uses 400 resources and fewer repeats.
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path

from duckpond.pipeline.graph import dependencies
from duckpond.pond import Pond
from duckpond.tinyfs import paths as tpaths
from duckpond.tinyfs.glob import compile_pattern, match_segment
from harness import (
    POND_BIN,
    Figure,
    Figures,
    apply_samples,
    cpu_of,
    header,
    interleaved,
    median,
    parse_args,
    pond_env,
    run_child,
    selected,
    timed,
    versus,
    workdir,
    write_json,
)

COMMAND = ["bench", "graph"]


def documents(work: Path, count: int) -> list[str]:
    """``count`` documents: Inbox, SqlDerived over it, Reduce over that, Synthetic."""
    inbox = work / "inbox"
    inbox.mkdir(exist_ok=True)
    quarter = count // 4
    docs = []
    for i in range(quarter):
        docs.append(
            f"apiVersion: duckpond/v1\nkind: Inbox\nname: in-{i}\n"
            f"spec: {{pattern: '{inbox}/{i}-*.csv', format: series}}\n"
        )
        docs.append(
            f"apiVersion: duckpond/v1\nkind: SqlDerived\nname: sql-{i}\n"
            f"spec:\n  inputs: {{s: '/inbox/in-{i}/*.csv'}}\n  query: SELECT * FROM s\n"
        )
        docs.append(
            f"apiVersion: duckpond/v1\nkind: Reduce\nname: red-{i}\n"
            f"spec:\n  in_pattern: /sqlderived/sql-{i}\n  resolutions: [1h]\n"
            "  aggregations: [{type: avg}]\n"
        )
    for i in range(count - 3 * quarter):
        docs.append(
            f"apiVersion: duckpond/v1\nkind: Synthetic\nname: syn-{i}\n"
            "spec:\n  start: 2025-01-01T00:00:00Z\n  end: 2025-02-01T00:00:00Z\n"
            "  interval: 1h\n  points: [{name: x, components: [{type: line}]}]\n"
        )
    return docs


def graph_of(count: int) -> tuple[dict[str, str | None], dict[str, list[str]]]:
    paths: dict[str, str | None] = {}
    inputs: dict[str, list[str]] = {}
    for i in range(count // 4):
        paths[f"in-{i}"], inputs[f"in-{i}"] = f"/inbox/in-{i}", []
        paths[f"sql-{i}"], inputs[f"sql-{i}"] = f"/sqlderived/sql-{i}", [f"/inbox/in-{i}/*.csv"]
        paths[f"red-{i}"], inputs[f"red-{i}"] = f"/reduce/red-{i}", [f"/sqlderived/sql-{i}"]
        paths[f"syn-{i}"], inputs[f"syn-{i}"] = f"/synthetic/syn-{i}", []
    return paths, inputs


def pairwise(paths: dict[str, str | None], inputs: dict[str, list[str]]) -> dict[str, set[str]]:
    """The graph as it was computed before: every reader's patterns against every path."""

    def reaches(pattern: str, path: str) -> bool:
        segments = compile_pattern(tpaths.split(pattern))
        components = tpaths.split(path)

        @cache
        def walk(i: int, j: int) -> bool:
            if j == len(components):
                return True
            if i == len(segments):
                return False
            if segments[i].is_recursive:
                return walk(i + 1, j) or walk(i, j + 1)
            if match_segment(segments[i], components[j], hidden=True) is None:
                return False
            return walk(i + 1, j + 1)

        return walk(0, 0)

    deps: dict[str, set[str]] = {name: set() for name in paths}
    for reader, patterns in inputs.items():
        for writer, path in paths.items():
            if writer != reader and path is not None and any(reaches(p, path) for p in patterns):
                deps[reader].add(writer)
    return deps


def bench_graph(sizes: list[int], repeat: int) -> list[Figure]:
    out = []
    for count in sizes:
        paths, inputs = graph_of(count)
        # The pairwise baseline takes tens of seconds at these sizes: timed once, and
        # used to check that the index finds the same graph.
        started = time.perf_counter()
        expected = pairwise(paths, inputs)
        base = time.perf_counter() - started
        assert dependencies(paths, inputs) == expected
        samples = [timed(lambda: dependencies(paths, inputs)) for _ in range(repeat)]  # noqa: B023
        value = median(samples)
        out.append(
            Figure(
                f"g.deps{count // 1000}k" if count >= 1000 else f"g.deps{count}",
                f"dependency graph of {count:,} resources (in process)",
                value,
                "s",
                baseline=base,
                baseline_label="every pair compared (one run)",
                samples=samples,
            )
        )
    return out


def bench_apply(work: Path, count: int, repeat: int) -> list[Figure]:
    f = work / f"r{count}.yaml"
    f.write_text("---\n".join(documents(work, count)))
    samples = apply_samples(work, f, repeat, command=COMMAND, warmup=0)
    out = []
    for key, name, label in (
        ("g.apply", "first", f"`pond apply` of {count:,} resources into a fresh pond"),
        ("g.reapply", "again", f"`pond apply` of the same {count:,} again, nothing changes"),
    ):
        value = median(samples[name])
        out.append(
            Figure(
                key,
                label + " (whole process)",
                value,
                "s",
                target="< 5 s",
                met=value < 5.0,
                samples=samples[name],
                cpu=cpu_of(samples, name),
            )
        )
    return out


def bench_run(work: Path, count: int, repeat: int) -> list[Figure]:
    docs = documents(work, count)
    many, one = work / "many.yaml", work / "one.yaml"
    many.write_text("---\n".join(docs))
    one.write_text(docs[0])
    ponds = {}
    for name, f in (("many", many), ("one", one)):
        pond_dir = work / f"pond-run-{name}"
        Pond.init(pond_dir, command=COMMAND).close()
        run_child([POND_BIN, "apply", "-f", str(f)], env=pond_env(pond_dir))
        ponds[name] = pond_dir

    def run(name: str) -> object:
        return run_child([POND_BIN, "run", "in-0"], env=pond_env(ponds[name]))

    samples = interleaved(
        {"many": lambda: run("many"), "one": lambda: run("one")},  # type: ignore[dict-item]
        repeat,
    )
    return [
        versus(
            "g.run",
            f"`pond run` of one Inbox among {count:,} resources (whole process)",
            samples,
            "many",
            "one",
            "the same run, pond of 1 resource",
            target="< 1 s more",
            met=lambda value, base: value - base < 1.0,
        )
    ]


def main() -> None:
    args = parse_args(__doc__ or "")
    header("many resources" + (" (quick)" if args.quick else ""))
    count = 400 if args.quick else 1000
    repeat = 3 if args.quick else 5
    figures = Figures()
    with workdir("graph") as work:
        if selected(args, "graph"):
            figures.add(bench_graph([count, 2 * count], repeat))
        if selected(args, "apply"):
            figures.add(bench_apply(work, count, repeat))
        if selected(args, "run"):
            figures.add(bench_run(work, count, repeat))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
