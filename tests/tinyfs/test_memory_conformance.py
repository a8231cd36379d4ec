"""The TinyFS conformance suite over the in-memory persistence."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from duckpond.tinyfs import MemoryPersistence, Persistence

from .conformance import TinyFSConformance


class TestMemoryConformance(TinyFSConformance):
    # No `reopen` fixture: a memory store dies with its object, so the reopen tests skip.

    @pytest.fixture
    def make_persistence(self) -> Callable[[], Persistence]:
        return MemoryPersistence
