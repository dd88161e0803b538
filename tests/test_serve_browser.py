"""The drawing page in a real browser: Debian's headless Chromium driven by Playwright.

Needs the apt package ``chromium`` (at /usr/bin/chromium) and the pip package
``playwright`` (no ``playwright install``: the system browser is used).
"""
from pathlib import Path

import pytest

from scratchnet.train.modelfile import load_model
from builders import serving, write_linear_model

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture
def page_url(tmp_path):
    with serving(load_model(write_linear_model(tmp_path / "model.npz"))) as server:
        yield server.url


@pytest.fixture
def page(page_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(page_url)
        yield page
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def test_drawing_a_stroke_shows_a_prediction_and_ten_probabilities(page):
    from playwright.sync_api import expect

    expect(page.locator("#model")).to_contain_text("tiny")
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 90, box["y"] + 60)
    page.mouse.down()
    for x, y in [(190, 60), (170, 120), (140, 230)]:  # a 7
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()

    expect(page.locator("#prediction")).to_have_text("7", timeout=10_000)
    bars = page.locator("#bars .bar")
    expect(bars).to_have_count(10)
    probabilities = [float(p) for p in bars.evaluate_all("rows => rows.map(r => r.dataset.probability)")]
    assert abs(sum(probabilities) - 1) < 1e-3 and max(probabilities) == probabilities[7]
    widths = [bars.nth(i).locator(".fill").bounding_box()["width"] for i in (0, 7)]
    assert widths[1] > widths[0] > 0  # the bars are drawn, the winner's longest
    assert page.locator("#seen").get_attribute("src").startswith("data:image/png;base64,")
    assert page.locator("#error").text_content() == ""

    page.locator("#clear").click()
    expect(page.locator("#prediction")).to_have_text("–")
    assert page.locator("#seen").get_attribute("src") is None


def test_choosing_a_photo_without_ink_shows_the_servers_error(page, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect

    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    page.locator("#file").set_input_files(str(blank))
    expect(page.locator("#error")).to_contain_text("no ink", timeout=10_000)
    expect(page.locator("#prediction")).to_have_text("?")
