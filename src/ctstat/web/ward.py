"""A ward's pages: its status and history (`/xa`), its blank form, its upload and the result of each upload (with
the district's review of its report: send-backs, corrections, approval), its marked-up copies."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ctstat.job.config import job_file
from ctstat.job.ledger import Ledger, Upload
from ctstat.job.run import ward_status
from ctstat.web.context import XLSX_TYPE, HTTPProblem, Portal, Web, bearing, inside
from ctstat.web.intake import PORTAL_DIR
from ctstat.web.review import reviews
from ctstat.web.upload import Refused, locked_message, receive, take


def ward(w: Web, request: Any) -> Any:
    from starlette.responses import RedirectResponse

    unit = w.session(request)
    if w.p.is_area(unit):
        return RedirectResponse("/huyen", 303)
    state = _ward_state(w.p, unit)
    return w.page(request, "ward.html", **state)


async def upload_page(w: Web, request: Any) -> Any:
    from starlette.responses import RedirectResponse

    unit = w.session(request)
    w.check_origin(request)
    # the CSRF field must come before the file (the page's form puts it first): checked before a byte is stored
    try:
        staged, _ = await receive(request, w.p, unit, lambda fields: w.check_csrf(request, fields.get("csrf")))
    except Refused as early:  # the ward's report is approved: refused before its body was read
        up = early.upload
    else:
        up = await take(w.p, staged)
    if up.outcome == "locked":
        raise HTTPProblem(409, f"{locked_message(up)[1]} Nếu cần sửa, liên hệ cán bộ huyện để mở lại báo cáo.")
    return RedirectResponse(f"/lan-nop/{up.id}", 303)


def result(w: Web, request: Any) -> Any:
    unit = w.session(request)
    up = _upload_for(w.p, unit, request.path_params["id"])
    # a file kept aside may have been removed to keep the sender within its quota: its report stays
    gone = up.outcome == "invalid" and bool(up.kept) and not Path(up.kept or "").is_file()
    shown = up.report.unit if up.outcome != "refused" and up.report.unit else None
    review = reviews(w.p.cfg, [shown])[shown] if shown and (shown == unit or w.p.is_area(unit)) else None
    return w.page(request, "result.html", up=up, gone=gone, review=review, unusual=_unusual(w.p, up))


def _unusual(p: Portal, up: Upload) -> list[Any]:
    """An accepted upload's unusual changes against the job's history (issue 24; none without one). A history
    that cannot be read costs the page nothing: the file was judged without it, and `run` says what is wrong."""
    from ctstat.job.compare import upload_unusual
    from ctstat.model.errors import CtstatError

    if up.outcome != "accepted" or not up.report.unit:
        return []
    try:
        return upload_unusual(p.cfg, p.catalogue, up.submission_id, up.report.unit)
    except (CtstatError, OSError):
        logging.getLogger("ctstat.portal").warning("history unreadable for the result page", exc_info=True)
        return []


def blank_form(w: Web, request: Any) -> Any:
    from starlette.responses import FileResponse

    p = w.p
    unit = w.session(request)
    if p.is_area(unit):
        raise HTTPProblem(404, "Biểu mẫu là của từng xã, phường.")
    from ctstat.pipeline import make_template

    target = p.cfg.out / PORTAL_DIR / "forms" / f"{unit}-{p.cfg.period}-{p.catalogue.template_version}.xlsx"
    if not target.exists():
        make_template(unit, str(p.cfg.period), target, p.catalogue, p.cfg.units)
    return FileResponse(target, filename=f"bieu-mau-{unit}-{p.cfg.period}.xlsx", media_type=XLSX_TYPE)


async def marked_up(w: Web, request: Any) -> Any:
    """An upload's marked-up copy: to a signed-in browser, or to the script whose API answer named it (its bearer
    token, as `/api/v1/submissions` takes it: the link a script was given opened only the sign-in page)."""
    from starlette.responses import FileResponse

    unit = await w.bearer(request) if bearing(request) else w.session(request)
    up = await asyncio.to_thread(_upload_for, w.p, unit, request.path_params["id"])
    return FileResponse(_copy_at(w.p, up.annotated), filename=f"kiem-tra-{up.id}.xlsx", media_type=XLSX_TYPE)


def _upload_for(p: Portal, unit: str, upload_id: int) -> Upload:
    """An upload the signed-in unit may see: its own, or (the district) any."""
    with Ledger(p.cfg.ledger_path, readonly=True) as ledger:
        found = ledger.uploads("id=?", upload_id)
    if not found or not (p.is_area(unit) or found[0].sender == unit):
        raise HTTPProblem(404, "Không có lần nộp này.")
    return found[0]


def _ward_state(p: Portal, unit: str) -> dict[str, Any]:
    """What a ward's page shows: its status for the period, its own history and the district's review of its
    report, nothing of other wards."""
    with Ledger(p.cfg.ledger_path, readonly=True) as ledger:
        mine = ward_status(p.cfg, p.catalogue, ledger, unit)
        uploads = ledger.uploads("sender=? AND (period=? OR period IS NULL)", unit, str(p.cfg.period), limit=30)
        others = [
            r
            for r in ledger.history(str(p.cfg.period)).get(unit, [])
            if not r.path.startswith("portal/")  # files that came another way (e-mail, a shared folder)
        ]
    review = reviews(p.cfg, [unit])[unit]
    return {"status": mine, "uploads": uploads, "others": others, "deadline": p.cfg.deadline, "review": review}


def submission_copy(w: Web, request: Any) -> Any:
    """The marked-up copy of a recorded submission: its unit's, or (the district) any."""
    from starlette.responses import FileResponse

    unit = w.session(request)
    with Ledger(w.p.cfg.ledger_path, readonly=True) as ledger:
        rows = ledger.rows("id=?", request.path_params["id"])
    if not rows or not (w.p.is_area(unit) or rows[0].unit == unit) or not rows[0].annotated:
        raise HTTPProblem(404, "Không có tệp này.")
    return FileResponse(_copy_at(w.p, rows[0].annotated), filename=f"kiem-tra-tep-{rows[0].id}.xlsx")


def _copy_at(p: Portal, stored: str | None) -> Path:
    """A marked-up copy the ledger names, in the job's folder as it is now (a job moved elsewhere still hands its
    copies out), refused unless it is a file there."""
    return inside(p.cfg.out, str(job_file(p.cfg, stored)) if stored else None)
