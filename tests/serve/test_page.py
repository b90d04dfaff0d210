"""The web page in a real browser (headless Chromium): the busy state while a search runs, results without any
server path, the class filter, a crop dragged on the larger preview, and adding images with the job's
progress."""

from pathlib import Path

import pytest

from cnnlab.serve.app import create_app
from tests.serve.conftest import running
from tests.serve.test_search_options import side_by_side

CHROMIUM = Path("/usr/bin/chromium")

WATCH_BUSY = """() => {
  window.busySeen = [];
  const busy = document.getElementById('busy');
  new MutationObserver(() => window.busySeen.push(!busy.hidden)).observe(busy, {attributes: true});
}"""


@pytest.fixture
def browser_page():
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        yield browser.new_page()
        browser.close()


@pytest.mark.browser
def test_the_page_searches_filters_crops_and_adds(fresh_index, index_dir, tmp_path, browser_page):
    page = browser_page
    both = tmp_path / "both.png"
    both.write_bytes(side_by_side(index_dir, "class0/0.png", "class2/5.png"))
    with running(create_app(fresh_index)) as base:
        page.goto(f"{base}/")
        page.wait_for_function("document.getElementById('info').textContent.includes('60 images')")
        assert page.locator("#busy").is_hidden()
        page.evaluate(WATCH_BUSY)
        page.fill("#k", "4")
        page.set_input_files("#file", str(index_dir[1] / "class1" / "7.png"))
        page.wait_for_selector(".hit >> nth=3")
        page.wait_for_function("document.getElementById('busy').hidden")
        assert page.evaluate("window.busySeen") == [True, False]  # shown while the request ran, hidden after
        assert page.locator(".hit").count() == 4 and "class1/7.png" in page.locator(".hit").nth(0).inner_text()
        width = page.evaluate("document.getElementById('preview').getBoundingClientRect().width")
        assert width >= 240  # the preview is larger than the 16 px image
        html = page.content()
        for server_path in (str(index_dir[1]), str(fresh_index), str(tmp_path)):
            assert server_path not in html

        page.select_option("#label", "class2")  # the filter re-runs the search
        page.wait_for_function("[...document.querySelectorAll('.hit .label')].every(l => l.textContent.includes"
                               "('class2'))")
        page.select_option("#label", "")

        page.set_input_files("#file", str(both))  # 32x16: class0/0 on the left, class2/5 on the right
        page.wait_for_selector(".hit >> nth=3")
        box = page.locator("#preview").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5 + 1, box["y"] + 1)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] - 1, steps=5)
        page.mouse.up()
        page.wait_for_function("document.getElementById('crop-info').textContent.includes('16,0,32,16')")
        page.wait_for_function("document.querySelector('.hit .source')?.textContent === 'class2/5.png'")

        page.set_input_files("#add-files", [str(index_dir[1] / "class0" / "3.png"), str(both)])
        page.fill("#add-label", "pairs")
        page.click("#add-button")
        page.wait_for_function("document.getElementById('add-progress').textContent.includes('2/2 done')")
        assert "2 added" in page.inner_text("#add-progress")
        page.wait_for_function("document.getElementById('info').textContent.includes('62 images')")
        assert "pairs" in page.locator("#label option").all_inner_texts()
