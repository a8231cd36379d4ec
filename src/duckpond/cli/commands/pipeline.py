"""The pipeline's commands: ``apply``, ``resources``, ``run`` (PIPELINE.md) and ``hydrovu locations``.

``main`` registers ``COMMANDS`` with the ``pond`` group.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from ...printable import sized as _size
from ..app import Settings, UserError, pass_settings, time_travel
from ..output import cell, line, records

if TYPE_CHECKING:
    from ...pipeline.run import RunReport, RunResult


def _variables(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, not {pair!r}", param_hint="-v")
        out[key.strip()] = value
    return out


@click.command()
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    required=True,
    metavar="FILE",
    help="A YAML file of resource documents (repeatable).",
)
@click.option(
    "-v", "--var", "pairs", multiple=True, metavar="KEY=VALUE", help="Set {{ KEY }} in the files."
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@pass_settings
def apply(
    settings: Settings, files: tuple[str, ...], pairs: tuple[str, ...], dry_run: bool
) -> None:
    """Validate resource documents, then store them in one transaction.

    Every document is checked first; on any error nothing is written.  An
    identical document changes nothing.

    Example:

        pond apply -f noyo.yaml -v site=noyo --dry-run
    """
    result = settings.open().pipeline.apply(files, _variables(pairs), dry_run=dry_run)
    out = settings.output
    if out.json_mode:
        out.data(result.to_json())
        return
    for item in result.items:
        action = (
            f"would {item.action[:-1]}" if dry_run and item.action != "unchanged" else item.action
        )
        out.message(f"{action}: {item.name} ({item.kind}) uuid {item.uuid}")
    for directory in result.directories:
        out.message(f"{'would create' if dry_run else 'created'} directory: {directory}")
    for node in result.nodes:
        verb = f"would {node.action[:-1].removesuffix('e')}e" if dry_run else node.action
        out.message(f"{verb} {node.node_type}: {node.path} ({node.name})")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if dry_run:
        out.message("dry run: nothing written")
    elif result.changed:
        out.message(f"applied in txn {result.txn_seq}")
    else:
        out.message(f"nothing to apply: {len(result.items)} resource(s) unchanged, no transaction")


@click.command()
@time_travel
@pass_settings
def resources(settings: Settings, at_txn: int | None, at: str | None) -> None:
    """List resources: kind, name, uuid, output path and last run.

    Example:

        pond resources
    """
    from ...timeparse import iso

    listed = settings.open(at_txn=at_txn, at=at).pipeline.resources()
    out = settings.output
    if out.json_mode:
        out.data([r.to_json() for r in listed])
        return
    if not listed:
        out.message("no resources (add some with pond apply -f FILE)")
        return
    records(
        [
            {
                "kind": r.kind,
                "name": r.name,
                "uuid": r.uuid,
                "path": r.path or "",
                "last run": iso(r.last_run) if r.last_run is not None else "never",
                "outcome": r.last_outcome or "",
            }
            for r in listed
        ]
    )


def _summary(report: RunReport) -> None:
    """The table of runs, then one line per run saying what it did or why it failed."""
    records(
        [
            {
                "resource": r.name,
                "outcome": r.outcome,
                "rows": r.rows,
                "bytes": _size(r.bytes),
                "elapsed": f"{r.elapsed_s:.2f} s",
                "peak RSS": _size(r.peak_rss_bytes),
            }
            for r in report.results
        ]
    )
    for r in report.results:
        if r.outcome != "ok":
            line(f"{r.name}: failed: {r.error}")
        elif r.summary:
            line(f"{r.name}: {r.summary}")
        for warning in r.details.get("warnings") or ():
            line(f"warning: {r.name}: {warning}", err=True)


@click.command()
@click.argument("names", nargs=-1)
@click.option(
    "--no-wait", is_flag=True, help="If another pond run is under way, fail at once (exit 1)."
)
@pass_settings
def run(settings: Settings, names: tuple[str, ...], no_wait: bool) -> None:
    """Run collectors and publishers (all, or NAMES) in dependency order.

    Each resource's run is its own transaction; a failure does not stop the
    others, and the exit status is 1 if any failed.  A second pond run waits
    for the first (up to --lock-timeout), or with --no-wait exits at once.

    Example:

        pond run              # every collector and publisher

        pond run loggers --no-wait
    """
    pond = settings.open()
    out = settings.output
    progress: Any = None
    status: Any = None
    if sys.stderr.isatty() and not out.json_mode:
        from rich.console import Console

        status = Console(stderr=True).status("starting")

        def progress(name: str, result: RunResult | None) -> None:
            if result is None:
                status.update(cell(f"running {name}"))

        status.start()
    try:
        report = pond.pipeline.run(names, wait=not no_wait, progress=progress)
    finally:
        if status is not None:
            status.stop()
    if out.json_mode:
        out.data(report.to_json())
    elif not report.results:
        out.message("nothing to run: no collector or publisher resources")
    else:
        _summary(report)
    failed = [r.name for r in report.results if r.outcome != "ok"]
    if failed:
        raise UserError(
            f"{len(failed)} of {len(report.results)} run(s) failed: {', '.join(failed)}"
        )


@click.group()
def hydrovu() -> None:
    """Look at the HydroVu account of a HydroVu resource.

    Example:

        pond hydrovu locations noyo
    """


@hydrovu.command("locations")
@click.argument("resource")
@pass_settings
def hydrovu_locations(settings: Settings, resource: str) -> None:
    """List the locations (id, name, GPS, parameters) of RESOURCE's HydroVu account,
    to write its devices list.

    Example:

        pond hydrovu locations noyo
    """
    listed = settings.open().pipeline.hydrovu_locations(resource)
    out = settings.output
    if out.json_mode:
        out.data(listed)
        return
    if not listed:
        out.message("no locations in this account")
        return
    records(
        [
            {
                "id": loc["id"],
                "name": loc["name"],
                "latitude": "" if gps.get("latitude") is None else repr(gps["latitude"]),
                "longitude": "" if gps.get("longitude") is None else repr(gps["longitude"]),
                "parameters": ", ".join(loc["parameters"]),
            }
            for loc in listed
            for gps in [loc["gps"]]
        ]
    )


@click.group()
def site() -> None:
    """Static web sites of Site resources ('pond run' also rebuilds them).

    Example:

        pond site build public --out /tmp/noyo-site
    """


@site.command("build")
@click.argument("name")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Build into this host folder instead of the resource's spec.out.",
)
@pass_settings
def site_build(settings: Settings, name: str, out_dir: str | None) -> None:
    """Build the web site of the Site resource NAME now, from the pond as it is.

    The folder is replaced whole when the build is done; a non-empty folder that
    is not a site built by pond is refused.  Open index.html, or serve the folder.

    Example:

        pond site build public --out /tmp/noyo-site
    """
    report = settings.open().pipeline.build_site(name, out_dir or None)
    out = settings.output
    if out.json_mode:
        out.data(
            {
                "name": name,
                "out": str(report.out),
                "pages": report.pages,
                "charts": report.charts,
                "data_files": report.data_files,
                "points": report.points,
                "bytes": report.bytes,
                "seconds": report.seconds,
                "warnings": report.warnings,
            }
        )
        return
    for warning in report.warnings:
        line(f"warning: {warning}", err=True)
    out.message(
        f"built {report.pages} pages, {report.charts} charts ({report.points:,} points) "
        f"in {report.seconds:.1f} s: open {report.out / 'index.html'}"
    )


COMMANDS = [apply, resources, run, hydrovu, site]
