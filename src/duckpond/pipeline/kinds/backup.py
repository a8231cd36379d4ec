"""``Backup``: a publisher that pushes the pond to S3-compatible storage or a directory.

::

    apiVersion: duckpond/v1
    kind: Backup
    name: offsite
    spec:
      url: s3://noyo-archive/pond          # or file:///mnt/nas/pond-backup
      endpoint: ${env:S3_ENDPOINT}         # optional; else AWS_ENDPOINT_URL / the AWS default
      region: us-east-1                    # optional; else AWS_REGION
      access_key_id: ${env:S3_KEY}         # optional secrets, ${env:...} only;
      secret_access_key: ${env:S3_SECRET}  #   else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
      allow_http: false                    # optional; else AWS_ALLOW_HTTP

``pond run`` runs every Backup after every other resource (``Kind.last``); its run pushes
with no lock held (``duckpond.backup.push``) and commits nothing (its run is recorded
beside the oplog), then pushes whatever another writer committed meanwhile
(``Kind.after_commit``), so a ``pond run`` leaves the backup at the pond's newest
transaction.  When the pond's record of the backup (``$POND/backups/<name>.json``) says
the remote holds the newest version already, the run makes no request at all
(``local_up_to_date`` says what that cannot see).  ``endpoint`` and ``region`` take a literal or an
``${env:...}`` reference; credentials only a reference, resolved when used, never stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from ..documents import StrictModel
from ..secrets import SecretField
from . import Kind, RunContext, RunStats, Unchanged, WriteStep, register_kind

if TYPE_CHECKING:
    from ...backup import Remote
    from ...tinyfs import WD


class BackupSpec(StrictModel):
    """``url`` (``s3://BUCKET/PREFIX`` or ``file:///DIR``); optional ``endpoint``, ``region``,
    ``access_key_id``/``secret_access_key`` (``${env:...}``), ``allow_http``, ``concurrency``."""

    url: str
    endpoint: str | None = None
    region: str | None = None
    access_key_id: SecretField | None = None
    secret_access_key: SecretField | None = None
    allow_http: bool | None = None
    concurrency: int = Field(default=8, ge=1, le=64)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from ...tlogfs.objectstore import parse_location

        return parse_location(value).url


def remote_of(spec: BackupSpec, *, create: bool = False) -> Remote:
    """The spec's store, its references resolved now (values are used, never kept)."""
    from ..backupstore import backup_remote

    return backup_remote(spec.model_dump(mode="json"), create=create)


def run_backup(ctx: RunContext) -> WriteStep | Unchanged | None:
    """Push now (the slow part, no lock held); the step records what was sent.

    When the pond's own record of the backup says the remote already holds the pond's
    newest version, nothing is pushed, nothing committed and no request made
    (``duckpond.backup.push.local_up_to_date`` says what that cannot see).
    """
    from ...backup.push import local_up_to_date, push

    spec: BackupSpec = ctx.spec
    where = ctx.pond_files or ctx.pond_dir
    state = local_up_to_date(where, ctx.name, spec.url)
    if state is not None:
        return Unchanged(f"nothing new to push to {spec.url} (it holds txn {state.last_txn})")
    report = push(where, remote_of(spec, create=True), ctx.name, concurrency=spec.concurrency)

    def step(root: WD) -> RunStats:
        return RunStats(
            rows=0,
            bytes=report.bytes_sent,
            details={
                "url": report.url,
                "objects_sent": report.objects_sent,
                "remote_txn": report.last_txn,
            },
            summary=f"pushed to {report.url} through txn {report.last_txn}",
            warnings=[report.damage_line] if report.damage_line else [],
        )

    return step


def after_backup(ctx: RunContext) -> None:
    """Push what was committed since the run's push (by another writer), if anything."""
    from ...backup.push import local_up_to_date, push

    spec: BackupSpec = ctx.spec
    where = ctx.pond_files or ctx.pond_dir
    if local_up_to_date(where, ctx.name, spec.url) is not None:
        return
    push(where, remote_of(spec, create=True), ctx.name, concurrency=spec.concurrency)


BACKUP = register_kind(
    Kind("Backup", "publisher", BackupSpec, run=run_backup, last=True, after_commit=after_backup)
)
