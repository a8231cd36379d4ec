"""The pandas-free array builders agree with pyarrow.array."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from duckpond.tlogfs.arrays import binaries, int64s, strings

INT64 = st.integers(-(2**63), 2**63 - 1)


@given(st.lists(st.one_of(st.none(), INT64)))
def test_int64s(values: list[int | None]) -> None:
    built = int64s(values)
    built.validate(full=True)
    assert built.equals(pa.array(values, pa.int64()))


@given(st.lists(st.one_of(st.none(), st.binary())))
def test_binaries(values: list[bytes | None]) -> None:
    built = binaries(values)
    built.validate(full=True)
    assert built.to_pylist() == values


@given(st.lists(st.one_of(st.none(), st.text())))
def test_strings(values: list[str | None]) -> None:
    built = strings(values)
    built.validate(full=True)
    assert built.equals(pa.array(values, pa.string()))


def test_timestamps_share_the_int64_builder() -> None:
    ts = int64s([0, None, 1_700_000_000_000_000], pa.timestamp("us", tz="UTC"))
    assert ts.type == pa.timestamp("us", tz="UTC")
    assert ts.null_count == 1
    assert ts.cast(pa.int64()).to_pylist() == [0, None, 1_700_000_000_000_000]
