"""The reading of a workbook pinned to exact issues: what the guard sees of hidden sheets and rows, however a
program writes them (found by mutating read/guard.py and read/workbook.py by hand: these went through the rest of
the suite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctstat.model.catalogue import Catalogue
from ctstat.pipeline import validate_paths

from .conftest import MakeForm
from .faults import patch_zip, sheet_member


def _rewrite(path: Path, member: str, old: bytes, new: bytes) -> None:
    def change(xml: bytes) -> bytes:
        assert old in xml
        return xml.replace(old, new, 1)

    patch_zip(path, member, change)


def _found(path: Path, catalogue: Catalogue) -> list[tuple[str, str, str | None, str | None]]:
    report = validate_paths([path], catalogue)
    return [(i.code, str(i.severity), i.sheet, i.cell) for i in report.issues]


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_a_form_sheet_hidden_either_way_is_a_warning(make_form: MakeForm, catalogue: Catalogue, state: str) -> None:
    """A sheet 'very hidden' (only a macro or the XML shows it again) hides its data as much as a hidden one."""
    path = make_form()
    name = '<sheet name="Biểu 5"'.encode()
    _rewrite(path, "xl/workbook.xml", name, name + f' state="{state}"'.encode())
    assert _found(path, catalogue) == [("hidden-data", "warning", "Biểu 5", None)]
    visible = make_form(name="visible.xlsx")
    _rewrite(visible, "xl/workbook.xml", name, name + b' state="visible"')
    assert _found(visible, catalogue) == []


@pytest.mark.parametrize("flag", ["1", "true"])
def test_a_hidden_row_is_seen_however_it_is_written(make_form: MakeForm, catalogue: Catalogue, flag: str) -> None:
    """hidden="1" (Excel) and hidden="true" (the XML schema's other spelling) both hide row 12; hidden="0" does
    not."""
    for value, want in ((flag, [("hidden-data", "warning", "Biểu 1", "A12")]), ("0", [])):
        path = make_form(name=f"row-{value}.xlsx")
        _rewrite(path, sheet_member(path, "Biểu 1"), b'<row r="12"', f'<row r="12" hidden="{value}"'.encode())
        assert _found(path, catalogue) == want, value


def test_a_row_code_of_the_form_found_twice_is_a_copy_not_a_code_the_form_lacks(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """VP02.02's code edited into VP02.01 (the row above's): VP02.02 is missing (the root cause, an error), and row
    13 is said to be a copy of row 12, whose data are read; it was said to hold 'a code not part of the form'."""
    from ctstat.model.keys import TOTAL, cell_key
    from ctstat.model.layout import form_layout
    from ctstat.read.workbook import read_submission

    ind, org = cell_key("VP02", "ca-nhan", TOTAL), cell_key("VP02", "to-chuc", TOTAL)
    path = make_form(changes={ind: 5, org: 2, cell_key("VP01", TOTAL, TOTAL): 4})
    _rewrite(path, "xl/sharedStrings.xml", b"<t>VP02.02</t>", b"<t>VP02.01</t>")
    report = validate_paths([path], catalogue)
    assert [(i.code, i.severity.value, i.sheet, i.cell, i.message("vi")) for i in report.issues] == [
        (
            "missing-row",
            "error",
            "Biểu 4",
            "B13",
            "Không tìm thấy dòng mã số VP02.02 (Tổ chức) ở cột Mã số. Không xóa, chèn hay sửa mã số của dòng.",
        ),
        (
            "repeated-row",
            "warning",
            "Biểu 4",
            "B13",
            "Mã số 'VP02.01' đã có ở dòng 12: dòng này là bản sao, số liệu ở dòng này không được đọc. Xóa dòng "
            "thừa, ghi số liệu vào dòng 12.",
        ),
    ]
    assert report.issues[1].message("en") == (
        "Row code 'VP02.01' is already at row 12: this row is a copy and its data are not read. Delete the extra row "
        "and enter the data at row 12."
    )
    raw = dict(zip(form_layout(catalogue).keys, read_submission(path, catalogue).raw, strict=True))
    assert (raw[ind], raw[org]) == (5, None)  # the first VP02.01 read; VP02.02 not found


def test_the_first_cell_of_a_merged_range_is_still_read_and_judged(make_form: MakeForm, catalogue: Catalogue) -> None:
    """E11:F12 merged hides F11, E12 and F12 (one merged-cells error, those not judged), but E11 keeps its value:
    a negative count typed there is still reported."""
    from ctstat.model.keys import cell_key

    path = make_form(changes={cell_key("TE01", "0-2", "sex:nam"): -3})

    def merge(xml: bytes) -> bytes:
        if b"</mergeCells>" in xml:
            return xml.replace(b"</mergeCells>", b'<mergeCell ref="E11:F12"/></mergeCells>')
        return xml.replace(
            b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="E11:F12"/></mergeCells>'
        )

    patch_zip(path, sheet_member(path, "Biểu 1"), merge)
    report = validate_paths([path], catalogue)
    assert [(i.code, i.cell, i.value) for i in report.issues] == [
        ("merged-cells", "E11", "E11:F12"),
        ("negative-value", "E11", "-3"),
    ]


@pytest.mark.parametrize("ref", ["A0", "E0", "CZ1000", "DA1000"])
@pytest.mark.parametrize("value", ["><v>5</v>", ' t="inlineStr"><is><t>5</t></is>', "><f>1+1</f>"])
def test_a_cell_outside_the_forms_extent_with_data_is_refused_where_it_is(
    make_form: MakeForm, catalogue: Catalogue, ref: str, value: str
) -> None:
    """Row 0 does not exist, nor row 1000 or column DA in a form: a number, a text written in the cell or a formula
    there is refused at its reference (the reader is never given it), not read somewhere or dropped."""
    path = make_form()
    row = ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    extra = f'<row r="{row}"><c r="{ref}"{value}</c></row>'.encode()

    def add(xml: bytes) -> bytes:
        if row == "0":  # rows in order: row 0 first
            return xml.replace(b"<sheetData>", b"<sheetData>" + extra, 1)
        return xml.replace(b"</sheetData>", extra + b"</sheetData>", 1)

    patch_zip(path, sheet_member(path, "Biểu 1"), add)
    assert _found(path, catalogue) == [("data-outside-form", "error", "Biểu 1", ref)]


def test_a_merge_over_a_moved_row_hides_the_cells_that_moved_there(make_form: MakeForm, catalogue: Catalogue) -> None:
    """Rows TE01.01 and TE01.02 swapped, then E11:F11 merged (F11, now TE01.02's girls, emptied by the merge): one
    merged-cells error, and F11 is not also a blank cell (what the merge hides is judged where the rows moved)."""
    import re

    from .test_validate import _swap_shared_strings

    path = make_form()
    _swap_shared_strings(path, b"TE01.01", b"TE01.02")

    def merge(xml: bytes) -> bytes:
        xml = re.sub(rb'<c r="F11"([^>]*)>.*?</c>', rb'<c r="F11"\1/>', xml, count=1)
        if b"</mergeCells>" in xml:
            return xml.replace(b"</mergeCells>", b'<mergeCell ref="E11:F11"/></mergeCells>')
        return xml.replace(
            b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="E11:F11"/></mergeCells>'
        )

    patch_zip(path, sheet_member(path, "Biểu 1"), merge)
    assert _found(path, catalogue) == [
        ("moved-row", "warning", "Biểu 1", "B11"),
        ("merged-cells", "error", "Biểu 1", "E11"),
        ("moved-row", "warning", "Biểu 1", "B12"),
    ]


def test_a_row_of_another_sheet_pasted_into_a_sheet_is_said_not_ignored(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """Biểu 2's row HC01.03 pasted over Biểu 1's TE01.03: its code is the form's, so it was neither read nor
    reported (codes were looked up across every sheet). It is now a warning naming the sheet the row belongs to,
    beside the missing row's error."""
    path = make_form()
    _rewrite(path, "xl/sharedStrings.xml", b"<t>TE01.03</t>", b"<t>HC01.03</t>")
    report = validate_paths([path], catalogue)
    got = [(i.code, i.severity.value, i.sheet, i.cell) for i in report.issues]
    assert ("missing-row", "error", "Biểu 1", "B13") in got
    other = [i for i in report.issues if i.code == "row-of-other-sheet"]
    assert [(i.severity.value, i.sheet, i.cell, i.message("vi")) for i in other] == [
        (
            "warning",
            "Biểu 1",
            "B13",
            "Mã số 'HC01.03' là một dòng của trang 'Biểu 2', không phải của trang này: số liệu ở dòng này không được "
            "đọc. Ghi số liệu vào dòng 'HC01.03' trên trang 'Biểu 2', rồi xóa dòng này.",
        )
    ]
    assert not [i for i in report.issues if i.code == "unknown-row"]
