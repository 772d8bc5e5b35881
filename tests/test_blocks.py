"""Runs of numbers written in one go (write/blocks.py) give the very bytes xlsxwriter gives cell by cell."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import xlsxwriter
import xlsxwriter.worksheet
from hypothesis import given, settings
from hypothesis import strategies as st

from ctstat.write.blocks import BlockSheet, block_sheet, write_numbers

numbers = st.one_of(
    st.none(),
    st.just(math.nan),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-300, 1.5e300, 0.1, 2 / 3, 123456789.0]),
)


def _book(fill: Callable[[Any, Any, bool], None], runs: bool) -> dict[str, bytes]:
    """The parts of a workbook whose one sheet `fill(wb, ws, runs)` wrote (`runs`: with write_numbers)."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "nan_inf_to_errors": True})
    wb.set_properties({"created": datetime(2025, 1, 1)})
    fill(wb, block_sheet(wb, "S") if runs else wb.add_worksheet("S"), runs)
    wb.close()
    with zipfile.ZipFile(buf) as z:
        return {n: z.read(n) for n in z.namelist()}


def _both(fill: Callable[[Any, Any, bool], None]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    return _book(fill, False), _book(fill, True)


def _write(ws: Any, runs: bool, row: int, col: int, values: list[Any], fmt: Any, blank: bool) -> None:
    if runs:
        ws.write_numbers(row, col, values, fmt, blank)
        return
    for i, v in enumerate(values):
        if v is not None and v == v:
            ws.write_number(row, col + i, float(v), fmt)
        elif blank:
            ws.write_blank(row, col + i, None, fmt)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(numbers, max_size=40), min_size=1, max_size=40),
    col=st.integers(0, 30),
    blank=st.booleans(),
    formatted=st.booleans(),
    label=st.booleans(),
)
def test_runs_give_the_bytes_of_cell_by_cell_writes(
    rows: list[list[Any]], col: int, blank: bool, formatted: bool, label: bool
) -> None:
    def fill(wb: Any, ws: Any, runs: bool) -> None:
        fmt = wb.add_format({"num_format": "#,##0", "border": 1}) if formatted else None
        bold = wb.add_format({"bold": True})
        ws.set_column(col + 2, col + 3, 12, wb.add_format({"italic": True}))  # a column's format: a blank's style
        ws.set_row(3, 20, wb.add_format({"font_size": 9}))  # and a row's
        for r, values in enumerate(rows):
            if label:  # text before and after the run, as the sheets have
                ws.write_string(r, 0 if col else 50, f"dòng {r}", bold)
                ws.write_string(r, col + len(values) + 1, "x")
            _write(ws, runs, r, col + 1, values, fmt, blank)
        ws.write_string(len(rows) + 20, 0, "end")  # row spans come in blocks of 16 rows

    expected, got = _both(fill)
    assert got == expected


def test_every_kind_of_cell_around_runs_is_written_as_xlsxwriter_writes_it() -> None:
    def fill(wb: Any, ws: Any, runs: bool) -> None:
        fmt, date = wb.add_format({"border": 1, "num_format": "#,##0"}), wb.add_format({"num_format": "dd/mm/yyyy"})
        ws.set_column(5, 5, 10, wb.add_format({"italic": True}))
        bold = wb.add_format({"bold": True})
        for r in range(20):
            if r % 5 == 0:  # a row's format: what its cells without one take
                ws.set_row(r, 20 if r else None, bold)
            ws.write_number(r, 0, r * 1.5, fmt if r % 2 else None)
            ws.write_string(r, 1, f"chữ <&> {r % 3}", fmt if r % 3 else None)
            ws.write_blank(r, 2, None, fmt)
            ws.write_formula(r, 3, "=SUM(A1:A2)", fmt, r)
            ws.write_datetime(r, 4, datetime(2025, 6, 30), date)
            ws.write_number(r, 5, -r)  # the column's format
            ws.write_boolean(r, 6, r % 2 == 0, fmt)
            _write(ws, runs, r, 7, [r, None, math.nan, r / 3], fmt, r % 2 == 0)
            ws.write_string(r, 12, "", fmt)
            ws.write(r, 13, f"chữ {r}", fmt)  # write() with each kind of value, by row and column or "A1"
            ws.write(r, 14, [r, r / 7, "", None, True, "=1+1", "http://x.vn", "12"][r % 8], fmt if r % 2 else None)
            ws.write(f"Q{r + 1}", r * 3, fmt)
            ws.write_number(r, 17, r, cell_format=fmt)
        ws.merge_range(21, 0, 21, 5, "gộp", fmt)
        ws.write_comment(22, 1, "ghi chú")
        ws.set_row(3, 15, None, {"hidden": True})  # rows xlsxwriter writes with more attributes
        ws.set_row(7, None, None, {"level": 1, "collapsed": True})
        ws.set_row(25, 40)  # a row with a height and no cell
        ws.write(27, 0, "a" * 16_383, fmt)  # the longest text written past `_write_string`
        ws.write(27, 1, "😀" * 16_384)  # longer: `_write_string`, which cuts what a cell cannot hold
        ws.write_row(28, 0, ["chữ", 1, 2.5, "", None, "=1"], fmt)
        ws.set_row(26, 0)  # hidden by its height

    expected, got = _both(fill)
    assert got == expected


FORMULAS = [
    "=SUM(A1:A2)",
    "=SUM($B$3:$C$9)",
    "=SUM(XFD1048576)",
    "=SUM(A1:A2)+1",
    "=sum(A1:A2)",
    "=SUM(A1,B2)",
    "=XLOOKUP(A1,B1:B9,C1:C9)",
    "=SUM(FILTER(A1:A9,B1:B9>0))",
    "SUM(A1:A2)",
    "{=SUM(A1:A2)}",
    "=SUM(Sheet1!A1:A2)",
]


@pytest.mark.parametrize("future", [False, True])
def test_formulas_are_stored_as_xlsxwriter_stores_them(future: bool) -> None:
    """A plain SUM goes past xlsxwriter's rewriting of function names: the same bytes for it and every other formula
    (newer functions, array formulas, values given or not, by row and column or "A1")."""

    def fill(wb: Any, ws: Any, runs: bool) -> None:
        wb.use_future_functions = future
        ws.use_future_functions = future
        fmt = wb.add_format({"bold": True})
        for r, formula in enumerate(FORMULAS):
            ws.write_formula(r, 0, formula)
            ws.write_formula(r, 1, formula, fmt)
            ws.write_formula(r, 2, formula, fmt, r * 2.5)
            ws.write_formula(r, 3, formula, None, "chữ")
            ws.write_formula(f"E{r + 1}", formula, fmt, r)
            ws.write_formula(r, 5, formula, cell_format=fmt, value=r)
            ws.write(r, 6, formula, fmt)

    expected, got = _both(fill)
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.lists(st.tuples(numbers, st.integers(0, 3)), max_size=20), min_size=1, max_size=20),
    col=st.integers(0, 5),
)
def test_runs_with_a_format_a_cell_give_the_bytes_of_cell_by_cell_writes(
    rows: list[list[tuple[Any, int]]], col: int
) -> None:
    def fill(wb: Any, ws: Any, runs: bool) -> None:
        formats = [None, wb.add_format({"bold": True}), wb.add_format({"bg_color": "#BFBFBF"}), None]
        ws.set_column(0, 40, 9, wb.add_format({"italic": True}))  # what a cell with no format of its own shows
        for r, cells in enumerate(rows):
            values, fmts = [v for v, _ in cells], [formats[f] for _, f in cells]
            write_numbers(ws, r, list(range(col, col + len(cells))), values, fmts) if runs else [
                ws.write_blank(r, col + i, None, f) if v is None or v != v else ws.write_number(r, col + i, v, f)
                for i, (v, f) in enumerate(zip(values, fmts, strict=True))
            ]

    expected, got = _both(fill)
    assert got == expected


def test_numbers_in_columns_apart_are_written_cell_by_cell() -> None:
    def fill(wb: Any, ws: Any, runs: bool) -> None:
        fmt = wb.add_format({"bold": True})
        cols, values = [1, 2, 4, 7], [1.0, None, 3.5, math.nan]
        if runs:
            write_numbers(ws, 0, cols, values, [fmt] * 4)
            return
        for c, v in zip(cols, values, strict=True):
            ws.write_blank(0, c, None, fmt) if v is None or v != v else ws.write_number(0, c, v, fmt)

    expected, got = _both(fill)
    assert got == expected


def test_an_infinite_value_is_written_as_xlsxwriter_writes_it() -> None:
    def fill(wb: Any, ws: Any, runs: bool) -> None:
        _write(ws, runs, 0, 0, [1.0, math.inf, None, -math.inf, 2.0], wb.add_format({"bold": True}), True)

    expected, got = _both(fill)
    assert got == expected
    assert b"#DIV/0!" in got["xl/worksheets/sheet1.xml"]


def test_a_run_over_cells_already_written_overwrites_them_as_write_number_does() -> None:
    def fill(wb: Any, ws: Any, runs: bool) -> None:
        ws.write_string(0, 2, "before")  # overwritten by the run's number
        ws.write_string(0, 4, "kept")  # the run has no number there: kept
        _write(ws, runs, 0, 1, [1.0, 2.0, 3.0, None, 5.0], None, False)

    expected, got = _both(fill)
    assert got == expected
    assert b"<v>2</v>" in got["xl/worksheets/sheet1.xml"]


def _sheet(fill: Callable[[BlockSheet], None]) -> None:
    wb = xlsxwriter.Workbook(io.BytesIO(), {"in_memory": True})
    fill(block_sheet(wb, "S"))
    try:
        wb.close()
    finally:
        wb.fileclosed = True


def test_overlapping_runs_are_refused() -> None:
    wb = xlsxwriter.Workbook(io.BytesIO(), {"in_memory": True})
    ws = block_sheet(wb, "S")
    ws.write_numbers(0, 0, [1, 2, 3])
    with pytest.raises(ValueError, match="overlaps"):
        ws.write_numbers(0, 2, [4, 5])
    ws.write_numbers(0, 3, [4, 5])  # beside it: fine
    wb.fileclosed = True


@pytest.mark.parametrize("col", [0, 1, 2])
def test_a_cell_written_into_a_run_afterwards_is_a_bug_not_a_lost_number(col: int) -> None:
    def fill(ws: BlockSheet) -> None:
        ws.write_numbers(0, 0, [1, 2, 3])
        ws.write_string(0, col, "late")

    with pytest.raises(ValueError, match="run of numbers"):
        _sheet(fill)


def test_a_chart_over_a_run_of_numbers_is_a_bug_not_a_chart_without_data() -> None:
    wb = xlsxwriter.Workbook(io.BytesIO(), {"in_memory": True})
    ws = block_sheet(wb, "S")
    ws.write_numbers(0, 1, [1, 2, 3])
    chart = wb.add_chart({"type": "bar"})
    chart.add_series({"values": ["S", 0, 1, 0, 3]})
    ws.insert_chart(2, 0, chart)
    with pytest.raises(ValueError, match="chart over a run"):
        wb.close()
    wb.fileclosed = True


def test_a_plain_sum_is_not_rewritten(monkeypatch: pytest.MonkeyPatch) -> None:
    """A form's totals (a SUM of a range) skip xlsxwriter's formula rewriting; any other formula goes through it."""
    seen: list[str] = []
    rewrite = xlsxwriter.worksheet.Worksheet._prepare_formula

    def counted(self: Any, formula: str, *args: Any) -> Any:
        seen.append(formula)
        return rewrite(self, formula, *args)

    monkeypatch.setattr(xlsxwriter.worksheet.Worksheet, "_prepare_formula", counted)
    wb = xlsxwriter.Workbook(io.BytesIO(), {"in_memory": True})
    ws = block_sheet(wb, "S")
    ws.write_formula(0, 0, "=SUM(D12:F12)", None, 3)
    ws.write_formula(1, 0, "=SUM(D12:F12)+XLOOKUP(A1,B1:B9,C1:C9)")
    assert seen == ["=SUM(D12:F12)+XLOOKUP(A1,B1:B9,C1:C9)"]
    assert ws.table[0][0].formula == "SUM(D12:F12)" and ws.table[0][0].value == 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(),
            st.text(alphabet="ab _x0F9&<>\"'\n\t\r \x00\x01\x1f\ufffe\uffff\u00a0\u2028ạ"),
            st.sampled_from(["_x0041_", "<r><t>a</t></r>", " lề", "lề ", "a&b>c<d", "\u3000x"]),
        ),
        max_size=30,
    )
)
def test_shared_strings_are_written_as_xlsxwriter_writes_them(strings: list[str]) -> None:
    from xlsxwriter.sharedstrings import SharedStrings, SharedStringTable

    from ctstat.write.blocks import FastSharedStrings

    def part(cls: Any) -> str:
        table = SharedStringTable()
        for s in strings:
            table._get_shared_string_index(s)
        table._sort_string_data()
        sst = cls()
        sst.string_table = table
        sst.fh = io.StringIO()
        sst._assemble_xml_file()
        return str(sst.fh.getvalue())

    expected = part(SharedStrings)
    assert part(FastSharedStrings) == expected
    assert part(FastSharedStrings) == expected  # again, the strings now from those kept (`blocks._SI`)


def test_the_shared_strings_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from xlsxwriter.sharedstrings import SharedStringTable

    from ctstat.write import blocks

    monkeypatch.setattr(blocks, "_SI", {})
    monkeypatch.setattr(blocks, "_SI_KEPT", 5)
    table = SharedStringTable()
    for i in range(12):
        table._get_shared_string_index(f"tên {i} & x>")
    table._sort_string_data()
    sst = blocks.FastSharedStrings()
    sst.string_table = table
    sst.fh = io.StringIO()
    sst._assemble_xml_file()
    assert len(blocks._SI) == 5 and "<si><t>tên 11 &amp; x&gt;</t></si>" in sst.fh.getvalue()


def test_the_small_numbers_looked_up_are_written_as_formatted() -> None:
    """`blocks._SMALL` (numbers looked up, not formatted, when a cell is written out) holds what formatting gives,
    and no zero: -0.0 equals 0.0 as a key, but is written "-0"."""
    from ctstat.write.blocks import _SMALL

    assert all(text == f"{v:.16G}" for v, text in _SMALL.items())
    assert 0.0 not in _SMALL and -0.0 not in _SMALL
    assert f"{-0.0:.16G}" == "-0"


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(
        st.text(alphabet=st.sampled_from('ab &<>"\n\t_x0F\x01\x1f\ufffe'), max_size=12),
        st.text(max_size=8),
        st.integers(),
        st.floats(),
        st.none(),
        st.binary(max_size=4),
    )
)
def test_the_quick_xml_escapes_give_xlsxwriters(value: Any) -> None:
    """inert's escaping of an XML attribute or text (a value's type looked at before a regular expression is
    tried) returns what xlsxwriter's own returns, for text, numbers and anything else."""
    from xlsxwriter.xmlwriter import XMLwriter

    from ctstat.write import inert

    inert.workbook("unused.xlsx")  # the escapes replaced, as for any workbook ctstat writes (never written)
    writer = XMLwriter()
    assert XMLwriter._escape_attributes is not inert.XML_ESCAPES["attributes"]
    for mine, theirs in (
        (writer._escape_attributes(value), inert.XML_ESCAPES["attributes"](writer, value)),
        (writer._escape_data(value), inert.XML_ESCAPES["data"](writer, value)),
        (writer._escape_control_characters(value), inert.XML_ESCAPES["control"](value)),
    ):
        assert (type(mine), repr(mine)) == (type(theirs), repr(theirs))  # NaN is not equal to itself


@pytest.mark.parametrize("default", [None, 20.0, 15.0])
def test_row_heights_are_written_as_xlsxwriter_writes_them(default: float | None) -> None:
    """A row's tag (its number, spans and height) against a sheet's default height, changed or not."""

    def fill(wb: Any, ws: Any, runs: bool) -> None:
        if default is not None:
            ws.set_default_row(default)
        for r, height in enumerate([None, 15, 20, 30.5, 12.75, 409]):
            ws.set_row(r * 3, height)
            ws.write_number(r * 3, r, r)
            ws.set_row(r * 3 + 1, height)  # without a cell

    expected, got = _both(fill)
    assert got == expected


_tokens = st.lists(
    st.one_of(
        st.none(),
        st.text(alphabet="ab _x0F9&<>\"'\n\t\r \x00\x01\x1f\ufffe\uffff\u00a0ạ.e-+"),
        st.sampled_from(["_x0041_", "12", "1_000", " 1", "1e5", "nan", "inf", "-0", "Hoàng Mai", "a&b"]),
        st.integers(-(10**6), 10**6),
        st.floats(),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(data=_tokens, numeric=st.booleans())
def test_a_charts_cached_points_are_written_as_xlsxwriter_writes_them(data: list[Any], numeric: bool) -> None:
    """`fast_chart`'s cached numbers and texts (one string each) are xlsxwriter's, element by element, whatever the
    points: missing, text that is not a number (0 in a number cache), XML's specials, control characters, "_x.._"."""
    from ctstat.write import inert
    from ctstat.write.blocks import fast_chart

    inert.workbook("unused.xlsx")  # the escapes replaced, as for any workbook ctstat writes (never written)

    def part(fast: bool) -> str:
        chart = xlsxwriter.Workbook(io.BytesIO(), {"in_memory": True}).add_chart({"type": "bar"})
        if fast:
            fast_chart(chart)
        chart.fh = io.StringIO()
        (chart._write_num_cache if numeric else chart._write_str_cache)(list(data))
        return str(chart.fh.getvalue())

    assert part(True) == part(False)


@pytest.mark.parametrize("kind", ["bar", "line"])
def test_a_chart_is_written_as_xlsxwriter_writes_it(kind: str) -> None:
    """A whole workbook with a chart over names and numbers (a gap, a formula, hostile names): the same parts."""
    from ctstat.write import inert
    from ctstat.write.blocks import fast_chart

    inert.workbook("unused.xlsx")

    def fill(wb: Any, ws: Any, fast: bool) -> None:
        names = ["Phường A & B", "<x>", "_x0041_", "tab\there", "", "Xã Ạ"]
        for r, name in enumerate(names):
            ws.write_string(r, 0, name)
            if r != 2:
                ws.write_number(r, 1, r * 1.5 - 2)
        ws.write_formula(2, 2, "=B1+1", None, 7)
        chart = wb.add_chart({"type": kind})
        if fast:
            fast_chart(chart)
        chart.add_series({"name": "S", "categories": ["S", 0, 0, 5, 0], "values": ["S", 0, 1, 5, 1]})
        chart.add_series({"categories": ["S", 0, 0, 5, 0], "values": ["S", 0, 2, 5, 2]})
        ws.insert_chart(8, 0, chart)

    plain, fast = _book(fill, False), _book(fill, True)
    assert any("chart" in n for n in fast)
    assert fast == plain


_plain_values = st.lists(
    st.one_of(
        st.none(),
        st.just(""),
        st.text(alphabet="ab &<>_x0F\n\t\x01ạ", max_size=6),
        st.sampled_from(["=SUM(A1)", "001", "1e5", "x" * 20]),
        st.integers(-(10**17), 10**17),
        numbers,
        st.sampled_from([math.inf, -math.inf, True, False]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), _plain_values), max_size=4, unique_by=lambda t: t[0])
)
def test_plain_rows_give_the_bytes_of_write_row(rows: list[tuple[int, int, list[Any]]]) -> None:
    """`write_plain` (a row's texts and numbers rendered in one string) gives what `write_row` gives, cell by cell,
    or refuses (and writes nothing) where only that can: NaN, ±inf, a boolean, a text longer than the quick path
    takes."""
    from ctstat.write import inert

    refused: list[bool] = []

    def fill(wb: Any, ws: Any, runs: bool) -> None:
        ws.xls_strmax = 20  # a text of 11 characters or more is "too long" here (32,767 in a workbook)
        ws.strings_to_urls = ws.strings_to_formulas = False  # as inert.workbook's: a text stays a text
        for row, col, values in rows:
            if not runs:
                ws.write_row(row, col, values)
            elif not ws.write_plain(row, col, values):
                refused.append(True)
                ws.write_row(row, col, values)

    inert.workbook("unused.xlsx")  # the escapes replaced, as for any workbook ctstat writes (never written)
    plain, fast = _book(fill, False), _book(fill, True)
    assert fast == plain
    values = [v for _, _, vs in rows for v in vs]
    special = any(v.__class__ is bool or (v.__class__ is float and not math.isfinite(v)) for v in values)
    long_text = any(v.__class__ is str and len(v) > 10 for v in values)
    assert refused == [] or special or long_text  # what it takes, it writes


def test_a_plain_row_refuses_a_row_already_written() -> None:
    wb = xlsxwriter.Workbook(io.BytesIO(), {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    ws = block_sheet(wb, "S")
    ws.write_number(2, 9, 1.0)
    assert not ws.write_plain(2, 0, ["a", 1.0])
    assert ws.write_plain(3, 0, ["a", None, 1.0, ""]) and sorted(ws.table[3]) == [0, 2]
    assert 2 not in ws.table or sorted(ws.table[2]) == [9]


def test_merges_are_stored_as_xlsxwriter_stores_them() -> None:
    """`BlockSheet.merge_range` (numbers given, a format): the parts xlsxwriter writes for the same merges, texts
    and numbers in them, across rows, in A1 notation, without a format; an overlap is its error."""
    from xlsxwriter.exceptions import OverlappingRange

    def fill(wb: Any, ws: Any, runs: bool) -> None:
        bold, wrap = wb.add_format({"bold": True}), wb.add_format({"text_wrap": True, "border": 1})
        ws.merge_range(0, 0, 0, 5, "Tiêu đề & <tên>", bold)
        ws.merge_range(2, 1, 4, 3, 12.5, wrap)
        ws.merge_range(5, 0, 5, 1, "", wrap)
        ws.merge_range("F7:H7", "A1", bold)
        ws.merge_range(8, 0, 8, 2, "không định dạng")
        ws.merge_range(9, 3, 9, 1, "ngược", bold)
        ws.write_string(10, 0, "sau", bold)
        with pytest.raises(OverlappingRange):
            ws.merge_range(3, 3, 3, 6, "chồng", bold)

    assert _book(fill, True) == _book(fill, False)


def test_row_spans_are_xlsxwriters() -> None:
    """Each block of 16 rows' first and last column (`<row spans=..>`), from sparse rows, a comment beyond the
    cells, rows with no cell, across several blocks."""

    def fill(wb: Any, ws: Any, runs: bool) -> None:
        fmt = wb.add_format({"bold": True})
        ws.write_number(0, 3, 1.0)
        ws.write_string(5, 1, "x", fmt)
        ws.set_row(7, 30)
        ws.write_comment(9, 12, "ghi chú")
        ws.write_blank(20, 0, None, fmt)
        ws.write_number(40, 30, 2.0, fmt)
        ws.merge_range(41, 2, 43, 6, "gộp", fmt)
        ws.write_comment(50, 1, "một mình")

    assert _book(fill, True) == _book(fill, False)


def test_a_plain_rows_zeros_keep_their_sign() -> None:
    """0.0 and 0 are written "0", -0.0 "-0" (as write_row writes them): a zero's text is not formatted."""

    def fill(wb: Any, ws: Any, runs: bool) -> None:
        ws.strings_to_urls = ws.strings_to_formulas = False
        row = [0.0, -0.0, 0, 5.0, -0.0, "x", 0.0]
        assert ws.write_plain(1, 0, row) if runs else ws.write_row(1, 0, row) == 0

    fast = _book(fill, True)
    assert fast == _book(fill, False)
    assert b'<c r="B2"><v>-0</v></c>' in fast["xl/worksheets/sheet1.xml"]
