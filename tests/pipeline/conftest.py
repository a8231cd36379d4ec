"""Fixtures for pipeline tests: the CLI fixtures, and two small kinds registered for tests.

``Relay`` (a collector reading pond patterns) makes dependency chains;
``Vault`` (a collector with a secret field) shows where secrets go;
``Tally`` (a derivation) counts its computations in ``COMPUTED``.  They
are registered in the kind registry the way any kind plugs in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from duckpond.pipeline.documents import PondPath, PondPattern, StrictModel
from duckpond.pipeline.kinds import Kind, RunContext, RunStats, WriteStep, register_kind
from duckpond.pipeline.secrets import SecretField
from duckpond.tinyfs import DYNAMIC_FILE, WD, FactoryContext

from ..cli.conftest import (  # noqa: F401 (fixtures)
    PondRunner,
    _no_pond_env,
    assert_user_error,
    host,
    pond,
    pond_dir,
)


class RelaySpec(StrictModel):
    inputs: list[PondPattern]
    path: PondPath
    log: str
    fail: bool = False


def run_relay(ctx: RunContext) -> WriteStep:
    spec: RelaySpec = ctx.spec
    with open(spec.log, "a") as fh:
        fh.write(ctx.name + "\n")
    if spec.fail:
        raise RuntimeError(f"{ctx.name} was told to fail")
    found = [
        (m.node_path.name, m.node_path.read_bytes())
        for pattern in spec.inputs
        for m in ctx.root.glob(pattern)
        if m.node_path.is_file()
    ]

    def write(root: WD) -> RunStats:
        root.mkdir(spec.path, parents=True)
        for name, data in found:
            root.write_file(f"{spec.path}/{name}", data)
        return RunStats(rows=len(found), bytes=sum(len(d) for _, d in found))

    return write


register_kind(
    Kind("Relay", "collector", RelaySpec, run=run_relay, inputs=lambda spec: list(spec.inputs))
)


class VaultSpec(StrictModel):
    token: SecretField
    path: PondPath
    fail: bool = False


def run_vault(ctx: RunContext) -> WriteStep:
    spec: VaultSpec = ctx.spec
    token = ctx.secret(spec.token)
    if spec.fail:
        # What a careless HTTP client might say: the secret in the error text.
        raise PermissionError(f"server refused token {token.reveal()} for {ctx.name}")
    digest = hashlib.sha256(token.reveal().encode()).hexdigest()

    def write(root: WD) -> RunStats:
        root.mkdir(spec.path, parents=True)
        root.write_file(f"{spec.path}/token.sha256", digest.encode())
        return RunStats(rows=1)

    return write


register_kind(Kind("Vault", "collector", VaultSpec, run=run_vault))


def doc(kind: str, name: str, spec: str, *, desc: str | None = None) -> str:
    """One YAML document; ``spec`` is YAML flow or block text indented by the caller."""
    lines = ["apiVersion: duckpond/v1", f"kind: {kind}", f"name: {name}"]
    if desc is not None:
        lines.append(f"desc: {desc}")
    lines.append(f"spec: {spec}")
    return "\n".join(lines) + "\n"


def yaml_file(path: Path, *docs: str) -> Path:
    path.write_text("---\n".join(docs))
    return path


# -- a derivation that counts its computations (cache tests) ----------------------------


class TallySpec(StrictModel):
    pattern: PondPattern
    path: PondPath


COMPUTED: list[str] = []
"""The resource paths a Tally computed, in order: what a cache hit does not add to."""


class _Tally:
    """A one-row table: how many files match the pattern and their total size."""

    def __init__(self, spec: TallySpec, ctx: FactoryContext) -> None:
        self.spec = spec
        self.ctx = ctx

    def schema(self) -> pa.Schema:
        return pa.schema([("files", pa.int64()), ("bytes", pa.int64())])

    def event_range(self) -> tuple[int, int] | None:
        return None

    def batches(self) -> Iterator[pa.RecordBatch]:
        COMPUTED.append(self.ctx.path)
        sizes = [
            len(m.node_path.read_bytes())
            for m in self.ctx.root.glob(self.spec.pattern)
            if m.node_path.is_file()
        ]
        yield pa.record_batch([[len(sizes)], [sum(sizes)]], schema=self.schema())


register_kind(
    Kind(
        "Tally",
        "derivation",
        TallySpec,
        inputs=lambda spec: [spec.pattern],
        output=lambda spec, ctx: _Tally(spec, ctx),
        output_type=lambda spec: DYNAMIC_FILE,
    )
)
