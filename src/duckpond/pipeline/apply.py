"""``pond apply``: validate documents, then store them as resource nodes in one transaction.

Every document of every file is validated first; any error raises before
anything is written.  Then one transaction creates or updates
``/etc/resources/<name>`` (entry type ``resource``, content the canonical
JSON of the validated document, attributes ``{uuid, kind}``), the
collectors' output directories and the derivations' dynamic nodes.  An
identical document writes nothing, so an apply where nothing changed
commits nothing.

A derivation's dynamic node sits at its ``spec.path``: a ``dynamic:dir`` or
``dynamic:file`` (as its kind's ``output_type`` says) whose factory is the
kind's name and whose configuration is a ``resolver.DerivationRef`` (the
resource's name, uuid and node version).  Updating the resource stores a new
configuration version; changing its ``spec.path`` moves the node;
``remove_resource`` removes both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..tinyfs import WD
from ..tinyfs.ids import uuid7
from ..tinyfs.persistence import DYNAMIC_DIR, DYNAMIC_FILE, RESOURCE
from . import graph
from .documents import Document, DocumentError, load_stored
from .kinds import TransactionFactory
from .reserved import host_output_problem, output_problem
from .resolver import RESOURCES_DIR, DerivationRef
from .secrets import secret_problems

__all__ = ["RESOURCES_DIR", "apply_documents", "remove_resource", "stored_resources"]


def resource_path(name: str) -> str:
    return f"{RESOURCES_DIR}/{name}"


@dataclass(frozen=True)
class StoredResource:
    """A resource as the pond holds it."""

    name: str
    kind: str
    uuid: str
    sha256: str
    document: dict[str, Any]

    @property
    def path(self) -> str | None:
        spec = self.document.get("spec")
        value = spec.get("path") if isinstance(spec, dict) else None
        return value if isinstance(value, str) else None


def stored_resources(root: WD) -> dict[str, StoredResource]:
    """Every resource node under ``/etc/resources``, by name."""
    if not root.exists(RESOURCES_DIR):
        return {}
    out: dict[str, StoredResource] = {}
    for np in root.entries(RESOURCES_DIR):
        if np.node_type != RESOURCE:
            continue
        info = np.info()
        document = json.loads(np.read_bytes())
        out[np.name] = StoredResource(
            np.name,
            str(info.attributes.get("kind", document.get("kind", ""))),
            str(info.attributes.get("uuid", "")),
            info.sha256,
            document,
        )
    return out


@dataclass(frozen=True)
class ApplyItem:
    """What apply did (or would do) with one document."""

    name: str
    kind: str
    uuid: str
    action: str  # created, updated or unchanged
    path: str | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "uuid": self.uuid,
            "action": self.action,
            "path": self.path,
            "source": self.source,
        }


@dataclass(frozen=True)
class NodeAction:
    """What apply does to a derivation's dynamic node: created, updated, replaced or moved."""

    name: str
    path: str
    node_type: str
    action: str

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.name,
            "path": self.path,
            "type": self.node_type,
            "action": self.action,
        }


@dataclass
class ApplyResult:
    """Per-document actions, directories created, dynamic nodes written, the transaction."""

    items: list[ApplyItem]
    directories: list[str] = field(default_factory=list)
    txn_seq: int | None = None
    dry_run: bool = False
    nodes: list[NodeAction] = field(default_factory=list)
    # Settings that do nothing yet (a pattern that matches nothing), one line each.
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return (
            bool(self.directories)
            or bool(self.nodes)
            or any(i.action != "unchanged" for i in self.items)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "resources": [i.to_json() for i in self.items],
            "directories": self.directories,
            "dynamic_nodes": [n.to_json() for n in self.nodes],
            "txn_seq": self.txn_seq,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "warnings": self.warnings,
        }


def check_documents(docs: Sequence[Document]) -> None:
    """What can be checked without the pond: duplicate names, and each kind's host checks."""
    seen: dict[str, Document] = {}
    for doc in docs:
        first = seen.get(doc.name)
        if first is not None:
            raise DocumentError(
                f"{doc.source.where()}: name: duplicate name {doc.name!r} "
                f"(also {first.source.where()})"
            )
        seen[doc.name] = doc
        if doc.path is not None:
            problem = output_problem(None, doc.path)
            if problem is not None:
                raise DocumentError(f"{doc.source.where()}: spec.path: {problem}")
        for where, problem in doc.kind.check(doc.spec):
            raise DocumentError(f"{doc.source.where()}: {where}: {problem}")
        for where, problem in secret_problems(doc.spec):
            raise DocumentError(f"{doc.source.where()}: {where}: {problem}")


def check_outputs(root: WD, doc: Document, pond_dir: str | os.PathLike[str] | None) -> str | None:
    """``field: problem`` when ``doc`` would write over the pond's own paths, else None."""
    if doc.path is not None:
        problem = output_problem(root, doc.path)
        if problem is not None:
            return f"spec.path: {problem}"
    for where, out in doc.kind.host_outputs(doc.spec):
        problem = host_output_problem(out, pond_dir)
        if problem is not None:
            return f"spec.{where}: {problem}"
    return None


def _graph_of(root: WD, docs: Sequence[Document]) -> dict[str, set[str]]:
    """Dependencies among the stored resources and these documents (documents win)."""
    paths: dict[str, str | None] = {}
    inputs: dict[str, list[str]] = {}
    for name, stored in stored_resources(root).items():
        try:
            doc = load_stored(json.dumps(stored.document).encode(), name)
        except ConfigError:
            # A stored resource of a kind no longer known: it reads nothing we can tell.
            paths[name] = stored.path
            inputs[name] = []
            continue
        paths[name] = doc.path
        inputs[name] = doc.kind.inputs(doc.spec)
    for doc in docs:
        paths[doc.name] = doc.path
        inputs[doc.name] = doc.kind.inputs(doc.spec)
    by_path: dict[str, str] = {}
    for name in sorted(paths):
        path = paths[name]
        if path is None:
            continue
        other = by_path.setdefault(path, name)
        if other != name:
            shown = next((d.source.where() for d in docs if d.name in (name, other)), name)
            raise DocumentError(
                f"{shown}: spec.path: {path} is the output of both {other!r} and {name!r}"
            )
    return graph.dependencies(paths, inputs)


def _derivation_ref(root: WD, path: str) -> tuple[str, DerivationRef | None] | None:
    """The node type at ``path`` and, for a derivation's dynamic node, its reference."""
    if not root.exists(path):
        return None
    np = root.get(path, follow=False)
    if np.node_type not in (DYNAMIC_DIR, DYNAMIC_FILE):
        return np.node_type, None
    persistence = root.fs.persistence
    try:
        config = json.loads(persistence.read_bytes(np.node_id) or b"{}")
        return np.node_type, DerivationRef.from_config(config)
    except (ConfigError, ValueError):
        return np.node_type, None


def _plan_node(
    root: WD, doc: Document, item: ApplyItem, old: StoredResource | None
) -> NodeAction | None:
    """What the derivation ``doc``'s dynamic node needs, or None when it is as it should be."""
    assert doc.kind.output_type is not None and doc.path is not None
    node_type = doc.kind.output_type(doc.spec)
    found = _derivation_ref(root, doc.path)
    if found is None:
        moved = old is not None and old.path not in (None, doc.path)
        return NodeAction(doc.name, doc.path, node_type, "moved" if moved else "created")
    found_type, ref = found
    if ref is None or ref.uuid != item.uuid:
        owner = f"the output of {ref.resource!r}" if ref is not None else f"a {found_type}"
        raise DocumentError(f"{doc.source.where()}: spec.path: {doc.path} exists and is {owner}")
    if found_type != node_type:
        return NodeAction(doc.name, doc.path, node_type, "replaced")
    if item.action != "unchanged":
        return NodeAction(doc.name, doc.path, node_type, "updated")
    return None


def plan_nodes(
    root: WD,
    docs: Sequence[Document],
    items: Sequence[ApplyItem],
    stored: dict[str, StoredResource] | None = None,
) -> list[NodeAction]:
    """The derivations' dynamic nodes that applying ``docs`` creates, updates or replaces.

    ``stored`` is ``stored_resources(root)`` when the caller has it already.
    """
    if stored is None:
        stored = stored_resources(root)
    out = []
    for doc, item in zip(docs, items, strict=True):
        if doc.kind.role == "derivation" and doc.kind.output_type is not None and doc.path:
            action = _plan_node(root, doc, item, stored.get(doc.name))
            if action is not None:
                out.append(action)
    return out


def _cycle_error(cycle: Sequence[str], docs: Sequence[Document]) -> DocumentError:
    """The cycle named at the first of its resources in the documents applied.

    The cycle is shown from that resource; resources of the cycle that are
    not in the documents are already stored in the pond, and said so.
    """
    members = list(cycle[:-1] if len(cycle) > 1 and cycle[0] == cycle[-1] else cycle)
    position = {d.name: i for i, d in enumerate(docs)}
    in_docs = [m for m in members if m in position]
    if not in_docs:
        shown = " -> ".join(cycle)
        return DocumentError(f"dependency cycle between stored resources: {shown}")
    first = min(in_docs, key=position.__getitem__)
    start = members.index(first)
    rotated = members[start:] + members[:start]
    message = (
        f"{docs[position[first]].source.where()}: dependency cycle between resources: "
        f"{' -> '.join([*rotated, first])}"
    )
    stored = [m for m in rotated if m not in position]
    if stored:
        names = ", ".join(stored)
        message += f" ({names} {'is' if len(stored) == 1 else 'are'} already in the pond)"
    return DocumentError(message)


def plan(
    root: WD, docs: Sequence[Document], pond_dir: str | os.PathLike[str] | None = None
) -> tuple[list[ApplyItem], list[str]]:
    """What applying ``docs`` to the pond at ``root`` changes: items and directories to create.

    ``pond_dir`` is the pond's host directory, which no output may touch.
    """
    for doc in docs:
        problem = check_outputs(root, doc, pond_dir)
        if problem is not None:
            raise DocumentError(f"{doc.source.where()}: {problem}")
    try:
        graph.order(_graph_of(root, docs))
    except graph.CycleError as exc:
        raise _cycle_error(exc.cycle, docs) from None
    stored = stored_resources(root)
    import hashlib

    items: list[ApplyItem] = []
    directories: list[str] = []
    for doc in docs:
        old = stored.get(doc.name)
        digest = hashlib.sha256(doc.canonical()).hexdigest()
        if old is None:
            action, uuid = "created", uuid7()
        elif old.sha256 == digest and old.kind == doc.kind.name:
            action, uuid = "unchanged", old.uuid
        else:
            action, uuid = "updated", old.uuid or uuid7()
        items.append(ApplyItem(doc.name, doc.kind.name, uuid, action, doc.path, doc.source.where()))
        if doc.kind.role == "collector" and doc.path is not None:
            if root.exists(doc.path):
                if not root.get(doc.path).is_dir():
                    raise DocumentError(
                        f"{doc.source.where()}: spec.path: {doc.path} exists and is not a directory"
                    )
            elif doc.path not in directories:
                directories.append(doc.path)
    return items, directories


def apply_documents(
    docs: Sequence[Document],
    *,
    read_root: WD,
    transaction: TransactionFactory,
    dry_run: bool = False,
    pond_dir: str | os.PathLike[str] | None = None,
) -> ApplyResult:
    """Store ``docs`` (already validated) in one transaction, or say what would change.

    ``pond_dir`` (the pond's host directory) is checked against host outputs.
    """
    check_documents(docs)
    if dry_run:
        items, directories = plan(read_root, docs, pond_dir)
        nodes = plan_nodes(read_root, docs, items)
        _check_in_pond(read_root, docs)
        warnings = unmatched_inputs(read_root, docs)
        return ApplyResult(items, directories, None, True, nodes, warnings)
    by_name = {doc.name: doc for doc in docs}
    with transaction() as tx:
        root = tx.root
        # Planned again under the lock: another writer may have applied meanwhile.
        items, directories = plan(root, docs, pond_dir)
        _check_mounts(root, docs)
        before = stored_resources(root)
        nodes = plan_nodes(root, docs, items, before)
        for item in items:
            if item.action == "unchanged":
                continue
            content = by_name[item.name].canonical()
            attributes = {"uuid": item.uuid, "kind": item.kind}
            path = resource_path(item.name)
            if item.action == "created":
                root.mkdir(RESOURCES_DIR, parents=True)
                root.create_file(path, content, node_type=RESOURCE, attributes=attributes)
            else:
                root.write_file(path, content, node_type=RESOURCE, attributes=attributes)
        for directory in directories:
            root.mkdir(directory, parents=True)
        uuids = {item.name: item.uuid for item in items}
        for node in nodes:
            _write_node(root, node, uuids[node.name], before.get(node.name))
        for node in nodes:
            _check_listing(root, by_name[node.name], node.path)
        _check_in_pond(root, docs)
        warnings = unmatched_inputs(root, docs)
    return ApplyResult(items, directories, tx.txn_seq, False, nodes, warnings)


def _check_in_pond(root: WD, docs: Sequence[Document]) -> None:
    """Each kind's checks against the pond (``Kind.check_pond``), made once the
    derivations are in place, so that a Site sees the Reduce applied with it."""
    for doc in docs:
        for where, found in doc.kind.check_pond(doc.spec, root):
            raise DocumentError(f"{doc.source.where()}: {where}: {found}")


def _check_listing(root: WD, doc: Document, path: str) -> None:
    """Refuse a derivation whose output cannot even be listed (two inputs sent to one
    output, say): stored, it would only fail every later walk of the pond."""
    from ..errors import PondError

    root.unlisted.clear()
    try:
        if root.get(path).is_dir():
            for _ in root.visit(path):
                pass
    except PondError as exc:
        root.unlisted[path] = str(exc)
    for where, problem in root.unlisted.items():
        raise DocumentError(f"{doc.source.where()}: {problem.removeprefix(where + ': ')}")


def unmatched_inputs(root: WD, docs: Sequence[Document]) -> list[str]:
    """One line for each input pattern of ``docs`` that matches nothing in the pond."""
    from ..errors import PondError

    found: list[str] = []
    for doc in docs:
        for pattern in doc.kind.inputs(doc.spec):
            try:
                if next(iter(root.glob(pattern)), None) is not None:
                    continue
            except PondError:
                continue  # a pattern that cannot be read is an error elsewhere
            found.append(f"{doc.source.where()}: {pattern} matches nothing in the pond (yet)")
    return found


def _check_mounts(root: WD, docs: Sequence[Document]) -> None:
    """Refuse a resource whose outputs would go inside another resource's Import mount."""
    from .mounts import import_mounts

    mounts = import_mounts(root)
    for doc in docs:
        if doc.path is None:
            continue
        for mount, owner in mounts:
            if owner != doc.name and (doc.path == mount or doc.path.startswith(mount + "/")):
                raise DocumentError(
                    f"{doc.source.where()}: spec.path: {doc.path} is inside {mount}, "
                    f"imported by {owner}; imported data is read-only"
                )


def _write_node(root: WD, node: NodeAction, uuid: str, old: StoredResource | None) -> None:
    from ..tinyfs import paths as tpaths

    version = root.stat(resource_path(node.name)).version
    config = DerivationRef(node.name, uuid, version).to_config()
    if node.action == "moved" and old is not None and old.path is not None:
        _remove_node(root, old.path, uuid)
    if node.action == "updated":
        root.update_dynamic(node.path, config)
        return
    if node.action == "replaced":
        root.remove(node.path)
    parent = tpaths.join(tpaths.normalize(node.path)[:-1])
    root.mkdir(parent, parents=True)
    root.create_dynamic(node.path, node.node_type, by_kind(root, node.name), config)


def by_kind(root: WD, name: str) -> str:
    """The kind of the resource ``name`` as stored (a dynamic node's factory)."""
    return str(root.stat(resource_path(name)).attributes.get("kind", ""))


def _remove_node(root: WD, path: str, uuid: str) -> bool:
    """Remove the dynamic node at ``path`` if it is the output of the resource ``uuid``."""
    found = _derivation_ref(root, path)
    if found is None or found[1] is None or found[1].uuid != uuid:
        return False
    root.remove(path)
    return True


def remove_resource(root: WD, name: str) -> str | None:
    """Remove the resource ``name`` and its dynamic node (collected data stays).

    Returns the dynamic node's path when one was removed.  ``FileNotFoundError``
    if there is no such resource.
    """
    resource = stored_resources(root).get(name)
    if resource is None:
        raise FileNotFoundError(2, "no such resource", resource_path(name))
    removed = None
    if resource.path is not None and _remove_node(root, resource.path, resource.uuid):
        removed = resource.path
    root.remove(resource_path(name))
    return removed
