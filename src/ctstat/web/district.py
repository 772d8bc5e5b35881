"""The district's pages: its period live (`/huyen`: counts, the chase list, recent uploads, the review of each
ward), its rollup on demand and the workbooks it wrote."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from ctstat.job.config import rollup_files
from ctstat.job.ledger import Ledger
from ctstat.job.review import YEAR_REVIEW, act, reviews_here
from ctstat.job.run import job_status, run_job
from ctstat.model.errors import UsageError
from ctstat.model.layout import form_layout
from ctstat.web.context import XLSX_TYPE, HTTPProblem, Portal, Web, inside
from ctstat.web.review import (
    ROLLUP_ACTIONS,
    chain_problem,
    code_example,
    for_district,
    form_action,
    portal_signer,
    reviews,
    rollup_action,
    rollup_review,
)


def district(w: Web, request: Any) -> Any:
    from starlette.responses import RedirectResponse

    unit = w.session(request)
    if not w.p.is_area(unit):
        return RedirectResponse("/xa", 303)
    state = _district_state(w.p)
    # the ward a notice names, by its code only: text from the address is never shown as the portal's words
    done = request.query_params.get("xa")
    done = done if done in w.p.names and not w.p.is_area(done) else None
    if not reviews_here(w.p.cfg):  # the year 2025's job: its reports are reviewed in their half-years' jobs
        return w.page(request, "district.html", **state, year_review=YEAR_REVIEW[0], message=None, done=done)
    wards = sorted(set(w.p.names) - {w.p.area_code})
    signer, why_not = portal_signer(w.p.cfg)
    shown = {u: rv for u, rv in reviews(w.p.cfg, wards).items() if rv.state != "none" or rv.records}
    state |= {"reviews": shown, "signer": signer, "why_not": why_not, "broken": chain_problem(w.p.cfg)}
    state["rollup"] = rollup_review(w.p.cfg, wards)
    state["example"] = code_example(form_layout(w.p.catalogue))
    return w.page(request, "district.html", **state, message=request.query_params.get("tb"), done=done)


async def roll_up(w: Web, request: Any) -> Any:
    from starlette.responses import RedirectResponse

    unit, _ = await w.form_post(request)
    if not w.p.is_area(unit):
        raise HTTPProblem(403, "Chỉ đơn vị tổng hợp mới tổng hợp được.")
    try:
        res = await asyncio.to_thread(run_job, w.p.cfg, w.p.catalogue)
    except UsageError as exc:  # another run holds the job (the page says to try again; the log says which)
        logging.getLogger("ctstat.portal").warning("rollup from the portal refused: %s", exc)
        return RedirectResponse("/huyen?tb=ban", 303)
    return RedirectResponse(f"/huyen?tb={res.rollup_state or 'waiting'}", 303)


async def review(w: Web, request: Any) -> Any:
    """A district's review action on one ward (approve, send back, correct a cell, reopen) or on its own rollup
    (approve, with the wards it excuses and why; reopen), signed with the portal's key and done by
    `job.review.act`: the same checks and records as `ctstat review`. A refusal is a page saying why (a correction
    that makes the form invalid: its issues at their cells; wards not approved: which); nothing is recorded then."""
    from starlette.responses import RedirectResponse

    n = len(w.p.names)  # the rollup's form has an excuse field for each ward not approved
    unit, form = await w.form_post(request, limit=4096 + 2048 * n, fields=10 + n)
    if not w.p.is_area(unit):
        raise HTTPProblem(403, "Chỉ đơn vị tổng hợp mới duyệt được báo cáo.")
    signer, why_not = portal_signer(w.p.cfg)
    if signer is None:
        raise HTTPProblem(403, why_not)
    wards = set(w.p.names) - {w.p.area_code}
    try:
        if form.get("action") in ROLLUP_ACTIONS:
            action = rollup_action(form, w.p.area_code, wards)
        else:
            action = form_action(form, wards, form_layout(w.p.catalogue))
        await asyncio.to_thread(act, w.p.cfg, w.p.catalogue, signer, action)
    except UsageError as exc:
        msg = for_district(exc, w.p.cfg)
        # back to where the form was (the ward's review, or the rollup's), not to the top of a long page
        unit = form.get("unit", "")
        back = "/huyen#duyet-tong-hop" if form.get("action") in ROLLUP_ACTIONS else "/huyen"
        back = f"/huyen#xa-{unit}" if unit in wards else back
        return w.page(
            request,
            "problem.html",
            409,
            message=f"Không ghi nhận: {msg}",
            issues=exc.issues,
            back=back,
            back_label="Quay lại phần duyệt báo cáo",
        )
    if action.kind in ROLLUP_ACTIONS:
        return RedirectResponse(f"/huyen?tb={action.kind}#duyet-tong-hop", 303)
    return RedirectResponse(f"/huyen?tb={action.kind}&xa={action.unit}#xa-{action.unit}", 303)


def rollup_file(w: Web, request: Any) -> Any:
    from starlette.responses import FileResponse

    unit = w.session(request)
    if not w.p.is_area(unit):
        raise HTTPProblem(403, "Chỉ đơn vị tổng hợp mới xem được bảng tổng hợp.")
    outputs = _rollup_outputs(w.p)
    n = request.path_params["n"]
    if not 0 <= n < len(outputs):
        raise HTTPProblem(404, "Không có tệp này.")
    path = inside(w.p.cfg.out, outputs[n])
    return FileResponse(path, filename=path.name, media_type=XLSX_TYPE if path.suffix == ".xlsx" else None)


def _rollup_outputs(p: Portal) -> list[str]:
    with Ledger(p.cfg.ledger_path, readonly=True) as ledger:
        return [str(f) for f in rollup_files(p.cfg, ledger.get_meta("rollup_outputs"))]


def _district_state(p: Portal) -> dict[str, Any]:
    st = job_status(p.cfg, p.catalogue)
    with Ledger(p.cfg.ledger_path, readonly=True) as ledger:
        uploads = ledger.uploads(limit=50)
        attempts: dict[str, int] = defaultdict(int)
        for up in ledger.uploads("outcome != 'accepted' AND (period=? OR period IS NULL)", str(p.cfg.period)):
            attempts[up.sender] += 1
    total = {k: sum(c[k] for c in st["by_parent"].values()) for k in next(iter(st["by_parent"].values()), {})}
    outputs = [Path(o).name for o in st["rollup_outputs"]]
    return {"st": st, "total": total, "uploads": uploads, "attempts": attempts, "outputs": outputs}
