"""Fixtures for the site tests: a built site, a static HTTP server, headless Chromium.

Chromium and its driver come from Debian's packages (``chromium``, ``chromium-driver``).
When they are missing and this runs as root with apt-get, the set-up installs them once;
otherwise the browser tests skip and say why. Screenshots go to ``$PYTEST_ARTIFACTS`` or
``tests/site/artifacts/`` (ignored by git); the path is printed in the test summary.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from duckpond.pipeline.site import (
    BuildReport,
    ChartGroup,
    SiteOptions,
    build_site,
    read_markdown_page,
)

from ..cli.conftest import (  # noqa: F401 (fixtures for test_kind)
    PondRunner,
    _no_pond_env,
    host,
    pond,
    pond_dir,
)
from .data import series

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TIMEZONE = "America/Los_Angeles"
ABOUT = """---
title: About these waters
order: 1
---
# About these waters

Readings every hour from two *test* sites.

| site | depth |
|---|---|
| North | 2 m |
"""


def artifacts_dir() -> Path:
    """Where screenshots and downloads are kept after the run."""
    path = Path(os.environ.get("PYTEST_ARTIFACTS") or Path(__file__).parent / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _install_chromium() -> str | None:
    """Install Debian's chromium where possible; the reason it is unavailable otherwise."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return None
    if shutil.which("apt-get") is None:
        return "chromium is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return "chromium is not installed (apt-get install chromium chromium-driver needs root)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return f"installing chromium failed: {' '.join(cmd)}: {done.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def chromium_ready(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Chromium and chromium-driver present, installed once per run under a file lock."""
    import fcntl

    # xdist workers share the base temp's parent: one installs while the others wait.
    lock = tmp_path_factory.getbasetemp().parent / "chromium-install.lock"
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        reason = _install_chromium()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildReport]:
    """A site of two sites (North: two parameters, South: one), hourly/6-hourly/daily."""
    out = tmp_path_factory.mktemp("site") / "www"
    groups = [
        ChartGroup(
            series=[
                series("North", {"Temperature.C": 12.0, "Salinity.psu": 30.0}),
                series("South", {"Temperature.C": 15.0}),
            ],
            title="Water",
        )
    ]
    pages = [
        read_markdown_page("about", ABOUT),
        read_markdown_page("index", "Welcome to **the test waters**."),
    ]
    # One Vega bundle cache for every xdist worker of this run (making it takes seconds).
    cache = tmp_path_factory.getbasetemp().parent / "vega-cache"
    options = SiteOptions(title="Test waters", timezone=TIMEZONE)
    report = build_site(out, options, groups, pages, cache_dir=cache)
    return out, report


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def http_base(site_dir: tuple[Path, BuildReport]) -> Iterator[str]:
    """The site served by Python's http.server on 127.0.0.1 under the base URL /noyo/."""
    root = site_dir[0].parent
    (root / "noyo").symlink_to(site_dir[0], target_is_directory=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/noyo/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser(chromium_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium (Selenium) for the session, with its console log recorded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
