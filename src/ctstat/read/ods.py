"""Read an OpenDocument spreadsheet (.ods) into cell grids, with a streaming XML parser and bounded memory.

Written for ctstat rather than left to calamine because calamine's ODS reader rejects the whitespace Gnumeric
writes between cells, reports a password-protected file as a format error, and expands repeated rows and
columns as declared (a few bytes can declare a million rows). Here repeated empty rows and cells only move a
counter; a value outside the form's extent is refused (`data-outside-form`) where it is met.
"""

from __future__ import annotations

import math
import xml.parsers.expat
from dataclasses import dataclass, field
from typing import Any

from ctstat.model.keys import a1
from ctstat.model.report import Said
from ctstat.read.guard import MAX_COLS, MAX_ROWS, Package, Refused, SheetScan, check_xml

_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"

T_TABLE, T_ROW, T_CELL, T_COVERED = (
    f"{_TABLE} table",
    f"{_TABLE} table-row",
    f"{_TABLE} table-cell",
    (f"{_TABLE} covered-table-cell"),
)
X_P, X_S, X_TAB, X_BR = f"{_TEXT} p", f"{_TEXT} s", f"{_TEXT} tab", f"{_TEXT} line-break"
S_STYLE, S_TABLE_PROPS = f"{_STYLE} style", f"{_STYLE} table-properties"
A_NAME, A_STYLE = f"{_TABLE} name", f"{_TABLE} style-name"
A_ROWS_REP, A_COLS_REP = f"{_TABLE} number-rows-repeated", f"{_TABLE} number-columns-repeated"
A_COLS_SPAN, A_ROWS_SPAN = f"{_TABLE} number-columns-spanned", f"{_TABLE} number-rows-spanned"
A_VISIBILITY, A_DISPLAY, A_FORMULA = f"{_TABLE} visibility", f"{_TABLE} display", f"{_TABLE} formula"
A_TYPE, A_VALUE = f"{_OFFICE} value-type", f"{_OFFICE} value"
A_BOOL, A_DATE, A_TIME = f"{_OFFICE} boolean-value", f"{_OFFICE} date-value", f"{_OFFICE} time-value"
A_STRING = f"{_OFFICE} string-value"
A_STYLE_NAME, A_FAMILY = f"{_STYLE} name", f"{_STYLE} family"
A_TEXT_C = f"{_TEXT} c"

MAX_TEXT = 40_000  #: characters kept of one cell's text (Excel's limit is 32,767)


@dataclass
class OdsBook:
    sheet_names: list[str] = field(default_factory=list)
    hidden_sheets: set[str] = field(default_factory=set)
    grids: dict[str, list[list[Any]]] = field(default_factory=dict)
    scans: dict[str, SheetScan] = field(default_factory=dict)


def _count(attrs: dict[str, str], name: str) -> int:
    raw = attrs.get(name, "1")
    return int(raw) if raw.isdigit() and len(raw) < 10 else 1


def read_ods(pkg: Package, wanted: set[str]) -> OdsBook:
    """The grids (1-based rows and columns as 0-based lists, '' for blank) of the sheets in `wanted`."""
    if pkg.has("META-INF/manifest.xml"):
        manifest = check_xml(pkg.read("META-INF/manifest.xml", 1 << 20), "META-INF/manifest.xml")
        if b"encryption-data" in manifest:
            raise Refused("encrypted-workbook")
    if not pkg.has("content.xml"):
        raise Refused("unreadable-workbook", Said("không phải tệp bảng tính", "not a spreadsheet file"))
    content = check_xml(pkg.read("content.xml"), "content.xml")
    reader = _Reader(wanted)
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    try:
        parser.Parse(content, True)
    except xml.parsers.expat.ExpatError as exc:
        where = f"content.xml, {exc.lineno}:{exc.offset}"
        raise Refused("unreadable-workbook", Said(f"{where}: XML hỏng", f"{where}: damaged XML")) from None
    book = reader.book
    book.hidden_sheets = {n for n, style in reader.table_styles.items() if style in reader.hidden_styles}
    return book


class _Reader:
    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.book = OdsBook()
        self.hidden_styles: set[str] = set()
        self.table_styles: dict[str, str] = {}
        self.style: str | None = None  #: the table style being declared
        self.sheet: str | None = None
        self.grid: list[list[Any]] | None = None
        self.scan = SheetScan()
        self.row = 0  #: 1-based row of the current table-row
        self.row_repeat = 1
        self.row_cells: list[tuple[int, Any, int]] = []  #: (column, value, repeat) of the current row
        self.col = 0
        self.cell: dict[str, str] | None = None
        self.paragraphs: list[list[str]] = []
        self.chars = 0

    # --- expat callbacks

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.cell is not None:
            if name == X_P:
                self.paragraphs.append([])
            elif name == X_S:
                self._add(" " * min(_count(attrs, A_TEXT_C), 1000))
            elif name == X_TAB:
                self._add("\t")
            elif name == X_BR:
                self._add("\n")
            return
        if name in (T_CELL, T_COVERED):
            self.cell = attrs
            self.paragraphs = []
            self.chars = 0
        elif name == T_ROW:
            self.row += 1
            self.row_repeat = _count(attrs, A_ROWS_REP)
            self.row_cells = []
            self.col = 0
            if attrs.get(A_VISIBILITY, "visible") != "visible" and self.grid is not None:
                self.scan.hidden_rows.extend(range(self.row, min(self.row + self.row_repeat, MAX_ROWS + 1)))
        elif name == T_TABLE:
            self.sheet = attrs.get(A_NAME, "")
            self.book.sheet_names.append(self.sheet)
            self.table_styles[self.sheet] = attrs.get(A_STYLE, "")
            self.row = 0
            self.scan = SheetScan()
            self.grid = [] if self.sheet in self.wanted else None
        elif name == S_STYLE and attrs.get(A_FAMILY) == "table":
            self.style = attrs.get(A_STYLE_NAME)
        elif name == S_TABLE_PROPS and self.style and attrs.get(A_DISPLAY) == "false":
            self.hidden_styles.add(self.style)

    def text(self, data: str) -> None:
        if self.cell is not None and self.paragraphs:
            self._add(data)

    def _add(self, data: str) -> None:
        if self.paragraphs and self.chars < MAX_TEXT:
            self.paragraphs[-1].append(data[: MAX_TEXT - self.chars])
            self.chars += len(data)

    def end(self, name: str) -> None:
        if name in (T_CELL, T_COVERED) and self.cell is not None:
            self._end_cell(self.cell, name == T_COVERED)
            self.cell = None
        elif name == T_ROW:
            self._end_row()
            self.row += self.row_repeat - 1
        elif name == T_TABLE:
            if self.grid is not None and self.sheet is not None:
                self.book.grids[self.sheet] = self.grid
                self.book.scans[self.sheet] = self.scan
            self.grid = None
            self.sheet = None
        elif name == S_STYLE:
            self.style = None

    # --- cells and rows

    def _end_cell(self, attrs: dict[str, str], covered: bool) -> None:
        repeat = _count(attrs, A_COLS_REP)
        col = self.col + 1
        self.col += repeat
        value = "" if covered else self._value(attrs)
        if value == "" and A_FORMULA not in attrs:
            return
        if not (1 <= self.row <= MAX_ROWS and col + repeat - 1 <= MAX_COLS):
            where = a1(self.row, col) if col <= 16384 and self.row <= 1048576 else None
            row = Said(f"dòng {self.row}", f"row {self.row}")
            raise Refused("data-outside-form", "" if where else row, self.sheet, where)
        if self.grid is None:
            return
        if A_FORMULA in attrs:
            self.scan.formulas[a1(self.row, col)] = A_TYPE in attrs
        spans = (_count(attrs, A_ROWS_SPAN), _count(attrs, A_COLS_SPAN))
        if spans != (1, 1):
            self.scan.merges.append((self.row, col, self.row + spans[0] - 1, col + spans[1] - 1))
        self.row_cells.append((col, value, repeat))

    def _value(self, attrs: dict[str, str]) -> Any:
        kind = attrs.get(A_TYPE)
        text = "\n".join("".join(p) for p in self.paragraphs)
        if kind in ("float", "percentage", "currency"):
            try:
                return float(attrs.get(A_VALUE, text))
            except ValueError:
                return text or math.nan
        if kind == "boolean":
            return attrs.get(A_BOOL, "").strip().lower() == "true"
        if kind == "date":
            return attrs.get(A_DATE, text)
        if kind == "time":
            return attrs.get(A_TIME, text)
        if kind == "string" and A_STRING in attrs:
            return attrs[A_STRING][:MAX_TEXT]
        return text

    def _end_row(self) -> None:
        if self.grid is None or not self.row_cells:
            return
        if self.row + self.row_repeat - 1 > MAX_ROWS:
            col = self.row_cells[0][0]
            last = min(self.row + self.row_repeat - 1, 1048576)
            raise Refused("data-outside-form", sheet=self.sheet, cell=a1(last, col))
        width = max(c + r - 1 for c, _, r in self.row_cells)
        line: list[Any] = [""] * width
        for col, value, repeat in self.row_cells:
            for j in range(col - 1, col - 1 + repeat):
                line[j] = value
        while len(self.grid) < self.row - 1:
            self.grid.append([])
        for _ in range(self.row_repeat):
            self.grid.append(list(line))
