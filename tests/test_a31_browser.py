"""The portal's pages in a real browser at a phone's width (audit a31): what a table's hidden head said is still
said beside each value."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_browser import HAVE, browser, portal, text_once
from .test_portal import FAULTY

__all__ = ["portal"]  # the fixture, imported for its use here

pytestmark = pytest.mark.skipif(not HAVE, reason="chromium and chromium-driver")


def _before(driver: object, selector: str) -> list[str]:
    """The text each matching cell shows before its own (its `::before` content), as the browser computes it."""
    script = "return [...document.querySelectorAll(arguments[0])].map(e => getComputedStyle(e, '::before').content)"
    found: list[str] = driver.execute_script(script, selector)  # type: ignore[attr-defined]
    return found


def test_the_districts_tables_say_what_each_number_is_on_a_phone(
    portal: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """At 390 px a table's head is hidden and each row is a card: the chase list showed a bare '0' (the failed
    attempts), the uploads a sender and a unit with nothing saying which is which."""
    import httpx
    from selenium.webdriver.common.by import By

    url, tokens = portal
    f = FAULTY / "01-so-am.xlsx"
    r = httpx.post(
        url + "/api/v1/submissions",
        files={"file": (f.name, f.read_bytes())},
        headers={"Authorization": f"Bearer {tokens['008']}"},
    )
    assert r.status_code == 200, r.text
    driver = browser(tmp_path / "chromium", width=390, height=900)
    try:
        driver.set_window_size(390, 900)  # type: ignore[attr-defined]  # a window opens at least 500 px wide
        driver.get(url + "/")  # type: ignore[attr-defined]
        driver.find_element(By.NAME, "token").send_keys(tokens["008"])  # type: ignore[attr-defined]
        driver.find_element(By.CSS_SELECTOR, "form[action='/dang-nhap'] button").click()  # type: ignore[attr-defined]
        text_once(driver, "Danh sách cần đôn đốc")
        assert set(_before(driver, "table.list td.num")) == {'"Lần gửi chưa đạt: "'}
        assert _before(driver, "tr.invalid td[data-label]") == ['"Người gửi: "', '"Đơn vị trong tệp: "']
        inner, page = driver.execute_script("return [innerWidth, document.documentElement.scrollWidth]")  # type: ignore[attr-defined]
        assert inner == 390 and page <= inner  # nothing wider than the phone
        driver.set_window_size(1280, 900)  # type: ignore[attr-defined]
        assert set(_before(driver, "td[data-label]")) == {"none"}  # a desktop has the table's head
    finally:
        driver.quit()  # type: ignore[attr-defined]
