"""A rolled-up "Biểu" sheet, the pages an official signs, says under its table what of it ctstat modelled (every
element and breakdown whose basis in the catalogue is not the circular): the ward's form says it on its
"Hướng dẫn" sheet, the report had nothing beside its tables (Biểu 4, wholly modelled, read as Circular 13's)."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from ctstat.model.catalogue import Catalogue
from ctstat.pipeline import rollup_paths

from .test_rollup import HOANG_MAI


def test_every_report_sheet_names_what_is_modelled_under_its_table(catalogue: Catalogue, tmp_path: Path) -> None:
    [book] = rollup_paths([HOANG_MAI], "2025-H1", tmp_path, catalogue=catalogue).outputs
    wb = openpyxl.load_workbook(book)
    said = 0
    for sheet in catalogue.sheets:
        ws = wb[sheet.name]
        codes = [e.code for e in sheet.elements if e.basis == "modelled"]
        mine = tuple(e.code for e in sheet.elements)
        last = max(r for r in range(1, ws.max_row + 1) if str(ws.cell(r, 2).value or "").startswith(mine))
        note = ws.cell(last + 1, 1).value  # the row below the table's last row (a "Mã số" of the sheet)
        if not codes:
            assert note is None or "mô hình hóa" not in str(note)
            continue
        assert str(note).startswith("* Do ctstat mô hình hóa, không phải quy định chính thức của Thông tư 13: ")
        assert f"chỉ tiêu {', '.join(codes)}" in str(note), note
        said += 1
    assert said >= 1
    # the ward's own form is unchanged: its "Hướng dẫn" sheet says it
    assert "Hướng dẫn" not in wb.sheetnames
