"""The report typed on the page: a ward fills its form in the portal, one Biểu at a time, on a phone or a PC.

Each Biểu's page is made from the catalogue's form layout, like the Excel form: the same rows in the same order,
the same "Mã số", labels, units and columns; the totals the form computes are computed here and shown, never
typed. It works without JavaScript: every button is a form's, and leaving a Biểu (to another, to the overview,
to check) saves it first. What is typed is kept as a draft in the job's ledger (`job.drafts`), per ward and
period, so it outlives a closed browser and an ended session and opens on any device.

"Kiểm tra" judges the draft with the checks an uploaded file gets, on what the reader would make of the form
workbook written from it (`entry_check`: built directly, no workbook written and read back); "Nộp" writes that
workbook with ctstat's own form writer and hands it to the intake as an upload: recorded with its SHA-256,
judged, counted, downloadable. Nothing is saved or sent for a unit whose report (or the area's rollup) is
approved, and a ward reaches its own draft only (the unit comes from the session, never from the request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from ctstat.job.drafts import (
    COVER_KEYS,
    YES,
    Draft,
    Save,
    Saved,
    all_drafts,
    load_draft,
    note_checks,
    note_submitted,
    parse_cover,
    parse_typed,
    save_drafts,
    start_draft,
)
from ctstat.job.ledger import Ledger, report_from_record, report_record
from ctstat.job.previous import Previous, previous_values
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, a1, cell_key
from ctstat.model.layout import FormLayout, SheetLayout, form_layout
from ctstat.model.report import FileReport, Issue
from ctstat.web.entry_check import Checks
from ctstat.web.entry_ledger import Lane, Together
from ctstat.write.filling import Fill, write_filled

FORM_LIMIT = 64 * 1024  #: bytes of one Biểu's form (a few hundred short fields)
MAX_FIELDS = 800


@dataclass
class Hooks:
    """What the entry pages take from the app: its portal, page renderer and request checks."""

    p: Any  #: web.app.Portal
    page: Callable[..., Any]
    session: Callable[[Any], str]
    check_csrf: Callable[[Any, str | None], None]
    check_origin: Callable[[Any], None]
    problem: type[Exception]  #: web.app.HTTPProblem
    take: Callable[[Any, Any], Any]  #: web.app._take: an upload through the intake


# --- the form, from the layout ------------------------------------------------------------------------------------


@dataclass
class Cell:
    kind: str  #: input | total | na
    key: str = ""
    ident: str = ""  #: the HTML id
    label: str = ""  #: the column's label (shown above the field on a phone)
    yesno: bool = False
    value: str = ""
    error: str = ""  #: why what was typed is refused
    note: str = ""  #: another device's save
    issues: list[Issue] = field(default_factory=list)
    last: str = ""  #: last period's figure, from the job's history ('' without one)
    parts: str = ""  #: a total's parts' HTML ids (for the live totals' script, static/entry.js)

    @property
    def wrong(self) -> bool:
        """What was typed is refused, or the check found an error here (the field is marked)."""
        return bool(self.error) or any(i.severity == "error" for i in self.issues)


@dataclass
class Line:
    code: str
    label: str
    unit: str
    total: bool
    group: bool
    cells: list[Cell]


@cache
def _ids(catalogue: Catalogue) -> dict[str, str]:
    """cell key -> a short HTML id (the cell's place in the form)."""
    return {k: f"o{i}" for i, k in enumerate(form_layout(catalogue).keys)}


@cache
def sheet_inputs(catalogue: Catalogue) -> dict[str, tuple[str, ...]]:
    """sheet name -> its input cells' keys in form order (totals the form computes left out)."""
    layout = form_layout(catalogue)
    out: dict[str, list[str]] = {s.name: [] for s in layout.sheets}
    for k in layout.inputs():
        out[layout.positions[k][0]].append(k)
    return {name: tuple(keys) for name, keys in out.items()}


@cache
def _at_cell(catalogue: Catalogue) -> dict[tuple[str, str], str]:
    """(sheet, A1) -> cell key: where an issue of a check belongs on the page."""
    return {(s, a1(r, c)): k for k, (s, r, c) in form_layout(catalogue).positions.items()}


def computed(layout: FormLayout, key: str, values: Mapping[str, str]) -> str:
    """A total as the form computes it (the sum of the numbers typed in its parts), '' when none is typed."""
    parts = [computed(layout, k, values) if k in layout.formulas else values.get(k, "") for k in layout.formulas[key]]
    numbers = [int(v) for v in parts if v.isdigit()]
    return str(sum(numbers)) if numbers else ""


def lines(
    catalogue: Catalogue,
    sheet: SheetLayout,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    notes: Mapping[str, str],
    issues: Mapping[str, list[Issue]],
    last: Mapping[str, Previous] | None = None,
) -> list[Line]:
    """The Biểu's rows as the page shows them (with last period's figures of `last`, when there is a history)."""
    layout, ids, last = form_layout(catalogue), _ids(catalogue), last or {}
    out = []
    for row in sheet.rows:
        if not row.code:
            out.append(Line("", row.label_vi, "", False, True, []))
            continue
        el = catalogue.elements[row.element]
        cells = []
        for col in sheet.columns:
            key = cell_key(el.code, row.key, col.key)
            if key not in layout.positions:
                cells.append(Cell("na", label=col.label_vi))
                continue
            kind = "total" if key in layout.formulas else "input"
            value = computed(layout, key, values) if kind == "total" else values.get(key, "")
            parts = " ".join(ids[k] for k in layout.formulas[key]) if kind == "total" else ""
            cells.append(
                Cell(kind, key, ids[key], col.label_vi, el.type == "yesno", value, errors.get(key, ""),
                     notes.get(key, ""), issues.get(key, []), _shown(last.get(key), el.type == "yesno"), parts)
            )  # fmt: skip
        out.append(Line(row.code, row.label_vi, el.unit_vi, row.key == TOTAL, False, cells))
    return out


def _shown(prev: Previous | None, yesno: bool) -> str:
    if prev is None:
        return ""
    if yesno:
        return YES if prev.value else "Không"
    return f"{prev.value:,.0f}".replace(",", ".") if prev.value == int(prev.value) else f"{prev.value:g}"


def issues_by_cell(catalogue: Catalogue, rep: FileReport | None) -> tuple[dict[str, list[Issue]], list[Issue]]:
    """A check's issues by the cell they are at, and those at no cell of a Biểu (the cover, the file)."""
    at = _at_cell(catalogue)
    by_cell: dict[str, list[Issue]] = {}
    rest: list[Issue] = []
    for issue in rep.issues if rep else []:
        key = at.get((issue.sheet or "", issue.cell or ""))
        if key is None:
            rest.append(issue)
        else:
            by_cell.setdefault(key, []).append(issue)
    return by_cell, rest


def progress(catalogue: Catalogue, cells: Mapping[str, str]) -> list[tuple[int, int]]:
    """(fields filled, fields) of each Biểu."""
    return [(sum(1 for k in keys if k in cells), len(keys)) for keys in sheet_inputs(catalogue).values()]


# --- what was posted ------------------------------------------------------------------------------------------


async def read_form(request: Any, problem: type[Exception]) -> list[tuple[str, str]]:
    """A url-encoded form of one Biểu: every field, in order (refused past FORM_LIMIT bytes or MAX_FIELDS)."""
    from urllib.parse import parse_qsl

    from ctstat.web.context import bounded_body

    body = await bounded_body(request, FORM_LIMIT)
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise problem(400, "Dữ liệu gửi lên không đọc được.") from None


CONTROL = {"csrf", "version", "di"}  #: the form's own fields, beside the cells


def typed_fields(
    catalogue: Catalogue, sheet: str, posted: list[tuple[str, str]], problem: type[Exception]
) -> tuple[dict[str, str | None], dict[str, str], dict[str, str]]:
    """The cells of `sheet` as posted: (key -> value to store, key -> why refused, key -> what was typed). A field
    that is not an input of this Biểu (another Biểu's, a total, a made-up name) or sent twice refuses the whole
    request: a page of the portal never sends one."""
    mine = set(sheet_inputs(catalogue)[sheet])
    seen: set[str] = set()
    values: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    raw: dict[str, str] = {}
    for name, text in posted:
        if name in CONTROL:
            continue
        if name not in mine or name in seen:
            raise problem(400, "Biểu mẫu gửi lên có ô không thuộc biểu này: tải lại trang rồi nhập lại.")
        seen.add(name)
        yesno = catalogue.elements[name.split("/", 1)[0]].type == "yesno"
        value, why = parse_typed(text, "yesno" if yesno else "count")
        raw[name] = text[:40]
        if why:
            errors[name] = why
        else:
            values[name] = value
    return values, errors, raw


def form_values(catalogue: Catalogue, cells: Mapping[str, str]) -> dict[str, Any]:
    """The draft as the form writer takes it: numbers as numbers, 'Có'/'Không' as typed."""
    out: dict[str, Any] = {}
    for key, text in cells.items():
        if key in COVER_KEYS:
            continue
        if catalogue.elements[key.split("/", 1)[0]].type == "yesno":
            out[key] = text
        else:
            out[key] = int(text)
    return out


def from_submission(catalogue: Catalogue, cells: Mapping[str, float]) -> dict[str, str]:
    """A valid submission's stored cells as a draft's (inputs only)."""
    inputs = set(form_layout(catalogue).inputs())
    out = {}
    for key, v in cells.items():
        if key not in inputs or v != v:
            continue
        if catalogue.elements[key.split("/", 1)[0]].type == "yesno":
            out[key] = YES if v else "Không"
        else:
            out[key] = str(int(v))
    return out


def drafting(ledger: Ledger, period: str, catalogue: Catalogue) -> list[dict[str, Any]]:
    """For the district: each ward drafting on the page, how far along, when last saved, whether sent."""
    total = len(form_layout(catalogue).inputs())
    return [
        {
            "unit": d.unit,
            "filled": filled(d.cells),
            "total": total,
            "percent": round(100 * filled(d.cells) / total) if total else 0,
            "updated_at": d.updated_at,
            "submitted": d.submitted,
            "version": d.version,
        }
        for d in all_drafts(ledger, period)
    ]


def filled(cells: Mapping[str, str]) -> int:
    """How many of the form's fields are filled (the cover's left out)."""
    return sum(1 for k in cells if k not in COVER_KEYS)


def issues_of(draft: Draft | None) -> FileReport | None:
    if draft is None or not draft.checked:
        return None
    return report_from_record(draft.checked["report"])


# --- the routes -----------------------------------------------------------------------------------------------

HOME = "/xa/nhap"
NOTES = {
    "da-luu": "Đã lưu.",
    "cap-nhat": "Đã lưu. Một số ô vừa được lưu từ máy khác: số mới nhất đang hiện trên trang.",
    "da-kiem-tra": "Đã kiểm tra: kết quả ở dưới đây và bên cạnh từng ô.",
    "bat-dau": "Đã tạo bản nháp: chọn một biểu để nhập.",
}


@dataclass(frozen=True)
class Shown:
    """What a Biểu's page shows in its fields: the values, why some are refused, notes of another device's save,
    and a message for the page."""

    values: Mapping[str, str]
    errors: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    problem: str | None = None
    readonly: bool = False  #: the district looking at a ward's draft


class Entry:
    """The entry pages' handlers (`routes` lists them)."""

    def __init__(self, h: Hooks) -> None:
        self.h, self.p = h, h.p
        self.period = str(h.p.cfg.period)
        self.names = [s.name for s in form_layout(h.p.catalogue).sheets]
        self.checks = Checks(h.p.cfg, h.p.catalogue)
        self.lane = Lane(h.p.cfg.ledger_path)  #: reads (`entry_ledger`)
        self.writes = Lane(h.p.cfg.ledger_path)
        self._saves: Together[Save, Saved] = Together(self.writes, self._store_all)
        self._checked: Together[tuple[Draft, dict[str, Any]], None] = Together(self.writes, self._keep_checks)
        self._previous: dict[str, tuple[int, dict[str, Previous]]] = {}

    # --- shared -------------------------------------------------------------------------------------------------

    def ward(self, request: Any) -> str:
        unit = self.h.session(request)
        if self.p.is_area(unit):
            raise self.h.problem(404, "Nhập báo cáo trên trang là việc của từng xã, phường.")
        return unit

    def posted(self, request: Any) -> str:
        """A form post of a ward: its session, the same origin, then (once read) the CSRF value."""
        unit = self.ward(request)
        self.h.check_origin(request)
        return unit

    def ledger(self, readonly: bool = True) -> AbstractContextManager[Ledger]:
        """The ledger's connection of the lane running this (`self.lane.run` reads, `self.writes.run` writes)."""
        return (self.lane if readonly else self.writes).ledger()

    def draft(self, unit: str) -> Draft | None:
        with self.ledger() as ledger:
            return load_draft(ledger, self.period, unit)

    def locked(self, unit: str) -> str | None:
        """Why nothing may change now: the ward's report, or the area's rollup, is approved (the text to show)."""
        from ctstat.job.review import chain_as_recorded, locked_text

        with self.ledger() as ledger:
            states = chain_as_recorded(ledger, self.p.cfg).states()
        for who in (unit, self.p.area_code):
            st = states.get(who)
            if st is not None and st.approved is not None:
                return locked_text(st.approved)[1]
        return None

    def previous(self, unit: str) -> dict[str, Previous]:
        """The ward's last period's figures (job/previous.py), kept until the history changes; none without a
        history. A history that cannot be read costs the page only these figures (`run` says what is wrong)."""
        import logging

        from ctstat.model.errors import CtstatError

        history = self.p.cfg.history
        try:
            stamp = (history / "manifest.json").stat().st_mtime_ns if history is not None else 0
        except OSError:
            return {}
        kept = self._previous.get(unit)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        try:
            found = previous_values(self.p.cfg, self.p.catalogue, unit)
        except (CtstatError, OSError):
            logging.getLogger("ctstat.portal").warning("history unreadable for the entry page", exc_info=True)
            return {}
        self._previous[unit] = (stamp, found)
        return found

    def sheet_no(self, request: Any) -> int:
        n = int(request.path_params["n"])
        if not 1 <= n <= len(self.names):
            raise self.h.problem(404, "Không có biểu này.")
        return n

    # --- pages --------------------------------------------------------------------------------------------------

    async def overview(self, request: Any) -> Any:
        unit = self.ward(request)
        self.checks.start()  # the checks load while the ward types
        draft = await self.lane.run(self.draft, unit)
        rep = issues_of(draft)
        by_cell, rest = issues_by_cell(self.p.catalogue, rep)
        layout = form_layout(self.p.catalogue)
        per_sheet = dict.fromkeys(self.names, 0)
        for key in by_cell:
            per_sheet[layout.positions[key][0]] += 1
        ctx = {
            "draft": draft,
            "sheets": form_layout(self.p.catalogue).sheets,
            "progress": progress(self.p.catalogue, draft.cells) if draft else [],
            "cover_keys": COVER_KEYS,
            "report": rep,
            "rest": rest,
            "per_sheet": per_sheet,
            "stale": bool(draft and draft.checked and draft.checked["version"] != draft.version),
            "can_copy": await self.lane.run(self.current_cells, unit) is not None,
            "lock": await self.lane.run(self.locked, unit),
            "message": NOTES.get(request.query_params.get("tb", "")),
        }
        return self.h.page(request, "entry_home.html", **ctx)

    def current_cells(self, unit: str) -> tuple[int, dict[str, float]] | None:
        """The ward's current submission for the period and its cells, if it is valid."""
        with self.ledger() as ledger:
            row = ledger.current(self.period).get(unit)
            if row is None or not row.valid or row.catalogue_digest != self.p.catalogue.digest:
                return None
            cells = ledger.cells([row.id]).get(row.id)
        return (row.id, cells) if cells else None

    async def sheet_page(self, request: Any) -> Any:
        unit = self.ward(request)
        n = self.sheet_no(request)
        draft = await self.lane.run(self.draft, unit)
        if draft is None:
            return _redirect(HOME)
        message = NOTES.get(request.query_params.get("tb", ""))
        return await self.render(request, n, draft, Shown(draft.cells, message=message))

    async def render(self, request: Any, n: int, draft: Draft, shown: Shown, code: int = 200) -> Any:
        cat = self.p.catalogue
        sheet = form_layout(cat).sheets[n - 1]
        rep = issues_of(draft)
        by_cell, _ = issues_by_cell(cat, rep)
        last = self.previous(draft.unit)
        rows = lines(cat, sheet, shown.values, shown.errors, shown.notes, by_cell, last)
        faults = [(line, c) for line in rows for c in line.cells if c.error or c.note or c.issues]
        return self.h.page(
            request,
            "entry.html",
            code,
            n=n,
            sheet=sheet,
            names=self.names,
            rows=rows,
            faults=faults,
            draft=draft,
            progress=progress(cat, draft.cells),
            message=shown.message,
            problem=shown.problem,
            checked=rep is not None,
            lock=await self.lane.run(self.locked, draft.unit),
            readonly=shown.readonly,
            ward=draft.unit,
            last_periods=sorted({last[c.key].period for line in rows for c in line.cells if c.last}),
        )

    # --- posts --------------------------------------------------------------------------------------------------

    async def control(self, request: Any, unit: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """The posted form, its CSRF value checked: (its control fields, every field)."""
        posted = await read_form(request, self.h.problem)
        ctl: dict[str, str] = {}
        for name, value in posted:
            if name in CONTROL:
                ctl.setdefault(name, value)
        self.h.check_csrf(request, ctl.get("csrf"))
        return ctl, posted

    def unlocked(self, unit: str, what: str) -> None:
        why = self.locked(unit)
        if why:
            raise self.h.problem(409, f"{what}: {why}")

    def version(self, ctl: Mapping[str, str]) -> int:
        text = ctl.get("version", "")
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            raise self.h.problem(400, "Biểu mẫu gửi lên thiếu phiên bản bản nháp: tải lại trang rồi nhập lại.")
        return int(text)

    async def save(self, request: Any) -> Any:
        unit = self.posted(request)
        n = self.sheet_no(request)
        ctl, posted = await self.control(request, unit)
        await self.lane.run(self.unlocked, unit, "Không lưu được")
        draft = await self.lane.run(self.draft, unit)
        if draft is None:
            return _redirect(HOME)
        base = self.version(ctl)
        values, errors, raw = typed_fields(self.p.catalogue, self.names[n - 1], posted, self.h.problem)
        if errors:
            msg = f"Chưa lưu: {len(errors)} ô chưa đúng (ghi ở dưới ô). Sửa rồi bấm Lưu; các ô khác của biểu chưa lưu."
            return await self.render(request, n, draft, Shown({**draft.cells, **raw}, errors, problem=msg), 422)
        saved = await self.store(unit, base, values)
        if not saved.saved:
            shown = {**draft.cells, **raw, **{k: v or "" for k, v in saved.kept.items()}}
            notes = {k: _conflict_note(v, raw.get(k, "")) for k, v in saved.conflicts.items()}
            notes.update(dict.fromkeys(saved.kept, "Vừa được cập nhật từ máy khác."))
            msg = (
                f"Chưa lưu: {len(saved.conflicts)} ô vừa được lưu từ máy khác với số khác (ghi ở dưới ô). Xem lại, "
                "rồi bấm Lưu để giữ số đang hiện trên trang."
            )
            return await self.render(request, n, saved.draft, Shown(shown, notes=notes, problem=msg), 409)
        return _redirect(await self.after_save(request, unit, ctl.get("di", ""), n, bool(saved.kept)))

    async def store(self, unit: str, base: int, values: Mapping[str, str | None]) -> Saved:
        """Save a page's fields, with the saves waiting beside it (one transaction: `Together`)."""
        return await self._saves((unit, base, values))

    def _store_all(self, saves: list[Save]) -> list[Saved | Exception]:
        with self.ledger(readonly=False) as ledger:
            return list(save_drafts(ledger, self.period, saves, datetime.now()))

    async def after_save(self, request: Any, unit: str, go: str, n: int, kept: bool) -> str:
        """Where a saved Biểu goes next: another Biểu, the overview, or a check."""
        tb = "cap-nhat" if kept else "da-luu"
        if go == "kiem-tra":
            await self.run_check(unit)
            return f"{HOME}?tb=da-kiem-tra"
        if go == "tong-quan":
            return f"{HOME}?tb={tb}"
        target = int(go) if go.isascii() and go.isdigit() and 1 <= int(go) <= len(self.names) else n
        return f"{HOME}/{target}?tb={tb}"

    async def start(self, request: Any) -> Any:
        unit = self.posted(request)
        ctl, posted = await self.control(request, unit)
        await self.lane.run(self.unlocked, unit, "Không tạo được bản nháp")
        draft = await self.lane.run(self.draft, unit)
        if draft is not None and self.version(ctl) != draft.version:
            raise self.h.problem(409, "Bản nháp vừa được lưu từ máy khác: tải lại trang rồi chọn lại.")
        source, cells = "empty", {}
        if dict(posted).get("tu") == "bao-cao":
            current = await self.lane.run(self.current_cells, unit)
            if current is None:
                raise self.h.problem(409, "Đơn vị chưa có báo cáo hợp lệ kỳ này để sửa: bắt đầu từ biểu trống.")
            source, cells = f"submission:{current[0]}", from_submission(self.p.catalogue, current[1])

        def write() -> None:
            with self.ledger(readonly=False) as ledger:
                start_draft(ledger, self.period, unit, cells, source, datetime.now())

        await self.writes.run(write)
        return _redirect(f"{HOME}?tb=bat-dau")

    async def cover(self, request: Any) -> Any:
        """Save who prepared the report and their telephone (printed on the workbook's cover)."""
        unit = self.posted(request)
        ctl, posted = await self.control(request, unit)
        await self.lane.run(self.unlocked, unit, "Không lưu được")
        if await self.lane.run(self.draft, unit) is None:
            return _redirect(HOME)
        values: dict[str, str | None] = {}
        for name, text in posted:
            if name in CONTROL:
                continue
            if name not in COVER_KEYS or name in values:
                raise self.h.problem(400, "Biểu mẫu gửi lên có ô không thuộc trang này: tải lại trang rồi nhập lại.")
            value, why = parse_cover(text, name)
            if why:
                raise self.h.problem(422, f"Chưa lưu: {COVER_KEYS[name][1]}: {why}")
            values[name] = value
        saved = await self.store(unit, self.version(ctl), values)
        if not saved.saved:
            raise self.h.problem(409, "Chưa lưu: máy khác vừa sửa người lập biểu hoặc số điện thoại. Tải lại trang.")
        return _redirect(f"{HOME}?tb=da-luu")

    async def check(self, request: Any) -> Any:
        unit = self.posted(request)
        await self.control(request, unit)
        await self.run_check(unit)
        return _redirect(f"{HOME}?tb=da-kiem-tra")

    async def run_check(self, unit: str) -> None:
        """Judge the draft as an uploaded file is judged, and keep the report with the draft."""
        draft = await self.lane.run(self.draft, unit)
        if draft is None:
            return
        rep = await self.judge(unit, draft)
        await self._checked((draft, report_record(rep)))

    def _keep_checks(self, checked: list[tuple[Draft, dict[str, Any]]]) -> list[None | Exception]:
        """The checks' results waiting together, kept in one transaction."""
        with self.ledger(readonly=False) as ledger:
            note_checks(ledger, checked, datetime.now())
        return [None] * len(checked)

    async def judge(self, unit: str, draft: Draft) -> FileReport:
        """The draft judged as its form workbook would be, uploaded (`entry_check`: no workbook is written)."""
        _, header, values, cover, _ = self.fill(unit, draft, Path(self.sent_name(unit)))
        return await asyncio.wrap_future(self.checks.submit((self.sent_name(unit), header, values, cover)))

    def sent_name(self, unit: str) -> str:
        """The name the draft's workbook is sent under."""
        return f"nhap-tren-trang-{unit}-{self.period}.xlsx"

    def fill(self, unit: str, draft: Draft, path: Path) -> Fill:
        """What ctstat's form writer takes to write the draft's form workbook at `path` (`write.filling`)."""
        from ctstat.model.units import load_units
        from ctstat.write.form import FormHeader

        h = load_units(self.p.cfg.vintage)
        u = h.get(unit)
        if u is None:
            raise self.h.problem(404, "Đơn vị không có trong danh mục.")
        today = datetime.combine(datetime.now().date(), datetime.min.time())
        header = FormHeader.for_unit(h, u, self.p.cfg.period)
        cover: dict[str, Any] = {"report_date": today}
        cover.update({field: draft.cells[k] for k, (field, _) in COVER_KEYS.items() if k in draft.cells})
        return (str(path), header, form_values(self.p.catalogue, draft.cells), cover, None)

    def workbook(self, unit: str, draft: Draft, path: Path) -> int:
        """Write the form workbook of the draft with ctstat's form writer, in the portal's workers: its size."""
        (size,) = write_filled([self.fill(unit, draft, path)], self.p.catalogue, self.p.intake.fillers)
        return size

    async def submit(self, request: Any) -> Any:
        from ctstat.web.intake import Staged, server_name, staging_dir

        unit = self.posted(request)
        ctl, _ = await self.control(request, unit)
        await self.lane.run(self.unlocked, unit, "Không nộp được")
        draft = await self.lane.run(self.draft, unit)
        if draft is None:
            return _redirect(HOME)
        if self.version(ctl) != draft.version:
            raise self.h.problem(409, "Bản nháp vừa được lưu từ máy khác: xem lại trang tổng quan rồi bấm Nộp lại.")
        if not filled(draft.cells):
            raise self.h.problem(422, "Bản nháp chưa có số liệu nào: nhập số liệu các biểu rồi mới nộp.")
        wait = self.p.uploads.hit(unit)  # a sending is an upload: the same `uploads_per_minute` per unit
        if wait:
            msg = f"Gửi quá nhiều lần trong một phút: thử lại sau {wait} giây."
            raise self.h.problem(429, msg, {"Retry-After": str(wait)})
        path = staging_dir(self.p.cfg) / server_name(".xlsx")
        size = await asyncio.to_thread(self.workbook, unit, draft, path)
        up = await self.h.take(self.p, Staged(path, unit, self.sent_name(unit), size))

        def keep() -> None:
            with self.ledger(readonly=False) as ledger:
                note_submitted(ledger, draft, up.id, up.outcome, datetime.now())

        await self.writes.run(keep)
        return _redirect(f"/lan-nop/{up.id}")

    async def district_view(self, request: Any) -> Any:
        """A ward's draft as the district sees it: read only, with the last check's issues."""
        unit = self.h.session(request)
        if not self.p.is_area(unit):
            raise self.h.problem(403, "Chỉ đơn vị tổng hợp mới xem được bản nháp của các xã, phường.")
        ward = str(request.path_params["unit"])
        if ward not in self.p.names or self.p.is_area(ward):
            raise self.h.problem(404, "Không có xã, phường này.")
        bieu = request.query_params.get("bieu", "1")
        n = int(bieu) if bieu.isascii() and bieu.isdigit() and len(bieu) < 3 else 0
        if not 1 <= n <= len(self.names):
            raise self.h.problem(404, "Không có biểu này.")
        draft = await self.lane.run(self.draft, ward)
        if draft is None:
            raise self.h.problem(404, "Xã, phường này chưa nhập báo cáo trên trang.")
        return await self.render(request, n, draft, Shown(draft.cells, readonly=True))

    async def workbook_file(self, request: Any) -> Any:
        """The workbook of the draft's last submission, as recorded (to download, print, sign)."""
        from starlette.responses import FileResponse

        unit = self.ward(request)
        draft = await self.lane.run(self.draft, unit)
        sent = draft.submitted if draft else None

        def uploads() -> list[Any]:
            with self.ledger() as ledger:
                return ledger.uploads("id=? AND sender=?", int(sent["upload"]), unit) if sent else []

        found = await self.lane.run(uploads)
        kept = Path(found[0].kept or "") if found else None
        roots = (self.p.cfg.inbox.resolve(), self.p.cfg.out.resolve())
        if kept is None or not kept.is_file() or not any(kept.resolve().is_relative_to(r) for r in roots):
            raise self.h.problem(404, "Không có tệp này.")
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return FileResponse(kept.resolve(), filename=f"bao-cao-{unit}-{self.period}.xlsx", media_type=xlsx)


def _conflict_note(theirs: str | None, mine: str) -> str:
    return (
        f"Máy khác vừa lưu ô này là “{theirs or 'để trống'}”, trang này gõ “{mine or 'để trống'}”. "
        "Số đang hiện là số trang này gõ."
    )


def _redirect(url: str) -> Any:
    from starlette.responses import RedirectResponse

    return RedirectResponse(url, 303)


SCRIPT = "/static/entry.js"  #: live totals, unsaved figures kept in the tab (the one script; CSP `script-src 'self'`)


@cache
def _script() -> bytes:
    from ctstat.web.context import WEB_DIR

    return (WEB_DIR / "entry.js").read_bytes()


async def script(request: Any) -> Any:
    from starlette.responses import Response

    return Response(_script(), media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})


def install(env: Any, p: Any) -> None:
    """What the entry pages' templates use: number and time filters, and the district's list of drafts."""

    def drafts() -> list[dict[str, Any]]:
        with Ledger(p.cfg.ledger_path, readonly=True) as ledger:
            return drafting(ledger, str(p.cfg.period), p.catalogue)

    env.filters["num"] = lambda v: f"{int(v):,}".replace(",", ".") if str(v).isdigit() else v
    env.filters["isotime"] = lambda t: datetime.fromisoformat(t).strftime("%d/%m/%Y %H:%M") if t else ""
    env.globals["entry_drafts"] = drafts


def routes(h: Hooks, env: Any) -> list[Any]:
    """The entry pages' routes, for the app's route list (and their templates' helpers in `env`)."""
    from starlette.routing import Route

    install(env, h.p)
    e = Entry(h)
    return [
        Route(HOME, e.overview),
        Route(f"{HOME}/bat-dau", e.start, methods=["POST"]),
        Route(f"{HOME}/kiem-tra", e.check, methods=["POST"]),
        Route(f"{HOME}/bia", e.cover, methods=["POST"]),
        Route(f"{HOME}/nop", e.submit, methods=["POST"]),
        Route(f"{HOME}/tep", e.workbook_file),
        Route(SCRIPT, script),
        Route("/huyen/nhap/{unit}", e.district_view),
        Route(HOME + "/{n:rowid}", e.sheet_page, methods=["GET"]),
        Route(HOME + "/{n:rowid}", e.save, methods=["POST"]),
    ]
