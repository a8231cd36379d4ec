"""The pond API: everything the ``pond`` command does is a call away here.

pond = Pond.init("/srv/pond")
with pond.transaction() as tx:            # one commit, or nothing on an exception
    tx.mkdir("/raw")
    tx.write_file("/raw/notes.txt", b"hello")
    tx.write_series("/raw/site.series", frame)
print(tx.txn_seq)                          # the transaction's number, after a clean exit
Pond.open("/srv/pond", at_txn=1).list("/")   # the pond as of its first transaction
pond.pipeline.run()                        # an area of verbs: a facet of the pond

Each write verb of ``Pond`` (``mkdir``, ``write_series``, ``copy_in``...) is the
same verb of a one-verb ``Transaction`` (docs/architecture.md, "Transactions").
Modules: ``core.py`` (``Pond``), ``transaction.py``, ``results.py`` (``Entry``,
``CopyResult``, ``PondStatus``), ``facet.py`` and one module per facet (``pipeline.py``,
``backups.py``, ``maintenance.py``, ``mirrors.py``), and
``host.py`` (what the CLI reads and prints without a pond).
"""

from ..tinyfs import DIRECTORY, FILE_DATA
from ..tinyfs.glob import has_wildcard
from .backups import BackupInfo, PondBackups, push_pond
from .core import Pond, is_literal, resolve_pond_dir
from .facet import Facet
from .host import describe_host, parse_url, preview_rows, read_host, write_rows
from .maintenance import PondMaintenance, SpaceReport
from .mirrors import PondMirrors, refresh_mirror
from .pipeline import PondPipeline
from .results import CopyResult, Entry, PondStatus
from .transaction import Transaction

__all__ = [
    "DIRECTORY",
    "FILE_DATA",
    "BackupInfo",
    "CopyResult",
    "Entry",
    "Facet",
    "Pond",
    "PondBackups",
    "PondMaintenance",
    "PondMirrors",
    "PondPipeline",
    "PondStatus",
    "SpaceReport",
    "Transaction",
    "describe_host",
    "has_wildcard",
    "is_literal",
    "parse_url",
    "preview_rows",
    "push_pond",
    "read_host",
    "refresh_mirror",
    "resolve_pond_dir",
    "write_rows",
]
