"""Marked-up copies of submissions: the form rebuilt from the catalogue with the ward's values, offending cells
filled and commented, and a first sheet listing every issue.

The ward's file is never opened again: the copy is written from what the reader took out of it (values, cover,
which totals were formulas and which were typed over), so whatever the input format (.xlsx, .xlsm, .xls, .ods)
the copy is a plain .xlsx of the form's size, nothing from the input becomes a formula, a link or markup, and
validating the copy gives the same value issues as the original. Issues about the file's shape (moved, hidden,
merged or missing rows and sheets; a file that could not be read) are listed; the copy itself has the form's
layout.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.layout import COVER, RESULT_SHEET, RESULT_TITLE, form_layout
from ctstat.model.period import Period
from ctstat.model.report import FileReport, Lang, Report, Severity
from ctstat.model.text import printable
from ctstat.read.workbook import Submission
from ctstat.write.atomic import atomic_write

if TYPE_CHECKING:
    from ctstat.read.contain import Pool

FILL = {Severity.ERROR: "#FFC7CE", Severity.WARNING: "#FFE699"}
SUFFIX = ".kiem-tra.xlsx"
MESSAGE_WIDTH = 70  #: characters of the "what to fix" column of the result sheet
_UNSAFE = re.compile(r"[^\w.\-() ]", re.UNICODE)


def annotated_name(path: str) -> str:
    """'00301 sai.ods' -> '00301 sai.ods.kiem-tra.xlsx': the source extension is kept, so the copies of
    x.xlsx, x.ods and x.xls differ; characters a file name should not hold become '_', never a leading dash."""
    name = _UNSAFE.sub("_", printable(Path(path).name, 120).replace("\\", "_"))
    return ("_" + name if name.startswith(("-", ".")) else name) + SUFFIX


def marks_up(rep: FileReport, sub: Submission) -> bool:
    """Whether a file gets a marked-up copy: it has issues, and is a form (a district workbook is not a form to mark
    up, and a marked-up copy is not copied again)."""
    return bool(rep.issues) and sub.book is None and not any(i.code == "marked-up-copy" for i in rep.issues)


def annotate_report(
    report: Report,
    subs: Sequence[Submission],
    catalogue: Catalogue,
    out_dir: str | Path,
    lang: Lang = "vi",
    period: Period | None = None,
    jobs: int = 1,
) -> list[Path]:
    """Write a marked-up copy of every file that has issues into `out_dir`. Refuses (UsageError), before writing
    anything, a copy whose path would be one of the inputs or would leave `out_dir` through a link."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = out.resolve()
    inputs = {_resolved(s.path) for s in subs}
    tasks: list[tuple[FileReport, Submission, Path]] = []
    names: set[str] = set()
    for rep, sub in zip(report.files, subs, strict=True):
        if not marks_up(rep, sub):
            continue
        name = annotated_name(rep.path)
        if name in names:  # two inputs with one name in different folders: a short hash of the full path
            digest = hashlib.sha256(rep.path.encode("utf-8", "surrogateescape")).hexdigest()[:8]
            name = name[: -len(SUFFIX)] + f".{digest}{SUFFIX}"
        names.add(name)
        target = out / name
        where = _resolved(str(target))
        if where in inputs:
            raise UsageError(
                f"the marked-up copy {target} would overwrite an input: choose another --annotate folder",
                message_vi=f"bản đánh dấu lỗi {target} sẽ ghi đè lên một tệp đầu vào: chọn thư mục --annotate khác",
            )
        if where.parent != base:
            raise UsageError(
                f"the marked-up copy {target} would be written outside {out} (a link): refused",
                message_vi=f"bản đánh dấu lỗi {target} sẽ bị ghi ra ngoài {out} (qua một liên kết): không ghi",
            )
        tasks.append((rep, sub, target))
    return annotate_all(tasks, catalogue, lang, period, jobs)


Task = tuple[FileReport, Submission, Path, Lang, "Period | None"]


def annotate_all(
    tasks: Sequence[tuple[FileReport, Submission, Path]],
    catalogue: Catalogue,
    lang: Lang = "vi",
    period: Period | None = None,
    jobs: int = 2,
    pool: Pool[Task] | None = None,
) -> list[Path]:
    """`annotate_file` for each (report, submission, target): in `pool`'s kept workers when given (a server's:
    `marking_pool`), else in `jobs` worker processes when there are many, else here. The workers are contained
    like reading workers (contain.py): a fault of the machine there (a full disk) is the same OSError here, and
    one that crashes or fails otherwise is a bug of ctstat (InternalError)."""
    from ctstat.read.contain import contained_map

    args: list[Task] = [(rep, sub, target, lang, period) for rep, sub, target in tasks]
    if pool is None and (jobs <= 1 or len(tasks) < 8):
        return [_annotate_one(a, catalogue) for a in args]
    return list(contained_map(partial(_annotate_one, catalogue=catalogue), args, _not_written, jobs, pool=pool))


def marking_pool(catalogue: Catalogue, jobs: int) -> Pool[Task]:
    """Workers that write marked-up copies and outlive one batch (a server's): `annotate_all(..., pool=...)`.
    Everything a copy needs is imported here, before any worker is forked."""
    from ctstat.read.contain import Pool
    from ctstat.write.form import write_form  # noqa: F401
    from ctstat.write.inert import workbook  # noqa: F401

    form_layout(catalogue)
    return Pool(partial(_annotate_one, catalogue=catalogue), jobs)


def _annotate_one(task: Task, catalogue: Catalogue) -> Path:
    rep, sub, target, lang, period = task
    return annotate_file(rep, sub, catalogue, target, lang, period)


def _not_written(task: Task, code: str, detail: str) -> Path:
    from ctstat.model.errors import InternalError

    raise InternalError(str(task[2]), f"the marked-up copy could not be written ({code}: {detail})")


def _resolved(path: str) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # a link loop
        return Path(path).absolute()


def annotate_file(
    rep: FileReport,
    sub: Submission,
    catalogue: Catalogue,
    target: Path,
    lang: Lang = "vi",
    period: Period | None = None,
) -> Path:
    """The marked-up copy of one submission (or, if nothing could be read from it, the list of its issues)."""
    from ctstat.write.form import FormHeader, Marks, write_form

    layout = form_layout(catalogue)
    spots = _spots(rep, sub, catalogue)
    first = _result_sheet(rep, sub, catalogue, lang)
    if not sub.readable:
        from ctstat.write.form import Styles
        from ctstat.write.inert import workbook

        with atomic_write(target) as tmp:
            wb = workbook(tmp)
            wb.set_properties({"author": "ctstat", "created": datetime(2000, 1, 1)})
            first(wb, Styles(wb))
            wb.close()
        return target
    values = {k: v for k, v in zip(layout.keys, sub.raw, strict=True) if k not in sub.unavailable}
    formulas: dict[str, tuple[str, Any]] = {}
    for key in layout.formulas:
        raw = values.get(key)
        if sub.formula_keys is None or key in sub.formula_keys:
            formulas[key] = ("formula", None if key in sub.nocache_keys else raw)
        else:
            formulas[key] = ("value", raw)  # the total was typed over (or cleared): the copy shows what was typed
    cover = {k: _cover_value(v) for k, v in sub.cover.items()}
    per = _period(sub, period)
    code, name = str(cover.get("unit_code") or ""), str(cover.get("unit_name") or "")
    from ctstat.model.units import Unit

    vintage = printable(str(cover.get("vintage") or ""), 40)
    unit = Unit(vintage, "commune", printable(code, 40), printable(name, 120), "", None)
    parent_text = printable(str(cover.get("parent") or ""), 120).partition(" - ")
    parent = Unit(vintage, "district", parent_text[0], parent_text[2] or parent_text[0], "", None)
    header = FormHeader(unit, parent if parent_text[0] else None, None, per, vintage)
    cells = {pos: (FILL[sev], text) for pos, (sev, text) in spots.items()}
    return write_form(target, catalogue, header, values, cover, marks=Marks(cells, formulas, first))


def _cover_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime.combine(v, datetime.min.time())
    return v


def _period(sub: Submission, expected: Period | None) -> Period:
    try:
        return Period.parse(sub.cover.get("period"))
    except ValueError:
        return expected or Period.parse(str(date.today().year))


def _spots(rep: FileReport, sub: Submission, catalogue: Catalogue) -> dict[tuple[str, int, int], tuple[Severity, str]]:
    """(sheet, row, col) in the copy -> (worst severity, comment) for every issue that points at a cell."""
    from ctstat.model.keys import parse_a1

    layout = form_layout(catalogue)
    sheets = {COVER, *(s.name for s in layout.sheets)}
    out: dict[tuple[str, int, int], tuple[Severity, str]] = {}
    for issue in rep.issues:
        if issue.element in layout.positions:
            pos = layout.positions[issue.element]  # where the copy puts the cell (a moved row is put back)
        elif issue.sheet in sheets and issue.cell and (rc := parse_a1(issue.cell)) is not None:
            pos = (issue.sheet, rc[0], rc[1])
        else:
            continue
        line = f"[{issue.code}] {issue.message('vi')}"
        if pos in out:
            sev, text = out[pos]
            worst = Severity.ERROR if Severity.ERROR in (sev, issue.severity) else Severity.WARNING
            out[pos] = (worst, f"{text}\n{line}")
        else:
            out[pos] = (issue.severity, line)
    return out


def _result_rows(ws: Any, rep: FileReport, sub: Submission, layout: Any, lang: Lang, fmt: dict[Any, Any]) -> None:
    """One row per issue: severity, sheet, cell (an internal link to it), value, code, what to fix."""
    from ctstat.model.keys import a1

    vi = lang == "vi"
    for i, issue in enumerate(rep.issues):
        r = 5 + i
        sev = ("Lỗi" if issue.severity is Severity.ERROR else "Cảnh báo") if vi else str(issue.severity)
        ws.write_string(r, 0, sev, fmt[issue.severity])
        ws.write_string(r, 1, issue.sheet or "", fmt["cell"])
        where = None
        if issue.element in layout.positions:
            s, row, col = layout.positions[issue.element]
            where = (s, a1(row, col))
        elif issue.sheet and issue.cell and sub.readable:
            where = (issue.sheet, issue.cell)
        if where and sub.readable:
            target = "'" + where[0].replace("'", "''") + "'!" + where[1]
            ws.write_url(r, 2, f"internal:{target}", fmt["link"], string=where[1])
        else:
            ws.write_string(r, 2, issue.cell or "", fmt["cell"])
        value = issue.shown_value(lang)
        if isinstance(value, float) and math.isfinite(value):
            ws.write_number(r, 3, value, fmt["cell"])
        else:
            ws.write_string(r, 3, "" if value is None else printable(str(value), 200), fmt["cell"])
        ws.write_string(r, 4, issue.code, fmt["cell"])
        text = issue.message(lang)
        ws.write_string(r, 5, text, fmt["cell"])
        # the row as tall as its longest wrapped text (the message, or a long code)
        ws.set_row(r, 16 * max(1, _lines(text, MESSAGE_WIDTH - 4), _lines(issue.code, 20)))


def _result_sheet(
    rep: FileReport,
    sub: Submission,
    catalogue: Catalogue,
    lang: Lang,
) -> Any:
    """The first sheet of a copy: every issue with its cell (an internal link to it), value and what to fix."""

    from ctstat.write.blocks import fixed_format

    layout = form_layout(catalogue)

    def write(wb: Any, st: Any) -> None:
        ws = wb.add_worksheet(RESULT_SHEET)
        vi = lang == "vi"
        base = {"font_name": "Times New Roman", "font_size": 12}  # printed near 100%: legible as the form itself
        head = fixed_format(wb, {**base, "bold": True, "border": 1, "bg_color": "#DDEBF7"})
        cell = fixed_format(wb, {**base, "border": 1, "valign": "top", "text_wrap": True})
        link = fixed_format(wb, {**base, "border": 1, "valign": "top", "font_color": "#0563C1", "underline": 1})
        sev_fmt = {s: fixed_format(wb, {**base, "border": 1, "valign": "top", "bg_color": c}) for s, c in FILL.items()}
        title = fixed_format(wb, {**base, "bold": True, "font_size": 14})
        plain = fixed_format(wb, base)
        file_name = printable(Path(rep.path).name, 120)
        ws.write_string(0, 0, RESULT_TITLE[lang] + file_name, title)  # read back: a copy is never a submission
        who = " - ".join(x for x in (rep.unit or "", rep.unit_name or "", rep.period or "") if x)
        ws.write_string(1, 0, (f"Đơn vị, kỳ: {who}" if vi else f"Unit, period: {who}") if who else "", plain)
        count = (
            f"{rep.errors} lỗi, {rep.warnings} cảnh báo. "
            + (
                "Ô có lỗi được tô màu và có ghi chú trong các trang sau."
                if sub.readable
                else "Không đọc được nội dung tệp nên bản này chỉ có danh sách lỗi."
            )
            if vi
            else f"{rep.errors} error{'' if rep.errors == 1 else 's'}, {rep.warnings} warning"
            f"{'' if rep.warnings == 1 else 's'}. "
            + (
                "Cells at fault are filled and commented."
                if sub.readable
                else "Nothing could be read from the file: this copy holds the list alone."
            )
        )
        ws.write_string(2, 0, count, plain)
        header = (
            ["Mức độ", "Trang", "Ô", "Giá trị", "Mã lỗi", "Nội dung cần sửa"]
            if vi
            else ["Severity", "Sheet", "Cell", "Value", "Code", "What to fix"]
        )
        for c, text in enumerate(header):
            ws.write_string(4, c, text, head)
        _result_rows(ws, rep, sub, layout, lang, {"cell": cell, "link": link, **sev_fmt})
        # about as wide as A4 landscape at 100%: fit-to-width then leaves the text legible
        for c, width in enumerate((9, 11, 7, 11, 22, MESSAGE_WIDTH)):
            ws.set_column(c, c, width)
        ws.freeze_panes(5, 0)
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(4)
        ws.set_margins(left=0.5, right=0.5, top=0.6, bottom=0.6)
        ws.set_footer('&C&"Times New Roman"&9Trang &P/&N' if vi else '&C&"Times New Roman"&9Page &P/&N')
        ws.activate()

    return write


def _lines(text: str, width: int) -> int:
    lines = 0
    for para in text.split("\n"):
        lines += max(1, -(-len(para) // width))
    return lines
