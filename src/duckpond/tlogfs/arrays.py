"""Arrow arrays built from Python lists without ``pyarrow.array``.

``pyarrow.array`` asks pandas whether its input is a pandas object, which
imports pandas when it is installed: about 200 ms, more than a whole small
commit.  Users of a data lake usually do have pandas, so the write path
builds its few column types straight from buffers instead.  (Reading back
with ``to_pylist`` does not import pandas.)
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import pyarrow as pa

_INT64 = pa.int64()
_BINARY = pa.binary()


def _validity(values: Sequence[object]) -> pa.Buffer | None:
    if all(v is not None for v in values):
        return None
    bits = 0
    for i, v in enumerate(values):
        if v is not None:
            bits |= 1 << i
    return pa.py_buffer(bits.to_bytes((len(values) + 7) // 8, "little"))


def int64s(values: Sequence[int | None], type: pa.DataType = _INT64) -> pa.Array:
    """An int64-backed array (int64, or a timestamp in its integer unit)."""
    data = array("q", [0 if v is None else v for v in values])
    return pa.Array.from_buffers(type, len(values), [_validity(values), pa.py_buffer(data)])


def binaries(values: Sequence[bytes | None], type: pa.DataType = _BINARY) -> pa.Array:
    """A binary array, or a string array when given UTF-8 bytes and ``pa.string()``."""
    offsets = array("i", [0])
    total = 0
    for v in values:
        total += 0 if v is None else len(v)
        offsets.append(total)
    if total >= 2**31:
        raise ValueError("more than 2 GiB in one column of one batch")
    data = b"".join(v for v in values if v is not None)
    return pa.Array.from_buffers(
        type, len(values), [_validity(values), pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def strings(values: Sequence[str | None]) -> pa.Array:
    return binaries([None if v is None else v.encode("utf-8") for v in values], pa.string())
