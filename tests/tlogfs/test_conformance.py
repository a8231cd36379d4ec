"""The TinyFS conformance suite, run against the Delta Lake persistence.

The same tests that define TinyFS on the in-memory store run here on a real
Delta table in ``tmp_path``, and the reopen tests check that a new
``DeltaPersistence`` over the same directory sees everything committed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from duckpond.tlogfs import DeltaPersistence
from tests.tinyfs.conformance import TinyFSConformance


class TestDeltaConformance(TinyFSConformance):
    @pytest.fixture
    def make_persistence(self, tmp_path: Path) -> Callable[[], DeltaPersistence]:
        return lambda: DeltaPersistence.create(tmp_path / "pond")

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], DeltaPersistence]:
        return lambda: DeltaPersistence.open(tmp_path / "pond")
