"""A district (or post-2025 province) workbook written by `ctstat rollup`, read back as claims on its communes.

A city that rolls up district workbooks must not trust them more than ward files. So each data row of the
workbook's data sheet becomes a `Submission` of its commune, located at its row of the data sheet, and goes
through the very checks a ward file goes through (cover, cells, totals, rules: `validate_batch`). Besides:
- the workbook names its period, unit list, form version and catalogue: any of them not the ones in use makes
  the whole workbook `rollup-mismatch`, reported once;
- ctstat writes a digest of the data sheet on the cover (`DIGEST_LABEL`): a data sheet that no longer matches
  it is `rollup-edited` (an edit by hand, or damage);
- the printed totals of the report sheets must equal the sum of the valid rows (`rollup-totals`), cell by cell.

What the digest proves, and what not: it is a SHA-256 of the data sheet's contents as ctstat wrote them. It finds
any change made after writing (a typed-over count, a deleted or added row) unless whoever changed the sheet also
recomputed the digest and typed it on the cover. It is not a signature; the district's manifest, kept by the
district, records the same digest for an independent check.

Free of pandas: this runs in the reading workers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any

from ctstat.model.keys import a1
from ctstat.model.layout import COVER, FormLayout
from ctstat.model.sheets import DATA as DATA
from ctstat.model.sheets import PERIOD_LABEL, TEMPLATE_LABEL, VINTAGE_LABEL
from ctstat.read.submission import RollupBook as RollupBook
from ctstat.read.submission import Submission

DATA_HEADER = ("unit_code", "unit_name", "parent_code", "level", "status", "sha256")
DIGEST_LABEL = "Mã kiểm tra trang Dữ liệu (SHA-256)"
COVER_ROWS = range(5, 24)  #: 0-based rows of the cover's label/value pairs (column B, C)


def data_digest(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The digest of a data sheet: its header and rows, each cell as text (numbers in shortest round-trip
    form, blanks empty), tab- and newline-separated. Trailing blanks of a row do not count."""
    h = hashlib.sha256()
    h.update(_line(header))
    for row in rows:
        h.update(_line(row))
    return h.hexdigest()


def _line(row: Sequence[Any]) -> bytes:
    # a float (most cells) straight here: as `_text` gives it, at a third of the cost
    cells = [("" if v != v else repr(v)) if v.__class__ is float else _text(v) for v in row]
    while cells and cells[-1] == "":
        cells.pop()
    return ("\t".join(cells) + "\n").encode("utf-8", "surrogatepass")


def _text(v: Any) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        f = float(v)
        return "" if math.isnan(f) else repr(f)
    return str(v).replace("\t", " ").replace("\n", " ")


def read_book(path: str, sha256: str, grids: dict[str, list[list[Any]]], layout: FormLayout) -> RollupBook:
    """The cover fields, the data rows as Submissions, and the printed totals of a rollup workbook."""
    book = RollupBook()
    cover = grids.get(COVER, [])
    for r in COVER_ROWS:
        if r < len(cover) and len(cover[r]) > 2 and cover[r][1]:
            book.fields[str(cover[r][1])] = cover[r][2]
    grid = grids.get(DATA)
    if not grid:
        book.problem = f"thiếu trang '{DATA}'"
        return book
    header = [str(v) for v in grid[0]]
    digest = book.fields.get(DIGEST_LABEL)
    book.data_digest = data_digest(header, grid[1:])
    if digest:
        book.digest_ok = book.data_digest == str(digest).strip()
    book.records = _records(grids)
    keys = layout.keys
    col_of = {h: i for i, h in enumerate(header)}
    if header[: len(DATA_HEADER)] != list(DATA_HEADER) or any(k not in col_of for k in keys):
        book.header_ok = False
        return book
    cols = [col_of[k] for k in keys]
    period = str(book.fields.get(PERIOD_LABEL) or "").split(" ")[0]
    common = {
        "period": period,
        "vintage": book.fields.get(VINTAGE_LABEL),
        "template_version": book.fields.get(TEMPLATE_LABEL),
    }
    for r, row in enumerate(grid[1:], 2):
        cells = list(row) + [""] * (len(header) - len(row))
        code, name, _, level, status = (str(v).strip() for v in cells[:5])
        if not code:
            continue
        if level != "commune":
            book.level_ok = False
            return book
        book.claimed[code] = (status, r)
        if status != "valid":
            continue
        sub = Submission(path=path, sha256=sha256, format="rollup-row")
        sub.cover = {**common, "unit_code": code, "unit_name": name}
        sub.raw = [None if cells[c] == "" else cells[c] for c in cols]
        sub.moved = {k: (DATA, r, c + 1) for k, c in zip(keys, cols, strict=True)}
        book.rows.append(sub)
    book.printed = [_printed(grids, sheet, r, c) for sheet, r, c in layout.positions.values()]
    return book


def _records(grids: dict[str, list[list[Any]]]) -> list[tuple[int, str]]:
    """The review chain's records in the approval sheet (its last column, below the header row)."""
    from ctstat.model.records import APPROVAL_HEADER, APPROVAL_SHEET

    grid = grids.get(APPROVAL_SHEET, [])
    out = []
    for r, row in enumerate(grid[3:], 4):
        if len(row) >= len(APPROVAL_HEADER) and str(row[len(APPROVAL_HEADER) - 1]).strip():
            out.append((r, str(row[len(APPROVAL_HEADER) - 1])))
    return out


def _printed(grids: dict[str, list[list[Any]]], sheet: str, r: int, c: int) -> Any:
    grid = grids.get(sheet, [])
    try:
        v = grid[r - 1][c - 1]
    except IndexError:
        return None
    return None if v == "" else v


def relocate(issues: list[Any], row: int) -> list[Any]:
    """A row's cover issues (unit, name) point at its row of the data sheet, not at the workbook's cover."""
    from dataclasses import replace

    return [replace(i, sheet=DATA, cell=a1(row, 1)) if i.sheet == COVER else i for i in issues]
