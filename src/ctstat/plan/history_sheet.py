"""What a rollup workbook's comparison sheet shows (issue 24): the unit and each child unit against their
comparable earlier periods in the history, the unusual-change flags, and the series a trend chart draws. Pure.

The history itself is read above (`job.compare.period_history`, DuckDB) and handed down as data (`PeriodHistory`),
so a rollup with a history and one without share every other step. Like with like: an earlier period of a unit is
the sum of its communes reporting now, shown only when every one of them is held for that period (half a district
held is not a drop); a year held as halves is H1 + H2 for a flow and H2 for a stock; rates are recomputed from the
summed parts of each period, never averaged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key, element_of
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.units import Hierarchy, Unit
from ctstat.plan.compare import comparable_periods, finding_detail, p_text, sum_up, wide_history
from ctstat.plan.sums import indicator_parts

SHOWN = 6  #: earlier comparable periods shown (the test looks at as many)
LEVEL_VI = {"commune": "xã", "district": "huyện", "province": "tỉnh"}
TEST_VI = {"poisson": "Poisson chính xác", "ratio": "±33 % so với TB 3 kỳ"}


@dataclass(frozen=True)
class PeriodHistory:
    """What the history says about a period's communes, read by the job layer and handed down as data."""

    past: pd.DataFrame  #: unit, period, cell, value: the communes' earlier cells (restated across the reform)
    findings: pd.DataFrame  #: `plan.compare` findings of the period, every level, with `note` when confirmed
    checked: int  #: cells judged
    no_history: tuple[str, ...] = ()  #: new communes with no comparable history before the reform
    source: str = ""  #: where the history is, shown on the sheet


#: (the valid communes' cells: unit, cell, value; the period; the unit list) -> what the history says
HistoryLookup = Callable[[pd.DataFrame, Period, str], PeriodHistory]


@dataclass(frozen=True)
class Flag:
    """One unusual change shown on the sheet."""

    level: str
    unit: str  #: code and name
    where: str  #: 'Biểu 3!D9'
    element: str  #: the element's name
    value: float
    history: str  #: '2023-H1: 1 · 2024-H1: 1 → 2025-H1: 14'
    p: str  #: 'p = 0,0003'
    test: str
    note: str  #: the confirming note ('' when not confirmed)


@dataclass(frozen=True)
class HistorySheet:
    """One workbook's comparison: `periods` earlier ones then this one (last)."""

    periods: tuple[str, ...]
    indicators: tuple[str, ...]  #: catalogue indicator ids, rows of `unit_values`
    unit_values: np.ndarray  #: indicators x periods, the unit's own
    children: tuple[tuple[str, str], ...]  #: (code, name) of the child units
    counts: tuple[str, ...]  #: the count indicators shown per child (ids)
    child_values: np.ndarray  #: children x counts x periods
    child_flags: np.ndarray  #: children x counts: the p of a flag on that total (NaN: none)
    flags: tuple[Flag, ...]  #: ranked by p
    confirmed: tuple[Flag, ...]
    checked: int
    no_history: tuple[str, ...]
    source: str


def needed_cells(catalogue: Catalogue) -> dict[str, str]:
    """The grand-total cells every indicator reads -> stock or flow (its element's `over_time`)."""
    elements = [e for ind in catalogue.indicators for e in (ind.element, ind.numerator, ind.denominator) if e]
    return {
        cell_key(e, TOTAL, TOTAL): catalogue.elements[e].over_time
        for e in dict.fromkeys(elements)
        if e in catalogue.elements
    }


def shown_periods(period: Period) -> tuple[str, ...]:
    """The earlier periods a sheet shows, oldest first: the same half of earlier years (comparable for a flow and a
    stock alike), or earlier years."""
    return tuple(comparable_periods(period, "flow")[-SHOWN:])


def history_sheet(
    catalogue: Catalogue,
    h: Hierarchy,
    area: Unit,
    children: Sequence[Unit],
    wards: pd.DataFrame,
    period: Period,
    ph: PeriodHistory,
) -> HistorySheet:
    """The comparison of one workbook: `wards` the valid communes under `area` (index: code; columns: cell keys)."""
    labels = shown_periods(period)
    groups = {"area": dict.fromkeys(wards.index, area.code)}
    child_level = children[0].level if children else "commune"
    if child_level != "commune":
        wanted = {c.code for c in children}
        groups["child"] = {
            w: a.code for w in wards.index if (u := h.get(w)) for a in h.ancestors(u) if a.code in wanted
        }
    frames = _per_period(wards, ph.past, labels, needed_cells(catalogue), groups)
    n_of = {key: pd.Series(g, dtype=object).value_counts() for key, g in groups.items()}
    n_of["commune"] = pd.Series(1, index=wards.index)
    child_key = "child" if child_level != "commune" else "commune"
    codes = [c.code for c in children]
    ids = [ind.id for ind in catalogue.indicators]
    counts = tuple(ind.id for ind in catalogue.indicators if ind.kind == "count")
    table = _indicator_table(catalogue, frames[child_key], n_of[child_key], codes)
    child_values = table[:, [ids.index(c) for c in counts]]
    flags, confirmed = _flags(catalogue, h, ph.findings, {area.code, *codes, *wards.index}, str(period))
    return HistorySheet(
        periods=(*labels, str(period)),
        indicators=tuple(ids),
        unit_values=_indicator_table(catalogue, frames["area"], n_of["area"], [area.code])[0],
        children=tuple((c.code, c.name) for c in children),
        counts=counts,
        child_values=child_values,
        child_flags=_child_flags(catalogue, ph.findings, codes, counts),
        flags=flags,
        confirmed=confirmed,
        checked=ph.checked,
        no_history=tuple(c for c in ph.no_history if c in set(wards.index) | set(codes)),
        source=ph.source,
    )


def _per_period(
    wards: pd.DataFrame,
    past: pd.DataFrame,
    labels: Sequence[str],
    kinds: Mapping[str, str],
    groups: Mapping[str, Mapping[str, str]],
) -> dict[str, list[pd.DataFrame]]:
    """Per level ("commune" and each of `groups`: commune -> its unit), one frame per period (`labels`, then the
    current one): index unit, columns the cells of `kinds`. An earlier sum is NaN unless every commune is held."""
    long: dict[str, list[pd.DataFrame]] = {key: [] for key in ("commune", *groups)}
    for kind in ("stock", "flow"):
        cells = [c for c, k in kinds.items() if k == kind and c in wards.columns]
        if not cells or wards.empty:
            continue
        cur = pd.DataFrame(
            {
                "unit": np.repeat(wards.index.to_numpy(dtype=object), len(cells)),
                "cell": np.tile(np.array(cells, dtype=object), len(wards)),
                "value": wards[cells].to_numpy(dtype=float).ravel(),
            }
        )
        matrix = wide_history(past, labels, kind, cur)
        parts = {"commune": (cur, matrix)}
        parts.update({key: sum_up(cur, matrix, parent_of) for key, parent_of in groups.items()})
        for key, (rows, m) in parts.items():
            values = np.column_stack([m, rows["value"].to_numpy(dtype=float)])
            frame = pd.DataFrame(values, columns=range(values.shape[1]))
            long[key].append(frame.assign(unit=rows["unit"].to_numpy(dtype=object), cell=rows["cell"].to_numpy()))
    out = {}
    for key, frames in long.items():
        both = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["unit", "cell"])
        out[key] = [
            both.pivot(index="unit", columns="cell", values=j).reindex(columns=list(kinds))
            if j in both
            else pd.DataFrame(columns=list(kinds), dtype=float)
            for j in range(len(labels) + 1)
        ]
    return out


def _indicator_table(
    catalogue: Catalogue, frames: Sequence[pd.DataFrame], n_units: pd.Series, codes: Sequence[str]
) -> np.ndarray:
    """units x indicators x periods: each period's indicators from its summed parts (rates recomputed)."""
    out = np.full((len(codes), len(catalogue.indicators), len(frames)), np.nan)
    for j, frame in enumerate(frames):
        index = pd.Index(list(codes))
        parts = indicator_parts(catalogue, frame.reindex(index).astype(float), n_units.reindex(index).fillna(0))
        for i, ind in enumerate(catalogue.indicators):
            out[:, i, j] = parts[ind.id]["value"].to_numpy(dtype=float)
    return out


def _flagged(findings: pd.DataFrame) -> pd.DataFrame:
    return findings[findings["flagged"].astype(bool)] if len(findings) else findings


def _flags(
    catalogue: Catalogue, h: Hierarchy, findings: pd.DataFrame, units: set[str], period: str
) -> tuple[tuple[Flag, ...], tuple[Flag, ...]]:
    """The flags of `units` (the area, its children, its communes), ranked by p; then those confirmed."""
    layout = form_layout(catalogue)
    mine = _flagged(findings)
    mine = mine[mine["unit"].astype(str).isin(units)].sort_values(["p", "unit", "cell"], kind="stable")
    shown: list[Flag] = []
    confirmed: list[Flag] = []
    for row in mine.to_dict("records"):
        sheet, cell = layout.address(str(row["cell"]))
        u = h.find_any_level(str(row["unit"]))
        note = row.get("note")
        flag = Flag(
            level=LEVEL_VI.get(str(row["level"]), str(row["level"])),
            unit=f"{row['unit']} {u.name if u else ''}".strip(),
            where=f"{sheet}!{cell}",
            element=catalogue.elements[element_of(str(row["cell"]))].name_vi,
            value=float(row["value"]),
            history=finding_detail(row, period, "vi"),
            p=p_text(float(row["p"]), "vi"),
            test=TEST_VI.get(str(row["test"]), str(row["test"])),
            note=note if isinstance(note, str) else "",
        )
        (confirmed if flag.note else shown).append(flag)
    return tuple(shown), tuple(confirmed)


def _child_flags(
    catalogue: Catalogue, findings: pd.DataFrame, codes: Sequence[str], counts: Sequence[str]
) -> np.ndarray:
    """children x count indicators: the p of an unconfirmed flag on the indicator's total, else NaN."""
    out = np.full((len(codes), len(counts)), np.nan)
    flagged = _flagged(findings)
    if "note" in flagged:
        flagged = flagged[flagged["note"].isna()]
    p_of = {(str(u), str(c)): float(p) for u, c, p in zip(flagged["unit"], flagged["cell"], flagged["p"], strict=True)}
    by_id = {ind.id: ind for ind in catalogue.indicators}
    for i, code in enumerate(codes):
        for j, ind_id in enumerate(counts):
            element = by_id[ind_id].element
            if element is not None:
                out[i, j] = p_of.get((code, cell_key(element, TOTAL, TOTAL)), np.nan)
    return out
