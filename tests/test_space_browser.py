"""The Space in a real headless Chromium (Debian's chromium + chromedriver, `make setup-browser`):
upload a photo, click Run, wait for every output, save a screenshot (build/space-screenshot.png)."""

import shutil
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("mediapipe")
webdriver = pytest.importorskip("selenium.webdriver")

CHROMIUM, DRIVER = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[1] / "build" / "space-screenshot.png"
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver "
                                                                  "(make setup-browser)")


@pytest.fixture(scope="module")
def app(space_app):
    return space_app


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1600,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_a_visitor_uploads_a_photo_and_sees_teacher_and_students(app, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    from portrait_edge.train.visualize import real_portraits

    photo = tmp_path / "astronaut.png"
    Image.fromarray(real_portraits()["astronaut"]).save(photo)
    browser.get(app.local_url)
    wait = WebDriverWait(browser, 120)
    upload = wait.until(until.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
    upload.send_keys(str(photo))
    run = wait.until(until.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Run']")))
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "img[src*='astronaut'], img[src^='blob:'], "
                                                                    "img[src*='/file=']"))  # the upload's preview
    run.click()
    wait.until(lambda driver: "same labels" in driver.find_element(By.TAG_NAME, "body").text)
    outputs = [e for e in browser.find_elements(By.TAG_NAME, "img") if e.get_attribute("alt") != "legend"
               and e.size["width"] > 100]
    assert len(outputs) >= 4  # the upload and three results
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "teacher" in text and "litert int8" in text.lower()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
