"""Read one submitted workbook into raw cell values with their positions; every fault becomes an Issue."""

from __future__ import annotations

import io
import re
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import a1, cell_key
from ctstat.model.layout import (
    COVER,
    COVER_FIELDS,
    FIRST_DATA_ROW,
    FORM_MARK,
    RESULT_SHEET,
    RESULT_TITLE,
    ROLLUP_MARK,
    FormLayout,
    form_layout,
)
from ctstat.model.messages import make_issue
from ctstat.model.records import APPROVAL_SHEET
from ctstat.model.report import Issue, Said, english
from ctstat.read.guard import (
    OLE,
    ZIP,
    Package,
    Refused,
    SheetScan,
    check_rollup,
    check_xls,
    check_xlsx,
    not_a_workbook,
    ole_document,
    read_file,
)
from ctstat.read.ods import read_ods
from ctstat.read.rollup_book import DATA, read_book
from ctstat.read.submission import EXTENSIONS as EXTENSIONS
from ctstat.read.submission import Submission as Submission
from ctstat.read.submission import sha256_of as sha256_of


def read_submission(path: str | Path, catalogue: Catalogue) -> Submission:
    """Read a submission. Never raises for a bad file: the problems are in `Submission.issues`.

    The file passes the guard (guard.py) before any parser sees it; a refusal is one located issue."""
    try:
        data = read_file(str(path))
    except Refused as refused:
        return _refused(Submission(path=str(path)), refused)
    return read_bytes(str(path), data, catalogue)


def read_bytes(path: str, data: bytes, catalogue: Catalogue) -> Submission:
    """Read a submission's bytes (already read from `path`). Never raises for bad content."""
    sub = Submission(path=path, size=len(data), sha256=sha256_of(data))
    try:
        _read_bytes(sub, data, catalogue)
    except Refused as refused:
        _refused(sub, refused)
    return sub


def _refused(sub: Submission, refused: Refused) -> Submission:
    detail = refused.detail
    if refused.code == "data-outside-form":  # a clause after the sentence's subject, or nothing
        detail = Said(f" ({detail})", f" ({english(detail)})") if detail else ""
    sub.issues.append(make_issue(refused.code, path=sub.path, sheet=refused.sheet, cell=refused.cell, detail=detail))
    sub.raw = []
    return sub


def _read_bytes(sub: Submission, data: bytes, catalogue: Catalogue) -> None:
    layout = form_layout(catalogue)
    wanted = {COVER, RESULT_SHEET} | {s.name for s in layout.sheets}
    scans: dict[str, SheetScan] = {}
    grids: dict[str, list[list[Any]]] = {}
    pkg: Package | None = None
    if data.startswith(OLE):
        document = ole_document(data)
        if document is not None:  # a Word 97 document, say (msoffcrypto may take its flags for a password)
            raise Refused(*document)
        if _is_encrypted(data):
            raise Refused("encrypted-workbook")
        sub.format = "xls"
        scans = check_xls(data, wanted)
        names, hidden = _calamine(data, wanted, grids)
    elif data.startswith(ZIP):
        pkg = Package(data)
        if pkg.has("mimetype") and b"opendocument.spreadsheet" not in pkg.read("mimetype", 200):
            raise Refused(*not_a_workbook(pkg=pkg))  # a Writer or Impress document: an OpenDocument, not a sheet
        if pkg.has("content.xml") and not pkg.has("xl/workbook.xml"):
            sub.format = "ods"
            book = read_ods(pkg, wanted)
            names, hidden, grids, scans = book.sheet_names, book.hidden_sheets, book.grids, book.scans
        else:
            sub.format = "xlsx"
            checked = check_xlsx(pkg, wanted)
            scans = checked.scans
            names, _ = _calamine(checked.payload, wanted, grids, hidden_too=False)
            hidden = checked.hidden_sheets
    else:
        raise Refused(*not_a_workbook(data=data))
    source = _copy_of(grids.get(RESULT_SHEET)) if RESULT_SHEET in names else None
    if source is not None:  # a marked-up copy ctstat wrote: it holds a form and a cover, and is never a submission
        raise Refused("marked-up-copy", source, sheet=RESULT_SHEET, cell="A1")
    if COVER not in names:
        raise Refused("not-a-form", f"thiếu trang '{COVER}'")
    cover = grids.get(COVER, [])
    if str(_cell(cover, 1, 1) or "").startswith(ROLLUP_MARK):  # a district workbook written by `ctstat rollup`
        if sub.format != "xlsx" or pkg is None:
            sub.format = "rollup"
            raise Refused("rollup-mismatch", "tệp tổng hợp đã bị lưu lại dưới dạng khác .xlsx của ctstat")
        sub.format = "rollup"
        if DATA in names:
            _calamine(check_rollup(pkg, {DATA, APPROVAL_SHEET}), {DATA, APPROVAL_SHEET}, grids, hidden_too=False)
        sub.book = read_book(sub.path, sub.sha256, grids, layout)
        return
    if not str(_cell(cover, 1, 1) or "").startswith(FORM_MARK):
        raise Refused("not-a-form", f"ô A1 trang '{COVER}' không có mã biểu")
    for fld in COVER_FIELDS:
        sub.cover[fld.key] = _cell(cover, fld.row, fld.col)
    for sheet in layout.sheets:
        if sheet.name not in names:
            sub.issues.append(make_issue("missing-sheet", path=sub.path, sheet=sheet.name))
        elif sheet.name in hidden:
            sub.issues.append(make_issue("hidden-data", path=sub.path, sheet=sheet.name, detail="trang"))
    _locate_values(sub, layout, grids)
    _apply_scans(sub, layout, scans)


def _copy_of(grid: list[list[Any]] | None) -> str | None:
    """The name of the file a marked-up copy was made from (its result sheet's A1), or None: not a copy."""
    title = _cell(grid or [], 1, 1)
    if isinstance(title, str):
        for start in RESULT_TITLE.values():
            if title.startswith(start):
                return title[len(start) :]
    return None


def _calamine(
    data: bytes, wanted: set[str], grids: dict[str, list[list[Any]]], hidden_too: bool = True
) -> tuple[list[str], set[str]]:
    """Sheet names, hidden sheets (`hidden_too`: the guard already knows them of an .xlsx), and the grids of the
    sheets in `wanted`, read by python-calamine."""
    import python_calamine as pc

    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(wb.sheet_names)
        hidden = set()
        if hidden_too:
            hidden = {m.name for m in wb.sheets_metadata if str(m.visible) != "SheetVisibleEnum.Visible"}
        for name in names:
            if name in wanted and name not in grids:
                grids[name] = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        wb.close()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # damaged files raise several types; a Rust panic is a BaseException
        # never the exception's name (a Rust panic is a PanicException): what it means to the person who sent it
        said = Said("chương trình đọc không hiểu được nội dung tệp", "the reader could not make sense of its content")
        raise Refused("unreadable-workbook", said) from None
    return names, hidden


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


@cache
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
        codes = tuple(row[1] if len(row) > 1 else None for row in grid[FIRST_DATA_ROW - 1 :])
        found, unknown, in_place = _row_codes(layout, sheet.name, codes)
        sub.issues += [_row_issue(sub.path, layout, sheet.name, found, r, text) for r, text in unknown]
        if in_place:
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
            row_keys = [
                k for k in (cell_key(row.element, row.key, c.key) for c in sheet.columns) if k in layout.positions
            ]
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


def _row_issue(path: str, layout: FormLayout, sheet: str, found: dict[str, int], r: int, text: str) -> Issue:
    """Why the row at `r` of `sheet`, coded `text`, is not read: a copy of a row of this sheet (the first is read),
    a row of another sheet of the form pasted here, or a code the form does not have."""
    ref, other = a1(r, 2), _sheet_of(layout).get(text, sheet)
    if text in found:
        return make_issue("repeated-row", path=path, sheet=sheet, cell=ref, value=text, detail=found[text])
    if other != sheet:
        return make_issue("row-of-other-sheet", path=path, sheet=sheet, cell=ref, value=text, detail=other)
    return make_issue("unknown-row", path=path, sheet=sheet, cell=ref, value=text)


_ROW_CODE = re.compile(r"^[A-Z]{2}\d{2}(\.\d{2})?$")


@lru_cache(maxsize=256)
def _row_codes(
    layout: FormLayout, sheet_name: str, codes: tuple[Any, ...]
) -> tuple[dict[str, int], tuple[tuple[int, str], ...], bool]:
    """A sheet's 'Mã số' column (from its first data row down) read: the row of each of this sheet's codes (its
    first), the rows with any other code (one already found, another sheet's, one the form does not have: row,
    code), and whether every row stands where the form put it. Cached: files made from one form have the same
    column."""
    sheet = next(s for s in layout.sheets if s.name == sheet_name)
    found: dict[str, int] = {}
    unknown = []
    own = _sheet_of(layout)
    for r, code in enumerate(codes, start=FIRST_DATA_ROW):
        if code is None or code == "":
            continue
        text = str(code).strip()
        if own.get(text) == sheet_name and text not in found:
            found[text] = r
        elif _ROW_CODE.match(text) or r <= sheet.last_row:
            unknown.append((r, text))
    in_place = all(found.get(row.code) == row.row for row in sheet.rows if row.code)
    return found, tuple(unknown), in_place


@cache
def _sheet_of(layout: FormLayout) -> dict[str, str]:
    """Each row code of the form -> the sheet that holds it (a code found on another sheet is not read there)."""
    return {row.code: s.name for s in layout.sheets for row in s.rows if row.code}


@cache
def _refs(layout: FormLayout) -> dict[tuple[str, str], str]:
    """(sheet, A1) -> cell key, for the cells where the form puts them."""
    return {(sheet, a1(r, c)): k for k, (sheet, r, c) in layout.positions.items()}


def _apply_scans(sub: Submission, layout: FormLayout, scans: dict[str, SheetScan]) -> None:
    """What the guard saw in the sheets: formulas (and whether they hold a computed value), hidden rows with
    data, and merged ranges over value cells (their covered cells cannot be read: reported once, not judged)."""
    refs = _refs(layout)
    if sub.moved:
        refs = {**refs, **{(s, a1(r, c)): k for k, (s, r, c) in sub.moved.items()}}
    if sub.format in ("xlsx", "ods"):
        sub.formula_keys = set()
        for sheet, scan in scans.items():
            for ref, cached in scan.formulas.items():
                key = refs.get((sheet, ref))
                if key is not None:
                    sub.formula_keys.add(key)
                    if not cached:
                        sub.nocache_keys.add(key)
    for sheet, scan in scans.items():
        if scan.hidden_rows:
            rows_with_data = _rows_with_data(sub, layout, sheet)
            for r in sorted(set(scan.hidden_rows) & rows_with_data):
                sub.issues.append(make_issue("hidden-data", path=sub.path, sheet=sheet, cell=a1(r, 1), detail="dòng"))
        if scan.merges and sheet != COVER:
            moved = tuple(sorted(sub.moved.items()))
            for r1, c1, r2, c2, covered in _merged_over(layout, sheet, tuple(scan.merges), moved):
                if covered:
                    span = f"{a1(r1, c1)}:{a1(min(r2, 1048576), min(c2, 16384))}"
                    sub.issues.append(
                        make_issue("merged-cells", path=sub.path, sheet=sheet, cell=a1(r1, c1), value=span)
                    )
                    sub.unavailable.update(covered)


@lru_cache(maxsize=256)
def _merged_over(
    layout: FormLayout,
    sheet: str,
    merges: tuple[tuple[int, int, int, int], ...],
    moved: tuple[tuple[str, tuple[str, int, int]], ...],
) -> list[tuple[int, int, int, int, list[str]]]:
    """Each merged range of a sheet with the value cells it hides (cached: files made from one form have the same
    merges)."""
    cells = _cells_of(layout, sheet, moved)
    return [(r1, c1, r2, c2, _covered(cells, r1, c1, r2, c2)) for r1, c1, r2, c2 in merges]


@lru_cache(maxsize=64)
def _cells_of(
    layout: FormLayout, sheet: str, moved: tuple[tuple[str, tuple[str, int, int]], ...]
) -> tuple[tuple[int, int, int, int], dict[tuple[int, int], str]]:
    """The value cells of one sheet, (row, col) -> key, with their bounding box."""
    where = dict(moved)
    out = {}
    for key, pos in layout.positions.items():
        s, r, c = where.get(key, pos)
        if s == sheet:
            out[(r, c)] = key
    rows, cols = [r for r, _ in out] or [0], [c for _, c in out] or [0]
    return (min(rows), min(cols), max(rows), max(cols)), out


def _covered(
    cells: tuple[tuple[int, int, int, int], dict[tuple[int, int], str]], r1: int, c1: int, r2: int, c2: int
) -> list[str]:
    """Value cells a merged range hides (all but its top-left cell)."""
    (top, left, bottom, right), at = cells
    if r2 < top or r1 > bottom or c2 < left or c1 > right:
        return []
    return [k for (r, c), k in at.items() if r1 <= r <= r2 and c1 <= c <= c2 and (r, c) != (r1, c1)]


def _rows_with_data(sub: Submission, layout: FormLayout, sheet: str) -> set[int]:
    """Rows of `sheet` holding at least one non-blank value cell (as read)."""
    rows = set()
    for i, (s, r, c) in enumerate(layout.positions.values()):
        key = layout.keys[i]
        s, r, c = sub.moved.get(key, (s, r, c))
        if s == sheet and sub.raw[i] is not None:
            rows.add(r)
    return rows
