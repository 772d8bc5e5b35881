from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import COVER, form_layout
from ctstat.pipeline import make_template
from ctstat.read.workbook import read_submission

from .conftest import MakeForm


@pytest.mark.parametrize(
    ("unit", "period", "parent"),
    [
        ("00301", "2025-H1", "008 - Quận Hoàng Mai"),  # pre-reform: ward -> district
        ("00331", "2025-H2", "01 - Thành phố Hà Nội"),  # post-reform: commune -> province
        ("26732", "2026", "79 - Thành phố Hồ Chí Minh"),  # a đặc khu (Côn Đảo)
    ],
)
def test_template_for_a_commune_of_each_vintage(
    tmp_path: Path, catalogue: Catalogue, unit: str, period: str, parent: str
) -> None:
    path = make_template(unit, period, tmp_path / "f.xlsx", catalogue)
    sub = read_submission(path, catalogue)
    assert sub.issues == []
    assert sub.cover["unit_code"] == unit
    assert sub.cover["parent"] == parent
    assert sub.cover["template_version"] == catalogue.template_version
    assert all(v is None or v == 0 for v in sub.raw)  # blank inputs; totals computed as 0


def test_template_refuses_what_is_not_a_commune(tmp_path: Path, catalogue: Catalogue) -> None:
    with pytest.raises(UsageError, match="is a quận/huyện"):
        make_template("008", "2025-H1", tmp_path / "f.xlsx", catalogue)
    with pytest.raises(UsageError, match="not a commune"):
        make_template("99999", "2025-H1", tmp_path / "f.xlsx", catalogue)
    with pytest.raises(UsageError, match="spans more than one"):
        make_template("00301", "2025", tmp_path / "f.xlsx", catalogue)
    assert make_template("00301", "2025", tmp_path / "f.xlsx", catalogue, units="2025-06-30").exists()


def test_form_filled_programmatically_reads_back_to_the_same_numbers(make_form: MakeForm, catalogue: Catalogue) -> None:
    from ctstat.model.period import Period
    from ctstat.model.units import load_units
    from ctstat.write.synth import synth_values

    path = make_form("00304")
    values = synth_values(catalogue, load_units("2025-06-30").get("00304"), Period.parse("2025-H1"))  # type: ignore[arg-type]
    layout = form_layout(catalogue)
    sub = read_submission(path, catalogue)
    read = dict(zip(layout.keys, sub.raw, strict=True))
    for key, value in values.items():
        expected = ("Có" if value else "Không") if key.startswith("VH03") else float(value)
        assert read[key] == expected, key
    # totals are formulas whose cached values are the sums of their parts
    assert sub.formula_keys == set(layout.formulas)
    assert not sub.nocache_keys
    total = read[cell_key("TE01", TOTAL, TOTAL)]
    assert total == sum(
        read[cell_key("TE01", a, f"sex:{s}")] for a in ("0-2", "3-5", "6-10", "11-15") for s in ("nam", "nu")
    )


def test_inputs_are_unlocked_validated_and_the_structure_protected(make_form: MakeForm, catalogue: Catalogue) -> None:
    wb = load_workbook(make_form())
    layout = form_layout(catalogue)
    assert wb.sheetnames == [COVER, "Hướng dẫn", *(s.name for s in catalogue.sheets)]
    ws = wb["Biểu 1"]
    assert ws.protection.sheet
    sheet, cell = layout.address(cell_key("TE01", "0-2", "sex:nam"))
    assert not ws[cell].protection.locked
    sheet, total = layout.address(cell_key("TE01", TOTAL, TOTAL))
    assert ws[total].protection.locked and str(ws[total].value).startswith("=SUM(")
    rules = {dv.type: dv.sqref for dv in ws.data_validations.dataValidation}
    assert cell in rules["whole"] and total not in rules["whole"]  # every input cell, and only those
    assert ws["B9"].value == "TE01" and ws["B11"].value == "TE01.01"
    assert [ws.cell(8, c).value for c in range(1, 7)] == ["A", "B", "C", "1", "2", "3"]


def test_same_inputs_give_identical_bytes(make_form: MakeForm, tmp_path: Path) -> None:
    a = make_form(name="a.xlsx").read_bytes()
    b = make_form(name="b.xlsx").read_bytes()
    assert a == b


def test_a_crash_while_writing_leaves_no_file(
    tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xlsxwriter

    def boom(self: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(xlsxwriter.Workbook, "close", boom)
    with pytest.raises(OSError, match="disk full"):
        make_template("00301", "2025-H1", tmp_path / "f.xlsx", catalogue)
    assert list(tmp_path.iterdir()) == []  # neither the form nor a temporary file


def test_an_element_s_rows_are_never_split_from_their_header_in_print(catalogue: Catalogue, tmp_path: Path) -> None:
    """Biểu 2 holds HC01 and HC02, 14 groups each: HC02 starts a printed page (its header rows repeat) instead of
    leaving its total row at the foot of HC01's page; shorter sheets get no break."""
    import zipfile

    from ctstat.write.form import paginate

    layout = form_layout(catalogue)
    sheet = layout.sheet("Biểu 2")
    hc02 = next(r.row for r in sheet.rows if r.element == "HC02") - 1  # 0-based
    assert paginate(sheet, {}, [50, 9, 9, 10, 10, 10]) == [hc02]
    assert paginate(layout.sheet("Biểu 1"), {}, [50, 9, 9, 10, 10, 10]) == []
    path = make_template("00301", "2025-H1", tmp_path / "f.xlsx", catalogue)
    index = [s.name for s in layout.sheets].index("Biểu 2") + 3  # 1-based, after the cover and the instructions
    xml = zipfile.ZipFile(path).read(f"xl/worksheets/sheet{index}.xml").decode()
    assert f'<brk id="{hc02}"' in xml


def test_printed_sheets_keep_their_page_breaks_in_excel_and_print_the_table_only(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """Excel ignores manual page breaks on a sheet set to fit to the page: the form's sheets print at a fixed
    scale instead, over the table and its signatures only, and the unit lines above the table are held in cells
    wide enough for them (text running past the table was cut, or printed on a page of its own)."""
    from ctstat.write.form import PAGE_WIDTH_PT, page_scale, signature_edge

    assert page_scale([42, 9, 8] + [8] * 12) * 870 / 100 <= PAGE_WIDTH_PT * 0.9  # 870 pt of Calibri columns
    assert page_scale([50, 9, 9, 10, 10, 10]) == 100
    path = make_template("00301", "2025-H1", tmp_path / "f.xlsx", catalogue)
    wb = load_workbook(path)
    for sheet in form_layout(catalogue).sheets:
        ws = wb[sheet.name]
        assert not ws.sheet_properties.pageSetUpPr.fitToPage, sheet.name
        assert 60 <= (ws.page_setup.scale or 100) <= 100
        edge = signature_edge(sheet.last_col - 1) + 1  # the table's last column, or the signatures' beside it
        assert ws.print_area == f"'{sheet.name}'!$A$1:${'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[edge - 1]}${ws.max_row}"
        width = {c: d.width for d in ws.column_dimensions.values() for c in range(d.min, d.max + 1)}
        for row in (1, 2):
            merged = next(m for m in ws.merged_cells.ranges if m.min_row == row and m.max_col == edge)
            cell = ws.cell(row, merged.min_col)
            room = sum(width.get(c, 8.43) for c in range(merged.min_col, edge + 1))
            assert str(cell.value).startswith("Đơn vị"), (sheet.name, cell.value)
            lines = 1 if room >= len(str(cell.value)) else -(-len(str(cell.value)) // int(room))
            assert lines == 1 or (cell.alignment.wrap_text and ws.row_dimensions[row].height >= 15 * lines), (
                sheet.name,
                cell.value,
                room,
            )


def test_a_long_cover_title_is_two_even_lines_not_a_word_alone(tmp_path: Path, catalogue: Catalogue) -> None:
    """The 14-pt title wrapped by the spreadsheet program left 'XÃ' alone on its second line: it is broken into two
    even lines (b31's renders)."""
    import python_calamine

    from ctstat.write.form import balanced_lines

    assert balanced_lines("MỘT HAI BA BỐN NĂM") == "MỘT HAI\nBA BỐN NĂM"
    assert balanced_lines("MỘT") == "MỘT"
    out = make_template("00301", "2025-H1", tmp_path / "f.xlsx", catalogue)
    cover = python_calamine.CalamineWorkbook.from_path(str(out)).get_sheet_by_index(0).to_python()
    assert cover[1][0] == "BÁO CÁO THỐNG KÊ TÌNH HÌNH TRẺ EM\nVÀ TÌNH HÌNH XÂM HẠI TRẺ EM CẤP XÃ"
