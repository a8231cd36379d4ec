"""Build a static site from Arrow tables: pages (Jinja2), chart data chunks, assets.

The input is what the Reduce kind computes: per matched series, per resolution, an Arrow
table with a ``timestamp`` column (``timestamp[us, UTC]``, the bucket start) and
``<column>.avg``, ``<column>.min``, ``<column>.max`` columns. Nothing here reads a pond:
the Site kind (``duckpond.pipeline.kinds.site``) finds the tables and calls
:func:`build_site`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from duckpond.errors import ConfigError, FormatError

if TYPE_CHECKING:
    import pyarrow as pa

MAX_POINTS = 2000
"""The most points per series a view draws; the page picks its resolution to stay under it."""

CHUNK_POINTS = 2000
"""Buckets per data chunk file: a view of at most MAX_POINTS loads at most two chunks."""

AGGREGATES = ("avg", "min", "max", "sum", "count")
"""The Reduce aggregations a chart draws: avg with its min-max band as a line, else sum
(rain) as bars of totals, else count as bars of readings per bucket (data coverage)."""
MARKER = ".duckpond-site"
"""A file in every built site: a non-empty output folder without it is never replaced."""


def resolution_name(label: str) -> str:
    """A resolution's bare name: ``res=1h.series`` (a Reduce output's file name) -> ``1h``."""
    name = label.strip()
    name = name.removeprefix("res=").removesuffix(".series")
    return name


def parse_resolution(label: str) -> int:
    """Milliseconds in a resolution: ``15m``, ``1h``, ``1d``, ``1mo``, or ``res=1h.series``.

    Units as Reduce writes them (``ms``, ``s``, ``m``/``min``, ``h``, ``d``, ``w``, and
    ``mo`` and ``y`` by their mean length).  Raises ConfigError for anything else, or a
    resolution under a millisecond.
    """
    from duckpond.pipeline.timeseries.calendar import Buckets

    micros = Buckets.parse(resolution_name(label)).nominal
    if micros < 1000:
        raise ConfigError(f"resolution {label!r} is under a millisecond")
    return micros // 1000


@dataclass(frozen=True)
class SeriesData:
    """One matched series: a name, the pond path it came from, its tables per resolution.

    ``resolutions`` maps a label (``1h``) to an Arrow table with ``timestamp``
    (timestamp, UTC) and ``<column>.avg|min|max`` float columns; a column with only some
    of the three aggregates still charts (the missing ones are left out).
    """

    name: str
    path: str
    resolutions: Mapping[str, pa.Table]


@dataclass(frozen=True)
class ColumnLabel:
    """How a column is shown: its ``label`` (chart title, axis) and ``unit``."""

    label: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class ChartGroup:
    """One ``charts:`` entry of a Site: its matched series and how to chart them.

    ``columns``: fnmatch patterns of parameter names to chart (none: all).
    ``group_by``: ``series`` makes each matched series one site; ``scope`` takes the site
    from the first dot-separated part of each column (a Join's ``<scope>.<column>``).
    ``labels``: a ``ColumnLabel`` per parameter name or fnmatch pattern; a parameter
    without one is split as HydroVu names them (``Temperature.C``: label ``Temperature``,
    unit ``C``) or as ``GHI (W/m^2)``.  ``site_label``: the site name, ``{name}`` standing
    for the series' own (its directory's name without ``.series`` or ``.csv``).
    """

    series: Sequence[SeriesData]
    title: str | None = None
    columns: Sequence[str] = ()
    group_by: Literal["series", "scope"] = "series"
    labels: Mapping[str, ColumnLabel] = field(default_factory=dict)
    site_label: str | None = None


def column_label(param: str, labels: Mapping[str, ColumnLabel] = {}) -> tuple[str, str | None]:
    """A parameter's (label, unit): from ``labels`` (a name or pattern), else its name
    (``Temperature.C`` -> ``("Temperature", "C")``, ``GHI (W/m^2)`` -> ``("GHI", "W/m^2")``)."""
    given = labels.get(param) or next(
        (v for k, v in labels.items() if fnmatch.fnmatchcase(param, k)), ColumnLabel()
    )
    found = re.fullmatch(r"(.+?)\s*\(([^()]+)\)", param)
    if found:
        label, unit = found[1], found[2]
    elif "." in param.strip("."):
        label, _, unit = param.rpartition(".")
    else:
        label, unit = param, None
    return given.label or label, given.unit or unit


def site_name(name: str) -> str:
    """A series' name as a site: its directory's name without ``.series`` or ``.csv``."""
    for suffix in (".series", ".csv", ".table"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class MarkdownPage:
    """A user page: its name (file stem), title, order in the menu and Markdown body."""

    name: str
    title: str
    body: str
    order: float = 0.0


@dataclass(frozen=True)
class SiteOptions:
    """Site-wide settings: title, base URL (for canonical links), display time zone (IANA),
    and the other zones some charted buckets are counted in (the pages say so)."""

    title: str
    base_url: str = ""
    timezone: str = "UTC"
    max_points: int = MAX_POINTS
    bucket_zones: tuple[str, ...] = ()


@dataclass
class BuildReport:
    """What a build wrote: counts, bytes and seconds."""

    out: Path
    pages: int = 0
    charts: int = 0
    data_files: int = 0
    points: int = 0
    bytes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # Not rebuilt: the site in ``out`` was built from the same inputs (``fingerprint``).
    unchanged: bool = False


def read_markdown_page(name: str, text: str) -> MarkdownPage:
    """Split a Markdown file's YAML front matter (``title``, ``order``) from its body.

    Raises FormatError when the front matter is not a YAML mapping.
    """
    import yaml

    meta: dict[str, Any] = {}
    body = text
    if text.startswith("---"):
        parts = re.split(r"^---[ \t]*$", text, maxsplit=2, flags=re.MULTILINE)
        if len(parts) == 3:
            try:
                loaded = yaml.safe_load(parts[1])
            except yaml.YAMLError as exc:
                raise FormatError(f"{name}: front matter: {exc}") from None
            if loaded is not None and not isinstance(loaded, dict):
                raise FormatError(f"{name}: front matter must be a mapping of keys to values")
            meta = loaded or {}
            body = parts[2].lstrip("\n")
    title = str(meta.get("title") or _first_heading(body) or name)
    try:
        order = float(meta.get("order", 0))
    except (TypeError, ValueError):
        raise FormatError(f"{name}: front matter 'order' must be a number") from None
    return MarkdownPage(name=name, title=title, body=body, order=order)


def _first_heading(body: str) -> str | None:
    match = re.search(r"^#\s+(.+)$", body, flags=re.MULTILINE)
    return match.group(1).strip() if match else None


def slug(text: str) -> str:
    """A file-name-safe lower-case slug of a name (``BDock.Temperature.C`` -> ``bdock-temperature-c``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return out or "x"


@dataclass
class _Trace:
    """One chart: a parameter of one site, with per resolution its column names."""

    site: str
    param: str
    source: str
    columns: dict[str, dict[str, str]]  # resolution label -> aggregate -> column name
    tables: dict[str, pa.Table]
    group: str | None = None
    chart_id: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    unit: str | None = None

    @property
    def kind(self) -> str:
        """``line`` (avg, min-max band), ``sum`` or ``count`` (bars), by what exists."""
        found = {agg for cols in self.columns.values() for agg in cols}
        if "avg" in found or "min" in found or "max" in found:
            return "line"
        return "sum" if "sum" in found else "count"


def _traces(groups: Sequence[ChartGroup]) -> list[_Trace]:
    traces: dict[tuple[str, str], _Trace] = {}
    for group in groups:
        _check_columns(group)
        for series in group.series:
            for given, table in series.resolutions.items():
                parse_resolution(given)
                label = resolution_name(given)
                if "timestamp" not in table.column_names:
                    raise FormatError(f"{series.path} ({label}): no timestamp column")
                for column in table.column_names:
                    base, _, agg = column.rpartition(".")
                    if agg not in AGGREGATES or not base:
                        continue
                    own = site_name(series.name)
                    if group.site_label:
                        own = group.site_label.replace("{name}", own)
                    if group.group_by == "scope":
                        site, _, param = base.partition(".")
                        if not param:
                            site, param = own, base
                    else:
                        site, param = own, base
                    if group.columns and not any(
                        fnmatch.fnmatchcase(param, pat) or fnmatch.fnmatchcase(base, pat)
                        for pat in group.columns
                    ):
                        continue
                    trace = traces.get((site, param))
                    if trace is None:
                        shown, unit = column_label(param, group.labels)
                        trace = traces[(site, param)] = _Trace(
                            site, param, series.path, {}, {}, group.title, label=shown, unit=unit
                        )
                    trace.columns.setdefault(label, {})[agg] = column
                    trace.tables[label] = table
    return sorted(traces.values(), key=lambda t: (t.site.lower(), t.param.lower()))


def _check_columns(group: ChartGroup) -> None:
    """Each of ``group.columns`` and of ``group.labels``' keys must name a column of the
    matched series: ConfigError listing the real ones (and the closest) otherwise."""
    if not group.series:
        return
    names = [c for s in group.series for t in s.resolutions.values() for c in t.column_names]
    for option, patterns in (("columns", group.columns), ("labels", list(group.labels))):
        problem = unmatched_columns(patterns, names)
        if problem is not None:
            raise ConfigError(f"{option}: {problem}")


def title_of(*parts: str | None) -> str:
    """``parts`` joined by `` · ``, leaving out one whose words another already says:
    a chart "Rain" of the column "Rain" is "Rain", not "Rain · Rain"; "Rain" and
    "Rain gauge" are "Rain gauge"."""

    def words(text: str) -> set[str]:
        return set(re.findall(r"\w+", text.casefold()))

    kept: list[str] = []
    for part in parts:
        if not part:
            continue
        for index, other in enumerate(kept):
            if words(part) <= words(other):
                break
            if words(other) <= words(part):
                kept[index] = part
                break
        else:
            kept.append(part)
    return " · ".join(kept)


def unmatched_columns(patterns: Sequence[str], names: Iterable[str]) -> str | None:
    """The first of a chart's ``columns`` patterns that matches none of a Reduce output's
    columns (``names``, ``<column>.<aggregation>``), said with the columns there are and
    the closest; None when each matches.  A pattern may also match what follows a base
    column's first ``.`` (``C`` of ``Temp.C``)."""
    import difflib

    bases: list[str] = []
    for column in names:
        base, _, agg = column.rpartition(".")
        if agg in AGGREGATES and base and base not in bases:
            bases.append(base)
    params = bases + [b.partition(".")[2] for b in bases if "." in b]
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(p, pattern) for p in params):
            continue
        close = difflib.get_close_matches(pattern, params, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{pattern!r} matches no column (columns: {', '.join(bases)}){hint}"
    return None


def _write_chunks(trace: _Trace, data_dir: Path, report: BuildReport) -> None:
    """Write one chart's data files, one per resolution chunk, and fill its manifest."""
    import pyarrow as pa
    import pyarrow.compute as pc

    res_list: list[dict[str, Any]] = []
    start: int | None = None
    end: int | None = None
    labels = sorted(trace.columns, key=parse_resolution)
    for label in labels:
        table = trace.tables[label]
        cols = trace.columns[label]
        res_ms = parse_resolution(label)
        ts = table.column("timestamp")
        if not pa.types.is_timestamp(ts.type):
            raise FormatError(f"{trace.source} ({label}): timestamp is {ts.type}, not a timestamp")
        ms = pc.cast(pc.cast(ts, pa.timestamp("ms", "UTC")), pa.int64())
        keep = pc.is_valid(ms)
        order = pc.sort_indices(pc.filter(ms, keep))
        ms_sorted = pc.take(pc.filter(ms, keep), order).to_pylist()
        if not ms_sorted:
            continue
        values: dict[str, list[float | None]] = {}
        # A line draws avg in "a"; bars draw the sum (or the count) there.
        shown = {"line": "avg", "sum": "sum", "count": "count"}[trace.kind]
        for agg in ("avg", "min", "max", "sum", "count"):
            if agg in cols and (agg == shown or (trace.kind == "line" and agg in ("min", "max"))):
                arr = pc.take(pc.filter(table.column(cols[agg]), keep), order)
                values["avg" if agg == shown else agg] = _rounded(pc.cast(arr, pa.float64()))
        span = res_ms * CHUNK_POINTS
        chunks: list[int] = []
        i = 0
        n = len(ms_sorted)
        while i < n:
            k = ms_sorted[i] // span
            j = i
            limit = (k + 1) * span
            while j < n and ms_sorted[j] < limit:
                j += 1
            t0 = k * span
            offs = [t - t0 for t in ms_sorted[i:j]]
            unit = res_ms if all(o % res_ms == 0 for o in offs) else 1
            payload: dict[str, Any] = {"t0": t0, "u": unit, "s": [o // unit for o in offs]}
            for agg, key in (("avg", "a"), ("min", "lo"), ("max", "hi")):
                if agg in values:
                    payload[key] = values[agg][i:j]
            text = "DuckPond.data({},{},{},{});\n".format(
                json.dumps(trace.chart_id),
                json.dumps(label),
                k,
                json.dumps(payload, separators=(",", ":"), allow_nan=False),
            )
            path = data_dir / trace.chart_id / label / f"{k}.js"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            report.data_files += 1
            report.bytes += len(text)
            chunks.append(k)
            i = j
        report.points += n
        if start is None:
            # The finest resolution comes first: its buckets are nearest to the readings.
            start, end = ms_sorted[0], ms_sorted[-1]
        res_list.append({"label": label, "ms": res_ms, "span": span, "chunks": chunks, "rows": n})
    trace.manifest = {
        "id": trace.chart_id,
        "site": trace.site,
        "param": trace.param,
        "source": trace.source,
        "res": res_list,
        "start": start,
        "end": end,
        "kind": trace.kind,
        "label": trace.label,
        "unit": trace.unit,
    }


def _rounded(arr: pa.ChunkedArray | pa.Array) -> list[float | None]:
    """Values to six significant digits (enough for sensors, a third of the bytes); NaN as null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    finite = pc.filter(arr, pc.and_(pc.is_valid(arr), pc.is_finite(arr)))
    biggest = pc.max(pc.abs(finite)).as_py() if len(finite) else None
    digits = 6
    if biggest:
        digits = max(0, 6 - math.ceil(math.log10(biggest)))
    rounded = pc.round(arr, ndigits=digits)
    clean = pc.if_else(pc.is_finite(rounded), rounded, pa.scalar(None, pa.float64()))
    out: list[float | None] = clean.to_pylist()
    return out


def vega_bundle(cache_dir: Path | None = None) -> tuple[str, str]:
    """The Vega library as one script that sets ``window.vega``, and its version.

    The script is vl-convert's bundle of Vega alone (0.59 MB; its default bundle adds
    Vega-Lite and vega-embed for 0.90 MB and leaves ``window.vega`` null): the snippet
    imports Vega's module by the specifier vl-convert resolves from the modules it
    carries, so nothing is downloaded. Making it takes seconds, so it is kept under
    ``cache_dir`` (default ``$XDG_CACHE_HOME/duckpond`` or ``~/.cache/duckpond``),
    with its SHA-256 beside it (``<tag>.js.sha256``): a kept bundle that does not
    match (truncated, edited) is made again, never published.
    """
    import vl_convert

    version = vl_convert.get_vega_version()
    tag = f"vega-{version}-only-vlc-{_vlc_version()}"
    if cache_dir is None:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        cache_dir = Path(base) / "duckpond"
    cached = cache_dir / f"{tag}.js"
    checksum = cache_dir / f"{tag}.js.sha256"
    try:
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == checksum.read_text(encoding="ascii").strip():
            return data.decode("utf-8"), version
    except (OSError, UnicodeDecodeError):
        pass
    snippet = f'import * as vegaNs from "/npm/vega@{version}/+esm"; window.vega = vegaNs;'
    script = vl_convert.javascript_bundle(snippet=snippet)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        encoded = script.encode("utf-8")
        for target, content in (
            (checksum, hashlib.sha256(encoded).hexdigest().encode("ascii")),
            (cached, encoded),
        ):
            fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, target)
    except OSError:
        pass  # an unwritable cache only costs time
    return script, version


def _vlc_version() -> str:
    from importlib.metadata import version

    return version("vl-convert-python")


def _template_env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("duckpond.pipeline.site", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _markdown(text: str) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")
    out: str = md.render(text)
    return out


def _static_files() -> Iterable[tuple[str, bytes]]:
    static = resources.files("duckpond.pipeline.site").joinpath("templates", "static")
    for entry in static.iterdir():
        if entry.is_file():
            yield entry.name, entry.read_bytes()


def _unique(slugs: dict[str, str], name: str) -> str:
    """The slug of ``name``, made distinct from the slugs already in ``slugs``."""
    if name in slugs:
        return slugs[name]
    taken = set(slugs.values())
    base = candidate = slug(name)
    n = 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    slugs[name] = candidate
    return candidate


def _prepare_out(out: Path) -> Path:
    """A fresh sibling folder to build into; refuses an output folder that is not a site."""
    if out.exists():
        if not out.is_dir():
            raise NotADirectoryError(20, "site output is not a directory", str(out))
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise FileExistsError(
                17, f"not a DuckPond site (no {MARKER}); refusing to replace it", str(out)
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    # mkdtemp makes the folder 0700; a site is read by a web server running as another
    # user, so it gets the mode any new folder gets here (0755 under the usual umask).
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    return tmp


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by the finished build; the old site stays whole until the rename."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def build_site(
    out: Path,
    options: SiteOptions,
    groups: Sequence[ChartGroup],
    pages: Sequence[MarkdownPage] = (),
    *,
    cache_dir: Path | None = None,
    fingerprint: str | None = None,
) -> BuildReport:
    """Build the whole site into ``out`` (a host folder), replacing an earlier build.

    Times in ``groups`` are UTC; ``options.timezone`` only changes how pages show them.
    ``fingerprint`` (see ``fingerprint``) is kept in the site's marker file: a build
    given the same one again leaves the site as it is (``BuildReport.unchanged``).
    Raises ConfigError (unknown time zone, bad resolution label), FormatError (a table
    without a timestamp column), FileExistsError (``out`` holds something that is not a
    site built here), OSError for the host folder.
    """
    from duckpond.timeparse import zone

    started = time.perf_counter()
    zone(options.timezone)  # fail on an unknown zone before writing anything
    out = Path(out)
    if fingerprint is not None and built_from(out) == fingerprint:
        return BuildReport(out=out, unchanged=True, seconds=time.perf_counter() - started)
    tmp = _prepare_out(out)
    report = BuildReport(out=out)
    try:
        _build_into(tmp, options, groups, pages, cache_dir, report)
        marker = "built by pond site build\n"
        if fingerprint is not None:
            marker += f"inputs {fingerprint}\n"
        (tmp / MARKER).write_text(marker, encoding="utf-8")
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.seconds = time.perf_counter() - started
    return report


def _build_into(
    root: Path,
    options: SiteOptions,
    groups: Sequence[ChartGroup],
    pages: Sequence[MarkdownPage],
    cache_dir: Path | None,
    report: BuildReport,
) -> None:
    traces = _traces(groups)
    chart_ids: dict[str, str] = {}
    for trace in traces:
        trace.chart_id = _unique(chart_ids, f"{trace.site}.{trace.param}")
        _write_chunks(trace, root / "data", report)
    traces = [t for t in traces if t.manifest["res"]]
    report.charts = len(traces)
    if not traces:
        # A site of no charts replaces a good one with an empty page: refuse it.
        raise ConfigError(
            "no charts to publish: no matched series has <column>.avg/.min/.max "
            "columns with data (check the charts' patterns and columns)"
        )

    assets = root / "assets"
    assets.mkdir()
    script, vega_version = vega_bundle(cache_dir)
    vega_name = f"vega-{vega_version}.js"
    (assets / vega_name).write_text(script, encoding="utf-8")
    for name, content in _static_files():
        (assets / name).write_bytes(content)
    # The asset names carry a content hash in the query so a browser never mixes builds.
    asset_tag = hashlib.sha256(b"".join(c for _, c in _static_files())).hexdigest()[:10]

    site_slugs: dict[str, str] = {}
    param_slugs: dict[str, str] = {}
    sites: dict[str, list[_Trace]] = {}
    params: dict[str, list[_Trace]] = {}
    for trace in traces:
        sites.setdefault(trace.site, []).append(trace)
        params.setdefault(trace.param, []).append(trace)
    # A parameter as people read it: its label and unit (``Temperature (C)``).
    shown = {
        p: f"{ts[0].label} ({ts[0].unit})" if ts[0].unit else ts[0].label
        for p, ts in params.items()
    }
    for name in sites:
        _unique(site_slugs, name)
    for name in params:
        _unique(param_slugs, name)

    page_list = sorted((p for p in pages if p.name != "index"), key=lambda p: (p.order, p.title))
    page_slugs: dict[str, str] = {}
    for page in page_list:
        _unique(page_slugs, page.name)
    intro = next((p for p in pages if p.name == "index"), None)

    nav = {
        "pages": [
            {"title": p.title, "href": f"pages/{page_slugs[p.name]}.html"} for p in page_list
        ],
        "sites": [{"title": s, "href": f"sites/{site_slugs[s]}.html"} for s in sites],
        "params": [{"title": shown[p], "href": f"params/{param_slugs[p]}.html"} for p in params],
    }
    env = _template_env()
    common = {
        "site_title": options.title,
        "nav": nav,
        "timezone": options.timezone,
        "bucket_zones": options.bucket_zones,
        "vega": vega_name,
        "asset_tag": asset_tag,
    }

    def render(rel: str, template: str, **context: Any) -> None:
        depth = rel.count("/")
        text = env.get_template(template).render(
            page_title=title_of(context.get("title"), options.title),
            root="../" * depth,
            current=rel,
            canonical=options.base_url.rstrip("/") + "/" + rel if options.base_url else "",
            **common,
            **context,
        )
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        report.pages += 1

    def chart_config(charts: list[_Trace], label: str) -> dict[str, Any]:
        return {
            "tz": options.timezone,
            "maxPoints": options.max_points,
            "charts": [
                dict(
                    t.manifest,
                    title=title_of(t.group, t.label if label == "param" else t.site),
                )
                for t in charts
            ],
        }

    render(
        "index.html",
        "index.html",
        title=options.title,
        intro=_markdown(intro.body) if intro else "",
        sites=[
            {
                "name": s,
                "href": f"sites/{site_slugs[s]}.html",
                "params": [
                    {"name": shown[t.param], "href": f"params/{param_slugs[t.param]}.html"}
                    for t in ts
                ],
                "start": _local(min(t.manifest["start"] for t in ts), options.timezone),
                "end": _local(max(t.manifest["end"] for t in ts), options.timezone),
            }
            for s, ts in sites.items()
        ],
        params=[
            {"name": shown[p], "href": f"params/{param_slugs[p]}.html", "count": len(ts)}
            for p, ts in params.items()
        ],
    )
    for name, charts in sites.items():
        render(
            f"sites/{site_slugs[name]}.html",
            "charts.html",
            title=name,
            subtitle="Every parameter measured at " + name,
            sources=sorted({t.source for t in charts}),
            config=chart_config(charts, "param"),
        )
    for name, charts in params.items():
        render(
            f"params/{param_slugs[name]}.html",
            "charts.html",
            title=shown[name],
            subtitle=f"{shown[name]} at every site",
            sources=sorted({t.source for t in charts}),
            config=chart_config(charts, "site"),
        )
    for page in page_list:
        render(
            f"pages/{page_slugs[page.name]}.html",
            "page.html",
            title=page.title,
            body=_markdown(page.body),
        )


def built_from(out: Path) -> str | None:
    """The fingerprint of the inputs the site in ``out`` was built from, if it says."""
    try:
        text = (out / MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(r"^inputs ([0-9a-f]{64})$", text, flags=re.MULTILINE)
    return found[1] if found else None


def fingerprint(
    options: SiteOptions, groups: Sequence[ChartGroup], pages: Sequence[MarkdownPage]
) -> str:
    """A hash of everything a build reads: the options, every table (as Arrow IPC), the
    pages, and this code's templates and assets.  Equal fingerprints, equal sites."""
    import pyarrow as pa

    digest = hashlib.sha256()

    def add(text: str) -> None:
        digest.update(text.encode() + b"\0")

    add(repr(options))
    for group in groups:
        add(repr((group.title, tuple(group.columns), group.group_by, group.site_label)))
        add(repr(sorted((k, v.label, v.unit) for k, v in group.labels.items())))
        for series in group.series:
            add(f"{series.name}\0{series.path}")
            for label, table in sorted(series.resolutions.items()):
                add(label)
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                digest.update(sink.getvalue())
    for page in pages:
        add(repr((page.name, page.title, page.order, page.body)))
    templates = resources.files("duckpond.pipeline.site").joinpath("templates")
    for entry in sorted(templates.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            add(entry.name)
            digest.update(entry.read_bytes())
    for name, content in _static_files():
        add(name)
        digest.update(content)
    return digest.hexdigest()


def _local(ms: int, tz: str) -> str:
    """An instant (ms since the epoch) as wall-clock time in the site's zone, with its name."""
    from duckpond.timeparse import from_micros, zone

    return from_micros(ms * 1000).astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M %Z")
