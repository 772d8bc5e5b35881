"""Marked-up copies of submissions: offending cells filled and commented, plus a first sheet listing every issue."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from ctstat.atomic import atomic_write
from ctstat.catalogue import Catalogue
from ctstat.report import FileReport, Lang, Report, Severity

RESULT_SHEET = "Kết quả kiểm tra"
FILL = {Severity.ERROR: "FFC7CE", Severity.WARNING: "FFE699"}


def annotated_name(path: str) -> str:
    return f"{Path(path).stem}.kiem-tra.xlsx"


def annotate_report(report: Report, catalogue: Catalogue, out_dir: str | Path, lang: Lang = "vi") -> list[Path]:
    """Write a marked-up copy of every file that has issues into `out_dir`; inputs are never modified."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    names: set[str] = set()
    for f in report.files:
        if not f.issues:
            continue
        name = annotated_name(f.path)
        if name in names:  # two inputs with one name in different folders
            name = f"{Path(f.path).parent.name}-{name}"
        names.add(name)
        written.append(annotate_file(f, out / name, lang))
    return written


def annotate_file(rep: FileReport, target: Path, lang: Lang = "vi") -> Path:
    """The submission with issues marked, or, if it cannot be opened, a workbook holding only the issue list."""
    from openpyxl import Workbook, load_workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import quote_sheetname
    from openpyxl.worksheet.hyperlink import Hyperlink

    try:
        # keep_vba for .xlsm; data_only=False keeps the ward's formulas
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about print areas of damaged files; irrelevant here
            wb = load_workbook(rep.path, keep_vba=rep.path.lower().endswith(".xlsm"), keep_links=False)
        opened = True
    except Exception:  # unreadable, encrypted, .xls or .ods: the list alone still helps
        wb = Workbook()
        wb.active.title = "_"
        opened = False
    ws = wb.create_sheet(RESULT_SHEET, 0)
    header = (
        ["Mức độ", "Trang", "Ô", "Giá trị", "Mã lỗi", "Nội dung cần sửa"]
        if lang == "vi"
        else ["Severity", "Sheet", "Cell", "Value", "Code", "What to fix"]
    )
    ws.append(
        [f"Kết quả kiểm tra tệp {Path(rep.path).name}" if lang == "vi" else f"Validation of {Path(rep.path).name}"]
    )
    ws["A1"].font = Font(bold=True, size=13, name="Times New Roman")
    ws.append(
        [
            f"{rep.errors} lỗi, {rep.warnings} cảnh báo"
            if lang == "vi"
            else f"{rep.errors} errors, {rep.warnings} warnings"
        ]
    )
    ws.append(header)
    for cell in ws[3]:
        cell.font = Font(bold=True, name="Times New Roman")
    comments: dict[tuple[str, str], list[str]] = {}
    worst: dict[tuple[str, str], Severity] = {}
    for issue in rep.issues:
        sev = ("Lỗi" if issue.severity is Severity.ERROR else "Cảnh báo") if lang == "vi" else str(issue.severity)
        ws.append(
            [
                sev,
                issue.sheet or "",
                issue.cell or "",
                "" if issue.value is None else str(issue.value),
                issue.code,
                issue.message(lang),
            ]
        )
        row = ws.max_row
        ws.cell(row, 1).fill = PatternFill("solid", fgColor=FILL[issue.severity])
        if opened and issue.sheet and issue.cell and issue.sheet in wb.sheetnames:
            link = ws.cell(row, 3)
            # an internal link (location), not a relationship target: Excel and LibreOffice both jump to the cell
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"{quote_sheetname(issue.sheet)}!{issue.cell}")
            link.font = Font(color="0563C1", underline="single", name="Times New Roman")
            spot = (issue.sheet, issue.cell)
            comments.setdefault(spot, []).append(f"[{issue.code}] {issue.message(lang)}")
            if worst.get(spot) is not Severity.ERROR:
                worst[spot] = issue.severity
        for c in range(1, 6):
            ws.cell(row, c).alignment = Alignment(vertical="top")
        ws.cell(row, 6).alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[row].height = 15 * (1 + len(issue.message(lang)) // 110)
    for letter, width in zip("ABCDEF", (10, 16, 8, 12, 24, 100), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A4"
    body = Font(name="Times New Roman")
    for row_cells in ws.iter_rows(min_row=2):
        for cell in row_cells:
            if cell.hyperlink is None and not (cell.font and cell.font.b):
                cell.font = body
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:3"
    for (sheet, cell), texts in comments.items():
        target_ws = wb[sheet]
        if not re.match(r"^[A-Z]+\d+$", cell):
            continue
        c = target_ws[cell]
        c.fill = PatternFill("solid", fgColor=FILL[worst[(sheet, cell)]])
        c.comment = Comment("\n".join(texts), "ctstat", width=320, height=max(80, 40 * len(texts)))
    if not opened and "_" in wb.sheetnames:
        del wb["_"]
    wb.active = 0
    with atomic_write(target) as tmp:
        wb.save(tmp)
    return target
