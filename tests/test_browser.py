"""The ward page in a real browser: Debian's chromium driven by selenium against a served portal.

CI installs chromium and chromium-driver (.ci/run); elsewhere the test is skipped when they are missing. The
screenshots go to $CTSTAT_SCREENSHOTS when set (the README's come from there)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.web.tokens import issue_tokens

from .conftest import SAMPLES, require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE = Path(CHROMIUM).exists() and Path(DRIVER).exists()


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(HAVE, "chromium and chromium-driver")


def browser(user_data: Path, width: int = 1280, height: int = 900, script: bool = True) -> object:
    """Headless chromium (`script=False`: with JavaScript off for every page, as a browser set so)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    if not script:
        opts.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data}",
        f"--window-size={width},{height}",
        "--lang=vi",
    ):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(DRIVER))


def served(app: object) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    until = time.monotonic() + 20
    while not server.started and time.monotonic() < until:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def served_portal(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The portal of `cfg` served on a free port, with a token for every unit: yields (base URL, unit -> token);
    its intake's workers stop with it."""
    from ctstat.web.app import create_app

    tokens = {i.unit: i.token for i in issue_tokens(cfg, tmp_path / "tokens.csv")}
    app = create_app(cfg, catalogue)
    try:
        for url in served(app):
            yield url, tokens
    finally:
        app.state.portal.intake.close()


@pytest.fixture
def portal(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    yield from served_portal(replace(cfg, deadline=None), catalogue, tmp_path)


def text_once(driver: object, wanted: str, timeout: float = 30) -> str:
    """The page's text once it shows `wanted` (a form's answer may take a moment)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d: object) -> str | bool:
        try:
            body: str = d.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
        except WebDriverException:
            return False
        return body if wanted in body else False

    result: str = WebDriverWait(driver, timeout).until(ready)  # type: ignore[arg-type]
    return result


def shot(driver: object, name: str) -> None:
    where = os.environ.get("CTSTAT_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(where) / f"{name}.png"))  # type: ignore[attr-defined]


def test_a_ward_uploads_a_faulty_form_and_reads_what_to_fix(portal: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    url, tokens = portal
    driver = browser(tmp_path / "chromium")
    try:
        driver.get(url + "/")  # type: ignore[attr-defined]
        assert "Đăng nhập" in driver.page_source  # type: ignore[attr-defined]
        driver.find_element(By.ID, "token").send_keys(tokens["00304"])  # type: ignore[attr-defined]
        driver.find_element(By.CSS_SELECTOR, "form.card button").click()  # type: ignore[attr-defined]
        body = text_once(driver, "Gửi báo cáo")
        assert "00304 Phường Vĩnh Hưng" in body and "Gửi báo cáo" in body
        shot(driver, "ward")
        faulty = SAMPLES / "faulty" / "02-so-dang-chu.xlsx"
        driver.find_element(By.ID, "file").send_keys(str(faulty))  # type: ignore[attr-defined]
        driver.find_element(By.CSS_SELECTOR, "form[action='/xa/nop'] button").click()  # type: ignore[attr-defined]
        body = text_once(driver, "Kết quả kiểm tra")
        assert "Chưa đạt: 1 lỗi cần sửa" in body
        assert "Biểu 1!F12" in body and "Ô chứa chữ '1.158' thay vì số" in body
        link = driver.find_element(By.LINK_TEXT, "Tải bản đánh dấu lỗi (Excel)")  # type: ignore[attr-defined]
        assert "/tai/lan-nop/" in link.get_attribute("href")
        shot(driver, "result")
        # then the corrected form: hợp lệ
        driver.get(url + "/xa")  # type: ignore[attr-defined]
        good = SAMPLES / "wards" / "2025-H1-hoang-mai" / "00304-vinh-hung.xlsx"
        driver.find_element(By.ID, "file").send_keys(str(good))  # type: ignore[attr-defined]
        driver.find_element(By.CSS_SELECTOR, "form[action='/xa/nop'] button").click()  # type: ignore[attr-defined]
        body = text_once(driver, "Kết quả kiểm tra")
        assert "Hợp lệ: đã nhận báo cáo của 00304 Phường Vĩnh Hưng" in body
        shot(driver, "valid")
        # the district signs in and sees it live: the ward valid, the others on the chase list
        driver.find_element(By.CSS_SELECTOR, "form.signout button").click()  # type: ignore[attr-defined]
        text_once(driver, "Đăng nhập")
        driver.find_element(By.ID, "token").send_keys(tokens["008"])  # type: ignore[attr-defined]
        driver.find_element(By.CSS_SELECTOR, "form.card button").click()  # type: ignore[attr-defined]
        body = text_once(driver, "Tình hình nộp báo cáo")
        assert "008 Quận Hoàng Mai 14 1 0 13 0" in body and "Còn 13 đơn vị cần đôn đốc." in body
        chase = body.split("Danh sách cần đôn đốc")[1].split("Các lần gửi gần đây")[0]
        assert "00301 Phường Thanh Trì Chưa nộp" in chase and "00304" not in chase
        assert "00304 Phường Vĩnh Hưng 00304 Đã nhận (hợp lệ)" in body  # and the failed attempt before it
        assert "00304 Phường Vĩnh Hưng 00304 Chưa đạt: cần sửa: 1 lỗi" in body
        shot(driver, "district")
    finally:
        driver.quit()  # type: ignore[attr-defined]


@pytest.fixture
def reviewing(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], JobConfig]]:
    """The portal with its own signing key (portal_key, listed in review_keys as Trần Thị B)."""
    from ctstat.model.signing import new_keypair

    key, pub = new_keypair(tmp_path / "keys", "b")
    cfg = replace(cfg, deadline=None, review_keys=(("Trần Thị B", pub),), portal_key=key)
    for url, tokens in served_portal(cfg, catalogue, tmp_path):
        yield url, tokens, cfg


def sign_in(driver: Any, url: str, token: str, wanted: str) -> str:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.card button").click()
    return text_once(driver, wanted)


def shots(driver: Any, name: str) -> None:
    """The whole page at a phone's width (360 px) and a desktop's (1280 px), each as tall as the page."""
    where = os.environ.get("CTSTAT_SCREENSHOTS")
    if not where:
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    for width in (360, 1280):
        driver.set_window_size(width, 900)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(int(height) + 150, 6000))
        driver.save_screenshot(str(Path(where) / f"{name}-{width}.png"))
    driver.set_window_size(1280, 900)


def element_shot(driver: Any, css: str, name: str, width: int = 360) -> None:
    """One part of the page at a phone's width (to look at closely)."""
    from selenium.webdriver.common.by import By

    where = os.environ.get("CTSTAT_SCREENSHOTS")
    if where:
        driver.set_window_size(width, 3000)
        driver.find_element(By.CSS_SELECTOR, css).screenshot(str(Path(where) / f"{name}-{width}.png"))
        driver.set_window_size(1280, 900)


def test_a_district_corrects_and_approves_and_the_ward_sees_both(
    reviewing: tuple[str, dict[str, str], JobConfig], tmp_path: Path, make_form: Any, catalogue: Catalogue
) -> None:
    """Two browsers: the ward's (its page left open) and the district's."""
    from selenium.webdriver.common.by import By

    from ctstat.job.ledger import Ledger
    from ctstat.job.run import run_job

    url, tokens, cfg = reviewing
    ward: Any = browser(tmp_path / "chromium-ward")
    district: Any = browser(tmp_path / "chromium-district")
    try:
        sign_in(ward, url, tokens["00301"], "Gửi báo cáo")
        good = SAMPLES / "wards" / "2025-H1-hoang-mai" / "00301-thanh-tri.xlsx"
        ward.find_element(By.ID, "file").send_keys(str(good))
        ward.find_element(By.CSS_SELECTOR, "form[action='/xa/nop'] button").click()
        assert "Hợp lệ: đã nhận báo cáo của 00301" in text_once(ward, "Kết quả kiểm tra")
        ward.get(url + "/xa")  # the ward's page stays open with its upload form
        text_once(ward, "Gửi báo cáo")
        ledger = Ledger(cfg.ledger_path, readonly=True)
        try:
            (row,) = ledger.rows("unit=?", "00301")
            value = ledger.cells([row.id])[row.id]["TE01/0-2/sex:nam"]
        finally:
            ledger.close()
        shutil.copyfile(SAMPLES / "wards" / "2025-H1-hoang-mai" / "00304-vinh-hung.xlsx", cfg.inbox / "00304.xlsx")
        run_job(cfg, catalogue)  # another ward's file, from the shared folder: waiting for review
        # the district corrects Biểu 1!E11 with a note, then approves
        sign_in(district, url, tokens["008"], "Kiểm tra và duyệt")
        item = district.find_element(By.ID, "xa-00301")
        assert "Chờ duyệt" in item.text
        item.find_element(By.XPATH, ".//summary[text()='Sửa một ô']").click()
        item.find_element(By.ID, "cell-00301").send_keys("Biểu 1!E11")
        item.find_element(By.ID, "value-00301").send_keys(f"{value + 1:g}")
        item.find_element(By.ID, "why-fix-00301").send_keys("Xã xác nhận qua điện thoại ngày 8/7")
        item.find_element(By.CSS_SELECTOR, "form input[value='correct'] ~ button").click()
        body = text_once(district, "Đã sửa ô báo cáo của 00301")
        assert f"Biểu 1!E11: {value:g} → {value + 1:g}" in body
        district.find_element(By.CSS_SELECTOR, "#xa-00301 form.inline button").click()
        body = text_once(district, "Đã duyệt báo cáo của 00301")
        assert "Duyệt bởi Trần Thị B" in body
        shots(district, "district")
        for d in district.find_elements(By.CSS_SELECTOR, "#xa-00304 summary"):
            d.click()  # the forms open, as a district officer sees them
        element_shot(district, "section.card:nth-of-type(3)", "district-review")
        element_shot(district, "section.card:nth-of-type(3)", "district-review", 1280)
        # the ward sends a second file from the page it had open: refused, saying who approved and how to reopen
        second = make_form(unit="00301", seed=5)
        ward.find_element(By.ID, "file").send_keys(str(second))
        ward.find_element(By.CSS_SELECTOR, "form[action='/xa/nop'] button").click()
        body = text_once(ward, "Không thực hiện được")
        assert "đã được Trần Thị B duyệt" in body and "mở lại" in body
        shots(ward, "refused")
        # the ward's page: the correction and the approval; its upload form is locked
        ward.get(url + "/xa")
        body = text_once(ward, "Huyện kiểm tra báo cáo")
        assert f"Biểu 1!E11: {value:g} → {value + 1:g}" in body and "Xã xác nhận qua điện thoại ngày 8/7" in body
        assert "Đã được Trần Thị B duyệt" in body and "Không gửi được tệp mới" in body
        assert not ward.find_elements(By.ID, "file")
        shots(ward, "ward")
        ledger = Ledger(cfg.ledger_path, readonly=True)
        try:
            assert [r.sha256 for r in ledger.rows("unit=?", "00301")] == [row.sha256]  # nothing stored
        finally:
            ledger.close()
    finally:
        ward.quit()
        district.quit()
