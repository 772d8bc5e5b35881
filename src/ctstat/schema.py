"""Build the pandera schema of a whole batch from the catalogue (pure: no I/O).

The batch is one wide frame: a row per submission, a column per form cell (`element/row/col`), floats with NaN
where a cell is blank, unreadable or already reported. Column checks judge single cells; frame checks judge
totals against parts and the catalogue's rules. Each check's `name` is looked up in `specs`, so failures turn
into issues by a table lookup, never by parsing messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from ctstat.catalogue import Axis, Catalogue, Ref, Rule
from ctstat.keys import TOTAL, a1, cell_key, element_of
from ctstat.layout import FormLayout, form_layout
from ctstat.report import Severity

if TYPE_CHECKING:
    import pandera.pandas as pa


@dataclass(frozen=True)
class CheckSpec:
    """What a named frame check tests, and where its failures are reported."""

    name: str
    kind: str  #: "sum" | "overlap" | "rule"
    at: str  #: the cell key the issue is reported at
    total: str = ""
    parts: tuple[str, ...] = ()
    label_vi: str = ""
    label_en: str = ""
    rule: Rule | None = None
    rhs: str | float | None = None


def _range(layout: FormLayout, keys: tuple[str, ...]) -> str:
    pos = [layout.positions[k] for k in keys]
    return f"{a1(pos[0][1], pos[0][2])}:{a1(pos[-1][1], pos[-1][2])}"


def breakdown_specs(catalogue: Catalogue) -> list[CheckSpec]:
    """One check per total and each breakdown of it: columns within a row, rows within a column."""
    layout = form_layout(catalogue)
    specs: list[CheckSpec] = []

    def add(total: str, parts: tuple[str, ...], axis: Axis) -> None:
        kind = "sum" if axis.breakdown == "exclusive" else "overlap"
        where = _range(layout, parts)
        specs.append(
            CheckSpec(
                name=f"{kind}:{total}:{axis.dimension.key}",
                kind=kind,
                at=total,
                total=total,
                parts=parts,
                label_vi=f"theo {axis.dimension.name_vi.lower()}, ô {where}",
                label_en=f"by {axis.dimension.name_en.lower()}, cells {where}",
            )
        )

    for el in catalogue.elements.values():
        for row in el.row_keys():
            for axis in el.columns:
                parts = tuple(cell_key(el.code, row, k) for k in axis.keys())
                add(cell_key(el.code, row, TOTAL), parts, axis)
        if el.rows is not None:
            for col in el.col_keys():
                parts = tuple(cell_key(el.code, r, col) for r in el.row_keys()[1:])
                add(cell_key(el.code, TOTAL, col), parts, el.rows)
    return specs


def rule_specs(catalogue: Catalogue) -> list[CheckSpec]:
    """One check per pair of cells a catalogue rule compares (cell by cell over the cells both sides have)."""
    specs: list[CheckSpec] = []
    for rule in catalogue.rules:
        lhs = catalogue.elements[rule.lhs.element]
        if isinstance(rule.rhs, float):
            specs.append(
                CheckSpec(
                    f"rule:{rule.code}:{lhs.code}", "rule", cell_key(lhs.code, TOTAL, TOTAL), rule=rule, rhs=rule.rhs
                )
            )
            continue
        rhs = catalogue.elements[rule.rhs.element]
        if rule.lhs.total_only:
            pairs = [(TOTAL, TOTAL)]
        else:
            # the cells both sides have; a row key only means the same on both if it is of the same dimension
            # (two dimensions may share a category key, like "khac")
            same_rows = lhs.rows is not None and rhs.rows is not None and lhs.rows.dimension is rhs.rows.dimension
            rhs_cells = set(rhs.cells())
            pairs = [(r, c) for r, c in lhs.cells() if (r, c) in rhs_cells and (r == TOTAL or same_rows)]
        for r, c in pairs:
            at = cell_key(lhs.code, r, c)
            specs.append(CheckSpec(f"rule:{rule.code}:{at}", "rule", at, rule=rule, rhs=cell_key(rhs.code, r, c)))
    return specs


def compare(op: str, left: pd.Series, right: pd.Series | float) -> pd.Series:
    """True where the rule holds or a side is missing (a missing value is reported on its own)."""
    if op == "requires":
        ok = ~(left > 0) | (right > 0)
    else:
        ok = {"<=": left <= right, ">=": left >= right, "==": left == right, "<": left < right, ">": left > right}[op]
    missing = left.isna() | (right.isna() if isinstance(right, pd.Series) else False)
    return ok | missing


def holds(op: str, left: float, right: float) -> bool:
    """`compare` for one pair of numbers (both present)."""
    if op == "requires":
        return not left > 0 or right > 0
    return {"<=": left <= right, ">=": left >= right, "==": left == right, "<": left < right, ">": left > right}[op]


def _frame_check(spec: CheckSpec) -> Callable[[pd.DataFrame], pd.Series]:
    if spec.kind == "sum":

        def check(df: pd.DataFrame) -> pd.Series:
            parts = df[list(spec.parts)]
            return (parts.sum(axis=1) == df[spec.total]) | parts.isna().any(axis=1) | df[spec.total].isna()
    elif spec.kind == "overlap":

        def check(df: pd.DataFrame) -> pd.Series:
            parts = df[list(spec.parts)]
            total = df[spec.total]
            ok = (total >= parts.max(axis=1)) & (total <= parts.sum(axis=1))
            return ok | parts.isna().any(axis=1) | total.isna()
    else:
        assert spec.rule is not None
        op = spec.rule.op

        def check(df: pd.DataFrame) -> pd.Series:
            right = df[spec.rhs] if isinstance(spec.rhs, str) else float(spec.rhs or 0)
            return compare(op, df[spec.at], right)

    return check


def build_schema(catalogue: Catalogue) -> tuple[pa.DataFrameSchema, dict[str, CheckSpec]]:
    """The batch schema and the lookup from check name to what it means."""
    import pandera.pandas as pa

    layout = form_layout(catalogue)
    columns = {}
    for key in layout.keys:
        el = catalogue.elements[element_of(key)]
        if el.type == "yesno":
            checks = [pa.Check(lambda s: s.isin([0.0, 1.0]), name="not-yes-no")]
        else:
            checks = [
                pa.Check(lambda s: s >= 0, name="negative-value"),
                pa.Check(lambda s: s % 1 == 0, name="not-integer"),
            ]
        columns[key] = pa.Column(float, checks=checks, nullable=True)
    specs = {s.name: s for s in [*breakdown_specs(catalogue), *rule_specs(catalogue)]}
    frame_checks = [pa.Check(_frame_check(s), name=s.name) for s in specs.values()]
    return pa.DataFrameSchema(columns, checks=frame_checks, strict=True), specs


def rule_severity(spec: CheckSpec) -> Severity:
    return spec.rule.severity if spec.rule else Severity.ERROR


__all__ = ["CheckSpec", "Ref", "breakdown_specs", "build_schema", "compare", "holds", "rule_specs"]
