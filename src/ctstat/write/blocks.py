"""Rows of numbers written straight into a worksheet's XML: the bulk of a rollup's cells, at a fraction of the cost.

A rollup workbook holds thousands of numbers in few sheets (the hidden data sheet, one column a cell; the sheet by
unit, one column a child unit). xlsxwriter stores each cell as an object and writes it through several calls
(about 7 µs a cell, most of a workbook's time). `BlockSheet.write_numbers` stores a whole run of a row's numbers
as one entry instead, and writes its XML in one go when the workbook is saved: the same XML, byte for byte, that
`write_number` and `write_blank` give cell by cell (tests/test_blocks.py compares the two).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from xlsxwriter.format import Format
from xlsxwriter.packager import Packager
from xlsxwriter.sharedstrings import SharedStrings, SharedStringTable
from xlsxwriter.utility import xl_col_to_name, xl_range
from xlsxwriter.worksheet import CellBlankTuple, CellFormulaTuple, CellNumberTuple, CellStringTuple, Worksheet

#: a formula that is a SUM of one cell or one range, e.g. =SUM(D12:F12), =SUM($D$12)
_PLAIN_SUM = re.compile(r"=SUM\(\$?[A-Z]{1,3}\$?[0-9]{1,7}(?::\$?[A-Z]{1,3}\$?[0-9]{1,7})?\)")
#: the same formula as a cell holds it (without its "=")
_PLAIN_SUM_TEXT = re.compile(_PLAIN_SUM.pattern[1:])


class _Run:
    """A run of one row's cells, stored at its first present cell: values (None: no number) from column `first`,
    each cell's format, and whether a cell with no number is a blank in its format."""

    __slots__ = ("first", "format", "formats", "values", "blank")

    def __init__(self, first: int, values: list[float | None], formats: list[Format | None], blank: bool) -> None:
        self.first = first
        self.values = values
        self.formats = formats
        self.format = formats[0]
        self.blank = blank


class _RunEnd:
    """The last present cell of a run: what xlsxwriter's row spans and dimensions count; its XML is the run's."""

    __slots__ = ("format",)

    def __init__(self, fmt: Format | None) -> None:
        self.format = fmt


class _Cells:
    """A row's plain cells (`BlockSheet.write_plain`), stored at the first, already rendered to XML; the last
    holds a `_RunEnd`."""

    __slots__ = ("xml", "last")
    format = None

    def __init__(self, xml: str, last: int) -> None:
        self.xml = xml
        self.last = last


class BlockSheet(Worksheet):  # type: ignore[misc]
    """A worksheet that also takes whole runs of numbers (`write_numbers`). Nothing else about it changes: the
    other cells of the same rows are written as usual, before or after a run, never inside one."""

    def __init__(self) -> None:
        super().__init__()
        self._inside: tuple[int, int] = (-1, -1)  #: the row and last column of the run being written out

    # xlsxwriter's cell writers, with row and column given as numbers (not "A1") and no handlers of its own
    # types: straight to the undecorated writer, past the A1 parsing and the type dispatch

    def _write(self, row: int, col: int, *args: Any) -> Any:  # what write(), write_row() and write_column() call
        if args and not self.write_handlers:
            value = args[0]
            kind = value.__class__
            if kind is str and value and not self._strings_live():
                if len(value) <= self.xls_strmax // 2 and len(args) <= 2 and not self.constant_memory:
                    # `_write_string` but its cut of a text too long for a cell (none this short is)
                    if self._check_dimensions(row, col):
                        return -1
                    index = self.str_table._get_shared_string_index(value)
                    self.table[row][col] = CellStringTuple(index, args[1] if len(args) == 2 else None)
                    return 0
                return self._write_string(row, col, *args)
            if kind is float or kind is int:
                return self._write_number(row, col, *args)
        return super()._write(row, col, *args)

    def write(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and args and args[0].__class__ is int:
            return self._write(*args)
        return super().write(*args, **kwargs)

    def write_string(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and args and args[0].__class__ is int:
            return self._write_string(*args)
        return super().write_string(*args, **kwargs)

    def write_number(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and args and args[0].__class__ is int:
            return self._write_number(*args)
        return super().write_number(*args, **kwargs)

    def write_blank(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and args and args[0].__class__ is int:
            return self._write_blank(*args)
        return super().write_blank(*args, **kwargs)

    def merge_range(self, *args: Any, **kwargs: Any) -> Any:
        """A merge of cells given by number, in a format (a rollup's titles, banners and group labels): stored as
        xlsxwriter stores it (the range, its first cell, a blank in the format in each other cell), past its
        A1 parsing and a call a cell. Anything else (a merge over cells merged already: its error) as it does."""
        if kwargs or len(args) != 6 or self.constant_memory or self.table_cells or args[5] is None:
            return super().merge_range(*args, **kwargs)
        first_row, first_col, last_row, last_col, data, fmt = args
        if not (first_row.__class__ is first_col.__class__ is last_row.__class__ is last_col.__class__ is int):
            return super().merge_range(*args)
        if not (first_row <= last_row and first_col <= last_col) or (first_row, first_col) == (last_row, last_col):
            return super().merge_range(*args)
        if self._check_dimensions(first_row, first_col) or self._check_dimensions(last_row, last_col):
            return -1
        cells = [(r, c) for r in range(first_row, last_row + 1) for c in range(first_col, last_col + 1)]
        merged = self.merged_cells
        if any(cell in merged for cell in cells):
            return super().merge_range(*args)  # its error, naming both ranges
        merged.update(dict.fromkeys(cells, xl_range(first_row, first_col, last_row, last_col)))
        self.merge.append([first_row, first_col, last_row, last_col])
        self._write(first_row, first_col, data, fmt)
        blank, table = CellBlankTuple(fmt), self.table
        for r, c in cells[1:]:
            table[r][c] = blank
        return 0

    def write_formula(self, *args: Any, **kwargs: Any) -> Any:
        """A SUM of one cell or range (a form's every total) stored as it is, past xlsxwriter's rewriting of newer
        functions' names (some thirty regular expressions a formula, none of which a SUM of a range matches)."""
        if (
            not kwargs
            and 3 <= len(args) <= 5
            and args[0].__class__ is int
            and args[1].__class__ is int
            and args[2].__class__ is str
            and _PLAIN_SUM.fullmatch(args[2])
            and not self.constant_memory
        ):
            row, col, formula = args[:3]
            if self._check_dimensions(row, col):
                return -1
            fmt = args[3] if len(args) > 3 else None
            self.table[row][col] = CellFormulaTuple(formula[1:], fmt, args[4] if len(args) > 4 else 0)
            return 0
        return super().write_formula(*args, **kwargs)

    def _strings_live(self) -> bool:
        """Whether `write` may turn a string into a number, a formula or a link (inert.workbook: never)."""
        return bool(self.strings_to_numbers or self.strings_to_formulas or self.strings_to_urls)

    def write_numbers(
        self,
        row: int,
        col: int,
        values: Sequence[Any] | np.ndarray,
        fmt: Format | Sequence[Format | None] | None = None,
        blank: bool = False,
    ) -> None:
        """Write `values` along `row` from `col`: a number where there is one, what `write_number(row, c, v, fmt)`
        writes; None or NaN: a blank cell in `fmt` when `blank` (as `write_blank`), else nothing. `fmt`: one format
        for all, or one a value. A value that is not a finite number otherwise (±inf) sends the row through
        `write_number`, which makes it an error cell."""
        if isinstance(values, np.ndarray):
            values = values.tolist()  # Python floats: quicker to look at one by one than numpy's scalars
        vals: list[float | None] = [None if v is None or v != v else float(v) for v in values]
        fmts: list[Format | None] = list(fmt) if isinstance(fmt, (list, tuple)) else [fmt] * len(vals)
        if len(fmts) != len(vals):
            raise ValueError(f"{len(vals)} values, {len(fmts)} formats")
        ends = _ends(vals, fmts, blank)
        if ends is None:
            return
        first, last = col + ends[0], col + ends[1]
        cells = self.table[row]
        inside = False  # a cell already written where the run goes
        for c, taken in cells.items():
            if taken.__class__ is _Run and taken.first <= last and first <= taken.first + len(taken.values) - 1:
                raise ValueError(f"row {row}: a run of numbers from column {first} overlaps one from column {c}")
            inside = inside or first <= c <= last
        if inside or math.inf in vals or -math.inf in vals:
            self._one_by_one(row, col, vals, fmts, blank)  # an error cell, or cells already there: as xlsxwriter
            return
        if self._check_dimensions(row, first) or self._check_dimensions(row, last):
            raise IndexError(f"row {row}, columns {first}-{last}: outside the worksheet")
        cells[first] = _Run(first, vals[ends[0] : ends[1] + 1], fmts[ends[0] : ends[1] + 1], blank)
        if last != first:
            cells[last] = _RunEnd(fmts[ends[1]])

    def write_plain(self, row: int, col: int, values: Sequence[Any]) -> bool:
        """Write `values` along `row` from `col` as `write_row(row, col, values)` does (a text: a shared string, a
        number; None or "": no cell), all without a format, rendered to XML now in one string. False, nothing
        written, where only the cell-by-cell writing gives those bytes: a number not finite, a value of another
        kind, a text too long, cells already in the row, a row or column format there, a cell out of the sheet."""
        if self.constant_memory or self.write_handlers or self._strings_live() or self.table.get(row):
            return False
        info, columns = self.row_info.get(row), self.col_info
        if info is not None and info.row_format:
            return False
        if columns and any(columns[c].column_format for c in range(col, col + len(values)) if c in columns):
            return False
        if not _PLAIN_KINDS.issuperset(map(type, values)):
            return False
        small, longest, copysign = _SMALL.get, self.xls_strmax // 2, math.copysign
        try:
            # a zero (most of a rollup's numbers) looked at here: its sign, as "-0" is written for -0.0
            texts = [small(v) or ("0" if v == 0 and copysign(1.0, v) > 0 else _plain_text(v, longest)) for v in values]
        except ValueError:  # a number not finite, a text too long
            return False
        n = len(texts)
        first = next((i for i in range(n) if texts[i] is not None), None)
        if first is None:
            return True  # no cell, as write_row writes none
        last = next(i for i in range(n - 1, -1, -1) if texts[i] is not None)
        if self._check_dimensions(row, col + first) or self._check_dimensions(row, col + last):
            return False
        r, get = str(row + 1), self.str_table._get_shared_string_index
        xml = "".join(
            [
                f'<c r="{name}{r}"><v>{t}</v></c>' if t is not _TEXT else f'<c r="{name}{r}" t="s"><v>{get(v)}</v></c>'
                for name, t, v in zip(_names(col, n), texts, values, strict=True)
                if t is not None
            ]
        )  # the texts asked for in the order write_row asks
        cells: dict[int, Any] = {col + first: _Cells(xml, col + last)}
        if last != first:
            cells[col + last] = _RunEnd(None)
        self.table[row] = cells
        return True

    def splice(self, template: RowsTemplate, formats: Sequence[Format], values: Sequence[Any]) -> bool:
        """Put `template`'s rows here, in `formats` (one a slot of the template) with `values` in its holes, in
        the order of `template.holes` (None or NaN: a blank cell in its format): what writing them cell by cell at
        this point would give. False, nothing written, when a number is infinite (an error cell, which only the
        cell-by-cell writing makes) or the template is `unusable`."""
        t = template
        if not t.usable:
            return False
        if self.constant_memory or len(formats) != len(t.slots) or len(values) != len(t.holes):
            raise ValueError(f"{len(formats)} formats, {len(values)} values for {len(t.slots)}, {len(t.holes)}")
        vals: list[float | None] = [None if v is None or v != v else float(v) for v in values]
        if math.inf in vals or -math.inf in vals:
            return False
        table = self.table
        if any(table.get(row) for row, _, _, _ in t.rows) or self.merged_cells.keys() & t.merged_cells.keys():
            raise ValueError("the template's rows are already written")
        get = self.str_table._get_shared_string_index
        spliced = _Spliced(t, list(formats), [get(s) for s in t.strings], vals)
        for row, first, last, cells in t.rows:
            pre = _Pre(spliced, cells, last)
            table[row] = {first: pre, last: _RunEnd(None)} if last != first else {first: pre}
        self.row_info.update(t.row_info)
        self.merge.extend([list(m) for m in t.merges])
        self.merged_cells.update(t.merged_cells)
        self._check_dimensions(t.dims[0], t.dims[1])
        self._check_dimensions(t.dims[2], t.dims[3])
        return True

    def _one_by_one(self, row: int, col: int, vals: list[float | None], fmts: list[Format | None], blank: bool) -> None:
        for i, (v, f) in enumerate(zip(vals, fmts, strict=True)):
            if v is not None:
                self.write_number(row, col + i, v, f)
            elif blank:
                self.write_blank(row, col + i, None, f)

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        kind = cell.__class__
        if kind is _Run:
            self.fh.write(self._run_xml(row, cell))
            self._inside = (row, cell.first + len(cell.values) - 1)
        elif kind is _Pre:
            self.fh.write(cell.spliced.xml(cell.cells))
            self._inside = (row, cell.last)
        elif kind is _Cells:
            self.fh.write(cell.xml)
            self._inside = (row, cell.last)
        elif kind is _RunEnd:
            if self._inside != (row, col):  # its run's first cell was overwritten: its numbers would be lost
                raise ValueError(f"row {row}: a run of numbers was overwritten at its first cell")
        elif row == self._inside[0] and col <= self._inside[1]:
            raise ValueError(f"row {row}, column {col}: a cell inside a run of numbers")
        elif cell.format and kind in _PLAIN and not self.constant_memory:
            head = f'<c r="{_name(col)}{row + 1}" s="{cell.format._get_xf_index()}"'
            self.fh.write(_PLAIN[kind](head, cell))
        elif (
            kind is CellFormulaTuple
            and cell.format
            and cell.value.__class__ in (int, float)
            and _PLAIN_SUM_TEXT.fullmatch(cell.formula)
        ):
            # a form's total (a SUM of a range, its cached number): what xlsxwriter writes, past its escaping
            head = f'<c r="{_name(col)}{row + 1}" s="{cell.format._get_xf_index()}"'
            self.fh.write(f"{head}><f>{cell.formula}</f><v>{cell.value}</v></c>")
        else:
            super()._write_cell(row, col, cell)

    def _write_rows(self) -> None:
        """xlsxwriter's `_write_rows`, visiting each row's cells in order rather than every column of the sheet."""
        if self.constant_memory:
            super()._write_rows()
            return
        self._calculate_spans()
        lo, hi = self.dim_colmin, self.dim_colmax
        for row in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells, info = self.table.get(row), self.row_info.get(row)
            if not cells and info is None and row not in self.comments:
                continue
            span = self.row_spans.get(row // 16)
            tag = self._row_tag(row, span, info)
            if tag is None:  # a row xlsxwriter writes with more than these attributes: as it does
                (self._write_row if cells else self._write_empty_row)(row, span, info)
            else:
                self.fh.write(f"{tag}>" if cells else f"{tag}/>")
            if cells:
                self._write_cells(row, cells, lo, hi)
                self._xml_end_tag("row")

    def _row_tag(self, row: int, span: str | None, info: Any) -> str | None:
        """A row's opening tag as xlsxwriter's `_write_row` writes it, but its end: its number, spans, height. None
        for a row with a format, hidden or outlined, or in Excel 2010's dialect."""
        if self.excel_version == 2010 or (
            info is not None and (info.row_format or info.hidden or info.level or info.collapsed)
        ):
            return None
        tag = f'<row r="{row + 1}" spans="{span}"' if span else f'<row r="{row + 1}"'
        height = self.default_row_height if info is None or info.height is None else info.height
        if height != self.original_row_height or height != self.default_row_height:
            tag += f' ht="{height * 0.75:.16g}" customHeight="1"'
        return tag

    def _write_cells(self, row: int, cells: dict[int, Any], lo: int, hi: int) -> None:
        """A row's cells: a number, text or blank in its own format, or in none where neither its row nor its
        column has one, straight here (most cells); the others as `_write_cell`."""
        write, at = self.fh.write, str(row + 1)
        plain_ok = not self.constant_memory
        info = self.row_info.get(row)
        bare_ok = plain_ok and (info is None or not info.row_format)  # a cell without a format takes none
        columns = self.col_info
        for col in sorted(cells):
            if not lo <= col <= hi:
                continue
            cell = cells[col]
            plain = _PLAIN.get(cell.__class__) if plain_ok else None
            if plain is None or (row == self._inside[0] and col <= self._inside[1]):
                self._write_cell(row, col, cell)
            elif cell.format:
                write(plain(f'<c r="{_name(col)}{at}" s="{cell.format._get_xf_index()}"', cell))
            elif bare_ok and (col not in columns or not columns[col].column_format):
                write(plain(f'<c r="{_name(col)}{at}"', cell))
            else:
                self._write_cell(row, col, cell)

    def _calculate_spans(self) -> None:
        """xlsxwriter's row spans (the first and last column used in each block of 16 rows), from each row's
        cells rather than every column of the sheet."""
        spans: dict[int, str] = {}
        first: int | None = None
        last = 0
        lo, hi = self.dim_colmin, self.dim_colmax
        table, comments = self.table, self.comments
        for row in range(self.dim_rowmin, self.dim_rowmax + 1):
            cells = table.get(row)
            cols: Any = (min(cells), max(cells)) if cells else ()  # each cell was counted in the sheet's columns
            if cols and (cols[0] < lo or cols[1] > hi) or row in comments:  # but in case: as xlsxwriter counts
                cols = [c for c in [*table.get(row, ()), *comments.get(row, ())] if lo <= c <= hi]
            if cols:
                first, last = (min(cols), max(cols)) if first is None else (min(first, *cols), max(last, *cols))
            if ((row + 1) % 16 == 0 or row == self.dim_rowmax) and first is not None:
                spans[row // 16] = f"{first + 1}:{last + 1}"
                first = None
        self.row_spans = spans

    def _write_merge_cells(self) -> None:
        """xlsxwriter's `<mergeCells>`, each range's text put together here."""
        name = _name
        refs: list[Any] = [
            f'<mergeCell ref="{name(c1)}{r1 + 1}:{name(c2)}{r2 + 1}"/>'
            if min(r1, c1, r2, c2) >= 0
            else None  # a range xlsxwriter warns about: as it writes it
            for r1, c1, r2, c2 in self.merge
        ]
        if None in refs:
            super()._write_merge_cells()
        elif refs:
            self.fh.write(f'<mergeCells count="{len(refs)}">{"".join(refs)}</mergeCells>')

    def _get_range_data(self, row_start: int, col_start: int, row_end: int, col_end: int) -> Any:
        """The cells a chart caches: a run's numbers are not cells there, so a chart must not be drawn over one."""
        for row in range(row_start, row_end + 1):
            for cell in self.table.get(row, {}).values():
                if cell.__class__ in (_Run, _RunEnd, _Pre, _Cells):
                    raise ValueError(f"row {row}: a chart over a run of numbers (write its data cell by cell)")
        return super()._get_range_data(row_start, col_start, row_end, col_end)

    def _run_xml(self, row: int, run: _Run) -> str:
        """The run's cells as xlsxwriter writes them: `<c r="B2" s="3"><v>12</v></c>`, `<c r="C2" s="3"/>`."""
        r = str(row + 1)
        cells = zip(_names(run.first, len(run.values)), self._styles(row, run), run.values, run.formats, strict=True)
        small = _SMALL.get
        if None not in run.values:  # every cell a number (a data sheet's row, mostly): one plain pass
            return "".join(
                [f'<c r="{name}{r}"{s}><v>{small(v) or format(v, ".16G")}</v></c>' for name, s, v, _ in cells]
            )
        return "".join(
            [
                f'<c r="{name}{r}"{s}><v>{small(v) or format(v, ".16G")}</v></c>'
                if v is not None
                else f'<c r="{name}{r}"{s}/>'
                if run.blank and f is not None
                else ""
                for name, s, v, f in cells
            ]
        )

    def _styles(self, row: int, run: _Run) -> list[str]:
        """Each cell's style attribute: its format's, else its row's, else its column's (as `_write_cell`)."""
        info = self.row_info.get(row)
        row_format = info.row_format if info is not None else None
        n, one = len(run.formats), run.formats[0]
        if run.formats.count(one) == n:  # one format for the whole run (or none): the same attribute for all
            fmt = one or row_format
            cols = range(run.first, run.first + n)
            if fmt is not None or not any(self.col_info[c].column_format for c in cols if c in self.col_info):
                return [f' s="{fmt._get_xf_index()}"' if fmt is not None else ""] * n
        known: dict[int, str] = {}
        out = []
        for i, fmt in enumerate(run.formats):
            if not fmt:
                fmt = row_format or (
                    self.col_info[run.first + i].column_format if run.first + i in self.col_info else None
                )
            key = id(fmt)
            if key not in known:
                known[key] = f' s="{fmt._get_xf_index()}"' if fmt is not None else ""
            out.append(known[key])
        return out


def _ends(vals: list[float | None], fmts: list[Format | None], blank: bool) -> tuple[int, int] | None:
    """The first and last of `vals` that make a cell (a number; with `blank`, a blank in a format), or None."""

    def present(i: int) -> bool:
        return vals[i] is not None or (blank and fmts[i] is not None)

    n = len(vals)
    lo = next((i for i in range(n) if present(i)), None)
    if lo is None:
        return None
    return lo, next(i for i in range(n - 1, lo - 1, -1) if present(i))


#: what `write_plain` takes; a text's place among its cells
_PLAIN_KINDS = frozenset({float, int, str, type(None)})
_TEXT = "\0text"


def _plain_text(v: Any, longest: int) -> str | None:
    """A value's XML in `write_plain` (None: no cell; `_TEXT`: a shared string), but a small whole number's."""
    if v is None or v == "":
        return None
    if v.__class__ is str:
        if len(v) > longest:
            raise ValueError("a text too long")
        return _TEXT
    if v != v or v == math.inf or v == -math.inf:
        raise ValueError("a number not finite")
    return format(v, ".16G")


#: the text of the whole numbers 1 to 9,999 as a cell holds them (`f"{v:.16G}"`), looked up rather than formatted:
#: most of a rollup's numbers are small counts (not 0, whose float may be -0.0, written "-0")
_SMALL: dict[Any, str] = {float(i): str(i) for i in range(1, 10_000)}

#: a formatted number, shared string or blank cell's XML after its opening `<c r=".." s=".."` (as `_write_cell`)
_PLAIN: dict[type, Callable[[str, Any], str]] = {
    CellNumberTuple: lambda head, cell: f"{head}><v>{_SMALL.get(cell.number) or format(cell.number, '.16G')}</v></c>",
    CellStringTuple: lambda head, cell: f'{head} t="s"><v>{cell.string}</v></c>',
    CellBlankTuple: lambda head, cell: f"{head}/>",
}


@cache
def _names(first: int, n: int) -> tuple[str, ...]:
    """The letters of `n` columns from `first` (0 -> A)."""
    return tuple(xl_col_to_name(c) for c in range(first, first + n))


def _name(col: int) -> str:
    return _names(col, 1)[0]


def block_sheet(wb: Any, name: str) -> BlockSheet:
    """A new worksheet of `wb` named `name` that takes runs of numbers."""
    ws: BlockSheet = wb.add_worksheet(name, worksheet_class=BlockSheet)
    return ws


def write_numbers(ws: Any, row: int, cols: list[int], values: list[Any], fmts: list[Format | None]) -> None:
    """Numbers along `row` in columns `cols`, each in its format; None or NaN: a blank cell in its format. In
    one run on a `BlockSheet` when the columns follow one another, else cell by cell."""
    if cols and isinstance(ws, BlockSheet) and cols == list(range(cols[0], cols[0] + len(cols))):
        ws.write_numbers(row, cols[0], values, fmts, blank=True)
        return
    for col, v, fmt in zip(cols, values, fmts, strict=True):
        if v is None or v != v:
            ws.write_blank(row, col, None, fmt)
        else:
            ws.write_number(row, col, v, fmt)


def fast_sheets(wb: Any) -> None:
    """Every worksheet `wb` adds from now on is a `BlockSheet`: its formatted numbers, texts and blanks are
    written out faster, to the same bytes."""
    wb.worksheet_class = BlockSheet


#: a chart's cached text xlsxwriter writes other than as it is: XML's specials, control characters, an "_x..._"
#: (escaped), Unicode non-characters
_CACHE_SPECIAL = re.compile("[&<>_\x00-\x1f\ufffe\uffff]")


def fast_chart(chart: Any) -> Any:
    """`chart`, its cached numbers and texts (a point a bar: most of a chart's XML) written out in one string each
    rather than element by element: the same bytes (tests/test_blocks.py)."""
    chart._write_num_cache = _num_cache.__get__(chart)
    chart._write_str_cache = _str_cache.__get__(chart)
    return chart


def _pts(chart: Any, data: Sequence[Any]) -> str:
    """xlsxwriter's `_write_pt` for each point but those without a value."""
    out = []
    for i, token in enumerate(data):
        if token is None:
            continue
        if token.__class__ is str and _CACHE_SPECIAL.search(token):
            token = chart._escape_control_characters(chart._escape_data(token))
        out.append(f'<c:pt idx="{i}"><c:v>{token}</c:v></c:pt>')
    return "".join(out)


def _num_cache(chart: Any, data: Sequence[Any] | None) -> None:
    """xlsxwriter's `Chart._write_num_cache`: a value that is not a number is written as 0."""
    data = list(data or ())
    for i, token in enumerate(data):
        if token is not None:
            try:
                float(token)
            except ValueError:
                data[i] = 0
    head = f'<c:numCache><c:formatCode>General</c:formatCode><c:ptCount val="{len(data)}"/>'
    chart.fh.write(f"{head}{_pts(chart, data)}</c:numCache>")


def _str_cache(chart: Any, data: Sequence[Any]) -> None:
    """xlsxwriter's `Chart._write_str_cache`."""
    chart.fh.write(f'<c:strCache><c:ptCount val="{len(data)}"/>{_pts(chart, data)}</c:strCache>')


#: a shared string xlsxwriter writes other than as plain text: control characters, an "_x..._" (escaped), a "<"
#: (escaped, or a rich string), whitespace at either end (preserved), Unicode non-characters
_SST_SPECIAL = re.compile("[\x00-\x1f_<\ufffe\uffff]|^\\s|\\s$")


class FastSharedStrings(SharedStrings):  # type: ignore[misc]
    """xlsxwriter's shared strings part, a plain string (nearly every one) written straight out: the same bytes."""

    def _write_sst_strings(self) -> None:
        out: list[str] = []
        known = _SI
        for s in self.string_table.string_array:
            si = known.get(s)
            if si is None:
                if _SST_SPECIAL.search(s):
                    self.fh.write("".join(out))
                    out = []
                    self._write_si(s)
                    continue
                si = f"<si><t>{s.replace('&', '&amp;').replace('>', '&gt;')}</t></si>"
                if len(known) < _SI_KEPT:
                    known[s] = si
            out.append(si)
        self.fh.write("".join(out))


#: plain shared strings as written, kept for the process (a rollup's labels recur in every workbook), up to
#: `_SI_KEPT` of them (the first ones seen: the labels, not each workbook's names)
_SI: dict[str, str] = {}
_SI_KEPT = 20_000


class FastPackager(Packager):  # type: ignore[misc]
    """xlsxwriter's packager, writing the shared strings with `FastSharedStrings`."""

    def _write_shared_strings_file(self) -> None:
        sst = FastSharedStrings()
        sst.string_table = self.workbook.str_table
        if not self.workbook.str_table.count:
            return
        sst._set_xml_writer(self._filename("xl/sharedStrings.xml"))
        sst._assemble_xml_file()


# -- rows rendered once, spliced into every workbook ---------------------------------------------------------------
#
# A rolled-up report's form sheets hold the same rows in every workbook (labels, codes, units, headers, merges,
# signatures): only the numbers differ. `RowsTemplate.record` takes such rows as a sheet written cell by cell holds
# them, rendered to XML with holes for what belongs to one workbook: each cell's style number (a workbook numbers
# its formats in the order it first writes them), each text's shared-string number, each number. `BlockSheet.splice`
# puts them into another workbook's sheet, asking the shared strings for the same texts in the same order as the
# cell-by-cell writing did, and numbering the formats as the cells are written out: the same bytes
# (tests/test_splice.py holds it).

_S, _B, _V, _N = 0, 1, 2, 3  #: a template cell: a shared string, a blank, a number to fill, a fixed number


class _LoggedStrings(SharedStringTable):  # type: ignore[misc]
    """A shared-string table that also lists every text asked for, in order (what `record` replays)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def _get_shared_string_index(self, string: str) -> int:
        self.asked.append(string)
        index: int = super()._get_shared_string_index(string)
        return index


@dataclass(frozen=True)
class RowsTemplate:
    """Rows of a sheet, from `first_row` on, rendered with holes (see above)."""

    strings: tuple[str, ...]  #: every shared string asked for while the rows were written, in order
    slots: tuple[str, ...]  #: the formats' names, in the order the cells first use them
    rows: tuple[tuple[int, int, int, tuple[tuple[int, str, int, Any], ...]], ...]  #: (row, first, last col, cells)
    row_info: Mapping[int, Any]
    merges: tuple[tuple[int, int, int, int], ...]
    merged_cells: Mapping[tuple[int, int], str]
    dims: tuple[int, int, int, int]  #: the rows' first row and column, last row and column
    holes: tuple[int, ...]  #: the numbers to fill, as written when recorded (each a hole's number), in order
    usable: bool = True  #: False: rows a template could not hold (`unusable`), written cell by cell each time

    @classmethod
    def unusable(cls) -> RowsTemplate:
        """A template of rows that `record` refused: every splice of it is refused."""
        return cls((), (), (), {}, (), {}, (0, 0, 0, 0), (), usable=False)

    @staticmethod
    def start(ws: BlockSheet) -> None:
        """Make `ws`, a new sheet of a scratch workbook, ready to be recorded."""
        if ws.table or ws.merge or ws.row_info:
            raise ValueError("a template is recorded from an empty sheet")
        ws.str_table = _LoggedStrings()

    @classmethod
    def record(cls, ws: BlockSheet, first_row: int, names: Mapping[int, str], holes: int) -> RowsTemplate:
        """The rows written on `ws` since `start`, all at or below `first_row`; `names`: each format's name by
        its id. A run of numbers' values are holes (the rows were written with a hole's number, 1 to `holes`, as
        its value): `holes` in the template lists those its cells use, in the order they use them. Refuses what
        it cannot render: a cell of another kind or without a format, a number missing from a run written
        without blanks."""
        if ws.dim_rowmin is None or ws.dim_rowmin < first_row:
            raise ValueError(f"the rows recorded start at {first_row}")
        slots: dict[str, int] = {}
        used: dict[int, int] = {}  #: a hole's number -> its place among those used
        rows = []
        for row in sorted(ws.table):
            cells = ws.table[row]
            if cells:
                cols = sorted(cells)
                rows.append((row, cols[0], cols[-1], tuple(_template_cells(ws, row, cells, names, slots, used, holes))))
        for row, info in ws.row_info.items():
            if info.row_format is not None:
                raise ValueError(f"row {row}: a row format cannot be recorded")
        return cls(
            strings=tuple(ws.str_table.asked),
            slots=tuple(slots),
            rows=tuple(rows),
            row_info=dict(ws.row_info),
            merges=tuple((a, b, c, d) for a, b, c, d in ws.merge),
            merged_cells=dict(ws.merged_cells),
            dims=(ws.dim_rowmin, ws.dim_colmin, ws.dim_rowmax, ws.dim_colmax),
            holes=tuple(used),
        )


def _template_cells(
    ws: BlockSheet,
    row: int,
    cells: dict[int, Any],
    names: Mapping[int, str],
    slots: dict[str, int],
    used: dict[int, int],
    holes: int,
) -> list[tuple[int, str, int, Any]]:
    """One row's cells as a template holds them: (kind, the XML before the style number, format slot, what fills
    the cell: a string's place in the strings asked for, a hole's number, a fixed number's text)."""
    asked = {s: i for i, s in reversed(list(enumerate(ws.str_table.asked)))}
    text_of = {i: s for s, i in ws.str_table.string_table.items()}
    out: list[tuple[int, str, int, Any]] = []

    def slot(fmt: Format | None, col: int) -> int:
        if fmt is None or id(fmt) not in names:
            raise ValueError(f"row {row}, column {col}: a cell without a named format cannot be recorded")
        return slots.setdefault(names[id(fmt)], len(slots))

    for col in sorted(cells):
        cell, head = cells[col], f'<c r="{_name(col)}{row + 1}" s="'
        kind = cell.__class__
        if kind is CellStringTuple:
            out.append((_S, head, slot(cell.format, col), asked[text_of[cell.string]]))
        elif kind is CellBlankTuple:
            out.append((_B, head, slot(cell.format, col), None))
        elif kind is CellNumberTuple:
            out.append((_N, head, slot(cell.format, col), f"{cell.number:.16G}"))
        elif kind is _Run:
            for i, (v, fmt) in enumerate(zip(cell.values, cell.formats, strict=True)):
                at = f'<c r="{_name(cell.first + i)}{row + 1}" s="'
                if v is not None and (v != int(v) or not 1 <= v <= holes):
                    raise ValueError(f"row {row}: {v} is not a hole's number")
                if v is None and not (cell.blank and fmt is not None):
                    raise ValueError(f"row {row}: a run with a gap cannot be recorded")
                hole = None if v is None else used.setdefault(int(v), len(used))
                out.append((_B, at, slot(fmt, col), None) if hole is None else (_V, at, slot(fmt, col), hole))
        elif kind is not _RunEnd:
            raise ValueError(f"row {row}, column {col}: a {kind.__name__} cannot be recorded")
    return out


class _Spliced:
    """A template's rows in one sheet: its formats, the shared strings' numbers, the numbers; each format's style
    number, taken when a cell first uses it."""

    __slots__ = ("template", "formats", "strings", "values", "xf")

    def __init__(
        self, template: RowsTemplate | HoledRows, formats: list[Format], strings: list[int], values: list[Any]
    ) -> None:
        self.template = template
        self.formats = formats
        self.strings = strings
        self.values = values
        self.xf: list[int | None] = [None] * len(formats)

    def xml(self, cells: tuple[tuple[int, str, int, Any], ...]) -> str:
        xf = self.xf
        sst, vals = self.strings, self.values
        out = []
        for kind, head, slot, arg in cells:
            if xf[slot] is None:  # a format is numbered as a cell first uses it, as when written cell by cell
                xf[slot] = self.formats[slot]._get_xf_index()
            if kind == _S:
                out.append(f'{head}{xf[slot]}" t="s"><v>{sst[arg]}</v></c>')
            elif kind == _B:
                out.append(f'{head}{xf[slot]}"/>')
            elif kind == _V:
                v = vals[arg]
                if v is None:
                    out.append(f'{head}{xf[slot]}"/>')
                else:
                    out.append(f'{head}{xf[slot]}"><v>{_SMALL.get(v) or format(v, ".16G")}</v></c>')
            else:
                out.append(f'{head}{xf[slot]}"><v>{arg}</v></c>')
        return "".join(out)


class _Pre:
    """A row's cells from a template, stored at its first cell (its last holds a `_RunEnd`)."""

    __slots__ = ("spliced", "cells", "last")
    format = None

    def __init__(self, spliced: _Spliced, cells: tuple[tuple[int, str, int, Any], ...], last: int) -> None:
        self.spliced = spliced
        self.cells = cells
        self.last = last


# -- rows rendered once but for some cells, which each workbook writes itself ---------------------------------------
#
# A ward's form (a marked-up copy, a blank or filled form) holds the same rows in every workbook but its value cells:
# each a number, a text, a blank or a formula, in a format that may be filled and commented. `HoledRows.record`
# takes a form's rows as written cell by cell with each value cell holding a marked text (its hole), and renders the
# rest as `RowsTemplate` does. `BlockSheet.splice_holed` puts them into another workbook's sheet and has the caller
# write each value cell, cell by cell as ever, at the point of the writing where it was written: the shared strings
# asked for in the same order, the formats numbered in the same order of cells, the same bytes
# (tests/test_holed.py holds it).

#: a row's fixed cells between two holes: its first and last column and the cells (as `_template_cells` gives them)
_Segment = tuple[int, int, tuple[tuple[int, str, int, Any], ...]]


@dataclass(frozen=True)
class HoledRows:
    """Rows of a sheet, from `first_row` on, rendered but for their holes (see above)."""

    asks: tuple[str | int, ...]  #: the texts asked for while the rows were written, in order; an int: a hole's
    holes: tuple[tuple[int, int, str], ...]  #: each hole's row, column and name (its marked text less the mark)
    slots: tuple[str, ...]  #: the formats' names, in the order the fixed cells first use them
    rows: tuple[tuple[int, tuple[_Segment, ...]], ...]  #: each row's runs of fixed cells
    #: each row's runs of fixed cells and holes (their columns), in the order of their columns
    plans: Mapping[int, tuple[_Segment | int, ...]]
    row_info: Mapping[int, Any]
    row_sizes: Mapping[int, list[Any]]  #: each row set's height and whether hidden (where comments are drawn)
    merges: tuple[tuple[int, int, int, int], ...]
    merged_cells: Mapping[tuple[int, int], str]
    dims: tuple[int, int, int, int]
    usable: bool = True  #: False: rows a template could not hold, written cell by cell each time

    @classmethod
    def unusable(cls) -> HoledRows:
        return cls((), (), (), (), {}, {}, {}, (), {}, (0, 0, 0, 0), usable=False)

    @classmethod
    def record(cls, ws: BlockSheet, first_row: int, names: Mapping[int, str], mark: str) -> HoledRows:
        """The rows written on `ws` since `RowsTemplate.start`, all at or below `first_row`; `names`: each format's
        name by its id. A cell holding a text that starts with `mark` is a hole, named by the rest of the text; each
        hole's text asked for once. Refuses (ValueError) what it cannot render: a cell of another kind or without a
        named format, a row format, a hole's text asked for twice."""
        if ws.dim_rowmin is None or ws.dim_rowmin < first_row:
            raise ValueError(f"the rows recorded start at {first_row}")
        if any(info.row_format is not None for info in ws.row_info.values()):
            raise ValueError("a row format cannot be recorded")
        asks: list[str | int] = []
        holes: dict[str, int] = {}  #: a hole's text -> its number
        for text in ws.str_table.asked:
            if text.startswith(mark):
                if text in holes:
                    raise ValueError(f"a hole's text asked for twice: {text!r}")
                holes[text] = len(holes)
            asks.append(holes[text] if text.startswith(mark) else text)
        first = {s: i for i, s in reversed(list(enumerate(asks))) if s.__class__ is str}
        where: dict[int, tuple[int, int, str]] = {}  #: a hole's number -> its row, column and name
        slots: dict[str, int] = {}
        plans = _segments(ws, mark, holes, where, (names, slots, first))
        return cls(
            asks=tuple(asks),
            holes=tuple(where[i] for i in range(len(holes))),
            slots=tuple(slots),
            rows=tuple((row, tuple(x for x in plan if x.__class__ is tuple)) for row, plan in plans.items()),
            plans=plans,
            row_info=dict(ws.row_info),
            row_sizes={row: list(size) for row, size in ws.row_sizes.items()},
            merges=tuple((a, b, c, d) for a, b, c, d in ws.merge),
            merged_cells=dict(ws.merged_cells),
            dims=(ws.dim_rowmin, ws.dim_colmin, ws.dim_rowmax, ws.dim_colmax),
        )


def _segments(
    ws: BlockSheet,
    mark: str,
    holes: Mapping[str, int],
    where: dict[int, tuple[int, int, str]],
    render: tuple[Mapping[int, str], dict[str, int], Mapping[str, int]],
) -> dict[int, tuple[_Segment | int, ...]]:
    """Each row's plan: its fixed cells in runs that no hole interrupts, and its holes' columns; each hole found
    put in `where`."""
    text_of = {i: s for s, i in ws.str_table.string_table.items()}
    names, slots, first = render
    place = {i: first[s] for i, s in text_of.items() if s in first}  #: a text's number -> its first ask
    plans = {}
    for row in sorted(ws.table):
        cells, plan = ws.table[row], list[_Segment | int]()
        for col in sorted(cells):
            cell = cells[col]
            text = text_of.get(cell.string) if cell.__class__ is CellStringTuple else None
            if text is not None and text.startswith(mark):
                where[holes[text]] = (row, col, text[len(mark) :])
                plan.append(col)
                continue
            fixed = _fixed(row, col, cell, names, slots, place)
            last = plan[-1] if plan else None
            if isinstance(last, tuple):
                plan[-1] = (last[0], col, (*last[2], fixed))
            else:
                plan.append((col, col, (fixed,)))
        plans[row] = tuple(plan)
    return plans


def _fixed(
    row: int, col: int, cell: Any, names: Mapping[int, str], slots: dict[str, int], place: Mapping[int, int]
) -> tuple[int, str, int, Any]:
    """A fixed cell as a template holds it (as `_template_cells`): its kind, the XML before its style number, its
    format's slot, and a text's place among the texts asked for or a number's text."""
    fmt = cell.format
    if fmt is None or id(fmt) not in names:
        raise ValueError(f"row {row}, column {col}: a cell without a named format cannot be recorded")
    slot = slots.setdefault(names[id(fmt)], len(slots))
    head, kind = f'<c r="{_name(col)}{row + 1}" s="', cell.__class__
    if kind is CellStringTuple:
        return (_S, head, slot, place[cell.string])
    if kind is CellBlankTuple:
        return (_B, head, slot, None)
    if kind is CellNumberTuple:
        return (_N, head, slot, f"{cell.number:.16G}")
    raise ValueError(f"row {row}, column {col}: a {kind.__name__} cannot be recorded")


class HoledSheet(BlockSheet):
    """A `BlockSheet` that also takes rows rendered but for their holes (`splice_holed`), and writes those rows out
    in one string each (its holes' cells as `_write_cells` writes them): a ward form's sheet."""

    def __init__(self) -> None:
        super().__init__()
        #: each spliced row's template, plan (its runs of fixed cells and its holes' columns, in order) and the
        #: columns of the cells it then holds
        self._plans: dict[int, tuple[_Spliced, tuple[Any, ...], frozenset[int]]] = {}

    def splice_holed(
        self, template: HoledRows, formats: Sequence[Format], write_hole: Callable[[int, int, str], object]
    ) -> bool:
        """Put `template`'s fixed cells here, in `formats` (one a slot), and call `write_hole(row, col, name)` for
        each hole at the point of the writing where it was recorded (its cell written as ever, by the caller):
        what writing all of them cell by cell at this point would give. False, nothing written, when the
        template is `unusable`."""
        t = template
        if not t.usable:
            return False
        if self.constant_memory or len(formats) != len(t.slots):
            raise ValueError(f"{len(formats)} formats for {len(t.slots)}")
        table = self.table
        if any(table.get(row) for row, _ in t.rows) or self.merged_cells.keys() & t.merged_cells.keys():
            raise ValueError("the template's rows are already written")
        strings: list[int] = []  #: each ask's shared string number (a hole's: -1), filled below
        spliced = _Spliced(t, list(formats), strings, [])
        plans = self._plans
        for row, segments in t.rows:
            cells = table[row]
            for first, last, fixed in segments:
                cells[first] = _Pre(spliced, fixed, last)
                if last != first:
                    cells[last] = _RunEnd(None)
            plan = t.plans[row]
            taken = [x if isinstance(x, int) else x[0] for x in plan] + [x[1] for x in plan if isinstance(x, tuple)]
            plans[row] = (spliced, plan, frozenset(taken))
        self.row_info.update(t.row_info)
        self.row_sizes.update({row: list(size) for row, size in t.row_sizes.items()})
        self.merge.extend([list(m) for m in t.merges])
        self.merged_cells.update(t.merged_cells)
        self._check_dimensions(t.dims[0], t.dims[1])
        self._check_dimensions(t.dims[2], t.dims[3])
        get, holes = self.str_table._get_shared_string_index, t.holes
        for ask in t.asks:
            if ask.__class__ is str:
                strings.append(get(ask))
            else:
                strings.append(-1)
                write_hole(*holes[ask])  # type: ignore[index]
        return True

    def _write_number(self, row: int, col: int, number: Any, cell_format: Format | None = None) -> Any:
        """xlsxwriter's `_write_number` (a finite number inside the rows written already: stored as it stores it,
        past its checks), else as it does."""
        kind = number.__class__
        if (kind is float or kind is int) and -math.inf < number < math.inf and self._inside_dims(row, col):
            self.table[row][col] = CellNumberTuple(number, cell_format)
            return 0
        return super()._write_number(row, col, number, cell_format)

    def _inside_dims(self, row: int, col: int) -> bool:
        return (
            not self.constant_memory
            and self.dim_rowmin is not None
            and self.dim_rowmin <= row <= self.dim_rowmax
            and self.dim_colmin <= col <= self.dim_colmax
        )

    # a form's sheet has the same columns, validations and footer in every workbook: their XML, xlsxwriter's,
    # kept for the process by what it is made from

    def _write_cols(self) -> None:
        info = self.col_info
        if not info or any(c.column_format is not None for c in info.values()):
            super()._write_cols()
            return
        cols = tuple((c, i.width, i.hidden, i.level, i.collapsed, i.autofit) for c, i in sorted(info.items()))
        self._kept_xml(("cols", self.default_col_width, self.max_digit_width, cols), super()._write_cols)

    def _write_data_validations(self) -> None:
        if self.validations:
            self._kept_xml(("validations", repr(self.validations)), super()._write_data_validations)

    def _write_header_footer(self) -> None:
        key = (self.header_footer_scales, self.header_footer_aligns, self.header_footer_changed, self.excel2003_style)
        self._kept_xml(("header-footer", *key, self.header, self.footer), super()._write_header_footer)

    def _kept_xml(self, key: tuple[Any, ...], write: Callable[[], None]) -> None:
        """What `write` writes, written once per process for `key` (all it depends on) and kept."""
        xml = _KEPT_XML.get(key)
        if xml is None:
            fh, buffer = vars(self)["fh"], io.StringIO()
            self.fh = buffer
            try:
                write()
                xml = buffer.getvalue()
            finally:
                self.fh = fh
            if len(_KEPT_XML) < _KEPT_XML_MOST:
                _KEPT_XML[key] = xml
        self.fh.write(xml)

    def _write_cells(self, row: int, cells: dict[int, Any], lo: int, hi: int) -> None:
        """A spliced row holding its plan's cells (and no other) in one string: its runs of fixed cells rendered,
        each hole's cell as `BlockSheet._write_cells` writes it; any other row as that does. A fixed cell written
        over after the splice is refused (ValueError), as a cell inside a run of numbers is: never lost."""
        planned = self._plans.get(row)
        if planned is None or self.constant_memory or cells.keys() != planned[2]:
            super()._write_cells(row, cells, lo, hi)
            return
        spliced, plan, _ = planned
        at, out, write = str(row + 1), list[str](), self.fh.write
        for item in plan:
            if item.__class__ is tuple:
                first, last = cells[item[0]].__class__, cells[item[1]].__class__
                if first is not _Pre or (item[1] != item[0] and last is not _RunEnd):
                    raise ValueError(f"row {row}: a cell the form's template holds was written over")
                out.append(spliced.xml(item[2]))
                continue
            cell = cells[item]
            plain = _PLAIN.get(cell.__class__)
            if plain is not None and cell.format:
                out.append(plain(f'<c r="{_name(item)}{at}" s="{cell.format._get_xf_index()}"', cell))
            else:
                write("".join(out))
                out = []
                self._write_cell(row, item, cell)
        write("".join(out))


#: formats made once per process, by their properties in order and the workbook's defaults (`fixed_format`)
_FORMATS: dict[tuple[tuple[str, type, Any], ...], Format] = {}
_FORMATS_KEPT = 1_000


def fixed_format(wb: Any, properties: Mapping[str, Any]) -> Format:
    """`wb.add_format(properties)` for a format never changed once made (a form's styles): a copy of one made once
    per process with the same properties, its key (what a workbook numbers its formats by) already put together.
    xlsxwriter sets a format's properties one by one, and puts its key together from some forty of them, per
    workbook otherwise. Not for a format changed after it is made (its key would be stale)."""
    if wb.excel2003_style:  # add_format's other defaults
        return wb.add_format(properties)
    props = {**wb.default_format_properties, **properties}  # as add_format merges them
    try:  # (each value's type in the key: 12 and 12.0, 1 and True are written differently)
        key = tuple((k, type(v), v) for k, v in props.items())
        made = _FORMATS.get(key)
    except TypeError:  # a value that cannot be a key
        return wb.add_format(properties)
    if made is None:
        made = Format(props)
        made._get_format_key()
        if len(_FORMATS) < _FORMATS_KEPT:
            _FORMATS[key] = made
    fmt = Format.__new__(Format)
    fmt.__dict__.update(made.__dict__)
    fmt.xf_format_indices, fmt.dxf_format_indices = wb.xf_format_indices, wb.dxf_format_indices
    wb.formats.append(fmt)
    return fmt


#: sheet-level XML of forms' sheets, by what it is made from (`HoledSheet._kept_xml`)
_KEPT_XML: dict[tuple[Any, ...], str] = {}
_KEPT_XML_MOST = 2_000
