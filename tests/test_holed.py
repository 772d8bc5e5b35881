"""A ward form's tables (a marked-up copy's, a blank or filled form's) are rendered once per process but for their
value cells (`write.blocks.HoledRows`, `HoledSheet.splice_holed`, `write.form._splice_form`); each value cell is
written by the form's own cell writer where it was written. Its guide, the same in every form, is spliced whole
(`write.form._guide_template`). Every workbook must be, byte for byte, the one written
cell by cell, whatever its values, its issues (a comment on a total, several issues on one cell, a long Vietnamese
message, a cell in a merged range) and its typed-over or uncached totals."""

from __future__ import annotations

import io
import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.report import FileReport, Issue, Severity
from ctstat.pipeline import validate_files
from ctstat.read.workbook import Submission
from ctstat.write import blocks, form
from ctstat.write.annotate import annotate_file, marks_up
from ctstat.write.blocks import BlockSheet, HoledRows, HoledSheet

from .conftest import SAMPLES

PERIOD = Period.parse("2025-H1")


@pytest.fixture(scope="module")
def faulty(catalogue: Catalogue) -> list[tuple[FileReport, Submission]]:
    """Every bundled faulty file that gets a marked-up copy, with what was read of it."""
    report, subs = validate_files([SAMPLES / "faulty"], catalogue, "2025-H1")
    pairs = [(rep, sub) for rep, sub in zip(report.files, subs, strict=True) if marks_up(rep, sub)]
    assert len(pairs) >= 10
    return pairs


def _both(
    tmp_path: Path, catalogue: Catalogue, rep: FileReport, sub: Submission, mp: pytest.MonkeyPatch
) -> tuple[bytes, bytes]:
    """The copy as written (its cover, guide and form tables spliced) and cell by cell (every splice refused);
    asserts that each was spliced in the first."""
    spliced: list[bool] = []
    real, real_guide = HoledSheet.splice_holed, BlockSheet.splice

    def counted(self: HoledSheet, *args: Any) -> bool:
        spliced.append(real(self, *args))
        return spliced[-1]

    def guide(self: BlockSheet, *args: Any) -> bool:
        spliced.append(real_guide(self, *args))
        return spliced[-1]

    with mp.context() as m:
        m.setattr(HoledSheet, "splice_holed", counted)
        m.setattr(BlockSheet, "splice", guide)
        fast = annotate_file(rep, sub, catalogue, tmp_path / "fast.xlsx", "vi", PERIOD).read_bytes()
    assert spliced == [True] * (2 + len(form_layout(catalogue).sheets))  # the cover, the guide, the form sheets
    with mp.context() as m:
        _cell_by_cell(m)
        slow = annotate_file(rep, sub, catalogue, tmp_path / "slow.xlsx", "vi", PERIOD).read_bytes()
    return fast, slow


def _cell_by_cell(m: pytest.MonkeyPatch) -> None:
    """Every splice refused, and the sheets' columns, validations and footer written by xlsxwriter each time."""
    m.setattr(HoledSheet, "splice_holed", lambda *_: False)
    m.setattr(BlockSheet, "splice", lambda *_: False)
    m.setattr(HoledSheet, "_kept_xml", lambda self, key, write: write())


def test_every_sample_copy_is_the_cell_by_cell_copy(
    tmp_path: Path, catalogue: Catalogue, faulty: list[tuple[FileReport, Submission]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for rep, sub in faulty:
        if not sub.readable:
            continue
        fast, slow = _both(tmp_path, catalogue, rep, sub, monkeypatch)
        assert fast == slow, rep.path


def _issue(code: str, severity: Severity, text: str, **where: Any) -> Issue:
    return Issue(code, severity, text, text, **where)


def test_a_copy_with_every_kind_of_mark_is_the_cell_by_cell_copy(
    tmp_path: Path, catalogue: Catalogue, faulty: list[tuple[FileReport, Submission]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issues on a total's formula (its row's total, commented), two on one cell (the worse fill, both texts), a
    long Vietnamese message, a cell inside a merged header range and a label (listed, not filled), the cover's
    values (a date, an infinite number); values the form shows as text (±inf, NaN, a formula-like text, control
    characters, a text past Excel's limit), a typed-over total and one without a cached value."""
    rep, sub = next((r, s) for r, s in faulty if s.readable)
    layout = form_layout(catalogue)
    sheet = layout.sheets[1]
    total = next(k for k in layout.formulas if layout.positions[k][0] == sheet.name)
    typed = next(k for k in layout.formulas if k != total)
    uncached = next(k for k in layout.formulas if k not in (total, typed))
    inputs = [k for k in layout.keys if k not in layout.formulas]
    long_vi = "Ô này phải là số nguyên không âm; tổng các nhóm tuổi không được lớn hơn tổng số trẻ em. " * 30
    issues = [
        _issue("sum-mismatch", Severity.ERROR, "Tổng số không khớp", element=total, sheet=sheet.name),
        _issue("x-warn", Severity.WARNING, "Cảnh báo trên ô tổng", element=total, sheet=sheet.name),
        _issue("x-long", Severity.WARNING, long_vi, element=inputs[0]),
        _issue("x-merged", Severity.ERROR, "Ô tiêu đề gộp", sheet=sheet.name, cell="B6"),
        _issue("x-label", Severity.ERROR, "Nhãn dòng", sheet=sheet.name, cell="A12"),
        _issue("x-cover", Severity.ERROR, "Mã đơn vị", sheet="Thông tin chung", cell="C5"),
        _issue("x-date", Severity.WARNING, "Ngày báo cáo", sheet="Thông tin chung", cell="C13"),
        _issue("x-phone", Severity.ERROR, "Điện thoại", sheet="Thông tin chung", cell="C15"),
        *(_issue("x-odd", Severity.ERROR, f"giá trị lạ {i}", element=k) for i, k in enumerate(inputs[1:12])),
    ]
    odd: list[Any] = [math.inf, -math.inf, math.nan, "=1+1", "a\x01b", "x" * 40_000, -0.0, 1e308, 5e-324, True, "<&>"]
    raw = list(sub.raw)
    index = {k: i for i, k in enumerate(layout.keys)}
    for k, v in zip(inputs[1:12], odd, strict=True):
        raw[index[k]] = v
    raw[index[typed]] = "đã gõ đè"
    keys = set(sub.formula_keys or layout.formulas) - {typed}
    cover = {**sub.cover, "report_date": datetime(2025, 7, 3), "phone": math.inf, "preparer": "=HYPERLINK(1)"}
    sub2 = replace(sub, raw=raw, formula_keys=keys, nocache_keys={uncached}, cover=cover)
    rep2 = replace(rep, issues=[*rep.issues, *issues])
    fast, slow = _both(tmp_path, catalogue, rep2, sub2, monkeypatch)
    assert fast == slow


_values = st.one_of(
    st.none(),
    st.integers(-(10**16), 10**16),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_odd_values_and_marks_give_the_cell_by_cell_copy(
    tmp_path: Path,
    catalogue: Catalogue,
    faulty: list[tuple[FileReport, Submission]],
    monkeypatch: pytest.MonkeyPatch,
    data: st.DataObject,
) -> None:
    rep, sub = data.draw(st.sampled_from([(r, s) for r, s in faulty if s.readable]))
    layout = form_layout(catalogue)
    n = len(layout.keys)
    changes = data.draw(st.dictionaries(st.integers(0, n - 1), _values, max_size=12))
    marked = data.draw(st.lists(st.integers(0, n - 1), max_size=6))
    raw = list(sub.raw)
    for i, v in changes.items():
        raw[i] = v
    typed = data.draw(st.sets(st.sampled_from(sorted(layout.formulas)), max_size=3))
    sub2 = replace(sub, raw=raw, formula_keys=set(sub.formula_keys or layout.formulas) - typed)
    extra = [_issue("x", Severity.WARNING, f"ô {i}\nthứ hai", element=layout.keys[i]) for i in marked]
    fast, slow = _both(tmp_path, catalogue, replace(rep, issues=[*rep.issues, *extra]), sub2, monkeypatch)
    assert fast == slow


def test_a_blank_form_is_the_cell_by_cell_form(tmp_path: Path, catalogue: Catalogue) -> None:
    from ctstat.model.units import load_units
    from ctstat.write.synth import synth_values

    h = load_units("2025-06-30")
    unit = h.get("00301")
    assert unit is not None
    header = form.FormHeader.for_unit(h, unit, PERIOD)
    for values in ({}, synth_values(catalogue, unit, PERIOD, 3)):
        fast = form.write_form(tmp_path / "fast.xlsx", catalogue, header, values).read_bytes()
        with pytest.MonkeyPatch.context() as m:
            _cell_by_cell(m)
            slow = form.write_form(tmp_path / "slow.xlsx", catalogue, header, values).read_bytes()
        assert fast == slow


def test_a_table_no_template_holds_is_written_cell_by_cell(
    tmp_path: Path, catalogue: Catalogue, faulty: list[tuple[FileReport, Submission]]
) -> None:
    """A catalogue whose table a template cannot hold (here: refused by `record`) still gets its copy, written cell
    by cell: the same bytes."""
    rep, sub = next((r, s) for r, s in faulty if s.readable)
    before = annotate_file(rep, sub, catalogue, tmp_path / "before.xlsx", "vi", PERIOD).read_bytes()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(form, "_FORMS", {})
        m.setattr(HoledRows, "record", classmethod(lambda *_: (_ for _ in ()).throw(ValueError("no"))))
        after = annotate_file(rep, sub, catalogue, tmp_path / "after.xlsx", "vi", PERIOD).read_bytes()
        assert all(not t[2].usable for t in form._FORMS.values())
    assert after == before


def _scratch(write: Any) -> HoledSheet:
    from ctstat.write import inert

    wb = inert.workbook(Path("unused.xlsx"))
    wb.worksheet_class = HoledSheet
    ws: HoledSheet = wb.add_worksheet("s")
    blocks.RowsTemplate.start(ws)
    write(ws, wb.add_format({"bold": True}))
    return ws


def test_record_refuses_what_it_cannot_hold() -> None:
    def formula(ws: HoledSheet, fmt: Any) -> None:
        ws.write_string(3, 0, "nhãn", fmt)
        ws.write_formula(3, 1, "=SUM(C4:D4)", fmt, 0)

    ws = _scratch(formula)
    with pytest.raises(ValueError, match="cannot be recorded"):
        HoledRows.record(ws, 3, {id(ws.table[3][0].format): "bold"}, "\ue000")

    def twice(ws: HoledSheet, fmt: Any) -> None:
        ws.write_string(3, 0, "\ue000a", fmt)
        ws.write_string(4, 0, "\ue000a", fmt)

    ws = _scratch(twice)
    with pytest.raises(ValueError, match="asked for twice"):
        HoledRows.record(ws, 3, {}, "\ue000")


def test_splice_holed_keeps_the_order_of_texts_and_refuses_rows_written() -> None:
    """The holes' own texts are asked for where they were: a text a hole writes first gets the number it would."""

    def write(ws: HoledSheet, fmt: Any) -> None:
        ws.write_string(3, 0, "một", fmt)
        ws.write_string(3, 1, "\ue000h1", fmt)
        ws.write_string(4, 0, "hai", fmt)

    ws = _scratch(write)
    fmt = ws.table[3][0].format
    template = HoledRows.record(ws, 3, {id(fmt): "bold"}, "\ue000")
    assert template.asks == ("một", 0, "hai") and template.holes == ((3, 1, "h1"),)

    def other(ws: HoledSheet, fmt: Any) -> None:
        ws.write_string(0, 0, "đầu", fmt)

    target = _scratch(other)
    target.splice_holed(template, [fmt], lambda r, c, name: target.write_string(r, c, "giá trị " + name, fmt))
    table = target.str_table.string_table
    assert [table[s] for s in ("đầu", "một", "giá trị h1", "hai")] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="already written"):
        target.splice_holed(template, [fmt], lambda *_: None)


def test_fixed_formats_are_the_formats_add_format_makes(
    tmp_path: Path, catalogue: Catalogue, faulty: list[tuple[FileReport, Submission]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form's styles are copies of formats made once per process (`blocks.fixed_format`): each the format
    `add_format` makes, numbered alike in its workbook; a copy the same bytes as with `add_format`'s formats."""
    from xlsxwriter.format import Format

    from ctstat.write import inert

    wb, other = inert.workbook(Path("a.xlsx")), inert.workbook(Path("b.xlsx"))
    for props in (
        {},
        {"bold": True, "border": 1},
        {"border": 1, "bottom": 2},
        {"num_format": "#,##0", "locked": False},
        {"font_size": 12},
        {"font_size": 12.0},  # equal to 12, written "12.0": not the copy of the one before
        {"bold": 1},
        {"bold": True},
    ):
        fixed, made = blocks.fixed_format(wb, props), other.add_format(props)
        assert isinstance(fixed, Format) and fixed in wb.formats
        assert fixed.xf_format_indices is wb.xf_format_indices and fixed.dxf_format_indices is wb.dxf_format_indices
        mine = {k: (type(v), v) for k, v in vars(fixed).items() if not k.endswith("_indices") and k != "_format_key"}
        assert mine == {
            k: (type(v), v) for k, v in vars(made).items() if not k.endswith("_indices") and k != "_format_key"
        }
        assert fixed._get_format_key() == made._get_format_key()
        assert blocks.fixed_format(wb, props) is not fixed
    rep, sub = next((r, s) for r, s in faulty if s.readable)
    bad = next(i for i in rep.issues if i.element)
    issues = [*rep.issues, replace(bad, severity=Severity.WARNING, element=next(iter(form_layout(catalogue).formulas)))]
    rep = replace(rep, issues=issues)
    fixed_copy = annotate_file(rep, sub, catalogue, tmp_path / "fixed.xlsx", "vi", PERIOD).read_bytes()
    monkeypatch.setattr(form, "fixed_format", lambda wb, props: wb.add_format(props))
    monkeypatch.setattr(blocks, "fixed_format", lambda wb, props: wb.add_format(props))  # the result sheet's
    plain_copy = annotate_file(rep, sub, catalogue, tmp_path / "plain.xlsx", "vi", PERIOD).read_bytes()
    assert fixed_copy == plain_copy


def test_a_template_with_other_holes_than_its_cells_is_not_used() -> None:
    """A text of the catalogue that starts like a hole's (or a value cell recorded twice, or not at all) makes the
    rows a template cannot stand for: written cell by cell."""

    def write(ws: Any, st: form.Styles) -> None:
        ws.write_string(3, 0, "nhãn", st.label)
        ws.write_string(3, 1, form._HOLE + "TE01/*/*", st.input)
        ws.write_string(4, 0, form._HOLE + "nhãn như một ô", st.label)

    assert form.record_holed("s", 3, write, ["TE01/*/*", "nhãn như một ô"]).usable
    assert not form.record_holed("s", 3, write, ["TE01/*/*"]).usable
    assert not form.record_holed("s", 3, write, ["TE01/*/*", "nhãn như một ô", "TE02/*/*"]).usable


@pytest.mark.parametrize("col", [0, 1, 2, 5], ids=["first", "inside", "last", "alone"])
def test_a_fixed_cell_written_over_after_the_splice_is_refused_not_lost(col: int) -> None:
    """Writing over a cell the template holds (the first, an inner or the last cell of a run of fixed cells, or a
    fixed cell alone) after the splice would otherwise be lost when the sheet is written: refused."""

    def write(ws: HoledSheet, fmt: Any) -> None:
        for c, text in enumerate(("một", "hai", "ba")):
            ws.write_string(3, c, text, fmt)
        ws.write_string(3, 3, "\ue000h", fmt)
        ws.write_string(3, 5, "sáu", fmt)

    ws = _scratch(write)
    fmt = ws.table[3][0].format
    template = HoledRows.record(ws, 3, {id(fmt): "bold"}, "\ue000")
    target = _scratch(lambda ws, fmt: None)

    def render() -> str:
        target.fh = io.StringIO()
        target._write_rows()
        return str(target.fh.getvalue())

    assert target.splice_holed(template, [fmt], lambda r, c, name: target.write_number(r, c, 7, fmt))
    xml = render()
    assert xml.count("<c ") == 5 and "<v>7</v>" in xml  # as spliced: the template's cells and the hole's number
    target.write_number(3, col, 42, fmt)
    with pytest.raises(ValueError, match="written over|inside a run"):
        render()
