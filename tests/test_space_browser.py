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


def visible_panel(driver):
    """The tab panel on screen (Gradio keeps the other tabs' panels in the page, hidden)."""
    from selenium.webdriver.common.by import By

    panels = [p for p in driver.find_elements(By.CSS_SELECTOR, "[role=tabpanel]") if p.is_displayed()]
    return panels[0] if len(panels) == 1 else None


def upload_and_run(browser, tab_title: str, photo: Path, done_text: str):
    """Opens the tab, uploads the photo, clicks its Run button and waits until `done_text` is on the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 120)
    tab = wait.until(lambda driver: [t for t in driver.find_elements(By.CSS_SELECTOR, "[role=tab]")
                                     if t.text.startswith(tab_title)])
    tab[0].click()
    wait.until(lambda driver: tab[0].get_attribute("aria-selected") == "true")
    panel = wait.until(visible_panel)
    panel.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(photo))
    wait.until(lambda driver: panel.find_elements(By.CSS_SELECTOR, "img[src*='astronaut'], img[src^='blob:'], "
                                                                   "img[src*='/file=']"))  # the upload's preview
    run = wait.until(lambda driver: [b for b in panel.find_elements(By.TAG_NAME, "button")
                                     if b.text.strip() == "Run" and b.is_enabled()])
    run[0].click()
    wait.until(lambda driver: done_text in panel.text)
    return panel


def test_a_visitor_uploads_a_photo_and_sees_teacher_and_students(app, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from portrait_edge.space import demo_tasks
    from portrait_edge.train.visualize import real_portraits

    photo = tmp_path / "astronaut.png"
    Image.fromarray(real_portraits()["astronaut"]).save(photo)
    browser.get(app.local_url)
    titles = {task.id: task.title for task in demo_tasks()}
    panel = upload_and_run(browser, titles["parsing"], photo, "same labels")
    outputs = [e for e in panel.find_elements(By.TAG_NAME, "img") if e.get_attribute("alt") != "legend"
               and e.size["width"] > 100]
    assert len(outputs) >= 4  # the upload and three results
    assert "teacher" in panel.text and "litert int8" in panel.text.lower()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    if "normals" in titles:  # the relighting tab: each model's normal map beside the relit photo
        panel = upload_and_run(browser, titles["normals"], photo, "deg from the teacher")
        assert len([e for e in panel.find_elements(By.TAG_NAME, "img") if e.size["width"] > 100]) >= 4
