"""What the portal's route modules share (`Web`): the portal's state, the page renderer, the session, CSRF and
origin checks, the API's bearer token, and the one mapping from a failure to its response (`Web.failure`: a page
or JSON with a reference, never a traceback). Route modules by audience: `web.ward`, `web.district`, `web.api`;
`web.app` lists every route in one place."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import secrets
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctstat.job.config import JobConfig
from ctstat.job.run import job_area
from ctstat.model.catalogue import Catalogue
from ctstat.model.messages import api_error
from ctstat.model.text import shown_text
from ctstat.model.units import load_units
from ctstat.model.vocab import count_label, rollup_note, status_label
from ctstat.web.intake import Busy, Intake, staging_dir
from ctstat.web.review import KIND_VI, number, when
from ctstat.web.tokens import Keys

COOKIE = "ctstat_phien"
WEB_DIR = Path(__file__).parents[1] / "data" / "web"
log = logging.getLogger("ctstat.serve")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

OUTCOME_VI = {
    "accepted": "Đã nhận (hợp lệ)",
    "invalid": "Chưa đạt: cần sửa",
    "refused": "Từ chối: tệp của đơn vị khác",
    "locked": "Từ chối: báo cáo đã được duyệt",
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
    area = job_area(cfg, h)
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


def _shown(value: Any) -> Any:
    """What a page shows of a value: text with the undecodable bytes of a file name not in UTF-8 and the marks
    that reorder text as escapes (`shown_text`: such a name had made the district's page fail), then HTML-escaped."""
    return shown_text(value) if type(value) is str else value  # not Markup: the page's own HTML


class Web:
    """A request's helpers over the portal: pages, the session, the checks every form and the API go through."""

    def __init__(self, p: Portal) -> None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        self.p = p
        env = Environment(loader=FileSystemLoader(WEB_DIR), autoescape=select_autoescape(["html"]), finalize=_shown)
        env.globals.update(
            status_label=status_label,
            count_label=count_label,
            rollup_note=rollup_note,
            outcome_vi=OUTCOME_VI,
            kind_vi=KIND_VI,
            p=p,
        )
        env.filters["when"] = lambda d: d.strftime("%d/%m/%Y %H:%M") if d else ""
        env.filters["rec_when"] = when
        env.filters["cell_value"] = number
        self.env = env
        self.css = (WEB_DIR / "ctstat.css").read_bytes()

    def route(self, path: str, handler: Callable[..., Any], *methods: str) -> Any:
        """A route to `handler(web, request)`: a coroutine function stays one, a plain function runs in a thread
        (Starlette's way with plain endpoints)."""
        from starlette.routing import Route

        if inspect.iscoroutinefunction(handler):

            async def endpoint(request: Any) -> Any:
                return await handler(self, request)

        else:

            def endpoint(request: Any) -> Any:  # type: ignore[misc]
                return handler(self, request)

        return Route(path, endpoint, methods=list(methods) or None)

    def page(self, request: Any, name: str, code: int = 200, **ctx: Any) -> Any:
        from starlette.responses import HTMLResponse

        cookie = request.cookies.get(COOKIE)
        unit = self.p.keys.session_unit(cookie)
        csrf = self.p.keys.csrf(cookie) if unit and cookie else ""
        html = self.env.get_template(name).render(request=request, unit=unit, csrf=csrf, **ctx)
        return HTMLResponse(html, code)

    def problem_page(self, request: Any, status: int, message: str, headers: dict[str, str] | None = None) -> Any:
        resp = self.page(request, "problem.html", status, message=message)
        resp.headers.update(headers or {})
        return resp

    def session(self, request: Any) -> str:
        unit = self.p.keys.session_unit(request.cookies.get(COOKIE))
        if unit is None:
            raise HTTPProblem(401, "Phiên làm việc đã hết hoặc chưa đăng nhập: đăng nhập lại bằng mã truy cập.")
        return unit

    def check_csrf(self, request: Any, value: str | None) -> None:
        if not self.p.keys.csrf_ok(request.cookies.get(COOKIE), value):
            raise HTTPProblem(403, "Biểu mẫu đã cũ hoặc không hợp lệ: tải lại trang rồi thử lại.")

    def check_origin(self, request: Any) -> None:
        """Every form (sign-in included) is refused when the browser says it was sent from another site."""
        if not _same_origin(request):
            raise HTTPProblem(403, "Yêu cầu không đến từ trang này: mở trang cổng nộp báo cáo rồi thử lại.")

    async def form_post(self, request: Any, limit: int = 4096, fields: int = 10) -> tuple[str, dict[str, str]]:
        """A signed-in unit's small form: its origin and its CSRF value checked; the unit and the fields."""
        unit = self.session(request)
        self.check_origin(request)
        form = await small_form(request, limit, fields)
        self.check_csrf(request, str(form.get("csrf", "")))
        return unit, form

    async def bearer(self, request: Any) -> str:
        p = self.p
        # a locked-out address is refused before any token is looked at: no argon2 runs for it, right token or not
        wait = p.sign_ins.wait(client_host(request))
        if wait:
            raise HTTPProblem(429, "too many failed attempts", {"Retry-After": str(wait)})
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        # in a thread: a token seen the first time costs an argon2 verification, which must not stall the others
        unit = await asyncio.to_thread(p.keys.unit_of, token) if scheme.lower() == "bearer" and token else None
        if unit is None:
            p.sign_ins.hit(client_host(request))
            raise HTTPProblem(401, "missing or wrong token", {"WWW-Authenticate": "Bearer"})
        return unit

    # --- failures: the one place a failure becomes a response ---------------------------------------------------

    async def failure(self, request: Any, exc: Exception) -> Any:
        """HTTPProblem: its status and words (a page, or JSON under /api/; an ended session goes to sign-in);
        Busy: 503 to send again; anything else: 500 with a reference, the traceback logged once."""
        from starlette.responses import JSONResponse, RedirectResponse

        api = scripted(request)
        request.scope["ctstat.logged"] = True  # Hardened logs nothing more of it
        if isinstance(exc, HTTPProblem):
            if api:
                return JSONResponse(api_error(exc.message), exc.status, headers=exc.headers)
            if exc.status == 401:
                return RedirectResponse("/?tb=het-phien", 303)
            return self.problem_page(request, exc.status, exc.message, exc.headers)
        if isinstance(exc, Busy):
            msg = "Máy chủ đang bận tổng hợp; tệp chưa được nhận. Vui lòng gửi lại sau vài phút."
            if api:
                return JSONResponse(api_error("busy, send again later"), 503, headers={"Retry-After": "60"})
            return self.problem_page(request, 503, msg, {"Retry-After": "60"})
        ref = secrets.token_hex(4)
        trace = traceback.format_exc()
        log.error(json.dumps({"event": "error", "ref": ref, "path": request.url.path, "traceback": trace}))
        if api:
            return JSONResponse({**api_error("internal error"), "ref": ref}, 500)
        return self.problem_page(request, 500, f"Lỗi của máy chủ (mã tham chiếu {ref}). Báo cho cán bộ phụ trách.")

    async def gone(self, request: Any, exc: Exception) -> Any:
        """The client went away (or was cut off for a body too slow): nothing to answer, nothing to log."""
        from starlette.responses import Response

        return Response(b"", 400)

    async def not_found(self, request: Any, exc: Exception) -> Any:
        from starlette.responses import JSONResponse

        if request.url.path.startswith("/api/"):
            return JSONResponse(api_error("not found"), getattr(exc, "status_code", 404))
        return self.problem_page(request, getattr(exc, "status_code", 404), "Không có trang này.")

    def handlers(self) -> dict[Any, Callable[..., Any]]:
        """Starlette's exception handlers: every failure to `failure`, a missing route to `not_found`."""
        from starlette.exceptions import HTTPException
        from starlette.requests import ClientDisconnect

        return {
            HTTPProblem: self.failure,
            Busy: self.failure,
            Exception: self.failure,
            HTTPException: self.not_found,
            ClientDisconnect: self.gone,
        }


class RowId:
    """A path parameter that is a ledger row id or a list index: 1 to 18 digits, so always inside SQLite's 64-bit
    integers (a longer number is no route: 404, never a query that overflows)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


def _same_origin(request: Any) -> bool:
    """False when the browser says the request comes from another site. A browser's Sec-Fetch-Site (which no page
    can set) decides when it is sent: same-origin or none (typed, bookmarked) only. Without it, an Origin that is
    not this site's. Browsers send at least one of them on every form post; a client that sends neither (curl, the
    test client) is not a browser a page can steer.

    Sec-Fetch-Site decides even against the Origin: behind a proxy whose scheme or host the portal is not told
    (`trusted_proxies` not set, `Host` not passed), the Origin "https://portal" never matched the "http://…" the
    portal saw, and every form, sign-in included, was refused for every ward. Such a mismatch is logged, with
    what to set (an older browser without Sec-Fetch-Site is still refused there)."""
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    ours = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != ours and (site == "same-origin" or _host(origin) == request.url.netloc):
        _proxy_hint(origin, ours)
    if site is not None:
        return bool(site in ("same-origin", "none"))
    return origin is None or origin == ours


def _host(origin: str) -> str:
    return origin.partition("://")[2]


_HINTED: set[tuple[str, str]] = set()


def _proxy_hint(origin: str, ours: str) -> None:
    """Log, once per pair, a browser's own origin that is not what the portal sees of itself: a proxy in front
    whose scheme or host the portal is not given."""
    if (origin, ours) in _HINTED or len(_HINTED) > 64:
        return
    _HINTED.add((origin, ours))
    hint = (
        "the browser's origin is not the address the portal sees: behind a proxy, set trusted_proxies in "
        "ctstat.toml and pass Host and X-Forwarded-Proto (README, Deploying)"
    )
    log.warning(json.dumps({"event": "origin-mismatch", "origin": origin[:200], "portal": ours[:200], "hint": hint}))


def bearing(request: Any) -> bool:
    """The request carries a bearer token (a script's: `Authorization: Bearer …`). Not any Authorization: a proxy's
    Basic sign-in in front of the portal has every browser send one."""
    return is_bearer(str(request.headers.get("authorization", "")))


def is_bearer(authorization: str) -> bool:
    return authorization[:7].lower() == "bearer "


def scripted(request: Any) -> bool:
    """A script's request, answered JSON (never a page or a redirect to sign-in): the API's, or one with a bearer
    token (a link an API answer gave). `Hardened` asks the same of a request's raw scope (`is_script`)."""
    return is_script(request.url.path, str(request.headers.get("authorization", "")))


def is_script(path: str, authorization: str) -> bool:
    return path.startswith("/api/") or is_bearer(authorization)


def client_host(request: Any) -> str:
    return request.client.host if request.client else "?"


async def bounded_body(request: Any, limit: int) -> bytes:
    """A request's body as it streams, refused (413) past `limit` bytes, never held beyond them."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPProblem(413, "Dữ liệu gửi lên quá lớn.")
    return body


async def small_form(request: Any, limit: int = 4096, fields: int = 10) -> dict[str, str]:
    """A small url-encoded form (sign-in, CSRF-only forms): refused past `limit` bytes or `fields` fields."""
    from urllib.parse import parse_qs

    body = await bounded_body(request, limit)
    try:
        parsed = parse_qs(body.decode("utf-8"), max_num_fields=fields)
    except (UnicodeDecodeError, ValueError):
        raise HTTPProblem(400, "Dữ liệu gửi lên không đọc được.") from None
    return {k: v[0] for k, v in parsed.items()}


def inside(out: Path, path: str | None) -> Path:
    """A recorded output path, refused unless it is a file inside the job's output folder."""
    if not path:
        raise HTTPProblem(404, "Không có tệp này.")
    real = Path(path).resolve()
    if not real.is_relative_to(out.resolve()) or not real.is_file():
        raise HTTPProblem(404, "Không có tệp này.")
    return real
