"""Write rolled-up district and province workbooks: deterministic, atomic, formatted to print and sign."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xlsxwriter

from ctstat import __version__
from ctstat.model.catalogue import Catalogue, Chart
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import ROLLUP_MARK, FormLayout, Row, SheetLayout, form_layout
from ctstat.model.period import is_reform_year
from ctstat.model.sheets import (
    BY_UNIT,
    COMPLETENESS,
    COVER,
    INDICATORS,
    PERIOD_LABEL,
    PROVENANCE,
    TEMPLATE_LABEL,
    UNIT_LABEL,
    VINTAGE_LABEL,
)
from ctstat.model.units import load_units
from ctstat.model.vocab import basis_label, completeness_line, status_label
from ctstat.plan.completeness import Completeness, ParentStatus, UnitStatus
from ctstat.plan.plan import RollupSheetData
from ctstat.plan.regroup import NEW, OLD, REGROUPED
from ctstat.read.rollup_book import DATA, DATA_HEADER, DIGEST_LABEL, data_digest
from ctstat.write import inert
from ctstat.write.atomic import atomic_write
from ctstat.write.blocks import BlockSheet, RowsTemplate, block_sheet, fast_chart, fast_sheets, write_numbers
from ctstat.write.form import (
    MIN_SCALE,
    PAGE_HEIGHT_PT,
    PAGE_WIDTH_PT,
    WIDTH_SLACK,
    SheetHeading,
    Styles,
    kept,
    number_width,
    print_setup,
    protect,
    record_rows,
    signature,
    write_form_sheet,
)
from ctstat.write.history_sheet import write_history_sheet
from ctstat.write.review_sheet import corrections_in_force, write_review_sheets

if TYPE_CHECKING:
    import pandas as pd


def write_rollup(path: Path, cat: Catalogue, d: RollupSheetData) -> tuple[Path, str]:
    """Write one workbook; returns its path and the digest of its data sheet."""
    header, rows = data_rows(cat, d)
    digest = data_digest(header, rows)
    with atomic_write(path) as tmp:
        wb = inert.workbook(tmp)
        fast_sheets(wb)
        inert.properties(wb, f"Tổng hợp {d.unit.name} - {d.period}", d.generated_at)
        st = Styles(wb)
        banner = _banner(d)
        _cover(wb, st, cat, d, banner, digest)
        _indicators(wb, st, cat, d, banner)
        layout = form_layout(cat)
        receiver = _receiver(d)
        totals = _by_code(d.totals)
        for sheet in layout.sheets:
            heading = SheetHeading(d.unit.name, receiver, d.period, report=True, banner=banner)
            write_form_sheet(wb, st, cat, layout, sheet, heading, totals)
        _by_unit(wb, st, cat, d, banner)
        _charts(wb, st, cat, d, banner)
        if d.history is not None:
            write_history_sheet(wb, st, cat, d, banner)
        _completeness(wb, st, d, banner)
        _provenance(wb, st, d, banner)
        if d.review:
            used = {f.sha256 for f in d.inputs if f.used}
            write_review_sheets(wb, st, d.review, used, {u.code: u.name for u in d.statuses})
        _data(wb, header, rows)
        wb.worksheets()[0].activate()
        wb.close()
    return path, digest


#: who receives a province's report: not named in the data (the ministry in charge of children changed in 2025)
NATIONAL_RECEIVER = "Cơ quan quản lý nhà nước về trẻ em ở trung ương"


def _receiver(d: RollupSheetData) -> str:
    """The unit a rollup is sent to, at every level: the province above a district, the centre above a province."""
    return f"{d.parent.code} - {d.parent.name}" if d.parent else NATIONAL_RECEIVER


def _banner(d: RollupSheetData) -> str | None:
    if not d.partial:
        return None
    missing = [s for s in d.statuses if s.status != "valid"]
    names = ", ".join(f"{s.code} {s.name}" for s in missing[:8]) + (" ..." if len(missing) > 8 else "")
    chase = [p for p in d.parents if p.status != "valid"]
    if chase:  # above the district level: name the districts (whom to call), not their communes
        names = ", ".join(f"{p.code} {p.name}: {status_label(p.status, lower=True)}" for p in chase[:8])
        names += " ..." if len(chase) > 8 else ""
    return f"BÁO CÁO CHƯA ĐẦY ĐỦ: {len(missing)}/{len(d.statuses)} xã, phường chưa có số liệu hợp lệ ({names})"


def _wide_title(ws: Any, st: Styles, text: str, width: float, d: RollupSheetData, banner: str | None) -> int:
    """A wide sheet's titles in its repeated columns A:B (`width` characters), left-aligned and wrapped: they
    repeat with the header row, so every printed page starts with the whole title, never with a fragment of a
    title centred across columns that another page holds."""
    lines = [(text, st.title_left, 14, 0.6), (f"{d.unit.name} - {d.period.label_vi()}", st.subtitle_left, 11, 1.0)]
    if banner:
        lines.append((banner, st.banner_left, 11, 0.85))
    for r, (line, fmt, pt, per_char) in enumerate(lines):
        ws.merge_range(r, 0, r, REPEATED - 1, line, fmt)
        ws.set_row(r, row_height(line, width * per_char, pt) or pt * 1.35)
    return len(lines) + 1


def _title(ws: Any, st: Styles, text: str, last: int, d: RollupSheetData, banner: str | None, row: int = 0) -> int:
    ws.merge_range(row, 0, row, last, text, st.title)
    ws.merge_range(row + 1, 0, row + 1, last, f"{d.unit.name} - {d.period.label_vi()}", st.subtitle)
    if banner:
        ws.merge_range(row + 2, 0, row + 2, last, banner, st.banner)
        ws.set_row(row + 2, 30)
    return row + 4


def _cover(
    wb: xlsxwriter.Workbook, st: Styles, cat: Catalogue, d: RollupSheetData, banner: str | None, digest: str
) -> None:
    ws = wb.add_worksheet(COVER)
    ws.set_column(0, 0, 4)
    ws.set_column(1, 1, 40)
    ws.set_column(2, 2, 60)
    ws.write(0, 0, f"{ROLLUP_MARK} {cat.form_number} ({d.level_vi})", st.bold)
    ws.merge_range(1, 0, 1, 2, f"BÁO CÁO TỔNG HỢP {d.level_vi.upper()}", st.title)
    ws.merge_range(2, 0, 2, 2, f"{cat.rollup_title_vi} {d.level_vi}", st.subtitle)
    ws.merge_range(3, 0, 3, 2, f"(Theo {cat.legal_basis_vi})", st.subtitle)
    counts = Completeness.count(d.statuses)
    status = (
        "Đầy đủ"
        if not d.partial
        else f"CHƯA ĐẦY ĐỦ - thiếu hoặc không hợp lệ {counts['expected'] - counts['valid']} xã"
    )
    fields = [
        (UNIT_LABEL, f"{d.unit.code} - {d.unit.name}"),
        ("Đơn vị nhận báo cáo", _receiver(d)),
        (PERIOD_LABEL, f"{d.period} ({d.period.label_vi()})"),
        (VINTAGE_LABEL, d.vintage),
        (TEMPLATE_LABEL, cat.template_version),
        ("Phiên bản danh mục chỉ tiêu", cat.version),
        ("Phiên bản ctstat", __version__),
        ("Số liệu tính đến (tệp nhận sau cùng)", d.generated_at.strftime("%d/%m/%Y %H:%M")),
        ("Số xã, phường phải báo cáo", counts["expected"]),
        ("Số xã, phường có số liệu hợp lệ", counts["valid"]),
        ("Tình trạng", status),
        (DIGEST_LABEL, digest),
    ]
    for i, (label, value) in enumerate(fields):
        ws.write(5 + i, 0, i + 1, st.code)
        ws.write(5 + i, 1, label, st.cover_label)
        ws.write(5 + i, 2, value, st.cover_digest if label == DIGEST_LABEL else st.cover_value)
    r = 5 + len(fields) + 1
    if banner:
        ws.merge_range(r, 0, r, 2, banner, st.banner)
        ws.set_row(r, 45)
        r += 1
    notes = [
        "Số đếm là tổng của các xã, phường; tỷ lệ được tính lại từ tổng tử số và tổng mẫu số (không cộng hay lấy "
        "trung bình tỷ lệ của các xã).",
        "Cột 'Nguồn' ở trang Chỉ tiêu cho biết chỉ tiêu lấy từ Thông tư hay do ctstat mô hình hóa (không chính thức).",
        "Trang Đầy đủ liệt kê xã, phường thiếu, không hợp lệ, trùng hoặc nộp muộn; trang Nguồn dữ liệu liệt kê mọi "
        "tệp đầu vào kèm mã SHA-256.",
    ]
    if is_reform_year(str(d.period), d.vintage):
        notes.append(REFORM_YEAR_NOTE)
    if d.vintage == REGROUPED:
        notes.append(regrouped_note(d))
    notes += _review_notes(d)
    for note in notes:
        ws.merge_range(r, 1, r, 2, note, st.wrap)
        ws.set_row(r, row_height(note, 100) or 30)
        r += 1
    signature(ws, st, r + 2, 2, left_col=1)
    protect(ws)
    print_setup(ws, 3)
    ws.fit_to_pages(1, 1)  # one page, signatures and all (a partial year's banner and notes pushed them over)


def regrouped_note(d: RollupSheetData) -> str:
    """2025-H1 on a new province: which old provinces it is made of, and that its figures are theirs (a new
    province's code and name are often an old one's: `15` Lào Cai is old Lào Cai `10` and old Yên Bái `15`)."""
    old = load_units(OLD)
    districts = [old.get(c.code, "district") for c in d.children]
    provinces = sorted({u.parent_code for u in districts if u is not None and u.parent_code})
    names = ", ".join(f"{p} {u.name}" for p in provinces if (u := old.get(p, "province")) is not None)
    return (
        f"6 tháng đầu năm 2025 theo tỉnh mới (danh mục {NEW}): {d.unit.name} (mã {d.unit.code} mới) gồm toàn bộ "
        f"{len(provinces)} tỉnh cũ: {names}. Số liệu là tổng báo cáo 6 tháng đầu năm 2025 của các xã, phường cũ "
        f"của các tỉnh đó (danh mục {OLD}; các cột ở trang Chỉ tiêu và Theo đơn vị là các huyện cũ), cộng đúng, "
        "không chia tách; không phải báo cáo của một tỉnh cũ cùng tên hay cùng mã."
    )


def _review_notes(d: RollupSheetData) -> list[str]:
    """What the cover says of the review chain the workbook carries: how many of its wards' cells the level above
    corrected (their numbers are in the report, the wards' files unchanged), and where the signed records are."""
    if not d.review:
        return []
    used = {f.sha256 for f in d.inputs if f.used}
    fixed = corrections_in_force([r for r in d.review if r.kind == "correct"], used)[0]
    notes = []
    if fixed:
        wards = len({rec.unit for rec, _ in fixed})
        notes.append(
            f"Số liệu gồm {len(fixed)} ô của {wards} xã, phường do cấp trên sửa khi kiểm tra (tệp của xã không bị "
            "sửa): trang Sửa số liệu ghi từng ô, giá trị trong tệp, giá trị được dùng, người sửa và lý do."
        )
    notes.append("Trang Phê duyệt ghi từng bản ghi có chữ ký số của chuỗi phê duyệt (duyệt, sửa, trả lại, mở lại).")
    return notes


#: the year 2025 by the new communes (plan/reform_year.py): how it was put together, and what of it is modelled
REFORM_YEAR_NOTE = (
    "Năm 2025 theo đơn vị mới (MÔ HÌNH HÓA, không chính thức): số phát sinh trong kỳ (vụ việc, vi phạm, tiền phạt...) "
    "= 6 tháng đầu năm của các xã, phường cũ sáp nhập nguyên vẹn vào xã + 6 tháng cuối năm của xã; số tồn cuối kỳ "
    "(dân số, trẻ em có hoàn cảnh đặc biệt...) = 6 tháng cuối năm. Cách đọc tồn/phát sinh là của danh mục chỉ "
    "tiêu; xã có xã cũ bị chia không được tính (không chia số liệu theo ước đoán)."
)


def _fmt_rate(st: Styles, total: bool) -> Any:
    return st.rate_total if total else st.rate


def _indicators(wb: xlsxwriter.Workbook, st: Styles, cat: Catalogue, d: RollupSheetData, banner: str | None) -> None:
    ws = wb.add_worksheet(INDICATORS)
    fixed = ["STT", "Chỉ tiêu", "Mã số TT13", "Đơn vị tính", "Nguồn", "Tổng số", "Tử số", "Mẫu số"]
    last = len(fixed) + len(d.children) - 1
    widths, per_child = _indicator_widths(cat, d)
    pages = wide_pages(widths, per_child, len(d.children))
    page = pages.breaks[0] - 1 if pages.breaks else last  # titles and signatures stay on the first printed page
    top = _wide_title(ws, st, "CÁC CHỈ TIÊU THỐNG KÊ", sum(widths[:REPEATED]), d, banner)
    for i, h in enumerate(fixed):
        ws.write(top, i, h, st.head)
    for j, child in enumerate(d.children):
        ws.write(top, len(fixed) + j, child.name, st.head)
    ws.set_row(top, 45)
    for i, w in enumerate(widths):
        ws.set_column(i, i, w)
    ws.set_column(len(fixed), last, per_child)
    template = _indicator_template(cat, top + 1)
    if not isinstance(ws, BlockSheet) or not ws.splice(template, [getattr(st, n) for n in template.slots], []):
        _indicator_rows(ws, st, cat, top + 1)
    for i, ind in enumerate(cat.indicators):
        r = top + 1 + i
        is_rate = ind.kind == "rate"
        vals = d.indicators[:, 3 * i : 3 * i + 3]  # row 0: the unit; then its children (no data: NaN, blank)
        # the total, numerator and denominator, then each child's: one run of numbers (no data: a blank)
        numbers = [vals[0, 0], vals[0, 1] if is_rate else None, vals[0, 2] if is_rate else None]
        fmts = [_fmt_rate(st, True) if is_rate else st.value_total, st.value, st.value]
        numbers += vals[1:, 0].tolist()
        fmts += [_fmt_rate(st, False) if is_rate else st.value] * len(d.children)
        write_numbers(ws, r, list(range(5, 5 + len(numbers))), numbers, fmts)
    end = top + len(cat.indicators) + 1
    ws.merge_range(
        end + 1,
        2,
        end + 1,
        min(page, len(fixed) + 2),
        rate_note(cat),
        st.italic,
    )
    ws.freeze_panes(top + 1, 2)
    # columns A:B repeat on every printed page: the note and the signatures start right of them, so they print
    # once, on the first page
    signature(ws, st, end + 3, min(page, len(fixed) + 2), "Người lập biểu", left_col=2)
    protect(ws)
    _print_wide(ws, last, top, pages)


def _indicator_widths(cat: Catalogue, d: RollupSheetData) -> tuple[list[int], int]:
    """The indicators sheet's fixed columns' widths and its children's: each number column as wide as its widest
    number needs (a rate with two decimals)."""
    widths, per_child = [5, 55, 10, 10, 14, 12, 12, 12], 11
    for i, ind in enumerate(cat.indicators):
        vals = d.indicators[:, 3 * i : 3 * i + 3]
        decimals = 2 if ind.kind == "rate" else 0
        widths[5] = number_width(widths[5], [vals[0, 0]], decimals)
        widths[6] = number_width(widths[6], vals[0, 1:])  # the numerator and denominator
        widths[7] = number_width(widths[7], vals[0, 1:])
        per_child = number_width(per_child, vals[1:, 0], decimals)
    return widths, per_child


def _indicator_rows(ws: Any, st: Styles, cat: Catalogue, first: int) -> None:
    """The indicators' rows from row `first`, but their numbers: number, name, code, unit and source."""
    for i, ind in enumerate(cat.indicators):
        r = first + i
        ws.write(r, 0, i + 1, st.cell_center)
        ws.write(r, 1, ind.name_vi, st.cell)
        ws.write(r, 2, f"{ind.annex}/{ind.code}" if ind.code else "", st.cell_center)
        ws.write(r, 3, ind.unit_vi, st.cell_center)
        ws.write(r, 4, basis_label(ind.provenance), st.cell_center)
        ws.set_row(r, row_height(ind.name_vi, 55))


#: the indicators' rows by first row (`_indicator_rows`): rendered once per process, spliced per workbook
_INDICATORS: dict[int, tuple[Catalogue, RowsTemplate]] = {}


def _indicator_template(cat: Catalogue, first: int) -> RowsTemplate:
    known = kept(_INDICATORS, first, cat)
    if known is not None:
        kept_template: RowsTemplate = known[1]
        return kept_template
    template, _ = record_rows(INDICATORS, first, 0, lambda ws, st: _indicator_rows(ws, st, cat, first))
    _INDICATORS[first] = (cat, template)
    return template


def rate_note(cat: Catalogue) -> str:
    """How the rates on the sheet are computed, from the catalogue's own factors."""
    factors = sorted({ind.factor for ind in cat.indicators if ind.kind == "rate"})
    if not factors:
        return "Ô trống: không có số liệu."
    times = f" × {factors[0]:g}" if factors == [factors[0]] and factors[0] != 1 else ""
    if len(factors) > 1:
        times = " × hệ số của chỉ tiêu (" + ", ".join(f"{f:g}" for f in factors) + ")"
    return f"Tỷ lệ = Tử số / Mẫu số{times}, tính từ số đã cộng của các xã. Ô trống: mẫu số bằng 0."


CHILDREN_PER_PAGE = 10  #: child-unit columns per printed page: about ten stay legible on A4 landscape
REPEATED = 2  #: columns A:B (what a row is) repeat on every printed page of a wide sheet


@dataclass(frozen=True)
class WidePages:
    """How a wide sheet (fixed columns, then one column per child unit) is cut into printed pages."""

    scale: int  #: print scale, percent
    breaks: tuple[int, ...]  #: 0-based columns that start a new printed page


def wide_pages(fixed: Sequence[float], child: float, children: int) -> WidePages:
    """The largest print scale at which the columns fit on as many pages across as ten children a page need
    (never below MIN_SCALE), and the columns each page starts with: every page holds whole columns, the first
    one the fixed columns, the next ones the repeated A:B and as many child columns as fit. Explicit breaks at a
    fixed scale, not fit-to-width: Excel ignores manual breaks on a sheet set to fit, and LibreOffice's own
    breaks fall mid-title (a clipped fragment of a title printed alone at the top of a page)."""

    def pt(w: float) -> float:
        return (w * 7 + 5) * 0.75  # a column `w` characters wide, in points (as form.page_scale counts)

    def cut(scale: int) -> tuple[int, ...]:
        room = PAGE_WIDTH_PT * 100 / scale * WIDTH_SLACK
        breaks: list[int] = []
        used = sum(map(pt, fixed))
        for j in range(children):
            if used + pt(child) > room and (breaks or j > 0):
                breaks.append(len(fixed) + j)
                used = sum(map(pt, fixed[:REPEATED]))
            used += pt(child)
        return tuple(breaks)

    wanted = max(1, -(-children // CHILDREN_PER_PAGE))
    scale = next((s for s in range(100, MIN_SCALE - 1, -1) if len(cut(s)) < wanted), MIN_SCALE)
    return WidePages(scale, cut(scale))


def _print_wide(ws: Any, last: int, header: int, pages: WidePages) -> None:
    """A wide sheet's print settings: the titles, the header row and columns A:B repeat on every page, pages cut
    between whole columns."""
    print_setup(ws, last + 1, (1, header + 1), scale=pages.scale)
    ws.repeat_columns(0, REPEATED - 1)
    if pages.breaks:
        ws.set_v_pagebreaks(list(pages.breaks))


def row_height(text: str, width: float, font_pt: float = 11) -> float | None:
    """The height a wrapped label needs in a column `width` characters wide (None: one line, the default)."""
    per_line = max(1, int(width * 1.15))  # Times New Roman is narrower than the width unit's digits
    lines = sum(max(1, -(-len(part) // per_line)) for part in text.split("\n"))
    return None if lines <= 1 else float(round(lines * font_pt * 1.35))


def aligned(frame: pd.DataFrame, index: Sequence[str] | None = None, columns: Sequence[str] | None = None) -> Any:
    """`frame.reindex(index=index, columns=columns).to_numpy(dtype=float)` with plain arrays (NaN where the frame
    has no such row or column): a workbook takes its few rows this way several times, and pandas' reindex of a
    text index cost more than writing the cells."""
    matrix = frame.to_numpy(dtype=float)
    if index is not None:
        matrix = _pick(matrix, frame.index.tolist(), index)
    if columns is not None:
        matrix = _pick(matrix.T, frame.columns.tolist(), columns).T
    return matrix


def _pick(matrix: Any, have: list[Any], want: Sequence[str]) -> Any:
    """The rows of `matrix` (labelled `have`) labelled `want`, in that order; a label it has not: NaN."""
    if have == list(want):
        return matrix
    at = {label: i for i, label in enumerate(have)}
    out = np.full((len(want), matrix.shape[1]), np.nan)
    found = [(n, at[w]) for n, w in enumerate(want) if w in at]
    if found:
        to, src = zip(*found, strict=True)
        out[list(to)] = matrix[list(src)]
    return out


def _by_code(series: pd.Series) -> dict[str, Any]:
    """A series of numbers as a dict by its labels, NaN as None."""
    return {
        str(k): None if v != v else v
        for k, v in zip(series.index.tolist(), series.to_numpy(float).tolist(), strict=True)
    }


def _by_unit(wb: xlsxwriter.Workbook, st: Styles, cat: Catalogue, d: RollupSheetData, banner: str | None) -> None:
    ws = block_sheet(wb, BY_UNIT)
    layout = form_layout(cat)
    last = 3 + len(d.children)
    codes = [c.code for c in d.children]
    by_child = aligned(d.child_values, index=codes)
    totals = _by_code(d.totals)
    widths = [50, 9, 9, number_width(10, totals.values())]  # each column as wide as its widest number needs
    per_child = number_width(10, by_child)
    pages = wide_pages(widths, per_child, len(d.children))
    page = pages.breaks[0] - 1 if pages.breaks else last
    top = _wide_title(ws, st, "SỐ LIỆU THEO ĐƠN VỊ (CỘT TỔNG SỐ CỦA MỖI DÒNG)", sum(widths[:REPEATED]), d, banner)
    for i, h in enumerate(["Chỉ tiêu", "Mã số", "Đơn vị tính", "Tổng số"]):
        ws.write(top, i, h, st.head)
    for j, child in enumerate(d.children):
        ws.write(top, 4 + j, f"{child.code} {child.name}", st.head)
    ws.set_row(top, 60)
    for i, w in enumerate(widths):
        ws.set_column(i, i, w)
    ws.set_column(len(widths), last, per_child)
    r = top + 1
    # plain arrays: per-cell pandas lookups cost more than writing the workbook
    column = {k: i for i, k in enumerate(d.child_values.columns.tolist())}
    for sheet in layout.sheets:
        ws.merge_range(r, 0, r, page, f"{sheet.name}. {sheet.title_vi}", st.label_group)
        r += 1
        keys = _by_unit_rows(ws, st, cat, sheet, r, totals)
        for i, key in enumerate(keys):  # each child's number, after the row's total
            children = by_child[:, column[key]].tolist() if key in column else [None] * len(codes)
            write_numbers(ws, r + i, list(range(4, 4 + len(codes))), children, [st.value] * len(codes))
        r += len(keys)
    ws.freeze_panes(top + 1, 2)
    protect(ws)
    _print_wide(ws, last, top, pages)


def _by_unit_rows(
    ws: Any, st: Styles, cat: Catalogue, sheet: SheetLayout, r: int, totals: Mapping[str, Any]
) -> list[str]:
    """A form group's rows of the sheet by unit, from row `r`: each row's label, code, unit and total, spliced
    from the rows rendered once (`_by_unit_template`; cell by cell where a total is infinite). Returns the rows'
    total keys, in order."""
    template, keys, rows = _by_unit_template(cat, form_layout(cat), sheet, r)
    formats = [getattr(st, name) for name in template.slots]
    if not isinstance(ws, BlockSheet) or not ws.splice(template, formats, [totals.get(k) for k in keys]):
        for i, row in enumerate(rows):
            _by_unit_row(ws, st, cat, r + i, row, totals.get(_total_key(cat, row)))
    return [_total_key(cat, row) for row in rows]


def _total_key(cat: Catalogue, row: Row) -> str:
    return cell_key(cat.elements[row.element].code, row.key, TOTAL)


def _by_unit_row(ws: Any, st: Styles, cat: Catalogue, r: int, row: Row, total: Any) -> None:
    """One row of the sheet by unit but its children's numbers: the label, code, unit and total."""
    el = cat.elements[row.element]
    label = row.label_vi if row.key == TOTAL else f"    - {row.label_vi}"
    ws.write(r, 0, label, st.label_total if row.key == TOTAL else st.label)
    ws.set_row(r, row_height(label, 50))
    ws.write(r, 1, row.code, st.code)
    ws.write(r, 2, "Xã (số có)" if el.type == "yesno" else el.unit_vi, st.unit)
    write_numbers(ws, r, [3], [total], [st.value_total])


#: a form group's rows of the sheet by unit, by group and first row: rendered once per process, spliced per workbook
_BY_UNIT: dict[tuple[str, int], tuple[Catalogue, FormLayout, RowsTemplate, tuple[str, ...], list[Row]]] = {}


def _by_unit_template(
    cat: Catalogue, layout: FormLayout, sheet: SheetLayout, r: int
) -> tuple[RowsTemplate, tuple[str, ...], list[Row]]:
    """The rows `_by_unit_row` writes for `sheet`'s group from row `r`, as a template; the totals' keys its holes
    take, in order; the rows."""
    known = kept(_BY_UNIT, (sheet.name, r), cat)
    if known is not None:
        return known[2], known[3], known[4]
    rows = [row for row in sheet.rows if row.code]

    def write(ws: Any, st: Styles) -> None:
        for i, row in enumerate(rows):
            _by_unit_row(ws, st, cat, r + i, row, float(i + 1))

    template, _ = record_rows(BY_UNIT, r, len(rows), write)
    keys = tuple(_total_key(cat, rows[h - 1]) for h in template.holes)
    _BY_UNIT[(sheet.name, r)] = (cat, layout, template, keys, rows)
    return template, keys, rows


def _charts(wb: xlsxwriter.Workbook, st: Styles, cat: Catalogue, d: RollupSheetData, banner: str | None) -> None:
    for chart in cat.charts:
        _chart(wb, st, cat, chart, d, banner)


def _chart(
    wb: xlsxwriter.Workbook, st: Styles, cat: Catalogue, spec: Chart, d: RollupSheetData, banner: str | None
) -> None:
    """One catalogue chart: an element's totals by one breakdown, a stacked bar per child unit, its data below; a
    partial report's banner above the chart, and its mark in the chart's title (a chart copied elsewhere keeps it)."""
    ws = wb.add_worksheet(spec.sheet)
    el = cat.elements[spec.element]
    cats = cat.dimensions[spec.dimension].categories
    keys = spec.keys(el)
    n = len(d.children)
    height = max(420, 16 * n + 160)  # pixels: a bar and its unit's name per child, the title, axis and legend
    top = 2 if banner else 0  # the banner's row and a gap
    first = top + height // 20 + 2  # the data table starts below the chart (rows from `top` on are 20 pixels)
    # the chart spans exactly the table's columns: the page holds both, cut nowhere
    per_cat = max(12, int((CHART_WIDTH - 201) / max(1, len(cats)) - 5) // 7)
    ws.set_column(0, 0, 28)
    ws.set_column(1, len(cats), per_cat)
    width = 28 * 7 + 5 + len(cats) * (per_cat * 7 + 5)  # pixels
    above = 0  # pixels above the chart: the banner's row and the gap
    if banner:
        banner_pt = row_height(banner, 28 + per_cat * len(cats)) or 30
        ws.merge_range(0, 0, 0, len(cats), banner, st.banner)
        ws.set_row(0, banner_pt)
        above = int(banner_pt / 0.75) + 20
    ws.write_row(first, 0, ["Đơn vị", *[c.vi for c in cats]], st.head)
    ws.set_row(first, 30)
    table = aligned(d.child_values, [c.code for c in d.children], keys)
    table = np.where(np.isnan(table), 0.0, table)  # blank as 0; an infinite sum stays one (#DIV/0! in the cell)
    for j, child in enumerate(d.children):
        ws.write(first + 1 + j, 0, child.name, st.cell)
        for i, v in enumerate(table[j]):
            ws.write_number(first + 1 + j, 1 + i, float(v), st.value)
    chart = fast_chart(wb.add_chart({"type": "bar", "subtype": "stacked"}))
    colours = ["#C00000", "#ED7D31", "#7030A0", "#2F5597", "#548235", "#BF9000", "#7F7F7F"]
    for i, _ in enumerate(cats):
        chart.add_series(
            {
                "name": [spec.sheet, first, 1 + i],
                "categories": [spec.sheet, first + 1, 0, first + n, 0],
                "values": [spec.sheet, first + 1, 1 + i, first + n, 1 + i],
                "fill": {"color": colours[i % len(colours)]},
                "gap": 60,
            }
        )
    font = {"name": "Times New Roman"}
    title = f"{spec.title_vi} - {d.unit.name} - {d.period.label_vi()}" + (" (CHƯA ĐẦY ĐỦ)" if banner else "")
    chart.set_title({"name": title, "name_font": {**font, "size": 12}})
    axis = {"name": spec.axis_vi, "num_font": font, "name_font": {**font, "size": 10}, "min": 0, "num_format": "#,##0"}
    widest = float(np.nanmax(table.sum(axis=1), initial=0.0))
    if widest < 10:  # counts of children: whole steps (left to itself, the axis read 0, 0.5, 1, 1.5 ... children)
        axis["major_unit"] = 1
    chart.set_x_axis(axis)
    chart.set_y_axis({"reverse": True, "num_font": {**font, "size": 9}})
    chart.set_legend({"position": "bottom", "font": {**font, "size": 9}})
    chart.set_size({"width": width, "height": height})
    ws.insert_chart(top, 0, chart)
    # the chart whole on the first page (a chart cut by a page break prints its cut labels on both pages), at the
    # scale that fits it there with the banner above it; its data from the next page
    print_setup(ws, len(cats) + 1, scale=chart_scale(width, height + above))
    ws.set_h_pagebreaks([first])


CHART_WIDTH = 1000  #: pixels, about: the table's columns under the chart, that it spans


def chart_scale(width: int, height: int) -> int:
    """The print scale, percent, at which a chart of `width` by `height` pixels fits one page, with a margin."""
    px = 0.75  # points a pixel
    fit = min(PAGE_WIDTH_PT * WIDTH_SLACK / (width * px), PAGE_HEIGHT_PT / (height * px)) * 100 * 0.95
    return max(MIN_SCALE, min(100, int(fit)))


def _completeness(wb: xlsxwriter.Workbook, st: Styles, d: RollupSheetData, banner: str | None) -> None:
    ws = wb.add_worksheet(COMPLETENESS)
    head = ["STT", "Mã", "Xã, phường", "Tình trạng", "Nộp muộn", "Tệp", "Vấn đề cần xử lý"]
    last = len(head) - 1
    top = _title(ws, st, "TÌNH HÌNH NỘP BÁO CÁO", last, d, banner)
    widths = (5, 8, 28, 14, 10, 40, 70, 36) if d.approvals and d.parents else (5, 8, 28, 14, 10, 40, 70)
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    r = _parents_table(ws, st, d, top) if d.parents else top
    header = r  # the communes' header row (when there is one table)
    whole = {p.label: p for p in d.parents if p.whole}
    by_parent: dict[str, list[UnitStatus]] = {}
    for s in d.statuses:
        by_parent.setdefault(s.parent_label, []).append(s)
    for parent, rows in by_parent.items():
        c = Completeness.count(rows)
        ws.merge_range(
            r,
            0,
            r,
            last,
            f"{parent}: {completeness_line(c)}",
            st.label_total,
        )
        r += 1
        if parent in whole:  # one cause for all its communes, said on its district's line: listed together
            names = "; ".join(f"{s.code} {s.name}" for s in rows)
            text = (
                f"Cả {len(rows)} xã, phường ({status_label(whole[parent].status, lower=True)}, xem bảng trên): {names}"
            )
            ws.write(r, 0, "", st.cell)
            ws.merge_range(r, 1, r, last, text, st.cell)
            height = row_height(text, 170)
            if height is not None:
                ws.set_row(r, height)
            r += 2
            continue
        for i, h in enumerate(head):
            ws.write(r, i, h, st.head)
        header = r
        r += 1
        for n, s in enumerate(rows, 1):
            _status_row(ws, st, r, [n, s.code, s.name, status_label(s.status), "Muộn" if s.late else ""], s)
            r += 1
        r += 1
    protect(ws)
    print_setup(ws, len(widths))
    if not d.parents and len(by_parent) == 1 and not whole:  # one table: its titles and header on every page
        ws.repeat_rows(0, header)


def _status_row(ws: Any, st: Styles, r: int, first: list[Any], unit: UnitStatus | ParentStatus) -> None:
    """One row of the completeness sheet: number, code, name, status, a fifth column, the files, the problem."""
    ws.write(r, 0, first[0], st.cell_center)
    ws.write_string(r, 1, first[1], st.cell_center)
    ws.write(r, 2, first[2], st.cell)
    ws.write(r, 3, first[3], st.cell_center)
    ws.write(r, 4, first[4], st.cell_center)
    files = inert.text("; ".join(Path(f).name for f in unit.files))  # a file's name may not be UTF-8
    ws.write(r, 5, files, st.cell)
    ws.write(r, 6, inert.text(unit.problem), st.cell)
    # as tall as its wrapped texts (file names break at their dashes, before the column is full)
    tall = [h for h in (row_height(files, 40 * 0.8), row_height(unit.problem, 70)) if h is not None]
    if tall:
        ws.set_row(r, max(tall))


def _parents_table(ws: Any, st: Styles, d: RollupSheetData, r: int) -> int:
    """Above the district level, the sheet starts with its child units (districts) as sources: each one's
    workbook, status, communes with valid figures and what to do; its communes follow as detail. Returns the
    next free row."""
    district = d.parents[0].level == "district"
    last = 7 if d.approvals else 6
    ws.merge_range(r, 0, r, last, "CÁC QUẬN, HUYỆN" if district else "CÁC TỈNH, THÀNH PHỐ", st.label_total)
    r += 1
    level = "Quận, huyện" if district else "Tỉnh, thành phố"
    head = ["STT", "Mã", level, "Tình trạng", "Xã hợp lệ", "Tệp tổng hợp", "Vấn đề cần xử lý", "Phê duyệt"]
    for i, h in enumerate(head[: last + 1]):
        ws.write(r, i, h, st.head)
    r += 1
    for n, p in enumerate(d.parents, 1):
        c = Completeness.count(p.communes)
        _status_row(ws, st, r, [n, p.code, p.name, status_label(p.status), f"{c['valid']}/{c['expected']}"], p)
        if d.approvals:
            ws.write(r, 7, inert.text(approval_text(d.approvals, p.files)), st.cell)
        r += 1
    ws.merge_range(r, 0, r, last, "Chi tiết theo xã, phường:", st.italic)
    return r + 2


APPROVAL_VI = {
    "approved": "Đã duyệt",
    "unapproved": "Chưa duyệt",
    "bad-signature": "Chữ ký không hợp lệ",
    "changed": "Đã thay đổi sau khi duyệt",
}


def approval_text(approvals: Mapping[str, Mapping[str, Any]], files: Sequence[str]) -> str:
    """A child unit's approval, as the completeness sheet says it: its workbook's state, who approved and when."""
    names = {Path(f).name for f in files}
    states = [a for path, a in approvals.items() if path in files or Path(path).name in names]
    out = []
    for a in states:
        text = APPROVAL_VI.get(str(a.get("state")), str(a.get("state")))
        if a.get("who"):
            text += f": {a['who']}, {str(a.get('at', ''))[:16].replace('T', ' ')}"
        out.append(text)
    return "; ".join(out) or "Không có tệp tổng hợp"


def _provenance(wb: xlsxwriter.Workbook, st: Styles, d: RollupSheetData, banner: str | None) -> None:
    ws = wb.add_worksheet(PROVENANCE)
    head = ["STT", "Tệp", "Loại", "Đơn vị", "Kỳ", "Phiên bản biểu mẫu", "Lỗi", "Cảnh báo", "Được tổng hợp", "SHA-256"]
    used = {f.sha256 for f in d.inputs if f.used}
    fixed = Counter(  # the cells of each file used that the level above corrected (sheet "Sửa số liệu")
        rec.covers.inputs.get(rec.unit, "")
        for rec, _ in corrections_in_force([r for r in d.review if r.kind == "correct"], used)[0]
    )
    widths = (5, 40, 9, 8, 9, 18, 6, 9, 12 if fixed else 10, 66)  # "Có, sửa 2 ô" on one line
    ws.merge_range(0, 0, 0, len(head) - 1, "NGUỒN DỮ LIỆU: CÁC TỆP ĐẦU VÀO", st.title)
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    top = 1  # the row below the title
    if banner:
        ws.merge_range(top, 0, top, len(head) - 1, banner, st.banner)
        ws.set_row(top, row_height(banner, sum(widths)) or 30)
        top += 1
    ws.set_row(top + 1, 30)  # "Phiên bản biểu mẫu", "Được tổng hợp" wrap on two lines
    for i, h in enumerate(head):
        ws.write(top + 1, i, h, st.head)
    # the folder all inputs share, said once, and each file's path inside it (a row's path stays short)
    folder = _shared_folder([f.path for f in d.inputs])
    if folder:
        ws.merge_range(top, 0, top, len(head) - 1, f"Thư mục chứa các tệp: {inert.text(folder)}", st.cell)
    for n, f in enumerate(d.inputs, 1):
        r = top + 1 + n
        row = [
            n,
            inert.text(os.path.relpath(f.path, folder) if folder else f.path),
            "xã" if f.kind == "ward" else "tổng hợp",
            f.unit,
            f.period,
            f.template_version,
            f.errors,
            f.warnings,
            ("Có" if not fixed[f.sha256] else f"Có, sửa {fixed[f.sha256]} ô") if f.used else "Không",
            f.sha256,
        ]
        for c, v in enumerate(row):
            ws.write(r, c, v, st.cell_center if c in (0, 2, 3, 4, 6, 7, 8) else st.cell)
        tall = row_height(str(row[1]), 40 * 0.8)  # a long path wraps, breaking at its slashes and dashes
        if tall is not None:
            ws.set_row(r, tall)
    protect(ws)
    print_setup(ws, len(head), repeat=(1, top + 2))  # the title, the folder and the header on every page


def _shared_folder(paths: list[str]) -> str:
    """The folder every one of `paths` is in ('' when they share none, or are of mixed kinds)."""
    try:
        common = os.path.commonpath(paths) if paths else ""
    except ValueError:  # absolute and relative paths mixed
        return ""
    return os.path.dirname(common) if common in paths else common


def data_rows(cat: Catalogue, d: RollupSheetData) -> tuple[list[str], list[list[Any]]]:
    """The machine-readable data sheet: one row per child unit with its status and cells. A district (or two-tier
    province) lists its communes, read back by a city rollup; a three-tier province lists its districts (their
    wards are in the district workbooks), which keeps the province workbook small."""
    keys = form_layout(cat).keys
    if d.children and d.children[0].level == "district":
        heads = []
        for child in d.children:
            mine = [s for s in d.statuses if s.parent == child.code]
            status = "valid" if mine and all(s.status == "valid" for s in mine) else "partial"
            heads.append([child.code, inert.text(child.name), d.unit.code, "district", status, ""])
        values = d.child_values
    else:
        # a commune's own file (the year 2025 by the new communes puts one together from several: none)
        sha_of = {f.unit: f.sha256 for f in d.inputs if f.used and f.kind == "ward" and f.period == str(d.period)}
        heads = [
            [s.code, inert.text(s.name), s.parent, "commune", s.status, sha_of.get(s.code, "")] for s in d.statuses
        ]
        values = d.ward_values
    matrix = aligned(values, columns=keys)
    row_of = {code: i for i, code in enumerate(values.index.tolist())}
    rows: list[list[Any]] = []
    for head in heads:
        if head[4] != "missing" and head[0] in row_of:
            rows.append(head + [None if v != v else v for v in matrix[row_of[head[0]]].tolist()])
        else:
            rows.append(head)
    return [*DATA_HEADER, *keys], rows


def _data(wb: xlsxwriter.Workbook, header: list[str], rows: list[list[Any]]) -> None:
    ws = block_sheet(wb, DATA)
    if not ws.write_plain(0, 0, header):
        ws.write_row(0, 0, header)
    n = len(DATA_HEADER)
    for r, row in enumerate(rows, 1):
        if not ws.write_plain(r, 0, row):  # in one string; else (a number not finite) cell by cell
            ws.write_row(r, 0, row[:n])
            ws.write_numbers(r, n, row[n:])
    ws.freeze_panes(1, 2)
    protect(ws)  # against slips; the digest on the cover finds any change
    ws.hide()  # for machines (a city rollup reads it); hidden sheets are not printed
