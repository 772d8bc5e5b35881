"""Rows of numbers written straight into a worksheet's XML: the bulk of a rollup's cells, at a fraction of the cost.

A rollup workbook holds thousands of numbers in few sheets (the hidden data sheet, one column a cell; the sheet by
unit, one column a child unit). xlsxwriter stores each cell as an object and writes it through several calls
(about 7 µs a cell, most of a workbook's time). `BlockSheet.write_numbers` stores a whole run of a row's numbers
as one entry instead, and writes its XML in one go when the workbook is saved: the same XML, byte for byte, that
`write_number` and `write_blank` give cell by cell (tests/test_blocks.py compares the two).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import CellBlankTuple, CellNumberTuple, CellStringTuple, Worksheet


class _Run:
    """A run of one row's cells, stored at its first present cell: values (None: no number) from column `first`."""

    __slots__ = ("first", "format", "values", "blank")

    def __init__(self, first: int, values: list[float | None], fmt: Format | None, blank: bool) -> None:
        self.first = first
        self.values = values
        self.format = fmt
        self.blank = blank


class _RunEnd:
    """The last present cell of a run: what xlsxwriter's row spans and dimensions count; its XML is the run's."""

    __slots__ = ("format",)

    def __init__(self, fmt: Format | None) -> None:
        self.format = fmt


class BlockSheet(Worksheet):  # type: ignore[misc]
    """A worksheet that also takes whole runs of numbers (`write_numbers`). Nothing else about it changes: the
    other cells of the same rows are written as usual, before or after a run, never inside one."""

    def __init__(self) -> None:
        super().__init__()
        self._inside: tuple[int, int] = (-1, -1)  #: the row and last column of the run being written out

    def write_numbers(
        self, row: int, col: int, values: Sequence[Any], fmt: Format | None = None, blank: bool = False
    ) -> None:
        """Write `values` along `row` from `col`: a number where there is one, what `write_number(row, c, v, fmt)`
        writes; None or NaN: a blank cell in `fmt` when `blank` (as `write_blank`), else nothing. A value that is
        not a finite number otherwise (±inf) sends the row through `write_number`, which makes it an error cell."""
        vals: list[float | None] = [None if v is None or v != v else float(v) for v in values]
        present = [i for i, v in enumerate(vals) if v is not None or (blank and fmt is not None)]
        if not present:
            return
        first, last = col + present[0], col + present[-1]
        cells = self.table[row]
        for c, taken in cells.items():
            if isinstance(taken, _Run) and taken.first <= last and first <= taken.first + len(taken.values) - 1:
                raise ValueError(f"row {row}: a run of numbers from column {first} overlaps one from column {c}")
        if any(v is not None and math.isinf(v) for v in vals) or any(first <= c <= last for c in cells):
            self._one_by_one(row, col, vals, fmt, blank)  # an error cell, or cells already there: as xlsxwriter
            return
        if self._check_dimensions(row, first) or self._check_dimensions(row, last):
            raise IndexError(f"row {row}, columns {first}-{last}: outside the worksheet")
        cells[first] = _Run(first, vals[present[0] : present[-1] + 1], fmt, blank)
        if last != first:
            cells[last] = _RunEnd(fmt)

    def _one_by_one(self, row: int, col: int, vals: list[float | None], fmt: Format | None, blank: bool) -> None:
        for i, v in enumerate(vals):
            if v is not None:
                self.write_number(row, col + i, v, fmt)
            elif blank:
                self.write_blank(row, col + i, None, fmt)

    def _write_cell(self, row: int, col: int, cell: Any) -> None:
        kind = cell.__class__
        if kind is _Run:
            self.fh.write(self._run_xml(row, cell))
            self._inside = (row, cell.first + len(cell.values) - 1)
        elif kind is _RunEnd:
            if self._inside != (row, col):  # its run's first cell was overwritten: its numbers would be lost
                raise ValueError(f"row {row}: a run of numbers was overwritten at its first cell")
        elif row == self._inside[0] and col <= self._inside[1]:
            raise ValueError(f"row {row}, column {col}: a cell inside a run of numbers")
        elif cell.format and kind in _PLAIN and not self.constant_memory:
            head = f'<c r="{_name(col)}{row + 1}" s="{cell.format._get_xf_index()}"'
            self.fh.write(_PLAIN[kind](head, cell))
        else:
            super()._write_cell(row, col, cell)

    def _run_xml(self, row: int, run: _Run) -> str:
        """The run's cells as xlsxwriter writes them: `<c r="B2" s="3"><v>12</v></c>`, `<c r="C2" s="3"/>`."""
        r = str(row + 1)
        styles = self._styles(row, run)
        out = []
        for i, v in enumerate(run.values):
            col = run.first + i
            if v is not None:
                out.append(f'<c r="{_name(col)}{r}"{styles[i]}><v>{v:.16G}</v></c>')
            elif run.blank and run.format is not None:
                out.append(f'<c r="{_name(col)}{r}"{styles[i]}/>')
        return "".join(out)

    def _styles(self, row: int, run: _Run) -> list[str]:
        """Each cell's style attribute: its format's, else its row's, else its column's (as `_write_cell`)."""
        if run.format:
            return [f' s="{run.format._get_xf_index()}"'] * len(run.values)
        info = self.row_info.get(row)
        if info is not None and info.row_format:
            return [f' s="{info.row_format._get_xf_index()}"'] * len(run.values)
        out = []
        for i in range(len(run.values)):
            col = self.col_info.get(run.first + i)
            fmt = col.column_format if col is not None else None
            out.append(f' s="{fmt._get_xf_index()}"' if fmt is not None else "")
        return out


#: a formatted number, shared string or blank cell's XML after its opening `<c r=".." s=".."` (as `_write_cell`)
_PLAIN: dict[type, Callable[[str, Any], str]] = {
    CellNumberTuple: lambda head, cell: f"{head}><v>{cell.number:.16G}</v></c>",
    CellStringTuple: lambda head, cell: f'{head} t="s"><v>{cell.string}</v></c>',
    CellBlankTuple: lambda head, cell: f"{head}/>",
}

_NAMES: dict[int, str] = {}


def _name(col: int) -> str:
    """A column's letters (0 -> A), remembered."""
    name = _NAMES.get(col)
    if name is None:
        name = _NAMES[col] = xl_col_to_name(col)
    return name


def block_sheet(wb: Any, name: str) -> BlockSheet:
    """A new worksheet of `wb` named `name` that takes runs of numbers."""
    ws: BlockSheet = wb.add_worksheet(name, worksheet_class=BlockSheet)
    return ws


def fast_sheets(wb: Any) -> None:
    """Every worksheet `wb` adds from now on is a `BlockSheet`: its formatted numbers, texts and blanks are
    written out faster, to the same bytes."""
    wb.worksheet_class = BlockSheet
