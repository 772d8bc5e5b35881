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
