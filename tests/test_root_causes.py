"""One mistake, one error: a wrong value is reported at the cell typed, with what it makes wrong; the totals and
rules that disagree only because of it are not separate errors; comparisons are exact on whole numbers and
tolerant of rounding on fractions; values are shown as typed."""

from __future__ import annotations

import pandas as pd
import pytest

from ctstat.check.file_checks import fmt_number
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import form_layout
from ctstat.pandera_checks import ctstat_overlaps, ctstat_rule, ctstat_sums, ctstat_whole
from ctstat.pipeline import validate_paths

from .conftest import MakeForm


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
