"""The site generator without a browser: pages, data chunks, Markdown, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from duckpond.errors import ConfigError, FormatError
from duckpond.pipeline.site import (
    CHUNK_POINTS,
    ChartGroup,
    SeriesData,
    SiteOptions,
    build_site,
    parse_resolution,
    read_markdown_page,
)

from .data import reduce_table, series


def small_groups() -> list[ChartGroup]:
    return [ChartGroup(series=[series("North", {"Temperature.C": 12.0}, days=30)])]


def load_chunk(path: Path) -> dict[str, object]:
    match = re.fullmatch(r'DuckPond\.data\("([^"]+)","([^"]+)",(-?\d+),(.*)\);\n', path.read_text())
    assert match, path
    payload: dict[str, object] = json.loads(match.group(4))
    return payload


def test_pages_link_only_inside_the_site(site_dir: tuple[Path, object]) -> None:
    out = site_dir[0]
    html = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert html == [
        "index.html",
        "pages/about.html",
        "params/salinity-psu.html",
        "params/temperature-c.html",
        "sites/north.html",
        "sites/south.html",
    ]
    for page in out.rglob("*.html"):
        text = page.read_text()
        # Relative links only: the site works under any base URL and from file://.
        assert not re.search(r'(src|href)="(https?:)?//', text), page
        assert not re.search(r'(src|href)="/', text), page
    index = (out / "index.html").read_text()
    assert "Welcome to <strong>the test waters</strong>." in index
    assert 'href="sites/north.html"' in index and 'href="params/salinity-psu.html"' in index
    about = (out / "pages/about.html").read_text()
    assert "<td>North</td>" in about and "<em>test</em>" in about
    assert "About these waters" in (out / "sites/south.html").read_text()  # the menu


def test_each_resolution_is_cut_into_epoch_aligned_chunks(site_dir: tuple[Path, object]) -> None:
    out = site_dir[0]
    table = reduce_table("1h", {"Temperature.C": 12.0})
    files = sorted((out / "data/north-temperature-c/1h").glob("*.js"), key=lambda p: int(p.stem))
    span_ms = parse_resolution("1h") * CHUNK_POINTS
    times: list[int] = []
    averages: list[float | None] = []
    for path in files:
        chunk = load_chunk(path)
        assert chunk["t0"] == int(path.stem) * span_ms
        offsets = chunk["s"]
        assert isinstance(offsets, list) and 0 < len(offsets) <= CHUNK_POINTS
        times += [chunk["t0"] + o * chunk["u"] for o in offsets]  # type: ignore[operator]
        averages += chunk["a"]  # type: ignore[arg-type]
    want = [t // 1000 for t in table["timestamp"].cast(pa.int64()).to_pylist()]
    assert times == want
    assert averages == pytest.approx(table["Temperature.C.avg"].to_pylist(), rel=1e-5)


def test_a_rebuild_replaces_the_site_and_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "www"
    build_site(out, SiteOptions(title="One"), small_groups())
    (out / "stale.html").write_text("old")
    report = build_site(out, SiteOptions(title="Two"), small_groups())
    assert not (out / "stale.html").exists()
    assert "<title>Two</title>" in (out / "index.html").read_text()
    assert report.charts == 1 and report.pages == 3 and report.data_files > 0

    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a DuckPond site"):
        build_site(foreign, SiteOptions(title="x"), small_groups())
    assert (foreign / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "www"]  # no build left over


def test_bad_settings_and_inputs_fail_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "www"
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        build_site(out, SiteOptions(title="x", timezone="Mars/Olympus"), small_groups())
    table = reduce_table("1h", {"T": 1.0}, days=2)
    bad_res = ChartGroup(series=[SeriesData("A", "/a", {"hourly": table})])
    with pytest.raises(ConfigError, match="'hourly'"):
        build_site(out, SiteOptions(title="x"), [bad_res])
    no_time = ChartGroup(series=[SeriesData("A", "/a", {"1h": table.drop_columns(["timestamp"])})])
    with pytest.raises(FormatError, match="no timestamp column"):
        build_site(out, SiteOptions(title="x"), [no_time])
    assert list(tmp_path.iterdir()) == []


def test_group_by_scope_takes_sites_from_column_prefixes(tmp_path: Path) -> None:
    # A Join's columns: <scope>.<parameter>.<aggregate>
    bdock = reduce_table("1d", {"Temperature.C": 9.0, "Depth.m": 2.0}, days=10, prefix="BDock.")
    pier = reduce_table("1d", {"Temperature.C": 11.0}, days=10, prefix="Pier.")
    joined = bdock
    for name in pier.column_names[1:]:
        joined = joined.append_column(name, pier[name])
    group = ChartGroup(
        series=[SeriesData("bdock", "/reduce/bdock", {"1d": joined})],
        group_by="scope",
        columns=["Temp*"],
    )
    report = build_site(tmp_path / "www", SiteOptions(title="Join"), [group])
    assert report.charts == 2
    assert sorted(p.name for p in (tmp_path / "www/sites").iterdir()) == ["bdock.html", "pier.html"]
    assert [p.name for p in (tmp_path / "www/params").iterdir()] == ["temperature-c.html"]


def test_markdown_front_matter() -> None:
    page = read_markdown_page("notes", "---\ntitle: Field notes\norder: 2\n---\nBody *here*.\n")
    assert (page.title, page.order, page.body) == ("Field notes", 2.0, "Body *here*.\n")
    assert read_markdown_page("plain", "# Heading\n\ntext").title == "Heading"
    with pytest.raises(FormatError, match="notes: front matter must be a mapping"):
        read_markdown_page("notes", "---\n- a list\n---\nbody")
    with pytest.raises(FormatError, match="'order' must be a number"):
        read_markdown_page("notes", "---\norder: first\n---\nbody")


@pytest.mark.parametrize(
    ("label", "ms"),
    [
        ("15m", 900_000),
        ("1h", 3_600_000),
        ("res=6h.series", 21_600_000),
        # Calendar units by their mean length: for choosing a view's resolution only.
        ("res=1mo.series", 2_629_746_000),
        ("1y", 31_556_952_000),
    ],
)
def test_resolution_labels(label: str, ms: int) -> None:
    assert parse_resolution(label) == ms


def test_the_site_folder_is_readable_by_a_web_server(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = tmp_path / "www"
        build_site(out, SiteOptions(title="Modes"), small_groups())
    finally:
        os.umask(old)
    mode = stat.S_IMODE(out.stat().st_mode)
    assert mode == 0o755, oct(mode)


def chart_titles(page: Path) -> list[str]:
    found = re.search(r'DuckPond\.init\("[^"]*", (.*)\);</script>', page.read_text())
    assert found, page
    return [chart["title"] for chart in json.loads(found.group(1))["charts"]]


def test_titles_do_not_repeat_words(tmp_path: Path) -> None:
    """A chart "Rain" of the column "Rain" at the site "Rain" reads "Rain" once."""
    out = tmp_path / "www"
    group = ChartGroup(series=[series("Rain", {"Rain": 1.0}, days=3)], title="Rain")
    build_site(out, SiteOptions(title="Rain gauges"), [group])
    for page in ("sites/rain.html", "params/rain.html"):
        assert chart_titles(out / page) == ["Rain"], page
        assert "<title>Rain gauges</title>" in (out / page).read_text(), page
    other = ChartGroup(series=[series("North", {"Rain": 1.0}, days=3)], title="Rain gauge")
    build_site(out, SiteOptions(title="Weather"), [other])
    assert chart_titles(out / "params/rain.html") == ["Rain gauge · North"]
    assert chart_titles(out / "sites/north.html") == ["Rain gauge"]
    assert "<title>North · Weather</title>" in (out / "sites/north.html").read_text()
