"""Where everything sits on the ward form, derived from the catalogue alone (pure; no I/O).

The template writer, the reader, the annotator and the rollup writer all use this one layout, so the form a ward
fills and the form ctstat reads can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property

from ctstat.model.catalogue import Axis, Catalogue, Element
from ctstat.model.keys import TOTAL, a1, cell_key
from ctstat.model.sheets import COVER as COVER
from ctstat.model.sheets import FORM_MARK as FORM_MARK
from ctstat.model.sheets import GUIDE as GUIDE
from ctstat.model.sheets import RESULT_SHEET as RESULT_SHEET
from ctstat.model.sheets import RESULT_TITLE as RESULT_TITLE
from ctstat.model.sheets import ROLLUP_MARK as ROLLUP_MARK
from ctstat.model.sheets import ROLLUP_SHEETS as ROLLUP_SHEETS

HEADER_ROWS = (6, 7)  #: two header rows on data sheets: groups, then categories
NUMBER_ROW = 8  #: the "A, B, C, 1, 2, 3" row
FIRST_DATA_ROW = 9
FIRST_VALUE_COL = 4  #: column D ("Tổng số"); A label, B code, C unit


@dataclass(frozen=True)
class CoverField:
    key: str
    label_vi: str
    label_en: str
    row: int
    col: int = 3  #: values in column C
    editable: bool = False


COVER_FIELDS: tuple[CoverField, ...] = (
    CoverField("unit_code", "Mã đơn vị báo cáo (xã/phường)", "Reporting unit code", 5),
    CoverField("unit_name", "Tên đơn vị báo cáo", "Reporting unit name", 6),
    CoverField("parent", "Đơn vị nhận báo cáo", "Receiving unit", 7),
    CoverField("province", "Tỉnh/thành phố", "Province/city", 8),
    CoverField("period", "Kỳ báo cáo", "Reporting period", 9),
    CoverField("vintage", "Danh mục đơn vị hành chính áp dụng", "Administrative-unit list", 10),
    CoverField(
        "template_version",
        "Phiên bản biểu mẫu (mã để ctstat đối chiếu, không sửa)",
        "Form version (the code ctstat checks; do not edit)",
        11,
    ),
    CoverField("catalogue_version", "Phiên bản danh mục chỉ tiêu", "Catalogue version", 12),
    CoverField("report_date", "Ngày lập báo cáo", "Date of report", 13, editable=True),
    CoverField("preparer", "Người lập biểu", "Prepared by", 14, editable=True),
    CoverField("phone", "Số điện thoại liên hệ", "Contact phone", 15, editable=True),
)
COVER_BY_KEY = {f.key: f for f in COVER_FIELDS}


@dataclass(frozen=True)
class Column:
    """A value column of a data sheet: the total, or one category of one column dimension."""

    key: str  #: "*" or "dim:cat"
    col: int
    group_vi: str  #: header of the group ("Chia theo giới tính") or ""
    label_vi: str
    label_en: str


@dataclass(frozen=True)
class Row:
    row: int
    element: str
    key: str  #: "*" for the element's total row, a category key, or "" for a label row
    code: str  #: the "Mã số" printed in column B ("" on label rows)
    label_vi: str
    label_en: str


@dataclass(frozen=True)
class SheetLayout:
    name: str
    title_vi: str
    title_en: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    @property
    def last_col(self) -> int:
        return self.columns[-1].col

    @property
    def last_row(self) -> int:
        return self.rows[-1].row


@dataclass(frozen=True, eq=False)  # hashed by identity: one layout per catalogue, cached
class FormLayout:
    sheets: tuple[SheetLayout, ...]
    #: every value cell, in form order: key -> (sheet, row, col)
    positions: dict[str, tuple[str, int, int]]
    #: total cells that the form computes: key -> the keys it sums
    formulas: dict[str, tuple[str, ...]]
    #: row code ("AB01.02") -> (element, row key), for reading rows back by their code
    row_codes: dict[str, tuple[str, str]] = field(default_factory=dict)

    @cached_property
    def keys(self) -> list[str]:
        return list(self.positions)

    @cached_property
    def sum_formulas(self) -> dict[str, str]:
        """Each total cell's formula: the SUM of the range its parts span (worked out once, not at every form)."""
        out = {}
        for key, parts in self.formulas.items():
            refs = [self.positions[p] for p in parts]
            rows, cols = sorted({p[1] for p in refs}), sorted({p[2] for p in refs})
            out[key] = f"=SUM({a1(rows[0], cols[0])}:{a1(rows[-1], cols[-1])})"
        return out

    def inputs(self) -> list[str]:
        return [k for k in self.positions if k not in self.formulas]

    def sheet(self, name: str) -> SheetLayout:
        return next(s for s in self.sheets if s.name == name)

    def address(self, key: str) -> tuple[str, str]:
        sheet, r, c = self.positions[key]
        return sheet, a1(r, c)


def _axis_columns(axis: Axis, start: int) -> list[Column]:
    group = f"Chia theo {axis.dimension.name_vi.lower()}"
    return [
        Column(f"{axis.dimension.key}:{c.key}", start + i, group, c.vi, c.en)
        for i, c in enumerate(axis.dimension.categories)
    ]


def _formula_parts(el: Element, row: str, col: str) -> tuple[str, ...] | None:
    """The cells a total cell sums on the form, or None if it is typed by the ward.

    The total column sums the first exclusive column breakdown; the total row sums an exclusive row breakdown.
    Overlapping breakdowns (a child in several groups) have a typed total: it cannot be computed from the parts.
    """
    first_excl = next((a for a in el.columns if a.breakdown == "exclusive"), None)
    if col == TOTAL and first_excl is not None:
        return tuple(cell_key(el.code, row, k) for k in first_excl.keys())
    if row == TOTAL and el.rows is not None and el.rows.breakdown == "exclusive":
        return tuple(cell_key(el.code, r, col) for r in el.row_keys()[1:])
    return None


@cache
def form_layout(catalogue: Catalogue) -> FormLayout:
    sheets: list[SheetLayout] = []
    positions: dict[str, tuple[str, int, int]] = {}
    formulas: dict[str, tuple[str, ...]] = {}
    row_codes: dict[str, tuple[str, str]] = {}
    for sheet in catalogue.sheets:
        columns = [Column(TOTAL, FIRST_VALUE_COL, "", "Tổng số", "Total")]
        for el in sheet.elements:
            for axis in el.columns:
                if not any(c.key.startswith(axis.dimension.key + ":") for c in columns):
                    columns += _axis_columns(axis, columns[-1].col + 1)
        col_of = {c.key: c.col for c in columns}
        rows: list[Row] = []
        r = FIRST_DATA_ROW
        for el in sheet.elements:
            for key in el.row_keys():
                if key != TOTAL and key == el.row_keys()[1]:
                    assert el.rows is not None
                    note = " (một trẻ có thể thuộc nhiều nhóm)" if el.rows.breakdown == "overlapping" else ""
                    label = f"Chia theo {el.rows.dimension.name_vi.lower()}{note}:"
                    rows.append(Row(r, el.code, "", "", label, f"By {el.rows.dimension.name_en.lower()}:"))
                    r += 1
                code = el.row_code(key)
                rows.append(Row(r, el.code, key, code, el.row_label(key, "vi"), el.row_label(key, "en")))
                row_codes[code] = (el.code, key)
                for col in el.col_keys():
                    k = cell_key(el.code, key, col)
                    positions[k] = (sheet.name, r, col_of[col])
                    parts = _formula_parts(el, key, col)
                    if parts:
                        formulas[k] = parts
                r += 1
        sheets.append(SheetLayout(sheet.name, sheet.title_vi, sheet.title_en, tuple(columns), tuple(rows)))
    return FormLayout(tuple(sheets), positions, formulas, row_codes)
