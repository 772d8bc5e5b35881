"""The portal as an attacker and a ward meet it (audit a31): sessions, CSRF values, the limits every way of sending
a report shares."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.web.tokens import issue_tokens

from .test_entry import fill_all, started, typed_values, version_on
from .test_portal import FAULTY, HM, WARD, Site, csrf_of
from .test_portal_review import records, signing

__all__ = ["signing"]  # the fixture, imported for its use here


@pytest.fixture
def site(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[Site]:
    cfg = replace(cfg, upload_limit_mb=1, uploads_per_minute=3)
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    s = Site(cfg, catalogue, {i.unit: i.token for i in issued})
    yield s
    s.portal.intake.close()


@pytest.mark.parametrize("forged", ["é", "ÿ" * 40, "０" * 40, "\U0001f600"])
def test_a_csrf_value_that_is_not_ascii_is_refused_not_a_server_error(site: Site, forged: str) -> None:
    """hmac.compare_digest raises TypeError on a str that is not ASCII: every form answered 500 (a traceback in
    the log for each) to a CSRF field typed with one accent."""
    c = site.sign_in(WARD)
    page = c.get("/xa").text
    assert c.post("/dang-xuat", data={"csrf": forged}, follow_redirects=False).status_code == 403
    f = FAULTY / "01-so-am.xlsx"
    r = c.post("/xa/nop", files={"file": (f.name, f.read_bytes())}, data={"csrf": forged})
    assert r.status_code == 403 and "Biểu mẫu đã cũ" in r.text
    r = c.post("/xa/nhap/bat-dau", data={"csrf": forged, "version": "0"})
    assert r.status_code == 403
    # the session still works with its own value
    assert c.get("/xa").status_code == 200
    r = c.post("/dang-xuat", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=da-thoat"


def test_signing_out_of_a_session_already_ended_signs_out(site: Site, tmp_path: Path) -> None:
    """A page left open past its session (expired, its token rotated, signed out in another tab): its
    "Đăng xuất" answered 403 'the form is stale', and the browser kept its dead cookie."""
    c = site.sign_in(WARD)
    csrf = csrf_of(c.get("/xa").text)
    other_tab = c.cookies.get("ctstat_phien")
    assert c.post("/dang-xuat", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    c.cookies.set("ctstat_phien", other_tab or "")  # the other tab still has the cookie
    r = c.post("/dang-xuat", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=da-thoat"
    assert 'ctstat_phien=""' in r.headers["set-cookie"]  # the cookie is removed
    # the same when the token was rotated under the page
    c = site.sign_in(WARD)
    csrf = csrf_of(c.get("/xa").text)
    issue_tokens(site.cfg, tmp_path / "rotated.csv", rotate=[WARD])
    r = c.post("/dang-xuat", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=da-thoat"
    # another site still cannot sign anybody out
    r = c.post("/dang-xuat", data={"csrf": csrf}, headers={"Origin": "http://evil.test"})
    assert r.status_code == 403


def test_a_live_session_is_signed_out_only_with_its_csrf_value(site: Site) -> None:
    c = site.sign_in(WARD)
    assert c.post("/dang-xuat", data={"csrf": "0" * 40}).status_code == 403
    assert c.get("/xa", follow_redirects=False).status_code == 200  # still signed in


def test_signing_in_ends_the_session_the_browser_had(site: Site) -> None:
    """A shared office computer: ward A did not sign out, ward B signs in on it. A's cookie, replaced in the
    browser, stayed a live session in the ledger for 12 hours (a copy of it opened A's pages)."""
    c = site.sign_in(WARD)
    first = c.cookies.get("ctstat_phien")
    assert first
    r = c.post("/dang-nhap", data={"token": site.tokens["00304"]}, follow_redirects=False)
    assert r.status_code == 303
    second = c.cookies.get("ctstat_phien")
    assert second and second != first
    assert site.portal.keys.session_unit(first) is None  # the replaced cookie opens nothing
    assert site.portal.keys.session_unit(second) == "00304"
    assert "Phường Vĩnh Hưng" in c.get("/xa").text
    # a failed sign-in ends nothing
    r = c.post("/dang-nhap", data={"token": "00301-aaaaa-bbbbb-ccccc-ddddd"}, follow_redirects=False)
    assert r.status_code == 401 and site.portal.keys.session_unit(second) == "00304"


def test_sending_the_typed_report_counts_against_the_uploads_a_minute(site: Site, catalogue: Catalogue) -> None:
    """'Nộp' on the entry page is an upload (a workbook written, judged, a file in the inbox when valid), but it
    was not counted against `uploads_per_minute`: a ward pressing it again and again (or a script) added a file
    and a form writer's run each time, without bound."""
    c, csrf = started(site)
    fill_all(c, typed_values(catalogue))
    codes = []
    for _ in range(site.cfg.uploads_per_minute + 1):
        version = version_on(c.get("/xa/nhap").text.split("/xa/nhap/nop")[1])
        r = c.post("/xa/nhap/nop", data={"csrf": csrf, "version": version}, follow_redirects=False)
        codes.append(r.status_code)
    assert codes == [303] * site.cfg.uploads_per_minute + [429]
    assert "Gửi quá nhiều lần trong một phút" in r.text and int(r.headers["retry-after"]) >= 1
    with site.ledger() as ledger:
        assert len(ledger.uploads()) == site.cfg.uploads_per_minute  # the refused one recorded nothing
    # uploads and sendings share the count: the file upload is refused too
    f = FAULTY / "01-so-am.xlsx"
    r = c.post("/xa/nop", files={"file": (f.name, f.read_bytes())}, data={"csrf": csrf})
    assert r.status_code == 429


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("1.000", "gõ liền các chữ số, không có dấu chấm, dấu phẩy hay khoảng trắng: 1000"),
        ("12,345", "gõ liền các chữ số, không có dấu chấm, dấu phẩy hay khoảng trắng: 12345"),
        ("1.234.567", "1234567"),
        ("1_000", "không phải là số"),
        ("٣", "không phải là số"),  # Arabic-Indic three: float() takes it
        ("１２", "không phải là số"),  # full-width digits
        ("1e3", "không phải là số"),
        ("nan", "không phải là số"),
        ("infinity", "không phải là số"),
    ],
)
def test_a_correction_s_value_is_plain_digits(typed: str, said: str) -> None:
    """float() read the district's "1.000" (one thousand, as Vietnamese writes it) as 1: the correction was
    recorded, the ward's figure replaced by one nobody meant."""
    from ctstat.job.review import corrected_value
    from ctstat.model.errors import UsageError

    with pytest.raises(UsageError) as refused:
        corrected_value(typed)
    assert said in (refused.value.message_vi or "")


@pytest.mark.parametrize(
    ("typed", "value"),
    [("12", 12.0), (" 1 234 ", 1234.0), ("0", 0.0), ("2,5", 2.5), ("2.5", 2.5), ("0.500", 0.5), ("-0,250", -0.25)],
)
def test_a_correction_s_plain_value_is_taken(typed: str, value: float) -> None:
    from ctstat.job.review import corrected_value

    assert corrected_value(typed) == value


def test_the_districts_correction_of_1_000_records_nothing(signing: Site) -> None:
    site = signing
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
    c = site.sign_in("008")
    csrf = csrf_of(c.get("/huyen").text)
    form = {"csrf": csrf, "action": "correct", "unit": WARD, "cell": "Biểu 1!E11", "why": "Xã báo qua điện thoại"}
    r = c.post("/huyen/duyet", data={**form, "value": "1.000"}, follow_redirects=False)
    assert r.status_code == 409 and "gõ liền các chữ số" in r.text and "1000" in r.text
    assert '<a href="/huyen#xa-00301">Quay lại phần duyệt báo cáo</a>' in r.text  # back to that ward's forms
    assert f'id="xa-{WARD}"' in c.get("/huyen").text  # which the page has
    assert records(site) == []
    r = c.post("/huyen/duyet", data={**form, "value": "1000"}, follow_redirects=False)
    assert r.status_code == 303
    (rec,) = records(site)
    assert rec.covers.corrections[0].new == 1000


def test_the_marked_up_link_an_api_answer_gives_opens_with_its_token(site: Site) -> None:
    """The API's answer names `marked_up`, but the link took a browser's session only: a script following it with
    its token got the sign-in page (200, HTML) to save as its .xlsx."""
    entry = site.api(WARD, FAULTY / "01-so-am.xlsx").json()
    assert entry["outcome"] == "invalid" and entry["marked_up"]
    bearer = {"Authorization": f"Bearer {site.tokens[WARD]}"}
    r = site.client.get(entry["marked_up"], headers=bearer, follow_redirects=False)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert r.content == site.sign_in(WARD).get(entry["marked_up"]).content  # the copy a browser gets
    # the district's token opens it too; another ward's does not, nor a wrong token (JSON, never a page)
    district = {"Authorization": f"Bearer {site.tokens['008']}"}
    assert site.client.get(entry["marked_up"], headers=district).content == r.content
    r = site.client.get(entry["marked_up"], headers={"Authorization": f"Bearer {site.tokens['00304']}"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    r = site.client.get(entry["marked_up"], headers={"Authorization": "Bearer 00301-aaaaa-bbbbb-ccccc-ddddd"})
    assert r.status_code == 401 and r.json()["error_en"] == "missing or wrong token"
    assert r.headers["www-authenticate"] == "Bearer"
    # a browser behind a proxy's Basic sign-in sends Authorization on every request: still a browser (its
    # session opens the copy, a missing page is a page)
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    browser = site.sign_in(WARD)
    r = browser.get(entry["marked_up"], headers=basic)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = browser.get("/lan-nop/999999", headers=basic)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    r = site.client.get(entry["marked_up"], headers=basic, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=het-phien"  # no session: to sign in


def test_a_form_sent_with_no_file_chosen_is_told_so_and_counts_nothing(site: Site) -> None:
    """A browser sends an empty part named `file` with `filename=""` when no file is chosen (a browser ignoring
    `required`, a script): it was judged as an empty workbook, kept aside and counted as a failed attempt."""
    c = site.sign_in(WARD)
    csrf = csrf_of(c.get("/xa").text)

    def body(name: str) -> bytes:  # as Chromium sends the page's form (httpx leaves an empty filename out)
        return (
            f'--b\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
            f'--b\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n\r\n--b--\r\n"
        ).encode()

    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    r = c.post("/xa/nop", content=body(""), headers=multipart)
    assert r.status_code == 400 and "Chưa chọn tệp" in r.text
    bearer = {"Authorization": f"Bearer {site.tokens[WARD]}"}
    r = site.client.post("/api/v1/submissions", content=body(""), headers=multipart | bearer)
    assert r.status_code == 400 and "Chưa chọn tệp" in r.json()["error"]
    with site.ledger() as ledger:
        assert ledger.uploads() == []
    assert not any((site.cfg.out / "portal" / "incoming").iterdir())  # nothing left in staging
    # an empty file that has a name is judged (and told it is empty), as before
    r = site.client.post("/api/v1/submissions", content=body("00301.xlsx"), headers=multipart | bearer)
    assert r.status_code == 200 and r.json()["issues"][0]["code"] == "not-a-workbook"


def _through_hardened(path: str, headers: list[tuple[bytes, bytes]], fail: bool = False) -> list[dict[str, Any]]:
    """What the portal's middleware sends for a request to `path` arriving while another is handled (max_requests
    1: its own 503), or (`fail`) for one whose app raises past every handler (its own 500)."""
    import asyncio
    from types import SimpleNamespace

    from ctstat.web.app import Hardened

    async def scenario() -> list[dict[str, Any]]:
        gate = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if fail:
                raise RuntimeError("boom")
            if scope["path"] == "/":  # the request holding the only place
                await gate.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        app.state = SimpleNamespace()  # type: ignore[attr-defined]
        hardened = Hardened(app, max_requests=1)
        scope = {"type": "http", "method": "GET", "path": path, "headers": headers, "client": ("192.0.2.9", 1)}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        if fail:
            await hardened(scope, receive, send)
            return sent
        first = asyncio.create_task(hardened({**scope, "path": "/"}, receive, send))
        await asyncio.sleep(0.01)
        sent.clear()
        await hardened(scope, receive, send)  # while the first is still being handled
        gate.set()
        await first
        return sent[:2]

    return asyncio.run(scenario())


@pytest.mark.parametrize("fail", [False, True])
def test_the_middlewares_own_answers_are_vietnamese_pages_or_json(fail: bool) -> None:
    """Past max_requests (the deadline's rush) a ward's browser got 'busy, send again later' as bare English text;
    a script got text where every other error of the API is JSON."""
    start, body = _through_hardened("/xa/nop", [(b"cookie", b"ctstat_phien=x")], fail)
    assert start["status"] == (500 if fail else 503)
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"text/html; charset=utf-8" and b"content-security-policy" in headers
    page = body["body"].decode()
    assert '<html lang="vi">' in page and "Không thực hiện được" in page and 'href="/"' in page
    assert ("Lỗi của máy chủ" if fail else "Máy chủ đang nhận quá nhiều yêu cầu cùng lúc") in page
    assert "send again" not in page and "internal error" not in page
    start, body = _through_hardened("/xa", [(b"authorization", b"Basic dXNlcjpwYXNz")], fail)
    assert dict(start["headers"])[b"content-type"] == b"text/html; charset=utf-8"  # a proxy's Basic: a browser
    for path, hdrs in (("/api/v1/submissions", []), ("/tai/lan-nop/1", [(b"authorization", b"Bearer x")])):
        start, body = _through_hardened(path, hdrs, fail)
        assert dict(start["headers"])[b"content-type"] == b"application/json"
        said = json.loads(body["body"])
        assert said["error_en"] == ("internal error" if fail else "busy, send again later")
        assert said["error"].startswith("Lỗi của máy chủ" if fail else "Máy chủ đang nhận")


def test_the_ward_a_notice_names_is_a_ward_s_code_only(site: Site) -> None:
    """`/huyen?tb=approve&xa=…` printed whatever `xa` said inside the portal's own green notice ("Đã duyệt báo cáo
    của <text>"): a link could make the district's page say anything (a phone number to call, a false warning)."""
    c = site.sign_in("008")
    bait = "CẢNH BÁO: mã của huyện đã lộ, gọi 0900 000 000"
    page = c.get("/huyen", params={"tb": "approve", "xa": bait}).text
    assert "0900 000 000" not in page and "Đã duyệt báo cáo của" not in page
    page = c.get("/huyen", params={"tb": "approve", "xa": "008"}).text
    assert "Đã duyệt báo cáo của" not in page  # the district itself is no ward
    page = c.get("/huyen", params={"tb": "approve", "xa": WARD}).text
    assert "Đã duyệt báo cáo của 00301 Phường Thanh Trì." in page  # a ward's code: its notice, with its name


def test_a_forms_answer_opened_by_its_address_goes_to_its_page(site: Site) -> None:
    """After a refusal (a wrong token, a file too large) the address bar shows the form's POST address; opened
    again from there it was 405 "Không có trang này"."""
    c = site.sign_in(WARD)
    for path, page in (("/dang-nhap", "/"), ("/dang-xuat", "/"), ("/xa/nop", "/xa"), ("/xa/nhap/nop", "/xa/nhap")):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == page, path
    assert c.get("/xa/nop").status_code == 200 and "Gửi báo cáo" in c.get("/xa/nop").text
    d = site.sign_in("008")
    for path in ("/huyen/duyet", "/huyen/tong-hop"):
        r = d.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/huyen"
    # without a session the page asks to sign in; the forms themselves still take posts only as before
    assert site.client.get("/xa/nop").url.path == "/"
    assert c.post("/xa/nhap/nop", data={"csrf": "0" * 40, "version": "0"}).status_code == 403
    assert c.get("/khong-co").status_code == 404


def test_behind_a_proxy_not_trusted_the_browsers_own_word_lets_wards_sign_in(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """nginx in front (HTTPS) but `trusted_proxies` not set: the portal sees itself as http://…, the browser's
    Origin is https://…, and every form post, sign-in included, was 403 "Yêu cầu không đến từ trang này" for every
    ward. The browser's Sec-Fetch-Site (no page can set it) says same-origin: that decides; the mismatch is
    logged with what to set."""
    import logging

    caplog.set_level(logging.WARNING, logger="ctstat.serve")
    c = TestClient(site.app, base_url="http://portal.test")
    proxied = {"Origin": "https://portal.test", "Sec-Fetch-Site": "same-origin"}
    r = c.post("/dang-nhap", data={"token": site.tokens[WARD]}, headers=proxied, follow_redirects=False)
    assert r.status_code == 303 and "ctstat_phien" in r.headers["set-cookie"]
    hints = [json.loads(m.getMessage()) for m in caplog.records if "origin-mismatch" in m.getMessage()]
    assert hints and hints[0]["origin"] == "https://portal.test" and hints[0]["portal"] == "http://portal.test"
    assert "trusted_proxies" in hints[0]["hint"]
    # the Host not passed on: the browser says same-origin, the portal sees 127.0.0.1:8080
    csrf = csrf_of(c.get("/xa").text)
    moved = {"Origin": "https://baocao.example.vn", "Sec-Fetch-Site": "same-origin"}
    assert c.post("/dang-xuat", data={"csrf": csrf}, headers=moved, follow_redirects=False).status_code == 303
    # another site is refused whatever its Origin says, and an older browser (Origin only) is judged by it
    for headers in (
        {"Origin": "https://portal.test", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://portal.test", "Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.test"},
        {"Origin": "https://portal.test"},
    ):
        r = c.post("/dang-nhap", data={"token": site.tokens[WARD]}, headers=headers, follow_redirects=False)
        assert r.status_code == 403 and "set-cookie" not in r.headers, headers


def test_the_stylesheet_and_script_are_served_past_max_requests() -> None:
    """At the limit, the page Hardened answers itself (and any page served) asked for its stylesheet and got a 503
    too: an unstyled page on a phone at the deadline's rush."""
    for path in ("/static/ctstat.css", "/static/entry.js"):
        start, body = _through_hardened(path, [])
        assert start["status"] == 200 and body["body"] == b"ok", path
    start, _ = _through_hardened("/healthz", [])
    assert start["status"] == 503  # everything else is bounded as before


def test_a_save_after_the_session_ended_says_it_was_not_saved(site: Site) -> None:
    """A Biểu typed on a page opened before the session's 12 hours ran out: its save went to the sign-in page
    saying only 'the session has ended', and a ward who knows drafts outlive sessions took the figures as saved."""
    import sqlite3

    c, _ = started(site)
    page = c.get("/xa/nhap/1").text
    data = {"csrf": csrf_of(page), "version": version_on(page), "di": "1", "TE01/0-2/sex:nam": "5"}
    db = sqlite3.connect(site.cfg.ledger_path)
    db.execute("UPDATE sessions SET expires_at = 0")
    db.commit()
    db.close()
    r = c.post("/xa/nhap/1", data=data)
    assert r.url.path == "/" and "Phiên làm việc đã hết" in r.text
    assert "số vừa gõ hoặc tệp vừa chọn chưa được nhận" in r.text
