"""The real thing: the dashboard served on localhost, loaded in headless Chromium: the overview table drawn, and a
camera shot (Chromium's fake camera showing the astronaut photo) and a microphone recording (its fake microphone
playing a spoken sentence) scored on the Try-it page by the shipped models.

The screenshot is kept as a test artifact: tests/artifacts/dashboard_overview.png (gitignored).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.dashboard_browser import (chromium, click_when_found, fake_media_flags, missing_browser_reason, open_overview,
                                     serve, wait_until, write_y4m)
from tests.dashboard_fixtures import shared_results
from tests.video_fixtures import speech as spoken_sentence

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def browser_ready():
    reason = missing_browser_reason()
    if reason:
        pytest.skip(reason)


def test_overview_loads_in_headless_chromium(browser_ready, tmp_path_factory):
    from selenium.webdriver.common.by import By

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
        wait_until(driver, lambda d: "Calibration" in d.find_element(By.TAG_NAME, "h1").text, 60)
        sidebar = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text
    print(f"overview table visible {elapsed:.1f} s after navigation; screenshot {shot}")
    assert not exceptions, [e.text for e in exceptions]
    assert "Overview" in body and "fer2013 · PrivateTest" in body and "ravdess · test" in body
    assert "fer2013/broken" in body  # the visible warning about the half-written run
    assert len(tables) == 4  # fer2013, ravdess, its cross-validation summary, and the paper's Table 1 (expander)
    assert shot.stat().st_size > 20_000
    assert "Results root" in sidebar and "Try it" in sidebar and "try_it" not in sidebar


def test_try_it_scores_the_camera_and_the_microphone_in_headless_chromium(browser_ready, tmp_path_factory):
    import soundfile
    from PIL import Image
    from selenium.webdriver.common.by import By
    from skimage import data

    from ensemble.photo import PhotoPredictor
    from fer_audio.predict import load_model

    folder = tmp_path_factory.mktemp("media")
    root, _ = shared_results(tmp_path_factory)
    ARTIFACTS.mkdir(exist_ok=True)
    photo = Image.fromarray(data.astronaut())
    camera = write_y4m(photo, folder / "astronaut.y4m")
    voice = folder / "voice.wav"
    soundfile.write(voice, spoken_sentence(3.0), 16000, subtype="PCM_16")
    expected = PhotoPredictor.load().predict(photo)[0]  # the shipped models
    speech = load_model()

    def option(text: str):
        return lambda d: next(iter(d.find_elements(By.XPATH, f"//label[.//p[text()='{text}']]")), None)

    def button(label: str):
        return lambda d: next((b for b in d.find_elements(By.TAG_NAME, "button")
                               if label in (b.text.strip(), b.get_attribute("aria-label"))), None)

    with serve(root, log=ARTIFACTS / "dashboard_media_server.log") as url, \
            chromium(fake_media_flags(camera, voice)) as driver:
        driver.get(f"{url}/try-it")
        click_when_found(driver, option("Camera"), timeout=180)  # offered once the models are loaded
        wait_until(driver, button("Take Photo"), 60)
        time.sleep(1.0)  # the stream's first frames
        click_when_found(driver, button("Take Photo"))
        wait_until(driver, lambda d: "Face box" in d.find_element(By.TAG_NAME, "body").text, 180)
        click_when_found(driver, option("Record with the microphone"), timeout=180)
        click_when_found(driver, button("Record"))
        time.sleep(2.0)
        click_when_found(driver, button("Stop recording"))
        wait_until(driver, lambda d: "over its own" in d.find_element(By.TAG_NAME, "body").text, 180)
        body = driver.find_element(By.TAG_NAME, "body").text
        exceptions = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        driver.save_screenshot(str(ARTIFACTS / "dashboard_media.png"))
    assert not exceptions, [e.text for e in exceptions]
    box = re.search(r"Face box x (\d+)-(\d+), y (\d+)-(\d+) px", body)
    left, right, top, bottom = map(int, box.groups())
    # the browser scales the frame to the widget's size: compare the box with the photo's own, scaled alike
    e_left, e_top, e_right, e_bottom = expected.box
    scale = (right - left) / (e_right - e_left)
    assert abs((left + right) / 2 / scale - (e_left + e_right) / 2) < 15  # her face, not the mission patch
    assert abs((top + bottom) / 2 / scale - (e_top + e_bottom) / 2) < 15
    assert re.search(rf"^{expected.label} · \d+%$", body, re.MULTILINE)
    spoken = body[body.index("Say a sentence"):]  # the recording's prediction, over the speech model's classes
    assert re.search(rf"^({'|'.join(speech.label_space)}) · \d+%$", spoken, re.MULTILINE), spoken[:500]
    assert f"{speech.branch}, over its own {len(speech.label_space)} classes" in spoken
