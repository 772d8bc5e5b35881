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
connections in `serving.py`); every response has a strict Content-Security-Policy and no page has JavaScript;
errors answer a page or JSON with a reference, never a traceback (that goes to the log, once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sys
import threading
import time
import traceback
from collections import OrderedDict, defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger, Upload
from ctstat.job.run import _area, _claims, _statuses, job_status, run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.messages import api_error
from ctstat.model.units import load_units
from ctstat.model.vocab import count_label, rollup_note, status_label
from ctstat.web.entry import Hooks as EntryHooks
from ctstat.web.entry import routes as entry_routes
from ctstat.web.intake import Busy, Intake, Staged, server_name, sniff_extension, staging_dir
from ctstat.web.security import HSTS, OUR_HEADERS, SECURITY_HEADERS, access_line
from ctstat.web.tokens import Keys

COOKIE = "ctstat_phien"
WEB_DIR = Path(__file__).parents[1] / "data" / "web"
log = logging.getLogger("ctstat.serve")

OUTCOME_VI = {
    "accepted": "Đã nhận (hợp lệ)",
    "invalid": "Chưa đạt: cần sửa",
    "refused": "Từ chối: tệp của đơn vị khác",
}


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class RateLimit:
    """At most `limit` events per `window` seconds per key (a sliding window, kept in memory).

    The table is bounded: a key whose events have all expired is dropped, and it holds at most `keys` keys (past
    that, the key counted longest ago is forgotten: more addresses than that within one window get past the count,
    never past memory)."""

    def __init__(self, limit: int, window: float = 60.0, keys: int = 4096) -> None:
        self.limit, self.window, self.keys = limit, window, keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()  #: least recently counted first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def _current(self, key: str, now: float) -> deque[float] | None:
        seen = self._seen.get(key)
        if seen is not None:
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if not seen:
                del self._seen[key]
                return None
        return seen

    def _retry(self, seen: deque[float] | None, now: float) -> int:
        if seen is not None and len(seen) >= self.limit:
            return max(1, int(seen[0] + self.window - now) + 1)
        return 0

    def wait(self, key: str, now: float | None = None) -> int:
        """0 if `key` may have another event now, else the seconds to wait; counts nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return self._retry(self._current(key, now), now)

    def hit(self, key: str, now: float | None = None) -> int:
        """Count one event; 0 if allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            seen = self._current(key, now)
            wait = self._retry(seen, now)
            if wait:
                return wait
            if seen is None:
                # the oldest keys first: once one is still live, so are all after it (ordered by last event)
                while self._seen:
                    oldest = next(iter(self._seen))
                    if self._current(oldest, now) is not None:
                        break
                while len(self._seen) >= self.keys:
                    self._seen.popitem(last=False)
                seen = self._seen[key] = deque()
            seen.append(now)
            self._seen.move_to_end(key)
            return 0


@dataclass
class Portal:
    """What the app's handlers share."""

    cfg: JobConfig
    catalogue: Catalogue
    keys: Keys
    intake: Intake
    uploads: RateLimit
    sign_ins: RateLimit
    area_code: str
    area_name: str
    names: dict[str, str]  #: code -> name of the area and every expected commune

    def is_area(self, unit: str) -> bool:
        return unit == self.area_code

    def label(self, unit: str | None) -> str:
        return f"{unit} {self.names.get(unit or '', '')}".strip() if unit else "?"


def make_portal(cfg: JobConfig, catalogue: Catalogue) -> Portal:
    from ctstat.check.validate import warm_up

    h = load_units(cfg.vintage)
    area = _area(cfg, h)
    names = {area.code: area.name} | {u.code: u.name for u in h.communes_under(area)}
    keys = Keys(cfg.ledger_path)  # creates (or migrates) the ledger and the session secret
    warm_up(catalogue)  # the schemas are built before the first upload
    staging_dir(cfg).mkdir(parents=True, exist_ok=True)
    return Portal(
        cfg,
        catalogue,
        keys,
        Intake(cfg, catalogue),
        RateLimit(cfg.uploads_per_minute),
        RateLimit(10),
        area.code,
        area.name,
        names,
    )


# --- the app ------------------------------------------------------------------------------------------------------


def create_app(cfg: JobConfig, catalogue: Catalogue, portal: Portal | None = None) -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from starlette.applications import Starlette
    from starlette.convertors import register_url_convertor
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    register_url_convertor("rowid", RowId())  # type: ignore[arg-type]  # ids checked before any query: past SQLite's range, 404
    p = portal or make_portal(cfg, catalogue)
    env = Environment(loader=FileSystemLoader(WEB_DIR), autoescape=select_autoescape(["html"]))
    env.globals.update(
        status_label=status_label, count_label=count_label, rollup_note=rollup_note, outcome_vi=OUTCOME_VI, p=p
    )
    env.filters["when"] = lambda d: d.strftime("%d/%m/%Y %H:%M") if d else ""
    css = (WEB_DIR / "ctstat.css").read_bytes()

    def page(request: Request, name: str, code: int = 200, **ctx: Any) -> HTMLResponse:
        cookie = request.cookies.get(COOKIE)
        unit = p.keys.session_unit(cookie)
        csrf = p.keys.csrf(cookie) if unit and cookie else ""
        html = env.get_template(name).render(request=request, unit=unit, csrf=csrf, **ctx)
        return HTMLResponse(html, code)

    def problem_page(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        resp = page(request, "problem.html", status, message=message)
        resp.headers.update(headers or {})
        return resp

    def session(request: Request) -> str:
        unit = p.keys.session_unit(request.cookies.get(COOKIE))
        if unit is None:
            raise HTTPProblem(401, "Phiên làm việc đã hết hoặc chưa đăng nhập: đăng nhập lại bằng mã truy cập.")
        return unit

    def check_csrf(request: Request, value: str | None) -> None:
        if not p.keys.csrf_ok(request.cookies.get(COOKIE), value):
            raise HTTPProblem(403, "Biểu mẫu đã cũ hoặc không hợp lệ: tải lại trang rồi thử lại.")

    def check_origin(request: Request) -> None:
        """Every form (sign-in included) is refused when the browser says it was sent from another site."""
        if not _same_origin(request):
            raise HTTPProblem(403, "Yêu cầu không đến từ trang này: mở trang cổng nộp báo cáo rồi thử lại.")

    async def bearer(request: Request) -> str:
        # a locked-out address is refused before any token is looked at: no argon2 runs for it, right token or not
        wait = p.sign_ins.wait(_client(request))
        if wait:
            raise HTTPProblem(429, "too many failed attempts", {"Retry-After": str(wait)})
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        # in a thread: a token seen the first time costs an argon2 verification, which must not stall the others
        unit = await asyncio.to_thread(p.keys.unit_of, token) if scheme.lower() == "bearer" and token else None
        if unit is None:
            p.sign_ins.hit(_client(request))
            raise HTTPProblem(401, "missing or wrong token", {"WWW-Authenticate": "Bearer"})
        return unit

    # --- pages --------------------------------------------------------------------------------------------------

    async def home(request: Request) -> Response:
        unit = p.keys.session_unit(request.cookies.get(COOKIE))
        if unit is not None:
            return RedirectResponse("/huyen" if p.is_area(unit) else "/xa", 303)
        # a notice by its code only (the page's own words): text from the address is never shown
        return page(request, "login.html", message=request.query_params.get("tb"))

    async def sign_in(request: Request) -> Response:
        check_origin(request)
        wait = p.sign_ins.wait(_client(request))  # before the token is looked at: a locked-out address checks nothing
        if wait:
            msg = f"Sai mã quá nhiều lần: thử lại sau {wait} giây."
            return problem_page(request, 429, msg, {"Retry-After": str(wait)})
        form = await _small_form(request)
        unit = await asyncio.to_thread(p.keys.unit_of, str(form.get("token", "")))
        if unit is None:
            p.sign_ins.hit(_client(request))
            return page(request, "login.html", 401, message="sai-ma")
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

    async def sign_out(request: Request) -> Response:
        check_origin(request)
        form = await _small_form(request)
        check_csrf(request, str(form.get("csrf", "")))
        await asyncio.to_thread(p.keys.end_session, request.cookies.get(COOKIE))  # the cookie opens nothing now
        resp = RedirectResponse("/?tb=da-thoat", 303)
        resp.delete_cookie(COOKIE)
        return resp

    def ward(request: Request) -> Response:
        unit = session(request)
        if p.is_area(unit):
            return RedirectResponse("/huyen", 303)
        state = _ward_state(p, unit)
        return page(request, "ward.html", **state)

    async def upload_page(request: Request) -> Response:
        unit = session(request)
        check_origin(request)
        # the CSRF field must come before the file (the page's form puts it first): checked before a byte is stored
        staged, _ = await _receive(request, p, unit, lambda fields: check_csrf(request, fields.get("csrf")))
        up = await _take(p, staged)
        return RedirectResponse(f"/lan-nop/{up.id}", 303)

    def result(request: Request) -> Response:
        unit = session(request)
        up = _upload_for(p, unit, request.path_params["id"])
        # a file kept aside may have been removed to keep the sender within its quota: its report stays
        gone = up.outcome == "invalid" and bool(up.kept) and not Path(up.kept or "").is_file()
        return page(request, "result.html", up=up, gone=gone)

    def blank_form(request: Request) -> Response:
        unit = session(request)
        if p.is_area(unit):
            raise HTTPProblem(404, "Biểu mẫu là của từng xã, phường.")
        from ctstat.pipeline import make_template

        target = p.cfg.out / "portal" / "forms" / f"{unit}-{p.cfg.period}-{p.catalogue.template_version}.xlsx"
        if not target.exists():
            make_template(unit, str(p.cfg.period), target, p.catalogue, p.cfg.units)
        return FileResponse(target, filename=f"bieu-mau-{unit}-{p.cfg.period}.xlsx", media_type=_XLSX)

    def marked_up(request: Request) -> Response:
        unit = session(request)
        up = _upload_for(p, unit, request.path_params["id"])
        path = _inside(p.cfg.out, up.annotated)
        return FileResponse(path, filename=f"kiem-tra-{up.id}.xlsx", media_type=_XLSX)

    def district(request: Request) -> Response:
        unit = session(request)
        if not p.is_area(unit):
            return RedirectResponse("/xa", 303)
        return page(request, "district.html", **_district_state(p), message=request.query_params.get("tb"))

    async def roll_up(request: Request) -> Response:
        unit = session(request)
        check_origin(request)
        form = await _small_form(request)
        check_csrf(request, str(form.get("csrf", "")))
        if not p.is_area(unit):
            raise HTTPProblem(403, "Chỉ đơn vị tổng hợp mới tổng hợp được.")
        try:
            res = await asyncio.to_thread(run_job, p.cfg, p.catalogue)
        except UsageError:
            return RedirectResponse("/huyen?tb=ban", 303)
        return RedirectResponse(f"/huyen?tb={res.rollup_state or 'waiting'}", 303)

    def rollup_file(request: Request) -> Response:
        unit = session(request)
        if not p.is_area(unit):
            raise HTTPProblem(403, "Chỉ đơn vị tổng hợp mới xem được bảng tổng hợp.")
        outputs = _rollup_outputs(p)
        n = request.path_params["n"]
        if not 0 <= n < len(outputs):
            raise HTTPProblem(404, "Không có tệp này.")
        path = _inside(p.cfg.out, outputs[n])
        return FileResponse(path, filename=path.name, media_type=_XLSX if path.suffix == ".xlsx" else None)

    def submission_copy(request: Request) -> Response:
        unit = session(request)
        ledger = Ledger(p.cfg.ledger_path, readonly=True)
        try:
            rows = ledger.rows("id=?", request.path_params["id"])
        finally:
            ledger.close()
        if not rows or not (p.is_area(unit) or rows[0].unit == unit) or not rows[0].annotated:
            raise HTTPProblem(404, "Không có tệp này.")
        return FileResponse(_inside(p.cfg.out, rows[0].annotated), filename=f"kiem-tra-tep-{rows[0].id}.xlsx")

    # --- the JSON API -------------------------------------------------------------------------------------------

    async def api_submit(request: Request) -> Response:
        unit = await bearer(request)
        staged, _ = await _receive(request, p, unit)
        up = await _take(p, staged)
        entry = up.report.to_dict()
        entry.update(
            {
                "path": Path(up.kept).name if up.kept else None,
                "upload": up.id,
                "outcome": up.outcome,
                "errors": up.report.errors,
                "warnings": up.report.warnings,
                "marked_up": f"/tai/lan-nop/{up.id}" if up.annotated else None,
            }
        )
        if up.outcome == "refused":
            return JSONResponse(
                {**api_error("another unit's file"), "unit": up.report.unit, "upload": up.id, "outcome": "refused"}, 403
            )
        return JSONResponse(entry)

    async def api_status(request: Request) -> Response:
        unit = await bearer(request)
        if not p.is_area(unit):
            raise HTTPProblem(403, "a ward's token cannot read the period's status")
        status = await asyncio.to_thread(job_status, p.cfg, p.catalogue)
        return JSONResponse(json.loads(json.dumps(status, default=str)))

    async def stylesheet(request: Request) -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    async def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    async def problem(request: Request, exc: Exception) -> Response:
        api = request.url.path.startswith("/api/")
        request.scope["ctstat.logged"] = True  # Hardened logs nothing more of it
        if isinstance(exc, HTTPProblem):
            if api:
                return JSONResponse(api_error(exc.message), exc.status, headers=exc.headers)
            if exc.status == 401:
                return RedirectResponse("/?tb=het-phien", 303)
            return problem_page(request, exc.status, exc.message, exc.headers)
        if isinstance(exc, Busy):
            msg = "Máy chủ đang bận tổng hợp; tệp chưa được nhận. Vui lòng gửi lại sau vài phút."
            if api:
                return JSONResponse(api_error("busy, send again later"), 503, headers={"Retry-After": "60"})
            return problem_page(request, 503, msg, {"Retry-After": "60"})
        ref = secrets.token_hex(4)
        trace = traceback.format_exc()
        log.error(json.dumps({"event": "error", "ref": ref, "path": request.url.path, "traceback": trace}))
        if api:
            return JSONResponse({**api_error("internal error"), "ref": ref}, 500)
        return problem_page(request, 500, f"Lỗi của máy chủ (mã tham chiếu {ref}). Báo cho cán bộ phụ trách.")

    async def gone(request: Request, exc: Exception) -> Response:
        """The client went away (or was cut off for a body too slow): nothing to answer, nothing to log."""
        return Response(b"", 400)

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse(api_error("not found"), getattr(exc, "status_code", 404))
        return problem_page(request, getattr(exc, "status_code", 404), "Không có trang này.")

    routes = [
        Route("/", home),
        Route("/dang-nhap", sign_in, methods=["POST"]),
        Route("/dang-xuat", sign_out, methods=["POST"]),
        Route("/xa", ward),
        Route("/xa/nop", upload_page, methods=["POST"]),
        Route("/xa/bieu-mau", blank_form),
        Route("/lan-nop/{id:rowid}", result),
        Route("/tai/lan-nop/{id:rowid}", marked_up),
        Route("/tai/tep/{id:rowid}", submission_copy),
        Route("/huyen", district),
        Route("/huyen/tong-hop", roll_up, methods=["POST"]),
        Route("/tai/tong-hop/{n:rowid}", rollup_file),
        Route("/api/v1/submissions", api_submit, methods=["POST"]),
        Route("/api/v1/status", api_status),
        Route("/static/ctstat.css", stylesheet),
        Route("/healthz", health),
    ]
    routes += entry_routes(EntryHooks(p, page, session, check_csrf, check_origin, HTTPProblem, _take), env)
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(p.intake.close)  # the intake thread and its reading workers end with the server

    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPProblem: problem,
            Busy: problem,
            Exception: problem,
            HTTPException: not_found,
            ClientDisconnect: gone,
        },
        lifespan=lifespan,
    )
    app.state.portal = p
    return Hardened(app, cfg.max_requests, cfg.body_timeout, cfg.body_min_rate)


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
        seen: dict[str, Any] = {"status": 0, "bytes": 0, "done": False}
        hsts = [HSTS] if scope.get("scheme") == "https" else []

        async def send_hardened(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                if seen["status"]:  # this middleware answered already (a late body, a refusal): the app's goes
                    return
                seen["status"] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() not in OUR_HEADERS]
                headers += SECURITY_HEADERS + hsts
                if not any(h[0].lower() == b"cache-control" for h in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                if seen["done"] or seen["answered"] is not message.get("_by"):
                    return
                seen["bytes"] += len(message.get("body", b""))
                seen["done"] = not message.get("more_body", False)
                message = {k: v for k, v in message.items() if k != "_by"}
            await send(message)

        async def answer(status: int, text: str, headers: list[tuple[bytes, bytes]]) -> None:
            """A plain-text response of this middleware's own (the app's later messages are dropped)."""
            if seen["status"]:
                return
            seen["answered"] = me
            await send_hardened(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), *headers],
                }
            )
            await send_hardened({"type": "http.response.body", "body": text.encode(), "_by": me})

        me = object()
        seen["answered"] = None
        body = {"got": 0, "waited": 0.0, "open": True}

        async def receive_bounded() -> dict[str, Any]:
            if not body["open"] or seen["status"]:  # the body is in, or the answer is going out (a download
                return dict(await receive())  # waiting for a disconnect): no deadline of the client's body

            allow = min(self.body_timeout, self.body_timeout + body["got"] / self.body_min_rate - body["waited"])
            t0 = time.monotonic()
            try:
                message = dict(await asyncio.wait_for(receive(), max(allow, 0.001)))
            except TimeoutError:
                body["open"] = False
                await answer(408, "request body too slow\n", [(b"connection", b"close")])
                return {"type": "http.disconnect"}
            body["waited"] += time.monotonic() - t0
            if message["type"] == "http.request":
                body["got"] += len(message.get("body", b""))
                body["open"] = bool(message.get("more_body", False))
            else:
                body["open"] = False
            return message

        if self.active >= self.max_requests:
            await answer(503, "busy, send again later\n", [(b"retry-after", b"10"), (b"connection", b"close")])
        else:
            self.active += 1
            try:
                await self.app(scope, receive_bounded, send_hardened)
            except Exception:  # noqa: BLE001 - logged once by the app's handler, or here
                if not scope.get("ctstat.logged"):
                    trace = traceback.format_exc()
                    log.error(json.dumps({"event": "error", "path": scope.get("path", "")[:200], "traceback": trace}))
                if not seen["status"]:
                    await answer(500, "internal error\n", [(b"connection", b"close")])
            finally:
                self.active -= 1
        client = scope.get("client") or ("", 0)
        status = seen["status"] or 500
        access_line(client[0], scope.get("method"), scope.get("path", ""), status, seen["bytes"], started)


# --- helpers ----------------------------------------------------------------------------------------------------


class RowId:
    """A path parameter that is a ledger row id or a list index: 1 to 18 digits, so always inside SQLite's 64-bit
    integers (a longer number is no route: 404, never a query that overflows)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


def _same_origin(request: Any) -> bool:
    """False when the browser says the request comes from another site: an Origin that is not this site's, or a
    Sec-Fetch-Site other than same-origin (or none: typed or bookmarked). Browsers send at least one of them on
    every form post; a client that sends neither (curl, the test client) is not a browser a page can steer."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return False
    site = request.headers.get("sec-fetch-site")
    return site is None or site in ("same-origin", "none")


def _client(request: Any) -> str:
    return request.client.host if request.client else "?"


async def _small_form(request: Any, limit: int = 4096) -> dict[str, str]:
    """A small url-encoded form (sign-in, CSRF-only forms): refused past `limit` bytes."""
    from urllib.parse import parse_qs

    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPProblem(413, "Dữ liệu gửi lên quá lớn.")
    try:
        parsed = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise HTTPProblem(400, "Dữ liệu gửi lên không đọc được.") from None
    return {k: v[0] for k, v in parsed.items()}


async def _receive(
    request: Any, p: Portal, sender: str, before_file: Callable[[dict[str, str]], None] | None = None
) -> tuple[Staged, dict[str, str]]:
    """Stream a multipart upload (one part named `file`, small text fields) into the staging folder, counting as
    it comes: every byte of the body counts (file, other parts, part headers, whatever the transfer encoding), and
    past the limit it stops at once (413) and removes what it wrote. `before_file` sees the fields sent before the
    file and may refuse it before any of it is stored. The file gets a server-chosen name; the client's name is
    kept as text only."""
    from python_multipart import MultipartParser
    from python_multipart.multipart import parse_options_header

    limit = p.cfg.upload_limit_mb * 1024 * 1024
    too_large = HTTPProblem(413, f"Tệp quá lớn: tối đa {p.cfg.upload_limit_mb} MB. Biểu mẫu điền đúng chỉ vài trăm KB.")
    wait = p.uploads.hit(sender)
    if wait:
        msg = f"Gửi quá nhiều lần trong một phút: thử lại sau {wait} giây."
        raise HTTPProblem(429, msg, {"Retry-After": str(wait)})
    mime, params = parse_options_header(request.headers.get("content-type", ""))
    if mime != b"multipart/form-data" or not params.get(b"boundary"):
        raise HTTPProblem(400, "Gửi tệp bằng biểu mẫu trên trang (multipart/form-data, trường 'file').")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + BODY_SLACK:
        raise too_large
    sink = _Sink(staging_dir(p.cfg), limit, too_large, before_file)
    parser = MultipartParser(params[b"boundary"], sink.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit + BODY_SLACK:  # the file's bytes and everything around them
                raise too_large
            parser.write(chunk)
        parser.finalize()
    except BaseException as exc:
        sink.discard()
        if isinstance(exc, HTTPProblem):
            raise
        if isinstance(exc, Exception) and type(exc).__module__.startswith(("python_multipart", "multipart")):
            raise HTTPProblem(400, "Dữ liệu gửi lên không đúng dạng multipart.") from None
        raise
    if sink.path is None:
        raise HTTPProblem(400, "Chưa chọn tệp: chọn tệp biểu mẫu (.xlsx, .xls, .ods) rồi bấm Gửi.")
    return Staged(sink.path, sender, sink.client, sink.size), sink.fields


BODY_SLACK = 65536  #: bytes of an upload's body beyond the file allowed for its other parts and headers
MAX_PARTS = 8  #: parts in an upload (the page sends two: csrf and file)


class _Sink:
    """python-multipart callbacks: the part named `file` is written to a new file in `staging` as it streams (its
    first bytes say which extension to read it with), other parts are small text fields (1 KB at most, kept),
    at most MAX_PARTS parts, each with at most 8 headers of 100 + 1000 bytes (refused past that, 400)."""

    def __init__(
        self,
        staging: Path,
        limit: int,
        too_large: HTTPProblem,
        before_file: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        staging.mkdir(parents=True, exist_ok=True)
        self.staging, self.limit, self.too_large, self.before_file = staging, limit, too_large, before_file
        self._parts = 0
        self.fields: dict[str, str] = {}
        self.path: Path | None = None
        self.client = ""
        self.size = 0
        self._fh: Any = None
        self._headers: dict[bytes, bytes] = {}
        self._hname = self._hval = self._buf = self._head = b""
        self._name = ""
        self._in_file = False

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, a, b: setattr(self, "_hname", _bounded(self._hname, d[a:b], 100)),
            "on_header_value": lambda d, a, b: setattr(self, "_hval", _bounded(self._hval, d[a:b], 1000)),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise HTTPProblem(400, "Dữ liệu gửi lên có quá nhiều phần: gửi bằng biểu mẫu trên trang.")
        self._headers.clear()
        self._name, self._buf, self._in_file = "", b"", False

    def _header_end(self) -> None:
        if len(self._headers) >= 8:
            raise _bad_part()
        self._headers[self._hname.lower()] = self._hval
        self._hname = self._hval = b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, disp = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = disp.get(b"name", b"").decode("utf-8", "replace")[:40]
        filename = disp.get(b"filename")
        if self._name == "file" and filename is not None:
            if self.path is not None or self._in_file:
                raise HTTPProblem(400, "Chỉ gửi một tệp mỗi lần.")
            if self.before_file is not None:
                self.before_file(self.fields)
            text = filename.decode("utf-8", "replace")
            self.client = "".join(c for c in text if c.isprintable())[-120:]
            self._in_file, self._head = True, b""

    def _open(self) -> None:
        self.path = self.staging / server_name(sniff_extension(self._head, self.client))
        self._fh = self.path.open("xb")
        self._write(self._head)
        self._head = b""

    def _write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise self.too_large
        self._fh.write(chunk)

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._in_file:
            if len(self._buf) + len(chunk) <= 1024:
                self._buf += chunk
        elif self._fh is None:
            self._head += chunk
            if len(self._head) >= 128:
                self._open()
        else:
            self._write(chunk)

    def _part_end(self) -> None:
        if self._in_file:
            if self._fh is None:  # fewer than 128 bytes in all
                self._open()
            self._fh.close()
            self._fh, self._in_file = None, False
        elif self._name:
            self.fields[self._name] = self._buf.decode("utf-8", "replace")

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _bad_part() -> HTTPProblem:
    return HTTPProblem(400, "Dữ liệu gửi lên không đúng dạng multipart.")


def _bounded(have: bytes, more: bytes, limit: int) -> bytes:
    """A part header's name or value as it arrives: refused past `limit` bytes, never grown without bound."""
    if len(have) + len(more) > limit:
        raise _bad_part()
    return have + more


async def _take(p: Portal, staged: Staged) -> Upload:
    return await asyncio.wrap_future(p.intake.submit(staged))


def _inside(out: Path, path: str | None) -> Path:
    """A recorded output path, refused unless it is a file inside the job's output folder."""
    if not path:
        raise HTTPProblem(404, "Không có tệp này.")
    real = Path(path).resolve()
    if not real.is_relative_to(out.resolve()) or not real.is_file():
        raise HTTPProblem(404, "Không có tệp này.")
    return real


def _upload_for(p: Portal, unit: str, upload_id: int) -> Upload:
    """An upload the signed-in unit may see: its own, or (the district) any."""
    ledger = Ledger(p.cfg.ledger_path, readonly=True)
    try:
        found = ledger.uploads("id=?", upload_id)
    finally:
        ledger.close()
    if not found or not (p.is_area(unit) or found[0].sender == unit):
        raise HTTPProblem(404, "Không có lần nộp này.")
    return found[0]


def _rollup_outputs(p: Portal) -> list[str]:
    ledger = Ledger(p.cfg.ledger_path, readonly=True)
    try:
        outputs: list[str] = json.loads(ledger.get_meta("rollup_outputs") or "[]")
    finally:
        ledger.close()
    return outputs


def _ward_state(p: Portal, unit: str) -> dict[str, Any]:
    """What a ward's page shows: its status for the period and its own history, nothing of other wards."""
    ledger = Ledger(p.cfg.ledger_path, readonly=True)
    try:
        h = load_units(p.cfg.vintage)
        claims = _claims(p.cfg, p.catalogue, ledger.claims(str(p.cfg.period)))
        mine = next(s for s in _statuses(p.cfg, {unit: claims.get(unit, [])}, h) if s.code == unit)
        uploads = ledger.uploads("sender=? AND (period=? OR period IS NULL)", unit, str(p.cfg.period), limit=30)
        others = [
            r
            for r in ledger.history(str(p.cfg.period)).get(unit, [])
            if not r.path.startswith("portal/")  # files that came another way (e-mail, a shared folder)
        ]
    finally:
        ledger.close()
    return {"status": mine, "uploads": uploads, "others": others, "deadline": p.cfg.deadline}


def _district_state(p: Portal) -> dict[str, Any]:
    st = job_status(p.cfg, p.catalogue)
    ledger = Ledger(p.cfg.ledger_path, readonly=True)
    try:
        uploads = ledger.uploads(limit=50)
        attempts: dict[str, int] = defaultdict(int)
        for up in ledger.uploads("outcome != 'accepted' AND (period=? OR period IS NULL)", str(p.cfg.period)):
            attempts[up.sender] += 1
    finally:
        ledger.close()
    total = {k: sum(c[k] for c in st["by_parent"].values()) for k in next(iter(st["by_parent"].values()), {})}
    outputs = [Path(o).name for o in st["rollup_outputs"]]
    return {"st": st, "total": total, "uploads": uploads, "attempts": attempts, "outputs": outputs}


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
    uvicorn.Server(server_config(app, cfg, host, port)).run()
