"""What a file holds once read, before any value is judged: a `Submission` (a ward's form, or one row of a district
workbook) and a district workbook's `RollupBook`. Both readers (`workbook.py`, `rollup_book.py`) build these; the
checks above take them. Free of pandas: this runs in the reading workers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ctstat.model.keys import a1
from ctstat.model.layout import FormLayout
from ctstat.model.report import Issue

EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".ods")


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
    #: (report, cleaned values) when the per-file checks (cells.FileCheck) already ran, in the reading worker
    checked: Any = None
    judged: bool = False  #: the batch checks (the schema) already ran on it (validate.judge_ahead)
    book: RollupBook | None = None  #: a district workbook's cover, data rows and printed totals (format "rollup")

    @property
    def readable(self) -> bool:
        return bool(self.raw)

    def address(self, layout: FormLayout, key: str) -> tuple[str, str]:
        sheet, r, c = self.moved.get(key) or layout.positions[key]
        return sheet, a1(r, c)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class RollupBook:
    """What a city rollup needs of one district workbook (filled in the reading worker)."""

    fields: dict[str, Any] = field(default_factory=dict)  #: cover label -> value
    header_ok: bool = True  #: the data sheet has a column for every form cell
    level_ok: bool = True  #: its rows are communes (not districts: a three-tier province workbook)
    digest_ok: bool | None = None  #: None: the workbook carries no digest (written before digests)
    #: the data rows of communes claimed valid, one Submission each (cover and cells located on the data sheet)
    rows: list[Any] = field(default_factory=list)
    #: commune -> (status the workbook claims, 1-based data-sheet row) for every row
    claimed: dict[str, tuple[str, int]] = field(default_factory=dict)
    printed: list[Any] = field(default_factory=list)  #: the report sheets' totals, layout order (None: blank)
    problem: str = ""  #: why the data sheet could not be read at all
    data_digest: str = ""  #: the data sheet's digest as read now
    records: list[tuple[int, str]] = field(default_factory=list)  #: (1-based row, JSON) of the review chain sheet
