"""report.html in a real browser: headless Chromium (Debian's package) opens it from disk."""
import cv2
import numpy as np
from chromium import Browser
from runs import write_run

from reaction.cli import main

SCENES = "start,end,title\n0,20,<script>alert(1)</script>\n20,00:00:40,Second & last\n"


def make(tmp_path):
    rng = np.random.default_rng(1)
    runs = []
    for s in range(2):
        presence = {str(v): [(0.0, 40.0)] for v in range(12)}
        laughs = {str(v): [(t, t + 1.0) for t in rng.uniform(0, 39, 3)] for v in range(12)}
        runs.append(write_run(tmp_path / "run{}".format(s), presence, laughs))
    (tmp_path / "scenes.csv").write_text(SCENES)
    out = tmp_path / "report"
    assert main(["report", *runs, "--out", str(out), "--scenes", str(tmp_path / "scenes.csv"), "--title", "<b>Cut</b>",
                 "--compare", "A={}".format(runs[0]), "B={}".format(runs[1])]) == 0
    return out / "report.html"


def test_report_html_in_chromium_loads_every_image_and_nothing_from_outside(tmp_path):
    page = make(tmp_path)
    browser = Browser(width=1200, height=900)
    try:
        requests = browser.open(page.as_uri())
        images = browser.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        scripts = browser.evaluate("document.scripts.length")
        headings = browser.evaluate("Array.from(document.querySelectorAll('h1,td')).map(e => e.textContent)")
        shot = browser.screenshot(str(tmp_path / "shot.png"))
    finally:
        browser.close()
    # curve, difference, two rasters
    assert len(images) == 4 and all(done and width > 100 for done, width in images), images
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert requests and requests[0] == page.as_uri() and not outside, outside
    # The inputs' text is shown as text, never run: no script element, the title as typed.
    assert scripts == 0
    assert "<b>Cut</b>" in headings and "<script>alert(1)</script>" in headings
    img = cv2.imread(shot)
    assert img is not None and img.shape[1] >= 1000
    assert img.std() > 20  # not a blank page
    # The laugh curve's line colour (#0072B2, BGR 178,114,0) is drawn.
    blue = np.all(np.abs(img.astype(int) - [178, 114, 0]) < 30, axis=2)
    assert blue.sum() > 200


def test_the_request_check_sees_a_request_that_leaves_the_file(tmp_path):
    # The control for the test above: a page that does fetch from the network is caught.
    page = tmp_path / "leak.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    browser = Browser()
    try:
        requests = browser.open(page.as_uri())
    finally:
        browser.close()
    assert "http://127.0.0.1:9/x.png" in requests
