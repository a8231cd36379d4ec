"""Backups: ``pond backup push|list|verify|prune``, ``pond restore`` and ``pond status``.

Credentials are never options: a Backup resource names them as ``${env:...}``, and
``restore`` reads ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` like every S3 tool.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from ...printable import sized as _size
from ..app import Settings, UserError, pass_settings
from ..output import folded

if TYPE_CHECKING:
    from ...backup import PushReport, VerifyReport
    from ...pond import PondStatus
    from ...pond.backups import BackupInfo


@click.group()
def backup() -> None:
    """Push the pond to its backups (Backup resources), list them, verify them.

    Example:

        pond backup push offsite && pond backup verify offsite
    """


def _failures(reports: list[PushReport]) -> str:
    """The one error line of a push: the reason alone for one backup (why it failed, or
    the damage it found on the remote), else each such backup's name and reason."""
    reasons = [(r.name, r.error or r.damage_line) for r in reports]
    if len(reports) == 1:
        return reasons[0][1] or ""
    return "; ".join(f"{name}: {why}" for name, why in reasons if why)


def push_lines(reports: list[PushReport]) -> list[str]:
    """What ``pond backup push`` prints of its pushes: one line a backup."""
    lines = []
    for r in reports:
        if not r.ok:
            lines.append(f"{r.name}: failed")
        elif r.up_to_date:
            lines.append(f"{r.name}: up to date at txn {r.last_txn} ({r.url})")
        else:
            lines.append(
                f"{r.name}: pushed through txn {r.last_txn} to {r.url}: {r.objects_sent} "
                f"object(s), {_size(r.bytes_sent)} in {r.elapsed_s:.2f} s"
            )
    return lines


@backup.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@pass_settings
def push(settings: Settings, names: tuple[str, ...]) -> None:
    """Send what the backups lack (all Backup resources, or those named).

    Only what the remote lacks is sent; the remote stays a complete pond at every
    instant, and a push refuses another pond's backup or a diverged one.  A remote
    found damaged (an object its push records name missing, or the wrong size) is
    named after the push, which then exits 1: run pond backup verify NAME --deep, and
    pond backup mend NAME to put back what this pond still holds.

    Example:

        pond backup push offsite
    """
    from ...pond import push_pond

    # Not settings.open(): after a small change most of a push's cost would be opening
    # the pond to read its Backup resources, which push_pond reads from their cache.
    reports = push_pond(settings.pond_path(), names)
    out = settings.output
    # A push that completed on a damaged remote also exits 1: the backup is not to be
    # relied on until `verify --deep` says what is wrong.
    failed = [r for r in reports if not r.ok or r.damage]
    if out.json_mode:
        out.data([r.to_json() for r in reports])
        if failed:
            raise UserError(_failures(reports))
        return
    for line in push_lines(reports):
        out.message(line)
    if failed:
        raise UserError(_failures(reports))


def _computed_on_read(kind: str) -> bool:
    """True for a kind whose outputs are computed when read (a derivation: Reduce, Join),
    which ``pond run`` never runs."""
    from ...errors import ConfigError
    from ...pipeline.kinds import get_kind

    try:
        return get_kind(kind).role == "derivation"
    except ConfigError:
        return False


def _when(recorded: str | datetime | None) -> str | None:
    """A time (or one recorded as ISO 8601 text) as status prints times: UTC, ``Z``,
    whole seconds."""
    from ...timeparse import iso

    if not recorded:
        return None
    when = recorded
    if isinstance(recorded, str):
        try:
            when = datetime.fromisoformat(recorded)
        except ValueError:
            return recorded
    assert isinstance(when, datetime)
    return iso(when.replace(microsecond=0))


def _lag(b: BackupInfo) -> str:
    """A backup's lag: transactions and bytes, and maintain's commits not pushed yet."""
    if b.last_outcome == "refused":
        return "none: its last push was refused (see the error)"
    if not b.known:
        return "unknown (a restored copy; the next push asks)"
    text = f"{b.lag_txns} txn, {_size(b.lag_bytes)}"
    if not b.lag_txns and b.lag_versions:
        text += f" (+{b.lag_versions} maintain commit(s))"
    return text


@backup.command(name="list")
@pass_settings
def list_(settings: Settings) -> None:
    """Each backup: URL, last pushed txn, lag, last push and its outcome (no network).

    Example:

        pond backup list
        pond --json backup list
    """
    infos = settings.open().backups.list()
    rows: list[dict[str, Any]] = [i.to_json() for i in infos]
    if not settings.output.json_mode:
        rows = [
            {
                "name": i.name,
                "url": i.url,
                "pushed txn": i.last_pushed_txn if i.known else "?",
                "lag": _lag(i),
                "last push": _when(i.last_push_time) or "never",
                "outcome": i.last_outcome or "",
                "error": i.last_error or "",
            }
            for i in infos
        ]
        if not rows:
            settings.output.message("no Backup resources: apply one (kind: Backup)")
            return
        if not any(row["error"] for row in rows):
            for row in rows:
                del row["error"]  # room for the URL on a narrow terminal
    settings.output.run_summary(rows)


@backup.command()
@click.argument("name")
@click.option(
    "--deep", is_flag=True, help="Also re-hash every remote object and replace the bad ones."
)
@pass_settings
def mend(settings: Settings, name: str, deep: bool) -> None:
    """Put back on a backup what its push records name and it lacks, from the pond.

    An object lost on the remote (deleted, or cut short) is sent again from this pond's
    file of the same key, if it holds the same bytes (checked against the record's
    sha256); with --deep every object is re-read and one whose bytes are wrong replaced
    too.  What the pond no longer holds is named, and the exit code is 1.  Nothing else is
    written: no record, no log entry.

    Example:

        pond backup mend offsite
    """
    report = settings.open().backups.mend(name, deep=deep)
    lines = [
        f"{name}: checked {report.checked} object(s), sent {len(report.resent)} again"
        f" ({report.url})"
    ]
    lines += [f"sent again: {key}" for key in report.resent]
    lines += [f"not mended: {problem}" for problem in report.unmendable]
    settings.output.data(report.to_json(), text="\n".join(lines))
    if not report.ok:
        raise UserError(
            f"backup {name}: {len(report.unmendable)} object(s) could not be put back from "
            f"this pond: {report.unmendable[0]}"
        )


@backup.command()
@click.argument("name")
@click.option("--deep", is_flag=True, help="Re-read and re-hash every remote object.")
@pass_settings
def verify(settings: Settings, name: str, deep: bool) -> None:
    """Compare a backup with the pond: equal, behind, ahead, diverged, damaged or a
    different pond, and content roots.

    The remote is read in place at its newest transaction and its content root
    compared with the local pond's root at that transaction.  A remote log entry that
    its own push record says is this pond's, yet differs, is damage (mend puts it back),
    not divergence.  Exits 1 unless equal or behind with equal roots and no bad object,
    the error line giving the next step.  --deep also checks every push record and
    every object's sha256, naming each missing or bad one.

    Example:

        pond backup verify offsite --deep
    """
    report = settings.open().backups.verify(name, deep=deep)
    settings.output.data(report.to_json(name), text="\n".join(verify_lines(name, report)))
    if not report.ok:
        raise UserError(
            f"backup {name} is not usable as it is: {_verdict(report)}; {report.advice(name)}"
        )


def _headline(name: str, report: VerifyReport) -> str:
    """The first line of ``verify``: how the logs stand, and whether damage follows."""
    txns = f"(remote txn {report.remote_txn}, local txn {report.local_txn})"
    if report.status == "different":
        return f"{name}: different pond ({report.detail})"
    if report.status == "diverged":
        return f"{name}: diverged at txn {report.diverged_txn} {txns}"
    if report.status == "damaged":
        return f"{name}: damaged {txns}"
    state = report.status
    if report.status == "behind":
        state += f" by {report.behind_by} txn"
    if report.status in ("equal", "behind") and report.problems:
        state = f"{state} logs, but the backup is damaged: {len(report.problems)} problem(s)"
    elif report.roots_equal is False:
        state = f"{state} logs, but the backup's content differs"
    return f"{name}: {state} {txns}"


def verify_lines(name: str, report: VerifyReport) -> list[str]:
    """What ``pond backup verify`` prints of a report (the error line aside)."""
    lines = [_headline(name, report)]
    if report.detail and report.status != "different":
        lines.append(report.detail)
    if report.deep:
        lines.append(
            f"checked {report.objects_checked} object(s), {_size(report.bytes_checked)}: "
            f"{len(report.problems)} problem(s)"
        )
    lines.extend(f"bad: {key}: {problem}" for key, problem in report.problems)
    lines.append(f"remote content root at txn {report.remote_txn}: {report.remote_root or '?'}")
    lines.append(f"local content root at txn {report.remote_txn}: {report.local_root or '?'}")
    if report.root_detail:
        lines.append(report.root_detail)
    return lines


def _verdict(report: VerifyReport) -> str:
    """Why a backup is not usable, in a few words, for the error line."""
    if report.status == "different":
        return "different pond"
    if report.status == "diverged":
        return f"diverged at txn {report.diverged_txn}"
    named = [key for key, _ in report.problems if key not in ("data", "data/_delta_log")]
    if named:
        return f"{len(named)} bad object(s)"
    if report.problems:
        return "the remote tree cannot be read"
    if report.roots_equal is False:
        return f"content root {report.remote_root} differs from the local {report.local_root}"
    return report.status


@backup.command()
@click.argument("name")
@click.option(
    "--keep",
    metavar="SPAN",
    help="Keep the transactions of the last SPAN: 90d, 6mo, 1y (mo: 30 days; min: minutes).",
)
@click.option(
    "--keep-txns", "keep_txns", type=int, metavar="N", help="Keep the remote's newest N txns."
)
@click.option("--dry-run", is_flag=True, help="Print what would be removed; change nothing.")
@pass_settings
def prune(
    settings: Settings, name: str, keep: str | None, keep_txns: int | None, dry_run: bool
) -> None:
    """Remove from a backup what no restore inside the window reads.

    A restore at any kept transaction stays exact; before the window it fails
    naming the earliest kept one.  Nothing is removed before the remote records
    the new window, so a prune killed at any instant leaves a usable backup, and
    the next prune finishes the job.

    Example:

        pond backup prune offsite --keep 1y --dry-run
    """
    if keep is not None and keep_txns is not None:
        raise UserError("give --keep or --keep-txns, not both")
    if keep is None and keep_txns is None:
        raise UserError("give --keep SPAN or --keep-txns N")
    report = settings.open().backups.prune(name, keep=keep, keep_txns=keep_txns, dry_run=dry_run)
    verb = "would remove" if report.dry_run else "removed"
    text = (
        f"{name}: kept transactions {report.earliest_kept_txn} to {report.last_txn}; "
        f"{verb} {len(report.removed)} object(s), {_size(report.bytes_removed)}"
    )
    settings.output.data(report.to_json(), text=text)


@click.command()
@click.argument("url")
@click.argument("dest", type=click.Path())
@click.option("--at-txn", "at_txn", type=int, metavar="N", help="Restore the pond as of txn N.")
@click.option("--endpoint", metavar="URL", help="The S3 endpoint (default: $AWS_ENDPOINT_URL).")
@click.option("--region", metavar="NAME", help="The S3 region (default: $AWS_REGION).")
@click.option(
    "--allow-http", is_flag=True, default=None, help="Allow plain HTTP (default: $AWS_ALLOW_HTTP)."
)
@pass_settings
def restore(
    settings: Settings,
    url: str,
    dest: str,
    at_txn: int | None,
    endpoint: str | None,
    region: str | None,
    allow_http: bool | None,
) -> None:
    """Restore a whole pond from its backup URL into a new directory.

    URL is s3://BUCKET/PREFIX or file:///DIR.  Credentials come from
    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.  Every byte is checked against its
    recorded hash before it is used; an existing pond at DEST is refused.

    Example:

        pond restore s3://noyo-archive/pond /srv/pond --endpoint https://s3.example.org
    """
    from ...pond import Pond

    report = Pond.restore(
        url, dest, at_txn=at_txn, endpoint=endpoint, region=region, allow_http=allow_http
    )
    settings.output.report(
        report.to_json(),
        f"restored pond {report.pond_id} at txn {report.txn_seq} into {report.dest}: "
        f"{report.objects} object(s), {_size(report.bytes)}, every one checked",
    )


@click.command()
@pass_settings
def status(settings: Settings) -> None:
    """The pond at a glance: id, newest txn, disk use, last runs, backup lag.

    Example:

        pond status
        pond --json status
    """
    result = settings.open().status()
    out = settings.output
    if out.json_mode:
        out.data(result.to_json())
        return
    # Each line folded to the terminal, under its value's column (after the label).
    folded(_status_text(result), indent=_LABEL)


# The width of status's labels ("pond      ", "resource  "...).
_LABEL = 10


def _status_text(s: PondStatus) -> str:
    u = s.usage
    when = _when(s.last_txn_time) or "?"
    lines = [
        f"pond      {s.path}",
        f"pond id   {s.pond_id}",
        f"newest    txn {s.last_txn} at {when}",
        f"disk      {_size(u.total_bytes)}: log {_size(u.log_bytes)}, blobs "
        f"{_size(u.blob_bytes)}, cache {_size(u.cache_bytes)}",
    ]
    pushed = {b.name for b in s.backups if b.last_push_time or b.last_outcome}
    for r in s.resources:
        if r.last_run:
            last = f"{r.last_outcome or '?'} {_when(r.last_run)}"
        elif r.kind == "Backup" and r.name in pushed:
            # Pushed with `pond backup push`, not by a run: its line below says when.
            last = "not run by pond run; pushed by hand (below)"
        elif _computed_on_read(r.kind):
            last = "computed when read (no runs)"
        else:
            last = "never run"
        lines.append(f"resource  {r.name} ({r.kind}): {last}")
    for b in s.backups:
        lines.append(
            f"backup    {b.name} {b.url}: txn {b.last_pushed_txn if b.known else '?'}, "
            f"lag {_lag(b)}, "
            f"last push {_when(b.last_push_time) or 'never'}"
            + (f", last attempt {b.last_outcome}" if b.last_outcome else "")
        )
    return "\n".join(lines)


COMMANDS = [backup, restore, status]
