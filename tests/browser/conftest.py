"""Browser tests drive Debian's Chromium (/usr/bin/chromium) through Playwright; screenshots
of each state go to tests/browser/screenshots/ for a person to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = "browser tests need Chromium: apt-get install chromium (.ci/run does)"
        if os.environ.get("LEDGER_TEST_REQUIRE_BROWSER"):  # CI: a missing browser is a failure
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield context
        finally:
            context.close()


def only_the_app(page: Any, port: int) -> list[str]:
    """Let ``page`` reach only the app on 127.0.0.1:``port``; every other request is aborted
    (what a machine without internet would see) and its URL collected in the list returned."""
    elsewhere: list[str] = []

    def route(request_route: Any) -> None:
        if urlparse(request_route.request.url).netloc == f"127.0.0.1:{port}":
            request_route.continue_()
        else:
            elsewhere.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    return elsewhere


# Figures a browser test reports with ``record_property("browser_figure", text)``: printed at the
# end of the run, also when the tests ran in xdist workers (whose own output is not shown).
_FIGURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _FIGURES.extend(value for name, value in report.user_properties if name == "browser_figure")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("browser figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
