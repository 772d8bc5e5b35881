"""The portal under attack (issue 27): each wall through the ASGI test client, and where timing matters against a
real uvicorn on 127.0.0.1 with the server's own settings (timeouts set low, so every wait here is a few seconds)."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import sqlite3
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger
from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period
from ctstat.web import app as web
from ctstat.web.app import RateLimit, create_app
from ctstat.web.tokens import Keys, issue_tokens

from .conftest import ROOT, SAMPLES

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
WARD = "00301"
DISTRICT = "008"
BASE = "http://portal.test"


def job(folder: Path, **settings: Any) -> JobConfig:
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    cfg = JobConfig(
        period=Period.parse("2025-H1"),
        unit="008",
        inbox=inbox,
        out=folder / "out",
        deadline=date(2025, 7, 15),
        log=folder / "out" / "ctstat.log",
        upload_limit_mb=1,
        uploads_per_minute=1000,
    )
    return replace(cfg, **settings)


class Site:
    def __init__(self, cfg: JobConfig, catalogue: Catalogue, tokens_csv: Path) -> None:
        self.cfg = cfg
        self.tokens = {i.unit: i.token for i in issue_tokens(cfg, tokens_csv)}
        self.app = create_app(cfg, catalogue)
        self.portal = self.app.state.portal

    def client(self, base_url: str = BASE) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False, base_url=base_url)

    def signed_in(self, unit: str = WARD) -> TestClient:
        c = self.client()
        r = c.post("/dang-nhap", data={"token": self.tokens[unit]}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return c

    def bearer(self, unit: str = WARD) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[unit]}"}


@pytest.fixture
def site(catalogue: Catalogue, tmp_path: Path) -> Iterator[Site]:
    s = Site(job(tmp_path), catalogue, tmp_path / "tokens.csv")
    yield s
    s.portal.intake.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == name]


def logged(caplog: pytest.LogCaptureFixture, count: int) -> list[dict[str, Any]]:
    """The access lines, once there are `count` (a line is written just after its response is sent)."""
    until = time.monotonic() + 5
    while len(records(caplog, "ctstat.access")) < count and time.monotonic() < until:
        time.sleep(0.02)
    return records(caplog, "ctstat.access")


# --- ids are validated before any query ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["99999999999999999999", str(2**63), str(2**63 - 1), "9" * 5000, "-1", "1e3"])
def test_ids_past_sqlites_range_are_404_and_log_nothing(
    site: Site, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    ward, district = site.signed_in(WARD), site.signed_in(DISTRICT)
    for c in (ward, district):
        for route in ("/lan-nop/", "/tai/lan-nop/", "/tai/tep/", "/tai/tong-hop/"):
            r = c.get(route + value, follow_redirects=False)
            assert r.status_code == 404, (route, r.status_code)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "nothing but access lines"
    assert site.client().get("/lan-nop/" + value, follow_redirects=False).status_code == 404


# --- the limiter refuses before any secret is checked ---------------------------------------------------------------


def test_a_locked_out_address_checks_no_token_not_even_the_right_one(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctstat.web import tokens

    checked: list[str] = []
    real = tokens._hasher

    class Counting:
        def verify(self, stored: str, token: str) -> bool:
            checked.append(token)
            return bool(real().verify(stored, token))  # type: ignore[attr-defined]

    monkeypatch.setattr(tokens, "_hasher", Counting)
    c = site.client()
    for i in range(10):  # ten failures a minute trip the lockout
        assert c.post("/dang-nhap", data={"token": f"0030{i}-x"}).status_code == 401
    checked.clear()
    r = c.post("/dang-nhap", data={"token": site.tokens[WARD]}, follow_redirects=False)
    assert r.status_code == 429 and "retry-after" in r.headers and "set-cookie" not in r.headers
    r = c.post("/dang-nhap", data={"token": "00301-aaaaa-bbbbb-ccccc-ddddd"}, follow_redirects=False)
    assert r.status_code == 429
    f = HM / "00301-thanh-tri.xlsx"
    r = c.post("/api/v1/submissions", files={"file": (f.name, f.read_bytes())}, headers=site.bearer())
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert c.get("/api/v1/status", headers=site.bearer(DISTRICT)).status_code == 429
    assert checked == [], "a locked-out address had a token checked"
    assert not list((site.cfg.out / "portal" / "incoming").iterdir())


# --- sessions ---------------------------------------------------------------------------------------------------


def test_signing_out_ends_the_session_on_the_server(site: Site) -> None:
    c = site.signed_in()
    cookie = c.cookies[web.COOKIE]
    assert cookie.encode() not in site.cfg.ledger_path.read_bytes()  # only its digest is kept
    page = c.get("/xa")
    assert page.status_code == 200
    r = c.post("/dang-xuat", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=da-thoat"
    stolen = site.client()
    stolen.cookies.set(web.COOKIE, cookie)  # a copy of the cookie taken before signing out
    r = stolen.get("/xa", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=het-phien"
    r = stolen.post("/xa/nop", files={"file": ("a.xlsx", b"PK")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?tb=het-phien"


def test_two_sign_ins_in_the_same_second_get_different_sessions(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from ctstat.web import tokens

    monkeypatch.setattr(tokens.time, "time", lambda: 1_751_000_000.0)
    a, b = site.signed_in(), site.signed_in()
    assert a.cookies[web.COOKIE] != b.cookies[web.COOKIE]
    a_page = a.get("/xa")
    r = a.post("/dang-xuat", data={"csrf": csrf_of(a_page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert a.get("/xa", follow_redirects=False).status_code == 303  # a ended
    assert b.get("/xa").status_code == 200  # b did not
    # a session's CSRF value is its own
    assert b.post("/dang-xuat", data={"csrf": csrf_of(a_page.text)}).status_code == 403


def test_a_unit_keeps_a_bounded_number_of_sessions(site: Site) -> None:
    clients = [site.signed_in() for _ in range(Keys.PER_UNIT + 3)]
    ledger = Ledger(site.cfg.ledger_path, readonly=True)
    try:
        assert ledger.db.execute("SELECT count(*) FROM sessions").fetchone()[0] == Keys.PER_UNIT
    finally:
        ledger.close()
    assert clients[0].get("/xa", follow_redirects=False).status_code == 303  # the oldest ended
    assert clients[-1].get("/xa").status_code == 200


# --- secrets no other local account can read ----------------------------------------------------------------------


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # what a service without UMask runs with
    try:
        yield
    finally:
        os.umask(old)


def test_the_ledger_and_its_journal_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "out" / "ledger.sqlite"
    ledger = Ledger(path)
    try:
        assert path.stat().st_mode & 0o077 == 0
        ledger.db.execute("BEGIN IMMEDIATE")
        ledger.set_meta("x", "y" * 5000)
        journal = path.with_name(path.name + "-journal")
        assert journal.exists() and journal.stat().st_mode & 0o077 == 0
        ledger.db.execute("COMMIT")
    finally:
        ledger.close()


def test_an_existing_readable_ledger_is_closed_and_its_old_secret_erased(
    site: Site, tmp_path: Path, loose_umask: None
) -> None:
    path = site.cfg.ledger_path
    db = sqlite3.connect(path)
    secret = "5ec7e7" * 10
    db.execute("INSERT INTO meta (key, value) VALUES ('portal_secret', ?)", (secret,))
    db.commit()
    db.close()
    path.chmod(0o644)  # as an earlier release left it
    Keys(path)  # what `ctstat serve` does on start
    assert path.stat().st_mode & 0o077 == 0
    assert secret.encode() not in path.read_bytes()
    assert Ledger(path, readonly=True).get_meta("portal_secret") is None


# --- kept-aside uploads have a quota per sender ---------------------------------------------------------------------


def test_kept_aside_uploads_stay_within_the_senders_quota(
    catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Site(job(tmp_path, kept_quota_mb=1), catalogue, tmp_path / "tokens.csv")
    try:
        junk = os.urandom(450 * 1024)  # not a workbook: invalid, kept aside
        ids = []
        for i in range(4):
            r = s.client().post("/api/v1/submissions", files={"file": (f"j{i}.xlsx", junk)}, headers=s.bearer())
            assert r.status_code == 200 and r.json()["outcome"] == "invalid", r.text
            ids.append(r.json()["upload"])
        kept = s.cfg.out / "portal" / "kept" / WARD
        assert sum(f.stat().st_size for f in kept.iterdir()) <= 1024 * 1024
        assert len(uploads_in(kept)) == 2  # the two newest (each with its marked-up copy)
        c = s.signed_in()
        old, new = c.get(f"/lan-nop/{ids[0]}"), c.get(f"/lan-nop/{ids[-1]}")
        assert old.status_code == new.status_code == 200
        assert "không còn được lưu" in old.text and "tối đa 1 MB" in old.text
        assert "không còn được lưu" not in new.text
        # another ward's quota is its own
        other = (
            s.client().post("/api/v1/submissions", files={"file": ("o.xlsx", junk)}, headers=s.bearer("00304")).json()
        )
        assert other["outcome"] == "invalid" and len(uploads_in(kept)) == 2
        events = [json.loads(line) for line in (s.cfg.log or Path()).read_text(encoding="utf-8").splitlines()]
        assert any(e["event"] == "kept-removed" and e["sender"] == WARD for e in events)
    finally:
        s.portal.intake.close()


def uploads_in(folder: Path) -> list[Path]:
    return [f for f in folder.iterdir() if not f.name.endswith(".kiem-tra.xlsx")]


# --- bounded in-memory tables -------------------------------------------------------------------------------------


def test_the_failure_table_is_bounded_and_forgets_expired_addresses(site: Site) -> None:
    table = site.portal.sign_ins
    assert isinstance(table, RateLimit) and table.keys <= 4096
    for i in range(20_000):  # 20,000 failed sign-ins from new addresses, within one minute
        table.hit(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", now=1000.0 + i / 1000)
    assert len(table) <= table.keys
    assert table.wait("10.0.78.31", now=1021.0) == 0 and len(table) <= table.keys  # asking counts nothing
    table.hit("192.0.2.1", now=2000.0)  # a minute later: every expired address goes
    assert len(table) == 1
    # the lockout itself still works for the addresses it holds
    for _ in range(10):
        table.hit("192.0.2.1", now=2001.0)
    assert table.wait("192.0.2.1", now=2002.0) > 0


# --- one origin rule for every form -------------------------------------------------------------------------------


def test_every_form_refuses_a_cross_site_post_with_or_without_origin(site: Site) -> None:
    c = site.client()
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://evil.test"}):
        r = c.post("/dang-nhap", data={"token": site.tokens[WARD]}, headers=headers, follow_redirects=False)
        assert r.status_code == 403 and "set-cookie" not in r.headers, headers
    same = {"Sec-Fetch-Site": "same-origin"}
    r = c.post("/dang-nhap", data={"token": site.tokens[WARD]}, headers=same, follow_redirects=False)
    assert r.status_code == 303
    ward = site.signed_in()
    csrf = csrf_of(ward.get("/xa").text)
    cross = {"Sec-Fetch-Site": "cross-site"}
    f = HM / "00301-thanh-tri.xlsx"
    r = ward.post("/xa/nop", data={"csrf": csrf}, files={"file": (f.name, f.read_bytes())}, headers=cross)
    assert r.status_code == 403
    assert ward.post("/dang-xuat", data={"csrf": csrf}, headers=cross).status_code == 403
    district = site.signed_in(DISTRICT)
    d_csrf = csrf_of(district.get("/huyen").text)
    assert district.post("/huyen/tong-hop", data={"csrf": d_csrf}, headers=cross).status_code == 403
    assert ward.get("/xa").status_code == 200  # still signed in: the cross-site sign-out did nothing


# --- no attacker text shown as the portal's own -------------------------------------------------------------------


def test_notices_are_shown_by_code_only(site: Site) -> None:
    c = site.client()
    bait = "Tài khoản bị khoá: gọi ngay 0900 000 000"
    page = c.get("/", params={"tb": bait}).text
    assert "0900 000 000" not in page and 'class="note' not in page
    assert "Phiên làm việc đã hết" in c.get("/?tb=het-phien").text
    assert "Đã đăng xuất" in c.get("/?tb=da-thoat").text
    r = c.post("/dang-nhap", data={"token": "00301-aaaaa-bbbbb-ccccc-ddddd"})
    assert r.status_code == 401 and "Mã truy cập không đúng" in r.text
    district = site.signed_in(DISTRICT)
    assert "0900 000 000" not in district.get("/huyen", params={"tb": bait}).text


# --- every part of a request counted ------------------------------------------------------------------------------


def test_a_chunked_text_field_is_stopped_near_the_limit(site: Site) -> None:
    import asyncio

    sent = [0]
    head = b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
    chunks = iter([head] + [b"a" * 65536] * 4096)  # 256 MB of text field, chunked (no Content-Length)
    answer: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, b"")
        sent[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunk)}

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    headers = [(k.lower().encode(), v.encode()) for k, v in site.bearer().items()]
    headers += [(b"content-type", b"multipart/form-data; boundary=b"), (b"transfer-encoding", b"chunked")]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/submissions",
        "raw_path": b"/api/v1/submissions",
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("portal.test", 80),
        "client": ("192.0.2.7", 5000),
        "http_version": "1.1",
        "root_path": "",
    }
    asyncio.run(site.app(scope, receive, send))
    assert answer[0]["status"] == 413
    assert sent[0] <= 1024 * 1024 + web.BODY_SLACK + 65536, sent[0]  # read no further than the limit


def multipart(*parts: tuple[str, bytes, str | None, str]) -> tuple[bytes, str]:
    """(body, content type) of parts (name, value, filename or None, extra header lines)."""
    out = b""
    for name, value, filename, extra in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--XyZ\r\nContent-Disposition: {disp}\r\n{extra}\r\n".encode() + value + b"\r\n"
    return out + b"--XyZ--\r\n", "multipart/form-data; boundary=XyZ"


def test_parts_and_part_headers_are_bounded(site: Site) -> None:
    f = (HM / "00301-thanh-tri.xlsx").read_bytes()
    c = site.client()

    def post(body: bytes, ctype: str) -> int:
        return c.post("/api/v1/submissions", content=body, headers={**site.bearer(), "Content-Type": ctype}).status_code

    assert post(*multipart(("file", f, "a.xlsx", ""))) == 200
    many = [(f"n{i}", b"x", None, "") for i in range(20)]
    assert post(*multipart(*many, ("file", f, "a.xlsx", ""))) == 400
    assert post(*multipart(("file", f, "a.xlsx", "X-Pad: " + "p" * 3000 + "\r\n"))) == 400
    assert post(*multipart(("file", f, "a.xlsx", "".join(f"X-{i}: v\r\n" for i in range(8))))) == 400
    assert inbox_count(site) == 1


def inbox_count(site: Site) -> int:
    return sum(1 for p in site.cfg.inbox.rglob("*") if p.is_file())


def test_the_csrf_value_is_checked_before_the_file_is_stored(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    stored: list[object] = []
    real = web.UploadSink._open

    def counting(self: Any) -> None:
        stored.append(self)
        real(self)

    monkeypatch.setattr(web.UploadSink, "_open", counting)
    c = site.signed_in()
    csrf = csrf_of(c.get("/xa").text)
    f = (HM / "00301-thanh-tri.xlsx").read_bytes()
    r = c.post("/xa/nop", data={"csrf": "0" * 40}, files={"file": ("a.xlsx", f)})
    assert r.status_code == 403 and stored == []
    body, ctype = multipart(("file", f, "a.xlsx", ""), ("csrf", csrf.encode(), None, ""))  # file first
    r = c.post("/xa/nop", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 403 and stored == []
    r = c.post("/xa/nop", data={"csrf": csrf}, files={"file": ("a.xlsx", f)}, follow_redirects=False)
    assert r.status_code == 303 and len(stored) == 1


# --- headers and log lines on every response ----------------------------------------------------------------------


def test_hsts_over_https_only(site: Site) -> None:
    assert "strict-transport-security" in site.client("https://portal.test").get("/healthz").headers
    assert "strict-transport-security" not in site.client().get("/healthz").headers


def test_past_max_requests_the_portal_answers_503_itself() -> None:
    import asyncio
    from types import SimpleNamespace

    async def scenario() -> list[dict[str, Any]]:
        gate = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await gate.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        app.state = SimpleNamespace()  # type: ignore[attr-defined]
        hardened = web.Hardened(app, max_requests=1)
        scope = {"type": "http", "method": "GET", "path": "/", "client": ("192.0.2.9", 1)}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        first = asyncio.create_task(hardened(scope, receive, send))
        await asyncio.sleep(0.01)
        await hardened(scope, receive, send)  # while the first is still being handled
        gate.set()
        await first
        return sent

    sent = asyncio.run(scenario())
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [503, 200]
    headers = dict(starts[0]["headers"])
    assert b"content-security-policy" in headers and headers[b"retry-after"] == b"10"


# --- a real server on the loopback --------------------------------------------------------------------------------


class Live:
    def __init__(self, site: Site, port: int, server: Any, thread: threading.Thread) -> None:
        self.site, self.port, self.server, self.thread = site, port, server, thread

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def get(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        r.read()
        conn.close()
        return r


@pytest.fixture(scope="module")
def live_factory(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import uvicorn

    started: list[Live] = []

    def start(**settings: Any) -> Live:
        folder = tmp_path_factory.mktemp("live")
        site = Site(job(folder, **settings), catalogue, folder / "tokens.csv")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(web.server_config(site.app, site.cfg, "127.0.0.1", port))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        until = time.monotonic() + 30
        while not server.started and time.monotonic() < until:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        live = Live(site, port, server, thread)
        started.append(live)
        return live

    yield start
    for live in started:
        live.server.should_exit = True
        live.thread.join(15)


@pytest.fixture(scope="module")
def live(live_factory: Any) -> Live:
    """Deadlines of a second: headers within 1 s, no body silence over 1 s, 1000 B/s on average after it."""
    return live_factory(header_timeout=1, body_timeout=1, body_min_rate=1000)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def proxied(live_factory: Any) -> Live:
    """Behind a proxy on 127.0.0.1 (the README's nginx). Started in a fixture: uvicorn configures logging when it
    starts, which would take the log capture of a running test away."""
    return live_factory(trusted_proxies=("127.0.0.1",))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def small(live_factory: Any) -> Live:
    return live_factory(max_connections=20, header_timeout=30)  # type: ignore[no-any-return]


def held_until_closed(s: socket.socket, within: float, trickle: bytes = b"", every: float = 0.25) -> bytes | None:
    """Send `trickle` a byte every `every` seconds until the server closes the connection; what it answered, or
    None if it was still open after `within` seconds."""
    answer = b""
    until = time.monotonic() + within
    s.settimeout(every)
    i = 0
    while time.monotonic() < until:
        try:
            data = s.recv(65536)
            if not data:
                return answer
            answer += data
            continue
        except TimeoutError:
            pass
        except ConnectionResetError:
            return answer
        if i < len(trickle):
            try:
                s.sendall(trickle[i : i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return answer
            i += 1
    return None


def test_headers_trickled_a_byte_at_a_time_are_cut_off(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ctstat.access")
    s = live.connect()
    trickle = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 200
    answer = held_until_closed(s, within=5, trickle=trickle)  # 4 bytes a second: would take 60 s
    s.close()
    assert answer is not None, "still open after 5 s"
    assert answer.startswith(b"HTTP/1.1 408") and b"content-security-policy" in answer.lower()
    assert any(r["status"] == 408 for r in records(caplog, "ctstat.access"))


def test_idle_and_half_sent_connections_are_closed(live: Live) -> None:
    idle = live.connect()
    half = live.connect()
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    assert held_until_closed(idle, within=5) == b""  # nothing was asked: closed without an answer
    answer = held_until_closed(half, within=5)
    assert answer is not None and answer.startswith(b"HTTP/1.1 408")
    # after an answer, a kept-alive connection gets the same deadline for its next request
    s = live.connect()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = held_until_closed(s, within=8, trickle=b"GET /healthz HTTP/1.1\r\n" + b"X" * 100, every=0.25)
    assert answer is not None and answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in answer
    for c in (idle, half, s):
        c.close()


def test_a_body_that_stalls_or_trickles_is_cut_off(live: Live) -> None:
    site = live.site
    # a body declared 1 MB that stalls after 1 KB
    s = live.connect()
    head = (
        "POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {site.tokens[WARD]}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n"
    )
    s.sendall(head.encode() + b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.xlsx"\r\n\r\n')
    s.sendall(b"PK" + b"\x00" * 1024)
    answer = held_until_closed(s, within=8)
    s.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
    # a sign-in form trickling at 4 bytes a second (the rate rule, not the silence, ends it)
    s = live.connect()
    s.sendall(b"POST /dang-nhap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n")
    s.sendall(b"Content-Length: 4000\r\n\r\n")
    answer = held_until_closed(s, within=8, trickle=b"token=" + b"a" * 3994)
    s.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
    assert not list((site.cfg.out / "portal" / "incoming").iterdir())  # the stalled upload left nothing behind
    assert live.get("/healthz").status == 200


def test_slowloris_connections_do_not_starve_other_wards(live: Live) -> None:
    slow = []
    for _ in range(200):
        s = live.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    try:
        statuses = [live.get("/healthz").status for _ in range(5)]
        assert statuses == [200] * 5
    finally:
        for s in slow:
            s.close()


def test_uvicorns_own_400_is_hardened_and_logged(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ctstat.access")
    # a request line that is none, and headers past 16 KB still incomplete (h11 bounds what it buffers unparsed)
    for request in (b"NOT A REQUEST\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000):
        s = live.connect()
        s.sendall(request)
        answer = held_until_closed(s, within=5)
        s.close()
        assert answer is not None and answer.startswith(b"HTTP/1.1 400"), answer
        assert b"content-security-policy:" in answer.lower() and b"x-frame-options: deny" in answer.lower()
    assert [r["status"] for r in records(caplog, "ctstat.access")].count(400) == 2


def test_an_error_is_logged_once_and_answered_hardened(
    live: Live, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)

    def broken(*args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("ctstat.web.api.job_status", broken)
    r = live.get("/api/v1/status", headers=live.site.bearer(DISTRICT))
    assert r.status == 500 and r.headers["content-security-policy"]
    traces = [r for r in caplog.records if "boom" in r.getMessage() or (r.exc_info and "boom" in str(r.exc_info[1]))]
    assert len(traces) == 1, [r.name for r in traces]


def test_forwarded_headers_are_believed_from_trusted_proxies_only(
    live: Live, proxied: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ctstat.access")
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    r = live.get("/healthz", headers=forged)
    assert "strict-transport-security" not in {k.lower() for k in r.headers}
    assert logged(caplog, 1)[-1]["client"] == "127.0.0.1"
    r = proxied.get("/healthz", headers=forged)
    assert "strict-transport-security" in {k.lower() for k in r.headers}
    assert logged(caplog, 2)[-1]["client"] == "203.0.113.9"


def test_past_max_connections_the_oldest_waiting_goes(small: Live) -> None:
    slow = []
    for _ in range(40):
        s = small.connect()
        s.sendall(b"GET / HTTP/1.1\r\n")
        slow.append(s)
    try:
        assert small.get("/healthz").status == 200
        assert held_until_closed(slow[0], within=5) is not None  # the first ones were closed to make room
        assert held_until_closed(slow[-1], within=0.5) is None  # the newest still wait
    finally:
        for s in slow:
            s.close()


# --- the dependency floor and the documented deployment -----------------------------------------------------------


def test_the_multipart_parser_floor_bounds_part_headers() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (floor,) = [d for d in deps if d.startswith("python-multipart")]
    version = tuple(int(x) for x in floor.split(">=")[1].split(".")[:3])
    assert version >= (0, 0, 31)  # header count and size bounded (0.0.27), field names before checking (0.0.31)


def test_the_oldest_dependencies_pin_every_floor() -> None:
    """`.ci/oldest.txt` (DEVELOPERS.md, "The oldest dependencies") pins each runtime dependency at its floor: a
    floor raised, or a dependency added, without it fails here."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    lines = (ROOT / ".ci" / "oldest.txt").read_text(encoding="utf-8").splitlines()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    for dep in map(Requirement, deps):
        assert dep.name in pins, dep.name
        pin = Version(pins[dep.name])
        floor = next(Version(s.version) for s in dep.specifier if s.operator == ">=")
        assert pin in dep.specifier and pin.release[: len(floor.release)] == floor.release, (dep, pin)
    assert len(pins) == len(deps)


def test_the_readmes_nginx_and_systemd_match_the_servers_limits() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    nginx = text[text.index("```nginx") : text.index("```", text.index("```nginx") + 8)]
    unit = text[text.index("```ini\n# /etc/systemd/system/ctstat-portal") :]
    unit = unit[: unit.index("```", 6)]
    cfg = JobConfig(period=Period.parse("2025-H1"), unit="008", inbox=Path(), out=Path())

    def setting(name: str) -> str:
        m = re.search(rf"^\s*{name}\s+([^;]+);", nginx, re.M)
        assert m, f"{name} missing from the nginx block"
        return m.group(1).strip()

    assert setting("client_header_timeout") == f"{int(cfg.header_timeout)}s"
    assert setting("client_body_timeout") == f"{int(cfg.body_timeout)}s"
    assert setting("proxy_request_buffering") == "on"
    assert setting("client_max_body_size") == f"{cfg.upload_limit_mb + 1}m"
    assert "Strict-Transport-Security" in setting("add_header")
    assert re.search(r"^UMask=0077$", unit, re.M)
    assert 'trusted_proxies = ["127.0.0.1"]' in text


def test_the_walls_settings_are_read_and_checked(tmp_path: Path) -> None:
    from ctstat.job.config import load_config
    from ctstat.model.errors import UsageError

    (tmp_path / "inbox").mkdir()
    base = 'period = "2025-H1"\nunit = "008"\ninbox = "inbox"\nout = "out"\n'
    path = tmp_path / "ctstat.toml"
    path.write_text(base + 'trusted_proxies = ["127.0.0.1"]\nheader_timeout = 5\nkept_quota_mb = 10\n', "utf-8")
    cfg = load_config(path)
    assert cfg.trusted_proxies == ("127.0.0.1",) and cfg.header_timeout == 5 and cfg.kept_quota_mb == 10
    assert load_config(path, trusted_proxies=None).body_timeout == 20  # the defaults
    for bad in ('trusted_proxies = "127.0.0.1"', 'trusted_proxies = ["nginx"]', "header_timeout = 0"):
        path.write_text(base + bad + "\n", "utf-8")
        with pytest.raises(UsageError, match=bad.split(" ")[0]):
            load_config(path)
