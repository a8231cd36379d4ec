"""``pond.pipeline``: the pipeline's verbs on one pond (PIPELINE.md).

pond.pipeline.apply(["noyo.yaml"], {"site": "noyo"})   # store resources, one transaction
pond.pipeline.resources()                              # what is stored, and its last run
pond.pipeline.run()                                    # collectors and publishers, in order
pond.pipeline.build_site("public", out="/tmp/site")    # one Site resource, now
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PondError, guarded
from .facet import Facet

if TYPE_CHECKING:
    from ..pipeline.apply import ApplyResult
    from ..pipeline.resources import ResourceInfo
    from ..pipeline.run import RunReport
    from ..pipeline.site.build import BuildReport
    from ..tinyfs import WD


class PondPipeline(Facet):
    """The resources of a pond and what runs them: ``pond.pipeline``.

    ``apply`` stores YAML resource documents, ``resources`` lists them,
    ``run`` runs collectors and publishers, ``build_site`` builds one Site
    resource's pages now, ``hydrovu_locations`` looks at a HydroVu account.
    """

    @guarded
    def apply(
        self,
        files: Sequence[str | os.PathLike[str]],
        variables: dict[str, str] | None = None,
        *,
        dry_run: bool = False,
    ) -> ApplyResult:
        """Validate every document of ``files``, then store them in one transaction.

        Raises ``DocumentError`` (a ``ConfigError``) naming the file, document and field;
        nothing is written then.  With ``dry_run`` nothing is written at all.
        """
        from ..pipeline.apply import apply_documents
        from ..pipeline.documents import load_documents

        docs = load_documents(files, variables)
        # On a pond on S3, a commit another writer beat is planned and applied again.
        result = self.pond._retrying(
            lambda: apply_documents(
                docs,
                read_root=self.pond.root,
                transaction=self.pond.transaction,
                dry_run=dry_run,
                pond_dir=self.pond.path,
            )
        )
        if result.txn_seq is not None and any(doc.kind.name == "Backup" for doc in docs):
            # The Backup specs as now stored, cached for a push that need not open the
            # pond (``pond.push_pond``): the first push after an apply is as light as the rest.
            with contextlib.suppress(PondError):
                self.pond.backups._specs()
        return result

    @guarded
    def resources(self) -> list[ResourceInfo]:
        """Every resource: kind, name, uuid, output path and its last run."""
        from ..pipeline.resources import list_resources

        return list_resources(self.pond.root, self.pond.persistence)

    @guarded
    def run(
        self,
        names: Sequence[str] = (),
        *,
        wait: bool = True,
        progress: Callable[[str, Any], None] | None = None,
    ) -> RunReport:
        """Run collectors and publishers (all, or ``names``) in dependency order.

        Each resource's run is its own transaction; a failure is recorded and
        the others still run.  Raises ``LockTimeoutError`` if another run holds
        ``run.lock`` (at once when ``wait`` is False).
        """
        from ..pipeline.run import run_resources

        if self.pond.read_only:
            raise self.pond._read_only_error("cannot run resources")

        def fresh_root() -> WD:
            # Each resource reads what the ones before it (or other writers) committed.
            self.pond.persistence.refresh()
            return self.pond.root

        return run_resources(
            pond_dir=self.pond.path,
            read_root=fresh_root,
            transaction=self.pond.transaction,
            names=names,
            wait=wait,
            lock_timeout=self.pond.lock_timeout,
            progress=progress,
            pond_files=self.pond.backups.files() if self.pond.persistence.shared else None,
            retrying=self.pond._retrying,
        )

    @guarded
    def build_site(self, name: str, out: str | os.PathLike[str] | None = None) -> BuildReport:
        """Build the web site of the Site resource ``name`` now, from the pond as it is.

        The site goes to ``out`` (a host folder) or else the resource's ``spec.out``;
        the folder is replaced whole when the build is done, and a non-empty folder
        that is not a site built by pond is refused.  Raises ``ConfigError`` when
        there is no Site resource ``name``.
        """
        from ..pipeline.site.kind import build_from_pond, site_spec

        root = self.pond.root
        spec = site_spec(root, name)
        target = Path(out).expanduser().absolute() if out is not None else None
        return build_from_pond(root, spec, target)

    @guarded
    def hydrovu_locations(self, resource: str) -> list[dict[str, Any]]:
        """The locations (id, name, gps, parameters) of the HydroVu account of ``resource``.

        Asks the HydroVu API with the resource's credentials; raises ``ConfigError``
        when ``resource`` is not a HydroVu resource and ``HydroVuError`` when the
        API fails.
        """
        from ..pipeline.kinds.hydrovu import resource_locations

        return resource_locations(self.pond.root, resource)
