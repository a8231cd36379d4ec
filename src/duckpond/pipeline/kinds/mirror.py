"""``Mirror``: a publisher that keeps a host folder a plain-file mirror of the pond.

::

    apiVersion: duckpond/v1
    kind: Mirror
    name: share
    spec:
      dir: /srv/share/noyo              # an absolute host folder
      patterns: ["/hydrovu/**", "/reduce/**"]   # default: everything ("/**")
      tables: csv                       # parquet (default) or csv

Each ``pond run`` brings the folder up to date after the collectors it
depends on (its patterns are its inputs), as ``pond mirror DIR`` does: only
what changed is written, every write is atomic, and a file edited in the
folder is never overwritten (the run names it; ``pond mirror DIR --sync``
brings it in).  The run writes nothing in the pond but its record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ...ingest.mirror import mirror_out
from ...tinyfs import WD
from ..documents import PondPattern, StrictModel
from . import Kind, RunContext, RunStats, WriteStep, register_kind


class MirrorSpec(StrictModel):
    """``dir`` (absolute host folder); ``patterns`` (pond globs, default ``/**``); ``tables``."""

    dir: str
    patterns: list[PondPattern] = Field(default_factory=lambda: ["/**"], min_length=1)
    tables: Literal["parquet", "csv"] = "parquet"

    @field_validator("dir")
    @classmethod
    def _absolute_dir(cls, value: str) -> str:
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise ValueError(f"dir is an absolute host folder: {value!r}")
        return str(path)


def _inputs(spec: MirrorSpec) -> list[str]:
    return list(spec.patterns)


def run_mirror(ctx: RunContext) -> WriteStep:
    """Mirror before the write lock is taken; the step only reports what was done."""
    spec: MirrorSpec = ctx.spec
    txn = int(getattr(ctx.root.fs.persistence, "last_txn", 0))
    report = mirror_out(
        ctx.root,
        Path(spec.dir),
        pond=str(ctx.pond_dir),
        txn=txn,
        patterns=spec.patterns,
        tables=spec.tables,
        pond_id=str(getattr(ctx.root.fs.persistence, "pond_id", "")),
    )

    def step(root: WD) -> RunStats:
        return RunStats(details=report.to_json(), summary=report.summary())

    return step


MIRROR = register_kind(
    Kind(
        "Mirror",
        "publisher",
        MirrorSpec,
        run=run_mirror,
        inputs=_inputs,
        host_outputs=lambda spec: [("dir", spec.dir)],
    )
)
