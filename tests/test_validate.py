from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import form_layout
from ctstat.model.report import Severity
from ctstat.pipeline import rollup_paths, validate_files, validate_paths
from ctstat.read import guard

from .conftest import SAMPLES, MakeForm

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
FAULTS = json.loads((SAMPLES / "faulty" / "faults.json").read_text(encoding="utf-8"))


def flat(path: Path, catalogue: Catalogue, **kw: object) -> list[tuple[str, str | None, str | None]]:
    return validate_paths([path], catalogue, **kw).flatten(("code", "sheet", "cell"))  # type: ignore[arg-type]


def test_every_valid_sample_has_no_issue(catalogue: Catalogue) -> None:
    report = validate_paths([SAMPLES / "wards"], catalogue)
    assert len(report.files) == 14 + 38
    assert report.issues == []
    assert {f.vintage for f in report.files} == {"2025-06-30", "2025-07-01"}


def test_faulty_samples_report_their_documented_fault_at_the_right_cell(catalogue: Catalogue) -> None:
    report = validate_paths([SAMPLES / "faulty"], catalogue, period="2025-H1")
    by_file = {Path(f.path).name: f for f in report.files}
    assert sorted(by_file) == sorted(f["file"] for f in FAULTS)
    for fault in FAULTS:
        rep = by_file[fault["file"]]
        got = sorted((i.code, i.sheet, i.cell) for i in rep.issues)
        assert got == sorted(tuple(e) for e in fault["expected"]), fault["file"]
        # each is invalid, but for totals a program left uncomputed (ctstat computes them: a warning)
        assert rep.valid is ({code for code, _, _ in fault["expected"]} == {"formula-no-cache"}), fault["file"]
    assert not report.valid


def test_blank_is_not_zero(make_form: MakeForm, catalogue: Catalogue) -> None:
    key = cell_key("VP01", TOTAL, TOTAL)
    path = make_form(changes={key: None})
    assert flat(path, catalogue) == [("blank-value", "Biểu 4", "D9")]


def test_text_in_a_number_cell_says_what_it_may_mean(make_form: MakeForm, catalogue: Catalogue) -> None:
    path = make_form(changes={cell_key("VH01", TOTAL, TOTAL): "12", cell_key("TG02", TOTAL, "sex:nam"): "1.158"})
    report = validate_paths([path], catalogue)
    assert [(i.code, i.where, i.message("vi")) for i in report.issues] == [
        (
            "text-in-number",
            "Biểu 5!D9",
            "Ô chứa chữ '12' thay vì số; đây là số 12 được lưu dạng chữ. Xóa và nhập lại bằng số.",
        ),
        (
            "text-in-number",
            "Biểu 6!E10",
            "Ô chứa chữ '1.158' thay vì số; có thể là số 1158 (dấu chấm ngăn cách hàng nghìn). Xóa và nhập lại "
            "bằng số.",
        ),
    ]  # each once, at its cell: the totals and rules they leave unjudged are not issues of their own


def test_decimal_negative_and_yes_no(make_form: MakeForm, catalogue: Catalogue) -> None:
    path = make_form(
        changes={
            cell_key("VP01", TOTAL, TOTAL): 1.5,
            cell_key("VH02", TOTAL, TOTAL): -1,
            cell_key("VH03", TOTAL, TOTAL): "Chưa",
        }
    )
    report = validate_paths([path], catalogue)
    assert [(i.code, i.severity, i.sheet, i.cell, i.message("vi")) for i in report.issues] == [
        ("not-integer", Severity.ERROR, "Biểu 4", "D9", "Số 1,5 có phần thập phân; số đếm phải là số nguyên."),
        ("negative-value", Severity.ERROR, "Biểu 5", "D10", "Số âm (-1). Số liệu không được âm."),
        ("not-yes-no", Severity.ERROR, "Biểu 5", "D11", "Giá trị 'Chưa' không hợp lệ. Chọn 'Có' hoặc 'Không'."),
    ]


def test_yes_no_accepts_case_and_missing_diacritics(make_form: MakeForm, catalogue: Catalogue) -> None:
    assert flat(make_form(changes={cell_key("VH03", TOTAL, TOTAL): "khong"}), catalogue) == []
    assert flat(make_form(changes={cell_key("VH03", TOTAL, TOTAL): "CÓ"}, name="b.xlsx"), catalogue) == []


def test_rule_is_reported_with_both_numbers(make_form: MakeForm, catalogue: Catalogue) -> None:
    path = make_form(changes={cell_key("VH01", TOTAL, TOTAL): 5, cell_key("VH02", TOTAL, TOTAL): 7})
    report = validate_paths([path], catalogue)
    (issue,) = report.issues
    assert (issue.code, issue.sheet, issue.cell, issue.severity) == (
        "facilities-exceed-villages",
        "Biểu 5",
        "D10",
        Severity.ERROR,
    )
    assert issue.message("vi") == (
        "Số thôn có thiết chế văn hóa, thể thao (7) lớn hơn tổng số thôn, tổ dân phố (5). "
        "[VH02: dòng tổng số, cột tổng số; so với ô Biểu 5!D9]"
    )


def test_overlapping_breakdown_bounds(make_form: MakeForm, catalogue: Catalogue) -> None:
    # a total smaller than the largest group: impossible even when a child is in several groups
    path = make_form(changes={cell_key("HC01", TOTAL, "sex:nam"): 0, cell_key("HC02", TOTAL, "sex:nam"): 0})
    report = validate_paths([path], catalogue)
    assert [(i.code, i.sheet, i.cell) for i in report.issues] == [
        ("overlap-bounds", "Biểu 2", "E9"),
        ("overlap-bounds", "Biểu 2", "E25"),
    ]
    # between the largest group and the sum of the groups, each group larger than the total named
    over = "E13 = 2, E14 = 8, E15 = 1, E16 = 1, E17 = 1, E18 = 3, E21 = 2, E23 = 3"
    assert report.issues[0].message("vi").startswith(f"Tổng số (0) phải từ 8 (nhóm lớn nhất, các ô {over}) đến 21")
    assert report.issues[1].message("vi").endswith("Lỗi này kéo theo ô tổng D25 (không báo riêng).")


def test_cover_checks(make_form: MakeForm, catalogue: Catalogue) -> None:
    assert flat(make_form(cover={"unit_code": "008"}), catalogue) == [("not-a-commune", "Thông tin chung", "C5")]
    assert flat(make_form(cover={"unit_name": "Phường Bến Nghé"}, name="n.xlsx"), catalogue) == [
        ("unit-name-mismatch", "Thông tin chung", "C6")
    ]
    assert flat(make_form(cover={"unit_name": "P. Thanh Trì"}, name="ok.xlsx"), catalogue) == []
    assert flat(make_form(cover={"unit_code": 301.0}, name="num.xlsx"), catalogue) == []  # Excel dropped the zeros
    assert flat(make_form(cover={"period": "2025-Q1"}, name="p.xlsx"), catalogue) == [
        ("bad-period", "Thông tin chung", "C9")
    ]
    assert flat(make_form(cover={"vintage": "2025-07-01"}, name="v.xlsx"), catalogue) == [
        ("wrong-vintage", "Thông tin chung", "C10")
    ]
    assert flat(make_form(cover={"template_version": "2020.1+00000000"}, name="t.xlsx"), catalogue) == [
        ("template-version", "Thông tin chung", "C11")
    ]


def test_unit_lookup_uses_the_vintage_of_the_period(make_form: MakeForm, catalogue: Catalogue) -> None:
    # 00331 is Phường Thịnh Liệt before the reform and Phường Hoàng Mai after it
    pre = validate_paths([make_form("00331", "2025-H1", name="pre.xlsx")], catalogue)
    post = validate_paths([make_form("00331", "2025-H2", name="post.xlsx")], catalogue)
    assert (pre.files[0].unit_name, post.files[0].unit_name) == ("Phường Thịnh Liệt", "Phường Hoàng Mai")
    assert pre.valid and post.valid


def test_year_2025_uses_the_list_the_form_was_made_for(make_form: MakeForm, catalogue: Catalogue) -> None:
    path = make_form("00301", "2025", vintage="2025-06-30")
    assert validate_paths([path], catalogue).files[0].vintage == "2025-06-30"
    report = validate_paths([path], catalogue, units="2025-07-01")
    assert report.flatten(("code",)) == [("wrong-vintage",)]


def _rewrite(path: Path, member: str, old: bytes, new: bytes) -> None:
    from .faults import patch_zip

    def change(xml: bytes) -> bytes:
        assert old in xml
        return xml.replace(old, new, 1)

    patch_zip(path, member, change)


def _swap_shared_strings(path: Path, a: bytes, b: bytes) -> None:
    _rewrite(path, "xl/sharedStrings.xml", b"<t>" + a + b"</t>", b"<t>@@</t>")
    _rewrite(path, "xl/sharedStrings.xml", b"<t>" + b + b"</t>", b"<t>" + a + b"</t>")
    _rewrite(path, "xl/sharedStrings.xml", b"<t>@@</t>", b"<t>" + b + b"</t>")


def test_moved_rows_are_read_by_their_code_and_reported(make_form: MakeForm, catalogue: Catalogue) -> None:
    from ctstat.read.workbook import read_submission

    ind, org = cell_key("VP02", "ca-nhan", TOTAL), cell_key("VP02", "to-chuc", TOTAL)
    path = make_form(changes={ind: 5, org: 2, cell_key("VP01", TOTAL, TOTAL): 4})
    _swap_shared_strings(path, b"VP02.01", b"VP02.02")  # the two rows now carry each other's code
    report = validate_paths([path], catalogue)
    assert report.flatten(("code", "severity", "sheet", "cell")) == [
        ("moved-row", "warning", "Biểu 4", "B12"),
        ("moved-row", "warning", "Biểu 4", "B13"),
    ]
    layout = form_layout(catalogue)
    raw = dict(zip(layout.keys, read_submission(path, catalogue).raw, strict=True))
    assert (raw[ind], raw[org]) == (2.0, 5.0)  # read where the codes are, not where the form put them


def test_a_row_code_edited_away_is_a_missing_row(make_form: MakeForm, catalogue: Catalogue) -> None:
    path = make_form()
    _rewrite(path, "xl/sharedStrings.xml", b"<t>VP02.02</t>", b"<t>VP2.2</t>")
    assert flat(path, catalogue) == [("missing-row", "Biểu 4", "B13"), ("unknown-row", "Biểu 4", "B13")]


def test_hidden_row_with_data_is_a_warning(make_form: MakeForm, catalogue: Catalogue) -> None:
    from .faults import sheet_member

    path = make_form()
    _rewrite(path, sheet_member(path, "Biểu 1"), b'<row r="11"', b'<row r="11" hidden="1"')
    report = validate_paths([path], catalogue)
    assert report.flatten(("code", "severity", "sheet", "cell")) == [("hidden-data", "warning", "Biểu 1", "A11")]
    assert report.valid
    label_row = make_form(name="label.xlsx")  # row 10 only says "Chia theo nhóm tuổi:": hiding it hides no data
    _rewrite(label_row, sheet_member(label_row, "Biểu 1"), b'<row r="10"', b'<row r="10" hidden="1"')
    assert validate_paths([label_row], catalogue).issues == []


def test_not_a_workbook_too_large_and_zip_bomb(
    tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = tmp_path / "notes.xlsx"
    text.write_text("hello", encoding="utf-8")
    assert flat(text, catalogue) == [("not-a-workbook", None, None)]
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/zeros.bin", b"\0" * (guard.MAX_TOTAL_BYTES + 1))
    assert flat(bomb, catalogue) == [("unpacked-too-large", None, None)]
    monkeypatch.setattr(guard, "MAX_FILE_BYTES", 10)
    assert flat(text.with_name("notes.xlsx"), catalogue) == [("not-a-workbook", None, None)]
    big = tmp_path / "big.xlsx"
    big.write_bytes(b"PK\x03\x04" + b"x" * 20)
    assert flat(big, catalogue) == [("file-too-large", None, None)]


def test_a_workbook_that_is_not_a_form(tmp_path: Path, catalogue: Catalogue) -> None:
    import xlsxwriter

    path = tmp_path / "other.xlsx"
    wb = xlsxwriter.Workbook(path)
    wb.add_worksheet("Sheet1").write(0, 0, 42)
    wb.close()
    assert flat(path, catalogue) == [("not-a-form", None, None)]


def test_inputs_are_never_touched(catalogue: Catalogue, tmp_path: Path) -> None:
    src = tmp_path / "faulty"
    shutil.copytree(SAMPLES / "faulty", src)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in src.iterdir()}
    from ctstat.write.annotate import annotate_report

    report, subs = validate_files([src], catalogue, period="2025-H1")
    annotate_report(report, subs, catalogue, tmp_path / "out")
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in src.iterdir()}
    assert before == after


def test_annotated_copy_marks_cells_and_links_them(catalogue: Catalogue, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from ctstat.write.annotate import RESULT_SHEET, annotate_report

    report, subs = validate_files([SAMPLES / "faulty" / "04-tro-giup-vuot.xlsx"], catalogue)
    (out,) = annotate_report(report, subs, catalogue, tmp_path)
    wb = load_workbook(out)
    assert wb.sheetnames[0] == RESULT_SHEET
    ws = wb[RESULT_SHEET]
    rows = list(ws.iter_rows(min_row=6, values_only=True))
    # one error, at the part typed (E30); the total D30 it breaks is named in it, not listed again
    assert [(r[1], r[2], r[4]) for r in rows] == [("Biểu 2", "E30", "assisted-exceeds-special")]
    assert ws["C6"].hyperlink.location == "'Biểu 2'!E30"
    cell = wb["Biểu 2"]["E30"]
    assert cell.comment is not None and "assisted-exceeds-special" in cell.comment.text
    assert cell.fill.fgColor.rgb.endswith("FFC7CE")


def test_annotation_of_an_unreadable_file_still_lists_its_issue(catalogue: Catalogue, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from ctstat.write.annotate import RESULT_SHEET, annotate_report

    report, subs = validate_files([SAMPLES / "faulty" / "09-tep-hong.xlsx"], catalogue)
    (out,) = annotate_report(report, subs, catalogue, tmp_path)
    assert load_workbook(out).sheetnames == [RESULT_SHEET]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_marked_up_copy_is_never_a_submission(catalogue: Catalogue, tmp_path: Path, lang: str) -> None:
    """A copy holds the form with the ward's values and cover: wherever it lies and whatever it is called, ctstat
    knows it by its result sheet, and it is one issue of its own, naming no unit, never a ward's submission."""
    from ctstat.write.annotate import annotate_report

    report, subs = validate_files([SAMPLES / "faulty" / "01-so-am.xlsx", HM / "00304-vinh-hung.xlsx"], catalogue)
    inbox = tmp_path / "inbox"
    shutil.copytree(HM, inbox)
    (copy,) = annotate_report(report, subs, catalogue, tmp_path / "k", lang=lang)  # type: ignore[arg-type]
    renamed = inbox / "00301-thanh-tri-da-sua.xlsx"  # renamed as a ward would, among the wards' files
    shutil.copyfile(copy, renamed)
    again = validate_files([renamed], catalogue)[0].files[0]
    assert (again.unit, again.valid) == (None, False)
    assert [(i.code, i.sheet, i.cell) for i in again.issues] == [("marked-up-copy", "Kết quả kiểm tra", "A1")]
    assert "'01-so-am.xlsx'" in again.issues[0].text_vi and "'01-so-am.xlsx'" in again.issues[0].text_en
    # not marked up again; a rollup of the folder is whole, the copy named for what it is, never a duplicate
    assert annotate_report(*validate_files([renamed], catalogue), catalogue, tmp_path / "k2") == []
    result = rollup_paths([inbox], "2025-H1", tmp_path / "out", catalogue=catalogue)
    assert not result.refused and not result.partial
    codes = {Path(f.path).name: [i.code for i in f.issues] for f in result.report.files if f.issues}
    assert codes == {renamed.name: ["marked-up-copy"]}


def test_layout_keys_are_the_frame_columns(catalogue: Catalogue) -> None:
    layout = form_layout(catalogue)
    assert len(layout.keys) == len(set(layout.keys)) == sum(len(list(e.cells())) for e in catalogue.elements.values())


@pytest.mark.parametrize(
    "name", ["00301-saved-by-libreoffice.xlsx", "00301-saved-by-libreoffice.ods", "00301-saved-by-libreoffice.xls"]
)
def test_a_form_saved_by_libreoffice_calc_reads_back_the_same(name: str, catalogue: Catalogue) -> None:
    """The sample form opened and saved by LibreOffice Calc (as .xlsx, .ods and Excel 97 .xls) reads back equal."""
    from ctstat.read.workbook import read_submission

    data = Path(__file__).parent / "data"
    original = read_submission(SAMPLES / "wards" / "2025-H1-hoang-mai" / "00301-thanh-tri.xlsx", catalogue)
    saved = read_submission(data / name, catalogue)
    report = validate_paths([data / name], catalogue)
    assert report.issues == [] and report.files[0].unit == "00301"
    assert saved.raw == original.raw
    assert saved.format == name.rsplit(".", 1)[1]


def test_a_hidden_form_sheet_is_a_warning(make_form: MakeForm, catalogue: Catalogue) -> None:
    path = make_form()
    name = '<sheet name="Biểu 5"'.encode()
    _rewrite(path, "xl/workbook.xml", name, name + b' state="hidden"')
    report = validate_paths([path], catalogue)
    assert report.flatten(("code", "severity", "sheet", "cell")) == [("hidden-data", "warning", "Biểu 5", None)]


def test_a_warm_batch_looks_for_no_module(make_form: MakeForm, catalogue: Catalogue) -> None:
    """Judging a batch once everything is loaded searches for no module: an import that fails is not remembered by
    Python, so one made per batch or per schema (pandera asking whether geopandas is there) searched every folder
    of sys.path each time, a tenth of a portal upload's judging."""
    import sys

    from ctstat.check.validate import validate_batch
    from ctstat.read.workbook import read_submission

    subs = [read_submission(make_form(unit=u), catalogue) for u in ("00301", "00304")]
    validate_batch(subs, catalogue, None, None)  # warm: pandera, the schemas
    looked_for: list[str] = []

    class Watch:
        def find_spec(self, name: str, *args: object) -> None:
            looked_for.append(name)

    sys.meta_path.insert(0, Watch())  # type: ignore[arg-type]
    try:
        report, _ = validate_batch(subs, catalogue, None, None)
    finally:
        sys.meta_path.pop(0)
    assert [f.issues for f in report.files] == [[], []]
    assert looked_for == []


def test_after_warm_up_the_first_batch_imports_nothing(make_form: MakeForm) -> None:
    """`warm_up` (run while the workers read) loads everything the first batch needs, pandera's backends too: in a
    fresh process, judging the first batch after it imports no module. Imported after reading, they were a burst of
    allocations over a heap holding every form read, and the full collection it set off walked them all."""
    import subprocess
    import sys

    paths = [str(make_form(unit=u)) for u in ("00301", "00304")]
    script = (
        "import sys\n"
        "from ctstat.check.validate import validate_batch, warm_up\n"
        "from ctstat.model.catalogue import load_catalogue\n"
        "from ctstat.check.file_checks import FileCheck\n"
        "from ctstat.read.inputs import _read\n"
        "cat = load_catalogue()\n"
        "subs = [_read(p, cat, FileCheck(cat, None, None)) for p in sys.argv[1:]]  # as a reading worker does\n"
        "warm_up(cat, judge=True)  # as the input stage does while its workers read\n"
        "before = set(sys.modules)\n"
        "report, _ = validate_batch(subs, cat, None, None)\n"
        "assert [f.issues for f in report.files] == [[], []], report\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_wrong_cells_consequences_are_named_in_the_order_the_schemas_find_them(
    make_form: MakeForm, catalogue: Catalogue
) -> None:
    """Every element's checks run merged in one pandera call (`schema.batch_checks`); a file's failures are still
    told in the order each element's schema finds them, so the same file gets the same words: a negative cell
    that breaks totals and rules of two elements names them as the elements' schemas reach them."""
    report = validate_paths([make_form(changes={"XH01/*/sex:nam": -1})], catalogue)
    (issue,) = report.files[0].issues
    assert issue.code == "negative-value" and issue.cell == "E9"
    assert "các ô D9, E9, D18, D27, E27:" in issue.message("vi"), issue.message("vi")
