"""The report typed on the page (web/entry.py): drafts kept in the ledger, checked and sent on the upload's path."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ctstat.job.config import JobConfig
from ctstat.job.drafts import parse_typed
from ctstat.job.ledger import VERSION, Ledger
from ctstat.job.run import job_status
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import a1
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.pipeline import validate_paths
from ctstat.web.entry import sheet_inputs
from ctstat.web.tokens import issue_tokens
from ctstat.write.synth import synth_values

from .conftest import MakeForm
from .test_portal import Site, csrf_of

WARD, OTHER = "00301", "00304"
CELL = "TE01/0-2/sex:nam"  #: Biểu 1, an input (E11 on the form)


@pytest.fixture
def site(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[Site]:
    cfg = replace(cfg, upload_limit_mb=1, uploads_per_minute=30)
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    s = Site(cfg, catalogue, {i.unit: i.token for i in issued})
    yield s
    s.portal.intake.close()


def typed_values(catalogue: Catalogue, unit: str = WARD, seed: int = 0) -> dict[str, str]:
    """A plausible, valid form's inputs as a ward types them."""
    u = load_units("2025-06-30").get(unit)
    assert u is not None
    out = {}
    for key, v in synth_values(catalogue, u, Period.parse("2025-H1"), seed).items():
        if catalogue.elements[key.split("/")[0]].type == "yesno":
            out[key] = v if isinstance(v, str) else ("Có" if v else "Không")
        else:
            out[key] = str(int(v))
    return out


def started(site: Site, unit: str = WARD, source: str = "trong") -> tuple[TestClient, str]:
    c = site.sign_in(unit)
    csrf = csrf_of(c.get("/xa/nhap").text)
    r = c.post("/xa/nhap/bat-dau", data={"csrf": csrf, "version": "0", "tu": source}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c, csrf


def version_on(html: str) -> str:
    m = re.search(r'name="version" value="([0-9]+)"', html)
    assert m
    return m.group(1)


def save(
    c: TestClient, n: int, values: dict[str, str], go: str | None = None, version: str | None = None, **kw: Any
) -> Any:
    page = c.get(f"/xa/nhap/{n}").text
    data = {"csrf": csrf_of(page), "version": version or version_on(page), "di": go or str(n)}
    cat = c.app.state.portal.catalogue  # type: ignore[attr-defined]
    data.update({k: values.get(k, "") for k in sheet_inputs(cat)[cat.sheets[n - 1].name]})
    return c.post(f"/xa/nhap/{n}", data=data, follow_redirects=False, **kw)


def fill_all(c: TestClient, values: dict[str, str]) -> None:
    for n in range(1, 7):
        r = save(c, n, values)
        assert r.status_code == 303, r.text[-600:]


def draft_row(site: Site, unit: str = WARD) -> dict[str, Any] | None:
    ledger = site.ledger()
    try:
        return ledger.draft("2025-H1", unit)
    finally:
        ledger.close()


def field_td(html: str, key: str) -> str:
    """The table cell holding the field named `key` (its messages are in it)."""
    at = html.index(f'name="{key}"')
    return html[html.rindex("<td", 0, at) : html.index("</td>", at)]


# --- the page is the form ---------------------------------------------------------------------------------------


def test_each_biểu_s_page_is_the_form_s_layout(site: Site, catalogue: Catalogue) -> None:
    c, _ = started(site)
    layout = form_layout(catalogue)
    for n, sheet in enumerate(layout.sheets, 1):
        r = c.get(f"/xa/nhap/{n}")
        assert r.status_code == 200
        html = r.text
        codes = re.findall(r'<td class="code">([^<]+)</td>', html)
        assert codes == [row.code for row in sheet.rows if row.code]  # same rows, same order, same Mã số
        names = re.findall(r'name="([A-Z]{2}[0-9]{2}/[^"]+)"', html)
        assert names == list(sheet_inputs(catalogue)[sheet.name])  # every input, in the form's order (Tab order)
        assert not any(k in layout.formulas for k in names)  # totals are never typed
        assert html.count("<output ") == sum(1 for k in layout.formulas if layout.positions[k][0] == sheet.name)
        assert all(c in html for c in (col.label_vi for col in sheet.columns))
        inputs = re.findall(r"<input [^>]*inputmode=[^>]*>", html)
        assert len(inputs) == sum(1 for k in names if catalogue.elements[k.split("/")[0]].type != "yesno")
        # one script, same-origin (the live totals); nothing inline, nothing from elsewhere
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/entry.js">']
        assert "onclick" not in html and "javascript:" not in html
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self';" in csp and "unsafe" not in csp


def test_totals_are_computed_by_the_server_and_blank_is_not_zero(site: Site, catalogue: Catalogue) -> None:
    c, _ = started(site)
    assert save(c, 1, {"TE01/0-2/sex:nam": "1200", "TE01/0-2/sex:nu": "34"}).status_code == 303
    html = c.get("/xa/nhap/1").text
    ident = {k: f"o{i}" for i, k in enumerate(form_layout(catalogue).keys)}
    assert re.search(rf'<output id="{ident["TE01/0-2/*"]}"[^>]*>1.234</output>', html)  # 1200 + 34
    row = draft_row(site)
    assert row is not None and '"TE01/0-2/sex:nu": "34"' in row["cells"] and "TE01/3-5" not in row["cells"]
    # what was left blank is reported blank by the check, not taken for 0
    c.post("/xa/nhap/kiem-tra", data={"csrf": csrf_of(html)})
    td = field_td(c.get("/xa/nhap/1").text, "TE01/3-5/sex:nam")
    assert "trống" in td.lower() and 'class="fis err"' in td


# --- hostile input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("1.234", "không có dấu chấm, dấu phẩy hay khoảng trắng: 1234"),
        ("1,234", "không có dấu chấm, dấu phẩy hay khoảng trắng: 1234"),
        ("1 234", "không có dấu chấm, dấu phẩy hay khoảng trắng: 1234"),
        ("12a", "Chỉ gõ chữ số 0-9"),
        ("-5", "Số không được âm"),
        ("2,5", "Phải là số nguyên"),
        ("7.5", "Phải là số nguyên"),
        ("1" + "0" * 20, "Số quá lớn"),
        ("١٢", "Chỉ gõ chữ số 0-9"),  # digits, but not 0-9
        ("=1+1", "Chỉ gõ chữ số 0-9"),
    ],
)
def test_a_bad_field_is_told_at_the_field_and_nothing_of_the_biểu_is_saved(site: Site, typed: str, said: str) -> None:
    c, _ = started(site)
    before = draft_row(site)
    r = save(c, 1, {CELL: typed, "TE01/0-2/sex:nu": "12"})
    assert r.status_code == 422
    td = field_td(r.text, CELL)
    assert said in td and 'class="ferr"' in td and 'aria-invalid="true"' in td
    assert 'value="12"' in field_td(r.text, "TE01/0-2/sex:nu")  # what was typed stays on the page
    assert "Chưa lưu: 1 ô chưa đúng" in r.text
    assert draft_row(site) == before  # nothing saved, not even the good field


def test_the_parser_takes_plain_digits_only() -> None:
    assert parse_typed(" 0 ", "count") == ("0", None)
    assert parse_typed("007", "count") == ("7", None)
    assert parse_typed("", "count") == (None, None)  # blank, not zero
    assert parse_typed(str(10**13), "count") == (str(10**13), None)
    assert parse_typed(str(10**13 + 1), "count")[1]
    assert parse_typed("Có", "yesno") == ("Có", None) and parse_typed("có thể", "yesno")[1] == "Chọn Có hoặc Không."


def test_forged_fields_are_refused_whole(site: Site, catalogue: Catalogue) -> None:
    c, _ = started(site)
    before = draft_row(site)
    page = c.get("/xa/nhap/1").text
    base = {"csrf": csrf_of(page), "version": version_on(page), "di": "1", CELL: "5"}
    layout = form_layout(catalogue)
    total = next(k for k in layout.formulas if layout.positions[k][0] == "Biểu 1")
    other_sheet = sheet_inputs(catalogue)["Biểu 2"][0]
    for forged in ({"XX99/*/*": "1"}, {total: "99"}, {other_sheet: "3"}, {"unit": OTHER}):
        r = c.post("/xa/nhap/1", data={**base, **forged}, follow_redirects=False)
        assert r.status_code == 400 and "không thuộc biểu này" in r.text, forged
    r = c.post("/xa/nhap/1", content=f"csrf={base['csrf']}&version=1&{CELL}=1&{CELL}=2".replace("/", "%2F"),
               headers={"content-type": "application/x-www-form-urlencoded"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 400
    assert draft_row(site) == before
    # the period, the Biểu and the version in the address are checked too
    assert c.get("/xa/nhap/7").status_code == 404 and c.get("/xa/nhap/0").status_code == 404
    r = c.post("/xa/nhap/1", data={**base, "version": "x"}, follow_redirects=False)
    assert r.status_code == 400 and draft_row(site) == before


def test_cross_site_replayed_and_expired_posts_save_nothing(site: Site) -> None:
    c, csrf = started(site)
    before = draft_row(site)
    page = c.get("/xa/nhap/1").text
    data = {"csrf": csrf, "version": version_on(page), "di": "1", CELL: "5"}
    r = c.post("/xa/nhap/1", data=data, headers={"origin": "http://evil.test"}, follow_redirects=False)
    assert r.status_code == 403 and "không đến từ trang này" in r.text
    r = c.post("/xa/nhap/1", data=data, headers={"sec-fetch-site": "cross-site"}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post("/xa/nhap/1", data={**data, "csrf": "0" * 40}, follow_redirects=False)
    assert r.status_code == 403 and "Biểu mẫu đã cũ" in r.text
    for path in ("/xa/nhap/kiem-tra", "/xa/nhap/nop", "/xa/nhap/bat-dau"):
        assert c.post(path, data={"version": "1"}, follow_redirects=False).status_code == 403, path
    # signed out: the same post (cookie and CSRF value replayed) opens nothing
    cookie = c.cookies.get("ctstat_phien")
    c.post("/dang-xuat", data={"csrf": csrf})
    replay = TestClient(site.app, base_url="http://portal.test", cookies={"ctstat_phien": cookie or ""})
    r = replay.post("/xa/nhap/1", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=het-phien"
    assert draft_row(site) == before
    # a session that expired: the same (Keys checks the expiry stored with it)
    c2 = site.sign_in(WARD)
    page = c2.get("/xa/nhap/1").text
    data = {"csrf": csrf_of(page), "version": version_on(page), "di": "1", CELL: "5"}
    db = sqlite3.connect(site.cfg.ledger_path)
    db.execute("UPDATE sessions SET expires_at = 0")
    db.commit()
    db.close()
    r = c2.post("/xa/nhap/1", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=het-phien"  # to sign in again
    assert draft_row(site) == before


def test_a_ward_reaches_its_own_draft_only(site: Site) -> None:
    c, _ = started(site)
    assert save(c, 1, {CELL: "77"}).status_code == 303
    other = site.sign_in(OTHER)
    html = other.get("/xa/nhap").text
    assert "Bắt đầu từ biểu trống" in html  # no draft of its own; nothing of 00301's
    assert other.get("/xa/nhap/1", follow_redirects=False).headers["location"] == "/xa/nhap"
    district = site.sign_in("008")
    assert district.get("/xa/nhap").status_code == 404
    assert district.get("/xa/nhap/tep").status_code == 404


# --- drafts -----------------------------------------------------------------------------------------------------


def test_a_draft_survives_sign_out_and_opens_on_another_device(site: Site) -> None:
    c, csrf = started(site)
    assert save(c, 1, {CELL: "41"}, go="2").headers["location"] == "/xa/nhap/2?tb=da-luu"
    c.post("/dang-xuat", data={"csrf": csrf})
    phone = site.sign_in(WARD)
    assert 'value="41"' in field_td(phone.get("/xa/nhap/1").text, CELL)


def test_two_devices_never_silently_lose_a_figure(site: Site) -> None:
    pc, _ = started(site)
    phone = site.sign_in(WARD)
    old = version_on(phone.get("/xa/nhap/1").text)  # the phone opened Biểu 1 ...
    assert save(pc, 1, {CELL: "10", "TE01/0-2/sex:nu": "20"}).status_code == 303  # ... then the PC saved it
    # the phone changes the same field to another number: told, nothing saved
    r = save(phone, 1, {CELL: "11"}, version=old)
    assert r.status_code == 409
    td = field_td(r.text, CELL)
    assert "Máy khác vừa lưu ô này là “10”" in td and 'value="11"' in td
    assert 'value="20"' in field_td(r.text, "TE01/0-2/sex:nu")  # the PC's other figure is shown, not blanked
    row = draft_row(site)
    assert row is not None and '"TE01/0-2/sex:nam": "10"' in row["cells"]
    # saving again from that page keeps what the phone typed, and the PC's other figure
    again = version_on(r.text)
    r = save(phone, 1, {CELL: "11", "TE01/0-2/sex:nu": "20"}, version=again)
    assert r.status_code == 303
    row = draft_row(site)
    assert row is not None and '"TE01/0-2/sex:nam": "11"' in row["cells"] and '"TE01/0-2/sex:nu": "20"' in row["cells"]
    # a stale page that did not touch a field keeps the newer value saved elsewhere
    stale = version_on(pc.get("/xa/nhap/1").text)
    assert save(phone, 1, {CELL: "12", "TE01/0-2/sex:nu": "20"}).status_code == 303
    r = save(pc, 1, {CELL: "11", "TE01/0-2/sex:nu": "20", "TE01/3-5/sex:nam": "3"}, version=stale)
    assert r.status_code == 303 and "tb=cap-nhat" in r.headers["location"]
    row = draft_row(site)
    assert row is not None and '"TE01/0-2/sex:nam": "12"' in row["cells"] and '"TE01/3-5/sex:nam": "3"' in row["cells"]


def test_a_ledger_of_version_4_gains_the_drafts_tables(site: Site) -> None:
    c, _ = started(site)
    assert save(c, 1, {CELL: "5"}).status_code == 303
    path = site.cfg.ledger_path
    db = sqlite3.connect(path)
    before = db.execute("SELECT unit, hash FROM tokens ORDER BY unit").fetchall()
    db.execute("DROP TABLE drafts")
    db.execute("DROP TABLE draft_changes")
    db.execute("PRAGMA user_version=4")
    db.commit()
    db.close()
    assert Ledger(path, readonly=True).draft("2025-H1", WARD) is None  # read-only: no table, no draft, no error
    Ledger(path).close()  # a writing open migrates
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION == 5
    assert db.execute("SELECT unit, hash FROM tokens ORDER BY unit").fetchall() == before
    assert db.execute("SELECT count(*) FROM drafts").fetchone()[0] == 0
    db.close()


# --- check and submit ---------------------------------------------------------------------------------------------


def test_check_says_what_an_upload_would_say_at_each_field(
    site: Site, catalogue: Catalogue, make_form: MakeForm
) -> None:
    import json

    values = typed_values(catalogue)
    layout = form_layout(catalogue)
    big = sheet_inputs(catalogue)["Biểu 2"][0]
    wrong = {**values, CELL: "", big: str(int(values[big]) + 10**6)}  # a blank, and a figure past its bounds
    c, csrf = started(site)
    fill_all(c, wrong)
    r = c.post("/xa/nhap/kiem-tra", data={"csrf": csrf}, follow_redirects=True)
    assert "✗ " in r.text and "lỗi cần sửa" in r.text
    # the same figures in a workbook, uploaded: the same issues, in the same words
    typed = {k: int(v) if v.isdigit() else v for k, v in wrong.items() if v != ""}
    form = make_form(unit=WARD, changes={**typed, CELL: None})
    upload = validate_paths([form], catalogue, "2025-H1").files[0]
    row = draft_row(site)
    assert row is not None
    checked = json.loads(row["checked"])["report"]["issues"]
    assert sorted(i["text_vi"] for i in checked) == sorted(i.text_vi for i in upload.issues)
    assert any(i.code == "blank-value" for i in upload.issues) and upload.errors >= 2
    # each issue at a cell is shown beside that cell, on its Biểu's page
    ident = {k: f"o{i}" for i, k in enumerate(layout.keys)}
    names = [s.name for s in layout.sheets]
    pages = {name: c.get(f"/xa/nhap/{n}").text for n, name in enumerate(names, 1)}
    at = {(sh, a1(r_, c_)): k for k, (sh, r_, c_) in layout.positions.items()}
    placed = 0
    for issue in upload.issues:
        key = at.get((issue.sheet or "", issue.cell or ""))
        if key is not None:
            html = pages[issue.sheet or ""]
            spot = html.index(f'id="{ident[key]}"')
            td = html[html.rindex("<td", 0, spot) : html.index("</td>", spot)]
            assert issue.text_vi in td, (issue.where, issue.text_vi)
            placed += 1
    assert placed >= 2
    # a field with an error is marked; one with none is not
    assert field_td(pages["Biểu 1"], CELL).startswith('<td class="in err')
    assert field_td(pages["Biểu 1"], "TE01/0-2/sex:nu").startswith('<td class="in">')


def test_submit_is_an_upload_recorded_judged_counted_and_downloadable(site: Site, catalogue: Catalogue) -> None:
    c, csrf = started(site)
    fill_all(c, typed_values(catalogue))
    home = c.get("/xa/nhap").text
    r = c.post("/xa/nhap/nop", data={"csrf": csrf, "version": version_on(home.split("/xa/nhap/nop")[1])},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/lan-nop/")
    result = c.get(r.headers["location"]).text
    assert "Hợp lệ: đã nhận báo cáo của 00301 Phường Thanh Trì" in result
    ledger = site.ledger()
    try:
        (up,) = ledger.uploads()
        (sub,) = ledger.rows()
    finally:
        ledger.close()
    assert up.outcome == "accepted" and up.sender == WARD and up.submission_id == sub.id
    inbox_file = site.cfg.inbox / sub.path
    assert hashlib.sha256(inbox_file.read_bytes()).hexdigest() == sub.sha256 == up.report.sha256
    st = job_status(site.cfg, catalogue)
    assert sum(c["valid"] for c in st["by_parent"].values()) == 1  # counted in completeness
    chased = {s["unit"] for s in st["chase_list"]}
    assert WARD not in chased and OTHER in chased
    got = c.get("/xa/nhap/tep")
    assert got.status_code == 200 and got.content == inbox_file.read_bytes()
    assert "Đã nộp lúc" in c.get("/xa/nhap").text
    # the district sees the ward drafting, how far along, and sent
    district = site.sign_in("008").get("/huyen").text
    part = district.split("Xã, phường đang nhập trên trang")[1]
    assert "00301 Phường Thanh Trì" in part and "178/178 ô (100%)" in part and "Đã nhận (hợp lệ)" in part


def test_a_draft_starts_from_the_current_submission(site: Site, catalogue: Catalogue) -> None:
    values = typed_values(catalogue, seed=3)
    c, csrf = started(site)
    fill_all(c, values)
    c.post("/xa/nhap/nop", data={"csrf": csrf, "version": version_on(c.get("/xa/nhap").text.split("nop")[1])})
    other = site.sign_in(WARD)
    home = other.get("/xa/nhap").text
    r = other.post("/xa/nhap/bat-dau", data={"csrf": csrf_of(home), "version": "0", "tu": "bao-cao"},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 409  # the draft exists at a later version: the page was stale
    page = other.get("/xa/nhap").text
    ver = version_on(page.split("bat-dau")[-1])
    r = other.post("/xa/nhap/bat-dau", data={"csrf": csrf_of(page), "version": ver, "tu": "bao-cao"})
    assert r.status_code == 200
    row = draft_row(site)
    assert row is not None and row["started_from"].startswith("submission:")
    import json

    assert json.loads(row["cells"]) == values


def test_nothing_is_saved_or_sent_once_approved(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> None:
    from ctstat.job.review import Action, act

    from .test_review import make_job

    rcfg, signer, _ = make_job(cfg, tmp_path)
    issued = issue_tokens(rcfg, tmp_path / "tokens.csv")
    s = Site(rcfg, catalogue, {i.unit: i.token for i in issued})
    try:
        c, csrf = started(s)
        fill_all(c, typed_values(catalogue))
        c.post("/xa/nhap/nop", data={"csrf": csrf, "version": version_on(c.get("/xa/nhap").text.split("nop")[1])})
        act(rcfg, catalogue, signer, Action("approve", WARD))
        before = draft_row(s)
        r = save(c, 1, {CELL: "1"})
        assert r.status_code == 409 and "Không lưu được" in r.text and "ctstat review reopen 00301" in r.text
        ver = version_on(c.get("/xa/nhap").text.split("/xa/nhap/nop")[1])
        r = c.post("/xa/nhap/nop", data={"csrf": csrf, "version": ver}, follow_redirects=False)
        assert r.status_code == 409 and "Không nộp được" in r.text
        assert draft_row(s) == before and len(s.ledger().uploads()) == 1
    finally:
        s.portal.intake.close()


def test_an_empty_draft_is_not_sent(site: Site) -> None:
    c, csrf = started(site)
    r = c.post("/xa/nhap/nop", data={"csrf": csrf, "version": "1"}, follow_redirects=False)
    assert r.status_code == 422 and "chưa có số liệu nào" in r.text
    assert site.ledger().uploads() == []


def test_the_district_opens_a_ward_s_draft_read_only(site: Site) -> None:
    c, _ = started(site)
    assert save(c, 1, {CELL: "41"}).status_code == 303
    district = site.sign_in("008")
    page = district.get("/huyen").text
    assert 'href="/huyen/nhap/00301"' in page and "1/178 ô (1%)" in page
    r = district.get("/huyen/nhap/00301")
    assert r.status_code == 200 and "Bản nháp của 00301 Phường Thanh Trì" in r.text
    td = field_td(r.text, CELL)
    assert 'value="41"' in td and " readonly" in td
    assert '<form method="post" action="/xa/nhap' not in r.text  # nothing to post
    assert district.get("/huyen/nhap/00304").status_code == 404  # no draft
    assert district.get("/huyen/nhap/99999").status_code == 404  # no such ward
    assert district.get("/huyen/nhap/008").status_code == 404
    assert district.get("/huyen/nhap/00301?bieu=9").status_code == 404
    assert "Biểu 3: TÌNH HÌNH XÂM HẠI TRẺ EM" in district.get("/huyen/nhap/00301?bieu=3").text
    # a ward sees no other ward's draft this way either
    assert site.sign_in(OTHER).get("/huyen/nhap/00301").status_code == 403


def test_a_check_older_than_the_last_save_says_so(site: Site) -> None:
    c, csrf = started(site)
    assert save(c, 1, {CELL: "3"}).status_code == 303
    c.post("/xa/nhap/kiem-tra", data={"csrf": csrf})
    assert "trước lần lưu cuối" not in c.get("/xa/nhap/1").text
    assert save(c, 1, {CELL: "4"}).status_code == 303
    assert "Kết quả kiểm tra dưới các ô là của lần kiểm tra trước lần lưu cuối" in c.get("/xa/nhap/1").text
    assert "bản nháp đã sửa sau đó: kiểm tra lại" in c.get("/xa/nhap").text


def test_the_cover_s_preparer_and_phone_go_on_the_workbook_sent(site: Site, catalogue: Catalogue) -> None:
    import io

    import python_calamine as pc

    from ctstat.model.layout import COVER

    c, csrf = started(site)
    fill_all(c, typed_values(catalogue))
    home = c.get("/xa/nhap").text
    ver = version_on(home.split("/xa/nhap/bia")[1])
    for bad in ({"bia:phone": "0912 abc"}, {"bia:preparer": "x" * 61}, {"bia:preparer": "a\x07b"}):
        r = c.post("/xa/nhap/bia", data={"csrf": csrf, "version": ver, **bad}, follow_redirects=False)
        assert r.status_code == 422 and "Chưa lưu" in r.text, bad
    r = c.post("/xa/nhap/bia", data={"csrf": csrf, "version": ver, "TE01/*/*": "1"}, follow_redirects=False)
    assert r.status_code == 400
    good = {"bia:preparer": "=Nguyễn Thị Lan", "bia:phone": "0912 345 678"}
    r = c.post("/xa/nhap/bia", data={"csrf": csrf, "version": ver, **good}, follow_redirects=False)
    assert r.status_code == 303
    home = c.get("/xa/nhap").text
    assert 'value="=Nguyễn Thị Lan"' in home and 'value="0912 345 678"' in home
    r = c.post("/xa/nhap/nop", data={"csrf": csrf, "version": version_on(home.split("/xa/nhap/nop")[1])})
    assert "Hợp lệ: đã nhận báo cáo" in r.text
    book = pc.CalamineWorkbook.from_filelike(io.BytesIO(c.get("/xa/nhap/tep").content))
    sheet = book.get_sheet_by_name(COVER).to_python()
    cover = {row[1]: row[2] for row in sheet if len(row) > 2}
    assert cover["Người lập biểu"] == "=Nguyễn Thị Lan"  # text, never a formula
    assert cover["Số điện thoại liên hệ"] == "0912 345 678"


def test_the_live_totals_script_is_served_and_each_total_names_its_parts(site: Site, catalogue: Catalogue) -> None:
    """The page's one script (static/entry.js) is the portal's own, and each total tells it which fields add up to
    it: the form's formula, by the fields' ids. Without the script the server's totals stand (the other tests)."""
    c, _ = started(site)
    js = c.get("/static/entry.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "data-parts" in js.text and "fetch(" not in js.text and "XMLHttpRequest" not in js.text
    assert "script-src 'self';" in js.headers["content-security-policy"]
    layout = form_layout(catalogue)
    ids = {k: f"o{i}" for i, k in enumerate(layout.keys)}
    seen = 0
    for n, sheet in enumerate(layout.sheets, 1):
        html = c.get(f"/xa/nhap/{n}").text
        parts = dict(re.findall(r'<output id="(o[0-9]+)" data-parts="([^"]*)"', html))
        wanted = {
            ids[k]: " ".join(ids[p] for p in f)
            for k, f in layout.formulas.items()
            if layout.positions[k][0] == sheet.name
        }
        assert parts == wanted
        seen += len(parts)
        # every part is a field or a total of this page
        assert all(f'id="{i}"' in html for p in parts.values() for i in p.split())
    assert seen == len(layout.formulas)
