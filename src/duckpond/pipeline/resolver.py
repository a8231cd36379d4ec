"""The pipeline's ``Resolver``: a derivation's dynamic node -> its kind's output.

``pond apply`` stores, for each derivation resource, one dynamic node at its
``spec.path`` whose ``factory`` attribute is the kind's name and whose
configuration is a ``DerivationRef``::

    {"resource": "hourly", "uuid": "0193...", "version": 3}

``version`` is the resource node's version when the node was written, so a
re-apply with a changed spec stores a new configuration version (and so
misses every cache entry of the old one).  On read, ``PipelineResolver``
reads ``/etc/resources/<name>`` through the factory's read-only view (so a
reader at ``--at-txn N`` gets the spec as it was at N, and the resource is
one of the output's recorded inputs), validates it with its kind's model and
calls the kind's ``output(spec, ctx)``.

``duckpond.Pond`` gives every FS it opens a ``PipelineResolver`` and a
``pipeline.cache.DiskCache``.  This module imports no pydantic or pyarrow at
import time: opening a pond must stay cheap for commands that never read a
dynamic node.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..tinyfs import WD, FactoryContext, Output
    from .kinds import Kind

RESOURCES_DIR = "/etc/resources"


@dataclass(frozen=True)
class DerivationRef:
    """A derivation's dynamic node configuration: which resource, and which version of it."""

    resource: str
    uuid: str
    version: int

    def to_config(self) -> dict[str, Any]:
        return {"resource": self.resource, "uuid": self.uuid, "version": self.version}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DerivationRef:
        """``ConfigError`` for a configuration that is not a derivation reference."""
        try:
            return cls(str(config["resource"]), str(config["uuid"]), int(config["version"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                f"not a derivation's dynamic node configuration: {json.dumps(dict(config))}"
            ) from None


def _unrecorded(ctx: FactoryContext) -> WD:
    """A read-only view of the factory's state whose reads are not recorded as inputs.

    Walking to ``/etc/resources/<name>`` through ``ctx.root`` would record
    ``/etc/resources``, whose version changes with every resource applied
    or removed, and so miss every cached derivation at each apply.  The
    resource's content is covered anyway: its version is in the node's
    configuration (and so in the cache key), and the node is recorded.
    """
    from ..tinyfs import FS, InputRecorder, ReadOnlyFS

    base = getattr(ctx.root.fs.persistence, "base", None)
    if base is None:
        return ctx.root
    return ReadOnlyFS(FS(base), InputRecorder()).root()


def derivation_kind(factory: str) -> Kind | None:
    """The registered derivation kind called ``factory``, or None."""
    from .kinds import known_kinds

    kind = known_kinds().get(factory)
    if kind is None or kind.role != "derivation" or kind.output is None:
        return None
    return kind


class PipelineResolver:
    """Computes the dynamic nodes of derivation resources (``Resolver`` of ``duckpond.tinyfs``).

    ``knows(name)`` is true for every registered kind whose role is
    ``derivation``; the kind registry (``pipeline.kinds``) is loaded on the
    first call, not when a pond is opened.
    """

    def knows(self, factory: str) -> bool:
        return derivation_kind(factory) is not None

    def resolve(self, factory: str, config: Mapping[str, Any], ctx: FactoryContext) -> Output:
        """The output of the resource ``config`` names, as its spec was in the reader's state.

        Raises ``ConfigError`` for an unknown factory, a missing resource, or
        one whose uuid or kind is not the one the node was made for.
        """
        from .documents import load_stored
        from .kinds import known_kinds

        kind = derivation_kind(factory)
        if kind is None:
            derivations = [k for k, v in known_kinds().items() if v.role == "derivation"]
            from ..tinyfs.dynamic import unknown_factory

            raise unknown_factory(factory, derivations)
        ref = DerivationRef.from_config(config)
        path = f"{RESOURCES_DIR}/{ref.resource}"
        try:
            np = _unrecorded(ctx).get(path)
        except FileNotFoundError:
            raise ConfigError(
                f"{ctx.path}: its resource {ref.resource!r} is gone (was it removed?)"
            ) from None
        info = np.info()
        if str(info.attributes.get("uuid", "")) != ref.uuid:
            raise ConfigError(
                f"{ctx.path}: {path} is another resource than the one this node was made for "
                f"(uuid {info.attributes.get('uuid')}, expected {ref.uuid}); apply it again"
            )
        # The resource node itself is an input; the directories walked to it are not (see
        # _unrecorded), so applying another resource invalidates no cached output.
        ctx.record_input(np.node_id, info.version)
        doc = load_stored(np.read_bytes(), ref.resource)
        if doc.kind.name != factory:
            raise ConfigError(
                f"{ctx.path}: resource {ref.resource!r} is a {doc.kind.name}, not a {factory}"
            )
        assert kind.output is not None
        return kind.output(doc.spec, ctx)
