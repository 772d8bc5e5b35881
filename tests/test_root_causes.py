"""One mistake, one error: a wrong value is reported at the cell typed, with what it makes wrong; the totals and
rules that disagree only because of it are not separate errors; comparisons are exact on whole numbers and
tolerant of rounding on fractions; values are shown as typed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ctstat.check.file_checks import fmt_number
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import form_layout
from ctstat.model.report import Issue, Severity
from ctstat.pandera_checks import ctstat_overlaps, ctstat_rule, ctstat_sums, ctstat_whole
from ctstat.pipeline import validate_files, validate_paths

from .conftest import MakeForm, rename_sheet
from .faults import drop_cached_values, patch_zip, sheet_member


def _errors(path: object, catalogue: Catalogue) -> list[tuple[str, str | None, str | None]]:
    report = validate_paths([path], catalogue, "2025-H1")  # type: ignore[list-item]
    return [(i.code, i.sheet, i.cell) for i in report.issues if i.severity.value == "error"]


def test_a_decimal_typed_for_a_thousand_is_one_error_with_the_hint(make_form: MakeForm, catalogue: Catalogue) -> None:
    """LibreOffice in an English locale takes '1.158' as the number 1.158: one error, at that cell, shown as typed,
    with the same hint text input gets, naming the totals it makes wrong."""
    key = cell_key("TE01", "3-5", "sex:nu")
    path = make_form(unit="00304", changes={key: 1.158})
    sheet, cell = form_layout(catalogue).address(key)
    assert _errors(path, catalogue) == [("not-integer", sheet, cell)]
    (issue,) = validate_paths([path], catalogue, "2025-H1").issues
    assert issue.value == "1,158"
    assert "Có thể là số 1158 (dấu chấm ngăn cách hàng nghìn" in issue.message("vi")
    assert "It may mean 1,158" in issue.message("en") and issue.message("en").startswith("1.158 has a fraction")
    total = form_layout(catalogue).address(cell_key("TE01", TOTAL, TOTAL))[1]
    assert f"Ô này làm sai cả các ô {total}" in issue.message("vi")


def test_a_negative_part_is_one_error_not_its_totals_and_rules(make_form: MakeForm, catalogue: Catalogue) -> None:
    key = cell_key("HC01", "d", "sex:nam")
    path = make_form(unit="00310", changes={key: -3})
    sheet, cell = form_layout(catalogue).address(key)
    assert _errors(path, catalogue) == [("negative-value", sheet, cell)]


def test_independent_mistakes_each_give_one_error(make_form: MakeForm, catalogue: Catalogue) -> None:
    layout = form_layout(catalogue)
    changes = {
        cell_key("TE01", "11-15", "sex:nu"): 1.158,  # a decimal for a thousand
        cell_key("VH01", TOTAL, TOTAL): -4,  # a negative count
        cell_key("TG01", TOTAL, "sex:nam"): 2.5,  # a fraction
    }
    path = make_form(unit="00304", changes=changes)
    found = _errors(path, catalogue)
    assert sorted(found) == sorted(
        [
            ("not-integer", *layout.address(cell_key("TE01", "11-15", "sex:nu"))),
            ("negative-value", *layout.address(cell_key("VH01", TOTAL, TOTAL))),
            ("not-integer", *layout.address(cell_key("TG01", TOTAL, "sex:nam"))),
        ]
    )


def test_a_real_fault_elsewhere_is_still_reported(make_form: MakeForm, catalogue: Catalogue) -> None:
    """Only what depends on the wrong cell is folded into it: a rule broken by other cells still counts."""
    from ctstat.model.period import Period
    from ctstat.model.units import load_units
    from ctstat.write.synth import synth_values

    u = load_units("2025-06-30").get("00310")
    assert u is not None
    v = synth_values(catalogue, u, Period.parse("2025-H1"))
    assisted = cell_key("HC02", "d", "sex:nu")
    changes = {cell_key("TE01", "0-2", "sex:nam"): 0.5, assisted: v[cell_key("HC01", "d", "sex:nu")] + 1}
    changes[cell_key("HC02", TOTAL, "sex:nu")] = max(v[cell_key("HC02", TOTAL, "sex:nu")], changes[assisted])
    codes = [c for c, _, _ in _errors(make_form(unit="00310", changes=changes), catalogue)]
    assert codes.count("not-integer") == 1 and "assisted-exceeds-special" in codes


def test_sums_are_exact_on_whole_numbers_and_tolerant_on_fractions() -> None:
    whole = pd.DataFrame({"t": [3.0, 3.0], "a": [1.0, 1.0], "b": [2.0, 1.0]})
    assert ctstat_sums(whole, totals=["t"], parts=[["a", "b"]])["t"].tolist() == [True, False]
    # 0.1 + 0.2 is 0.30000000000000004: compared exactly, the first two rows would fail; off by 0.01 or 0.002, the
    # last two must (the tolerance is for float rounding, not for a wrong part)
    frac = pd.DataFrame(
        {"t": [0.3, 4358.16, 0.3, 4358.16], "a": [0.1, 4357.002, 0.1, 4357.002], "b": [0.2, 1.158, 0.21, 1.16]}
    )
    assert ctstat_sums(frac, totals=["t"], parts=[["a", "b"]])["t"].tolist() == [True, True, False, False]
    rule = pd.DataFrame({"l": [0.30000000000000004, 3.0], "r": [0.3, 2.0]})
    assert ctstat_rule(rule, op="<=", lhs=["l"], rhs=["r"])["l"].tolist() == [True, False]


def test_a_check_over_many_cells_answers_at_each_cell() -> None:
    """One check covers many totals (or cells, or pairs): it answers at each, False only where that one fails;
    a blank part leaves its total unjudged (it is reported on its own)."""
    nan = float("nan")
    df = pd.DataFrame(
        {"t1": [3.0, 3.0, 3.0], "a": [1.0, 1.0, nan], "b": [2.0, 2.0, 2.0], "t2": [5.0, 4.0, 9.0], "c": [5.0, 5.0, 5.0]}
    )
    out = ctstat_sums(df, totals=["t1", "t2"], parts=[["a", "b"], ["c"]])
    assert out["t1"].tolist() == [True, True, True] and out["t2"].tolist() == [True, False, False]
    assert out[["a", "b", "c"]].all().all()
    # overlapping parts: the total lies between the largest part and their sum
    assert ctstat_overlaps(df, totals=["t2"], parts=[["b", "c"]])["t2"].tolist() == [True, False, False]
    assert ctstat_whole(pd.DataFrame({"x": [1.0, 0.5, nan, -2.0]}), cells=["x"])["x"].tolist() == [
        True,
        False,
        True,
        True,
    ]
    rule = pd.DataFrame({"l1": [1.0, 4.0], "r1": [2.0, 2.0], "l2": [9.0, 0.0], "r2": [1.0, 1.0]})
    out = ctstat_rule(rule, op="<=", lhs=["l1", "l2"], rhs=["r1", "r2"])
    assert out["l1"].tolist() == [True, False] and out["l2"].tolist() == [False, True]
    assert ctstat_rule(rule, op=">", lhs=["l2"], rhs=0.0)["l2"].tolist() == [True, False]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1.158, "1,158"), (4317.158, "4.317,158"), (1234567.5, "1.234.567,5"), (-0.5, "-0,5"), (12.0, "12")],
)
def test_values_are_shown_as_typed(value: float, shown: str) -> None:
    assert fmt_number(value) == shown


# --- issue 23: the remaining cases ---------------------------------------------------------------------------


def _at(catalogue: Catalogue, ref: str) -> str:
    """'Biểu 1!F13' -> the cell key the form puts there."""
    sheet, cell = ref.split("!")
    layout = form_layout(catalogue)
    (key,) = [k for k in layout.positions if layout.address(k) == (sheet, cell)]
    return key


def _form(make_form: MakeForm, catalogue: Catalogue, unit: str, cells: dict[str, object]) -> Path:
    """A form saved as a spreadsheet program saves it: totals recomputed (text and blanks count for nothing)."""
    return make_form(unit=unit, changes={_at(catalogue, ref): v for ref, v in cells.items()})


def _issues(path: Path, catalogue: Catalogue) -> list[Issue]:
    return validate_paths([path], catalogue, "2025-H1").issues


def _type_over(path: Path, ref: str, value: float | str | None) -> None:
    """A total's formula replaced by what the ward typed (a number or text), or deleted (None)."""
    sheet, cell = ref.split("!")
    if value is None:
        kind, typed = b"", b"</c>"
    elif isinstance(value, str):
        kind, typed = b' t="inlineStr"', b"<is><t>%s</t></is></c>" % value.encode()
    else:
        kind, typed = b"", b"<v>%s</v></c>" % repr(value).encode()
    pattern = re.compile(rf'<c r="{cell}"( s="\d+")?( t="\w+")?><f>[^<]*</f>(<v>[^<]*</v>)?</c>'.encode())
    patch_zip(
        path,
        sheet_member(path, sheet),
        lambda xml: pattern.sub(lambda m: b'<c r="%s"%s%s>' % (cell.encode(), m.group(1) or b"", kind) + typed, xml),
    )


#: Biểu 1, female column: 0-2, 3-5, 6-10, 11-15, then the 7+ row (TE02) that must not exceed the total (F9)
_POPULATION = {"Biểu 1!F11": 300, "Biểu 1!F12": 300, "Biểu 1!F14": 1000, "Biểu 1!F15": 1900}


@pytest.mark.parametrize(
    ("typed", "code"),
    [("1.234", "text-in-number"), (None, "blank-value"), ("abc", "text-in-number"), (-1234, "negative-value")],
)
def test_a_wrong_part_is_one_error_naming_the_rule_its_total_breaks(
    make_form: MakeForm, catalogue: Catalogue, typed: object, code: str
) -> None:
    """'1.234' typed as text in F13: the spreadsheet's total F9 leaves it out, so F15 (7+) exceeds F9; that
    disappears once F13 is fixed, so it is one error, at F13, naming F15."""
    path = _form(make_form, catalogue, "00301", {**_POPULATION, "Biểu 1!F13": typed})
    errors = [i for i in _issues(path, catalogue) if i.severity is Severity.ERROR]
    assert [(i.code, i.sheet, i.cell) for i in errors] == [(code, "Biểu 1", "F13")]
    named = errors[0].message("vi").split("Ô này làm sai cả các ô ")[1].split(":")[0].split(", ")
    assert "F15" in named and "F15" in errors[0].message("en").split("It also makes ")[1]
    # the knock-on is real only while F13 is wrong: fixed, the form is valid
    assert _issues(_form(make_form, catalogue, "00301", {**_POPULATION, "Biểu 1!F13": 1234}), catalogue) == []


def test_each_wrong_cell_names_the_knock_ons_it_reaches_and_shares_them(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """Three wrong cells: E13 and F13 each break their column's 7+ rule (E15, F15) and together the total's
    (D15); a negative in Biểu 6 breaks nothing. Each names what it reaches, a shared knock-on at both; none at
    the unrelated cell (all used to be named at the first wrong cell)."""
    cells = {
        **_POPULATION,
        "Biểu 1!F13": "1.234",
        "Biểu 1!E11": 300,
        "Biểu 1!E12": 300,
        "Biểu 1!E13": -1300,
        "Biểu 1!E14": 1000,
        "Biểu 1!E15": 1900,
    }
    path = _form(make_form, catalogue, "00301", {**cells, "Biểu 6!E9": -1})
    issues = {i.cell: i for i in _issues(path, catalogue)}
    assert sorted((i.code, i.sheet, c) for c, i in issues.items()) == [
        ("negative-value", "Biểu 1", "E13"),
        ("negative-value", "Biểu 6", "E9"),
        ("text-in-number", "Biểu 1", "F13"),
    ]
    named = {c: issues[c].message("vi").split("làm sai cả các ô ")[1].split(":")[0].split(", ") for c in ("E13", "F13")}
    assert {"E15", "D15"} <= set(named["E13"]) and "F15" not in named["E13"]
    assert {"F15", "D15"} <= set(named["F13"]) and "E15" not in named["F13"]
    assert "làm sai cả" not in issues["E9"].message("vi")


def test_a_group_larger_than_its_overlapping_total_is_reported_at_the_group(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """Children with disabilities (F14 = 16) outnumber the children in special circumstances (F9 = 11): one
    error where the 16 is, naming the total and its value; D9, which breaks only through F9 and F14, is named."""
    path = _form(make_form, catalogue, "00310", {"Biểu 2!F14": 16, "Biểu 2!F9": 11})
    (issue,) = _issues(path, catalogue)
    assert (issue.code, issue.sheet, issue.cell, issue.value) == ("overlap-bounds", "Biểu 2", "F14", "16")
    vi, en = issue.message("vi"), issue.message("en")
    assert vi.startswith("Nhóm này (16) lớn hơn tổng số ở ô F9 (11)") and "kéo theo ô tổng D9" in vi
    assert en.startswith("This group (16) is larger than the total in F9 (11)")


def test_a_total_below_several_groups_is_reported_at_the_total_naming_them(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """The total is the odd one out when several groups exceed it: reported there, naming each group's cell and
    value; a total above the sum of its groups names the largest."""
    path = _form(make_form, catalogue, "00310", {"Biểu 2!F12": 5, "Biểu 2!F14": 7, "Biểu 2!F9": 4})
    (issue,) = _issues(path, catalogue)
    assert (issue.code, issue.sheet, issue.cell) == ("overlap-bounds", "Biểu 2", "F9")
    assert "các ô F12 = 5, F14 = 7" in issue.message("vi") and "cells F12 = 5, F14 = 7" in issue.message("en")
    path = _form(make_form, catalogue, "00310", {"Biểu 2!F12": 5, "Biểu 2!F14": 7, "Biểu 2!F9": 500})
    issues = _issues(path, catalogue)
    assert [(i.code, i.cell) for i in issues] == [("overlap-bounds", "F9")]
    assert "(nhóm lớn nhất, ô F" in issues[0].message("vi")


#: three mistakes a ward sees at once, and three that compare totals (hidden while the totals had no value)
_SIX = {
    "Biểu 1!E11": -5,
    "Biểu 2!F12": "abc",
    "Biểu 2!E14": 2.5,
    "Biểu 1!F15": 99999,  # 7+ above the child population F9 (a formula)
    "Biểu 3!D20": 500,  # cases above victims: D18 (a formula) against D9 (a formula)
    "Biểu 6!F10": 99999,  # online consultation above the child population F9
}


def _found(path: Path, catalogue: Catalogue) -> list[tuple[str, str, str | None, str | None, str]]:
    return [(i.code, str(i.severity), i.sheet, i.cell, i.message("vi")) for i in _issues(path, catalogue)]


@pytest.mark.parametrize("cells", [_SIX, {**_POPULATION, "Biểu 1!F13": "1.234"}, {}])
def test_uncomputed_totals_are_computed_and_said_once(
    make_form: MakeForm, catalogue: Catalogue, tmp_path: Path, cells: dict[str, object]
) -> None:
    """A form saved by a program that does not calculate: ctstat computes the form's totals as a spreadsheet
    would, so it finds what the same form saved by Excel gives, on the first pass, plus one warning for the file
    (not 51 errors burying the mistakes)."""
    computed = _form(make_form, catalogue, "00304", cells)
    script = tmp_path / "script.xlsx"
    shutil.copy(computed, script)
    drop_cached_values(script)
    first, *rest = _found(script, catalogue)
    assert first[:4] == ("formula-no-cache", "warning", "Biểu 1", "D9")
    assert "51 ô công thức" in first[4] and "ctstat đã tự tính" in first[4]
    assert rest == _found(computed, catalogue)
    if cells is _SIX:
        assert len(rest) == 6  # the three at once, and the three that compare totals
    # the same numbers for the rollup
    _, a = validate_files([computed], catalogue, period="2025-H1")
    _, b = validate_files([script], catalogue, period="2025-H1")
    assert a[0].raw != b[0].raw
    from ctstat.check.validate import validate_batch

    assert validate_batch(a, catalogue)[1].equals(validate_batch(b, catalogue)[1])


def test_a_form_whose_totals_were_not_computed_is_valid_with_one_warning(
    make_form: MakeForm, catalogue: Catalogue, tmp_path: Path
) -> None:
    path = make_form(unit="00322")
    drop_cached_values(path)
    report = validate_paths([path], catalogue, "2025-H1")
    assert report.valid and [(i.code, i.severity) for i in report.issues] == [("formula-no-cache", Severity.WARNING)]


@pytest.mark.parametrize(
    ("typed", "detail"),
    [
        ("1.234", "không phải là một số; có thể là số 1234"),
        (-5.0, "số âm"),
        (2.5, "phần thập phân"),
        (None, "công thức đã bị xóa"),
    ],
)
def test_a_wrong_value_typed_over_a_total_is_one_error(
    make_form: MakeForm, catalogue: Catalogue, typed: float | str | None, detail: str
) -> None:
    """Text, a negative or a fraction typed over the total F9, or its formula deleted: restoring the formula is
    the one fix, so one formula-overwritten error saying what is there (not "type a number" for a blank), and
    the checks it breaks named."""
    path = _form(make_form, catalogue, "00301", {})
    _type_over(path, "Biểu 1!F9", typed)
    (issue,) = _issues(path, catalogue)
    assert (issue.code, issue.severity, issue.cell) == ("formula-overwritten", Severity.ERROR, "F9")
    assert detail in issue.message("vi")


def test_uncomputed_totals_and_a_total_typed_over(make_form: MakeForm, catalogue: Catalogue) -> None:
    """A script left every formula without its value and a number was typed over E9: ctstat computes the others
    from what the cells hold (D9 from the typed E9, as a spreadsheet would), so the typed total that does not
    match its parts is the one error, beside the one warning."""
    path = _form(make_form, catalogue, "00301", {})
    _type_over(path, "Biểu 1!E9", 5)
    drop_cached_values(path)
    got = [(i.code, i.severity, i.cell) for i in _issues(path, catalogue)]
    assert got == [("formula-no-cache", Severity.WARNING, "D9"), ("formula-overwritten", Severity.ERROR, "E9")]
    assert "50 ô công thức" in _issues(path, catalogue)[0].message("vi")


@pytest.mark.parametrize("typed", ["as is", "1.234", -5.0, None])
def test_a_marked_up_copy_revalidates_the_same(
    make_form: MakeForm, catalogue: Catalogue, tmp_path: Path, typed: float | str | None
) -> None:
    """The copy keeps the totals uncomputed, and what was typed over a total (or its formula deleted) as it is:
    the same issues again."""
    from ctstat.write.annotate import RESULT_SHEET, annotate_report

    path = _form(make_form, catalogue, "00304", {**_SIX, "Biểu 1!F13": "1.234"})
    if typed != "as is":
        _type_over(path, "Biểu 3!D9", typed)
    drop_cached_values(path)
    report, subs = validate_files([path], catalogue, period="2025-H1")
    (copy,) = annotate_report(report, subs, catalogue, tmp_path / "k")
    rename_sheet(copy, RESULT_SHEET, "Ket qua")  # a copy is never a submission: its form is read once renamed
    again = validate_paths([copy], catalogue, "2025-H1")
    assert [(i.code, i.severity, i.sheet, i.cell) for i in again.issues] == [
        (i.code, i.severity, i.sheet, i.cell) for i in report.issues
    ]
    assert ("formula-no-cache", "Biểu 1", "D9") in [(i.code, i.sheet, i.cell) for i in report.issues]
