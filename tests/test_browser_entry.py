"""The report typed on the page in a real browser (Debian's chromium, selenium), at a phone's width and a desktop's.

Skipped where chromium is missing (required in CI, like test_browser.py). Screenshots go to $CTSTAT_SCREENSHOTS
when set (the README's come from there)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.web.entry import sheet_inputs

from .conftest import MakeForm, require
from .test_browser import HAVE, browser, served_portal, shot, text_once
from .test_entry import typed_values

WARD = "00304"
PHONE, DESKTOP = (360, 780), (1280, 900)


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(HAVE, "chromium and chromium-driver")


@pytest.fixture
def portal(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], JobConfig]]:
    cfg = replace(cfg, deadline=None)
    for url, tokens in served_portal(cfg, catalogue, tmp_path):
        yield url, tokens, cfg


def phone(user_data: Path) -> Any:
    """Chromium as a 360-pixel-wide phone (a window cannot be made that narrow: the device is emulated)."""
    driver: Any = browser(user_data, *PHONE)
    metrics = {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    return driver


def sign_in(driver: Any, url: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.card button").click()
    text_once(driver, "Gửi báo cáo")


def fill(driver: Any, catalogue: Catalogue, sheet: str, values: dict[str, str]) -> None:
    """Type every field of the Biểu on the page (a select for Có/Không), clearing what was there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for key in sheet_inputs(catalogue)[sheet]:
        el = driver.find_element(By.NAME, key)
        if el.tag_name == "select":
            Select(el).select_by_visible_text(values.get(key) or "(chưa chọn)")
        else:
            el.clear()
            if values.get(key):
                el.send_keys(values[key])


def press(driver: Any, label: str) -> None:
    from selenium.webdriver.common.by import By

    shown = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.is_displayed()]
    buttons = [b for b in shown if b.text.strip() == label] or [b for b in shown if b.text.strip().startswith(label)]
    assert buttons, label
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", buttons[0])
    buttons[0].click()


def show(driver: Any, key: str) -> None:
    """Scroll the field into the middle of the screen (for a screenshot)."""
    from selenium.webdriver.common.by import By

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", driver.find_element(By.NAME, key))


def show_text(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.XPATH, f"//*[text()='{text}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", el)


def field_text(driver: Any, key: str) -> str:
    """The text of the table cell holding a field (its messages)."""
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.NAME, key).find_element(By.XPATH, "./ancestor::td[1]").text)


def test_a_ward_types_its_report_on_a_phone_fixes_two_mistakes_and_sends_it(
    portal: tuple[str, dict[str, str], JobConfig], catalogue: Catalogue, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    url, tokens, cfg = portal
    values = typed_values(catalogue, WARD)
    names = [s.name for s in catalogue.sheets]
    blank, grouped = sheet_inputs(catalogue)["Biểu 1"][0], sheet_inputs(catalogue)["Biểu 2"][1]
    driver = phone(tmp_path / "phone")
    try:
        sign_in(driver, url, tokens[WARD])
        driver.find_element(By.LINK_TEXT, "Nhập báo cáo trên trang").click()
        press(driver, "Bắt đầu từ biểu trống")
        text_once(driver, "Đã tạo bản nháp")
        driver.get(url + "/xa/nhap/1")
        # the phone's keypad is numeric, and the page is one column: nothing wider than the screen
        first = driver.find_element(By.NAME, blank)
        assert first.get_attribute("inputmode") == "numeric"
        assert driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]") == [360, 360]
        for n, sheet in enumerate(names, 1):
            typed = dict(values)
            if sheet == "Biểu 1":
                typed[blank] = ""  # mistake 1: a field left blank
            if sheet == "Biểu 2":
                typed[grouped] = "1.234"  # mistake 2: a number typed with a thousands dot
            fill(driver, catalogue, sheet, typed)
            press(driver, f"Lưu, sang {names[n]}" if n < len(names) else "Lưu và kiểm tra")
            if n < len(names) and sheet != "Biểu 2":
                text_once(driver, f"{names[n]}: {catalogue.sheets[n].title_vi}")
            if sheet == "Biểu 2":  # refused at once, at its field; nothing of Biểu 2 saved
                text_once(driver, "Chưa lưu: 1 ô chưa đúng")
                assert "không có dấu chấm, dấu phẩy hay khoảng trắng: 1234" in field_text(driver, grouped)
                show(driver, grouped)
                shot(driver, "entry-phone-mistake")
                fill(driver, catalogue, sheet, values)  # fixed
                press(driver, f"Lưu, sang {names[n]}")
                text_once(driver, f"{names[n]}: {catalogue.sheets[n].title_vi}")
        body = text_once(driver, "Kiểm tra lúc")
        assert "✗ 1 lỗi cần sửa" in body
        shot(driver, "entry-home-phone")
        driver.get(url + "/xa/nhap/1")
        assert "trống" in field_text(driver, blank).lower()  # the check's words, beside the field
        show(driver, blank)
        shot(driver, "entry-phone")
        fill(driver, catalogue, "Biểu 1", values)
        press(driver, "Lưu và kiểm tra")
        body = text_once(driver, "Kiểm tra lúc")
        assert "✓ Không có lỗi" in body
        press(driver, "Nộp báo cáo")
        body = text_once(driver, "Kết quả kiểm tra")
        assert "Hợp lệ: đã nhận báo cáo của 00304 Phường Vĩnh Hưng" in body
    finally:
        driver.quit()
    # `ctstat status` counts it
    from typer.testing import CliRunner

    from ctstat.cli.commands import app

    conf = tmp_path / "ctstat.toml"
    conf.write_text(f'period = "2025-H1"\nunit = "008"\ninbox = "{cfg.inbox}"\nout = "{cfg.out}"\n', encoding="utf-8")
    out = CliRunner().invoke(app, ["status", "--config", str(conf), "--json"])
    assert out.exit_code == 1, out.output  # 1: the period is not complete (13 wards to chase)
    import json

    doc = json.loads(out.output)
    assert sum(c["valid"] for c in doc["by_parent"].values()) == 1
    assert WARD not in {s["unit"] for s in doc["chase_list"]}
    # resumed on a desktop, in a new session: the figures are there, in a table, Tab going along the row
    desk: Any = browser(tmp_path / "desktop", *DESKTOP)
    try:
        sign_in(desk, url, tokens[WARD])
        desk.get(url + "/xa/nhap/3")
        keys = sheet_inputs(catalogue)["Biểu 3"]
        assert desk.find_element(By.NAME, keys[0]).get_attribute("value") == values[keys[0]]
        from selenium.webdriver.common.keys import Keys

        desk.find_element(By.NAME, keys[0]).click()
        desk.switch_to.active_element.send_keys(Keys.TAB)
        assert desk.switch_to.active_element.get_attribute("name") == keys[1]
        desk.find_element(By.NAME, keys[1]).clear()
        desk.find_element(By.NAME, keys[1]).send_keys("12a")
        press(desk, "Lưu")
        text_once(desk, "Chưa lưu: 1 ô chưa đúng")
        assert "Chỉ gõ chữ số 0-9" in field_text(desk, keys[1])
        show(desk, keys[1])
        shot(desk, "entry-desktop")
        # the district sees who is drafting and how far along
        desk.get(url + "/xa/nhap")
        press(desk, "Đăng xuất")
        text_once(desk, "Đăng nhập")
        desk.find_element(By.ID, "token").send_keys(tokens["008"])
        desk.find_element(By.CSS_SELECTOR, "form.card button").click()
        body = text_once(desk, "Xã, phường đang nhập trên trang")
        assert "00304 Phường Vĩnh Hưng 178/178 ô (100%)" in body
        show_text(desk, "Xã, phường đang nhập trên trang")
        shot(desk, "entry-district")
    finally:
        desk.quit()


def test_two_sessions_editing_at_once_lose_no_figure(
    portal: tuple[str, dict[str, str], JobConfig], catalogue: Catalogue, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    url, tokens, _ = portal
    cell = sheet_inputs(catalogue)["Biểu 1"][0]
    a: Any = phone(tmp_path / "a")
    b: Any = browser(tmp_path / "b", *DESKTOP)
    try:
        for d in (a, b):
            sign_in(d, url, tokens[WARD])
        a.get(url + "/xa/nhap")
        press(a, "Bắt đầu từ biểu trống")
        text_once(a, "Đã tạo bản nháp")
        for d in (a, b):  # both open Biểu 1
            d.get(url + "/xa/nhap/1")
            text_once(d, "Biểu 1: DÂN SỐ TRẺ EM")
        a.find_element(By.NAME, cell).send_keys("10")
        press(a, "Lưu")
        text_once(a, "Đã lưu")
        b.find_element(By.NAME, cell).send_keys("11")
        press(b, "Lưu")
        text_once(b, "Chưa lưu: 1 ô vừa được lưu từ máy khác")
        assert "Máy khác vừa lưu ô này là “10”" in field_text(b, cell)
        assert b.find_element(By.NAME, cell).get_attribute("value") == "11"
        press(b, "Lưu")  # keeping what this page typed, knowingly
        text_once(b, "Đã lưu")
        a.get(url + "/xa/nhap/1")
        assert a.find_element(By.NAME, cell).get_attribute("value") == "11"
    finally:
        a.quit()
        b.quit()


def past_periods(catalogue: Catalogue, unit: str) -> dict[str, dict[str, float]]:
    """The ward's figures of the two half-years before 2025-H1, every cell (totals summed from their parts), as a
    history holds them: period -> cell -> value."""
    from ctstat.model.period import Period
    from ctstat.model.units import load_units
    from ctstat.web.entry import computed
    from ctstat.write.synth import synth_values

    layout = form_layout(catalogue)
    u = load_units("2025-06-30").get(unit)
    assert u is not None
    out = {}
    for seed, period in enumerate(("2024-H1", "2024-H2"), 1):
        raw = synth_values(catalogue, u, Period.parse(period), seed)
        typed = {k: str(int(v)) for k, v in raw.items() if not isinstance(v, (str, bool))}
        cells = {k: float(v) for k, v in typed.items()}
        cells.update({k: float(computed(layout, k, typed)) for k in layout.formulas if computed(layout, k, typed)})
        out[period] = cells
    return out


def test_live_totals_and_last_periods_figures_at_both_widths(
    cfg: JobConfig, catalogue: Catalogue, tmp_path: Path
) -> None:
    """With the job's history, each field shows last period's figure (small, muted); the greyed totals follow what
    is typed before any save (static/entry.js), at a phone's width and a desktop's. The README's pictures of the
    entry page come from here."""
    import pandas as pd
    from selenium.webdriver.common.by import By

    from ctstat.job.history import COLUMNS, History, Source

    past = past_periods(catalogue, WARD)
    rows = [(WARD, "2025-06-30", per, cell, v, "t") for per, cells in past.items() for cell, v in cells.items()]
    History(tmp_path / "h").add(pd.DataFrame(rows, columns=COLUMNS), [Source("t", "table", "t.csv")])
    cfg = replace(cfg, deadline=None, history=tmp_path / "h")
    ids = {k: f"o{i}" for i, k in enumerate(form_layout(catalogue).keys)}
    last = past["2024-H2"]  # Biểu 1 counts children at a moment: the half-year before

    keys = sheet_inputs(catalogue)["Biểu 1"][:4]  # under 3 and 3 to 5: boys, girls

    def grouped(n: int) -> str:
        return f"{n:,}".replace(",", ".")

    def was(key: str) -> str:
        return "kỳ trước: " + grouped(int(last[key]))

    for url, tokens in served_portal(cfg, catalogue, tmp_path):
        for name, driver in (("phone", phone(tmp_path / "p")), ("desktop", browser(tmp_path / "d", *DESKTOP))):
            try:
                sign_in(driver, url, tokens[WARD])
                if name == "phone":  # the desktop resumes the same draft
                    driver.get(url + "/xa/nhap")
                    press(driver, "Bắt đầu từ biểu trống")
                    text_once(driver, "Đã tạo bản nháp")
                driver.get(url + "/xa/nhap/1")
                assert was("TE01/0-2/sex:nam") in field_text(driver, "TE01/0-2/sex:nam")
                assert "(2024-H2)" in driver.find_element(By.TAG_NAME, "body").text
                total = driver.find_element(By.ID, ids["TE01/0-2/*"])
                grand = driver.find_element(By.ID, ids["TE01/*/*"])
                assert total.text == "–"
                # this half-year's figures, near last period's, as a ward types them
                now = {k: int(last[k]) + d for k, d in zip(keys, (4, -2, 11, 7), strict=True)}
                driver.find_element(By.NAME, keys[0]).send_keys(str(now[keys[0]]))
                driver.find_element(By.NAME, keys[1]).send_keys(str(now[keys[1]]))
                driver.find_element(By.NAME, keys[2]).send_keys("12a")  # not a number: not added
                first = now[keys[0]] + now[keys[1]]
                assert total.text == grouped(first) and grand.text == grouped(first)
                assert was("TE01/*/*") in grand.find_element(By.XPATH, "./ancestor::td[1]").text
                driver.find_element(By.NAME, keys[2]).clear()
                assert grand.text == grouped(first)
                driver.find_element(By.NAME, keys[2]).send_keys(str(now[keys[2]]))
                driver.find_element(By.NAME, keys[3]).send_keys(str(now[keys[3]]))
                second = now[keys[2]] + now[keys[3]]
                assert driver.find_element(By.ID, ids["TE01/3-5/*"]).text == grouped(second)
                assert grand.text == grouped(first + second)
                if name == "phone":  # from the Biểu's first row's heading on
                    driver.execute_script("arguments[0].scrollIntoView({block: 'start'}); scrollBy(0, -75)", grand)
                shot(driver, f"entry-history-{name}")
            finally:
                driver.quit()


def test_without_javascript_a_ward_corrects_its_report_by_plain_form_posts(
    portal: tuple[str, dict[str, str], JobConfig], catalogue: Catalogue, make_form: MakeForm, tmp_path: Path
) -> None:
    """JavaScript off: the draft starts from the ward's report, a Biểu is typed with a field left blank and saved by
    the form's own POST, the check's issue is beside that field, the server's totals follow, and the corrected
    report is sent."""
    import httpx
    from selenium.webdriver.common.by import By

    url, tokens, _ = portal
    values = typed_values(catalogue, WARD)
    sent = make_form(unit=WARD)
    r = httpx.post(
        url + "/api/v1/submissions",
        files={"file": (sent.name, sent.read_bytes())},
        headers={"Authorization": f"Bearer {tokens[WARD]}"},
        timeout=60,
    )
    assert r.status_code == 200 and r.json()["valid"], r.text[:400]
    ids = {k: f"o{i}" for i, k in enumerate(form_layout(catalogue).keys)}
    blank, total = "TE01/0-2/sex:nam", "TE01/0-2/*"
    assert blank in sheet_inputs(catalogue)["Biểu 1"]
    driver: Any = browser(tmp_path / "nojs", *DESKTOP, script=False)

    def click(label: str) -> None:  # the button itself: no script scrolls it into view
        (button,) = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == label]
        button.click()

    try:
        sign_in(driver, url, tokens[WARD])
        driver.get(url + "/xa/nhap")
        click("Bắt đầu từ báo cáo đã nộp (để sửa)")
        text_once(driver, "Đã tạo bản nháp")
        driver.get(url + "/xa/nhap/1")
        assert driver.find_element(By.NAME, blank).get_attribute("value") == values[blank]
        before = driver.find_element(By.ID, ids[total]).text
        assert before == f"{int(values[blank]) + int(values['TE01/0-2/sex:nu']):,}".replace(",", ".")
        fill(driver, catalogue, "Biểu 1", {**values, blank: ""})  # one field left blank
        assert driver.find_element(By.ID, ids[total]).text == before  # no script ran: no live total
        click("Lưu")  # the form's own POST
        text_once(driver, "Đã lưu")
        nu = f"{int(values['TE01/0-2/sex:nu']):,}".replace(",", ".")
        assert driver.find_element(By.ID, ids[total]).text == nu  # the server's total of what was saved
        click("Lưu và kiểm tra")  # saved again, then checked
        body = text_once(driver, "Kiểm tra lúc")
        assert "✗ 1 lỗi cần sửa" in body
        driver.get(url + "/xa/nhap/1")
        assert "trống" in field_text(driver, blank).lower()  # the check's words, beside the field
        assert driver.find_element(By.ID, ids[total]).text == nu
        shot(driver, "entry-no-script")
        driver.find_element(By.NAME, blank).send_keys(values[blank])
        click("Lưu và kiểm tra")
        body = text_once(driver, "Kiểm tra lúc")
        assert "✓ Không có lỗi" in body
        click("Nộp báo cáo")
        body = text_once(driver, "Kết quả kiểm tra")
        assert "Hợp lệ: đã nhận báo cáo của 00304 Phường Vĩnh Hưng" in body
    finally:
        driver.quit()
