"""A pond kept on S3 and written in place, by one machine or several at once.

There is no lock file on S3.  What keeps writers apart is Delta's commit itself: a
transaction computed on Delta version N lands only as the log entry N+1, written with a
create-only put (``If-None-Match: *``), and ``commits.append`` forbids deltalake to rebase
it onto a newer version (``max_commit_retries=0``).  A writer whose entry N+1 another
writer created first gets ``CommitConflictError``: none of its rows are in the log, so
re-reading the new state and re-applying the command (``Pond``, bounded retries, then
``BusyError``) lands it exactly once, numbered from the state it was computed on
(``txn_seq`` stays gapless, and a directory table computed from a stale state never lands).

All of that rests on the server honouring the create-only put.  Where it does not (some
gateways answer 200 and overwrite), deltalake's second "create" of entry N+1 silently
replaces the first and an acknowledged commit is lost.  ``check_create_only`` proves the
server honours it before a pond is created and before one is opened for writing, and
refuses the store (``UnsafeStoreError``) otherwise.

A pond made for this says so in its first commit (``SHARED_STORE_KEY``); a backup, whose
first commit is a local pond's, lacks it and stays read-only.

Large content goes to ``data/_large_files/sha256=<hex>`` before the commit that names it.
A blob is never deleted by a writer (another writer may have committed a row naming the
same content meanwhile); a lost race leaves only unreferenced objects, which are harmless,
and which ``pond maintain`` removes once they are older than its grace period (a day by
default, ``reclaim.DEFAULT_GRACE``: an object that young may be another writer's upload
whose commit is on its way).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UnsafeStoreError
from ..tinyfs.ids import uuid7
from .objectstore import Location, StoreOptions, remote_error

if TYPE_CHECKING:
    from obstore.store import ObjectStore

SHARED_STORE_KEY = "shared_store"
"""The key, in the first commit's info, marking a pond made to be written in place on S3."""

PROBE_DIR = "_probe"
"""Where ``check_create_only`` puts its probe objects (each removed after its check)."""

COMMIT_RETRIES = 8
"""How often a command that lost the commit race is re-applied before ``BusyError``."""


def check_create_only(store: ObjectStore, location: Location, options: StoreOptions) -> None:
    """Prove the server refuses a second create-only put of one key; else ``UnsafeStoreError``.

    Puts a fresh probe object twice with ``If-None-Match: *`` (obstore's ``mode="create"``):
    the second must fail with a precondition error.  The probe is removed afterwards (one
    left by a killed process is harmless).  Raises ``RemoteError`` if the store cannot be
    reached at all.
    """
    import obstore
    from obstore.exceptions import AlreadyExistsError, NotSupportedError

    key = f"{PROBE_DIR}/{uuid7()}"
    why = (
        "Delta commits on S3 by such a put, and a server that does not honour it "
        "silently loses one of two racing commits; use a server that does"
    )
    try:
        try:
            obstore.put(store, key, b"probe", mode="create")
        except NotSupportedError as e:
            raise UnsafeStoreError(
                f"{location.url}: the server refused a create-only put (If-None-Match: *): "
                f"{remote_error(e, location, options)}; {why}"
            ) from None
        except Exception as e:
            raise remote_error(e, location, options) from None
        try:
            obstore.put(store, key, b"probe again", mode="create")
        except AlreadyExistsError:
            return
        except Exception as e:
            raise remote_error(e, location, options) from None
        raise UnsafeStoreError(
            f"{location.url}: the server ignores If-None-Match: * (a create-only put of an "
            f"existing object replaced it); {why}"
        )
    finally:
        # An orphan probe object costs a few bytes; the answer above is what matters.
        with contextlib.suppress(Exception):
            obstore.delete(store, key)


def cache_root(env: dict[str, str] | None = None) -> Path:
    """The per-user directory of local caches for ponds kept on S3.

    ``$DUCKPOND_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/duckpond``, else
    ``~/.cache/duckpond``.
    """
    env = dict(os.environ) if env is None else env
    chosen = env.get("DUCKPOND_CACHE_DIR")
    if chosen:
        return Path(chosen).expanduser().absolute()
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "duckpond").absolute()


def cache_dir(pond_id: str, location: Location, options: StoreOptions) -> Path:
    """This machine's cache directory for one pond on S3: keyed by the pond id and the
    URL with its endpoint, so two ponds (or one prefix reused for a new pond) never share one.

    What is kept inside is keyed further by what it reflects (``docs/architecture.md``,
    "A pond on S3"): computed outputs by the committed (node, version) of every input,
    data files by their unique Delta path and size, blobs by their hash (checked on read).
    """
    endpoint = options.with_environment().endpoint or ""
    digest = hashlib.sha256(f"{pond_id}\n{endpoint}\n{location.url}".encode()).hexdigest()
    return cache_root() / "s3" / digest[:32]
