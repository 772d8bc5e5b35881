"""The checks of one file, pinned to exact issues: each test kills a plausible bug (a flipped comparison, a dropped
issue, a swapped severity, an issue reported twice) that the rest of the suite let through (tests/test_t31_*.py:
found by mutating the code by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.report import Severity
from ctstat.pipeline import validate_paths

from .conftest import MakeForm


def _issues(path: Path, catalogue: Catalogue, **kw: object) -> list[tuple[str, str, str | None, str | None]]:
    """(code, severity, sheet, cell) of every issue of one file, in the report's order."""
    report = validate_paths([path], catalogue, **kw)  # type: ignore[arg-type]
    return [(i.code, str(i.severity), i.sheet, i.cell) for i in report.issues]


def test_a_blank_cell_compared_by_a_rule_is_one_issue_that_names_nothing_else(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """VH01 (villages) blank: the rule VH02 <= VH01 cannot be judged, so the blank cell is the only issue and its
    message does not claim it breaks D10 (a blank side of a rule holds, compare.compare)."""
    path = make_form(changes={cell_key("VH01", TOTAL, TOTAL): None})
    report = validate_paths([path], catalogue)
    (issue,) = report.issues
    assert (issue.code, issue.severity, issue.sheet, issue.cell) == ("blank-value", Severity.ERROR, "Biểu 5", "D9")
    assert issue.message("vi") == ("Ô để trống. Ghi số liệu; nếu không có thì ghi 0 (ô trống không được hiểu là 0).")


def test_a_negative_fraction_is_said_to_have_a_fraction_with_the_hint(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """-1.158 is negative and not whole: one error, not-integer (the later cell check wins, schema.batch_checks),
    with the thousands hint, naming the totals it makes wrong."""
    path = make_form(changes={cell_key("TE01", "0-2", "sex:nam"): -1.158})
    (issue,) = validate_paths([path], catalogue).issues
    assert (issue.code, issue.severity, issue.sheet, issue.cell) == ("not-integer", Severity.ERROR, "Biểu 1", "E11")
    assert issue.message("vi") == (
        "Số -1,158 có phần thập phân; số đếm phải là số nguyên. Có thể là số -1158 (dấu chấm ngăn cách hàng nghìn "
        "bị máy hiểu là dấu thập phân). Ô này làm sai cả các ô D9, E9, D11: sửa ô này trước (các ô đó không báo "
        "lỗi riêng)."
    )


def test_the_cover_is_judged_field_by_field(make_form: MakeForm, catalogue: Catalogue) -> None:
    """Each cover field wrong on its own is one issue at its cell, of its severity: a blank form version or unit
    list is wrong (not taken for 'any'), another half of the same year is the wrong period, a commune's name with
    the wrong type of unit (Xã for a Phường) is a warning."""
    cover = "Thông tin chung"
    assert _issues(make_form(cover={"template_version": None}, name="t.xlsx"), catalogue) == [
        ("template-version", "error", cover, "C11")
    ]
    assert _issues(make_form(cover={"vintage": None}, name="v.xlsx"), catalogue) == [
        ("wrong-vintage", "error", cover, "C10")
    ]
    h2 = make_form(unit="00331", period="2025-H2", name="h2.xlsx")
    assert _issues(h2, catalogue, period="2025-H1") == [("wrong-period", "error", cover, "C9")]
    assert _issues(h2, catalogue, period="2025-H2") == []
    report = validate_paths([make_form(cover={"unit_name": "Xã Thanh Trì"}, name="xa.xlsx")], catalogue)
    assert [(i.code, i.severity, i.cell) for i in report.issues] == [("unit-name-mismatch", Severity.WARNING, "C6")]
    assert report.valid and report.files[0].unit == "00301"


def test_mistakes_are_listed_sheet_by_sheet_row_by_row_with_the_rules_numbers_in_place(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """Issues come in reading order (sheet, then row, then column: F11 before E12), and a rule's message puts each
    number in its place (VH02 = 7 is the left side, VH01 = 5 the right)."""
    changes = {
        cell_key("TE01", "0-2", "sex:nu"): -3,  # F11
        cell_key("TE01", "3-5", "sex:nam"): "x",  # E12
        cell_key("VH01", TOTAL, TOTAL): 5,
        cell_key("VH02", TOTAL, TOTAL): 7,
    }
    report = validate_paths([make_form(changes=changes)], catalogue)
    assert [(i.code, i.sheet, i.cell) for i in report.issues] == [
        ("negative-value", "Biểu 1", "F11"),
        ("text-in-number", "Biểu 1", "E12"),
        ("facilities-exceed-villages", "Biểu 5", "D10"),
    ]
    rule = report.issues[-1]
    assert rule.message("vi") == (
        "Số thôn có thiết chế văn hóa, thể thao (7) lớn hơn tổng số thôn, tổ dân phố (5). "
        "[VH02: dòng tổng số, cột tổng số; so với ô Biểu 5!D9]"
    )
    assert rule.message("en").startswith("Villages with facilities (7) exceed the number of villages (5).")


def test_one_unit_twice_in_a_period_is_a_duplicate_but_its_two_halves_are_not(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    h1 = make_form(unit="00331", period="2025-H1", name="h1.xlsx")
    h2 = make_form(unit="00331", period="2025-H2", name="h2.xlsx")
    assert validate_paths([h1, h2], catalogue).issues == []
    again = make_form(unit="00331", period="2025-H1", name="h1-lai.xlsx", seed=1)
    report = validate_paths([h1, h2, again], catalogue)
    assert [(Path(f.path).name, [(i.code, i.sheet, i.cell) for i in f.issues]) for f in report.files] == [
        ("h1.xlsx", [("duplicate-unit", "Thông tin chung", "C5")]),
        ("h2.xlsx", []),
        ("h1-lai.xlsx", [("duplicate-unit", "Thông tin chung", "C5")]),
    ]
    assert all(str(h1) in i.message("vi") and str(again) in i.message("vi") for i in report.issues)


def test_one_code_on_each_unit_list_of_the_year_2025_is_two_units_not_a_duplicate(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    """The year 2025 may be reported on either unit list, and 00331 is Phường Thịnh Liệt on the old one and Phường
    Hoàng Mai on the new: one form of each is two units, each valid (they were both called duplicates); two
    forms on the same list still are."""
    from ctstat.model.period import Period
    from ctstat.model.units import load_units
    from ctstat.write.synth import synth_values, write_ward

    year = Period.parse("2025")

    def form(vintage: str, name: str, seed: int = 0) -> Path:
        h = load_units(vintage)
        unit = h.get("00331")
        assert unit is not None
        values = synth_values(catalogue, unit, year, seed)
        return write_ward(tmp_path, catalogue, h, unit, year, seed, values=values, name=name)

    old, new = form("2025-06-30", "old.xlsx"), form("2025-07-01", "new.xlsx")
    report = validate_paths([old, new], catalogue)
    assert [(f.unit, f.unit_name, f.vintage, f.issues) for f in report.files] == [
        ("00331", "Phường Thịnh Liệt", "2025-06-30", []),
        ("00331", "Phường Hoàng Mai", "2025-07-01", []),
    ]
    again = validate_paths([old, new, form("2025-07-01", "new-2.xlsx", seed=1)], catalogue)
    assert [[i.code for i in f.issues] for f in again.files] == [[], ["duplicate-unit"], ["duplicate-unit"]]


def test_a_batch_judged_in_parts_after_an_unreadable_file_gets_each_files_issues_once(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts of four files are judged while the rest is read; an unreadable file first shifts the readable ones'
    positions: each file still gets its documented issues exactly once (none judged twice, none skipped)."""
    import json

    import ctstat.pipeline
    from ctstat.check.validate import validate_batch
    from ctstat.model.period import Period

    from .conftest import SAMPLES

    faulty = SAMPLES / "faulty"
    expected = {f["file"]: [tuple(e) for e in f["expected"]] for f in json.loads((faulty / "faults.json").read_text())}
    names = ["09-tep-hong.xlsx", "01-so-am.xlsx", "02-so-dang-chu.xlsx", "03-cong-khong-khop.xlsx"]
    names += ["04-tro-giup-vuot.xlsx", "12-co-mat-khau.xlsx", "11-go-de-cong-thuc.xlsx"]
    monkeypatch.setattr(ctstat.pipeline, "JUDGED_AHEAD", 4)
    ahead: list[str] = []
    period = Period.parse("2025-H1")
    subs = ctstat.pipeline.read_checked(
        [faulty / n for n in names],
        catalogue,
        period,
        "2025-06-30",
        1,
        judged=lambda c: ahead.extend(s.path for s in c),
    )
    assert ahead == [str(faulty / n) for n in names[:4]]  # one part judged ahead, the rest after the reading
    report, frame = validate_batch(subs, catalogue, period, "2025-06-30")
    assert [Path(f.path).name for f in report.files] == names
    for f in report.files:
        assert [(i.code, i.sheet, i.cell) for i in f.issues] == expected[Path(f.path).name], f.path
    assert list(frame.index) == [1, 2, 3, 4, 6]  # the readable files, by position


def test_a_rule_compares_rows_only_of_one_dimension_even_where_two_share_a_category_key(tmp_path: Path) -> None:
    """The catalogue is data: give the need 'an' the key 'duoi-6', also an age's. The rule AA02 <= AA01 compares
    their total rows only (AA02's rows are needs, AA01's ages: a need's row is not an age's of the same key)."""
    import shutil

    from ctstat.check.schema import rule_specs
    from ctstat.model.catalogue import load_catalogue

    from .conftest import ROOT

    folder = tmp_path / "cat"
    shutil.copytree(ROOT / "tests" / "catalogue", folder)
    text = (folder / "catalogue.yaml").read_text(encoding="utf-8")
    (folder / "catalogue.yaml").write_text(text.replace("{key: an,", "{key: duoi-6,"), encoding="utf-8")
    small = load_catalogue(folder)
    assert "duoi-6" in small.elements["AA02"].row_keys() and "duoi-6" in small.elements["AA01"].row_keys()
    assert [(s.at, s.rhs) for s in rule_specs(small)] == [
        (cell_key("AA02", TOTAL, col), cell_key("AA01", TOTAL, col)) for col in (TOTAL, "sex:nam", "sex:nu")
    ]


def test_spaces_around_the_form_version_and_the_unit_list_are_not_another_version(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """A space typed around the cover's form version or unit list was another version, said with two values that
    look the same ("' 2025-06-30', but the period uses 2025-06-30"); spaces are dropped, as around the period and
    the unit code. Blank is still blank."""
    spaced = {
        "template_version": f" {catalogue.template_version} ",
        "vintage": "2025-06-30\u00a0 ",
        "period": " 2025-H1 ",
    }
    assert _issues(make_form(cover=spaced, name="spaced.xlsx"), catalogue) == []
    assert _issues(make_form(cover={"vintage": "  "}, name="blank.xlsx"), catalogue) == [
        ("wrong-vintage", "error", "Thông tin chung", "C10")
    ]
    (issue,) = validate_paths([make_form(cover={"vintage": " 2025-07-01"}, name="other.xlsx")], catalogue).issues
    assert issue.message("vi") == (
        "Biểu ghi danh mục đơn vị hành chính '2025-07-01', nhưng kỳ 2025-H1 dùng danh mục 2025-06-30."
    )


def test_a_total_that_is_not_the_sum_of_its_parts_says_the_sum(make_form: MakeForm, catalogue: Catalogue) -> None:
    """5 children abused by violence (3 boys, 2 girls) but 1 + 2 + 3 + 0 by age: the sum-mismatch says 6 (the parts'
    sum, not their largest, 3), at D11 and again at the total row D9 typed the same way."""
    cells = {"sex:nam": 3, "sex:nu": 2, "age_group:0-2": 1, "age_group:3-5": 2, "age_group:6-10": 3}
    changes: dict[str, object] = {cell_key("XH01", r, k): v for r in (TOTAL, "bao-luc") for k, v in cells.items()}
    changes |= {cell_key("XH01", r, "abuse_setting:gia-dinh"): 5 for r in (TOTAL, "bao-luc")}
    changes |= {cell_key("XH02", "bao-luc", TOTAL): 1, cell_key("XH03", TOTAL, "sex:nam"): 1}
    report = validate_paths([make_form(changes=changes)], catalogue)
    assert [(i.code, i.cell, i.value, i.message("vi")) for i in report.issues] == [
        (
            "sum-mismatch",
            cell,
            "5",
            f"Tổng số (5) không bằng tổng các phần theo nhóm tuổi, ô G{row}:J{row} (6). Sửa tổng hoặc các phần "
            "cho khớp.",
        )
        for cell, row in (("D9", 9), ("D11", 11))
    ]


def test_a_district_workbook_of_another_period_is_one_mismatch_saying_both(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    """Hoàng Mai's 2025-H1 workbook given where another period is asked: one rollup-mismatch naming its period and
    the one needed (none of its rows judged); asked for its own period, or none, it is valid."""
    from ctstat.pipeline import rollup_paths

    from .conftest import SAMPLES

    (book,) = rollup_paths([SAMPLES / "wards" / "2025-H1-hoang-mai"], "2025-H1", tmp_path, catalogue=catalogue).outputs
    for period in ("2025-H2", "2024-H1"):
        report = validate_paths([book], catalogue, period=period)
        assert [(i.code, i.message("vi")) for i in report.issues] == [
            ("rollup-mismatch", f"Tệp tổng hợp này không dùng được: kỳ 2025-H1, cần {period}.")
        ]
    assert validate_paths([book], catalogue, period="2025-H1").issues == []
    assert validate_paths([book], catalogue).issues == []


def test_a_total_typed_over_names_the_checks_it_breaks_where_a_reader_finds_them(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """100 typed over the total E9 (boys, Biểu 1) breaks the checks at D9, E9 and E15 on its sheet and the rule
    TG02 <= TE01 at E10 of Biểu 6: that one is named with its sheet (it was 'E10', a label row of Biểu 1)."""
    from .test_root_causes import _type_over

    path = make_form(name="typed.xlsx")
    _type_over(path, "Biểu 1!E9", 100.0)
    (issue,) = validate_paths([path], catalogue).issues
    assert (issue.code, issue.severity, issue.sheet, issue.cell) == (
        "formula-overwritten",
        Severity.ERROR,
        "Biểu 1",
        "E9",
    )
    assert issue.message("vi").endswith(
        "Số đã gõ không khớp các phần nên làm sai kiểm tra ở ô D9, E9, E15, Biểu 6!E10; khôi phục công thức là hết lỗi."
    )
    assert "breaks the checks at D9, E9, E15, Biểu 6!E10;" in issue.message("en")


def test_a_moved_total_typed_over_names_its_checks_where_they_moved(make_form: MakeForm, catalogue: Catalogue) -> None:
    """The rows TE01 (total, row 9) and TE01.01 (row 11) swapped: the total's numbers now typed at row 11 have no
    formula; the checks they break are named where the file has them (E11, not the form's E9)."""
    from .test_validate import _swap_shared_strings

    path = make_form(name="swapped.xlsx")
    _swap_shared_strings(path, b"TE01", b"TE01.01")
    report = validate_paths([path], catalogue)
    assert [(i.code, i.sheet, i.cell) for i in report.issues] == [
        ("moved-row", "Biểu 1", "B9"),
        ("moved-row", "Biểu 1", "B11"),
        ("formula-overwritten", "Biểu 1", "E11"),
        ("formula-overwritten", "Biểu 1", "F11"),
    ]
    for issue, col in zip(report.issues[2:], "EF", strict=True):
        assert f"làm sai kiểm tra ở ô {col}11, {col}15, Biểu 6!{col}10;" in issue.message("vi")
