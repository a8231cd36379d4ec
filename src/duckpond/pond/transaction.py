"""``Transaction``: the write verbs of one open pond transaction (``with pond.transaction() as tx``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, guarded
from ..tinyfs import FILE_SERIES, FILE_TABLE, WD
from ..tinyfs import paths as tpaths
from ..tinyfs.persistence import RESOURCE as RESOURCE_TYPE
from .results import CopyResult

if TYPE_CHECKING:
    from ..ingest.options import CopyOptions
    from .core import Pond


class Transaction:
    """The write verbs of one open pond transaction (``with pond.transaction() as tx``).

    Everything done through it is committed together when the ``with`` block
    exits cleanly, or not at all.  ``root`` is the filesystem itself, for reads
    and for lower-level writes; ``txn_seq`` is the transaction's number once it
    has committed (None before, or if nothing was written).
    """

    def __init__(self, pond: Pond, root: WD) -> None:
        from ..pipeline.mounts import MountGuard

        self.pond = pond
        self.root = root
        self.txn_seq: int | None = None
        # Imported trees are read-only to every verb here (pipeline/mounts.py).
        self._mounts = MountGuard(root)

    @guarded
    def mkdir(self, *paths: str, parents: bool = False, exist_ok: bool = False) -> None:
        """Create directories; ``parents`` makes missing parents and accepts existing ones."""
        self._mounts.check_write(*paths)
        for path in paths:
            self.root.mkdir(path, parents=parents, exist_ok=exist_ok)

    @guarded
    def write_file(self, path: str, data: bytes) -> None:
        """Raw bytes as a ``file:data`` (a new version if the file exists; it keeps its type)."""
        self._mounts.check_write(path)
        self.root.write_file(path, data)

    @guarded
    def write_series(self, path: str, data: Any, *, timestamp_column: str | None = None) -> None:
        """Append a version to the series at ``path`` (created if missing).

        ``data`` is an Arrow table or batch, a pandas or polars frame, or anything with
        ``__arrow_c_stream__``.  Raises ``FormatError`` without a timestamp column or when
        the columns do not fit the series.
        """
        from ..ingest.store import store_tabular

        self._mounts.check_write(path)
        store_tabular(self.root, path, data, FILE_SERIES, timestamp_column)

    @guarded
    def write_table(self, path: str, data: Any) -> None:
        """Write a ``file:table`` (a new version if it exists) from Arrow, pandas or polars."""
        from ..ingest.store import store_tabular

        self._mounts.check_write(path)
        store_tabular(self.root, path, data, FILE_TABLE, None)

    @guarded
    def copy_in(
        self,
        sources: Sequence[str | os.PathLike[str]],
        dest: str,
        *,
        format: str | None = None,
        options: CopyOptions | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> CopyResult:
        """Copy host files and directories in (see ``Pond.copy_in``); ``txn_seq`` is None here."""
        from ..ingest.options import CopyOptions
        from ..ingest.plan import plan_copy_in
        from ..ingest.store import store_file

        self._mounts.check_write(dest)
        if format not in (None, "data", "table", "series"):
            raise ConfigError(f"unknown format {format!r} (choose data, table or series)")
        chosen = options if options is not None else CopyOptions()
        written: list[str] = []
        unchanged: list[str] = []
        warnings: list[str] = []
        hosts = [Path(s) for s in sources]
        for host, pond_path, is_dir in plan_copy_in(self.root, hosts, dest, format):
            if is_dir:
                self.root.mkdir(pond_path, exist_ok=True)
                continue
            changed = store_file(self.root, host, pond_path, format, chosen, warnings)
            (written if changed else unchanged).append(pond_path)
            if progress is not None:
                progress(host.stat().st_size)
        return CopyResult(written, unchanged, None, warnings)

    @guarded
    def symlink(self, target: str, path: str) -> None:
        """A symlink at ``path`` to ``target`` (which need not exist)."""
        self._mounts.check_write(path)
        self.root.symlink(target, path)

    @guarded
    def rm(self, path: str, *, recursive: bool = False) -> None:
        """Unlink ``path``; a non-empty directory needs ``recursive``.  History stays.

        Removing a resource (``/etc/resources/NAME``) also removes its dynamic
        node; what a collector wrote stays.
        """
        from ..pipeline.resolver import RESOURCES_DIR

        if tpaths.join(tpaths.normalize(path, "/")).startswith(RESOURCES_DIR + "/"):
            np = self.root.get(path, follow=False)
            if np.node_type == RESOURCE_TYPE:
                from ..pipeline.apply import remove_resource

                remove_resource(self.root, np.name)
                return
        self._mounts.check_remove(path)
        self.root.remove(path, recursive=recursive)

    @guarded
    def mv(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` (or into it, if it is a directory), keeping the node id."""
        self._mounts.check_remove(src)
        self._mounts.check_write(dst)
        self.root.rename(src, dst)

    @guarded
    def create_dynamic(
        self, path: str, node_type: str, factory: str, config: dict[str, Any]
    ) -> None:
        """A dynamic file or directory at ``path``, computed on read by ``factory`` from ``config``."""
        self._mounts.check_write(path)
        self.root.create_dynamic(path, node_type, factory, config)
