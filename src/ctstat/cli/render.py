"""Human output for reports and the catalogue (the only module that imports rich)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ctstat.model.catalogue import Catalogue
from ctstat.model.report import Lang, Report, Severity, english
from ctstat.model.text import printable
from ctstat.model.vocab import (
    COUNTS,
    WHOLE,
    basis_label,
    completeness_line,
    count_label,
    count_text,
    over_time_label,
    rollup_note,
    status_label,
)

WORDS = {
    "vi": {
        "error": "Lỗi",
        "warning": "Cảnh báo",
        "where": "Vị trí",
        "value": "Giá trị",
        "code": "Mã",
        "message": "Nội dung cần sửa",
        "valid": "hợp lệ",
        "invalid": "không hợp lệ",
        "files": "tệp",
        "errors": "lỗi",
        "warnings": "cảnh báo",
        "summary": "Tổng kết",
    },
    "en": {
        "error": "Error",
        "warning": "Warning",
        "where": "Where",
        "value": "Value",
        "code": "Code",
        "message": "What to fix",
        "valid": "valid",
        "invalid": "invalid",
        "files": "files",
        "errors": "errors",
        "warnings": "warnings",
        "summary": "Summary",
    },
}


def count(n: int, key: str, lang: Lang) -> str:
    """'1 error', '2 errors' in English; Vietnamese nouns do not change ('1 lỗi', '2 lỗi')."""
    word = WORDS[lang][key]
    if lang == "en" and n == 1:
        word = {"files": "file", "errors": "error", "warnings": "warning"}.get(key, word)
    return f"{count_text(n, lang)} {word}"


def make_consoles(no_color: bool = False) -> tuple[Console, Console]:
    """stdout for results, stderr for diagnostics and progress. No markup or emoji is read from what is printed
    (text from files may hold '[' and ':'); piped or run from cron, lines are not wrapped (a path stays whole)."""
    import os
    import sys

    def console(stream: Any) -> Console:
        wide = not stream.isatty() and not os.environ.get("COLUMNS")
        return Console(
            file=stream, no_color=no_color, highlight=False, markup=False, emoji=False, width=10_000 if wide else None
        )

    return console(sys.stdout), console(sys.stderr)


def render_report(report: Report, console: Console, lang: Lang = "vi", show_valid: bool = True) -> None:
    w = WORDS[lang]
    for f in report.files:
        if not f.issues and not show_valid:
            continue
        mark = Text("✓ ", style="bold green") if f.valid else Text("✗ ", style="bold red")
        head = Text.assemble(mark, (printable(f.path), "bold"))
        if f.unit:
            head.append(f"  {f.unit} {f.unit_name or ''}")
        if f.period:
            head.append(f"  {f.period}")
        if f.issues:
            head.append(f"  ({count(f.errors, 'errors', lang)}, {count(f.warnings, 'warnings', lang)})", style="dim")
        console.print(head)
        if not f.issues:
            continue
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1), pad_edge=False)
        table.add_column("", no_wrap=True)
        table.add_column(w["where"], no_wrap=True)
        table.add_column(w["value"], overflow="fold", max_width=18)
        table.add_column(w["code"], no_wrap=True, style="dim")
        table.add_column(w["message"], overflow="fold", ratio=1)
        for i in f.issues:
            sev = Text(w["error"], style="red") if i.severity is Severity.ERROR else Text(w["warning"], style="yellow")
            value = "" if i.value is None else str(i.shown_value(lang))
            table.add_row(sev, i.where, printable(value, 80), i.code, printable(i.message(lang)))
        console.print(table)
    s = report.summary()
    style = "bold green" if report.valid else "bold red"
    console.print(
        Text(
            f"{w['summary']}: {count(s['files'], 'files', lang)}, {count_text(s['valid'], lang)} {w['valid']}, "
            f"{count_text(s['invalid'], lang)} "
            f"{w['invalid']}; {count(s['errors'], 'errors', lang)}, {count(s['warnings'], 'warnings', lang)}.",
            style=style,
        )
    )


def _render_chase(chase: list[Any], console: Console, lang: Lang, by_commune: bool) -> None:
    """The chase list: who to call and why (the communes under the districts chased, `by_commune`)."""
    vi = lang == "vi"
    title = ("Chi tiết theo xã, phường", "Detail by commune") if by_commune else ("Danh sách cần đôn đốc", "Chase list")
    table = Table(title=title[0] if vi else title[1], show_lines=False)
    for col in (
        ("Cấp trên", "Parent"),
        ("Mã", "Code"),
        ("Xã, phường", "Commune"),
        ("Tình trạng", "Status"),
        ("Vấn đề", "Problem"),
    ):
        table.add_column(col[0] if vi else col[1], overflow="fold")
    for s in chase:
        status = status_label(s.status, lang, lower=True)
        table.add_row(
            s.parent_label,
            s.code,
            s.name,
            status + (" (muộn)" if s.late and vi else " (late)" if s.late else ""),
            printable(s.problem if vi else english(s.problem)),
        )
    console.print(table)


def render_rollup(result: Any, console: Console, lang: Lang = "vi") -> None:
    """Invalid inputs, then the chase list (who to call and why), then what was written."""
    vi = lang == "vi"
    if any(f.issues for f in result.report.files):  # the files with issues, and a summary of every file read
        render_report(result.report, console, lang, show_valid=False)
    chase = result.completeness.chase_list()
    parents = [p.to_dict() for p in result.completeness.chase_parents()]
    if parents:  # above the district level: the districts first, then the communes that differ within one
        render_parents(parents, console, lang)
        shown = {s.code for p in result.completeness.chase_parents() if not p.whole for s in p.chase()}
        chase = [s for s in chase if s.code in shown]
    if chase:
        _render_chase(chase, console, lang, by_commune=bool(parents))
    counts = result.completeness.count(result.completeness.rows)
    head = f"{result.unit.code} {result.unit.name}, {result.period}"
    if parents:
        n = len(result.completeness.parents)
        level = parents[0]["level"]
        head_vi, head_en = ("quận, huyện", "districts") if level == "district" else ("tỉnh, thành phố", "provinces")
        head += f" ({len(parents)}/{n} {head_vi} cần đôn đốc)" if vi else f" ({len(parents)}/{n} {head_en} to chase)"
    if result.refused:
        console.print(
            Text(
                (
                    f"Chưa tổng hợp {head}: {count_text(counts['valid'])}/{count_text(counts['expected'])} xã hợp lệ. "
                    "Dùng --allow-partial để tổng hợp phần đã có."
                )
                if vi
                else (
                    f"Not rolled up {head}: {count_text(counts['valid'], 'en')}/"
                    f"{count_text(counts['expected'], 'en')} communes valid. "
                    "Use --allow-partial to roll up what is there."
                ),
                style="bold red",
            )
        )
        return
    for p in result.outputs:
        console.print(f"{'Đã ghi' if vi else 'Wrote'} {printable(str(p))}")
    state = ("đầy đủ" if vi else "complete") if not result.partial else ("CHƯA ĐẦY ĐỦ" if vi else "PARTIAL")
    console.print(
        Text(
            f"{'Tổng hợp' if vi else 'Rolled up'} {head}: {count_text(counts['valid'], lang)}/"
            f"{count_text(counts['expected'], lang)} "
            f"{'xã hợp lệ' if vi else 'communes valid'} ({state}).",
            style="bold green" if not result.partial else "bold yellow",
        )
    )


def render_run(result: Any, console: Console, lang: Lang = "vi") -> None:
    """What one scheduled run did: warnings about the job itself, files taken in, where the period stands, the
    rollup."""
    vi = lang == "vi"
    for w in result.warnings:
        console.print(Text(f"⚠ {w['message'] if vi else w['message_en']}", style="bold yellow"))
    for f in result.validated:
        mark = Text("✓ ", style="green") if f.valid else Text("✗ ", style="red")
        line = Text.assemble(mark, f.path, f"  {f.unit or '?'} {f.unit_name or ''}")
        if f.issues:
            first = f.issues[0]
            where = f"{first.where} " if first.where else ""
            counts = f"{count(f.errors, 'errors', lang)}, {count(f.warnings, 'warnings', lang)}"
            line.append(f"  ({counts}; {where}{first.code})", style="dim")
        console.print(line)
    for gone in result.removed:
        console.print(Text(_removed_line(gone, str(result.config.period), vi), style="yellow"))
    if not result.validated and not result.removed:
        console.print("Không có tệp mới hoặc thay đổi." if vi else "No new or changed file.")
    c = result.completeness.count(result.completeness.rows)
    console.print(f"{result.config.unit} {result.config.period}: {completeness_line(c, lang)}.")
    for row in result.unattributed:
        console.print(Text(f"✗ {row.path}: {row.first_problem() if vi else english(row.first_problem())}", style="red"))
    states = {
        "written": ("Đã tổng hợp", "Rolled up"),
        "unchanged": ("Tổng hợp không đổi (không có số liệu mới)", "Rollup unchanged (no new data)"),
        "waiting": (
            "Chưa tổng hợp: còn xã chưa có báo cáo hợp lệ",
            "Not rolled up: some communes have no valid report",
        ),
    }
    vi_en = states.get(result.rollup_state, (result.rollup_state, result.rollup_state))
    style = "bold green" if result.rollup_state in ("written", "unchanged") else "bold yellow"
    console.print(Text(vi_en[0] if vi else vi_en[1], style=style))
    if result.rollup is not None:
        for p in result.rollup.outputs:
            console.print(f"  {printable(str(p))}")
    if result.stale_rollup is not None:
        console.print(Text(rollup_note(result.stale_rollup, lang), style="bold red"))


def render_parents(parents: list[dict[str, Any]], console: Console, lang: Lang = "vi") -> None:
    """Above the district level, the chase list's first table: each district to call (its workbook missing,
    edited, partial), how many of its communes have valid figures, and what to do."""
    vi = lang == "vi"
    district = parents[0]["level"] == "district"
    title = "Danh sách cần đôn đốc: " + ("quận, huyện" if district else "tỉnh, thành phố")
    table = Table(title=title if vi else f"Chase list: {'districts' if district else 'provinces'}")
    heads = (
        ("Mã", "Quận, huyện" if district else "Tỉnh, thành phố", "Tình trạng", "Xã hợp lệ", "Việc cần làm")
        if vi
        else ("Code", "District" if district else "Province", "Status", "Communes valid", "What to do")
    )
    for col in heads:
        table.add_column(col, overflow="fold", justify="right" if col in ("Xã hợp lệ", "Communes valid") else "left")
    for p in parents:
        c = p["counts"]
        table.add_row(
            p["unit"],
            p["name"],
            status_label(p["status"], lang, lower=True),
            f"{count_text(c['valid'], lang)}/{count_text(c['expected'], lang)}",
            printable(p["problem"] if vi else p["problem_en"]),
        )
    console.print(table)


def _removed_line(gone: Any, period: str, vi: bool) -> str:
    """'Tệp đã bị xóa khỏi hộp thư: X (00301 Phường Thanh Trì): ...' and what that did to the ward."""
    who = f" ({' '.join(filter(None, (gone.unit, gone.unit_name)))})" if gone.unit else ""
    head = f"{'Tệp đã bị xóa khỏi hộp thư' if vi else 'File removed from the inbox'}: {printable(gone.path)}{who}"
    if gone.unit is None:
        what = ("tệp không xác định được đơn vị; không ảnh hưởng số liệu", "it named no unit; no data changes")
    elif gone.period != period:
        what = (f"tệp của kỳ {gone.period}, không thuộc kỳ này", f"a file of {gone.period}, not this period")
    elif gone.now_current is None:
        what = ("xã nay không còn báo cáo nào (chưa nộp)", "the commune now has no submission (missing)")
    else:
        valid = ("hợp lệ", "valid") if gone.now_valid else ("không hợp lệ", "invalid")
        current = printable(gone.now_current)
        what = (
            (
                f"báo cáo hiện hành của xã nay là {current} ({valid[0]})",
                f"its current submission is now {current} ({valid[1]})",
            )
            if gone.was_current
            else (
                f"không phải báo cáo hiện hành; vẫn dùng {current} ({valid[0]})",
                f"not the current submission; {current} ({valid[1]}) still is",
            )
        )
    return f"{head}: {what[0] if vi else what[1]}."


def _render_status_chase(detail: list[dict[str, Any]], console: Console, lang: Lang, by_commune: bool) -> None:
    """The status's chase list: each commune to call, with its last problem."""
    vi = lang == "vi"
    title = ("Chi tiết theo xã, phường", "Detail by commune") if by_commune else ("Danh sách cần đôn đốc", "Chase list")
    chase = Table(title=title[0] if vi else title[1])
    heads = (
        ("Mã", "Xã, phường", "Tình trạng", "Vấn đề gần nhất") if vi else ("Code", "Commune", "Status", "Last problem")
    )
    for col in heads:
        chase.add_column(col, overflow="fold")
    for s in detail:
        late = (" (muộn)" if vi else " (late)") if s["late"] else ""
        chase.add_row(
            s["unit"],
            s["name"],
            status_label(s["status"], lang, lower=True) + late,
            printable(s["problem"] if vi else s.get("problem_en", s["problem"])),
        )
    console.print(chase)


def render_status(doc: dict[str, Any], console: Console, lang: Lang = "vi") -> None:
    vi = lang == "vi"
    for w in doc.get("warnings", ()):
        console.print(Text(f"⚠ {w['message'] if vi else w['message_en']}", style="bold yellow"))
    deadline = (f" (hạn {doc['deadline']})" if vi else f" (deadline {doc['deadline']})") if doc["deadline"] else ""
    head = "Tình hình nộp báo cáo" if vi else "Submissions for"
    table = Table(title=f"{head} {doc['unit']} - {doc['period']}{deadline}")
    cols = tuple(COUNTS)
    table.add_column("Đơn vị" if vi else "Unit")
    for col in cols:
        table.add_column(count_label(col, lang), justify="right")
    for parent, counts in doc["by_parent"].items():
        table.add_row(parent, *(str(counts[c]) for c in cols))
    console.print(table)
    parents = doc.get("chase_parents") or []
    detail = doc["chase_list"]
    if parents:  # above the district level: the districts first, then the communes that differ within one
        render_parents(parents, console, lang)
        whole = {c["unit"] for p in parents if p["status"] in WHOLE for c in p["communes"]}
        detail = [s for s in detail if s["unit"] not in whole]
    if detail:
        _render_status_chase(detail, console, lang, by_commune=bool(parents))
    for u in doc["unattributed"]:
        what = "Tệp không xác định được đơn vị" if vi else "File naming no unit"
        problem = u["problem"] if vi else english(u["problem"])
        console.print(Text(f"{what}: {printable(u['path'])} - {printable(problem)}", style="red"))
    labels = doc.get("resubmitted") or {}  # a year job's: the period, list, code and name of each
    for unit, rows in doc["resubmissions"].items():
        valid, current = ("hợp lệ", " (hiện hành)") if vi else ("valid", " (current)")
        said = [valid if r["valid"] else count(r["errors"], "errors", lang) for r in rows]
        who = printable(labels[unit]["label" if vi else "label_en"]) if unit in labels else unit
        console.print(
            ("Nộp lại" if vi else "Resubmitted")
            + f" {who}: "
            + "; ".join(
                f"{r['received_at']} {printable(r['path'])} {what}" + (current if r["current"] else "")
                for r, what in zip(rows, said, strict=True)
            )
        )
    rollup = doc.get("rollup")
    if rollup and not rollup["current"]:  # said before its files: nobody takes them for current
        console.print(
            Text(("Tổng hợp gần nhất: " if vi else "Latest rollup: ") + rollup_note(rollup, lang), "bold red")
        )
        console.print("  " + ", ".join(rollup["outputs"]))
    elif doc["rollup_outputs"]:
        console.print(("Tổng hợp gần nhất: " if vi else "Latest rollup: ") + ", ".join(doc["rollup_outputs"]))


def render_catalogue(cat: Catalogue, console: Console, lang: Lang = "vi") -> None:
    table = Table(title=f"{cat.title_vi if lang == 'vi' else cat.title_en} — {cat.version}", show_lines=False)
    for col in (
        "ID",
        "Mã TT13" if lang == "vi" else "Circ. code",
        "Tên" if lang == "vi" else "Name",
        "Cách tính" if lang == "vi" else "Computed as",
        "Nguồn" if lang == "vi" else "Provenance",
    ):
        table.add_column(col, overflow="fold", no_wrap=col in ("ID", "Cách tính", "Computed as"))
    for ind in cat.indicators:
        formula = ind.element if ind.kind == "count" else f"{ind.numerator} / {ind.denominator} × {ind.factor:g}"
        prov = basis_label(ind.provenance, lang)
        field_vi = {"annex": "phụ lục", "code": "mã", "name_vi": "tên", "formula": "công thức", "unit": "đơn vị"}
        detail = "; ".join(
            f"{field_vi.get(k, k)}: {basis_label(v).lower()}" if lang == "vi" else f"{k}: {v}"
            for k, v in ind.basis.items()
            if k in ("code", "name_vi", "formula")
        )
        table.add_row(
            ind.id,
            f"{ind.annex}/{ind.code}" if ind.code else "—",
            ind.name_vi if lang == "vi" else ind.name_en,
            formula,
            f"{prov} ({detail})",
        )
    console.print(table)
    el_table = Table(title="Data elements" if lang == "en" else "Dữ liệu đầu vào của xã", show_lines=False)
    heads = (
        ("Mã", "Tên", "Đơn vị", "Dòng", "Cột", "Nguồn", "Theo thời gian")
        if lang == "vi"
        else ("Code", "Name", "Unit", "Rows", "Columns", "Basis", "Over time")
    )
    for col in heads:
        el_table.add_column(col, overflow="fold")

    def axis(a: Any) -> str:
        if lang == "en":
            return f"{a.dimension.name_en.lower()} ({a.breakdown})"
        kind = "cộng lại bằng tổng" if a.breakdown == "exclusive" else "một trẻ có thể thuộc nhiều nhóm"
        return f"{a.dimension.name_vi.lower()} ({kind})"

    for e in cat.elements.values():
        rows = axis(e.rows) if e.rows else "—"
        cols = ", ".join(axis(a) for a in e.columns) or "—"
        el_table.add_row(
            e.code,
            e.name_vi if lang == "vi" else e.name_en,
            e.unit_vi if lang == "vi" else e.unit_en,
            rows,
            cols,
            basis_label(e.basis, lang),
            over_time_label(e.over_time, e.over_time_basis, lang),
        )
    console.print(el_table)


def catalogue_to_dict(cat: Catalogue) -> dict[str, Any]:
    return {
        "version": cat.version,
        "template_version": cat.template_version,
        "dimensions": {
            k: {
                "name_vi": d.name_vi,
                "name_en": d.name_en,
                "basis": d.basis,
                "categories": [{"key": c.key, "vi": c.vi, "en": c.en} for c in d.categories],
            }
            for k, d in cat.dimensions.items()
        },
        "elements": [
            {
                "code": e.code,
                "name_vi": e.name_vi,
                "name_en": e.name_en,
                "unit_vi": e.unit_vi,
                "type": e.type,
                "sheet": e.sheet,
                "basis": e.basis,
                "over_time": {"kind": e.over_time, "basis": e.over_time_basis},
                "rows": {"dimension": e.rows.dimension.key, "breakdown": e.rows.breakdown} if e.rows else None,
                "columns": [{"dimension": a.dimension.key, "breakdown": a.breakdown} for a in e.columns],
            }
            for e in cat.elements.values()
        ],
        "indicators": [
            {
                "id": i.id,
                "annex": i.annex,
                "code": i.code,
                "name_vi": i.name_vi,
                "name_en": i.name_en,
                "kind": i.kind,
                "element": i.element,
                "numerator": i.numerator,
                "denominator": i.denominator,
                "factor": i.factor,
                "unit_vi": i.unit_vi,
                "provenance": i.provenance,
                "basis": i.basis,
            }
            for i in cat.indicators
        ],
        "rules": [
            {
                "code": r.code,
                "severity": str(r.severity),
                "lhs": str(r.lhs),
                "op": r.op,
                "rhs": str(r.rhs) if not isinstance(r.rhs, float) else r.rhs,
                "message_vi": r.message_vi,
            }
            for r in cat.rules
        ],
    }


def _render_form_version(result: Any, console: Console, vi: bool) -> None:
    """Whether a catalogue change changes the form (its template version), and what that asks of the wards."""
    if result.old_template_version is None:
        console.print(
            f"Danh mục {result.version}: biểu mẫu phiên bản {result.template_version}."
            if vi
            else f"Catalogue {result.version}: form version {result.template_version}."
        )
    elif result.layout_changed:
        text = (
            f"Biểu mẫu thay đổi: {result.old_template_version} -> {result.template_version}. Biểu mẫu theo phiên "
            "bản cũ sẽ bị báo template-version: gửi biểu mẫu mới cho mọi xã."
            if vi
            else f"The form changes: {result.old_template_version} -> {result.template_version}. Forms of the old "
            "version will be reported template-version: send every ward the new form."
        )
        console.print(Text(text, style="bold yellow"))
    else:
        console.print(
            f"Biểu mẫu không đổi ({result.template_version}); các biểu mẫu đã gửi vẫn dùng được."
            if vi
            else f"The form does not change ({result.template_version}); forms already sent stay valid."
        )


def render_catalogue_check(result: Any, console: Console, lang: str = "vi") -> None:
    """What a catalogue change does to the form, then whether it may be published."""
    vi = lang == "vi"
    _render_form_version(result, console, vi)
    if result.rows:
        table = Table(title="Các dòng của biểu mẫu" if vi else "Rows of the form", show_lines=False)
        for col in ("", "Mã số", "Dòng", "Trước", "Sau") if vi else ("", "Code", "Row", "Before", "After"):
            table.add_column(col, overflow="fold")
        marks = {"added": "+", "removed": "-", "moved": "~", "changed": "≠"}
        for r in result.rows:
            table.add_row(marks[r.kind], r.code, printable(r.label), r.old, r.new)
        console.print(table)
        console.print(
            f"Ô: thêm {result.cells_added}, bỏ {result.cells_removed}, chuyển chỗ {result.cells_moved}."
            if vi
            else f"Cells: {result.cells_added} added, {result.cells_removed} removed, {result.cells_moved} moved."
        )
    names = {"elements": "chỉ tiêu dữ liệu", "rules": "quy tắc", "indicators": "chỉ số", "charts": "biểu đồ"}
    for mark, changes in (("+", result.added), ("-", result.removed)):
        for what, ids in changes.items():
            console.print(f"{mark} {names.get(what, what) if vi else what}: {', '.join(ids)}")
    if result.changed_rules:
        console.print(f"≠ {'quy tắc' if vi else 'rules'}: {', '.join(result.changed_rules)}")
    if result.trial:
        head = (
            "Một biểu mẫu tổng hợp thử theo danh mục này không qua kiểm tra:"
            if vi
            else "A synthetic form of this catalogue does not validate clean:"
        )
        console.print(Text(head, style="bold red"))
        for pair in result.trial[:20]:
            console.print(f"  {printable(pair[0] if vi else pair[1])}")
    else:
        console.print(
            "Thử: một biểu mẫu tổng hợp đã được ghi, đọc lại và kiểm tra: không có lỗi."
            if vi
            else "Trial: a synthetic form was written, read back and validated clean."
        )
    for pair in result.faults:
        console.print(Text(f"✗ {pair[0] if vi else pair[1]}", style="bold red"))
    if not result.faults:
        console.print(
            Text("✓ Danh mục có thể phát hành." if vi else "✓ The catalogue can be published.", style="bold green")
        )


def value_text(v: Any, lang: str = "vi") -> str:
    """A cell's value as typed: a whole number without '.0' (-5, 1500000, never -5.0 or 1.5e+06), other numbers as
    Python writes them in full, text as it is (quoted only by its reader), a blank as a word."""
    if v is None:
        return "(trống)" if lang == "vi" else "(blank)"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float) and math.isfinite(v):
        return format(Decimal(repr(v)), "f")  # 0.00000001, not 1e-08
    return str(v)
