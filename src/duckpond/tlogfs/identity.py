"""A pond's identity: the pond id, kept in the first commit of its Delta log.

``init`` writes a fresh UUIDv7 as ``pond_id`` into the commit info of Delta version 0
(``_delta_log/00000000000000000000.json``), the one file every copy of a pond has:
a byte copy, a backup and a restore carry it unchanged, so they keep the id, and no
side file can be missed.  A pond made before ids existed has none written; its id is
then derived from the bytes of that same first commit (a UUIDv5 of their sha256),
which is just as stable and just as shared by every copy, and needs no write.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from ..errors import PondCorruptError
from .layout import DATA_DIR

POND_ID_KEY = "pond_id"
DELTA_LOG = "_delta_log"
FIRST_COMMIT = f"{DELTA_LOG}/{0:020d}.json"

# The namespace of ids derived from a first commit's bytes (ponds made before ids).
_DERIVED = uuid.UUID("6f1d0c2e-4a8b-5c3d-9e7f-0a1b2c3d4e5f")


def first_commit_info(first_commit: bytes) -> dict[str, Any]:
    """The commit info of Delta version 0's log entry (its bytes), or {} if it has none."""
    for line in first_commit.splitlines():
        try:
            action = json.loads(line)
        except ValueError:
            continue
        info = action.get("commitInfo") if isinstance(action, dict) else None
        if isinstance(info, dict):
            return info
    return {}


def pond_id_of(first_commit: bytes) -> str:
    """The pond id recorded in, or derived from, the bytes of Delta version 0's log entry."""
    recorded = first_commit_info(first_commit).get(POND_ID_KEY)
    if isinstance(recorded, str):
        return recorded
    return str(uuid.uuid5(_DERIVED, hashlib.sha256(first_commit).hexdigest()))


def pond_id(pond_dir: Path) -> str:
    """The pond id of the pond at ``pond_dir``; ``PondCorruptError`` if its log has no start."""
    first = pond_dir / DATA_DIR / FIRST_COMMIT
    try:
        return pond_id_of(first.read_bytes())
    except FileNotFoundError:
        raise PondCorruptError(f"{pond_dir} has no first commit ({first})") from None
