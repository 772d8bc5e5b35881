"""Every number a workbook prints fits its column: a number wider than its column prints as '###' in Excel and
LibreOffice (a city's fines, 1,892,500,000 đồng, printed '###' in Biểu 4, in the sheet by unit and on the
comparison sheet of Hà Nội's 2025-H1 workbook)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from ctstat.cli.commands import app
from ctstat.job.compare import history_lookup
from ctstat.job.history import COLUMNS, History, Source
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import RESULT_SHEET, form_layout
from ctstat.model.period import Period
from ctstat.model.sheets import COMPARISON
from ctstat.pipeline import collect_inputs, rollup_paths

from .conftest import MakeForm

FINE = cell_key("VP03", TOTAL, TOTAL)
BIG = 999_999_999  #: a ward's fines in đồng: two of them make a district's 1,999,999,998


def _text_px(value: float, fmt: str) -> float:
    """Pixels the number takes as Times New Roman 11 shows it in `fmt` (#,##0 or #,##0.00): a digit half an em
    (7.33 px at 96 dpi), a comma or point a quarter, a minus two thirds of a digit."""
    decimals = len(fmt.split(".")[1]) if "." in fmt else 0
    text = f"{abs(value):,.{decimals}f}"
    digits = sum(ch.isdigit() for ch in text)
    return 7.33 * digits + 3.67 * (len(text) - digits) + (4.9 if value < 0 else 0)


def _too_narrow(book: Path, sheets: list[str] | None = None) -> list[str]:
    """Every number cell of `book` (but its hidden data sheet) whose number is wider than its column, less the
    cell's padding (a column `w` characters wide is 7w + 5 px)."""
    wb = load_workbook(book)
    bad = []
    for ws in wb.worksheets:
        if ws.sheet_state != "visible" or (sheets is not None and ws.title not in sheets):
            continue
        for row in ws.iter_rows():
            for c in row:
                if (
                    type(c.value) not in (int, float)
                    or "#,##0" not in c.number_format
                    or c.coordinate in ws.merged_cells
                ):
                    continue
                width = _width(ws, c.column)
                if _text_px(c.value, c.number_format) + 6 > 7 * width + 5:
                    bad.append(f"{ws.title}!{c.coordinate}={c.value:,} (width {width:.1f})")
    return bad


def _width(ws: Any, col: int) -> float:
    """Column `col`'s width (openpyxl keeps a run of equal columns under its first letter)."""
    for dim in ws.column_dimensions.values():
        if dim.customWidth and dim.min <= col <= dim.max:
            return float(dim.width)
    return 8.43


@pytest.fixture
def big_district(make_form: MakeForm, catalogue: Catalogue, tmp_path: Path) -> Path:
    """Two wards of Quận Hoàng Mai that fined 999,999,999 đồng each (one case, one offender: a valid form); the
    others make the district whole."""
    wards = tmp_path / "wards"
    inputs = form_layout(catalogue).inputs()
    case = next(k for k in inputs if k.startswith("VP01/"))
    offender = next(k for k in inputs if k.startswith("VP02/"))
    fined = {FINE: BIG, case: 1, offender: 1}
    for code in ["00301", "00304", "00307", "00310", "00313", "00316", "00319"]:
        make_form(unit=code, changes=fined if code in ("00301", "00304") else {}, name=f"wards/{code}.xlsx")
    for code in ["00322", "00325", "00328", "00331", "00334", "00337", "00340"]:
        make_form(unit=code, name=f"wards/{code}.xlsx")
    return wards


def test_a_district_with_large_fines_prints_every_number_whole(
    big_district: Path, catalogue: Catalogue, tmp_path: Path
) -> None:
    result = rollup_paths([big_district], "2025-H1", tmp_path / "out", catalogue=catalogue)
    assert not result.refused and not result.partial
    [book] = result.outputs
    assert any(
        isinstance(c.value, float | int) and c.value >= 2 * BIG
        for row in load_workbook(book)["Biểu 4"].iter_rows()
        for c in row
    )
    assert _too_narrow(book) == []


def test_a_city_over_such_a_district_prints_every_number_whole(
    big_district: Path, catalogue: Catalogue, tmp_path: Path
) -> None:
    district = rollup_paths([big_district], "2025-H1", tmp_path / "d", catalogue=catalogue)
    city = rollup_paths(district.outputs, "2025-H1", tmp_path / "c", catalogue=catalogue, unit="01", allow_partial=True)
    book = next(p for p in city.outputs if "_01_" in p.name)
    assert _too_narrow(book) == []


def test_a_marked_up_copy_shows_a_wards_large_number_whole(
    make_form: MakeForm, catalogue: Catalogue, tmp_path: Path
) -> None:
    """A ward's own value, in the copy rebuilt from the catalogue (with a fault elsewhere so that it is made)."""
    first = form_layout(catalogue).inputs()[0]
    form = make_form(changes={FINE: 12_345_678_901, first: -1})
    out = CliRunner().invoke(app, ["validate", str(form), "--annotate", str(tmp_path / "kt")])
    assert out.exit_code == 1, out.output
    [copy] = (tmp_path / "kt").iterdir()
    wb = load_workbook(copy)
    assert wb.sheetnames[0] == RESULT_SHEET
    assert _too_narrow(copy, [s for s in wb.sheetnames if s.startswith("Biểu")]) == []


def test_the_comparison_sheet_shows_large_fines_whole(big_district: Path, catalogue: Catalogue, tmp_path: Path) -> None:
    """The periods' columns of "So sánh các kỳ" (a history of the same wards' fines in 2021-2024 H1)."""
    now = collect_inputs([big_district], catalogue, Period.parse("2025-H1")).values_of
    rows = [
        (unit, "2025-06-30", f"{year}-H1", cell, float(v), "t")
        for year in (2021, 2022, 2023, 2024)
        for unit, cells in sorted(now.items())
        for cell, v in cells.dropna().items()
    ]
    folder = tmp_path / "h"
    History(folder).add(pd.DataFrame(rows, columns=COLUMNS), [Source("t", "table", "t.csv")])
    lookup = history_lookup(History(folder), catalogue)
    result = rollup_paths([big_district], "2025-H1", tmp_path / "out", catalogue=catalogue, history=lookup)
    [book] = result.outputs
    assert COMPARISON in load_workbook(book).sheetnames
    assert _too_narrow(book, [COMPARISON]) == []
