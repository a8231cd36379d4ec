"""Property: the same readings in any arrival order, split into any versions and applied
incrementally, give exactly the outputs of one full computation."""

from __future__ import annotations

import itertools

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from duckpond.pipeline.timeseries import (
    JoinInput,
    Partials,
    ReduceConfig,
    join,
    outputs,
    reduce_full,
    reduce_update,
)

from .helpers import T0, US, Store, series

CONFIG = ReduceConfig.parse(["1h", "6h", "1d"], ["avg", "min", "max", "count", "sum"], "2h")

# Values with few significant bits: their sums are exact in any order, so equality is exact.
values = st.one_of(st.none(), st.integers(-400, 400).map(lambda k: k / 4))
reading = st.tuples(st.integers(-6 * 3600, 3 * 24 * 3600), values, st.integers(-50, 50))


def table_of(rows: list[tuple[int, float | None, int]]) -> pa.Table:
    return series(
        [T0 + s * US for s, _, _ in rows],
        v=pa.array([v for _, v, _ in rows], type=pa.float64()),
        n=pa.array([n for _, _, n in rows], type=pa.int64()),
    )


@settings(max_examples=60)
@given(rows=st.lists(reading, max_size=60), data=st.data())
def test_any_arrival_order_and_versions_give_the_full_result(
    rows: list[tuple[int, float | None, int]], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(rows))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=6)))
    bounds = [0, *cuts, len(rows)]
    versions = [[rows[i] for i in order[a:b]] for a, b in itertools.pairwise(bounds)]
    versions = [v for v in versions if v]  # an empty version has no event-time range
    # Updates take one or more new versions at a time.
    group = data.draw(st.integers(1, 3))

    store = Store()
    partials: Partials | None = None
    for start in range(0, len(versions), group):
        changes = [store.append(table_of(v)) for v in versions[start : start + group]]
        partials = reduce_update(partials, changes, store.read, CONFIG).partials

    expected = outputs(reduce_full(CONFIG, table_of(sorted(rows, key=lambda r: r[0]))))
    if partials is None:
        assert all(t.num_rows == 0 for t in expected.values())
        return
    got = outputs(partials)
    for name, table in expected.items():
        assert got[name].equals(table), name


@settings(max_examples=40)
@given(rows=st.lists(reading, max_size=40, unique_by=lambda r: r[0]), data=st.data())
def test_join_of_one_scope_is_its_rows_sorted_whatever_the_split(
    rows: list[tuple[int, float | None, int]], data: st.DataObject
) -> None:
    # Disjoint pieces of one scope, in any order, stitch back to the sorted rows.
    ordered = sorted(rows)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=4)))
    bounds = [0, *cuts, len(rows)]
    pieces = [table_of(ordered[a:b]) for a, b in itertools.pairwise(bounds)]
    shuffled = data.draw(st.permutations(pieces))
    out = join([JoinInput("S", piece) for piece in shuffled])
    expected = table_of(ordered)
    assert out.column("timestamp").equals(expected.column("timestamp"))
    assert out.column("S.v").equals(expected.column("v"))
    assert out.column("S.n").equals(expected.column("n"))
