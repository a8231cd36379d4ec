"""A series' chain digest, and the record a consolidated version carries.

A series is all its versions together, so the content root must cover every
version's content hash, yet ``pond maintain --keep`` replaces the versions
written before its window by one consolidated version.  Both hold with a chain
digest folded over a series' version hashes in version order::

    d_0 = 32 zero bytes
    d_i = sha256(d_{i-1} || h_i)         h_i: version i's sha256 (32 bytes)

A consolidated version (which replaces versions ``first`` to ``k`` and takes
number ``k``) records ``d_k`` in its attributes (``CONSOLIDATED``), and the
fold goes on from it: the series' digest is the same before and after, and any
change of a version's content changes it.  The consolidated version's own bytes
are proved by its own sha256 (``fsck``), like any version's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CONSOLIDATED = "consolidated"
"""The attribute of a consolidated version: ``{"versions": [first, k], "chain": hex}``."""

CHAIN_START = bytes(32)
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Consolidated:
    """What replaces a series' versions before the window: one version's content.

    ``content`` is the Parquet of the rows as read after the last replaced version
    (newer versions win at equal times); ``event_range`` its first and last event
    time (microseconds since the epoch, UTC); ``attributes`` what a series version
    is stored with (time column, schema, rows, sorted), without ``CONSOLIDATED``,
    which maintenance adds.
    """

    content: bytes
    event_range: tuple[int, int]
    attributes: dict[str, Any] = field(default_factory=dict)


def recorded_chain(attributes: str | None) -> bytes | None:
    """The chain digest a stored row's attributes (JSON) record, or None if not consolidated.

    Raises ``ValueError`` for a record that is not 64 hex digits.
    """
    if not attributes or f'"{CONSOLIDATED}"' not in attributes:
        return None
    record = json.loads(attributes).get(CONSOLIDATED)
    if not isinstance(record, dict):
        return None
    chain = record.get("chain")
    if not isinstance(chain, str) or not _HEX64.fullmatch(chain):
        raise ValueError(f"a consolidated version's chain digest is not 64 hex digits: {chain!r}")
    return bytes.fromhex(chain)


def first_replaced(attributes: str | None, version: int) -> int:
    """The first version number a row stands for: its own, or the first it consolidated."""
    if not attributes or f'"{CONSOLIDATED}"' not in attributes:
        return version
    record = json.loads(attributes).get(CONSOLIDATED)
    if isinstance(record, dict):
        versions = record.get("versions")
        if isinstance(versions, list) and versions and isinstance(versions[0], int):
            return versions[0]
    return version


def series_chain(rows: Iterable[tuple[str, str | None]]) -> bytes:
    """The chain digest of a series from its rows' ``(sha256, attributes)``, oldest first.

    Only the oldest row may be a consolidated one (the versions it replaced are gone);
    its recorded digest stands for them.
    """
    digest = CHAIN_START
    for i, (sha256, attributes) in enumerate(rows):
        recorded = recorded_chain(attributes) if i == 0 else None
        if recorded is not None:
            digest = recorded
        else:
            digest = hashlib.sha256(digest + bytes.fromhex(sha256)).digest()
    return digest
