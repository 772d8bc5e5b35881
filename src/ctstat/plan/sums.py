"""Roll ward values up the unit hierarchy (pure pandas, no I/O): counts are summed, rates recomputed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ctstat.model.catalogue import Catalogue, Indicator
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.report import english
from ctstat.model.vocab import WHOLE


def sum_by(values: pd.DataFrame, parent_of: Mapping[str, str]) -> pd.DataFrame:
    """Sum ward rows (index: unit code) into their parents. A unit with no ward stays out (it has no data)."""
    groups = values.index.map(lambda u: parent_of[u])
    return values.groupby(groups, sort=True).sum()


def indicator_parts(catalogue: Catalogue, values: pd.DataFrame, n_units: pd.Series) -> dict[str, pd.DataFrame]:
    """For each indicator: a frame (index: unit) with value, numerator, denominator.

    `values` holds the (summed) cells of each unit; `n_units` how many communes each unit's values come from.
    A rate is numerator / denominator x factor of the *summed* parts, never an average of rates; a rate with a
    zero denominator has no value (NaN), not 0.
    """
    out: dict[str, pd.DataFrame] = {}
    for ind in catalogue.indicators:
        out[ind.id] = _indicator(ind, values, n_units)
    return out


def _total(values: pd.DataFrame, element: str) -> pd.Series:
    return values[cell_key(element, TOTAL, TOTAL)]


def _indicator(ind: Indicator, values: pd.DataFrame, n_units: pd.Series) -> pd.DataFrame:
    if ind.kind == "count":
        assert ind.element is not None
        v = _total(values, ind.element)
        return pd.DataFrame({"value": v, "numerator": v, "denominator": np.nan})
    assert ind.numerator is not None and ind.denominator is not None
    num = _total(values, ind.numerator)
    den = (
        n_units.reindex(values.index).astype(float) if ind.denominator == "_units" else _total(values, ind.denominator)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (num / den.where(den != 0)) * ind.factor
    return pd.DataFrame({"value": rate, "numerator": num, "denominator": den})


@dataclass(frozen=True)
class UnitStatus:
    """One expected commune in the completeness sheet."""

    code: str
    name: str
    parent: str  #: the parent unit's code
    parent_name: str
    status: str  #: valid | invalid | missing | duplicate
    late: bool = False
    files: tuple[str, ...] = ()
    problem: str = ""

    @property
    def parent_label(self) -> str:
        return f"{self.parent} {self.parent_name}".strip()

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.code,
            "name": self.name,
            "parent": self.parent,
            "parent_name": self.parent_name,
            "status": self.status,
            "late": self.late,
            "files": list(self.files),
            "problem": self.problem,
            "problem_en": english(self.problem),
        }


@dataclass(frozen=True)
class ParentStatus:
    """Above the district level: a child unit of the rollup (a district; a province in a national rollup) as the
    source of its communes' figures, its own workbook first. Whom a city statistician calls: the district, not
    its 18 wards."""

    code: str
    name: str
    level: str  #: "district" | "province"
    #: valid | missing (no workbook, no ward file) | edited (its workbook changed after ctstat wrote it) | invalid
    #: (its workbook cannot be used: another period, form, ...) | duplicate | partial (some communes lack figures)
    status: str
    files: tuple[str, ...] = ()  #: its workbook(s) among the inputs
    problem: str = ""  #: what to do, in Vietnamese ("" when valid)
    problem_en: str = ""
    communes: tuple[UnitStatus, ...] = ()  #: its communes, the detail

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def whole(self) -> bool:
        """Every commune shares the parent's one cause (listed together, not one by one)."""
        return self.status in WHOLE

    def chase(self) -> list[UnitStatus]:
        """Its communes without valid figures."""
        return [c for c in self.communes if c.status != "valid"]

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.code,
            "name": self.name,
            "level": self.level,
            "status": self.status,
            "files": list(self.files),
            "problem": self.problem,
            "problem_en": self.problem_en,
            "counts": Completeness.count(self.communes),
            "communes": [c.to_dict() for c in self.chase()],
        }


@dataclass
class Completeness:
    """Expected, received, valid, missing, duplicated and late communes, per parent unit; above the district
    level, also each child unit as a source (`parents`: a district and its workbook)."""

    rows: list[UnitStatus] = field(default_factory=list)
    parents: list[ParentStatus] = field(default_factory=list)

    def by_parent(self) -> dict[str, list[UnitStatus]]:
        """Rows per parent unit, keyed by its label ("008 Quận Hoàng Mai"), in the order met."""
        out: dict[str, list[UnitStatus]] = {}
        for r in self.rows:
            out.setdefault(r.parent_label, []).append(r)
        return out

    @staticmethod
    def count(rows: Sequence[UnitStatus]) -> dict[str, int]:
        return {
            "expected": len(rows),
            "received": sum(r.status != "missing" for r in rows),
            "valid": sum(r.status == "valid" for r in rows),
            "invalid": sum(r.status == "invalid" for r in rows),
            "missing": sum(r.status == "missing" for r in rows),
            "duplicate": sum(r.status == "duplicate" for r in rows),
            "late": sum(r.late for r in rows),
        }

    @property
    def complete(self) -> bool:
        return all(r.status == "valid" for r in self.rows)

    def chase_list(self) -> list[UnitStatus]:
        return [r for r in self.rows if r.status != "valid"]

    def chase_parents(self) -> list[ParentStatus]:
        """Above the district level: the districts to call first (their workbook missing, edited, partial)."""
        return [p for p in self.parents if p.status != "valid"]
