"""The built site in headless Chromium, served over HTTP under a base URL and from file://."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pyarrow as pa
import pytest

from duckpond.pipeline.site import MAX_POINTS, BuildReport, parse_resolution

from .conftest import artifacts_dir
from .data import END, RESOLUTIONS, reduce_table

pytestmark = pytest.mark.slow

END_MS = int(END.timestamp() * 1000)


@pytest.fixture(params=["http", "file"])
def base(request: pytest.FixtureRequest, site_dir: tuple[Path, BuildReport]) -> str:
    """The site's index URL, over HTTP under /noyo/ or straight from disk."""
    if request.param == "http":
        url: str = request.getfixturevalue("http_base")
        return url + "index.html"
    return site_dir[0].joinpath("index.html").as_uri()


def wait_for(driver: Any, script: str, timeout: float = 20.0) -> Any:
    """Poll a JavaScript expression until it is truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.execute_script("return " + script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {script!r} (last value {value!r})")


def charts_ready(driver: Any) -> None:
    """Every chart on the page drawn; an error state fails at once."""
    wait_for(
        driver,
        "Array.from(document.querySelectorAll('.chart')).every("
        "c => c.dataset.state === 'ready' || c.dataset.state === 'error')",
    )
    states = driver.execute_script(
        "return Array.from(document.querySelectorAll('.chart')).map("
        "c => [c.id, c.dataset.state, c.querySelector('.status').textContent])"
    )
    assert all(state == "ready" for _, state, _ in states), states


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_every_page_linked_from_the_index_loads_without_console_errors(
    browser: Any, base: str
) -> None:
    browser.get(base)
    console_errors(browser)  # drop what earlier tests left
    assert browser.title.startswith("Test waters")
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('main a, nav a')).map(a => a.href)"
    )
    pages = sorted(set(links))
    # index, the About page, two sites, two parameters
    assert len(pages) == 6, pages
    for url in pages:
        browser.get(url)
        assert browser.execute_script("return document.readyState") == "complete"
        assert browser.find_element("css selector", "h1").text, url
        charts_ready(browser)
        assert console_errors(browser) == [], url
    browser.get(urljoin(base, "pages/about.html"))
    assert browser.find_element("css selector", "article table").text.startswith("site")


def expected_rows(res: str, x0: int, x1: int) -> pa.Table:
    """The test data's rows at ``res`` between two UTC instants (ms, both inclusive)."""
    import pyarrow.compute as pc

    table = reduce_table(res, {"Temperature.C": 12.0, "Salinity.psu": 30.0})
    ms = pc.cast(pc.cast(table["timestamp"], pa.timestamp("ms", "UTC")), pa.int64())
    mask = pc.and_(pc.greater_equal(ms, x0), pc.less_equal(ms, x1))
    return table.filter(mask)


def shoot(driver: Any, chart_id: str, name: str) -> Path:
    """Save a screenshot of one chart (scrolled into view) among the test artifacts."""
    element = driver.find_element("css selector", f"#{chart_id}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    path = artifacts_dir() / name
    element.screenshot(str(path))
    return path


def chart_state(driver: Any, chart_id: str) -> dict[str, Any]:
    state: dict[str, Any] = driver.execute_script(
        "const c = document.getElementById(arguments[0]);"
        "return {state: c.dataset.state, res: c.dataset.resolution,"
        " points: +c.dataset.points, x0: +c.dataset.x0, x1: +c.dataset.x1};",
        chart_id,
    )
    return state


def click_range(driver: Any, chart_id: str, name: str) -> dict[str, Any]:
    driver.execute_script(
        "const c = document.getElementById(arguments[0]); c.dataset.state = 'clicked';"
        "c.querySelector('[data-range=\"' + arguments[1] + '\"]').click();",
        chart_id,
        name,
    )
    wait_for(driver, f"document.getElementById('{chart_id}').dataset.state === 'ready'")
    return chart_state(driver, chart_id)


def test_range_buttons_pick_the_resolution_and_points_of_the_view(browser: Any, base: str) -> None:
    browser.get(urljoin(base, "sites/north.html"))
    charts_ready(browser)
    chart = "north-temperature-c"

    week = click_range(browser, chart, "1w")
    assert week["x1"] == END_MS
    assert week["x1"] - week["x0"] == 7 * 86_400_000
    assert week["res"] == "1h"
    # 169 hourly buckets in the closed week, less the 36 h gap of the test data
    assert week["points"] == expected_rows("1h", week["x0"], week["x1"]).num_rows == 133
    gap_rows = browser.execute_script(
        "return DuckPond.charts.find(c => c.m.id === arguments[0]).rows"
        ".filter(r => r.a === null).length",
        chart,
    )
    assert gap_rows == 1, "the missing buckets must break the line once"
    shoot(browser, chart, f"chart-week-{base[:4]}.png")

    everything = click_range(browser, chart, "all")
    span_ms = everything["x1"] - everything["x0"]
    width = browser.execute_script(
        "return DuckPond.charts.find(c => c.m.id === arguments[0]).view.width()", chart
    )
    # The finest resolution with at most one point per pixel: a year of a daily cycle
    # is drawn daily, not as a solid comb of 6-hourly buckets.
    limit = min(MAX_POINTS, width)
    finest = next(r for r in RESOLUTIONS if span_ms / parse_resolution(r) <= limit)
    assert everything["res"] == finest == "1d"
    assert everything["points"] == expected_rows("1d", everything["x0"], everything["x1"]).num_rows
    assert everything["points"] <= width

    year = click_range(browser, chart, "1y")
    assert year["res"] == "1d"
    assert year["points"] == expected_rows("1d", year["x0"], year["x1"]).num_rows

    day = click_range(browser, chart, "1d")
    assert (day["res"], day["points"]) == ("1h", 25)
    assert console_errors(browser) == []


def test_zoom_buttons_change_the_view_and_its_resolution(browser: Any, base: str) -> None:
    browser.get(urljoin(base, "sites/north.html"))
    charts_ready(browser)
    chart = "north-temperature-c"
    click_range(browser, chart, "1m")
    before = chart_state(browser, chart)
    for _ in range(2):
        browser.execute_script(
            "const c = document.getElementById(arguments[0]); c.dataset.state = 'clicked';"
            "c.querySelector('[data-zoom=\"out\"]').click();",
            chart,
        )
        wait_for(browser, f"document.getElementById('{chart}').dataset.state === 'ready'")
    after = chart_state(browser, chart)
    # 30 days of hours (720) fit in MAX_POINTS; 120 days (2,880) do not: 6-hourly then.
    assert after["x1"] - after["x0"] == pytest.approx(4 * (before["x1"] - before["x0"]), rel=1e-6)
    assert (before["res"], after["res"]) == ("1h", "6h")
    assert after["points"] == expected_rows("6h", after["x0"], after["x1"]).num_rows


def test_dragging_pans_the_view(browser: Any, base: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(urljoin(base, "sites/north.html"))
    charts_ready(browser)
    chart = "north-temperature-c"
    before = click_range(browser, chart, "1w")
    canvas = browser.find_element("css selector", f"#{chart} .vis canvas")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    browser.execute_script(f"document.getElementById('{chart}').dataset.state = 'dragged'")
    ActionChains(browser).click_and_hold(canvas).move_by_offset(200, 0).release().perform()
    wait_for(browser, f"document.getElementById('{chart}').dataset.state === 'ready'")
    after = chart_state(browser, chart)
    # Dragging right shows earlier times; the span and so the resolution stay.
    assert after["x0"] < before["x0"]
    assert after["x1"] - after["x0"] == pytest.approx(before["x1"] - before["x0"], rel=1e-6)
    assert after["res"] == "1h"
    assert after["points"] == expected_rows("1h", after["x0"], after["x1"]).num_rows


def test_hover_reads_out_time_and_value_in_the_site_time_zone(browser: Any, base: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(urljoin(base, "sites/north.html"))
    charts_ready(browser)
    chart = "north-temperature-c"
    click_range(browser, chart, "1d")
    vis = browser.find_element("css selector", f"#{chart} .vis canvas")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", vis)
    ActionChains(browser).move_to_element(vis).perform()
    text = wait_for(
        browser,
        f"document.querySelector('#{chart} .readout').textContent.includes('Temperature')"
        f" && document.querySelector('#{chart} .readout').textContent",
    )
    # The test zone is America/Los_Angeles: PDT in July.
    assert "PDT" in text, text
    assert "min" in text and "max" in text, text
    shoot(browser, chart, f"chart-hover-{base[:4]}.png")


def test_csv_download_holds_what_is_shown(browser: Any, base: str, tmp_path: Path) -> None:
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.get(urljoin(base, "sites/north.html"))
    charts_ready(browser)
    chart = "north-salinity-psu"
    shown = click_range(browser, chart, "1w")
    browser.find_element("css selector", f"#{chart} [data-csv]").click()
    deadline = time.monotonic() + 10
    files: list[Path] = []
    while time.monotonic() < deadline:
        files = [p for p in tmp_path.glob("*.csv")]
        if files:
            break
        time.sleep(0.1)
    assert [f.name for f in files] == ["north-salinity-psu-1h.csv"]
    rows = list(csv.DictReader(io.StringIO(files[0].read_text())))
    assert len(rows) == shown["points"] == 133
    want = expected_rows("1h", shown["x0"], shown["x1"])
    first, last = rows[0], rows[-1]
    assert first["timestamp"] == "2025-07-08T00:00:00.000Z"
    assert last["timestamp"] == "2025-07-15T00:00:00.000Z"
    assert last["local_time"].startswith("2025-07-14 17:00")
    assert float(first["Salinity.psu.avg"]) == pytest.approx(
        want["Salinity.psu.avg"][0].as_py(), rel=1e-5
    )
    assert float(last["Salinity.psu.max"]) == pytest.approx(
        want["Salinity.psu.max"][-1].as_py(), rel=1e-5
    )
    times = [r["timestamp"] for r in rows]
    assert "2025-07-10T12:00:00.000Z" not in times  # inside the gap


def test_phone_width_shows_the_menu_button_and_a_chart(browser: Any, base: str) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(urljoin(base, "params/temperature-c.html"))
        charts_ready(browser)
        # 400 days in some 300 pixels: daily buckets, not 6-hourly ones.
        assert (
            browser.execute_script("return document.querySelector('.chart').dataset.resolution")
            == "1d"
        )
        nav = browser.find_element("css selector", "#nav")
        assert not nav.is_displayed()
        browser.find_element("css selector", ".menu-toggle").click()
        assert nav.is_displayed()
        browser.find_element("css selector", ".menu-toggle").click()
        width = browser.execute_script(
            "return document.querySelector('.chart canvas').getBoundingClientRect().width"
        )
        assert 300 <= width <= 390
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth"
        )
        assert not overflow, "the page must not scroll sideways on a phone"
        browser.save_screenshot(str(artifacts_dir() / f"phone-{base[:4]}.png"))
    finally:
        browser.set_window_size(1280, 900)


def test_screenshots_are_kept(
    browser: Any, http_base: str, capsys: pytest.CaptureFixture[str]
) -> None:
    browser.get(http_base + "sites/north.html")
    charts_ready(browser)
    click_range(browser, "north-temperature-c", "1m")
    path = shoot(browser, "north-temperature-c", "site-chart.png")
    browser.get(http_base + "index.html")
    browser.save_screenshot(str(artifacts_dir() / "index.png"))
    with capsys.disabled():
        print(f"\nsite screenshots in {artifacts_dir()}")
    assert path.stat().st_size > 10_000
