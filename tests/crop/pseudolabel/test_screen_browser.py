"""The screening page in a real headless browser (Debian chromium + chromedriver via selenium).

Install with ``scripts/install_browser.sh``; skipped with a reason when no browser is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from agriseg.crop.pseudolabel.screen import write_screen_page


def _driver(download_dir: Path):  # noqa: ANN202 - selenium type only when installed
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (scripts/install_browser.sh)")
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_bin = shutil.which("chromedriver")
    if not chromium or not driver_bin:
        pytest.skip("no headless browser: chromium + chromedriver not installed (run scripts/install_browser.sh)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--allow-file-access-from-files",
    ):
        opts.add_argument(a)
    opts.add_experimental_option(
        "prefs", {"download.default_directory": str(download_dir), "download.prompt_for_download": False}
    )
    return webdriver.Chrome(service=Service(driver_bin), options=opts)


def _outdir(tmp_path: Path) -> Path:
    out = tmp_path / "pl"
    (out / "overlays").mkdir(parents=True)
    recs = []
    for i, q in enumerate([0.9, 0.2, 0.6, 0.4]):
        stem = f"img{i}"
        cv2.imwrite(str(out / "overlays" / f"{stem}.jpg"), np.full((30, 40, 3), 40 * i, np.uint8))
        recs.append(
            {
                "stem": stem,
                "status": "ok",
                "overlay": f"overlays/{stem}.jpg",
                "fit_quality": q,
                "threshold": 0.5,
                "foreground_fraction": 0.1 * i,
                "full_coverage": i == 3,
            }
        )
    (out / "pseudolabels.json").write_text(json.dumps({"records": recs}))
    return out


def test_screen_page_sort_keys_clicks_and_export(tmp_path: Path) -> None:
    out = _outdir(tmp_path)
    page = write_screen_page(out)
    dl = tmp_path / "downloads"
    dl.mkdir()
    driver = _driver(dl)
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        driver.get(page.resolve().as_uri())
        stems = lambda: [c.get_attribute("data-stem") for c in driver.find_elements(By.CSS_SELECTOR, ".card")]  # noqa: E731
        assert stems() == ["img1", "img3", "img2", "img0"]  # default: worst fit quality first
        Select(driver.find_element(By.ID, "sort")).select_by_value("quality-desc")
        assert stems() == ["img0", "img2", "img3", "img1"]
        Select(driver.find_element(By.ID, "sort")).select_by_value("quality-asc")
        body = driver.find_element(By.TAG_NAME, "body")
        body.click()
        body.send_keys("a")  # accept img1, focus moves to img3
        body.send_keys("r")  # reject img3
        cards = driver.find_elements(By.CSS_SELECTOR, ".card")
        cards[3].find_element(By.CSS_SELECTOR, "button.acc").click()  # click-accept img0
        assert "accepted" in cards[0].get_attribute("class") and "rejected" in cards[1].get_attribute("class")
        assert "2 accepted, 1 rejected, 1 unmarked" in driver.find_element(By.ID, "counts").text
        driver.find_element(By.ID, "export-btn").click()
        exported = json.loads(driver.find_element(By.ID, "export").get_attribute("value"))
        assert exported["accepted"] == ["img0", "img1"]
        assert exported["rejected"] == ["img3"] and exported["unmarked"] == ["img2"]
        for _ in range(50):  # the download lands in the configured folder
            if (dl / "accepted.json").is_file():
                break
            time.sleep(0.1)
        if (dl / "accepted.json").is_file():
            assert json.loads((dl / "accepted.json").read_text())["accepted"] == ["img0", "img1"]
        driver.refresh()  # decisions persist (localStorage)
        assert "2 accepted, 1 rejected" in driver.find_element(By.ID, "counts").text
        # img0 pseudo-labelled again (another mask, so another overlay), img2's overlay gone: img0's accept was
        # shown on the new mask and exported for --keep, img2 left off unsaid (session 84's sweep)
        cv2.imwrite(str(out / "overlays" / "img0.jpg"), np.full((30, 40, 3), 200, np.uint8))
        (out / "overlays" / "img2.jpg").unlink()
        notes: list[str] = []
        write_screen_page(out, notes=notes)
        said = "1 pseudo-labelled photo left off the page: its overlay or mask is gone (img2)"
        assert any(said in n for n in notes), notes
        driver.refresh()
        assert "1 accepted, 1 rejected, 1 unmarked of 3" in driver.find_element(By.ID, "counts").text
    finally:
        driver.quit()


def test_odd_photo_names_show_as_written_and_decisions_in_words(tmp_path: Path) -> None:
    """Cards were built as HTML: `x<i>y` showed as an italic "xy", `plot#1` and `quote"q` lost their picture; a
    name holding `<!--<script>` hid the end of the page's data, and no card showed (session 96's sweep)."""
    out = tmp_path / "pl"
    (out / "overlays").mkdir(parents=True)
    stems = ["plot#1", 'quote"q', "x<i>y", "a b%20c", "weed <!--<script> 1"]
    latin1 = os.fsdecode(b"caf\xe9")  # a name that is no UTF-8: the page's encodeURIComponent threw, no card showed
    recs = []
    for stem in [*stems, latin1]:
        jpg = cv2.imencode(".jpg", np.full((30, 40, 3), 90, np.uint8))[1].tobytes()
        (out / "overlays" / f"{stem}.jpg").write_bytes(jpg)
        recs.append({"stem": stem, "status": "ok", "overlay": f"overlays/{stem}.jpg", "fit_quality": 0.5})
    (out / "pseudolabels.json").write_text(json.dumps({"records": recs}))
    page = write_screen_page(out, title="__DATA__ </script>")
    driver = _driver(tmp_path)
    try:
        from selenium.webdriver.common.by import By

        driver.get(page.resolve().as_uri())
        cards = driver.find_elements(By.CSS_SELECTOR, ".card")
        # read in the page: selenium cannot hand back a text holding the Latin-1 name's lone surrogate
        shown = driver.execute_script(
            "return Array.from(document.querySelectorAll('.card .stem')).map(e => e.textContent)"
            ".filter(t => !/[\\uD800-\\uDFFF]/.test(t))"
        )
        assert len(cards) == 6 and sorted(shown) == sorted(stems)
        widths = driver.execute_script(
            "return Array.from(document.querySelectorAll('.card img')).map(i => i.naturalWidth)"
        )
        assert widths == [40] * 6  # every picture loaded, the Latin-1 one too
        cards[0].find_element(By.CSS_SELECTOR, "button.acc").click()
        cards[1].find_element(By.CSS_SELECTOR, "button.rej").click()
        assert "ACCEPTED" in cards[0].find_element(By.CSS_SELECTOR, ".state").text
        assert "REJECTED" in cards[1].find_element(By.CSS_SELECTOR, ".state").text
        assert cards[2].find_element(By.CSS_SELECTOR, ".state").text == ""
    finally:
        driver.quit()


def test_decisions_follow_a_moved_folder_and_two_pages_keep_theirs(tmp_path: Path) -> None:
    """Session 88's sweep: decisions were kept under the folder's absolute path, so a folder moved (or opened
    from a copy) showed every photo unmarked. They are kept by photo and mask, for every page in one store;
    two pages open at once keep each other's decisions."""
    out = _outdir(tmp_path)
    page = write_screen_page(out)
    other = _outdir(tmp_path / "second")
    for i in range(4):  # other masks: other cards (a copy of the folder would share its decisions)
        cv2.imwrite(str(other / "overlays" / f"img{i}.jpg"), np.full((30, 40, 3), 40 * i + 9, np.uint8))
    page2 = write_screen_page(other)
    driver = _driver(tmp_path)
    try:
        from selenium.webdriver.common.by import By

        counts = lambda: driver.find_element(By.ID, "counts").text  # noqa: E731
        driver.get(page.resolve().as_uri())
        driver.execute_script("localStorage.clear()")
        driver.refresh()
        body = driver.find_element(By.TAG_NAME, "body")
        body.click()
        body.send_keys("a")  # img1 accepted
        driver.execute_script("window.open(arguments[0])", page2.resolve().as_uri())
        driver.switch_to.window(driver.window_handles[1])
        driver.find_element(By.TAG_NAME, "body").send_keys("r")  # img1 of the second folder rejected
        driver.switch_to.window(driver.window_handles[0])
        body.send_keys("r")  # a later decision in the first page: its save keeps the second page's
        driver.switch_to.window(driver.window_handles[1])
        driver.refresh()
        assert "0 accepted, 1 rejected" in counts(), counts()
        moved = tmp_path / "moved"
        shutil.move(str(out), moved)  # the folder moved, and its page written again there (crop screen)
        driver.get(write_screen_page(moved).resolve().as_uri())
        assert "1 accepted, 1 rejected, 2 unmarked" in counts(), counts()
    finally:
        driver.quit()


def test_a_decision_of_the_earlier_store_can_be_undone(tmp_path: Path) -> None:
    """Session 89's review: decisions kept by an earlier page (under the folder's path) are read, but one unmarked
    now came back on reload from that store."""
    out = _outdir(tmp_path)
    page = write_screen_page(out)
    driver = _driver(tmp_path)
    try:
        from selenium.webdriver.common.by import By

        counts = lambda: driver.find_element(By.ID, "counts").text  # noqa: E731
        driver.get(page.resolve().as_uri())
        driver.execute_script("localStorage.clear()")
        key = driver.find_elements(By.CSS_SELECTOR, ".card")[0].get_attribute("data-key")
        old = json.dumps({key: "accepted"})
        driver.execute_script(f"localStorage.setItem({json.dumps('agriseg-screen:' + str(out.resolve()))}, {old!r})")
        driver.refresh()
        assert "1 accepted" in counts(), counts()  # read from the earlier store
        body = driver.find_element(By.TAG_NAME, "body")
        body.click()
        driver.find_elements(By.CSS_SELECTOR, ".card")[0].click()
        body.send_keys("u")
        driver.refresh()
        assert "0 accepted, 0 rejected" in counts(), counts()
    finally:
        driver.quit()
