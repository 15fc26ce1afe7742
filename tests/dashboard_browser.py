"""Serve the dashboard on a free localhost port and drive it with headless Chromium (Selenium).

Used by tests/test_dashboard_browser.py, and to refresh the README screenshot:

    .venv/bin/python -m tests.dashboard_browser --results results --out docs/dashboard.png
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1500,1000", "--hide-scrollbars")
OVERVIEW_TABLE = '[data-testid="stDataFrame"]'


def chromium_binary() -> str | None:
    return next((p for p in CHROMIUM_PATHS if os.access(p, os.X_OK)), None) or shutil.which("chromium")


def missing_browser_reason() -> str | None:
    """Why the browser test cannot run here, or None."""
    if chromium_binary() is None:
        return "Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does this)"
    if not os.access(CHROMEDRIVER, os.X_OK):
        return f"chromedriver is not installed at {CHROMEDRIVER} (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ModuleNotFoundError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(results: Path, port: int | None = None, timeout: float = 90.0, log: Path | None = None) -> Iterator[str]:
    """Run ``streamlit run dashboard/app.py`` headless on localhost; yield its URL once it answers."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "app.py"),
           "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer",
           "--", "--results", str(results)]
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode} before serving (log: {log})")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s (log: {log})")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


def fake_media_flags(y4m: Path, wav: Path) -> tuple[str, ...]:
    """Chromium flags that grant camera and microphone access without asking, the camera showing ``y4m`` and the
    microphone playing ``wav``."""
    return ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}")


def click(driver, element) -> None:
    """Click through the script: a page still laying itself out may cover the element for a moment."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def wait_until(driver, condition, timeout: float = 60):
    """``condition(driver)``'s first truthy value, asked again when Streamlit re-renders an element it was reading
    (a stale element)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def click_when_found(driver, find, timeout: float = 60) -> None:
    """Find an element with ``find(driver)`` (None or [] while absent) and click it, again from the search when
    Streamlit re-renders it in between."""
    def found_and_clicked(d) -> bool:
        element = find(d)
        if not element:
            return False
        click(d, element)
        return True

    wait_until(driver, found_and_clicked, timeout)


def write_y4m(image: "Image.Image", path: Path, frames: int = 30) -> Path:
    """``image`` as a still Y4M clip (4:2:0, 30 frames/s), the format Chromium's fake camera plays."""
    import numpy as np

    width, height = image.width - image.width % 2, image.height - image.height % 2
    ycbcr = np.asarray(image.crop((0, 0, width, height)).convert("YCbCr"))
    frame = b"FRAME\n" + b"".join(np.ascontiguousarray(plane).tobytes() for plane in
                                   (ycbcr[..., 0], ycbcr[::2, ::2, 1], ycbcr[::2, ::2, 2]))
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return path


@contextlib.contextmanager
def chromium(extra_flags: tuple[str, ...] = ()) -> Iterator["object"]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary()
    for flag in CHROME_FLAGS + extra_flags:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="fer-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def open_overview(driver, url: str, timeout: float = 60.0) -> float:
    """Load the app, wait until the overview table is drawn; return the seconds that took."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    start = time.monotonic()
    driver.get(url)
    wait_until(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, OVERVIEW_TABLE)), timeout)
    # the data grid paints into a canvas after the element appears; wait for Streamlit to finish running
    wait_until(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'), timeout)
    elapsed = time.monotonic() - start
    time.sleep(1.0)
    return elapsed


def screenshot_overview(results: Path, out: Path, log: Path | None = None) -> float:
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve(results, log=log) as url, chromium() as driver:
        elapsed = open_overview(driver, url)
        driver.save_screenshot(str(out))
    return elapsed


def main() -> int:
    p = argparse.ArgumentParser(description="Screenshot the dashboard overview with headless Chromium.")
    p.add_argument("--results", type=Path, default=REPO / "results")
    p.add_argument("--out", type=Path, default=REPO / "tests" / "artifacts" / "dashboard_overview.png")
    args = p.parse_args()
    reason = missing_browser_reason()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    elapsed = screenshot_overview(args.results.resolve(), args.out)
    print(f"overview table visible after {elapsed:.1f} s; screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
