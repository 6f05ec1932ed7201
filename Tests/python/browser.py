"""A real headless browser for the dashboard tests: Debian's chromium driven through chromedriver
by selenium (both installed by ``make test-python``; nothing is downloaded at test time).

Screenshots go to ``test-artifacts/dashboard/`` under the repository (or ``$SINTER_ARTIFACTS``),
kept after the run for people and CI to look at.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SINTER_ARTIFACTS", REPO / "test-artifacts")) / "dashboard"


def _find(names: list[str]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def make_driver() -> webdriver.Chrome:
    """Headless chromium at 1500×1000 on the system's chromedriver; fails with what to install."""
    chromium = _find(["chromium", "chromium-browser"])
    driver = _find(["chromedriver"]) or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    if not chromium or not driver:
        pytest.fail("chromium and chromedriver are needed: apt-get install chromium chromium-driver "
                    "(make test-python installs them)", pytrace=False)
    options = Options()
    options.binary_location = chromium
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1500,1000", "--no-first-run", "--disable-extensions"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))


def wait_until(what: str, predicate, timeout: float = 30, driver: webdriver.Chrome | None = None):
    """Polls `predicate()` until it returns something truthy (returned); fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (StaleElementReferenceException, WebDriverException) as error:
            last_error = error
        time.sleep(0.1)   # polling interval of a page that updates itself
    detail = f" (last error: {last_error})" if last_error else ""
    if driver is not None:
        screenshot(driver, "timeout-" + "".join(c if c.isalnum() else "-" for c in what)[:60])
        detail += "\nbrowser console:\n" + "\n".join(str(e) for e in console(driver))
    pytest.fail(f"not {what} within {timeout} s{detail}", pytrace=False)


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console(driver: webdriver.Chrome) -> list[dict]:
    try:
        return driver.get_log("browser")
    except WebDriverException:
        return []


def canvas_colors(driver: webdriver.Chrome, element_id: str) -> dict:
    """Distinct colors and non-blank pixels of a canvas, read back with getImageData."""
    return driver.execute_script("""
        const canvas = document.getElementById(arguments[0]);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const colors = new Set();
        let painted = 0;
        for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] === 0) continue;
            painted++;
            colors.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        }
        let hash = 0;
        for (let i = 0; i < data.length; i += 97) hash = (hash * 31 + data[i]) >>> 0;
        return {distinct: colors.size, painted: painted, total: data.length / 4, hash: hash};
    """, element_id)
