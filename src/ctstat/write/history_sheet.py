"""A rollup workbook's comparison sheet (issue 24): the unit's indicators over its comparable earlier periods with a
trend chart per count, the unusual changes ranked by p, and each child unit's counts over the same periods.

An analysis beside the report, never part of it: it says so at its top, in a box that names what is modelled (which
element is a stock and which a flow, how a year and a pre-reform unit are put together), carries no signature, and
prints on its own pages (a fixed scale, so the page breaks before the charts and the tables hold in Excel too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xlsxwriter

from ctstat.model.catalogue import Catalogue
from ctstat.model.sheets import COMPARISON
from ctstat.plan.history_sheet import HistorySheet
from ctstat.plan.plan import RollupSheetData
from ctstat.write import inert
from ctstat.write.blocks import fast_chart
from ctstat.write.form import PAGE_HEIGHT_PT, Styles, print_setup, protect

WIDTHS = (5, 42, 10, 19) + (11,) * 7  #: STT, label, unit, reading over time, then up to 7 periods
CHART_W, CHART_H = 470, 230  #: pixels, two charts a row
FLAG_FILL = "#F8CBAD"  #: a flagged count
NOTE_FILL = "#FFF2CC"  #: the box saying what is modelled
MAX_FLAGS = 100  #: flags printed, strongest first
PAGE_ROWS = 52  #: rows of the child table a printed page holds, about, at the sheet's scale
READING = {"stock": "tồn cuối kỳ *", "flow": "phát sinh trong kỳ *"}


def write_history_sheet(
    wb: xlsxwriter.Workbook, st: Styles, cat: Catalogue, d: RollupSheetData, banner: str | None
) -> None:
    """The comparison sheet of `d` (which has a history)."""
    hs = d.history
    assert hs is not None
    ws = wb.add_worksheet(COMPARISON)
    last = len(WIDTHS) - 1
    for i, w in enumerate(WIDTHS):
        ws.set_column(i, i, w)
    ws.merge_range(0, 0, 0, last, "SO SÁNH VỚI CÁC KỲ TRƯỚC (PHÂN TÍCH THAM KHẢO, KHÔNG THUỘC BÁO CÁO)", st.title)
    ws.merge_range(1, 0, 1, last, f"{d.unit.name} - {d.period.label_vi()}", st.subtitle)
    r = 2
    if banner:
        ws.merge_range(r, 0, r, last, banner, st.banner)
        ws.set_row(r, 30)
        r += 1
    r = _note(ws, st, hs, r + 1, last)
    r = _unit_table(ws, st, cat, hs, d, r + 1)
    breaks = [r + 1]
    r = _charts(wb, ws, st, cat, hs, d, r + 1)
    breaks.append(r)
    r = _flags(ws, st, hs, r)
    breaks.append(r + 1)
    _children(ws, st, cat, hs, r + 1, breaks)
    ws.hide_gridlines(2)
    protect(ws)
    chart_pt = (CHART_H + 10) * 0.75 * _chart_rows(hs) + 40
    scale = max(50, min(90, int(PAGE_HEIGHT_PT / chart_pt * 100)))  # the charts fit one page
    print_setup(ws, last + 1, scale=scale)
    ws.set_h_pagebreaks(breaks)


def _note(ws: Any, st: Styles, hs: HistorySheet, r: int, last: int) -> int:
    checked, flagged = f"{hs.checked:,}".replace(",", "."), len(hs.flags)
    lines = [
        "Trang này so sánh số liệu kỳ này với các kỳ trước trong lịch sử của ctstat để phát hiện thay đổi bất "
        "thường. Đây là phân tích tham khảo, không phải số liệu chính thức của Thông tư 13 và không cần ký.",
        '* MÔ HÌNH HÓA: việc coi mỗi chỉ tiêu là "tồn cuối kỳ" (dân số, trẻ em có hoàn cảnh đặc biệt...) hay '
        '"phát sinh trong kỳ" (vụ việc, vi phạm...) là cách đọc của danh mục, không có trong Thông tư. Từ đó: số '
        "cả năm = 6 tháng đầu + 6 tháng cuối (phát sinh) hoặc = 6 tháng cuối (tồn); số của xã mới trước 1/7/2025 = "
        "tổng các xã cũ sáp nhập nguyên vẹn vào xã đó (không có nếu một xã cũ bị chia).",
        "Mỗi kỳ trước là tổng của đúng các xã có số liệu kỳ này, chỉ khi lịch sử có đủ tất cả các xã đó ('–': "
        "không có số so sánh được); tỉ lệ tính lại từ tử số, mẫu số đã cộng của từng kỳ, không lấy trung bình.",
        f"Lịch sử: {inert.text(hs.source)}. Đã kiểm tra {checked} ô, đánh dấu {flagged} thay đổi bất thường "
        f"(mục 3; ô tô màu ở mục 4).",
    ]
    if hs.no_history:
        lines.append(f"Không có lịch sử so sánh được trước 1/7/2025 (có xã cũ bị chia): {', '.join(hs.no_history)}.")
    box = st.marked(st.cell, NOTE_FILL)
    for line in lines:
        ws.merge_range(r, 0, r, last, line, box)
        ws.set_row(r, 15 * (1 + len(line) // 150))
        r += 1
    return r


def _period_head(ws: Any, st: Styles, hs: HistorySheet, r: int, first: str) -> None:
    ws.write_row(r, 0, ["STT", first, "Đơn vị tính", "Theo thời gian"], st.head)
    offset = len(WIDTHS) - len(hs.periods)
    for j, label in enumerate(hs.periods):
        ws.write(r, offset + j, f"{label}\n(kỳ này)" if j == len(hs.periods) - 1 else label, st.head)
    ws.set_row(r, 30)


def _value(ws: Any, r: int, c: int, v: float, fmt: Any, st: Styles) -> None:
    if np.isnan(v):
        ws.write(r, c, "–", st.cell_center)
    else:
        ws.write_number(r, c, float(v), fmt)


def _reading(cat: Catalogue, ind_id: str) -> str:
    ind = next(i for i in cat.indicators if i.id == ind_id)
    if ind.kind == "rate" or ind.element is None:
        return "tỉ lệ từ tổng"
    return READING.get(cat.elements[ind.element].over_time, "")


def _unit_table(ws: Any, st: Styles, cat: Catalogue, hs: HistorySheet, d: RollupSheetData, r: int) -> int:
    ws.merge_range(r, 0, r, len(WIDTHS) - 1, f"1. {d.unit.name} qua các kỳ", st.bold)
    _period_head(ws, st, hs, r + 1, "Chỉ tiêu")
    offset = len(WIDTHS) - len(hs.periods)
    by_id = {i.id: i for i in cat.indicators}
    for i, ind_id in enumerate(hs.indicators):
        ind, row = by_id[ind_id], r + 2 + i
        ws.write_row(row, 0, [i + 1], st.cell_center)
        ws.write(row, 1, ind.name_vi, st.cell)
        ws.write(row, 2, ind.unit_vi, st.cell_center)
        ws.write(row, 3, _reading(cat, ind_id), st.cell_center)
        fmt = st.rate if ind.kind == "rate" else st.value
        for j in range(len(hs.periods)):
            _value(ws, row, offset + j, hs.unit_values[i, j], fmt, st)
        ws.set_row(row, 15 * (1 + len(ind.name_vi) // 48))
    return r + 2 + len(hs.indicators)


def _chart_rows(hs: HistorySheet) -> int:
    return (len(hs.counts) + 1) // 2


def _charts(
    wb: xlsxwriter.Workbook, ws: Any, st: Styles, cat: Catalogue, hs: HistorySheet, d: RollupSheetData, r: int
) -> int:
    """A line per count indicator of the unit over the periods (its own scale each: a population and a count of
    cases do not share an axis), drawn from the table above; two a row."""
    ws.merge_range(r, 0, r, len(WIDTHS) - 1, f"2. Xu hướng: {d.unit.name}", st.bold)
    offset = len(WIDTHS) - len(hs.periods)
    head = r - len(hs.indicators) - 2  # the table's header row (written just before)
    rows_per_chart = (CHART_H + 10) // 20 + 1
    font = {"name": "Times New Roman"}
    for n, ind_id in enumerate(hs.counts):
        i = hs.indicators.index(ind_id)
        ind = next(x for x in cat.indicators if x.id == ind_id)
        chart = fast_chart(wb.add_chart({"type": "line"}))
        chart.add_series(
            {
                "name": ind.name_vi,
                "categories": [COMPARISON, head, offset, head, len(WIDTHS) - 1],
                "values": [COMPARISON, head + 1 + i, offset, head + 1 + i, len(WIDTHS) - 1],
                "marker": {"type": "circle", "size": 6},
                "line": {"color": "#2F5597", "width": 2},
                "data_labels": {"value": True, "position": "above", "font": {**font, "size": 8}},
            }
        )
        partial = " (CHƯA ĐẦY ĐỦ)" if d.partial else ""  # a chart copied elsewhere keeps the mark
        chart.set_title({"name": f"{ind.name_vi} ({ind.unit_vi}){partial}", "name_font": {**font, "size": 9}})
        chart.set_legend({"none": True})
        chart.set_x_axis({"num_font": {**font, "size": 8}})
        chart.set_y_axis({"num_font": {**font, "size": 8}, "min": 0, "num_format": "#,##0"})
        chart.show_na_as_empty_cell()
        chart.set_size({"width": CHART_W, "height": CHART_H})
        x = 0 if n % 2 == 0 else CHART_W + 10
        ws.insert_chart(r + 1 + (n // 2) * rows_per_chart, 0, chart, {"x_offset": x, "y_offset": 4})
    return r + 1 + _chart_rows(hs) * rows_per_chart + 1


def _flags(ws: Any, st: Styles, hs: HistorySheet, r: int) -> int:
    last = len(WIDTHS) - 1
    ws.merge_range(r, 0, r, last, "3. Thay đổi bất thường (xếp theo p, nhỏ nhất trước)", st.bold)
    head = ["STT", "Đơn vị, chỉ tiêu", "Cấp", "Ô", "Các kỳ trước → kỳ này", "", "", "", "", "p", "Phép so sánh"]
    ws.write_row(r + 1, 0, head, st.head)
    ws.merge_range(r + 1, 4, r + 1, 8, head[4], st.head)
    ws.set_row(r + 1, 30)
    r += 2
    shown = [*hs.flags[:MAX_FLAGS], *hs.confirmed[: max(0, MAX_FLAGS - len(hs.flags))]]
    if not shown:
        ws.merge_range(r, 0, r, last, "Không có thay đổi bất thường nào.", st.cell)
        return r + 1
    left = len(hs.flags) + len(hs.confirmed) - len(shown)
    if left:  # the strongest first; a list of thousands is read with `ctstat compare`, not printed
        more = f"Còn {left} thay đổi khác (p lớn hơn) không in ở đây: xem đầy đủ bằng lệnh ctstat compare."
        ws.merge_range(r + len(shown), 0, r + len(shown), last, more, st.italic)
    for n, f in enumerate(shown, 1):
        label = f"{inert.text(f.unit)}\n{f.element}"
        history = f.history + (f"\nĐã xác nhận: {inert.text(f.note)}" if f.note else "")
        ws.write(r, 0, n, st.cell_center)
        ws.write(r, 1, label, st.cell)
        ws.write(r, 2, f.level, st.cell_center)
        ws.write(r, 3, f.where, st.cell_center)
        ws.merge_range(r, 4, r, 8, history, st.cell)
        ws.write(r, 9, f.p, st.cell_center)
        ws.write(r, 10, f.test, st.cell)
        ws.set_row(r, 15 * max(2 + len(f.element) // 42, 1 + len(history) // 64, 1 + len(f.test) // 14))
        r += 1
    return r + (1 if left else 0)


def _children(ws: Any, st: Styles, cat: Catalogue, hs: HistorySheet, r: int, breaks: list[int]) -> int:
    if not hs.children:
        return r
    ws.merge_range(r, 0, r, len(WIDTHS) - 1, "4. Từng đơn vị trực thuộc qua các kỳ (ô tô màu: có cảnh báo)", st.bold)
    offset = len(WIDTHS) - len(hs.periods)
    by_id = {i.id: i for i in cat.indicators}
    flagged = st.marked(st.value, FLAG_FILL)
    r += 1
    per_page = max(1, PAGE_ROWS // (len(hs.counts) + 1))
    for c, (code, name) in enumerate(hs.children):
        if c % per_page == 0:  # the header on every page: a page break before each few units
            if c:
                breaks.append(r)
            _period_head(ws, st, hs, r, "Đơn vị / chỉ tiêu")
            r += 1
        ws.merge_range(r, 0, r, len(WIDTHS) - 1, f"{code} {name}", st.label_total)
        r += 1
        for k, ind_id in enumerate(hs.counts):
            ind = by_id[ind_id]
            ws.write(r, 0, f"{c + 1}.{k + 1}", st.cell_center)
            ws.write(r, 1, ind.name_vi, st.cell)
            ws.write(r, 2, ind.unit_vi, st.cell_center)
            ws.write(r, 3, _reading(cat, ind_id), st.cell_center)
            for j in range(len(hs.periods)):
                last = j == len(hs.periods) - 1
                fmt = flagged if last and not np.isnan(hs.child_flags[c, k]) else st.value
                _value(ws, r, offset + j, hs.child_values[c, k, j], fmt, st)
            ws.set_row(r, 15 * (1 + len(ind.name_vi) // 48))
            r += 1
    return r
