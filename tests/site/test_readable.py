"""The site a person reads (issue 20): units and labels, a legend, rain as bars of totals,
and a year of a daily cycle drawn daily.  Built from a real Reduce of a year of hourly
weather readings; looked at in headless Chromium, with screenshots kept."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from duckpond.pipeline.site import ChartGroup, SeriesData, SiteOptions, build_site
from duckpond.pipeline.site.build import ColumnLabel, column_label, site_name
from duckpond.pipeline.timeseries import Aggregation, ReduceConfig, outputs, reduce_full

from .conftest import artifacts_dir
from .test_browser import charts_ready, click_range, console_errors, shoot, wait_for

HOUR_US = 3_600_000_000
START_US = 1_704_067_200_000_000  # 2024-01-01T00:00Z


def weather_year() -> pa.Table:
    """Hourly readings for 2024 at a made-up station: irradiance (zero at night), air
    temperature with a daily and a seasonal swing, and rain on some afternoons."""
    hours = np.arange(366 * 24)
    rng = np.random.default_rng(20)
    day_of_year = hours / 24
    local_hour = (hours - 5) % 24  # UTC-5
    sun = np.clip(np.sin((local_hour - 6) / 12 * math.pi), 0, None)
    season = 0.6 + 0.4 * np.sin(2 * math.pi * (day_of_year - 80) / 366)
    ghi = 1000 * sun * season * rng.uniform(0.6, 1.0, hours.size)
    temp = 12 + 10 * np.sin(2 * math.pi * (day_of_year - 110) / 366) + 5 * sun
    temp += rng.normal(0, 0.5, hours.size)
    rain = np.where(
        (rng.random(hours.size) < 0.04) & (local_hour > 12), rng.gamma(1.2, 2.0, hours.size), 0
    )
    return pa.table(
        {
            "timestamp": pa.array(START_US + hours * HOUR_US).cast(pa.timestamp("us", "UTC")),
            "GHI (W/m^2)": pa.array(ghi),
            "AirTemp.C": pa.array(temp),
            "Rain_mm": pa.array(np.round(rain, 2)),
        }
    )


@pytest.fixture(scope="module")
def readable_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = ReduceConfig.parse(
        ["1h", "6h", "1d"],
        [
            Aggregation("avg", ("GHI*", "AirTemp*")),
            Aggregation("min", ("GHI*", "AirTemp*")),
            Aggregation("max", ("GHI*", "AirTemp*")),
            Aggregation("sum", ("Rain*",)),
        ],
    )
    tables = {
        name.removeprefix("res=").removesuffix(".series"): t
        for name, t in outputs(reduce_full(config, weather_year())).items()
    }
    series = SeriesData("greensboro.csv", "/reduce/weather/greensboro.csv", tables)
    group = ChartGroup(
        series=[series],
        labels={"Rain_mm": ColumnLabel(label="Rain", unit="mm")},
        site_label="Station {name}",
    )
    out = tmp_path_factory.mktemp("readable") / "www"
    cache = tmp_path_factory.getbasetemp().parent / "vega-cache"
    build_site(
        out, SiteOptions(title="Weather", timezone="America/New_York"), [group], [], cache_dir=cache
    )
    return out


def test_labels_units_and_site_names() -> None:
    assert column_label("Temperature.C") == ("Temperature", "C")
    assert column_label("BDock.Temperature.C") == ("BDock.Temperature", "C")
    assert column_label("GHI (W/m^2)") == ("GHI", "W/m^2")
    assert column_label("Rain_mm") == ("Rain_mm", None)
    assert column_label("Rain_mm", {"Rain*": ColumnLabel("Rain", "mm")}) == ("Rain", "mm")
    assert site_name("north.series") == "north" and site_name("b.csv") == "b"


def test_index_names_the_station_and_the_range_of_readings(readable_site: Path) -> None:
    index = (readable_site / "index.html").read_text()
    assert "Station greensboro" in index and "greensboro.csv" not in index.split("<main>")[1]
    assert "<title>Weather</title>" in index
    # The first and last hourly readings (local time), not the daily buckets' edges.
    assert "2023-12-31 19:00 EST – 2024-12-31 18:00 EST" in index
    assert "Air Temp" not in index and "AirTemp (C)" in index and "Rain (mm)" in index


def canvas_pixels(driver: Any, chart_id: str, rgb: tuple[int, int, int], tol: int = 24) -> int:
    """How many pixels of the chart's canvas are within ``tol`` of a colour."""
    count: int = driver.execute_script(
        "const c = document.querySelector('#' + arguments[0] + ' canvas');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) {"
        " if (d[i+3] > 0 && Math.abs(d[i]-arguments[1]) <= arguments[4] &&"
        " Math.abs(d[i+1]-arguments[2]) <= arguments[4] &&"
        " Math.abs(d[i+2]-arguments[3]) <= arguments[4]) n++; }"
        "return n;",
        chart_id,
        *rgb,
        tol,
    )
    return count


@pytest.mark.slow
def test_a_year_of_a_daily_cycle_is_drawn_daily_with_a_visible_band(
    browser: Any, readable_site: Path
) -> None:
    browser.get((readable_site / "sites" / "station-greensboro.html").as_uri())
    charts_ready(browser)
    chart = "station-greensboro-ghi-w-m-2"
    state = click_range(browser, chart, "all")
    assert state["res"] == "1d" and 360 <= state["points"] <= 367
    title = browser.find_element("css selector", f"#{chart} h2").text
    assert title == "GHI"
    legend = browser.find_element("css selector", f"#{chart} .legend").text
    assert legend == "average per 1d minimum to maximum per 1d"
    # The min-max band is there and can be told from the page: its colour covers a
    # good part of the plot (the daily range of irradiance is wide).
    band = canvas_pixels(browser, chart, (0xC6, 0xDB, 0xEF), tol=30)
    assert band > 5_000, band
    shoot(browser, chart, "readable-ghi-year-all.png")
    # A week shows the daily cycle itself, hourly.
    assert click_range(browser, chart, "1w")["res"] == "1h"
    shoot(browser, chart, "readable-ghi-week.png")
    assert console_errors(browser) == []


@pytest.mark.slow
def test_a_labelled_chart_with_units_and_a_legend(browser: Any, readable_site: Path) -> None:
    browser.get((readable_site / "sites" / "station-greensboro.html").as_uri())
    charts_ready(browser)
    chart = "station-greensboro-airtemp-c"
    click_range(browser, chart, "1m")
    assert browser.find_element("css selector", f"#{chart} h2").text == "AirTemp"
    axis_title = browser.execute_script(
        "return DuckPond.charts.find(c => c.m.id === arguments[0]).m.unit", chart
    )
    assert axis_title == "C"
    legend = browser.find_element("css selector", f"#{chart} .legend").text
    assert legend.startswith("average per ") and "minimum to maximum" in legend
    shoot(browser, chart, "readable-temperature-month.png")


@pytest.mark.slow
def test_rain_is_drawn_as_bars_of_totals(browser: Any, readable_site: Path) -> None:
    browser.get((readable_site / "sites" / "station-greensboro.html").as_uri())
    charts_ready(browser)
    chart = "station-greensboro-rain-mm"
    state = click_range(browser, chart, "1m")
    # Bars a few pixels wide at least: a month of rain in 6-hourly totals.
    assert state["res"] == "6h"
    legend = browser.find_element("css selector", f"#{chart} .legend").text
    assert legend == f"total per {state['res']}"
    # Bars, in the bar colour; no line or band colours.
    assert canvas_pixels(browser, chart, (0x2F, 0x6F, 0xA7), tol=6) > 200
    assert canvas_pixels(browser, chart, (0xC6, 0xDB, 0xEF), tol=10) == 0
    # The totals shown are the Reduce's sums.
    shown = browser.execute_script(
        "return DuckPond.charts.find(c => c.m.id === arguments[0]).visible"
        ".reduce((s, r) => s + (r.a || 0), 0)",
        chart,
    )
    assert shown > 0
    browser.execute_script(
        "const c = DuckPond.charts.find(c => c.m.id === arguments[0]);"
        "c.readout(c.visible.find(r => r.a > 0).x);",
        chart,
    )
    wait_for(browser, f"document.querySelector('#{chart} .readout').textContent.includes('total')")
    assert " mm" in browser.find_element("css selector", f"#{chart} .readout").text
    shoot(browser, chart, "readable-rain-month.png")
    assert console_errors(browser) == []
    assert artifacts_dir().is_dir()
