"""The JSON API: `/api/v1/submissions` (a unit's token sends a file, the answer is its report) and
`/api/v1/status` (the district's token reads the period's status)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ctstat.job.run import job_status
from ctstat.model.messages import api_error
from ctstat.web.context import HTTPProblem, Web
from ctstat.web.upload import Refused, locked_message, receive, take


async def api_submit(w: Web, request: Any) -> Any:
    from starlette.responses import JSONResponse

    unit = await w.bearer(request)
    try:
        staged, _ = await receive(request, w.p, unit)
    except Refused as early:  # an approved ward's token: refused before its body was read
        up = early.upload
    else:
        up = await take(w.p, staged)
    if up.outcome == "refused":
        error = {**api_error("another unit's file"), "unit": up.report.unit, "upload": up.id, "outcome": "refused"}
        return JSONResponse(error, 403)
    if up.outcome == "locked":  # the ward's report is approved: who approved it, when, how to reopen
        en, vi = locked_message(up)
        error = {"error": vi, "error_en": en, "unit": up.report.unit, "upload": up.id, "outcome": "locked"}
        return JSONResponse(error, 409)
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
    return JSONResponse(entry)


async def api_status(w: Web, request: Any) -> Any:
    from starlette.responses import JSONResponse

    unit = await w.bearer(request)
    if not w.p.is_area(unit):
        raise HTTPProblem(403, "a ward's token cannot read the period's status")
    status = await asyncio.to_thread(job_status, w.p.cfg, w.p.catalogue)
    return JSONResponse(json.loads(json.dumps(status, default=str)))
