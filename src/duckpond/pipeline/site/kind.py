"""``Site``: a publisher that builds the static web site from the pond's series.

::

    apiVersion: duckpond/v1
    kind: Site
    name: public
    spec:
      title: Noyo Harbor water
      base_url: https://example.org/noyo     # optional: canonical links only
      timezone: America/Los_Angeles          # how pages show times (default: the zone
                                             # the charted Reduces count days in, else UTC)
      pages: /etc/site/pages                 # Markdown files, in the pond or host:///dir
      charts:
        - pattern: "/reduce/*"
          title: Water
          columns: ["Temp*", "Rain*"]
          group_by: series
          label: "Station {name}"               # site names (default: the series' name)
          labels: {Rain_mm: {label: Rain, unit: mm}}   # else Temperature.C: Temperature (C)
      out: /var/www/noyo                     # a host folder; pond run rebuilds it

A chart pattern matches Reduce outputs: a directory holding ``res=<R>.series`` files
(each directory one series, named by its last path component), or the
``res=<R>.series`` files themselves (grouped by their directory). The site is built
before the write lock is taken; the run writes nothing in the pond but its record.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ...errors import ConfigError
from ..documents import PondPattern, StrictModel
from ..kinds import Kind, RunContext, RunStats, WriteStep, register_kind

if TYPE_CHECKING:
    from ...tinyfs import WD, NodePath
    from .build import BuildReport, ChartGroup, MarkdownPage

HOST_PREFIX = "host://"


class LabelSpec(StrictModel):
    """How one column is shown: ``label`` (chart title, y axis) and ``unit``."""

    label: str | None = None
    unit: str | None = None


class ChartSpec(StrictModel):
    """One ``charts:`` entry: what to chart and how to group it into sites.

    ``labels`` maps a column name (or pattern) to its ``label`` and ``unit``; without
    one, ``Temperature.C`` reads as ``Temperature (C)``.  ``label`` names the site of
    each matched series (``{name}``: the series' own name, without ``.series``).
    """

    pattern: PondPattern
    title: str | None = None
    columns: list[str] = Field(default_factory=list)
    group_by: Literal["series", "scope"] = "series"
    labels: dict[str, LabelSpec] = Field(default_factory=dict)
    label: str | None = None


class SiteSpec(StrictModel):
    """``title``; ``out`` (absolute host folder); ``charts``; optional ``pages``,
    ``base_url`` and ``timezone`` (IANA name or fixed offset; None: the one zone the
    charted Reduce outputs count their buckets in, else UTC)."""

    title: str
    out: str
    charts: list[ChartSpec] = Field(min_length=1)
    pages: str | None = None
    base_url: str = ""
    timezone: str | None = None

    @field_validator("out")
    @classmethod
    def _absolute_out(cls, value: str) -> str:
        path = Path(value).expanduser()
        if not path.is_absolute():
            raise ValueError(f"out is an absolute host folder: {value!r}")
        return str(path)

    @field_validator("pages")
    @classmethod
    def _pages_location(cls, value: str | None) -> str | None:
        if value is None:
            return None
        where = value.removeprefix(HOST_PREFIX)
        if not where.startswith("/"):
            raise ValueError(f"pages is a pond folder or host:///abs/folder: {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        from ...timeparse import zone

        try:
            if value is not None:
                zone(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value


def _inputs(spec: SiteSpec) -> list[str]:
    found = [chart.pattern for chart in spec.charts]
    if spec.pages and not spec.pages.startswith(HOST_PREFIX):
        found.append(spec.pages.rstrip("/") + "/*")
    return found


def _is_res(name: str) -> bool:
    return name.startswith("res=") and name.endswith(".series")


def _chart_groups(root: WD, spec: SiteSpec) -> tuple[list[ChartGroup], list[str]]:
    """Each chart entry's matched series, read as Arrow tables; and what was skipped."""
    from ...query.engine import read_node
    from .build import ChartGroup, ColumnLabel, SeriesData

    groups: list[ChartGroup] = []
    skipped: list[str] = []
    for index, chart in enumerate(spec.charts):
        by_dir: dict[str, dict[str, Any]] = {}
        found = list(root.glob(chart.pattern))
        if not found:
            skipped.append(f"charts.{index}.pattern: {chart.pattern} matches nothing")
        for match in found:
            np = match.node_path
            if np.is_dir():
                for child in root.entries(np.path):
                    if _is_res(child.name):
                        by_dir.setdefault(np.path, {})[child.name] = child
            elif _is_res(np.name):
                parent = np.path.rsplit("/", 1)[0] or "/"
                by_dir.setdefault(parent, {})[np.name] = np
            else:
                skipped.append(f"{np.path}: not a Reduce output (no res=<R>.series)")
        series = []
        for directory, files in sorted(by_dir.items()):
            tables = {name: read_node(np) for name, np in files.items()}
            series.append(SeriesData(directory.rsplit("/", 1)[-1] or "/", directory, tables))
        groups.append(
            ChartGroup(
                series=series,
                title=chart.title,
                columns=chart.columns,
                group_by=chart.group_by,
                labels={k: ColumnLabel(v.label, v.unit) for k, v in chart.labels.items()},
                site_label=chart.label,
            )
        )
    return groups, skipped


def _pond_problems(spec: SiteSpec, root: WD) -> list[tuple[str, str]]:
    """At apply: a chart's ``columns`` or ``labels`` naming no column of the Reduce
    outputs its pattern matches, where their columns are known without computing (their
    inputs are stored); the others are checked when the site is built, in the same words."""
    from ...errors import PondError
    from .build import unmatched_columns

    problems: list[tuple[str, str]] = []
    for index, chart in enumerate(spec.charts):
        if not chart.columns and not chart.labels:
            continue
        names: list[str] = []
        try:
            for np in _res_files(root, chart.pattern):
                known = _column_names(np)
                if known is None:
                    break  # one output's columns unknown: the build checks them all
                names.extend(known)
            else:
                for option, patterns in (("columns", chart.columns), ("labels", chart.labels)):
                    problem = unmatched_columns(list(patterns), names) if names else None
                    if problem is not None:
                        problems.append((f"spec.charts.{index}.{option}", problem))
        except PondError:
            continue  # an output that cannot be read is the build's to report
    return problems


def _res_files(root: WD, pattern: str) -> list[NodePath]:
    """The ``res=<R>.series`` files a chart pattern reaches (as ``_chart_groups`` does)."""
    found: list[NodePath] = []
    for match in root.glob(pattern):
        np = match.node_path
        if np.is_dir():
            found.extend(c for c in root.entries(np.path) if _is_res(c.name))
        elif _is_res(np.name):
            found.append(np)
    return found


def _column_names(np: NodePath) -> list[str] | None:
    """A Reduce output's columns without computing it, or a stored series' columns."""
    if np.is_dynamic():
        names = getattr(np.output(), "column_names", None)
        return names() if callable(names) else None
    from ...ingest.versions import parquet_columns

    return [c["name"] for c in parquet_columns(np)]


def bucket_zones(groups: list[ChartGroup]) -> list[str]:
    """The zones the charted tables' buckets are counted in, as their Reduce recorded
    (``timezone`` of its description), sorted; a table without one counts in UTC."""
    import json

    from ..kinds._series import DESCRIBE_KEY

    found: set[str] = set()
    for group in groups:
        for series in group.series:
            for table in series.resolutions.values():
                described = (table.schema.metadata or {}).get(DESCRIBE_KEY)
                try:
                    zone = json.loads(described).get("timezone") if described else None
                except (ValueError, AttributeError):
                    zone = None
                found.add(zone if isinstance(zone, str) and zone else "UTC")
    return sorted(found)


def _pages(root: WD, spec: SiteSpec) -> list[MarkdownPage]:
    from .build import read_markdown_page

    if spec.pages is None:
        return []
    found: list[tuple[str, str]] = []
    if spec.pages.startswith(HOST_PREFIX):
        folder = Path(spec.pages.removeprefix(HOST_PREFIX))
        if not folder.is_dir():
            raise FileNotFoundError(errno.ENOENT, "pages folder not found", str(folder))
        for path in sorted(folder.glob("*.md")):
            found.append((path.stem, path.read_text(encoding="utf-8")))
    else:
        folder_np = root.get(spec.pages)
        if not folder_np.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "pages is not a directory", spec.pages)
        for child in root.entries(folder_np.path):
            if child.name.endswith(".md") and child.is_file():
                found.append((child.name[: -len(".md")], child.read_bytes().decode("utf-8")))
    return [read_markdown_page(name, text) for name, text in found]


def build_from_pond(
    root: WD, spec: SiteSpec, out: Path | None = None, *, if_changed: bool = False
) -> BuildReport:
    """Build a Site resource's site from the pond at ``root`` into ``out`` (default spec.out).

    With ``if_changed``, a site built from the same inputs (every table read, the pages,
    the settings) is left as it is and the report says ``unchanged``.  Raises what
    :func:`duckpond.pipeline.site.build_site` raises, and OSError for a missing pages
    folder.
    """
    from .build import SiteOptions, build_site, fingerprint

    groups, skipped = _chart_groups(root, spec)
    pages = _pages(root, spec)
    counted = bucket_zones(groups)
    shown = spec.timezone or (counted[0] if len(counted) == 1 else "UTC")
    options = SiteOptions(
        title=spec.title,
        base_url=spec.base_url,
        timezone=shown,
        bucket_zones=tuple(z for z in counted if z != shown),
    )
    inputs = fingerprint(options, groups, pages) if if_changed else None
    # The Vega bundle is cached per user, not per pond: it depends on no pond's content.
    report = build_site(
        out if out is not None else Path(spec.out), options, groups, pages, fingerprint=inputs
    )
    report.warnings.extend(skipped)
    report.warnings.extend(f"{p}: not listed: {why}" for p, why in root.unlisted.items())
    return report


def run_site(ctx: RunContext) -> WriteStep:
    """Build the site (no lock held) unless its inputs are as at the last build; the
    step writes nothing but returns what was built."""
    report = build_from_pond(ctx.root, ctx.spec, if_changed=True)
    if report.unchanged:

        def same(root: WD) -> RunStats:
            return RunStats(
                details={"out": str(report.out), "unchanged": True, "warnings": report.warnings},
                summary=f"{report.out} is up to date: its inputs are as at the last build",
            )

        return same

    def step(root: WD) -> RunStats:
        return RunStats(
            bytes=report.bytes,
            details={
                "out": str(report.out),
                "pages": report.pages,
                "charts": report.charts,
                "data_files": report.data_files,
                "points": report.points,
                "warnings": report.warnings,
            },
            summary=(
                f"built {report.pages} pages, {report.charts} charts "
                f"({report.points:,} points) into {report.out} in {report.seconds:.1f} s"
            ),
        )

    return step


def site_spec(root: WD, name: str) -> SiteSpec:
    """The spec of the stored Site resource ``name``; ConfigError if there is none."""
    import json

    from ..apply import stored_resources
    from ..documents import load_stored

    stored = stored_resources(root)
    if name not in stored:
        sites = sorted(n for n, r in stored.items() if r.kind == "Site")
        raise ConfigError(f"no Site resource named {name!r} (sites: {', '.join(sites) or 'none'})")
    doc = load_stored(json.dumps(stored[name].document).encode(), name)
    if not isinstance(doc.spec, SiteSpec):
        raise ConfigError(f"{name} is a {doc.kind.name}, not a Site")
    return doc.spec


SITE = register_kind(
    Kind(
        "Site",
        "publisher",
        SiteSpec,
        run=run_site,
        inputs=_inputs,
        host_outputs=lambda spec: [("out", spec.out)],
        check_pond=_pond_problems,
    )
)
