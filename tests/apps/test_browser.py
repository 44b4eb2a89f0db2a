"""The web demo in a real headless browser: Debian's chromium and chromium-driver, driven by
Selenium, which is pointed at the driver so that it never downloads one (``.ci/run``
installs both; without them these tests skip, except in CI, where they fail)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.apps.images import sample_images

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _missing() -> list[str]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    return missing


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        reason = (f"no headless browser: missing {', '.join(missing)} (apt-get install "
                  "chromium chromium-driver)")
        if os.environ.get("KERAS_CAFFE_REQUIRE_SHARED"):
            pytest.fail(reason + "; CI (.ci/run) installs them")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")              # Selenium Manager: never fetch
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--window-size=1000,800"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                                  options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def _upload(browser, url, path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")
    assert browser.title == "keras-caffe demo"
    browser.find_element(By.ID, "imagefile").send_keys(str(path))   # the page submits it
    WebDriverWait(browser, 60).until(EC.any_of(
        EC.presence_of_element_located((By.ID, "result")),
        EC.presence_of_element_located((By.ID, "error"))))
    return By


def test_upload_a_sample_and_read_the_answers(browser, demo_url, demo_app, tmp_path):
    path = tmp_path / "triangle.png"
    path.write_bytes(sample_images()["triangle"])
    By = _upload(browser, demo_url, path)
    specific = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#specific li .name")]
    accurate = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#accurate li .name")]
    scores = [float(e.text) for e in browser.find_elements(By.CSS_SELECTOR,
                                                              "#specific li .score")]
    assert specific[0] == "triangle" and scores[0] > 0.9 and scores == sorted(scores)[::-1]
    assert len(accurate) == 5 and set(accurate) <= set(demo_app.hierarchy.nodes)
    assert accurate[0] == "triangle" and "angular" in accurate
    assert browser.find_element(By.ID, "time").text.startswith("CNN took ")
    assert browser.find_element(By.ID, "image").get_attribute("naturalWidth") == "28"

    shot = tmp_path / "result.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = tf.io.decode_png(data).numpy()
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and np.ptp(pixels) > 0


def test_a_non_image_shows_the_error_on_the_page(browser, demo_url, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a picture\n")
    By = _upload(browser, demo_url, path)
    error = browser.find_element(By.ID, "error").text
    assert "Cannot classify notes.txt: it is text/plain, not an image." in error
    assert not browser.find_elements(By.ID, "result")
    assert browser.find_element(By.ID, "imagefile").is_displayed()   # the form is back
