"""UUIDv7 node ids (RFC 9562): time-ordered, so ids sort by creation time.

Python 3.11 has no ``uuid.uuid7``.  The 12 bits after the millisecond
timestamp hold a counter that is re-seeded each millisecond, so ids made in
the same millisecond by one process still sort in creation order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = -1
_counter = 0


def uuid7() -> str:
    """A new UUIDv7 in its canonical string form."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            # Start low in the 12-bit space so a burst has room to count up.
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:
            # Clock stalled or stepped back: stay monotonic by counting on.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))
