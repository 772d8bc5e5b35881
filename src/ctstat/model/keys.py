"""Cell keys and A1 addresses: the one place they are built and parsed.

A form cell is named by its key `ELEMENT/row/col` (`*` for a total, `dim:cat` for a column category); a sheet cell
is addressed in A1 notation ("D14").
"""

from __future__ import annotations

import re

TOTAL = "*"  #: the row or column key of a total


def cell_key(element: str, row: str, col: str) -> str:
    return f"{element}/{row}/{col}"


def split_key(key: str) -> tuple[str, str, str]:
    el, row, col = key.split("/")
    return el, row, col


def split_column(col: str) -> tuple[str, str]:
    """The dimension and the category of a column key `dim:cat` (not of the total, `TOTAL`)."""
    dim, cat = col.split(":", 1)
    return dim, cat


def element_of(key: str) -> str:
    return key.split("/", 1)[0]


def a1(row: int, col: int) -> str:
    """1-based (row, col) -> 'D14'."""
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row}"


_REF = re.compile(r"^\$?([A-Z]{1,3})\$?([0-9]{1,7})$")


def parse_a1(ref: str) -> tuple[int, int] | None:
    """'D14' (or '$D$14') -> (14, 4); None if it is not a cell reference."""
    m = _REF.match(ref)
    if not m:
        return None
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col
