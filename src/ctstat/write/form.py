"""Write the ward form (biểu mẫu) from the catalogue: blank for `ctstat template`, or filled (samples, tests)."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from ctstat import __version__
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, a1, cell_key
from ctstat.model.layout import (
    COVER,
    COVER_BY_KEY,
    COVER_FIELDS,
    FIRST_VALUE_COL,
    GUIDE,
    HEADER_ROWS,
    NUMBER_ROW,
    CoverField,
    FormLayout,
    SheetLayout,
    form_layout,
)
from ctstat.model.period import Period
from ctstat.model.units import Hierarchy, Unit
from ctstat.model.vocab import NO, YES, basis_label
from ctstat.write import inert
from ctstat.write.atomic import atomic_write
from ctstat.write.blocks import (
    BlockSheet,
    HoledRows,
    HoledSheet,
    RowsTemplate,
    fast_sheets,
    fixed_format,
    write_numbers,
)

FONT = "Times New Roman"


@dataclass(frozen=True)
class FormHeader:
    """Who reports, to whom, for when: printed on the cover and on every sheet."""

    unit: Unit
    parent: Unit | None
    province: Unit | None
    period: Period
    vintage: str

    @classmethod
    def for_unit(cls, hierarchy: Hierarchy, unit: Unit, period: Period) -> FormHeader:
        chain = hierarchy.ancestors(unit)
        return cls(unit, chain[0] if chain else None, chain[-1] if chain else None, period, hierarchy.vintage)


class Styles:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        base = {"font_name": FONT, "font_size": 11, "valign": "vcenter"}
        self._wb = wb
        self._specs: dict[int, dict[str, Any]] = {}
        self._marked: dict[tuple[int, str], Format] = {}

        def f(**kw: Any) -> Format:
            fmt = fixed_format(wb, {**base, **kw})  # a copy of the same format made once per process
            self._specs[id(fmt)] = {**base, **kw}
            return fmt

        border = {"border": 1}
        self.text = f()
        self.bold = f(bold=True)
        self.italic = f(italic=True, font_size=10)
        self.note = f(italic=True, font_size=10, text_wrap=True, valign="top")
        self.title = f(bold=True, font_size=14, align="center", text_wrap=True)
        self.subtitle = f(italic=True, align="center")
        self.subtitle_wrap = f(italic=True, align="center", valign="top", text_wrap=True)
        self.head = f(bold=True, align="center", text_wrap=True, bg_color="#DDEBF7", **border)
        self.number_row = f(italic=True, align="center", font_size=9, **border)
        self.label = f(text_wrap=True, **border)
        self.label_total = f(bold=True, text_wrap=True, **border)
        self.label_group = f(italic=True, text_wrap=True, **border)
        self.code = f(align="center", **border)
        self.unit = f(align="center", font_size=10, **border)
        self.input = f(num_format="#,##0", locked=False, bg_color="#FFF9DB", **border)
        self.input_text = f(locked=False, bg_color="#FFF9DB", align="center", **border)
        self.formula = f(num_format="#,##0", bold=True, bg_color="#EDEDED", **border)
        self.na = f(bg_color="#BFBFBF", pattern=1, **border)
        self.blank_cell = f(**border)
        self.cover_label = f(bold=True, **border)
        self.cover_value = f(**border)
        #: a SHA-256 in hex (64 characters): smaller, so that any digest fits its column when printed
        self.cover_digest = f(font_size=9, **border)
        self.cover_input = f(locked=False, bg_color="#FFF9DB", **border)
        self.cover_date = f(locked=False, bg_color="#FFF9DB", num_format="dd/mm/yyyy", align="left", **border)
        self.sign_head = f(bold=True, align="center")
        self.sign_note = f(italic=True, align="center", font_size=10)
        self.wrap = f(text_wrap=True, valign="top")
        self.banner = f(bold=True, font_color="#C00000", align="center", text_wrap=True)
        # a wide sheet's titles, in its repeated columns A:B: left-aligned, whole on every printed page
        self.title_left = f(bold=True, font_size=14, valign="top", text_wrap=True)
        self.subtitle_left = f(italic=True, valign="top", text_wrap=True)
        self.banner_left = f(bold=True, font_color="#C00000", valign="top", text_wrap=True)
        self.value = f(num_format="#,##0", **border)
        self.value_total = f(num_format="#,##0", bold=True, **border)
        self.rate = f(num_format="#,##0.00", **border)
        self.rate_total = f(num_format="#,##0.00", bold=True, **border)
        self.cell = f(text_wrap=True, **border)
        self.cell_center = f(align="center", text_wrap=True, **border)

    def marked(self, fmt: Format, color: str) -> Format:
        """`fmt` filled with `color` (a cell a marked-up copy points at)."""
        key = (id(fmt), color)
        if key not in self._marked:
            self._marked[key] = fixed_format(self._wb, {**self._specs[id(fmt)], "bg_color": color, "pattern": 1})
        return self._marked[key]


@dataclass(frozen=True)
class Marks:
    """What a marked-up copy adds to a rebuilt form: cells to fill and comment, formula cells as the ward's file
    had them, and a first sheet (the list of issues)."""

    #: (sheet, 1-based row, 1-based col) -> (fill colour, comment)
    cells: Mapping[tuple[str, int, int], tuple[str, str]]
    #: formula cell key -> ("formula", cached value as read, or None for none) or ("value", what was typed instead)
    formulas: Mapping[str, tuple[str, Any]]
    first_sheet: Callable[[xlsxwriter.Workbook, Styles], None]


def write_form(
    path: str | Path,
    catalogue: Catalogue,
    header: FormHeader,
    values: Mapping[str, Any] | None = None,
    cover_overrides: Mapping[str, Any] | None = None,
    created: datetime | None = None,
    marks: Marks | None = None,
) -> Path:
    """Write a form for `header.unit`: blank, or filled with `values` (cell key -> number, text or None).

    Total cells are formulas whose cached value is computed here, so every reader sees the right number
    without recalculating. The file is written atomically and is byte-identical for the same inputs.
    """
    path = Path(path)
    layout = form_layout(catalogue)
    values = dict(values or {})
    with atomic_write(path) as tmp:
        wb = inert.workbook(tmp)
        wb.worksheet_class = HoledSheet  # plain cells written straight to XML: the same bytes, a fraction of the cost
        inert.properties(
            wb,
            f"{catalogue.form_number} - {header.unit.name} - {header.period}",
            created or datetime.combine(header.period.start, datetime.min.time()),
        )
        st = Styles(wb)
        if marks is not None:
            marks.first_sheet(wb, st)
        _write_cover(wb, st, catalogue, header, cover_overrides or {}, marks)
        _write_guide(wb, st, catalogue)
        heading = SheetHeading(header.unit.name, f"UBND {header.parent.name}" if header.parent else "", header.period)
        for sheet in layout.sheets:
            write_form_sheet(wb, st, catalogue, layout, sheet, heading, values, marks)
        wb.worksheets()[0].activate()
        wb.close()
    return path


def protect(ws: Worksheet) -> None:
    # No password: the structure is protected against slips, not against a determined user.
    ws.protect(
        "", {"format_columns": True, "format_rows": True, "select_locked_cells": True, "select_unlocked_cells": True}
    )


def print_setup(ws: Worksheet, last_col: int, repeat: tuple[int, int] | None = None, scale: int | None = None) -> None:
    """A4 landscape, fit to the page's width (or printed at `scale` percent), page numbers, header rows repeated."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.set_margins(left=0.5, right=0.4, top=0.6, bottom=0.6)
    if scale is None:
        ws.fit_to_pages(1, 0)
    else:
        ws.set_print_scale(scale)
    ws.center_horizontally()
    if repeat:
        ws.repeat_rows(repeat[0] - 1, repeat[1] - 1)
    ws.set_footer('&C&"Times New Roman"&9Trang &P/&N')


def _mark(ws: Worksheet, st: Styles, marks: Marks | None, r: int, c: int, fmt: Format) -> Format:
    """The format of the 0-based cell (r, c), filled and commented if the marked-up copy points at it."""
    spot = marks.cells.get((ws.name, r + 1, c + 1)) if marks is not None else None
    if spot is None:
        return fmt
    color, text = spot
    ws.write_comment(r, c, text, {"author": "ctstat", "x_scale": 2.5, "y_scale": 2 + text.count("\n")})
    return st.marked(fmt, color)


COVER_WIDTHS = (4, 52, 44)  #: the cover's columns: the number, the label, the value


def cover_values(cat: Catalogue, h: FormHeader, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """What the cover's fields hold: the unit, its parents, the period, the versions; `overrides` on top."""
    values: dict[str, Any] = {
        "unit_code": h.unit.code,
        "unit_name": h.unit.name,
        "parent": f"{h.parent.code} - {h.parent.name}" if h.parent else "",
        "province": f"{h.province.code} - {h.province.name}" if h.province else "",
        "period": str(h.period),
        "vintage": h.vintage,
        "template_version": cat.template_version,
        "catalogue_version": cat.version,
        "report_date": None,
        "preparer": None,
        "phone": None,
    }
    values.update(overrides)
    return values


def _write_cover(
    wb: xlsxwriter.Workbook,
    st: Styles,
    cat: Catalogue,
    h: FormHeader,
    overrides: Mapping[str, Any],
    marks: Marks | None = None,
) -> None:
    """The cover: the form's number, title and basis, who reports what for when. Its rows but the values and the
    period are the same in every form: rendered once per process and spliced, each value written here where it
    was (the same bytes as `_cover_rows` writes cell by cell, tests/test_holed.py)."""
    ws = wb.add_worksheet(COVER)
    # column B holds the longest label, "Phiên bản biểu mẫu (mã để ctstat đối chiếu, không sửa)", in bold
    for col, width in enumerate(COVER_WIDTHS):
        ws.set_column(col, col, width)
    values = cover_values(cat, h, overrides)
    period = f"Kỳ báo cáo: {h.period.label_vi()} ({h.period.start:%d/%m/%Y} - {h.period.end:%d/%m/%Y})"

    def value(key: str) -> None:
        _write_cover_value(ws, st, COVER_BY_KEY[key], values.get(key), marks)

    def hole(r: int, c: int, name: str) -> None:
        if name == _PERIOD_HOLE:
            ws.write(r, c, period, st.italic)
        else:
            value(name)

    def write_period(r: int) -> None:
        ws.write(r, 1, period, st.italic)

    template = _cover_template(cat) if isinstance(ws, HoledSheet) else None
    if template is None or not ws.splice_holed(template, [getattr(st, name) for name in template.slots], hole):
        _cover_rows(ws, st, cat, value, write_period)
    ws.data_validation(
        COVER_FIELDS[8].row - 1,
        2,
        COVER_FIELDS[8].row - 1,
        2,
        {
            "validate": "date",
            "criteria": ">=",
            "value": datetime(2000, 1, 1),
            "error_title": "Ngày không hợp lệ",
            "error_message": "Nhập ngày theo dạng ngày/tháng/năm.",
        },
    )
    protect(ws)
    print_setup(ws, 3)


def _cover_rows(
    ws: Worksheet, st: Styles, cat: Catalogue, value: Callable[[str], None], period: Callable[[int], None]
) -> None:
    """The cover's cells, cell by cell: `value(key)` writes a field's value, `period(row)` the period's line."""
    ws.write(0, 0, f"Biểu số: {cat.form_number}", st.bold)
    # the title and the legal basis wrapped in rows as tall as they need (a wrapped text in a row of one line is
    # printed over its neighbours)
    title = cat.title_vi.upper()
    if len(title) > sum(COVER_WIDTHS) / 1.5:  # characters of the 14-pt title that fit the width
        ws.set_row(1, 38)
        title = balanced_lines(title)  # two even lines, not one full and a last word ("XÃ") alone
    ws.merge_range(1, 0, 1, 2, title, st.title)
    basis = f"(Theo {cat.legal_basis_vi})"
    lines = wrapped_lines(basis, int(sum(COVER_WIDTHS) * 1.1))  # italic 11 pt: ~1.1 characters a column's character
    if lines > 1:
        ws.set_row(2, 15 * lines)
    ws.merge_range(2, 0, 2, 2, basis, st.subtitle if lines == 1 else st.subtitle_wrap)
    for i, fld in enumerate(COVER_FIELDS):
        r = fld.row - 1
        ws.write(r, 0, i + 1, st.code)
        ws.write(r, 1, fld.label_vi, st.cover_label)
        value(fld.key)
    last = COVER_FIELDS[-1].row
    period(last + 1)
    ws.write(last + 2, 1, "Ô nền vàng: đơn vị nhập. Các ô khác do ctstat ghi sẵn, không sửa.", st.italic)
    ws.write(last + 3, 1, "Số liệu trong biểu mẫu tổng hợp (không chứa thông tin cá nhân của trẻ em).", st.italic)


def _write_cover_value(ws: Worksheet, st: Styles, fld: CoverField, v: Any, marks: Marks | None) -> None:
    """A cover field's value (in column C): a date, a number or a text, filled and commented if marked."""
    r = fld.row - 1
    fmt = _mark(ws, st, marks, r, 2, st.cover_input if fld.editable else st.cover_value)
    if fld.key == "report_date" and isinstance(v, datetime):
        ws.write_datetime(r, 2, v, _mark(ws, st, marks, r, 2, st.cover_date))
    elif fld.key == "report_date" and v is None:
        ws.write_blank(r, 2, None, st.cover_date)
    elif v is None or v == "":
        ws.write_blank(r, 2, None, fmt)
    elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        ws.write_number(r, 2, v, fmt)
    else:
        ws.write_string(r, 2, inert.text(v), fmt)


#: the cover's line of the period, a hole of its template (no field's key)
_PERIOD_HOLE = "period line"

#: the cover's rows, rendered once per process but for the values and the period (`_cover_template`)
_COVERS: dict[str, tuple[Catalogue, HoledRows]] = {}


def _cover_template(cat: Catalogue) -> HoledRows:
    known = kept(_COVERS, COVER, cat)
    if known is None:

        def write(ws: Worksheet, st: Styles) -> None:
            def value(key: str) -> None:
                ws.write_string(COVER_BY_KEY[key].row - 1, 2, _HOLE + key, st.cover_value)

            _cover_rows(ws, st, cat, value, lambda r: ws.write_string(r, 1, _HOLE + _PERIOD_HOLE, st.italic))

        known = _COVERS[COVER] = (cat, record_holed(COVER, 0, write, [*COVER_BY_KEY, _PERIOD_HOLE]))
    template: HoledRows = known[1]
    return template


def _write_guide(wb: xlsxwriter.Workbook, st: Styles, cat: Catalogue) -> None:
    """The guide: how to fill the form, where its indicators come from. Its rows are the same in every form:
    rendered once per process and spliced (the same bytes as `_guide_rows` writes, tests/test_holed.py)."""
    ws = wb.add_worksheet(GUIDE)
    ws.set_column(0, 0, 120)
    template = _guide_template(cat) if isinstance(ws, BlockSheet) else None
    if template is None or not ws.splice(template, [getattr(st, name) for name in template.slots], []):
        _guide_rows(ws, st, cat)
    protect(ws)
    print_setup(ws, 1)


#: the guide's rows, rendered once per process (`_guide_template`)
_GUIDES: dict[str, tuple[Catalogue, RowsTemplate]] = {}


def _guide_template(cat: Catalogue) -> RowsTemplate:
    known = kept(_GUIDES, GUIDE, cat)
    if known is None:
        known = _GUIDES[GUIDE] = (cat, record_rows(GUIDE, 0, 0, lambda ws, st: _guide_rows(ws, st, cat))[0])
    template: RowsTemplate = known[1]
    return template


def _guide_rows(ws: Worksheet, st: Styles, cat: Catalogue) -> None:
    lines = [
        ("HƯỚNG DẪN GHI BIỂU", st.title),
        ("1. Chỉ nhập số liệu vào các ô nền vàng. Ô nền xám là ô tổng, tự tính bằng công thức; không gõ đè.", st.wrap),
        ("2. Ghi số nguyên không âm. Nếu không có thì ghi 0; không để trống (ô trống không được hiểu là 0).", st.wrap),
        ("3. Không thêm, xóa, đổi tên trang; không chèn, xóa dòng hay cột; không sửa cột Mã số.", st.wrap),
        (
            "4. Dòng 'Chia theo ... (một trẻ có thể thuộc nhiều nhóm)': tổng số đếm mỗi trẻ một lần, nên tổng số "
            "có thể nhỏ hơn cộng các nhóm nhưng không nhỏ hơn nhóm lớn nhất.",
            st.wrap,
        ),
        (
            "5. Gửi tệp cho đơn vị nhận báo cáo. Tệp được kiểm tra từng ô; nếu có ô sai, đơn vị nhận gửi lại bản "
            "đánh dấu từng ô cần sửa kèm cách sửa.",
            st.wrap,
        ),
        ("6. Lưu tệp dạng .xlsx (Excel) hoặc .xlsx/.ods (LibreOffice). Không đặt mật khẩu mở tệp.", st.wrap),
        ("", st.wrap),
        ("Nguồn của các chỉ tiêu", st.bold),
        (
            f"Bộ chỉ tiêu theo {cat.legal_basis_vi}. Toàn văn các phụ lục của Thông tư chưa có, nên một phần "
            "nội dung biểu mẫu do ctstat mô hình hóa (không phải quy định chính thức):",
            st.wrap,
        ),
    ]
    for el in (e for s in cat.sheets for e in s.elements):
        origin = basis_label(el.basis, phrase=True)
        lines.append((f"  • {el.code} {el.name_vi} ({el.unit_vi.lower()}): {origin}", st.wrap))
    for d in cat.dimensions.values():
        origin = basis_label(d.basis, phrase=True)
        lines.append((f"  • Phân tổ '{d.name_vi}': {origin}", st.wrap))
    lines.append(("", st.wrap))
    lines.append(
        (
            f"Phiên bản biểu mẫu {cat.template_version}; phiên bản danh mục {cat.version}; ctstat {__version__}. "
            "Dữ liệu mẫu đi kèm ctstat là dữ liệu tổng hợp giả lập, không phải số liệu thật.",
            st.italic,
        )
    )
    for i, (text, fmt) in enumerate(lines):
        ws.write(i, 0, text, fmt)
        if len(text) > 125:
            ws.set_row(i, 15 * (1 + len(text) // 125))


@dataclass(frozen=True)
class SheetHeading:
    """What a form sheet's heading says: who reports to whom, for which period; `report`: a rolled-up report of
    the same layout (values only) rather than a ward's form; `banner`: a partial rollup's warning."""

    reporter: str
    receiver: str
    period: Period
    report: bool = False
    banner: str | None = None


@dataclass(frozen=True)
class _Page:
    """A form sheet being written: its worksheet and layout, and the columns' widths (characters) to the last one
    printed (`edge`, the table's last column or the signatures' on a narrow sheet)."""

    ws: Worksheet
    st: Styles
    sheet: SheetLayout
    last: int  #: the table's last column, 0-based
    label_width: int
    widths: list[int]
    edge: int


def write_form_sheet(
    wb: xlsxwriter.Workbook,
    st: Styles,
    cat: Catalogue,
    layout: FormLayout,
    sheet: SheetLayout,
    heading: SheetHeading,
    values: Mapping[str, Any],
    marks: Marks | None = None,
) -> Worksheet:
    """One form-group sheet in the biểu layout: a ward's form (inputs and formulas) or, with `heading.report`, a
    rolled-up report of the same layout holding values only."""
    ws = wb.add_worksheet(sheet.name)
    page = _fitted(_page(ws, st, sheet), layout, values, heading.report)
    ws.set_column(0, 0, page.label_width)
    ws.set_column(1, 1, 9)
    ws.set_column(2, 2, page.widths[2])
    ws.set_column(FIRST_VALUE_COL - 1, page.last, page.widths[FIRST_VALUE_COL - 1])
    for col in range(FIRST_VALUE_COL, page.last + 1):  # a column a number would not fit: as wide as it needs
        if page.widths[col] != page.widths[FIRST_VALUE_COL - 1]:
            ws.set_column(col, col, page.widths[col])
    ws.write(0, 0, f"Biểu số: {cat.form_number} - {sheet.name}", st.bold)
    ws.write(1, 0, f"Kỳ báo cáo: {heading.period.label_vi()}", st.text)
    title_pt = _write_units(page, heading) + _write_titles(page, cat, heading)
    if heading.report:
        heights = _splice_table(page, cat, layout, values) if marks is None else None
    else:
        heights = _splice_form(page, cat, layout, values, marks)
    if heights is None:
        heights = _write_table(page, cat, layout, heading.report, values, marks)
    if heading.report:
        _modelled_note(page, cat, heights)
    ws.freeze_panes(NUMBER_ROW, 3)
    protect(ws)
    ws.print_area(0, 0, ws.dim_rowmax, page.edge)  # the table and its signatures, nothing beside them
    # printed at a fixed scale, about the one fit-to-width would choose: Excel ignores manual page breaks on a
    # sheet set to fit to the page, and these keep each element's rows with its header (LibreOffice honours
    # them either way)
    print_setup(ws, page.last + 1, (HEADER_ROWS[0], NUMBER_ROW), scale=page_scale(page.widths))
    ws.set_h_pagebreaks(paginate(sheet, heights, page.widths, title_pt=title_pt))
    return ws


def _page(ws: Worksheet, st: Styles, sheet: SheetLayout) -> _Page:
    """A form sheet's page: its columns' widths, its last column and the signatures' edge."""
    last = sheet.last_col - 1  # 0-based
    wide = len(sheet.columns) > 6  # narrower columns keep a wide sheet legible on one A4 page
    label_width = 42 if wide else 50
    widths = [label_width, 9, 8 if wide else 9] + [8 if wide else 10] * (last - 2)
    edge = signature_edge(last)  # the last column printed: the table's, or the signatures' on a narrow sheet
    widths += [8] * (edge - last)  # the default width beside the table
    return _Page(ws, st, sheet, last, label_width, widths, edge)


def modelled_on(cat: Catalogue, sheet: str) -> str:
    """What of a form sheet ctstat modelled (its elements and breakdowns whose basis is not the circular), said in
    one line ('' when nothing is): the "Hướng dẫn" sheet of the ward's form says it of each; a report sheet, which
    has no such sheet beside it, says it under its table."""
    elements = [e for s in cat.sheets if s.name == sheet for e in s.elements]
    codes = [e.code for e in elements if e.basis == "modelled"]
    dims = {a.dimension.name_vi: a.dimension.basis for e in elements for a in (e.rows, *e.columns) if a is not None}
    modelled = [name for name, basis in dims.items() if basis == "modelled"]
    parts = ([f"chỉ tiêu {', '.join(codes)}"] if codes else []) + (
        [f"phân tổ {', '.join(modelled)}"] if modelled else []
    )
    if not parts:
        return ""
    return "* Do ctstat mô hình hóa, không phải quy định chính thức của Thông tư 13: " + "; ".join(parts) + "."


def _modelled_note(page: _Page, cat: Catalogue, heights: dict[int, float]) -> None:
    """The line under a report sheet's table saying what of it is modelled (the row between it and the date)."""
    note = modelled_on(cat, page.sheet.name)
    if note:
        r = page.sheet.last_row  # 0-based: the row below the table
        page.ws.merge_range(r, 0, r, page.last, note, page.st.note)
        lines = wrapped_lines(note, int(sum(page.widths[: page.last + 1]) * 1.1))
        if lines > 1:
            heights[r] = 14 * lines
            page.ws.set_row(r, heights[r])


def _fitted(page: _Page, layout: FormLayout, values: Mapping[str, Any], report: bool) -> _Page:
    """`page` with each value column as wide as its widest number needs (`number_width`): a rolled-up sum, a
    ward's value or a total the form computes from them."""
    widths = list(page.widths)
    for col, keys in _value_columns(layout, page.sheet.name).items():
        nums = [values.get(k) for k in keys]
        if not report:
            nums += [cached_total(layout, k, values) for k in keys if k in layout.formulas]
        widths[col] = number_width(widths[col], nums)
    return page if widths == page.widths else replace(page, widths=widths)


@cache
def _value_columns(layout: FormLayout, sheet: str) -> dict[int, tuple[str, ...]]:
    """The keys of a sheet's value cells by their 0-based column (a layout is hashed by identity: one a catalogue)."""
    out: dict[int, list[str]] = {}
    for key, (name, _, col) in layout.positions.items():
        if name == sheet:
            out.setdefault(col - 1, []).append(key)
    return {col: tuple(keys) for col, keys in out.items()}


def _write_table(
    page: _Page, cat: Catalogue, layout: FormLayout, report: bool, values: Mapping[str, Any], marks: Marks | None
) -> dict[int, float]:
    """Everything of a form sheet below its titles, cell by cell: the table's header and rows, the signatures.
    Returns the heights of the rows set (0-based row -> points)."""
    _write_table_head(page)
    heights = _write_rows(page, cat, layout, report, values, marks)
    signature(page.ws, page.st, page.sheet.last_row + 2, page.last)
    return heights


def record_rows(
    name: str, first_row: int, holes: int, write: Callable[[Worksheet, Styles], Any]
) -> tuple[RowsTemplate, Any]:
    """The rows `write(ws, st)` writes, cell by cell, on a scratch sheet named `name` (from `first_row` on, each
    number written the number of the hole it is, 1 to `holes`), as a `RowsTemplate` (`unusable` where it cannot
    hold them); and what `write` returned."""
    wb = inert.workbook(Path("unused.xlsx"))  # never closed, never written
    fast_sheets(wb)
    st = Styles(wb)
    ws = wb.add_worksheet(name)
    RowsTemplate.start(ws)
    result = write(ws, st)
    names = {id(fmt): key for key, fmt in vars(st).items() if isinstance(fmt, Format)}
    try:
        return RowsTemplate.record(ws, first_row, names, holes), result
    except ValueError:  # a cell no template holds (a catalogue's new kind of row?): written cell by cell, as ever
        return RowsTemplate.unusable(), result


def record_holed(
    name: str, first_row: int, write: Callable[[Worksheet, Styles], Any], holes: Collection[str]
) -> HoledRows:
    """The rows `write(ws, st)` writes, cell by cell, on a scratch sheet named `name` (from `first_row` on; each
    hole a text starting with `_HOLE`, then its name), as a `HoledRows`; `unusable` where it cannot hold them, or
    where its holes are not `holes`, each once (a catalogue's text that starts like a hole)."""
    wb = inert.workbook(Path("unused.xlsx"))  # never closed, never written
    fast_sheets(wb)
    st = Styles(wb)
    ws = wb.add_worksheet(name)
    RowsTemplate.start(ws)
    write(ws, st)
    names = {id(fmt): key for key, fmt in vars(st).items() if isinstance(fmt, Format)}
    try:
        template = HoledRows.record(ws, first_row, names, _HOLE)
    except ValueError:  # a cell no template holds (a catalogue's new kind of row?): written cell by cell, as ever
        return HoledRows.unusable()
    return template if sorted(h[2] for h in template.holes) == sorted(holes) else HoledRows.unusable()


def kept(cache: dict[Any, Any], key: Any, cat: Catalogue) -> Any:
    """What a cache of rendered rows holds at `key` for the catalogue `cat` (its entries start with theirs), or
    None; a cache holding another catalogue's is emptied first (a server given a new catalogue keeps the latest)."""
    known = cache.get(key)
    if known is not None and known[0] is cat:
        return known
    if any(entry[0] is not cat for entry in list(cache.values())):  # (a copy: another thread may be adding)
        cache.clear()
    return None


#: a rolled-up report's table, by its sheet: rendered once per process (`_table_template`), spliced per workbook
_TABLES: dict[str, tuple[Catalogue, FormLayout, RowsTemplate, tuple[str, ...], dict[int, float]]] = {}


def _splice_table(
    page: _Page, cat: Catalogue, layout: FormLayout, values: Mapping[str, Any]
) -> dict[int, float] | None:
    """A rolled-up report's table, its rows rendered once and the workbook's numbers put in: what `_write_table`
    writes (the same bytes, tests/test_splice.py). None, nothing written, where only the cell-by-cell writing
    can: a sheet that is not a `BlockSheet`, an infinite number (an error cell)."""
    if not isinstance(page.ws, BlockSheet):
        return None
    template, keys, heights = _table_template(cat, layout, page.sheet)
    formats = [getattr(page.st, name) for name in template.slots]
    return dict(heights) if page.ws.splice(template, formats, [values.get(k) for k in keys]) else None


def _table_template(
    cat: Catalogue, layout: FormLayout, sheet: SheetLayout
) -> tuple[RowsTemplate, tuple[str, ...], dict[int, float]]:
    """A rolled-up report's table of `sheet` written once, cell by cell, on a scratch sheet, with each cell's
    number the hole it is; kept for the process."""
    known = kept(_TABLES, sheet.name, cat)
    if known is not None:
        return known[2], known[3], known[4]
    keys = tuple(layout.keys)
    holes = {k: float(i + 1) for i, k in enumerate(keys)}
    template, heights = record_rows(
        sheet.name,
        HEADER_ROWS[0] - 1,
        len(keys),
        lambda ws, st: _write_table(_page(ws, st, sheet), cat, layout, True, holes, None),
    )
    keys = tuple(keys[h - 1] for h in template.holes)
    _TABLES[sheet.name] = (cat, layout, template, keys, heights)
    return template, keys, heights


def _write_units(page: _Page, heading: SheetHeading) -> float:
    """Who reports and to whom, at the top right; the points their rows grow by where they wrap."""
    ws, st, widths, edge = page.ws, page.st, page.widths, page.edge
    units_lines = ((0, f"Đơn vị báo cáo: {heading.reporter}"), (1, f"Đơn vị nhận báo cáo: {heading.receiver}"))
    # both over as many of the last columns as the longer needs (never column A, the left-hand texts'): text that
    # ran on past the table would be cut, or printed on a page of its own
    right, room = edge, widths[edge]
    while right > max(1, edge - 12) and room < max(len(t) for _, t in units_lines) + 2:
        right -= 1
        room += widths[right]
    right = min(right, max(edge - 3, 1))
    room = sum(widths[right : edge + 1])
    taller = 0.0  # points the two lines' rows grow by, wrapped where a narrow sheet has no room for them
    for r, text in units_lines:
        fits = room >= len(text) + 2
        if not fits:
            lines = max(2, wrapped_lines(text, int(room) - 2))
            ws.set_row(r, 15 * lines)
            taller += 15 * (lines - 1)
        if right < edge:
            ws.merge_range(r, right, r, edge, text, st.text if fits else st.wrap)
        else:
            ws.write(r, right, text, st.text if fits else st.wrap)
    return taller


def _write_titles(page: _Page, cat: Catalogue, heading: SheetHeading) -> float:
    """The title, the subtitle and a banner, each as tall as it wraps; the points the title rows take."""
    ws, st, widths, last = page.ws, page.st, page.widths, page.last
    title = f"{page.sheet.title_vi} (TỔNG HỢP)" if heading.report else page.sheet.title_vi
    ws.merge_range(2, 0, 2, last, title, st.title)
    capacity = (page.label_width + 18 + 10 * (last - 2)) // 1.5  # characters of the 14-pt title that fit the width
    if len(title) > capacity:
        ws.set_row(2, 38)
    taller = 38.0 if len(title) > capacity else 15.0
    subtitle = cat.rollup_title_vi if heading.report else cat.title_vi  # a ward's form names its level; a rollup not
    subtitle = f"{subtitle} - {heading.reporter} - {heading.period.label_vi()}"
    lines = wrapped_lines(subtitle, int(sum(widths[: last + 1]) * 1.1))  # italic 11 pt: ~1.1 characters a column's
    if lines > 1:  # a narrow sheet: wrapped, not cut at the table's edges
        ws.set_row(3, 15 * lines)
        taller += 15 * (lines - 1)
    ws.merge_range(3, 0, 3, last, subtitle, st.subtitle if lines == 1 else st.subtitle_wrap)
    if heading.banner:  # as tall as it wraps: a partial rollup's list of missing wards ran over the header
        lines = wrapped_lines(heading.banner, int(sum(widths[: last + 1]) * 0.95))  # bold 11 pt: a little wider
        ws.set_row(4, 15 * lines)
        taller += 15 * (lines - 1)
        ws.merge_range(4, 0, 4, last, heading.banner, st.banner)
    return taller


def _write_table_head(page: _Page) -> None:
    """The table's header: the fixed columns, the column groups over their categories, the column numbers."""
    ws, st, sheet = page.ws, page.st, page.sheet
    top, bottom = HEADER_ROWS[0] - 1, HEADER_ROWS[1] - 1
    for col, text in ((0, "Chỉ tiêu"), (1, "Mã số"), (2, "Đơn vị tính")):
        ws.merge_range(top, col, bottom, col, text, st.head)
    groups: dict[str, list[int]] = {}
    for c in sheet.columns:
        if c.key == TOTAL:
            ws.merge_range(top, c.col - 1, bottom, c.col - 1, "Tổng số", st.head)
        else:
            groups.setdefault(c.group_vi, []).append(c.col - 1)
            ws.write(bottom, c.col - 1, c.label_vi, st.head)
    for text, cols in groups.items():
        if len(cols) > 1:
            ws.merge_range(top, cols[0], top, cols[-1], text, st.head)
        else:
            ws.write(top, cols[0], text, st.head)
    ws.set_row(bottom, 45)
    numbering = ["A", "B", "C", *[str(i + 1) for i in range(len(sheet.columns))]]
    for i, text in enumerate(numbering):
        ws.write_string(NUMBER_ROW - 1, i, text, st.number_row)


def _write_rows(
    page: _Page, cat: Catalogue, layout: FormLayout, report: bool, values: Mapping[str, Any], marks: Marks | None
) -> dict[int, float]:
    """The table's rows: labels, codes, units, and each cell (an input, a formula, or a rolled-up value); the
    validations and the frozen header. Returns the heights set (0-based row -> points), for the page breaks."""
    ws, st, sheet, last, label_width = page.ws, page.st, page.sheet, page.last, page.label_width
    checks: dict[str, list[tuple[int, int]]] = {}
    heights: dict[int, float] = {}  #: 0-based row -> height set (points), for the page breaks
    for row in sheet.rows:
        r = row.row - 1
        if not row.code:
            ws.write(r, 0, row.label_vi, st.label_group)
            if wrapped_lines(row.label_vi, label_width + 2) > 1:
                heights[r] = 15 * wrapped_lines(row.label_vi, label_width + 2)
                ws.set_row(r, heights[r])
            for i in range(1, last + 1):
                ws.write_blank(r, i, None, st.blank_cell)
            continue
        el = cat.elements[row.element]
        unit_label = "Xã (số có)" if report and el.type == "yesno" else el.unit_vi
        label = row.label_vi if row.key == TOTAL else f"    - {row.label_vi}"
        ws.write(r, 0, label, st.label_total if row.key == TOTAL else st.label)
        lines = wrapped_lines(label, label_width + 2)
        if lines > 1:
            heights[r] = 15 * lines
            ws.set_row(r, heights[r])
        ws.write_string(r, 1, row.code, st.code)
        ws.write(r, 2, unit_label, st.unit)
        if report:
            _write_report_row(page, layout, r, el.code, row.key, values)
            continue
        for c in sheet.columns:
            key = cell_key(el.code, row.key, c.key)
            if key not in layout.positions:
                ws.write_blank(r, c.col - 1, None, st.na)
            else:
                _write_form_cell(page, layout, (r, c.col - 1), key, el.type, values, marks, checks)
    _validations(ws, checks)
    return heights


def _write_report_row(
    page: _Page, layout: FormLayout, r: int, element: str, row_key: str, values: Mapping[str, Any]
) -> None:
    """A rolled-up report's row of values: each cell its sum (blank: no unit reported it, or NaN), in bold in
    the total row and column; a cell the form does not have: grey."""
    st = page.st
    nums: list[Any] = []
    fmts: list[Format] = []
    for c in page.sheet.columns:
        key = cell_key(element, row_key, c.key)
        if key not in layout.positions:
            nums.append(None)
            fmts.append(st.na)
        else:
            nums.append(values.get(key))
            fmts.append(st.value_total if row_key == TOTAL or c.key == TOTAL else st.value)
    write_numbers(page.ws, r, [c.col - 1 for c in page.sheet.columns], nums, fmts)


def _write_form_cell(
    page: _Page,
    layout: FormLayout,
    at: tuple[int, int],
    key: str,
    vtype: str,
    values: Mapping[str, Any],
    marks: Marks | None,
    checks: dict[str, list[tuple[int, int]]],
) -> None:
    """One cell of a ward's form: the SUM formula of a total (with its cached value), or an input."""
    ws, st = page.ws, page.st
    r, col = at
    parts = layout.formulas.get(key)
    as_read = marks.formulas.get(key) if marks is not None else None
    if parts and (as_read is None or as_read[0] == "formula"):
        formula = layout.sum_formulas[key]
        cached = cached_total(layout, key, values) if as_read is None else _as_cached(as_read[1])
        ws.write_formula(r, col, formula, _mark(ws, st, marks, r, col, st.formula), cached)
        return
    value = as_read[1] if as_read is not None else values.get(key)
    _write_input(ws, r, col, value, vtype, st, marks, checks)


#: A4 landscape, the margins of `print_setup`: what a page holds, in points
PAGE_WIDTH_PT = 842 - (0.5 + 0.4) * 72
PAGE_HEIGHT_PT = 595 - (0.6 + 0.6) * 72 - 24  # less the footer
MIN_SCALE = 60  #: the smallest scale assumed when estimating what a page holds
WIDTH_SLACK = 0.9  #: of the page's width the columns are estimated to fill (LibreOffice draws them a little wider)


def number_width(width: int, numbers: Iterable[Any] | np.ndarray, decimals: int = 0) -> int:
    """The width (characters) a column needs to show each of `numbers` whole in the workbook's Times New Roman 11
    (bold or not), as "#,##0" (with `decimals`, "#,##0.00"): at least `width`. A number wider than its column
    prints as '###' in Excel and LibreOffice (a city's fines, 1,892,500,000 đồng, in a column of 10). A digit
    is half an em (7.33 px), a separator a quarter, a minus two thirds of a digit; the cell's padding and a bold
    face take about 8 px more; a column `w` characters wide is 7w + 5 px. What is not a number is passed over."""
    if isinstance(numbers, np.ndarray):
        arr = numbers.astype(float).ravel()
    else:
        arr = np.array([v for v in numbers if isinstance(v, Real) and not isinstance(v, bool)], dtype=float)
    arr = arr[np.isfinite(arr)]
    if not arr.size:
        return width
    widest = 0.0
    for v in {float(arr.max()), float(arr.min())}:  # the widest text is the largest or the most negative
        text = f"{abs(v):,.{decimals}f}"
        digits = sum(ch.isdigit() for ch in text)
        widest = max(widest, 7.33 * digits + 3.67 * (len(text) - digits) + (4.9 if v < 0 else 0.0))
    return max(width, math.ceil((widest + 8 - 5) / 7))


def page_scale(widths: Sequence[float]) -> int:
    """The print scale, in percent, at which columns of these widths (in characters of the workbook's Calibri 11)
    fill the page's width, less a little: LibreOffice draws columns about 7% wider than this estimate (measured
    with Carlito, the metric twin of Calibri), a font standing in for Calibri more."""
    width_pt = sum((w * 7 + 5) * 0.75 for w in widths)
    return max(MIN_SCALE, min(100, int(PAGE_WIDTH_PT / width_pt * 100 * WIDTH_SLACK)))


def paginate(
    sheet: SheetLayout, heights: Mapping[int, float], widths: Sequence[float], title_pt: float = 15
) -> list[int]:
    """The rows to break the printed pages before, so that no element's block (its total, its group label, its
    rows) is split from its header: a block that does not fit what is left of a page starts the next one (the
    header rows repeat there). The page's height is scaled as fit-to-width scales it."""
    room = PAGE_HEIGHT_PT * 100 / page_scale(widths)
    header = 15 + 45 + 15  # the repeated rows: group headers, category headers, the A, B, C row
    used = 15 * 5 + (title_pt - 15) + header  # the first page also holds the titles
    blocks: list[tuple[int, float]] = []
    current = ""
    for row in sheet.rows:
        r, h = row.row - 1, heights.get(row.row - 1, 15)
        if blocks and row.element == current:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + h)
        else:
            blocks.append((r, h))
        current = row.element
    if blocks:
        blocks[-1] = (blocks[-1][0], blocks[-1][1] + 5 * 15)  # the signatures stay with the last block
    breaks = []
    for start, h in blocks:
        if used + h > room and used > header:
            breaks.append(start)
            used = header
        used += h
    return breaks


def _as_cached(value: Any) -> Any:
    """A formula's cached result as the ward's file had it ('' when it had none: the copy keeps that fault)."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return inert.text(value)


def _write_input(
    ws: Worksheet,
    r: int,
    c: int,
    value: Any,
    vtype: str,
    st: Styles,
    marks: Marks | None,
    checks: dict[str, list[tuple[int, int]]],
) -> None:
    if vtype == "yesno":
        fmt = _mark(ws, st, marks, r, c, st.input_text)
        if value is None:
            ws.write_blank(r, c, None, fmt)
        elif isinstance(value, str) or marks is not None:
            ws.write_string(r, c, inert.text(value), fmt)
        else:
            ws.write_string(r, c, YES if value else NO, fmt)
        checks.setdefault("yesno", []).append((r, c))
        return
    fmt = _mark(ws, st, marks, r, c, st.input)
    if value is None:
        ws.write_blank(r, c, None, fmt)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        ws.write_number(r, c, value, fmt)
    else:  # text, a date, TRUE/FALSE, NaN or ±inf: shown as typed, as text
        ws.write_string(r, c, inert.text(value), fmt)
    checks.setdefault("count", []).append((r, c))


#: what a spreadsheet lets a ward officer type in an input cell, per kind of cell
_VALIDATIONS: dict[str, dict[str, Any]] = {
    "yesno": {
        "validate": "list",
        "source": [YES, NO],
        "error_title": "Giá trị không hợp lệ",
        "error_message": "Chọn Có hoặc Không.",
    },
    "count": {
        "validate": "integer",
        "criteria": "between",
        "minimum": 0,
        "maximum": 10**13,
        "error_title": "Số không hợp lệ",
        "error_message": "Nhập số nguyên không âm (ghi 0 nếu không có).",
    },
}


def _validations(ws: Worksheet, checks: Mapping[str, list[tuple[int, int]]]) -> None:
    """One data validation per kind of input cell over all its cells (a sheet, not a cell, carries the rule)."""
    for kind, cells in checks.items():
        (r, c), refs = cells[0], " ".join(a1(row + 1, col + 1) for row, col in cells)
        ws.data_validation(r, c, r, c, {**_VALIDATIONS[kind], "multi_range": refs})


def cached_total(layout: FormLayout, key: str, values: Mapping[str, Any]) -> float:
    total = 0.0
    for part in layout.formulas[key]:
        v = cached_total(layout, part, values) if part in layout.formulas else values.get(part)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            total += v
    return int(total) if total.is_integer() else total


def balanced_lines(text: str) -> str:
    """`text` in two lines as even as its words allow (a line break between them): a long title wrapped by the
    spreadsheet program left its last word alone on the second line."""
    words = text.split()
    if len(words) < 2:
        return text
    best = min(range(1, len(words)), key=lambda i: max(len(" ".join(words[:i])), len(" ".join(words[i:]))))
    return " ".join(words[:best]) + "\n" + " ".join(words[best:])


def wrapped_lines(text: str, width: int) -> int:
    """How many lines a wrapped label needs (rows are not auto-sized by every spreadsheet program)."""
    lines, used = 1, 0
    for word in text.split():
        if used and used + 1 + len(word) > width:
            lines, used = lines + 1, len(word)
        else:
            used += len(word) + (1 if used else 0)
    return lines


def signature_edge(last: int) -> int:
    """The last column (0-based) the signature block takes below a table whose last column is `last`."""
    return max(last, max(last // 2, 3) + 3)  # room for "(Ký, đóng dấu, ghi rõ họ tên)"


def signature(ws: Worksheet, st: Styles, row: int, last: int, left: str = "Người lập biểu", left_col: int = 0) -> None:
    mid = max(last // 2, 3)
    last = signature_edge(last)
    # each text held in a merged range: text left to overflow its cell is printed, clipped, on the next page too
    right = max(left_col, mid - 1)
    for r, text, style in ((row, left, st.sign_head), (row + 1, "(Ký, ghi rõ họ tên)", st.sign_note)):
        if right > left_col:
            ws.merge_range(r, left_col, r, right, text, style)
        else:
            ws.write(r, left_col, text, style)
    ws.merge_range(row - 1, mid, row - 1, last, "..........., ngày ..... tháng ..... năm .......", st.sign_note)
    ws.merge_range(row, mid, row, last, "Thủ trưởng đơn vị", st.sign_head)
    ws.merge_range(row + 1, mid, row + 1, last, "(Ký, đóng dấu, ghi rõ họ tên)", st.sign_note)


#: marks a value cell's text while a ward form's table is recorded (a character of Unicode's private use area)
_HOLE = "\ue000"

#: a ward form's table, by its sheet: rendered once per process but for its value cells (`_form_template`)
_FORMS: dict[str, tuple[Catalogue, FormLayout, HoledRows, dict[int, float], dict[str, str]]] = {}


def _form_template(
    cat: Catalogue, layout: FormLayout, sheet: SheetLayout
) -> tuple[HoledRows, dict[int, float], dict[str, str]]:
    """A ward form's table of `sheet` written once, cell by cell, on a scratch sheet, each value cell a hole (a
    text naming its key, in place of an input or a formula); kept for the process. Also each key's value type."""
    known = kept(_FORMS, sheet.name, cat)
    if known is not None:
        return known[2], known[3], known[4]
    types: dict[str, str] = {
        cell_key(el.code, row.key, c.key): el.type
        for row in sheet.rows
        if row.code and (el := cat.elements[row.element])
        for c in sheet.columns
    }
    holes = {k: _HOLE + k for k in layout.keys}
    marks = Marks({}, {k: ("value", holes[k]) for k in layout.formulas}, lambda wb, st: None)
    heights: dict[int, float] = {}

    def write(ws: Worksheet, st: Styles) -> None:
        heights.update(_write_table(_page(ws, st, sheet), cat, layout, False, holes, marks))

    template = record_holed(sheet.name, HEADER_ROWS[0] - 1, write, [k for k in types if k in layout.positions])
    _FORMS[sheet.name] = (cat, layout, template, heights, types)
    return template, heights, types


def _splice_form(
    page: _Page, cat: Catalogue, layout: FormLayout, values: Mapping[str, Any], marks: Marks | None
) -> dict[int, float] | None:
    """A ward form's table, its fixed rows rendered once and each value cell written here as `_write_table`
    writes it (a number, text, blank or formula, filled and commented where a marked-up copy points): the same
    bytes (tests/test_holed.py). None, nothing written, where the template cannot hold the table."""
    if not isinstance(page.ws, HoledSheet):
        return None
    template, heights, types = _form_template(cat, layout, page.sheet)
    checks: dict[str, list[tuple[int, int]]] = {}

    def hole(r: int, c: int, key: str) -> None:
        _write_form_cell(page, layout, (r, c), key, types[key], values, marks, checks)

    if not page.ws.splice_holed(template, [getattr(page.st, name) for name in template.slots], hole):
        return None
    _validations(page.ws, checks)
    return dict(heights)
