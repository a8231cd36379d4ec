"""Run records beside the operation log: ``$POND/runs.jsonl``, one JSON object a line.

A ``pond run`` that changes nothing must commit nothing (a cron job every few minutes
must not fill ``pond log``), yet its run is recorded: so records live beside the oplog,
not in the tree (PIPELINE.md, "Runs").  One ``pond run`` at a time holds the run lock,
so there is one appender; each record is one ``write`` of a whole line, flushed and
fsynced.  A torn last line (a crash mid-write) is skipped on reading; deleting the
file loses the history of runs, nothing of the pond.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RUNS_FILE = "runs.jsonl"


def append_record(pond_dir: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one record (a JSON-serialisable mapping) and make it durable."""
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(Path(pond_dir) / RUNS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(pond_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every whole record, oldest first (none before the first run)."""
    try:
        data = (Path(pond_dir) / RUNS_FILE).read_bytes()
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash
        if isinstance(record, dict):
            out.append(record)
    return out
