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
from ctstat.write.form import PAGE_HEIGHT_PT, Styles, number_width, page_scale, print_setup, protect

WIDTHS = (5, 42, 10, 19) + (11,) * 7  #: STT, label, unit, reading over time, then up to 7 periods
CHART_W, CHART_H = 470, 230  #: pixels, two charts a row
ROWS_PER_CHART = (CHART_H + 10) // 20 + 1  #: rows a chart's place spans
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
    widths = _widths(cat, hs)
    for i, w in enumerate(widths):
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
    charts_at, r = r + 1, r + 2 + _chart_rows(hs) * ROWS_PER_CHART + 1
    breaks.append(r)
    r = _flags(ws, st, hs, r)
    breaks.append(r + 1)
    end = _children(ws, st, cat, hs, r + 1, breaks)
    _charts(wb, ws, st, cat, hs, d, charts_at, _chart_data(ws, st, cat, hs, end + 1))
    ws.hide_gridlines(2)
    protect(ws)
    chart_pt = (CHART_H + 10) * 0.75 * _chart_rows(hs) + 40
    scale = max(50, min(90, int(PAGE_HEIGHT_PT / chart_pt * 100)))  # the charts fit one page
    if widths != WIDTHS:  # periods' columns widened for their numbers: the columns still fit the page's width
        scale = min(scale, page_scale(widths))
    print_setup(ws, last + 1, scale=scale)
    ws.set_h_pagebreaks(breaks)


def _widths(cat: Catalogue, hs: HistorySheet) -> tuple[int, ...]:
    """The sheet's columns' widths: the periods' as wide as their widest number needs (a city's fines in đồng),
    rates with two decimals."""
    rates = [i for i, ind_id in enumerate(hs.indicators) if _is_rate(cat, ind_id)]
    counts = [i for i in range(len(hs.indicators)) if i not in rates]
    width = number_width(WIDTHS[-1], hs.unit_values[counts])
    width = number_width(width, hs.unit_values[rates], 2)
    width = number_width(width, hs.child_values)
    offset = len(WIDTHS) - len(hs.periods)
    return WIDTHS if width == WIDTHS[-1] else WIDTHS[:offset] + (width,) * len(hs.periods)


def _is_rate(cat: Catalogue, ind_id: str) -> bool:
    return next(i for i in cat.indicators if i.id == ind_id).kind == "rate"


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


def _chart_data(ws: Any, st: Styles, cat: Catalogue, hs: HistorySheet, first: int) -> int:
    """The unit's table again from row `first`, in hidden rows at the sheet's end, as its trend charts draw it: a
    blank where the table shows '–' (a chart draws a text cell as 0: Hà Nội's children went from 0 in 2019-2024
    to 1.6 million in 2025-H1). Returns `first`."""
    offset = len(WIDTHS) - len(hs.periods)
    by_id = {i.id: i for i in cat.indicators}
    for i, ind_id in enumerate(hs.indicators):
        ws.set_row(first + i, None, None, {"hidden": True})
        ws.write(first + i, 1, by_id[ind_id].name_vi, st.cell)
        fmt = st.rate if by_id[ind_id].kind == "rate" else st.value
        for j in range(len(hs.periods)):
            if not np.isnan(hs.unit_values[i, j]):
                ws.write_number(first + i, offset + j, float(hs.unit_values[i, j]), fmt)
    return first


def _charts(
    wb: xlsxwriter.Workbook,
    ws: Any,
    st: Styles,
    cat: Catalogue,
    hs: HistorySheet,
    d: RollupSheetData,
    r: int,
    data: int,
) -> None:
    """A line per count indicator of the unit over the periods (its own scale each: a population and a count of
    cases do not share an axis), drawn from the table above (its numbers from the rows from `data`: no point where
    it has none); two a row, from row `r` (its heading)."""
    ws.merge_range(r, 0, r, len(WIDTHS) - 1, f"2. Xu hướng: {d.unit.name}", st.bold)
    offset = len(WIDTHS) - len(hs.periods)
    head = r - len(hs.indicators) - 2  # the table's header row (written just before)
    font = {"name": "Times New Roman"}
    for n, ind_id in enumerate(hs.counts):
        i = hs.indicators.index(ind_id)
        ind = next(x for x in cat.indicators if x.id == ind_id)
        chart = fast_chart(wb.add_chart({"type": "line"}))
        chart.add_series(
            {
                "name": ind.name_vi,
                "categories": [COMPARISON, head, offset, head, len(WIDTHS) - 1],
                "values": [COMPARISON, data + i, offset, data + i, len(WIDTHS) - 1],
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
        chart.show_blanks_as("gap")  # a period the history cannot give is no point, never a 0
        chart.show_hidden_data()
        chart.set_size({"width": CHART_W, "height": CHART_H})
        x = 0 if n % 2 == 0 else CHART_W + 10
        ws.insert_chart(r + 1 + (n // 2) * ROWS_PER_CHART, 0, chart, {"x_offset": x, "y_offset": 4})


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
