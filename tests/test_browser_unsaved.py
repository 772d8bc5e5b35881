"""Figures typed on the entry page but not saved when the session ended are kept in the browser tab
(sessionStorage, static/entry.js) and put back when the same ward opens the same Biểu again; nothing of one ward is
left for another signing in in the same tab. Headless chromium, as test_browser_entry.py drives it (skipped where
chromium is missing). Screenshots go to $CTSTAT_SCREENSHOTS when set."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ctstat.job.config import JobConfig
from ctstat.job.drafts import load_draft
from ctstat.job.ledger import Ledger
from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.web.entry import sheet_inputs

from .conftest import require
from .test_browser import HAVE, browser, served_portal, shot, text_once
from .test_browser_entry import DESKTOP, field_text, press, sign_in

WARD, OTHER = "00304", "00301"
NARROW = (390, 844)


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(HAVE, "chromium and chromium-driver")


@pytest.fixture
def portal(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], JobConfig]]:
    cfg = replace(cfg, deadline=None)
    for url, tokens in served_portal(cfg, catalogue, tmp_path):
        yield url, tokens, cfg


@pytest.fixture
def tab(tmp_path: Path) -> Iterator[Any]:
    """One browser tab, 390 pixels wide as a phone (emulated: a window cannot be made that narrow)."""
    driver: Any = browser(tmp_path / "tab", *DESKTOP)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": NARROW[0], "height": NARROW[1], "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        yield driver
    finally:
        driver.quit()


def end_sessions(cfg: JobConfig) -> None:
    """Every session's absolute lifetime over, on the server (as after 12 hours)."""
    db = sqlite3.connect(cfg.ledger_path)
    db.execute("UPDATE sessions SET expires_at = 0")
    db.commit()
    db.close()


def kept(driver: Any) -> dict[str, str]:
    """What the tab keeps of ctstat's in sessionStorage (key -> JSON)."""
    got: dict[str, str] = driver.execute_script(
        "var o = {}; for (var i = 0; i < sessionStorage.length; i++) { var k = sessionStorage.key(i);"
        " if (k.indexOf('ctstat:') === 0) o[k] = sessionStorage.getItem(k); } return o;"
    )
    return got


def local(driver: Any) -> int:
    return int(driver.execute_script("return localStorage.length"))


def value(driver: Any, key: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.NAME, key).get_attribute("value"))


def type_in(driver: Any, key: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.NAME, key)
    el.clear()
    el.send_keys(text)


def marked(driver: Any) -> list[str]:
    """The names of the fields marked as put back and not saved."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, "td.unsaved input, td.unsaved select")
    return [el.get_attribute("name") for el in found]


def start_blank(driver: Any, url: str) -> None:
    driver.get(url + "/xa/nhap")
    press(driver, "Bắt đầu từ biểu trống")
    text_once(driver, "Đã tạo bản nháp")


def stored(cfg: JobConfig, unit: str) -> dict[str, str]:
    with Ledger(cfg.ledger_path, readonly=True) as ledger:
        draft = load_draft(ledger, str(cfg.period), unit)
    assert draft is not None
    return draft.cells


def test_figures_typed_when_the_session_ended_come_back_after_signing_in_and_are_saved(
    portal: tuple[str, dict[str, str], JobConfig], catalogue: Catalogue, tab: Any
) -> None:
    from selenium.webdriver.common.by import By

    url, tokens, cfg = portal
    a, b, c = sheet_inputs(catalogue)["Biểu 1"][:3]  # under 3: boys, girls; 3 to 5: boys
    ids = {k: f"o{i}" for i, k in enumerate(form_layout(catalogue).keys)}
    sign_in(tab, url, tokens[WARD])
    start_blank(tab, url)
    tab.get(url + "/xa/nhap/1")
    type_in(tab, a, "12")
    press(tab, "Lưu")
    text_once(tab, "Đã lưu")
    assert kept(tab) == {}  # saved: nothing kept
    type_in(tab, a, "13")
    type_in(tab, b, "7")
    type_in(tab, c, "9")
    assert len(kept(tab)) == 1 and local(tab) == 0  # the tab's storage, never the browser's
    end_sessions(cfg)
    press(tab, "Lưu, sang Biểu 2")
    notice = text_once(tab, "Phiên làm việc đã hết")  # the sign-in page: nothing of it saved
    assert "Số gõ trên trang nhập báo cáo được giữ trong thẻ trình duyệt này: mở lại biểu đó" in notice
    assert stored(cfg, WARD).get(a) == "12" and b not in stored(cfg, WARD)
    sign_in(tab, url, tokens[WARD])
    tab.get(url + "/xa/nhap/1")
    body = text_once(tab, "Đã khôi phục 3 ô chưa lưu")
    assert [value(tab, k) for k in (a, b, c)] == ["13", "7", "9"]
    assert marked(tab) == [a, b, c]
    assert "Số khôi phục, chưa lưu" in field_text(tab, b)
    assert tab.find_element(By.ID, ids["TE01/0-2/*"]).text == "20"  # the live total follows what came back
    assert "Bỏ các số này" in body
    tab.execute_script("document.querySelector('.unsaved-notice').scrollIntoView({block: 'start'})")
    shot(tab, "unsaved-restored-390")
    tab.save_screenshot("/tmp/a32-shots/restored-390.png")
    tab.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    tab.set_window_size(*DESKTOP)
    tab.execute_script("scrollTo(0, 0)")
    tab.save_screenshot("/tmp/a32-shots/restored-1280.png")
    shot(tab, "unsaved-restored-1280")
    press(tab, "Lưu")
    text_once(tab, "Đã lưu")
    assert {k: stored(cfg, WARD).get(k) for k in (a, b, c)} == {a: "13", b: "7", c: "9"}
    assert kept(tab) == {} and "Đã khôi phục" not in tab.find_element(By.TAG_NAME, "body").text
    assert marked(tab) == []
    # the overview's "Người lập biểu" is kept the same way
    tab.get(url + "/xa/nhap")
    name = tab.find_element(By.ID, "preparer")
    name.send_keys("Nguyễn Thị Lan")
    end_sessions(cfg)
    press(tab, "Lưu")
    text_once(tab, "Phiên làm việc đã hết")
    sign_in(tab, url, tokens[WARD])
    tab.get(url + "/xa/nhap")
    text_once(tab, "Đã khôi phục 1 ô chưa lưu")
    assert tab.find_element(By.ID, "preparer").get_attribute("value") == "Nguyễn Thị Lan"
    tab.execute_script("document.querySelector('.unsaved-notice').scrollIntoView({block: 'start'})")
    tab.save_screenshot("/tmp/a32-shots/restored-cover-1280.png")
    press(tab, "Lưu")
    text_once(tab, "Đã lưu")
    assert "Nguyễn Thị Lan" in stored(cfg, WARD).values() and kept(tab) == {}


def test_put_back_figures_can_be_discarded(
    portal: tuple[str, dict[str, str], JobConfig], catalogue: Catalogue, tab: Any
) -> None:
    """Left without saving (a link, the session's end): put back on return, and a button discards them."""
    from selenium.webdriver.common.by import By

    url, tokens, cfg = portal
    a = sheet_inputs(catalogue)["Biểu 2"][0]
    sign_in(tab, url, tokens[WARD])
    start_blank(tab, url)
    tab.get(url + "/xa/nhap/2")
    type_in(tab, a, "5")
    tab.find_element(By.LINK_TEXT, "← Tổng quan bản nháp").click()  # a link: nothing saved
    body = text_once(tab, "Người lập biểu")
    # the overview says where
    assert "Biểu 2 · có số đã gõ chưa lưu" in body and body.count("có số đã gõ chưa lưu") == 1
    shot(tab, "unsaved-overview-390")
    tab.save_screenshot("/tmp/a32-shots/overview-mark-390.png")
    tab.get(url + "/xa/nhap/2")
    text_once(tab, "Đã khôi phục 1 ô chưa lưu")
    assert value(tab, a) == "5"
    press(tab, "Bỏ các số này")
    text_once(tab, "Đã bỏ các số chưa lưu")
    assert value(tab, a) == "" and marked(tab) == [] and kept(tab) == {}
    tab.get(url + "/xa/nhap/2")
    assert "Đã khôi phục" not in tab.find_element(By.TAG_NAME, "body").text
    assert a not in stored(cfg, WARD)
    # typed, then typed back as it was, and left: nothing to put back, and the copy goes when the Biểu is opened
    type_in(tab, a, "6")
    tab.find_element(By.NAME, a).clear()
    tab.find_element(By.LINK_TEXT, "← Tổng quan bản nháp").click()
    text_once(tab, "Người lập biểu")
    tab.get(url + "/xa/nhap/2")
    text_once(tab, "Biểu 2:")
    assert "Đã khôi phục" not in tab.find_element(By.TAG_NAME, "body").text and kept(tab) == {}


def test_another_ward_signing_in_in_the_same_tab_sees_nothing_of_the_first(
    portal: tuple[str, dict[str, str], JobConfig], catalogue: Catalogue, tab: Any
) -> None:
    from selenium.webdriver.common.by import By

    url, tokens, cfg = portal
    a = sheet_inputs(catalogue)["Biểu 1"][0]
    sign_in(tab, url, tokens[WARD])
    start_blank(tab, url)
    tab.get(url + "/xa/nhap/1")
    type_in(tab, a, "99")
    end_sessions(cfg)
    press(tab, "Lưu")
    text_once(tab, "Phiên làm việc đã hết")
    assert WARD in "".join(kept(tab))  # kept for WARD, while nobody is signed in
    sign_in(tab, url, tokens[OTHER])
    assert kept(tab) == {}  # another ward signed in: the first's figures are gone from the tab
    start_blank(tab, url)
    tab.get(url + "/xa/nhap/1")
    body = tab.find_element(By.TAG_NAME, "body").text
    assert "Đã khôi phục" not in body and value(tab, a) == ""
    assert "99" not in tab.execute_script("return [...document.querySelectorAll('input, select')].map(e => e.value)")
    type_in(tab, a, "4")  # the second ward's own typing is kept under its own name
    assert [k for k in kept(tab) if k.startswith("ctstat:unsaved:")] == [f"ctstat:unsaved:{OTHER}:{cfg.period}:bieu-1"]
    press(tab, "Đăng xuất")  # signing out leaves nothing in the tab
    text_once(tab, "Đã đăng xuất")
    assert kept(tab) == {}
    sign_in(tab, url, tokens[WARD])  # and the first ward, back, finds nothing either
    tab.get(url + "/xa/nhap/1")
    assert "Đã khôi phục" not in tab.find_element(By.TAG_NAME, "body").text and value(tab, a) == ""


def test_a_cell_saved_elsewhere_meanwhile_is_not_overwritten_by_what_comes_back_and_sending_clears_the_tab(
    portal: tuple[str, dict[str, str], JobConfig], catalogue: Catalogue, tab: Any
) -> None:
    """The figures come back with the draft's version they were typed on: a cell another device saved since is
    the save's conflict to look at (as for two pages open at once), not overwritten unseen. A sending clears
    what the tab keeps."""
    from datetime import datetime

    from selenium.webdriver.common.by import By

    from ctstat.job.drafts import save_draft

    url, tokens, cfg = portal
    a, b = sheet_inputs(catalogue)["Biểu 1"][:2]
    sign_in(tab, url, tokens[WARD])
    start_blank(tab, url)
    tab.get(url + "/xa/nhap/1")
    type_in(tab, a, "13")
    type_in(tab, b, "8")
    end_sessions(cfg)
    press(tab, "Lưu")
    text_once(tab, "Phiên làm việc đã hết")
    with Ledger(cfg.ledger_path) as ledger:  # meanwhile, another device saves the same cell
        before = load_draft(ledger, str(cfg.period), WARD)
        assert before is not None
        save_draft(ledger, str(cfg.period), WARD, before.version, {a: "20"}, datetime.now())
    sign_in(tab, url, tokens[WARD])
    tab.get(url + "/xa/nhap/1")
    text_once(tab, "Đã khôi phục 2 ô chưa lưu")
    assert value(tab, a) == "13"
    press(tab, "Lưu")
    text_once(tab, "Chưa lưu: 1 ô vừa được lưu từ máy khác")
    assert "Máy khác vừa lưu ô này là “20”" in field_text(tab, a)
    assert stored(cfg, WARD).get(a) == "20" and b not in stored(cfg, WARD)
    press(tab, "Lưu")  # keeping this page's figures, knowingly
    text_once(tab, "Đã lưu")
    assert {k: stored(cfg, WARD).get(k) for k in (a, b)} == {a: "13", b: "8"} and kept(tab) == {}
    # typed on Biểu 2 and left unsaved, then the draft is sent: nothing is kept any more
    tab.get(url + "/xa/nhap/2")
    type_in(tab, sheet_inputs(catalogue)["Biểu 2"][0], "3")
    tab.find_element(By.LINK_TEXT, "← Tổng quan bản nháp").click()
    text_once(tab, "Người lập biểu")
    assert len(kept(tab)) == 1
    press(tab, "Nộp báo cáo")
    text_once(tab, "Kết quả kiểm tra")
    assert kept(tab) == {}
