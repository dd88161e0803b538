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


@pytest.fixture
def open_page():
    """open_page(url) -> a Playwright page on a fresh headless Chromium; no JavaScript errors allowed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        errors = []

        def open_url(url):
            page = browser.new_page()
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(url)
            return page

        yield open_url
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_idle_page_says_what_to_do(page):
    from playwright.sync_api import expect

    expect(page.locator("#idle")).to_contain_text("draw a digit", timeout=10_000)
    expect(page.locator("#title")).to_have_text("Draw a digit")
    assert page.title() == "scratchnet: draw a digit"


def test_a_fashion_model_gets_a_page_of_its_own(tmp_path, open_page):
    from playwright.sync_api import expect

    from scratchnet import nn
    from scratchnet.data import Preprocess
    from scratchnet.train.modelfile import save_model

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    spec = {"layers": [{"type": "Flatten"}, {"type": "Linear", "in_features": 784, "out_features": 10}]}
    save_model(tmp_path / "model.npz", model, spec, Preprocess("scale"), classes, (1, 28, 28), "fashion-mnist")
    with serving(load_model(tmp_path / "model.npz"), name="fashion-run") as server:
        page = open_page(server.url)
        expect(page.locator("#title")).to_have_text("Show fashion-run a picture", timeout=10_000)
        assert page.title() == "scratchnet: fashion-run" and "Draw a digit" not in page.content()
        expect(page.locator("#idle")).to_contain_text("trained on fashion-mnist")
        expect(page.locator("#bars .bar .label")).to_have_text(classes)
        page.screenshot(path=str(tmp_path / "fashion-page.png"))


def test_a_sideways_phone_photo_is_drawn_upright(page, tmp_path):
    from playwright.sync_api import expect

    from test_exif_orientation import as_phone_stores_it, upright_seven

    photo = tmp_path / "phone.jpg"
    photo.write_bytes(as_phone_stores_it(upright_seven(), "JPEG"))  # 120x160 upright, stored 160x120
    page.locator("#file").set_input_files(str(photo))
    expect(page.locator("#prediction")).to_have_text("7", timeout=10_000)
    # Upright (portrait) the photo fills the pad's height and leaves black bands left and right.
    side, middle = page.evaluate(
        "() => { const c = document.getElementById('pad').getContext('2d');"
        " return [c.getImageData(5, 140, 1, 1).data[0], c.getImageData(140, 5, 1, 1).data[0]]; }")
    assert side == 0 and middle > 150
