"""The pond id: given at init, kept by byte copies and restores; derived for older ponds."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from duckpond import Pond
from duckpond.tlogfs.identity import FIRST_COMMIT, pond_id


def test_init_gives_an_id_that_a_byte_copy_keeps(tmp_path: Path) -> None:
    pond = Pond.init(tmp_path / "a")
    pond.write_bytes("/x", b"x")
    assert uuid.UUID(pond.pond_id).version == 7
    assert Pond.init(tmp_path / "b").pond_id != pond.pond_id
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    assert Pond.open(tmp_path / "copy").pond_id == pond.pond_id
    # Not a transaction's metadata the log shows.
    assert "pond_id" not in Pond.open(tmp_path / "a").log()[-1].extra


def test_a_pond_made_before_ids_gets_a_stable_derived_one(tmp_path: Path) -> None:
    Pond.init(tmp_path / "old").close()
    first = tmp_path / "old" / "data" / FIRST_COMMIT
    lines = []
    for line in first.read_bytes().splitlines():
        action = json.loads(line)
        action.get("commitInfo", {}).pop("pond_id", None)
        lines.append(json.dumps(action))
    first.write_text("\n".join(lines) + "\n")
    derived = pond_id(tmp_path / "old")
    assert derived == pond_id(tmp_path / "old") == Pond.open(tmp_path / "old").pond_id
    shutil.copytree(tmp_path / "old", tmp_path / "copy")
    assert pond_id(tmp_path / "copy") == derived
    Pond.open(tmp_path / "old").write_bytes("/later", b"writes do not change it")
    assert pond_id(tmp_path / "old") == derived
