"""A Site says the zone its data's buckets are in (issue 20): days a Reduce counts in
New York are shown in New York time unless the Site names another zone, and then the
page says where the days were counted.  Looked at in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import duckpond

from .conftest import PondRunner, artifacts_dir
from .test_browser import charts_ready, click_range, wait_for

HOUR_US = 3_600_000_000
DAYS = 120
START_US = 1_704_067_200_000_000  # 2024-01-01T00:00Z


def pipeline(path: Path, out: Path, **site: str) -> Path:
    reduce = {
        "in_pattern": "/raw/harbor.series",
        "resolutions": ["1h", "1d"],
        "timezone": "America/New_York",
    }
    docs = [
        {"apiVersion": "duckpond/v1", "kind": "Reduce", "name": "down", "spec": reduce},
        {
            "apiVersion": "duckpond/v1",
            "kind": "Site",
            "name": "public",
            "spec": {"title": "Harbor", "out": str(out), "charts": [{"pattern": "/reduce/down"}]}
            | site,
        },
    ]
    path.write_text("\n---\n".join(json.dumps(d) for d in docs))  # JSON is YAML
    return path


@pytest.fixture
def built(pond: PondRunner, pond_dir: Path, host: Path, tmp_path: Path) -> Path:
    """120 days of hourly readings, reduced to New York days, published by a Site that
    names no zone."""
    hours = pa.array(range(DAYS * 24), pa.int64())
    table = pa.table(
        {
            "timestamp": pa.array([START_US + h * HOUR_US for h in range(DAYS * 24)]).cast(
                pa.timestamp("us", "UTC")
            ),
            "temp": pa.array([10.0 + (h % 24) / 4 for h in hours.to_pylist()]),
        }
    )
    with duckpond.Pond.open(pond_dir) as p, p.transaction() as tx:
        tx.mkdir("/raw")
        tx.write_series("/raw/harbor.series", table)
    out = host / "www"
    pond.ok("apply", "-f", str(pipeline(tmp_path / "p.yaml", out)))
    [result] = pond.json("run", "public")["results"]
    assert result["outcome"] == "ok", result
    return out


def subtitle(out: Path) -> str:
    text = (out / "sites" / "down.html").read_text()
    start = text.index('<p class="subtitle">')
    return text[start : text.index("</p>", start)]


def test_the_site_shows_times_in_the_zone_its_days_are_counted_in(built: Path) -> None:
    assert "Times in America/New_York." in subtitle(built)
    assert "UTC" not in subtitle(built)
    # The index's range of readings, in that zone too (00:00Z is 19:00 the day before).
    assert "2023-12-31 19:00 EST" in (built / "index.html").read_text()


def test_a_site_zone_unlike_the_buckets_says_where_days_were_counted(
    pond: PondRunner, built: Path, tmp_path: Path
) -> None:
    pond.ok("apply", "-f", str(pipeline(tmp_path / "p.yaml", built, timezone="UTC")))
    [result] = pond.json("run", "public")["results"]
    assert result["outcome"] == "ok", result
    assert "Times in UTC (days, weeks and months counted in America/New_York)." in subtitle(built)


@pytest.mark.slow
def test_in_the_browser_a_daily_bucket_starts_at_local_midnight(browser: Any, built: Path) -> None:
    browser.get((built / "sites" / "down.html").as_uri())
    charts_ready(browser)
    shown = browser.find_element("css selector", ".subtitle").text
    assert "Times in America/New_York." in shown
    chart = browser.execute_script("return DuckPond.charts[0].m.id")
    # The whole of four months is drawn in daily buckets; read out the first whole one.
    state = click_range(browser, chart, "all")
    assert state["res"] == "1d", state
    browser.execute_script(
        "DuckPond.charts[0].readout(1704085200000);"  # 2024-01-01T05:00Z: New York's midnight
    )
    text = wait_for(
        browser,
        f"document.querySelector('#{chart} .readout').textContent.includes('EST')"
        f" && document.querySelector('#{chart} .readout').textContent",
    )
    assert text.startswith("2024-01-01 00:00 EST"), text
    browser.save_screenshot(str(artifacts_dir() / "site-times-in-bucket-zone.png"))
