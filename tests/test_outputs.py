"""Inputs are sacred, outputs are inert: no command writes over an input, and nothing from an input becomes a
formula, a link or a terminal escape in any output (workbooks, marked-up copies, CSV, JSON, the terminal)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import cell_key
from ctstat.model.layout import RESULT_SHEET
from ctstat.pipeline import validate_files
from ctstat.write.inert import csv_field

from . import hostile
from .conftest import SAMPLES, MakeForm, rename_sheet

CTSTAT = [sys.executable, "-m", "ctstat"]
HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
LIVE = '=HYPERLINK("http://evil.example/","bấm vào đây")'
DDE = "=cmd|' /C calc'!A0"


def _state(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _xml_of_outputs(folder: Path) -> list[tuple[str, str, bytes]]:
    """(workbook, part, XML) of every part of every .xlsx under `folder`."""
    out = []
    for book in sorted(folder.rglob("*.xlsx")):
        with zipfile.ZipFile(book) as zf:
            out += [(book.name, n, zf.read(n)) for n in zf.namelist() if n.endswith((".xml", ".rels"))]
    return out


def _assert_inert(folder: Path) -> None:
    parts = _xml_of_outputs(folder)
    assert parts
    for book, name, xml in parts:
        for formula in re.findall(rb"<f>([^<]*)</f>", xml):  # only ctstat's own totals are formulas
            assert re.fullmatch(rb"SUM\([A-Z]+[0-9]+:[A-Z]+[0-9]+\)", formula), (book, name, formula)
        assert b'TargetMode="External"' not in xml, (book, name)
        assert b"\x1b" not in xml and b"\x07" not in xml, (book, name)


@pytest.fixture
def hostile_inbox(tmp_path: Path, make_form: MakeForm) -> Path:
    """Wards of Hoàng Mai, three of them with live-looking content in names and cells."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in sorted(HM.glob("*.xlsx"))[3:]:
        shutil.copy(p, inbox / p.name)
    live = make_form(
        unit="00301",
        changes={cell_key("TE01", "0-2", "sex:nam"): DDE},
        cover={"unit_name": LIVE, "preparer": "=1+1", "phone": "\x1b]0;pwned\x07"},
        name="mailto:x@evil.example.xlsx",
    )
    shutil.move(live, inbox / live.name)
    link = make_form(
        unit="00304", changes={cell_key("TE01", "0-2", "sex:nu"): "http://evil.example/"}, name="-00304.xlsx"
    )
    shutil.move(link, inbox / link.name)
    shutil.copy(HM / "00307-dinh-cong.xlsx", inbox / "file:\\\\host\\share\\x.xlsx")
    # a name that is not UTF-8 (a zip of Windows-1258 names unpacked on Linux): a valid form all the same
    (inbox / "00310-mai-dong.xlsx").rename(inbox / os.fsdecode(ODD_NAME))
    return inbox


ODD_NAME = b"00310-Ph\xf0\xeang Mai \xd0\xf4ng.xlsx"


def test_no_command_touches_an_input_and_no_output_is_live(hostile_inbox: Path, tmp_path: Path) -> None:
    before = _state(hostile_inbox)
    out = tmp_path / "out"
    job = ["--period", "2025-H1", "--unit", "008", "--inbox", str(hostile_inbox), "--out", str(out / "job")]
    lines = [
        ["validate", str(hostile_inbox), "--annotate", str(out / "marked")],
        [
            "rollup",
            str(hostile_inbox),
            "--period",
            "2025-H1",
            "--out",
            str(out / "rollup"),
            "--allow-partial",
            "--json",
        ],
        ["run", *job, "--units", "2025-06-30", "--allow-partial", "--json", "--log", str(out / "job.log")],
        ["run", *job, "--units", "2025-06-30", "--allow-partial", "--json"],  # nothing new: the odd name found again
        ["status", *job, "--units", "2025-06-30", "--json"],
    ]
    done = [subprocess.run([*CTSTAT, *line], capture_output=True) for line in lines]
    assert [d.returncode for d in done] == [1, 0, 1, 1, 1], [d.stderr[-500:] for d in done]  # faulty files: 1
    assert _state(hostile_inbox) == before
    assert len(list((out / "marked").glob("*.kiem-tra.xlsx"))) == 2
    assert list((out / "rollup").glob("*.xlsx"))
    _assert_inert(out)
    # every name written as UTF-8, the odd one read back the same; the second run read nothing again
    manifest, first, again, status = (json.loads(d.stdout.decode("utf-8")) for d in done[1:])
    assert os.fsdecode(hostile_inbox / os.fsdecode(ODD_NAME)) in {i["path"] for i in manifest["inputs"]}
    assert [bytes.fromhex(v["path_bytes"]).endswith(ODD_NAME) for v in first["validated"] if v["path_bytes"]] == [True]
    assert again["validated"] == [] and "00310" not in {s["unit"] for s in status["chase_list"]}
    log = (out / "job.log").read_bytes().decode("utf-8")
    assert "00310-Ph" in log


def test_annotating_into_the_folder_being_read(hostile_inbox: Path) -> None:
    before = _state(hostile_inbox)
    first = subprocess.run(
        [*CTSTAT, "validate", str(hostile_inbox), "--annotate", str(hostile_inbox), "--json"], capture_output=True
    )
    copies = sorted(p.name for p in hostile_inbox.glob("*.kiem-tra.xlsx"))
    assert copies and all(not p.startswith("-") for p in copies)
    again = subprocess.run(
        [*CTSTAT, "validate", str(hostile_inbox), "--annotate", str(hostile_inbox), "--json"], capture_output=True
    )
    # the copies are never read back as inputs, and the inputs are as they were
    assert len(json.loads(first.stdout)["files"]) == len(json.loads(again.stdout)["files"]) == len(before)
    assert {k: v for k, v in _state(hostile_inbox).items() if not k.endswith(".kiem-tra.xlsx")} == before


def test_one_copy_per_input_even_with_one_name(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    faulty = SAMPLES / "faulty" / "01-so-am.xlsx"
    shutil.copy(faulty, folder / "00301-sai.xlsx")
    shutil.copy(hostile.GOOD_ODS, folder / "00301-sai.ods")
    shutil.copy(hostile.GOOD_XLS, folder / "00301-sai.xls")
    (folder / "sub").mkdir()
    shutil.copy(faulty, folder / "sub" / "00301-sai.xlsx")
    subprocess.run([*CTSTAT, "validate", str(folder), "--annotate", str(tmp_path / "k")], capture_output=True)
    names = sorted(p.name for p in (tmp_path / "k").iterdir())
    assert len(names) == 4 and len(set(names)) == 4, names
    assert {"00301-sai.xlsx.kiem-tra.xlsx", "00301-sai.ods.kiem-tra.xlsx", "00301-sai.xls.kiem-tra.xlsx"} <= set(names)


def test_a_copy_that_would_land_on_an_input_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    victim = folder / "01-so-am.xlsx"
    shutil.copy(SAMPLES / "faulty" / "01-so-am.xlsx", victim)
    out = tmp_path / "k"
    out.mkdir()
    (out / "01-so-am.xlsx.kiem-tra.xlsx").symlink_to(victim)  # a link planted where the copy goes
    before = _state(folder)
    run = subprocess.run([*CTSTAT, "validate", str(victim), "--annotate", str(out)], capture_output=True, text=True)
    assert run.returncode == 2 and "ghi đè lên một tệp đầu vào" in run.stderr
    assert _state(folder) == before


def test_copies_of_every_format_revalidate_to_the_same_value_issues(
    tmp_path: Path, catalogue: Catalogue, make_form: MakeForm
) -> None:
    faults = {
        "neg.xlsx": {cell_key("TE01", "0-2", "sex:nam"): -5},
        "text.xlsx": {cell_key("TE01", "0-2", "sex:nu"): "1.158"},
        "blank.xlsx": {cell_key("TE01", "3-5", "sex:nam"): None},
        "frac.xlsx": {cell_key("TE01", "3-5", "sex:nu"): 2.5},
    }
    src = tmp_path / "src"
    src.mkdir()
    for name, changes in faults.items():
        shutil.move(make_form(changes=changes, name=name), src / name)
    for p in [*(SAMPLES / "faulty").glob("0[1-6]*.xlsx"), SAMPLES / "faulty" / "08-cong-thuc-chua-tinh.xlsx"]:
        shutil.copy(p, src / p.name)
    shutil.copy(SAMPLES / "faulty" / "11-go-de-cong-thuc.xlsx", src / "11.xlsx")
    report, subs = validate_files([src], catalogue, period="2025-H1")
    from ctstat.write.annotate import annotate_report

    copies = annotate_report(report, subs, catalogue, tmp_path / "k")
    for copy in copies:  # a copy is never read as a submission: read its form once its result sheet is renamed
        rename_sheet(copy, RESULT_SHEET, "Ket qua")
    again, _ = validate_files([tmp_path / "k"], catalogue, period="2025-H1")

    def issues(files: list) -> dict[str, list[tuple[str, str | None, str | None]]]:  # type: ignore[type-arg]
        return {
            Path(f.path).name.split(".kiem-tra")[0].removesuffix(".xlsx"): [
                (i.code, i.sheet, i.cell) for i in f.issues if i.code != "duplicate-unit"
            ]
            for f in files
        }

    assert len(copies) == len([f for f in report.files if f.issues])
    original = {k.removesuffix(".xlsx"): v for k, v in issues(report.files).items()}
    assert issues(again.files) == {k: v for k, v in original.items() if v}


def test_output_modes_follow_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = (
        "import os, sys; os.umask(0o022); from ctstat.cli.commands import main; "
        f"sys.argv = ['ctstat', 'rollup', {str(HM)!r}, '--period', '2025-H1', '--out', {str(out / 'r')!r}]; main()"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True)
    code2 = code.replace("'rollup'", "'validate'").replace(
        f"{str(HM)!r}, '--period', '2025-H1', '--out', {str(out / 'r')!r}",
        f"{str(SAMPLES / 'faulty' / '01-so-am.xlsx')!r}, '--annotate', {str(out / 'k')!r}",
    )
    subprocess.run([sys.executable, "-c", code2], capture_output=True)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "k/01-so-am.xlsx.kiem-tra.xlsx",
        "r/2025-H1_008_manifest.json",
        "r/2025-H1_008_quan-hoang-mai.xlsx",
    ]
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {"0o644"}


UNDER_UMASK = """
import os, sys
from ctstat.cli.commands import main
os.umask(0o027)
for argv in sys.argv[1:]:
    sys.argv = ["ctstat", *argv.split("\\t")]
    try:
        main()
    except SystemExit:
        pass
"""


def test_folders_follow_the_umask_and_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    """A rollup's folder is published by swapping in a staging folder: it used to be mkdtemp's 0700, so a colleague
    on a shared server could not open the workbooks. Every folder ctstat makes gets the mode any new folder would
    (0750 under umask 027), and a folder that exists keeps its own."""
    out, inbox = tmp_path / "out", tmp_path / "inbox"
    shutil.copytree(HM, inbox)
    (out / "kept").mkdir(parents=True)
    (out / "kept").chmod(0o751)
    faulty = str(SAMPLES / "faulty" / "01-so-am.xlsx")
    rollup = ["rollup", str(HM), "--period", "2025-H1", "--out"]
    job = ["run", "--period", "2025-H1", "--unit", "008", "--inbox", str(inbox), "--out", str(out / "job")]
    commands = [
        [*rollup, str(out / "new" / "r")],
        [*rollup, str(out / "kept")],
        [*rollup, str(out / "kept")],  # published again over the first set
        ["validate", faulty, "--annotate", str(out / "k" / "copies")],
        job,
    ]
    shutil.copyfile(SAMPLES / "faulty" / "01-so-am.xlsx", inbox / "00301-thanh-tri.xlsx")
    code = [sys.executable, "-c", UNDER_UMASK, *("\t".join(c) for c in commands)]
    assert subprocess.run(code, capture_output=True, text=True, cwd=tmp_path).returncode == 0
    shutil.copyfile(HM / "00301-thanh-tri.xlsx", inbox / "00301-thanh-tri.xlsx")  # corrected: the job rolls up
    os.utime(inbox / "00301-thanh-tri.xlsx", (1e9, 1e9))
    assert subprocess.run([*code[:3], "\t".join(job)], capture_output=True, text=True, cwd=tmp_path).returncode == 0
    folders = {str(p.relative_to(out)): oct(p.stat().st_mode & 0o777) for p in out.rglob("*") if p.is_dir()}
    assert {"new", "new/r", "k", "k/copies", "job/kiem-tra", "job/tong-hop"} <= set(folders)
    assert folders == {name: "0o751" if name == "kept" else "0o750" for name in folders}
    # the ledger holds token hashes and sessions: its owner's only, whatever the umask (the portal's walls)
    secret = set(out.rglob("ledger.sqlite*"))
    assert secret and {oct(p.stat().st_mode & 0o777) for p in secret} == {"0o600"}
    outputs = [p for p in out.rglob("*") if p.is_file() and p.name != ".ctstat-run.lock" and p not in secret]
    assert list(out.glob("*/*.xlsx")) and {oct(p.stat().st_mode & 0o777) for p in outputs} == {"0o640"}


def test_csv_fields_that_would_run_are_neutralised() -> None:
    assert [csv_field(v) for v in ("=1+1", "+A1", "-2+3", "@SUM(A1)", "\tx", "\rx", "Phường Trần Phú", -5, 4785)] == [
        "'=1+1",
        "'+A1",
        "'-2+3",
        "'@SUM(A1)",
        "'\\x09x",
        "'\\x0dx",
        "Phường Trần Phú",
        -5,
        4785,
    ]


def test_piped_reports_keep_paths_and_lines_whole(tmp_path: Path) -> None:
    deep = tmp_path / ("a-very-long-folder-name-" * 4) / "02-so-dang-chu.xlsx"
    deep.parent.mkdir(parents=True)
    shutil.copy(SAMPLES / "faulty" / "02-so-dang-chu.xlsx", deep)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    run = subprocess.run([*CTSTAT, "validate", str(deep)], capture_output=True, text=True, env=env)
    lines = run.stdout.splitlines()
    assert lines[0].startswith("✗ " + str(deep))
    assert any("Biểu 1!F12" in line and line.rstrip().endswith("Xóa và nhập lại bằng số.") for line in lines)


def test_no_escape_reaches_the_terminal_and_json_is_utf8(tmp_path: Path, make_form: MakeForm) -> None:
    bad = make_form(changes={cell_key("TE01", "0-2", "sex:nam"): "\x1b[2J\x1b]0;x\x07[bold]5[/]"}, name="x.xlsx")
    odd = tmp_path / os.fsdecode(b"\xff\xfe-t\xean.xlsx")
    shutil.copy(SAMPLES / "faulty" / "01-so-am.xlsx", odd)
    text = subprocess.run([*CTSTAT, "validate", str(bad), str(odd)], capture_output=True)
    assert b"\x1b" not in text.stdout and b"\x07" not in text.stdout
    assert b"[bold]5[/]" in text.stdout  # shown as typed, not read as markup
    raw = subprocess.run([*CTSTAT, "validate", str(bad), str(odd), "--json"], capture_output=True).stdout
    doc = json.loads(raw.decode("utf-8"))  # strict UTF-8
    by_bytes = [f for f in doc["files"] if f["path_bytes"]]
    assert len(by_bytes) == 1 and bytes.fromhex(by_bytes[0]["path_bytes"]) == os.fsencode(odd)


def test_the_scheduled_job_export_is_utf8_with_bom_and_integer_counts(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(HM, inbox)
    cfg = tmp_path / "ctstat.toml"
    cfg.write_text(
        f'period = "2025-H1"\nunit = "008"\ninbox = "{inbox}"\nout = "{tmp_path / "out"}"\n', encoding="utf-8"
    )
    subprocess.run([*CTSTAT, "run", "--config", str(cfg)], capture_output=True, check=True)
    subprocess.run(
        [*CTSTAT, "export", "--config", str(cfg), "--to", str(tmp_path / "x.csv")], check=True, capture_output=True
    )
    data = (tmp_path / "x.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "Phường" in text and ".0," not in text and not re.search(r",\d+\.0$", text, re.M)


def test_wide_rollup_sheets_print_title_and_signatures_once(catalogue: Catalogue, tmp_path: Path) -> None:
    """Columns A:B repeat on every printed page of a wide sheet: the rate note and the signature block sit on the
    first page's columns and right of A:B, so they print once; wrapped labels get their height."""
    from openpyxl import load_workbook

    from ctstat.pipeline import rollup_paths
    from ctstat.write.rollup_book import row_height

    (book,) = rollup_paths([HM], "2025-H1", tmp_path, catalogue=catalogue).outputs
    wb = load_workbook(book)
    ws = wb["Chỉ tiêu"]
    assert ws.print_title_cols.replace("$", "") == "A:B"
    first_page_last = ws.col_breaks.brk[0].id  # 1-based: the first page's last column
    for text in ("Người lập biểu", "Thủ trưởng đơn vị"):
        (cell,) = [c for row in ws.iter_rows() for c in row if c.value == text]
        assert 3 <= cell.column <= first_page_last, text
    note = next(c for row in ws.iter_rows() for c in row if str(c.value or "").startswith("Tỷ lệ ="))
    assert note.column >= 3
    by_unit = wb["Theo đơn vị"]
    long = next(r for r in by_unit.iter_rows() if r[1].value == "HC01.13")
    assert by_unit.row_dimensions[long[0].row].height == row_height(long[0].value, 50) > 15
    assert row_height("ngắn", 50) is None


@pytest.mark.parametrize("wards", [HM, SAMPLES / "wards" / "2025-H2-lai-chau"])
def test_wide_sheets_print_whole_columns_and_whole_titles(catalogue: Catalogue, tmp_path: Path, wards: Path) -> None:
    """A wide sheet prints at a fixed scale with a page break between whole columns (fit-to-width left the breaks
    to LibreOffice, mid-title: a lone "S" of the title at the top of a continuation page), and every page starts
    with the title, the header row and columns A:B: the titles sit in A:B, left-aligned, and repeat with the
    header row; nothing is merged across a page break."""
    from openpyxl import load_workbook

    from ctstat.pipeline import rollup_paths
    from ctstat.write.form import MIN_SCALE, PAGE_WIDTH_PT, WIDTH_SLACK

    outputs = rollup_paths([wards], "2025-H1" if wards == HM else "2025-H2", tmp_path, catalogue=catalogue).outputs
    book = min(outputs, key=lambda p: (len(p.stem.split("_")[1]), p.name))  # the unit rolled up itself
    wb = load_workbook(book)
    for name in ("Chỉ tiêu", "Theo đơn vị"):
        ws = wb[name]
        scale = ws.page_setup.scale
        assert not ws.sheet_properties.pageSetUpPr or not ws.sheet_properties.pageSetUpPr.fitToPage, name
        assert MIN_SCALE <= scale <= 100, name
        last = ws.max_column
        starts = [1] + [b.id + 1 for b in ws.col_breaks.brk]  # 1-based first column of each printed page
        assert len(starts) > 1, name  # 14 or 38 children: more than one page across
        assert ws.print_title_cols.replace("$", "") == "A:B", name
        header = int(ws.print_title_rows.replace("$", "").split(":")[1])
        assert ws.print_title_rows.replace("$", "").split(":")[0] == "1", name  # the titles repeat
        # each column's width in characters (less the padding xlsxwriter adds)
        chars = {c: int(d.width) for d in ws.column_dimensions.values() for c in range(d.min, d.max + 1)}
        for page, start in enumerate(starts):
            end = (starts[page + 1] - 1) if page + 1 < len(starts) else last
            cols = range(start, end + 1) if page == 0 else [1, 2, *range(start, end + 1)]
            width = sum((chars[c] * 7 + 5) * 0.75 for c in cols)  # as form.page_scale counts a column
            assert width * scale / 100 <= PAGE_WIDTH_PT * WIDTH_SLACK + 1, (name, page)
        for merged in ws.merged_cells.ranges:
            crossing = [s for s in starts[1:] if merged.min_col < s <= merged.max_col]
            assert not crossing, (name, str(merged))  # no text merged across a page's edge
            if merged.min_row < header:
                assert merged.max_col <= 2, (name, str(merged))  # titles inside the repeated A:B
                assert ws.cell(merged.min_row, 1).alignment.horizontal in (None, "general", "left"), name
    for chart_sheet in catalogue.charts:  # the chart alone on its first page, its data after
        ws = wb[chart_sheet.sheet]
        header = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Đơn vị")
        assert [b.id for b in ws.row_breaks.brk] == [header - 1] and ws.page_setup.scale >= MIN_SCALE


def test_names_that_reorder_or_do_not_decode_are_shown_as_escapes() -> None:
    """A right-to-left override in a file's name ("abc\u202excod.exe" shows as "abcexe.docx") and the bytes of a name
    that is not UTF-8: escapes wherever a name is shown (terminal, JSON, workbooks: `printable`; pages:
    `shown_text`, which leaves the rest of a text, line breaks included, as it is)."""
    from ctstat.model.text import printable, shown_text

    name = os.fsdecode(b"Ph\xf0\xeang \xd0\xf4ng") + "\u202excod.exe\u2067"
    assert printable(name) == "Ph\\udcf0\\udceang \\udcd0\\udcf4ng\\u202excod.exe\\u2067"
    assert shown_text(name + " tiếng Việt\n") == printable(name) + " tiếng Việt\n"
    assert printable("Phường Hoàng Liệt") == shown_text("Phường Hoàng Liệt") == "Phường Hoàng Liệt"


def test_what_status_prints_of_an_odd_name_is_utf8(tmp_path: Path) -> None:
    """A ward's second file, faulty, under a name that is not UTF-8, and an unreadable file under another: what
    `status` prints (its resubmissions, the files naming no unit) is UTF-8, each odd byte shown as an escape."""
    inbox = tmp_path / "inbox"
    shutil.copytree(HM, inbox)
    shutil.copy(SAMPLES / "faulty" / "01-so-am.xlsx", inbox / os.fsdecode(b"\xff\xfe-00301 sai.xlsx"))
    (inbox / os.fsdecode(b"r\xe1c.xlsx")).write_bytes(b"not a workbook")
    job = ["--period", "2025-H1", "--unit", "008", "--inbox", str(inbox), "--out", str(tmp_path / "job")]
    assert subprocess.run([*CTSTAT, "run", *job, "--units", "2025-06-30"], capture_output=True).returncode == 1
    shown = subprocess.run([*CTSTAT, "status", *job, "--units", "2025-06-30"], capture_output=True)
    text = " ".join(shown.stdout.decode("utf-8").split())  # strict: an odd byte would fail here
    assert "\\udcff\\udcfe-00301 sai.xlsx 1 lỗi" in text and "r\\udce1c.xlsx" in text
