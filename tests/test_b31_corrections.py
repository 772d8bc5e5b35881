"""A signed workbook's "Sửa số liệu" sheet lists the corrections its numbers include, and only those: a
correction of a file the ward has since replaced, or of a cell corrected again, is said apart ("KHÔNG áp dụng"),
never as a "Giá trị được dùng" (it listed a correction of 00301's replaced file as the value used). The sources
sheet says which file used was corrected."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import openpyxl

from ctstat.job.config import JobConfig
from ctstat.job.review import Action, act
from ctstat.job.run import run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.records import APPROVAL_SHEET, CORRECTIONS_SHEET
from ctstat.model.sheets import COVER
from ctstat.write.rollup_book import PROVENANCE

from .conftest import MakeForm
from .test_review import CELL, HM, WHEN, WHERE, Job, arrive_all, make_job, meant

NOT_APPLIED = "Các lần sửa KHÔNG áp dụng cho số liệu của báo cáo này (vẫn có trong chuỗi phê duyệt)"


def _sheets(cfg: JobConfig) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The corrections in force, those not, and the sources sheet's rows, of the district's workbook."""
    (book,) = (cfg.out / "tong-hop").glob("2025-H1_008_*.xlsx")
    wb = openpyxl.load_workbook(book)
    rows = [r for r in wb[CORRECTIONS_SHEET].iter_rows(values_only=True) if any(v is not None for v in r)]
    split = next((i for i, r in enumerate(rows) if r[0] == NOT_APPLIED), len(rows))
    sources = [r for r in wb[PROVENANCE].iter_rows(values_only=True) if isinstance(r[0], int)]
    return rows[2:split], rows[split + 2 :], sources


def _cover_notes(cfg: JobConfig) -> list[str]:
    (book,) = (cfg.out / "tong-hop").glob("2025-H1_008_*.xlsx")
    ws = openpyxl.load_workbook(book)[COVER]
    return [str(r[1]) for r in ws.iter_rows(values_only=True) if r[0] is None and isinstance(r[1], str)]


def _approve_and_write(cfg: JobConfig, catalogue: Catalogue, job: Job, wards: list[str]) -> None:
    _, a, _ = job
    run_job(cfg, catalogue, now=WHEN)
    for w in wards:
        act(cfg, catalogue, a, Action("approve", w), WHEN)
    run_job(cfg, catalogue, now=WHEN)
    act(cfg, catalogue, a, Action("approve-rollup", "008"), WHEN)
    run_job(cfg, catalogue, now=WHEN)


def test_the_corrections_sheet_lists_what_the_numbers_include(
    cfg: JobConfig, catalogue: Catalogue, make_form: MakeForm, tmp_path: Path
) -> None:
    job = make_job(cfg, tmp_path)
    cfg, a, b = job
    arrive_all(cfg, but="00301")
    value = meant(catalogue)
    shutil.copyfile(make_form(unit="00301", changes={CELL: f"{value:g} trẻ"}), cfg.inbox / "00301.xlsx")
    run_job(cfg, catalogue, now=WHEN)
    act(cfg, catalogue, b, Action("correct", "00301", why="Xã xác nhận", cell=WHERE, value=value + 1), WHEN)
    act(cfg, catalogue, a, Action("correct", "00301", why="Gọi lại lần 2", cell=WHERE, value=value), WHEN)
    _approve_and_write(cfg, catalogue, job, sorted(p.name[:5] for p in HM.glob("*.xlsx")))
    applied, not_applied, sources = _sheets(cfg)
    # the cell's last correction is the value used; the first is in the chain, not in the numbers
    ward = "00301 Phường Thanh Trì"  # its code and name
    assert [(r[1], r[2], r[4], r[7]) for r in applied] == [(ward, WHERE, value, "Gọi lại lần 2")]
    assert [(r[1], r[2], r[4], r[7]) for r in not_applied] == [(ward, WHERE, "ô được sửa lại sau đó", "Xã xác nhận")]
    assert [r[8] for r in sources if r[3] == "00301"] == ["Có, sửa 1 ô"]
    assert any(n.startswith("Số liệu gồm 1 ô của 1 xã, phường do cấp trên sửa") for n in _cover_notes(cfg))
    assert {r[8] for r in sources if r[3] != "00301"} == {"Có"}

    # the ward sends its own corrected file: no correction is in the numbers any more
    act(cfg, catalogue, a, Action("reopen-rollup", "008", why="Phường gửi lại"), WHEN)
    act(cfg, catalogue, a, Action("reopen", "00301", why="Phường gửi lại"), WHEN)
    (cfg.inbox / "00301.xlsx").unlink()
    shutil.copyfile(make_form(unit="00301", name="00301-lan-2.xlsx"), cfg.inbox / "00301-lan-2.xlsx")
    _approve_and_write(cfg, catalogue, job, ["00301"])
    applied, not_applied, sources = _sheets(cfg)
    assert applied == [("Không có ô nào được sửa.", *[None] * 7)]
    assert [(r[4], r[7]) for r in not_applied] == [
        ("tệp đã được thay bằng tệp khác", "Xã xác nhận"),
        ("tệp đã được thay bằng tệp khác", "Gọi lại lần 2"),
    ]
    assert {r[8] for r in sources} == {"Có"}
    notes = _cover_notes(cfg)
    assert not any("do cấp trên sửa" in n for n in notes) and any(n.startswith("Trang Phê duyệt") for n in notes)


def test_a_long_reason_gets_a_row_tall_enough(tmp_path: Path) -> None:
    """A reason of up to 500 characters wraps in its column: the row grows with it (it was one line high, the
    wrapped text printed over the next row)."""
    import xlsxwriter

    from ctstat.model.records import Correction, Covers, Record
    from ctstat.write.form import Styles
    from ctstat.write.review_sheet import write_review_sheets

    why = "Xã xác nhận qua điện thoại ngày 8/7 với cán bộ phụ trách: " + "số liệu gõ nhầm dấu âm, đúng là 5. " * 8
    fix = Correction("TE01/0-2/sex:nam", "Biểu 1!E11", -5.0, 5.0)
    rec = Record("2025-H1/008", 1, "", "correct", "2025-H1", "00301", "Nguyễn Văn A", "2025-07-10T09:00", why,
                 Covers(inputs={"00301": "ab" * 32}, corrections=(fix,)))  # fmt: skip
    wb = xlsxwriter.Workbook(tmp_path / "x.xlsx")
    write_review_sheets(wb, Styles(wb), [rec], {"ab" * 32}, {"00301": "Phường Thanh Trì"})
    wb.close()
    ws = openpyxl.load_workbook(tmp_path / "x.xlsx")[CORRECTIONS_SHEET]
    [row] = [r for r in range(1, ws.max_row + 1) if ws.cell(r, 8).value == why]
    assert ws.cell(row, 2).value == "00301 Phường Thanh Trì"
    per_line = 40  # characters of the reason's column, at least, on a line
    assert ws.row_dimensions[row].height >= 15 * (len(why) // (per_line * 1.15))
    chain = openpyxl.load_workbook(tmp_path / "x.xlsx")[APPROVAL_SHEET]
    [row] = [r for r in range(1, chain.max_row + 1) if chain.cell(r, 6).value == why]
    assert chain.row_dimensions[row].height >= 15 * (len(why) // (50 * 1.15))
    # both lists repeat their title and header on every printed page
    header = next(r for r in range(1, chain.max_row + 1) if chain.cell(r, 1).value == "STT")
    assert chain.print_title_rows == f"$1:${header}" == ws.print_title_rows
