"""A rolled-up report's form tables, the rows of its indicators and of its sheet by unit but their numbers, are
rendered once per process and spliced into each workbook (`write.blocks.RowsTemplate`, `BlockSheet.splice`,
`write.form._splice_table`, `write.rollup_book._by_unit_rows`, `_indicator_template`): every workbook must be, byte for
byte, the one written cell by cell, whatever its shape (a district's, a province's of districts, a province of
communes after 2025), its banner and its numbers."""

from __future__ import annotations

import gc
import io
import math
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xlsxwriter

from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.pipeline import rollup_paths
from ctstat.plan.plan import RollupSheetData
from ctstat.write import blocks, form, inert, rollup_book
from ctstat.write.blocks import BlockSheet, RowsTemplate, block_sheet

from .conftest import SAMPLES

HOANG_MAI = SAMPLES / "wards" / "2025-H1-hoang-mai"
LAI_CHAU = SAMPLES / "wards" / "2025-H2-lai-chau"


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> dict[str, RollupSheetData]:
    """The workbooks three rollups plan, by file name: Hoàng Mai's district (complete), Hà Nội's province and its
    districts from Hoàng Mai's wards alone (partial: banners, districts missing), Lai Châu after the 2025 reform
    (a province of communes, no district)."""
    seen: dict[str, RollupSheetData] = {}
    real = rollup_book.write_rollup

    def keep(path: Path, cat: Catalogue, d: RollupSheetData) -> tuple[Path, str]:
        seen[path.name] = d
        return real(path, cat, d)

    out = tmp_path_factory.mktemp("planned")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rollup_book, "write_rollup", keep)
        rollup_paths([HOANG_MAI], "2025-H1", out / "008", catalogue=catalogue)
        rollup_paths([HOANG_MAI], "2025-H1", out / "01", catalogue=catalogue, unit="01", allow_partial=True)
        rollup_paths([LAI_CHAU], "2025-H2", out / "12", catalogue=catalogue)
    levels = {d.unit.level for d in seen.values()}
    assert levels == {"district", "province"}, levels
    assert any(d.partial for d in seen.values()) and any(not d.partial for d in seen.values())
    assert any(d.children and d.children[0].level == "commune" and d.unit.level == "province" for d in seen.values())
    assert sum(np.isfinite(d.totals.to_numpy(float)).sum() > 50 for d in seen.values()) >= 3  # tables with numbers
    return seen


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _both(tmp_path: Path, catalogue: Catalogue, d: RollupSheetData, mp: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    """The workbook written as the rollup writes it (spliced, the data sheet's rows in one string each), and cell
    by cell (every splice and plain row refused, as for an infinite number)."""
    spliced, digest = rollup_book.write_rollup(tmp_path / "spliced.xlsx", catalogue, d)
    with mp.context() as m:
        m.setattr(BlockSheet, "splice", lambda *_: False)
        m.setattr(BlockSheet, "write_plain", lambda *_: False)
        plain, plain_digest = rollup_book.write_rollup(tmp_path / "plain.xlsx", catalogue, d)
    assert digest == plain_digest
    return spliced.read_bytes(), plain.read_bytes()


def _count_splices(mp: pytest.MonkeyPatch) -> list[bool]:
    done: list[bool] = []
    real = BlockSheet.splice

    def counted(self: BlockSheet, *args: Any) -> bool:
        done.append(real(self, *args))
        return done[-1]

    mp.setattr(BlockSheet, "splice", counted)
    return done


def test_every_planned_workbook_spliced_is_the_one_written_cell_by_cell(
    planned: dict[str, RollupSheetData], catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _count_splices(monkeypatch)
    plain_rows: list[bool] = []
    real = BlockSheet.write_plain

    def counted(self: BlockSheet, *args: Any) -> bool:
        plain_rows.append(real(self, *args))
        return plain_rows[-1]

    monkeypatch.setattr(BlockSheet, "write_plain", counted)
    sheets = len(form_layout(catalogue).sheets)
    for name, d in planned.items():
        done.clear()
        plain_rows.clear()
        spliced, plain = _both(tmp_path, catalogue, d, monkeypatch)
        assert done == [True] * (2 * sheets + 1), name  # each form sheet, the indicators, each group by unit
        assert plain_rows == [True] * (1 + len(rollup_book.data_rows(catalogue, d)[1])), name  # the data sheet
        assert spliced == plain, name


def _with_totals(d: RollupSheetData, change: dict[int, float]) -> RollupSheetData:
    totals = d.totals.copy()
    for i, v in change.items():
        totals.iloc[i] = v
    return replace(d, totals=totals)


@pytest.mark.parametrize(
    "change",
    [
        {0: math.nan, 3: 0.1, 5: -7.0, 8: 1e300, 13: 2 / 3, 21: -0.0, 34: 123456789012345.0},
        {1: math.inf},  # an error cell: that table written cell by cell, the others spliced
        {2: -math.inf, 40: math.nan},
    ],
)
def test_any_numbers_spliced_are_written_as_cell_by_cell(
    planned: dict[str, RollupSheetData],
    catalogue: Catalogue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[int, float],
) -> None:
    done = _count_splices(monkeypatch)
    for name, d in planned.items():
        changed = _with_totals(d, change)
        done.clear()
        spliced, plain = _both(tmp_path, catalogue, changed, monkeypatch)
        assert spliced == plain, name
        infinite = any(math.isinf(v) for v in change.values())
        assert (False in done) == infinite and True in done, name


def test_a_table_is_rendered_once_a_process_and_the_same_bytes_again(
    planned: dict[str, RollupSheetData], catalogue: Catalogue, tmp_path: Path
) -> None:
    layout = form_layout(catalogue)
    first = form._table_template(catalogue, layout, layout.sheets[0])
    assert form._table_template(catalogue, layout, layout.sheets[0])[0] is first[0]
    d = next(iter(planned.values()))
    a, _ = rollup_book.write_rollup(tmp_path / "a.xlsx", catalogue, d)
    b, _ = rollup_book.write_rollup(tmp_path / "b.xlsx", catalogue, d)
    assert a.read_bytes() == b.read_bytes()


def _scratch() -> tuple[Any, BlockSheet]:
    wb = xlsxwriter.Workbook(io.BytesIO(), {"in_memory": True})
    ws = block_sheet(wb, "S")
    return wb, ws


def test_a_template_refuses_what_it_cannot_render() -> None:
    wb, ws = _scratch()
    fmt = wb.add_format({"bold": True})
    RowsTemplate.start(ws)
    ws.write_formula(3, 0, "=1+2", fmt)
    with pytest.raises(ValueError, match="cannot be recorded"):
        RowsTemplate.record(ws, 0, {id(fmt): "bold"}, 0)
    wb, ws = _scratch()
    RowsTemplate.start(ws)
    ws.write_string(3, 0, "no format")
    with pytest.raises(ValueError, match="without a named format"):
        RowsTemplate.record(ws, 0, {}, 0)
    wb, ws = _scratch()
    RowsTemplate.start(ws)
    ws.write_string(1, 0, "above", wb.add_format())
    with pytest.raises(ValueError, match="start at 2"):
        RowsTemplate.record(ws, 2, {}, 0)


def test_a_splice_refuses_rows_already_written() -> None:
    wb, ws = _scratch()
    fmt = wb.add_format({"bold": True})
    RowsTemplate.start(ws)
    ws.write_string(2, 0, "label", fmt)
    ws.write_numbers(2, 1, [1.0, None, 2.0], fmt, blank=True)
    template = RowsTemplate.record(ws, 2, {id(fmt): "bold"}, 2)
    assert template.holes == (1, 2)
    wb2, ws2 = _scratch()
    fmt2 = wb2.add_format({"bold": True})
    ws2.write_string(2, 5, "there", fmt2)
    with pytest.raises(ValueError, match="already written"):
        ws2.splice(template, [fmt2], [1, 2])
    with pytest.raises(ValueError, match="values"):
        ws2.splice(template, [fmt2], [1])


def test_spliced_rows_are_the_rows_written_cell_by_cell_in_a_plain_sheet() -> None:
    """Below a sheet's own cells, a template's rows (texts, blanks, numbers, a merge, a row's height) give the
    XML xlsxwriter gives for the same rows written one cell at a time."""

    def fill(ws: Any, wb: Any, fmts: dict[str, Any], numbers: list[float | None]) -> None:
        ws.merge_range(4, 0, 4, 3, "Tiêu đề", fmts["head"])
        ws.set_row(5, 30)
        ws.write_string(5, 0, "Nhãn & <dòng>", fmts["label"])
        blocks.write_numbers(ws, 5, [1, 2, 3], numbers, [fmts["value"]] * 3)
        ws.write_blank(6, 2, None, fmts["label"])

    def book(splice: bool, numbers: list[float | None]) -> dict[str, bytes]:
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True})
        ws = block_sheet(wb, "S")
        fmts = {n: wb.add_format({"bold": n == "head", "num_format": "#,##0" if n == "value" else 0}) for n in _N}
        ws.write_string(0, 0, "Đầu trang", fmts["label"])
        if splice:
            ws.splice(_template(fill), [fmts[n] for n in _template(fill).slots], numbers)
        else:
            fill(ws, wb, fmts, numbers)
        wb.close()
        return {n: zipfile.ZipFile(buf).read(n) for n in zipfile.ZipFile(buf).namelist()}

    for numbers in ([1.0, 2.5, -3.0], [None, 0.0, math.nan], [None, None, None]):
        cleaned = [None if v is not None and v != v else v for v in numbers]
        assert book(True, cleaned) == book(False, cleaned)


_N = ("head", "label", "value")


def _template(fill: Any) -> RowsTemplate:
    wb, ws = _scratch()
    fmts = {n: wb.add_format({"bold": n == "head", "num_format": "#,##0" if n == "value" else 0}) for n in _N}
    RowsTemplate.start(ws)
    fill(ws, wb, fmts, [1.0, 2.0, 3.0])
    return RowsTemplate.record(ws, 1, {id(f): n for n, f in fmts.items()}, 3)


def test_a_written_workbook_leaves_nothing_for_the_cyclic_collector(
    planned: dict[str, RollupSheetData], catalogue: Catalogue, tmp_path: Path
) -> None:
    """A workbook's objects are freed as soon as it is written (its parts referred to one another: collecting
    them took a tenth of a rollup's writing), and closing it again writes nothing."""
    d = next(d for d in planned.values() if d.unit.level == "province")
    rollup_book.write_rollup(tmp_path / "warm.xlsx", catalogue, d)  # the templates made, kept for the process
    gc.collect()
    gc.disable()
    try:
        rollup_book.write_rollup(tmp_path / "a.xlsx", catalogue, d)
        assert gc.collect() == 0
    finally:
        gc.enable()
    wb = inert.workbook(tmp_path / "b.xlsx")
    wb.add_worksheet("S").write(0, 0, "x")
    wb.close()
    written = (tmp_path / "b.xlsx").read_bytes()
    with pytest.warns(UserWarning):
        wb.close()
    assert (tmp_path / "b.xlsx").read_bytes() == written


def test_the_rendered_rows_kept_are_the_latest_catalogues_only(
    planned: dict[str, RollupSheetData], catalogue: Catalogue, tmp_path: Path
) -> None:
    """A process given another catalogue (a server's catalogue changed) renders its rows again and lets go of the
    earlier catalogue's."""
    other, cache = object(), {"a": (object(), "old"), "b": (object(), "old")}
    assert form.kept(cache, "a", other) is None and cache == {}
    cache["a"] = (other, "new")
    assert form.kept(cache, "a", other) == (other, "new")
    rollup_book.write_rollup(tmp_path / "a.xlsx", catalogue, next(iter(planned.values())))
    for held in (form._TABLES, rollup_book._BY_UNIT, rollup_book._INDICATORS):
        assert held and all(entry[0] is catalogue for entry in held.values())


def test_rows_no_template_can_hold_are_written_cell_by_cell(
    planned: dict[str, RollupSheetData], catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where recording refuses the rows (a cell of a kind it cannot render), every workbook is still written,
    cell by cell, to the same bytes."""
    caches = (form._TABLES, rollup_book._BY_UNIT, rollup_book._INDICATORS)

    def refuse(*_: Any) -> RowsTemplate:
        raise ValueError("row 7, column 2: a Formula cannot be recorded")

    d = next(d for d in planned.values() if d.partial)
    try:
        for cache in caches:
            cache.clear()
        monkeypatch.setattr(RowsTemplate, "record", refuse)
        done = _count_splices(monkeypatch)
        spliced, plain = _both(tmp_path, catalogue, d, monkeypatch)
        assert spliced == plain and done and not any(done)
    finally:
        for cache in caches:
            cache.clear()  # recorded again, for the tests after
