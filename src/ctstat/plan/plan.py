"""Plan a rollup, free of I/O: claims -> unit statuses -> level tables -> what each workbook shows.

`ctstat rollup` (claims from files read now) and `ctstat run` (claims from the ledger) both come here, so a ward's
status means the same thing whichever command shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.model.messages import make_issue
from ctstat.model.period import Period
from ctstat.model.report import Claim, FileReport, Issue
from ctstat.model.units import Hierarchy, Unit, slug
from ctstat.plan.completeness import ParentStatus, UnitStatus
from ctstat.plan.history_sheet import HistorySheet
from ctstat.plan.spec import RollupInputs, WardCells
from ctstat.plan.sums import indicator_parts, sum_by

LEVEL_VI = {"district": "cấp huyện", "province": "cấp tỉnh"}


@dataclass(frozen=True)
class InputFile:
    """One input of a rollup, for the provenance sheet."""

    path: str
    sha256: str
    kind: str  #: "ward" | "rollup"
    unit: str
    period: str
    template_version: str
    errors: int
    warnings: int
    used: bool


@dataclass(frozen=True)
class RollupSheetData:
    """Everything one output workbook shows."""

    unit: Unit
    parent: Unit | None
    level_vi: str  #: "cấp huyện" / "cấp tỉnh"
    period: Period
    vintage: str
    children: list[Unit]  #: the columns of the by-unit sheets (wards or districts)
    totals: pd.Series  #: summed cells of the unit (index: cell keys)
    child_values: pd.DataFrame  #: summed cells per child (index: child code)
    #: rows: the unit, then its children; columns: value, numerator, denominator of each indicator in catalogue order
    indicators: np.ndarray
    ward_values: pd.DataFrame  #: every ward's cells (index: ward code), for the machine-readable sheet
    statuses: list[UnitStatus]
    inputs: list[InputFile]
    partial: bool
    generated_at: datetime
    parents: list[ParentStatus] = field(default_factory=list)  #: above the district level: its child units
    review: tuple[Any, ...] = ()  #: the job's signed review records (model.records.Record), for the unit's own book
    #: a rollup that checked its district workbooks' approvals: workbook path -> its state (check/approval.py)
    approvals: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    history: HistorySheet | None = None  #: the comparison with earlier periods, when the rollup has a history


def input_used(
    rep: FileReport, kind: str, used: set[str], used_books: set[str], feeds: Mapping[str, tuple[str, ...]]
) -> bool:
    """Whether an input's figures are in the rollup: a ward file when its commune is, a district workbook when
    one of its communes' rows is; an old commune's input in the year 2025 by the new communes when a new commune
    it went into is (`feeds`)."""
    if rep.path in feeds:
        return any(code in used for code in feeds[rep.path])
    return rep.path in used_books if kind == "rollup" else rep.unit in used


def scope_issues(
    claims: Mapping[str, Sequence[Claim]], h: Hierarchy, target: Unit, expected: set[str]
) -> list[tuple[FileReport, Issue]]:
    """Issues of ward files against the rollup's scope: a commune outside the unit rolled up, or a commune whose
    figures come both from its own file and inside a district workbook."""
    out = []
    for code, mine in claims.items():
        files = [c.report for c in mine if c.report is not None]
        if code in expected:
            books = sorted({c.path for c in mine if c.report is None})
            if books:
                out += [(r, make_issue("mixed-inputs", path=r.path, unit=code, detail=", ".join(books))) for r in files]
        else:
            out += [(r, make_issue("outside-unit", path=r.path, unit=code, detail=h.path(target))) for r in files]
    return out


@dataclass(frozen=True)
class RollupPlan:
    """What a rollup's workbooks are planned from: the catalogue and unit list, the unit rolled up (the whole
    country when `national`) and its period, every commune's status, the validated inputs, the time printed, and
    the parents' statuses above the district level."""

    catalogue: Catalogue
    h: Hierarchy
    target: Unit
    per: Period
    statuses: list[UnitStatus]
    collected: RollupInputs
    when: datetime
    national: bool
    parents: Sequence[ParentStatus] = ()


class _Rows:
    """A frame's rows taken by unit code with plain arrays: a workbook's few rows out of a country's thousands, at
    a fraction of what a pandas reindex costs (which, 5 times a workbook, was most of the time to plan a rollup)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns, self.index_type = frame.columns, frame.index.dtype
        self.matrix = frame.to_numpy(dtype=float)
        self.row = {code: i for i, code in enumerate(frame.index.tolist())}

    def take(self, codes: Sequence[str]) -> np.ndarray:
        """The rows of `codes`, in that order; a code not in the frame: a row of NaN (as `reindex`)."""
        out = np.full((len(codes), self.matrix.shape[1]), np.nan)
        found = [(n, self.row[c]) for n, c in enumerate(codes) if c in self.row]
        if found:
            to, at = zip(*found, strict=True)
            out[list(to)] = self.matrix[list(at)]
        return out

    def frame(self, codes: Sequence[str]) -> pd.DataFrame:
        """The rows of `codes` that the frame has, as a frame (as `reindex` of the codes it has)."""
        have = [c for c in codes if c in self.row]
        return pd.DataFrame(self.take(have), index=pd.Index(have, dtype=self.index_type), columns=self.columns)


@dataclass(frozen=True)
class _Levels:
    """The rollup's numbers at every level: the wards' cells, each level's summed cells, each level's indicators
    (columns (indicator, value/numerator/denominator) in catalogue order), the inputs and statuses by commune."""

    wards: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    flat: dict[str, pd.DataFrame]
    inputs_of: dict[str, list[InputFile]]
    status_of: dict[str, UnitStatus]
    rows: dict[str, _Rows] = field(default_factory=dict)  #: each level's summed cells, to take rows from
    flat_rows: dict[str, _Rows] = field(default_factory=dict)  #: each level's indicators, to take rows from

    def __post_init__(self) -> None:
        # a workbook's indicator rows are stacked from two levels by position: the same columns at every level
        assert len({tuple(f.columns) for f in self.flat.values()}) <= 1, "levels with different indicators"
        self.rows.update({level: _Rows(t) for level, t in self.tables.items()})
        self.flat_rows.update({level: _Rows(f) for level, f in self.flat.items()})


@dataclass(frozen=True)
class PlannedBooks:
    """A rollup's workbooks planned as far as they share anything: the numbers at every level, and each
    workbook's file name, area and children. What one workbook shows is taken from them by `data`, where it is
    written (in a forked writer, beside the others: done here for the 754 national workbooks, it was 0.4 s
    of the main process alone, the writers not yet started)."""

    plan: RollupPlan
    levels: _Levels
    books: list[tuple[str, Unit, list[Unit]]]  #: file name, area, its children (the by-unit sheets' columns)

    def data(self, i: int) -> RollupSheetData:
        """What the `i`th workbook shows."""
        _, area, children = self.books[i]
        return _sheet_data(self.plan, self.levels, area, children)


def plan_books(plan: RollupPlan) -> tuple[PlannedBooks, dict[str, pd.DataFrame]]:
    """Every workbook of a rollup (file name, area; what it shows: `PlannedBooks.data`) and the target's
    indicators, for the manifest.

    Every level at once (batch first): wards, their districts, their provinces, and each level's indicators,
    counts summed and rates recomputed from the summed parts."""
    catalogue, target = plan.catalogue, plan.target
    keys = form_layout(catalogue).keys
    valid_codes = [s.code for s in plan.statuses if s.status == "valid"]
    wards = _ward_frame(plan.collected.values_of, valid_codes, keys)
    levels = _levels(plan, wards, _input_files(plan, set(valid_codes)))
    books = [(f"{plan.per}_{a.code}_{slug(a.name)}.xlsx", a, ch) for a, ch in _areas(plan)]
    totals_all = wards.sum() if valid_codes else pd.Series(np.nan, index=keys)
    top = indicator_parts(catalogue, totals_all.to_frame(target.code).T, pd.Series({target.code: len(valid_codes)}))
    return PlannedBooks(plan, levels, books), top


def _ward_frame(cells: WardCells, codes: list[str], keys: list[str]) -> pd.DataFrame:
    """The valid communes' cells, a row each. Taken from one array when they are all rows of it over the form's
    cells in order (forms read together), else from each one's Series, from one array when they are over the
    same index, else aligned row by row: a frame made of ten thousand Series, each aligned, took 0.15 s of a
    national rollup."""
    index = pd.Index(keys)
    matrix = cells.rows(codes, index)
    if matrix is None:
        values = [cells[c] for c in codes]
        if not values or not all(v.index is values[0].index for v in values) or not values[0].index.equals(index):
            return pd.DataFrame(values, index=pd.Index(codes), columns=keys)
        matrix = np.vstack([v.to_numpy(dtype=float) for v in values])
    return pd.DataFrame(matrix, index=pd.Index(codes), columns=keys, copy=False)  # (a new array: not copied again)


def _input_files(plan: RollupPlan, used: set[str]) -> list[InputFile]:
    """Every input of the rollup for the provenance sheet, with whether its figures were used."""
    used_books = plan.collected.used_books(used)
    return [
        InputFile(
            rep.path,
            rep.sha256 or "",
            kind,
            rep.unit or "",
            rep.period or "",
            plan.catalogue.template_version,
            rep.errors,
            rep.warnings,
            input_used(rep, kind, used, used_books, plan.collected.feeds),
        )
        for rep, kind in plan.collected.inputs
    ]


def _levels(plan: RollupPlan, wards: pd.DataFrame, input_rows: list[InputFile]) -> _Levels:
    h = plan.h
    inputs_of: dict[str, list[InputFile]] = {}
    for f in input_rows:
        inputs_of.setdefault(plan.collected.homes.get(f.path) or (f.unit if f.kind == "ward" else "*"), []).append(f)
    tables: dict[str, pd.DataFrame] = {"commune": wards}
    n_of: dict[str, pd.Series] = {"commune": pd.Series(1, index=wards.index)}
    codes = wards.index.tolist()  # (iterating the index itself, an array of strings, is slower)
    above = _above(h, codes)
    for level in ("district", "province") if h.has_districts else ("province",):
        parent_of = {w: above[w][level] for w in codes}
        tables[level] = sum_by(wards, parent_of)
        n_of[level] = pd.Series(parent_of).value_counts()
    parts = {level: indicator_parts(plan.catalogue, table, n_of[level]) for level, table in tables.items()}
    # one frame per level, columns (indicator, value/numerator/denominator) in catalogue order: one reindex a sheet
    flat = {
        level: pd.concat({ind: f[["value", "numerator", "denominator"]] for ind, f in p.items()}, axis=1)
        for level, p in parts.items()
    }
    return _Levels(wards, tables, flat, inputs_of, {s.code: s for s in plan.statuses})


def _above(h: Hierarchy, wards: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each ward's units above it, level -> code: the ancestors of each ward's parent found once (not for each of
    a country's 10,035 wards at each level, 60 ms of a national rollup)."""
    of_parent: dict[tuple[str, str], dict[str, str]] = {}
    out: dict[str, dict[str, str]] = {}
    for w in wards:
        parent = h.parent(h.get(w))  # type: ignore[arg-type]
        if parent is None:
            out[w] = {}
            continue
        key = (parent.level, parent.code)
        if key not in of_parent:
            of_parent[key] = {a.level: a.code for a in (parent, *h.ancestors(parent))}
        out[w] = of_parent[key]
    return out


def _sheet_data(plan: RollupPlan, levels: _Levels, area: Unit, children: list[Unit]) -> RollupSheetData:
    """What the workbook of `area` shows: its totals, its children's, its indicators, its communes' statuses."""
    h = plan.h
    communes = [c.code for c in h.communes_under(area)]
    child_codes = [c.code for c in children]
    child_level = children[0].level if children else "commune"
    mine = [levels.status_of[c] for c in communes]
    indicators = np.concatenate(
        [levels.flat_rows[area.level].take([area.code]), levels.flat_rows[child_level].take(child_codes)]
    )
    own, below = levels.rows[area.level], levels.rows[child_level]
    child_values = below.frame(child_codes)
    return RollupSheetData(
        unit=area,
        parent=h.parent(area),
        level_vi=LEVEL_VI[area.level],
        period=plan.per,
        vintage=h.vintage,
        children=children,
        totals=pd.Series(own.take([area.code])[0], index=own.columns, name=area.code),
        child_values=child_values[~np.isnan(child_values.to_numpy()).all(axis=1)],
        indicators=indicators,
        ward_values=levels.rows["commune"].frame(communes),
        statuses=mine,
        inputs=levels.inputs_of.get("*", []) + [f for c in communes for f in levels.inputs_of.get(c, [])],
        partial=any(s.status != "valid" for s in mine),
        generated_at=plan.when,
        parents=[p for p in plan.parents if p.code in child_codes and p.level == child_level],
    )


def _areas(plan: RollupPlan) -> list[tuple[Unit, list[Unit]]]:
    """Each workbook's area and its children: districts, then their province over them; or the district."""
    h, target = plan.h, plan.target
    areas: list[tuple[Unit, list[Unit]]] = []
    provinces = h.all("province") if plan.national else [target] if target.level == "province" else []
    for prov in provinces:
        if h.has_districts:  # three tiers: a workbook per district, then the province over its districts
            districts = [d for d in h.children(prov) if h.children(d)]  # island districts have no commune
            areas += [(d, h.children(d)) for d in districts]
            areas.append((prov, districts))
        else:
            areas.append((prov, h.children(prov)))
    if target.level == "district":
        areas.append((target, list(h.communes_under(target))))
    return areas
