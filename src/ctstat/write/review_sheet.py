"""The review chain inside a rollup workbook: the corrections its numbers include, and every signed record of the
district's chain, one per row, as canonical JSON a city reads back and verifies offline (`check/approval.py`).

Both sheets are protected and inert like every sheet ctstat writes; the records are text (never formulas)."""

from __future__ import annotations

from collections.abc import Sequence

import xlsxwriter

from ctstat.model.records import APPROVAL_HEADER, APPROVAL_SHEET, CORRECTIONS_SHEET, Record
from ctstat.write import inert
from ctstat.write.form import Styles, print_setup, protect

KIND_VI = {
    "seen": "đã nhận",
    "correct": "sửa ô",
    "send-back": "trả lại",
    "approve": "duyệt",
    "reopen": "mở lại",
    "approve-rollup": "duyệt báo cáo tổng hợp",
    "reopen-rollup": "mở lại báo cáo tổng hợp",
}


def write_review_sheets(wb: xlsxwriter.Workbook, st: Styles, records: Sequence[Record]) -> None:
    _corrections(wb, st, [r for r in records if r.kind == "correct"])
    _records(wb, st, records)


def _corrections(wb: xlsxwriter.Workbook, st: Styles, fixes: Sequence[Record]) -> None:
    ws = wb.add_worksheet(CORRECTIONS_SHEET)
    head = ["STT", "Xã, phường", "Ô", "Giá trị trong tệp", "Giá trị được dùng", "Người sửa", "Lúc", "Lý do"]
    ws.merge_range(0, 0, 0, len(head) - 1, "CÁC Ô ĐƯỢC CẤP TRÊN SỬA (TỆP CỦA XÃ KHÔNG BỊ SỬA)", st.title)
    for col, width in enumerate((5, 10, 14, 16, 16, 24, 17, 50)):
        ws.set_column(col, col, width)
    for i, h in enumerate(head):
        ws.write(2, i, h, st.head)
    if not fixes:
        ws.merge_range(3, 0, 3, len(head) - 1, "Không có ô nào được sửa.", st.cell)
    r = 3
    for rec in fixes:
        for fix in rec.covers.corrections:
            old = fix.old if isinstance(fix.old, (int, float)) else inert.text(str(fix.old or ""))
            when = rec.at[:16].replace("T", " ")
            row = [r - 2, rec.unit, fix.where, old, fix.new, inert.text(rec.who), when, inert.text(rec.why)]
            for c, v in enumerate(row):
                ws.write(r, c, v, st.cell)
            r += 1
    protect(ws)
    print_setup(ws, len(head))


def _records(wb: xlsxwriter.Workbook, st: Styles, records: Sequence[Record]) -> None:
    ws = wb.add_worksheet(APPROVAL_SHEET)
    head = ["STT", "Việc", "Đơn vị", "Người ký", "Lúc", "Lý do", "Bản ghi có chữ ký (JSON)"]
    assert len(head) == len(APPROVAL_HEADER)
    ws.merge_range(0, 0, 0, 5, "CHUỖI PHÊ DUYỆT (BẢN GHI CÓ CHỮ KÝ SỐ)", st.title)
    note = "Cột G (ẩn) giữ từng bản ghi có chữ ký số; cấp trên kiểm tra bằng ctstat rollup --signer."
    ws.merge_range(1, 0, 1, 5, note, st.cell)
    for col, width in enumerate((5, 22, 8, 24, 17, 50)):
        ws.set_column(col, col, width)
    ws.set_column(6, 6, 60, None, {"hidden": True})  # for machines: not printed
    for i, h in enumerate(head):
        ws.write_string(2, i, h, st.head)
    for n, rec in enumerate(records):
        when = rec.at[:16].replace("T", " ")
        row = [str(rec.seq), KIND_VI.get(rec.kind, rec.kind), rec.unit, rec.who, when, rec.why]
        for c, v in enumerate(row):
            ws.write_string(3 + n, c, inert.text(v), st.cell)
        ws.write_string(3 + n, 6, rec.to_json())
    protect(ws)
    print_setup(ws, 6)
