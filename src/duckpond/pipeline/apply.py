"""``pond apply``: validate documents, then store them as resource nodes in one transaction.

Every document of every file is validated first; any error raises before
anything is written.  Then one transaction creates or updates
``/etc/resources/<name>`` (entry type ``resource``, content the canonical
JSON of the validated document, attributes ``{uuid, kind}``) and the
collectors' output directories.  An identical document writes nothing, so
an apply where nothing changed commits nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..tinyfs import WD
from ..tinyfs.ids import uuid7
from ..tinyfs.persistence import RESOURCE
from . import graph
from .documents import Document, DocumentError, load_stored
from .kinds import TransactionFactory

RESOURCES_DIR = "/etc/resources"


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


@dataclass
class ApplyResult:
    """Per-document actions, directories created, and the transaction (None if none)."""

    items: list[ApplyItem]
    directories: list[str] = field(default_factory=list)
    txn_seq: int | None = None
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.directories) or any(i.action != "unchanged" for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "resources": [i.to_json() for i in self.items],
            "directories": self.directories,
            "txn_seq": self.txn_seq,
            "dry_run": self.dry_run,
            "changed": self.changed,
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
        for where, problem in doc.kind.check(doc.spec):
            raise DocumentError(f"{doc.source.where()}: {where}: {problem}")


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


def plan(root: WD, docs: Sequence[Document]) -> tuple[list[ApplyItem], list[str]]:
    """What applying ``docs`` to the pond at ``root`` changes: items and directories to create."""
    graph.order(_graph_of(root, docs))
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
) -> ApplyResult:
    """Store ``docs`` (already validated) in one transaction, or say what would change."""
    check_documents(docs)
    if dry_run:
        items, directories = plan(read_root, docs)
        return ApplyResult(items, directories, None, True)
    by_name = {doc.name: doc for doc in docs}
    with transaction() as tx:
        root = tx.root
        # Planned again under the lock: another writer may have applied meanwhile.
        items, directories = plan(root, docs)
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
    return ApplyResult(items, directories, tx.txn_seq, False)
