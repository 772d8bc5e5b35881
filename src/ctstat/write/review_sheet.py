"""The review chain inside a rollup workbook: the corrections its numbers include, and every signed record of the
district's chain, one per row, as canonical JSON a city reads back and verifies offline (`check/approval.py`).

Both sheets are protected and inert like every sheet ctstat writes; the records are text (never formulas)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import xlsxwriter

from ctstat.model.records import APPROVAL_HEADER, APPROVAL_SHEET, CORRECTIONS_SHEET, Correction, Record
from ctstat.write import inert
from ctstat.write.form import Styles, print_setup, protect, wrapped_lines

KIND_VI = {
    "seen": "đã nhận",
    "correct": "sửa ô",
    "send-back": "trả lại",
    "approve": "duyệt",
    "reopen": "mở lại",
    "approve-rollup": "duyệt báo cáo tổng hợp",
    "reopen-rollup": "mở lại báo cáo tổng hợp",
}


WIDTHS = (5, 26, 12, 14, 16, 22, 17, 40)  #: the corrections sheet's columns: the ward (code and name) widest
CHAIN_WIDTHS = (5, 22, 8, 24, 17, 50)  #: the chain's sheet's printed columns (its JSON, hidden, after them)


def write_review_sheets(
    wb: xlsxwriter.Workbook,
    st: Styles,
    records: Sequence[Record],
    used: Collection[str] = (),
    names: Mapping[str, str] | None = None,
) -> None:
    """The corrections sheet and the chain's sheet; `used`: the SHA-256 of every file the workbook's numbers come
    from (a correction of another file is not in them); `names`: each ward's name by its code."""
    _corrections(wb, st, [r for r in records if r.kind == "correct"], used, names or {})
    _records(wb, st, records)


def corrections_in_force(
    fixes: Sequence[Record], used: Collection[str]
) -> tuple[list[tuple[Record, Correction]], list[tuple[Record, Correction, str]]]:
    """The corrections the numbers include: of a file used, the last of each cell; and the others, each with why
    it is not (its file was replaced by a later one, or the cell was corrected again)."""
    last: dict[tuple[str, str], int] = {}
    for n, rec in enumerate(fixes):
        for fix in rec.covers.corrections:
            last[(rec.covers.inputs.get(rec.unit, ""), fix.key)] = n
    applied: list[tuple[Record, Correction]] = []
    not_applied: list[tuple[Record, Correction, str]] = []
    for n, rec in enumerate(fixes):
        sha = rec.covers.inputs.get(rec.unit, "")
        for fix in rec.covers.corrections:
            if sha not in used:
                not_applied.append((rec, fix, "tệp đã được thay bằng tệp khác"))
            elif last[(sha, fix.key)] != n:
                not_applied.append((rec, fix, "ô được sửa lại sau đó"))
            else:
                applied.append((rec, fix))
    return applied, not_applied


def _corrections(
    wb: xlsxwriter.Workbook, st: Styles, fixes: Sequence[Record], used: Collection[str], names: Mapping[str, str]
) -> None:
    ws = wb.add_worksheet(CORRECTIONS_SHEET)
    head = ["STT", "Xã, phường", "Ô", "Giá trị trong tệp", "Giá trị được dùng", "Người sửa", "Lúc", "Lý do"]
    ws.merge_range(0, 0, 0, len(head) - 1, "CÁC Ô ĐƯỢC CẤP TRÊN SỬA (TỆP CỦA XÃ KHÔNG BỊ SỬA)", st.title)
    for col, width in enumerate(WIDTHS):
        ws.set_column(col, col, width)
    for i, h in enumerate(head):
        ws.write(2, i, h, st.head)
    applied, not_applied = corrections_in_force(fixes, used)
    if not applied:
        ws.merge_range(3, 0, 3, len(head) - 1, "Không có ô nào được sửa.", st.cell)
    r = 3
    for n, (rec, fix) in enumerate(applied, 1):
        _correction_row(ws, st, (r, n), rec, fix, fix.new, names)
        r += 1
    if not_applied:  # in the chain, not in the numbers: said apart, never as a value used
        r += 1 + (not applied)
        title = "Các lần sửa KHÔNG áp dụng cho số liệu của báo cáo này (vẫn có trong chuỗi phê duyệt)"
        ws.merge_range(r, 0, r, len(head) - 1, title, st.bold)
        for i, h in enumerate([*head[:4], "Không áp dụng vì", *head[5:]]):
            ws.write(r + 1, i, h, st.head)
        for n, (rec, fix, why_not) in enumerate(not_applied, 1):
            _correction_row(ws, st, (r + 1 + n, n), rec, fix, why_not, names)
    protect(ws)
    # one table: its title and header on every printed page (two: each has its own header)
    print_setup(ws, len(head), repeat=None if not_applied else (1, 3))


def _correction_row(
    ws: Any, st: Styles, at: tuple[int, int], rec: Record, fix: Correction, used: Any, names: Mapping[str, str]
) -> None:
    """Row `at[0]`, numbered `at[1]`: the ward, the cell, the value in the file and the value `used` (or why
    not), who, when and why."""
    r, n = at
    old = fix.old if isinstance(fix.old, (int, float)) else inert.text(str(fix.old or ""))
    when = rec.at[:16].replace("T", " ")
    ward = f"{rec.unit} {inert.text(names[rec.unit])}" if rec.unit in names else rec.unit
    row = [n, ward, fix.where, old, used, inert.text(rec.who), when, inert.text(rec.why)]
    for c, v in enumerate(row):
        ws.write(r, c, v, st.cell)
    # as tall as its longest wrapped text: the reason (up to 500 characters), the ward's name, why not applied
    lines = max(_lines(str(v), w) for v, w in zip(row, WIDTHS, strict=True))
    if lines > 1:
        ws.set_row(r, 15 * lines)


def _lines(text: str, width: int) -> int:
    """Lines `text` wraps to in a column `width` characters wide (Times New Roman: about 1.15 a character)."""
    return wrapped_lines(text, max(1, int(width * 1.15) - 1))


def _records(wb: xlsxwriter.Workbook, st: Styles, records: Sequence[Record]) -> None:
    ws = wb.add_worksheet(APPROVAL_SHEET)
    head = ["STT", "Việc", "Đơn vị", "Người ký", "Lúc", "Lý do", "Bản ghi có chữ ký (JSON)"]
    assert len(head) == len(APPROVAL_HEADER)
    ws.merge_range(0, 0, 0, 5, "CHUỖI PHÊ DUYỆT (BẢN GHI CÓ CHỮ KÝ SỐ)", st.title)
    note = "Cột G (ẩn) giữ từng bản ghi có chữ ký số; cấp trên kiểm tra bằng ctstat rollup --signer."
    ws.merge_range(1, 0, 1, 5, note, st.cell)
    for col, width in enumerate(CHAIN_WIDTHS):
        ws.set_column(col, col, width)
    ws.set_column(6, 6, 60, None, {"hidden": True})  # for machines: not printed
    for i, h in enumerate(head):
        ws.write_string(2, i, h, st.head)
    for n, rec in enumerate(records):
        when = rec.at[:16].replace("T", " ")
        row = [str(rec.seq), KIND_VI.get(rec.kind, rec.kind), rec.unit, rec.who, when, rec.why]
        for c, v in enumerate(row):
            ws.write_string(3 + n, c, inert.text(v), st.cell)
        lines = max(_lines(inert.text(v), w) for v, w in zip(row, CHAIN_WIDTHS, strict=True))
        if lines > 1:  # a long reason wraps: the row grows with it
            ws.set_row(3 + n, 15 * lines)
        ws.write_string(3 + n, 6, rec.to_json())
    protect(ws)
    print_setup(ws, 6, repeat=(1, 3))  # the title, the note and the header on every printed page
