"""The kind registry: one dict from a kind's name to what the pipeline needs of it.

Each kind is one module in this package with its pydantic spec model and,
by role, a ``run`` (collectors write into the pond, publishers write
outside it) or, for derivations, an ``output`` computed on read.
A kind plugs in with ``register_kind(Kind(...))``::

    register_kind(Kind("Inbox", "collector", InboxSpec, run=run_inbox))
    register_kind(
        Kind("Synthetic", "derivation", SyntheticSpec, output=synthetic_output,
             output_type=lambda spec: DYNAMIC_FILE)
    )

A derivation's ``output(spec, ctx)`` returns a typed output
(``TableOutput``, ``FileOutput`` or ``DirOutput``, see
``duckpond.tinyfs.dynamic``) reading the pond only through ``ctx.root``;
``output_type(spec)`` says whether its node is a ``dynamic:file`` or a
``dynamic:dir``.  ``pond apply`` puts that node at ``spec.path`` and
``pipeline.resolver.PipelineResolver`` computes it on read.

A run has two phases so that slow work never holds the pond's write lock:
``run(ctx)`` does the slow part (reading host files, network) with a
read-only view of the pond, and returns a ``WriteStep`` (or None when
there is nothing to write) that the runner calls inside the resource's own
transaction.  A publisher whose run found nothing to do at all returns
``Unchanged``: the runner then opens no transaction and calls no ``after_commit``
hook; the run is recorded beside the oplog as every run is.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ...errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ...tinyfs import WD, FactoryContext, Output
    from ..secrets import Secret, SecretRef

Role = Literal["collector", "derivation", "publisher"]


@dataclass
class RunStats:
    """What one run wrote: rows and bytes stored, and kind-specific counts for the record."""

    rows: int = 0
    bytes: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    # A partial failure: what was written is committed, but the run is recorded as
    # failed with this one-line error (an Inbox with files it could not read).
    error: str | None = None
    # Things the operator should know that did not fail the run (readings set aside).
    warnings: list[str] = field(default_factory=list)


class WriteTransaction(Protocol):
    """What the pipeline needs of an open pond transaction (``duckpond.pond.Transaction``)."""

    @property
    def root(self) -> WD: ...

    @property
    def txn_seq(self) -> int | None:
        """The transaction's number once committed (None before, or if nothing was written)."""
        ...


TransactionFactory = Callable[..., AbstractContextManager[WriteTransaction]]
"""Opens one pond transaction: commits on a clean exit, leaves nothing on an exception;
given a command (a list of words), the log records it instead of the process's."""

WriteStep = Callable[["WD"], RunStats]
"""The fast part of a run, called inside the resource's transaction with a writable root."""


@dataclass(frozen=True)
class Unchanged:
    """A run that did nothing (a Backup with nothing new to push): no transaction, no hook.

    ``summary`` is the one line the run reports (``pond run`` prints it).
    """

    summary: str = ""


@dataclass(frozen=True)
class RunContext:
    """What a kind's ``run`` may use: its identity, its spec, and the pond to read."""

    name: str
    uuid: str
    spec: Any
    root: WD
    pond_dir: Path
    pond_files: Any = None
    """For a pond kept on S3, its files as a push reads them
    (``duckpond.backup.source.PondFiles``); None for a pond in ``pond_dir``."""

    def secret(self, ref: SecretRef) -> Secret:
        """Resolve a secret field now; the value is masked when printed."""
        return ref.resolve()


def _no_inputs(spec: Any) -> list[str]:
    return []


def _no_problems(spec: Any) -> list[tuple[str, str]]:
    return []


def _no_pond_problems(spec: Any, root: WD) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class Kind:
    """A registered kind.

    ``inputs(spec)`` lists the pond patterns the resource reads (for ordering);
    ``check(spec)`` lists ``(field, problem)`` pairs found in the host
    environment at apply (a missing inbox directory); ``host_outputs(spec)``
    lists ``(field, host folder)`` pairs the resource writes outside the pond
    (checked against the pond's own directory); ``check_pond(spec, root)``
    lists ``(field, problem)`` pairs found in the pond at apply (a template
    file that does not compile, a column named that a stored input lacks), once
    the applied derivations' nodes are in place; ``run`` is the run step
    of collectors and publishers; ``base_dir`` is where ``spec.path`` defaults to
    ``<base_dir>/<name>``.  A derivation has ``output(spec, ctx)``,
    its computed output, and ``output_type(spec)``, the type of its node
    (``dynamic:file`` or ``dynamic:dir``).
    """

    name: str
    role: Role
    spec_model: type[BaseModel]
    run: Callable[[RunContext], WriteStep | Unchanged | None] | None = None
    inputs: Callable[[Any], list[str]] = _no_inputs
    check: Callable[[Any], list[tuple[str, str]]] = _no_problems
    output: Callable[[Any, FactoryContext], Output] | None = None
    output_type: Callable[[Any], str] | None = None
    host_outputs: Callable[[Any], list[tuple[str, str]]] = _no_problems
    check_pond: Callable[[Any, WD], list[tuple[str, str]]] = _no_pond_problems
    base_dir: str | None = None
    last: bool = False
    """Run after every resource that is not ``last`` (Backup: it sends what they wrote)."""
    after_commit: Callable[[RunContext], None] | None = None
    """Called once the run's record is committed (Backup pushes that transaction too);
    a failure there is not the run's, and leaves what it did to the next run."""

    def default_path(self, name: str) -> str:
        """``<base_dir>/<name>`` where outputs go when ``spec.path`` is not given;
        ``base_dir`` defaults to ``/<kind in lower case>``."""
        return f"{self.base_dir or '/' + self.name.lower()}/{name}"


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    """Add (or replace) a kind in the registry."""
    KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    KINDS.pop(name, None)


def known_kinds() -> Mapping[str, Kind]:
    _load_builtin()
    return KINDS


def get_kind(name: str) -> Kind:
    """The kind called ``name``; ``ConfigError`` listing the known kinds otherwise."""
    if name not in KINDS and not _loaded:
        # Its own module first (SqlDerived: sql_derived): a `pond run` of one Backup
        # should not import the site builder and every other kind.
        module = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        if module not in _BUILTIN and f"{module}_" in _BUILTIN:
            module += "_"  # named after a Python keyword: Import is import_
        if module in _BUILTIN:
            importlib.import_module(f".{module}", __name__)
    if name not in KINDS:
        _load_builtin()
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(sorted(KINDS)) or "none"
        raise ConfigError(f"unknown kind {name!r} (known kinds: {known})") from None


_BUILTIN = (
    "inbox",
    "hydrovu",
    "site",
    "sql_derived",
    "synthetic",
    "template",
    "join",
    "pivot",
    "reduce",
    "import_",
    "backup",
    "mirror",
)
_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    for module in _BUILTIN:
        importlib.import_module(f".{module}", __name__)
    _loaded = True
