"""`ctstat serve`: the district's submission portal, a thin Starlette app over the library.

Wards sign in with their token, upload the form they filled and see at once what `validate` says of it, cell by
cell, with the marked-up copy to download; the district sees its period live and can roll up. Uploads go through
`portal.Intake`, the same input stage, checks and ledger as `ctstat run`.

Walls (the README's "Walls" says what each does not cover): nothing is shown without a token, and a ward's token
shows nothing of other wards; every byte of a body is counted while it streams (413 past the limit, never held
whole in memory) and client file names are never paths; per-token and per-address rate limits (429), a locked-out
address refused before any token is checked; sessions kept in the ledger (sign-out ends them), HttpOnly and
SameSite=Strict cookies, forms carry a CSRF value and every form refuses another site's posts; ids are checked by
the route; bodies have a silence and a rate deadline and requests at once are bounded (`Hardened`; headers and
connections in `serving.py`); every response has a strict Content-Security-Policy and no page needs JavaScript (one
same-origin script, `static/entry.js`, adds live totals and keeps unsaved figures in the tab);
errors answer a page or JSON with a reference, never a traceback (that goes to the log, once).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import sys
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.web import api, district, ward
from ctstat.web.context import (
    COOKIE,
    OUTCOME_VI,
    WEB_DIR,
    HTTPProblem,
    Portal,
    RateLimit,
    RowId,
    Web,
    client_host,
    is_script,
    log,
    make_portal,
    small_form,
)
from ctstat.web.entry import Hooks as EntryHooks
from ctstat.web.entry import routes as entry_routes
from ctstat.web.security import HSTS, OUR_HEADERS, SECURITY_HEADERS, access_line
from ctstat.web.upload import BODY_SLACK, MAX_PARTS, UploadSink, take

__all__ = [
    "BODY_SLACK",
    "COOKIE",
    "MAX_PARTS",
    "OUTCOME_VI",
    "WEB_DIR",
    "HTTPProblem",
    "Hardened",
    "Portal",
    "RateLimit",
    "UploadSink",
    "create_app",
    "make_portal",
    "serve",
    "server_config",
]


def routes(w: Web) -> list[Any]:
    """Every route of the portal, in one list: the path, the handler (`handler(web, request)`), the methods."""
    r = w.route
    return [
        r("/", home),
        r("/dang-nhap", sign_in, "POST"),
        r("/dang-xuat", sign_out, "POST"),
        # a ward
        r("/xa", ward.ward),
        r("/xa/nop", ward.upload_page, "POST"),
        r("/xa/bieu-mau", ward.blank_form),
        r("/lan-nop/{id:rowid}", ward.result),
        r("/tai/lan-nop/{id:rowid}", ward.marked_up),
        r("/tai/tep/{id:rowid}", ward.submission_copy),
        # the district
        r("/huyen", district.district),
        r("/huyen/tong-hop", district.roll_up, "POST"),
        r("/huyen/duyet", district.review, "POST"),
        r("/tai/tong-hop/{n:rowid}", district.rollup_file),
        # scripts
        r("/api/v1/submissions", api.api_submit, "POST"),
        r("/api/v1/status", api.api_status),
        r("/static/ctstat.css", stylesheet),
        r("/healthz", health),
    ] + [r(path, back, "GET") for path in FORM_PAGES]


#: the addresses of forms' answers (their POSTs) -> the page each form is on. Opened again by their address (a
#: reload from the address bar after a refusal, a bookmark, a link shared) they were 405 "Không có trang này"
FORM_PAGES = {
    "/dang-nhap": "/",
    "/dang-xuat": "/",
    "/xa/nop": "/xa",
    "/huyen/tong-hop": "/huyen",
    "/huyen/duyet": "/huyen",
    "/xa/nhap/bat-dau": "/xa/nhap",
    "/xa/nhap/kiem-tra": "/xa/nhap",
    "/xa/nhap/bia": "/xa/nhap",
    "/xa/nhap/nop": "/xa/nhap",
}


async def back(w: Web, request: Any) -> Any:
    """A form's answer opened by its address: to the page the form is on (which signs in when it must)."""
    from starlette.responses import RedirectResponse

    return RedirectResponse(FORM_PAGES[request.url.path], 303)


def create_app(cfg: JobConfig, catalogue: Catalogue, portal: Portal | None = None) -> Any:
    from starlette.applications import Starlette
    from starlette.convertors import register_url_convertor

    register_url_convertor("rowid", RowId())  # type: ignore[arg-type]  # ids checked before any query: past SQLite's range, 404
    p = portal or make_portal(cfg, catalogue)
    w = Web(p)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(p.intake.close)  # the intake thread and its reading workers end with the server

    # the report typed on the page (web/entry.py): its routes after the portal's own
    entry = entry_routes(EntryHooks(p, w.page, w.session, w.check_csrf, w.check_origin, HTTPProblem, take), w.env)
    app = Starlette(routes=routes(w) + entry, exception_handlers=w.handlers(), lifespan=lifespan)
    app.state.portal = p
    return Hardened(app, cfg.max_requests, cfg.body_timeout, cfg.body_min_rate)


# --- signing in and out, and what every page needs --------------------------------------------------------------


async def home(w: Web, request: Any) -> Any:
    from starlette.responses import RedirectResponse

    unit = w.p.keys.session_unit(request.cookies.get(COOKIE))
    if unit is not None:
        return RedirectResponse("/huyen" if w.p.is_area(unit) else "/xa", 303)
    # a notice by its code only (the page's own words): text from the address is never shown
    return w.page(request, "login.html", message=request.query_params.get("tb"))


async def sign_in(w: Web, request: Any) -> Any:
    from starlette.responses import RedirectResponse

    p = w.p
    w.check_origin(request)
    wait = p.sign_ins.wait(client_host(request))  # before the token is looked at: a locked-out address checks nothing
    if wait:
        msg = f"Sai mã quá nhiều lần: thử lại sau {wait} giây."
        return w.problem_page(request, 429, msg, {"Retry-After": str(wait)})
    form = await small_form(request)
    unit = await asyncio.to_thread(p.keys.unit_of, str(form.get("token", "")))
    if unit is None:
        p.sign_ins.hit(client_host(request))
        return w.page(request, "login.html", 401, message="sai-ma")
    # the session this browser had (another unit's on a shared computer, or its own) ends: one live session a
    # browser, and the cookie it replaces opens nothing afterwards
    await asyncio.to_thread(p.keys.end_session, request.cookies.get(COOKIE))
    cookie = await asyncio.to_thread(p.keys.session, unit)
    resp = RedirectResponse("/", 303)
    resp.set_cookie(
        COOKIE,
        cookie,
        max_age=12 * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


async def sign_out(w: Web, request: Any) -> Any:
    from starlette.responses import RedirectResponse

    w.check_origin(request)
    form = await small_form(request)
    cookie = request.cookies.get(COOKIE)
    # a session already ended (expired, its token rotated, signed out in another tab) has nothing to protect:
    # the button of a page left open signs out, rather than answer that the form is stale
    if w.p.keys.session_unit(cookie) is not None:
        w.check_csrf(request, str(form.get("csrf", "")))
        await asyncio.to_thread(w.p.keys.end_session, cookie)  # the cookie opens nothing now
    resp = RedirectResponse("/?tb=da-thoat", 303)
    resp.delete_cookie(COOKIE)
    return resp


async def stylesheet(w: Web, request: Any) -> Any:
    from starlette.responses import Response

    return Response(w.css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


async def health(w: Web, request: Any) -> Any:
    from starlette.responses import Response

    return Response("ok\n", media_type="text/plain")


class Hardened:
    """ASGI middleware around the whole app: security headers and no caching on every response, one access-log
    line per request, at most `max_requests` requests at once (503 past it), deadlines on reading a request body
    (a silence of `body_timeout`, or an average below `body_min_rate` bytes a second once `body_timeout` has
    passed: 408 and the connection closed), and no exception past it (a 500 it writes itself if nothing was sent;
    the app's error handler has logged the traceback once)."""

    def __init__(
        self,
        app: Any,
        max_requests: int = 64,
        body_timeout: float = 20.0,
        body_min_rate: int = 1024,
    ) -> None:
        self.app = app
        self.state = app.state
        self.max_requests, self.body_timeout, self.body_min_rate = max_requests, body_timeout, body_min_rate
        self.active = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        ex = _Exchange(self, scope, receive, send)
        # the stylesheet and the script (bytes in memory) are not bounded: a page served at the limit keeps its look
        if self.active >= self.max_requests and scope.get("path") not in UNBOUNDED:
            await ex.answer(503, BUSY, [(b"retry-after", b"10"), (b"connection", b"close")])
        else:
            self.active += 1
            try:
                await self.app(scope, ex.receive, ex.send)
            except Exception:  # noqa: BLE001 - logged once by the app's handler, or here
                if not scope.get("ctstat.logged"):
                    trace = traceback.format_exc()
                    log.error(json.dumps({"event": "error", "path": scope.get("path", "")[:200], "traceback": trace}))
                if not ex.status:
                    await ex.answer(500, FAILED, [(b"connection", b"close")])
            finally:
                self.active -= 1
        client = scope.get("client") or ("", 0)
        access_line(client[0], scope.get("method"), scope.get("path", ""), ex.status or 500, ex.sent, started)


class _Exchange:
    """One request through `Hardened`: the response's headers hardened as they go out (and nothing of the app's
    after an answer of Hardened's own), the body's bytes and time counted as they come in."""

    def __init__(self, guard: Hardened, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.guard, self._receive, self._send = guard, receive, send
        self.hsts = [HSTS] if scope.get("scheme") == "https" else []
        self.status = 0  #: the response's status, once started
        self.sent = 0  #: body bytes sent
        self.done = False
        self.answered: object | None = None  #: set when Hardened answered itself (its body's marker)
        self.me = object()
        self.got, self.waited, self.open = 0, 0.0, True  #: the request body: bytes in, seconds waited, more to come
        #: a script (the API, or any request with a bearer token) is answered JSON, a browser a page
        auth = next((v for k, v in scope.get("headers", []) if k.lower() == b"authorization"), b"")
        self.script = is_script(scope.get("path", ""), auth.decode("latin-1"))

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            if self.status:  # this middleware answered already (a late body, a refusal): the app's goes
                return
            self.status = message["status"]
            headers = [h for h in message.get("headers", []) if h[0].lower() not in OUR_HEADERS]
            headers += SECURITY_HEADERS + self.hsts
            if not any(h[0].lower() == b"cache-control" for h in headers):
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        elif message["type"] == "http.response.body":
            if self.done or self.answered is not message.get("_by"):
                return
            self.sent += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            message = {k: v for k, v in message.items() if k != "_by"}
        await self._send(message)

    async def answer(self, status: int, said: tuple[str, str], headers: list[tuple[bytes, bytes]]) -> None:
        """A response of this middleware's own, `said` (Vietnamese, English): JSON `{"error", "error_en"}` to a
        script, a page in Vietnamese to a browser (the app's later messages are dropped)."""
        if self.status:
            return
        self.answered = self.me
        if self.script:
            ctype = (b"content-type", b"application/json")
            body = json.dumps({"error": said[0], "error_en": said[1]}, ensure_ascii=False).encode()
        else:
            ctype = (b"content-type", b"text/html; charset=utf-8")
            body = OWN_PAGE.format(said[0]).encode()
        await self.send({"type": "http.response.start", "status": status, "headers": [ctype, *headers]})
        await self.send({"type": "http.response.body", "body": body, "_by": self.me})

    async def receive(self) -> dict[str, Any]:
        if not self.open or self.status:  # the body is in, or the answer is going out (a download
            return dict(await self._receive())  # waiting for a disconnect): no deadline of the client's body
        g = self.guard
        allow = min(g.body_timeout, g.body_timeout + self.got / g.body_min_rate - self.waited)
        t0 = time.monotonic()
        try:
            message = dict(await asyncio.wait_for(self._receive(), max(allow, 0.001)))
        except TimeoutError:
            self.open = False
            await self.answer(408, SLOW, [(b"connection", b"close")])
            return {"type": "http.disconnect"}
        self.waited += time.monotonic() - t0
        if message["type"] == "http.request":
            self.got += len(message.get("body", b""))
            self.open = bool(message.get("more_body", False))
        else:
            self.open = False
        return message


UNBOUNDED = {"/static/ctstat.css", "/static/entry.js"}  #: answered from memory, past `max_requests` too

#: Hardened's own answers, (Vietnamese, English): no template, no ledger, nothing that can fail again
BUSY = ("Máy chủ đang nhận quá nhiều yêu cầu cùng lúc: chờ vài giây rồi gửi lại.", "busy, send again later")
FAILED = ("Lỗi của máy chủ: báo cho cán bộ phụ trách.", "internal error")
SLOW = (
    "Dữ liệu gửi lên quá chậm (đường truyền yếu): gửi lại khi mạng ổn định hơn, hoặc dùng máy có mạng tốt hơn.",
    "request body too slow",
)
OWN_PAGE = (
    '<!doctype html>\n<html lang="vi">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    '<title>Không thực hiện được</title>\n<link rel="stylesheet" href="/static/ctstat.css">\n</head>\n'
    '<body>\n<main class="wrap">\n<h1>Không thực hiện được</h1>\n<p class="note bad">{}</p>\n'
    '<p><a href="/">Quay lại trang chính</a></p>\n</main>\n</body>\n</html>\n'
)


# --- serving ----------------------------------------------------------------------------------------------------


def server_config(app: Any, cfg: JobConfig, host: str = "127.0.0.1", port: int = 8080) -> Any:
    """uvicorn's settings for the portal: its own HTTP/1.1 protocol (`serving.GuardedH11`: a deadline for each
    request's headers, a bound on open connections, uvicorn's own 400 hardened), request headers of 16 KB at most,
    idle keep-alive connections closed after 5 s, X-Forwarded-* believed from `trusted_proxies` only."""
    import uvicorn

    from ctstat.web.serving import guarded_protocol

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(cfg.header_timeout, cfg.max_connections),
        access_log=False,
        proxy_headers=bool(cfg.trusted_proxies),
        forwarded_allow_ips=list(cfg.trusted_proxies) or None,
        server_header=False,
        log_level="warning",
        limit_concurrency=None,  # requests at once are bounded by Hardened (503 with the portal's headers)
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=HEADER_BYTES,
        lifespan="on",
    )


HEADER_BYTES = 16 * 1024  #: a request's line and headers together (past it uvicorn answers 400)


def serve(cfg: JobConfig, catalogue: Catalogue, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the portal with uvicorn until stopped (Ctrl-C or SIGTERM)."""
    import uvicorn

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("ctstat.access", "ctstat.serve"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    app = create_app(cfg, catalogue)
    # what start-up loaded (pandas, pandera, the catalogue, its checks) lives as long as the server: out of the
    # collector's sight, or each full collection walks it all again (50 ms, a few times a second under load)
    gc.freeze()
    uvicorn.Server(server_config(app, cfg, host, port)).run()
