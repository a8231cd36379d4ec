"""What the crash test's writer writes: shared by the writer process and the test."""

from __future__ import annotations

import random

LARGE = 64 * 1024


def payload(i: int) -> bytes:
    """Write ``i``'s bytes: every third one is stored as a blob, the rest inline."""
    rng = random.Random(i)
    size = LARGE + rng.randrange(-3, 40_000) if i % 3 == 0 else rng.randrange(0, 3000)
    return f"{i}:".encode() + rng.randbytes(size)


def target(i: int) -> str:
    """Write ``i``'s pond path: every fifth write adds a version to one shared file."""
    return "/w/shared" if i % 5 == 4 else f"/w/f{i}"
