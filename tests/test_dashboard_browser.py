"""The real thing: the dashboard served on localhost, loaded in headless Chromium, overview table drawn.

The screenshot is kept as a test artifact: tests/artifacts/dashboard_overview.png (gitignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard_browser import chromium, missing_browser_reason, open_overview, serve
from tests.dashboard_fixtures import shared_results

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def browser_ready():
    reason = missing_browser_reason()
    if reason:
        pytest.skip(reason)


def test_overview_loads_in_headless_chromium(browser_ready, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root, _ = shared_results(tmp_path_factory)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard_overview.png"
    with serve(root, log=ARTIFACTS / "dashboard_server.log") as url, chromium() as driver:
        elapsed = open_overview(driver, url)
        driver.save_screenshot(str(shot))
        body = driver.find_element(By.TAG_NAME, "body").text
        tables = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
        exceptions = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        # a deep link opened in a fresh browser tab still goes through the entry point (navigation, sidebar)
        driver.delete_all_cookies()
        driver.get(f"{url}/calibration")
        WebDriverWait(driver, 60).until(lambda d: "Calibration" in d.find_element(By.TAG_NAME, "h1").text)
        sidebar = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text
    print(f"overview table visible {elapsed:.1f} s after navigation; screenshot {shot}")
    assert not exceptions, [e.text for e in exceptions]
    assert "Overview" in body and "fer2013 · PrivateTest" in body and "ravdess · test" in body
    assert "fer2013/broken" in body  # the visible warning about the half-written run
    assert len(tables) == 4  # fer2013, ravdess, its cross-validation summary, and the paper's Table 1 (expander)
    assert shot.stat().st_size > 20_000
    assert "Results root" in sidebar and "Try it" in sidebar and "try_it" not in sidebar
