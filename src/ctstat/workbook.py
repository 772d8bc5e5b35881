"""Read one submitted workbook into raw cell values with their positions; every fault becomes an Issue."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ctstat.catalogue import Catalogue
from ctstat.layout import COVER, COVER_FIELDS, FIRST_DATA_ROW, FORM_MARK, ROLLUP_MARK, FormLayout, a1, form_layout
from ctstat.messages import make_issue
from ctstat.report import Issue

MAX_FILE_BYTES = 20 * 1024 * 1024  #: a form is ~30 KB; anything near this is not a form
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  #: zip-bomb guard, checked from the zip directory before reading
MAX_RATIO = 200
EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods")
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"


@dataclass
class Submission:
    """What one file holds, before any value is judged."""

    path: str
    sha256: str = ""
    size: int = 0
    format: str = ""
    cover: dict[str, Any] = field(default_factory=dict)
    #: raw cell values in layout order (None where blank); empty when the file could not be read
    raw: list[Any] = field(default_factory=list)
    #: keys whose cells could not be located (missing sheet or row): judged by no check
    unavailable: set[str] = field(default_factory=set)
    #: keys read from somewhere else than the layout says (moved rows): key -> (sheet, row, col)
    moved: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    #: keys holding a formula / a formula without a cached value (xlsx and xlsm only; None = not known)
    formula_keys: set[str] | None = None
    nocache_keys: set[str] = field(default_factory=set)
    issues: list[Issue] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return bool(self.raw)

    def address(self, layout: FormLayout, key: str) -> tuple[str, str]:
        sheet, r, c = self.moved.get(key) or layout.positions[key]
        return sheet, a1(r, c)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_submission(path: str | Path, catalogue: Catalogue) -> Submission:
    """Read a submission. Never raises for a bad file: the problems are in `Submission.issues`."""
    p = Path(path)
    sub = Submission(path=str(p))
    try:
        size = p.stat().st_size
        sub.size = size
        if size > MAX_FILE_BYTES:
            sub.issues.append(make_issue("file-too-large", path=sub.path, detail=f"{size / 1e6:.1f} MB > 20 MB"))
            return sub
        data = p.read_bytes()
    except OSError as exc:
        sub.issues.append(make_issue("unreadable-workbook", path=sub.path, detail=exc.strerror or str(exc)))
        return sub
    sub.sha256 = sha256_of(data)
    return _read_bytes(sub, data, catalogue)


def _read_bytes(sub: Submission, data: bytes, catalogue: Catalogue) -> Submission:
    zf: zipfile.ZipFile | None = None
    if data.startswith(_OLE):
        if _is_encrypted(data):
            sub.issues.append(make_issue("encrypted-workbook", path=sub.path))
            return sub
        sub.format = "xls"
    elif data.startswith(_ZIP):
        zf, problem = _open_zip(data)
        if problem:
            code, detail = problem
            sub.issues.append(make_issue(code, path=sub.path, detail=detail))
            return sub
        sub.format = "ods" if b"mimetypeapplication/vnd.oasis" in data[:100] else "xlsx"
    else:
        sub.issues.append(
            make_issue("unreadable-workbook", path=sub.path, detail="không phải tệp Excel / not a workbook")
        )
        return sub
    import python_calamine as pc

    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(wb.sheet_names)
        if COVER not in names:
            sub.issues.append(make_issue("not-a-form", path=sub.path, detail=f"thiếu trang '{COVER}'"))
            return sub
        cover = wb.get_sheet_by_name(COVER).to_python(skip_empty_area=False)
        if str(_cell(cover, 1, 1) or "").startswith(ROLLUP_MARK):
            sub.format = "rollup"  # a district/province workbook written by `ctstat rollup`
            sub.issues.append(make_issue("not-a-form", path=sub.path, detail="đây là tệp tổng hợp"))
            return sub
        if not str(_cell(cover, 1, 1) or "").startswith(FORM_MARK):
            sub.issues.append(make_issue("not-a-form", path=sub.path, detail=f"ô A1 trang '{COVER}' không có mã biểu"))
            return sub
        for fld in COVER_FIELDS:
            sub.cover[fld.key] = _cell(cover, fld.row, fld.col)
        layout = form_layout(catalogue)
        hidden_sheets = {m.name for m in wb.sheets_metadata if str(m.visible) != "SheetVisibleEnum.Visible"}
        grids: dict[str, list[list[Any]]] = {}
        for sheet in layout.sheets:
            if sheet.name in names:
                grids[sheet.name] = wb.get_sheet_by_name(sheet.name).to_python(skip_empty_area=False)
                if sheet.name in hidden_sheets:
                    sub.issues.append(make_issue("hidden-data", path=sub.path, sheet=sheet.name, detail="trang"))
            else:
                sub.issues.append(make_issue("missing-sheet", path=sub.path, sheet=sheet.name))
        wb.close()
    except Exception as exc:  # calamine raises several types for damaged files; all mean "cannot read"
        sub.issues.append(make_issue("unreadable-workbook", path=sub.path, detail=type(exc).__name__))
        return sub
    _locate_values(sub, layout, grids)
    if sub.format == "xlsx" and zf is not None:
        _scan_xml(sub, layout, zf)
    return sub


def _cell(grid: list[list[Any]], row: int, col: int) -> Any:
    """1-based cell of a calamine grid; blank ('' in calamine) as None."""
    try:
        v = grid[row - 1][col - 1]
    except IndexError:
        return None
    return None if v == "" else v


def _is_encrypted(data: bytes) -> bool:
    try:
        import msoffcrypto

        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except Exception:
        # an OLE file msoffcrypto cannot parse: let the reader decide whether it is a readable .xls
        return False


def _open_zip(data: bytes) -> tuple[zipfile.ZipFile | None, tuple[str, str] | None]:
    """The zip directory, or why it cannot be read: damaged, or a zip bomb (judged before inflating anything)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as exc:  # BadZipFile, NotImplementedError, ValueError, OSError... on damaged files
        return None, ("unreadable-workbook", f"zip: {exc}")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > MAX_UNZIPPED_BYTES or total / packed > MAX_RATIO and total > 10 * 1024 * 1024:
        return None, ("file-too-large", f"{total / 1e6:.0f} MB sau khi giải nén / unzipped")
    return zf, None


@cache
def _plan(layout: FormLayout) -> dict[str, list[tuple[int, int, int]]]:
    """Per sheet: (index in layout.keys, 0-based row, 0-based col) of every value cell."""
    index = {k: i for i, k in enumerate(layout.keys)}
    plan: dict[str, list[tuple[int, int, int]]] = {s.name: [] for s in layout.sheets}
    for key, (sheet, r, c) in layout.positions.items():
        plan[sheet].append((index[key], r - 1, c - 1))
    return plan


def _locate_values(sub: Submission, layout: FormLayout, grids: dict[str, list[list[Any]]]) -> None:
    """Find each row by its code in the 'Mã số' column, so a moved row is still read (and reported)."""
    raw: list[Any] = [None] * len(layout.keys)
    plan = _plan(layout)
    keys = layout.keys
    for sheet in layout.sheets:
        grid = grids.get(sheet.name)
        if grid is None:
            sub.unavailable.update(keys[i] for i, _, _ in plan[sheet.name])
            continue
        found: dict[str, int] = {}
        for r in range(FIRST_DATA_ROW, len(grid) + 1):
            code = _cell(grid, r, 2)
            if code is None:
                continue
            text = str(code).strip()
            if text in layout.row_codes and text not in found:
                found[text] = r
            elif _ROW_CODE.match(text) or r <= sheet.last_row:
                sub.issues.append(make_issue("unknown-row", path=sub.path, sheet=sheet.name, cell=a1(r, 2), value=text))
        if all(found.get(row.code) == row.row for row in sheet.rows if row.code):
            # the usual case: every row where the form put it
            for i, r, c in plan[sheet.name]:
                try:
                    v = grid[r][c]
                except IndexError:
                    v = None
                raw[i] = None if v == "" else v
            continue
        for row in sheet.rows:
            if not row.code:
                continue
            row_keys = [k for k in (f"{row.element}/{row.key}/{c.key}" for c in sheet.columns) if k in layout.positions]
            at = found.get(row.code)
            if at is None:
                sub.issues.append(
                    make_issue(
                        "missing-row",
                        path=sub.path,
                        sheet=sheet.name,
                        cell=a1(row.row, 2),
                        value=row.code,
                        detail=row.label_vi,
                    )
                )
                sub.unavailable.update(row_keys)
                continue
            if at != row.row:
                sub.issues.append(
                    make_issue("moved-row", path=sub.path, sheet=sheet.name, cell=a1(at, 2), value=row.code, detail=at)
                )
            for k in row_keys:
                _, _, col = layout.positions[k]
                raw[layout.keys.index(k)] = _cell(grid, at, col)
                if at != row.row:
                    sub.moved[k] = (sheet.name, at, col)
    sub.raw = raw


_ROW_CODE = re.compile(r"^[A-Z]{2}\d{2}(\.\d{2})?$")
_SHEET_REL = re.compile(rb'<sheet [^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"')
_REL = re.compile(
    rb'<Relationship [^>]*?Id="([^"]*)"[^>]*?Target="([^"]*)"|<Relationship [^>]*?Target="([^"]*)"[^>]*?Id="([^"]*)"'
)
_FORMULA_CELL = re.compile(rb'<c r="([A-Z]+)(\d+)"[^>]*?>(?:<f[^>]*?/>|<f[^>]*?>[^<]*</f>)(<v>[^<]*</v>|<v/>)?')
_HIDDEN_ROW = re.compile(rb'<row [^>]*?r="(\d+)"[^>]*?hidden="(?:1|true)"')


def _xml_unescape(raw: bytes) -> str:
    return raw.decode("utf-8").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


@cache
def _positions_to_keys(layout: FormLayout) -> dict[tuple[str, int, int], str]:
    return {pos: k for k, pos in layout.positions.items()}


def _scan_xml(sub: Submission, layout: FormLayout, zf: zipfile.ZipFile) -> None:
    """Formulas and hidden rows, which calamine does not expose: a light scan of the sheet XML."""
    try:
        book = zf.read("xl/workbook.xml")
        rels = zf.read("xl/_rels/workbook.xml.rels")
        targets = {}
        for m in _REL.finditer(rels):
            rid, target = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            targets[rid] = target.decode()
        names = {s.name for s in layout.sheets}
        sheet_xml: dict[str, bytes] = {}
        for m in _SHEET_REL.finditer(book):
            name = _xml_unescape(m.group(1))
            target = targets.get(m.group(2), "")
            member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            if name in names:
                sheet_xml[name] = zf.read(member)
    except Exception:  # zipfile raises many types on damaged members (found by the property tests)
        return  # the values were read; without the XML, formula checks are simply not run
    by_pos = _positions_to_keys(layout)
    if sub.moved:
        by_pos = {**by_pos, **{pos: k for k, pos in sub.moved.items()}}
    sub.formula_keys = set()
    for name, xml in sheet_xml.items():
        for m in _FORMULA_CELL.finditer(xml):
            key = by_pos.get((name, int(m.group(2)), _col_number(m.group(1))))
            if key is None:
                continue
            sub.formula_keys.add(key)
            v = m.group(3)
            if v is None or v in (b"<v/>", b"<v></v>"):
                sub.nocache_keys.add(key)
        if b'hidden="' not in xml:
            continue
        rows_with_data = _rows_with_data(sub, layout, name)
        for m in _HIDDEN_ROW.finditer(xml):
            r = int(m.group(1))
            if r in rows_with_data:
                sub.issues.append(make_issue("hidden-data", path=sub.path, sheet=name, cell=a1(r, 1), detail="dòng"))


def _rows_with_data(sub: Submission, layout: FormLayout, sheet: str) -> set[int]:
    """Rows of `sheet` holding at least one non-blank value cell (as read)."""
    rows = set()
    for i, (s, r, c) in enumerate(layout.positions.values()):
        key = layout.keys[i]
        s, r, c = sub.moved.get(key, (s, r, c))
        if s == sheet and sub.raw[i] is not None:
            rows.add(r)
    return rows
