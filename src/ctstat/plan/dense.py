"""A whole batch judged against the history's summary as dense arrays: the same flags as `compare.judge`, a
fraction of the work (issue 24: `validate --history` within 10 % of `validate`).

The summary (`Summary`) lays every commune's cells over their comparable earlier periods as one matrix, a row per
(commune, cell) in a fixed order, and keeps what the test needs of each row ready: how many periods are held
among the last `MAX_BACK` (k), their sum, and the over-dispersion factor. District and province rows follow the
communes': the sum of every commune of the unit list under them, a period left empty unless each of them is held
in it (as `compare.sum_up` sums when the whole district reports).

Judging (`judge_batch`) then costs little more than a few passes over the batch's values:
- communes: only a cell with at least `MIN_PERIODS` periods held and a count of at least `MIN_COUNT` (or 0) can
  be flagged, and only where the probability of the observed count itself is below `ALPHA`: the two-sided
  p-value sums the probabilities of every outcome no more likely than the observed one, the observed one
  included, so it is never below that probability. The exact test (`poisson.conditional_poisson`) runs on those
  candidates alone, with the same arguments as on the whole batch (each cell's p depends on its own values only),
  so every flag and every p is the one the full test gives (`tests/test_dense.py`);
- districts and provinces: the sums of a parent whose communes all report a cell are the summary's; the others
  are summed from their reporting communes' rows, like with like. The ratio check flags; p is computed for the
  flagged rows only (it ranks them).

Only the flagged cells come back, ranked as `compare.judge` ranks them, with the number of cells checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ctstat.model.period import Period
from ctstat.plan.compare import (
    ALPHA,
    FINDING_COLUMNS,
    LOOK_BACK,
    MAX_BACK,
    MIN_COUNT,
    MIN_PERIODS,
    RATIO,
    comparable_periods,
    histories,
    last_held,
    wide_history,
)
from ctstat.plan.poisson import conditional_poisson, dispersion, log_pmf

#: a candidate is tested exactly unless its own probability is above ALPHA by more than this (log scale): far
#: beyond the rounding of the log-probabilities, so no cell the exact test would flag is left out
_MARGIN = 1e-6
_EXACT = 2.0**52  #: sums of whole numbers below this are exact in any order


@dataclass(frozen=True)
class Summary:
    """A period's history, dense: rows × `cells`, flattened row-major. The rows: each commune's, then for each
    level its parents' sums over every commune under them and how many of those communes each sum holds."""

    units: list[str]  #: communes with a row (any history of any cell)
    cells: list[str]  #: count cells, in this order
    kinds: list[str]  #: stock or flow, per cell
    labels: dict[str, list[str]]  #: per kind, the comparable periods of `matrix`'s columns (oldest first)
    levels: dict[str, list[str]]  #: level -> its parents' codes (their rows follow the communes', level by level)
    under: dict[str, np.ndarray]  #: level -> each of `units`' parent (its index in `levels`, -1: none)
    exact: bool  #: every value a whole number and their sum below 2**52: sums in any order are the same
    k: np.ndarray  #: (units × cells) periods held among the last MAX_BACK
    total: np.ndarray  #: (units × cells) their sum
    phi: np.ndarray  #: (units × cells) the over-dispersion factor
    matrix: list[np.ndarray | None]  #: LOOK_BACK columns over every row (None: not held in any row)

    def offset(self, level: str) -> int:
        """The first flattened row of `level`'s sums (their counts follow, as many rows)."""
        rows = len(self.units)
        for name, codes in self.levels.items():
            if name == level:
                return rows * len(self.cells)
            rows += 2 * len(codes)
        raise KeyError(level)

    def rows(self, at: np.ndarray) -> np.ndarray:
        """The matrix rows `at` (flattened indices), LOOK_BACK wide."""
        out = np.full((len(at), LOOK_BACK), np.nan, order="F")
        for j, column in enumerate(self.matrix):
            if column is not None:
                out[:, j] = column[at]
        return out


def summary_of(
    past: pd.DataFrame, period: Period, kinds: Mapping[str, str], parent_of: Mapping[str, Mapping[str, str]]
) -> Summary:
    """The summary of `period` from `past` (unit, period, cell, value: the earlier cells, as `compare` takes
    them) for the cells of `kinds`; `parent_of`: level -> every commune of the unit list -> its parent."""
    held = past["unit"].astype("category").cat.categories if len(past) else pd.Index([], dtype=object)
    units = [str(u) for u in held]
    cells = list(kinds)
    matrix = np.full((len(units) * len(cells), LOOK_BACK), np.nan, order="F")  # read column by column
    labels = {}
    for kind in ("stock", "flow"):
        mine = np.array([j for j, c in enumerate(cells) if kinds[c] == kind], dtype=np.int64)
        labels[kind] = comparable_periods(period, kind)[-LOOK_BACK:]
        if not len(mine) or not units:
            continue
        rows = pd.DataFrame(
            {
                "unit": pd.Categorical.from_codes(np.repeat(np.arange(len(units)), len(mine)), pd.Index(units)),
                "cell": pd.Categorical.from_codes(
                    np.tile(np.arange(len(mine)), len(units)), pd.Index([cells[j] for j in mine])
                ),
            }
        )
        at = np.repeat(np.arange(len(units)), len(mine)) * len(cells) + np.tile(mine, len(units))
        matrix[at, : len(labels[kind])] = wide_history(past, labels[kind], kind, rows)
    return summarise(units, cells, [kinds[c] for c in cells], labels, matrix, parent_of)


def summary_from(
    units: Sequence[str],
    held: Mapping[str, np.ndarray],
    period: Period,
    kinds: Mapping[str, str],
    parent_of: Mapping[str, Mapping[str, str]],
) -> Summary:
    """`summary_of` from the periods held, dense: `held` maps each period label the history holds to its values
    ((units × cells of `kinds`), NaN: not held). A year not held as such is built from its halves as
    `compare.wide_history` builds it (flow: H1 + H2, both needed; stock: H2)."""
    cells = list(kinds)
    matrix = np.full((len(units) * len(cells), LOOK_BACK), np.nan, order="F")
    labels = {}
    for kind in ("stock", "flow"):
        mine = np.array([j for j, c in enumerate(cells) if kinds[c] == kind], dtype=np.int64)
        labels[kind] = comparable_periods(period, kind)[-LOOK_BACK:]
        for j, label in enumerate(labels[kind]):
            column = _held_as(held, label, kind)
            if column is not None and len(mine):
                matrix[:, j].reshape(len(units), len(cells))[:, mine] = column[:, mine]
    return summarise(units, cells, [kinds[c] for c in cells], labels, matrix, parent_of)


def _held_as(held: Mapping[str, np.ndarray], label: str, kind: str) -> np.ndarray | None:
    """The values of period `label` (None: none held); a year not held, from its halves."""
    own = held.get(label)
    if "-" in label:
        return own
    h1, h2 = held.get(f"{label}-H1"), held.get(f"{label}-H2")
    built = h2 if kind == "stock" else (h1 + h2 if h1 is not None and h2 is not None else None)
    if own is None or built is None:
        return own if built is None else built
    return np.where(np.isnan(own), built, own)


def summarise(
    units: Sequence[str],
    cells: Sequence[str],
    kinds: Sequence[str],
    labels: Mapping[str, list[str]],
    matrix: np.ndarray,
    parent_of: Mapping[str, Mapping[str, str]],
) -> Summary:
    """The summary of `matrix` ((units × cells) rows, LOOK_BACK columns: `wide_history` of each cell's kind,
    NaN-padded on the right); `parent_of`: level -> every commune of the unit list -> its parent."""
    back = last_held(matrix, MAX_BACK)
    k = np.sum(~np.isnan(back), axis=1).astype(np.int8)
    total = np.nansum(back, axis=1)
    phi = dispersion(back)
    exact = _whole(matrix)
    levels, under = {}, {}
    columns: list[list[np.ndarray]] = [[np.asarray(matrix[:, j])] for j in range(LOOK_BACK)]
    for level, of in parent_of.items():
        codes = pd.Index(sorted(set(of.values())), dtype=object)
        levels[level] = [str(c) for c in codes]
        under[level] = codes.get_indexer(pd.Index([of.get(u, "") for u in units], dtype=object))
        for j, (total_j, held_j) in enumerate(_parent_sums(matrix, under[level], len(codes), len(cells))):
            columns[j] += [total_j, held_j]
    whole = [np.concatenate(parts) for parts in columns]
    held_any = [c if not np.isnan(c).all() else None for c in whole]
    return Summary(list(units), list(cells), list(kinds), dict(labels), levels, under, exact, k, total, phi, held_any)


def _whole(matrix: np.ndarray) -> bool:
    """Every value a whole number, and any sum of them below 2**52 (sums in any order are then the same)."""
    top = 0.0
    for j in range(matrix.shape[1]):
        col = matrix[:, j]
        if np.count_nonzero(np.fmod(col, 1.0)) != np.count_nonzero(np.isnan(col)):  # fmod: NaN for NaN, ±inf
            return False
        top += float(np.nansum(np.abs(col)))
    return top < _EXACT


def _parent_sums(
    matrix: np.ndarray, parent: np.ndarray, parents: int, cells: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per period: each (parent, cell)'s sum over the communes under it held then, and how many are held."""
    units = np.flatnonzero(parent >= 0)
    units = units[np.argsort(parent[units], kind="stable")]
    starts = np.flatnonzero(np.diff(parent[units], prepend=-1))
    at = parent[units][starts]
    out = []
    for j in range(LOOK_BACK):
        col = matrix[:, j].reshape(-1, cells)[units]
        gaps = np.isnan(col)
        total, held = np.zeros((parents, cells)), np.zeros((parents, cells))
        if len(units):
            total[at] = np.add.reduceat(np.where(gaps, 0.0, col), starts, axis=0)
            held[at] = np.add.reduceat((~gaps).astype(np.float64), starts, axis=0)
        out.append((total.ravel(), held.ravel()))
    return out


def judge_batch(
    summary: Summary, units: Sequence[str], values: np.ndarray, parent_of: Mapping[str, Mapping[str, str]]
) -> tuple[pd.DataFrame, int]:
    """`values` ((forms × summary.cells), NaN: blank) of `units` (a form's unit each) against `summary`; the
    parents of each level as the summary has them, from `parent_of` (level -> commune -> parent) for a commune
    the summary has no row for. Returns the flagged findings (`FINDING_COLUMNS` + level, ranked by p)
    and the number of cells checked."""
    row = pd.Index(summary.units).get_indexer(pd.Index(list(units), dtype=object))
    y = np.asarray(values, dtype=float).reshape(len(units), len(summary.cells))
    present = ~np.isnan(y)
    found, checked = _communes(summary, row, y, present, list(units))
    parts = [found]
    reported = np.zeros((len(summary.units), len(summary.cells)), dtype=bool)
    reported[row[row >= 0]] = present[row >= 0]  # (one form per unit: else `_summed`, which does not read it)
    missing = np.flatnonzero(~reported.ravel())
    batch = _Batch(row, y, present, len(set(units)) == len(units), missing, np.where(present, y, 0.0))
    for level, codes in summary.levels.items():
        parent = np.full(len(units), -1, dtype=np.int64)
        parent[row >= 0] = summary.under[level][row[row >= 0]]  # the summary's communes: their parents known
        others, of = np.flatnonzero(row < 0).tolist(), parent_of.get(level, {})
        named: list[str] = [of.get(units[i], "") for i in others]
        parent[others] = pd.Index(codes).get_indexer(pd.Index(named, dtype=object))
        found, tested = _parents(summary, level, parent, batch)
        parts.append(found)
        checked += tested
    out = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    order = np.lexsort((out["cell"].astype(str), out["unit"].astype(str), out["p"].to_numpy()))
    return out.iloc[order].reset_index(drop=True), checked


def may_flag(y: np.ndarray, n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Where the exact test of (effective) count `y` of `n`, over k earlier periods, can give p < ALPHA: n > 0
    (else p = 1) and P(Y = y) itself below ALPHA (p sums it with every outcome no more likely). Conservative by
    `_MARGIN`: a cell it clears has p >= ALPHA (`tests/test_dense.py` checks it on a grid)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        own = log_pmf(y, n, 1 / (k + 1.0))
    return (n > 0) & ~(own > math.log(ALPHA) + _MARGIN)  # NaN (never here) kept: tested exactly


def _communes(
    summary: Summary, row: np.ndarray, y: np.ndarray, present: np.ndarray, units: list[str]
) -> tuple[pd.DataFrame, int]:
    """The communes' flags: the exact test on the candidates a cheap bound cannot clear. `row`: each form's
    commune in the summary (-1: no history); `y`: forms × cells."""
    ncells, known = len(summary.cells), row >= 0
    k, total = np.zeros(y.shape, dtype=np.int8), np.zeros(y.shape)
    k[known] = summary.k.reshape(-1, ncells)[row[known]]  # whole rows: a form's cells are one row's
    total[known] = summary.total.reshape(-1, ncells)[row[known]]
    tested = present & (k >= MIN_PERIODS)
    nothing = (y == 0) & (total == 0)  # nothing then or now: n = 0, p = 1
    form, cell = np.nonzero(tested & ((y >= MIN_COUNT) | (y == 0)) & ~nothing)
    at = row[form] * ncells + cell
    phi = summary.phi[at]
    y_eff = np.rint(y[form, cell] / phi)
    keep = may_flag(y_eff, y_eff + np.rint(total[form, cell] / phi), k[form, cell])
    form, cell, at = form[keep], cell[keep], at[keep]
    matrix = summary.rows(at)
    back = last_held(matrix, MAX_BACK)
    p = conditional_poisson(y[form, cell], back, dispersion(back))
    hit = p < ALPHA
    frame = _findings(
        summary,
        [units[i] for i in form[hit]],
        cell[hit],
        y[form[hit], cell[hit]],
        matrix[hit],
        (np.sum(~np.isnan(back[hit]), axis=1), p[hit], np.full(int(hit.sum()), np.nan)),
        ("poisson", "commune"),
    )
    return frame, int(tested.sum())


@dataclass(frozen=True)
class _Batch:
    """The batch's values (forms × cells), as every level reads them."""

    row: np.ndarray  #: each form's commune in the summary (-1: no history)
    y: np.ndarray  #: the values (NaN: blank)
    present: np.ndarray  #: not blank
    unique: bool  #: one form per commune
    missing: np.ndarray  #: the summary's (commune, cell) rows with no value in the batch
    zeroed: np.ndarray  #: the values, 0 where blank (what the sums add)


def _parents(summary: Summary, level: str, parent: np.ndarray, batch: _Batch) -> tuple[pd.DataFrame, int]:
    """One level's flags: the ±33 % ratio check on the sums of the communes reporting now, like with like."""
    ncells, codes = len(summary.cells), summary.levels.get(level, [])
    size = len(codes) * ncells
    mine = np.flatnonzero(parent >= 0)
    by_parent = np.argsort(parent[mine], kind="stable")  # by parent, in the batch's order within each
    in_order = len(mine) == len(parent) and bool((by_parent[1:] > by_parent[:-1]).all())
    forms: slice | np.ndarray = slice(None) if in_order else mine[by_parent]  # in order (folders): no copy
    starts = np.flatnonzero(np.diff(parent[forms], prepend=-1))
    some = len(starts) > 0
    added = np.add.reduceat(batch.zeroed[forms], starts, axis=0) if some else None
    count = np.add.reduceat(batch.present[forms], starts, axis=0, dtype=np.int64) if some else None
    at_p, at_c = np.nonzero(count) if count is not None else (np.zeros(0, int), np.zeros(0, int))
    groups = parent[forms][starts][at_p] * ncells + at_c  # (parent, cell) keys reported, in order
    sums = added[at_p, at_c] if added is not None else np.zeros(0)
    reporting = np.zeros(size, dtype=np.int64)
    reporting[groups] = count[at_p, at_c] if count is not None else 0
    if summary.exact and batch.unique:
        summed = _by_difference(summary, level, batch.missing, reporting, groups)
    else:
        summed = _summed(summary, batch, parent, groups)
    back = last_held(summed, MAX_BACK)
    three = back[:, -MIN_PERIODS:]
    mean = np.nanmean(np.where(np.isnan(three).all(axis=1)[:, None], 0.0, three), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mean > 0, sums / mean - 1, np.nan)
    tested = np.sum(~np.isnan(three), axis=1) >= MIN_PERIODS
    hit = tested & (np.abs(np.nan_to_num(ratio)) > RATIO) & ((sums >= MIN_COUNT) | (sums == 0))
    p = conditional_poisson(sums[hit], back[hit], dispersion(back[hit]))
    k = np.sum(~np.isnan(back[hit]), axis=1)
    names = [codes[g] for g in groups[hit] // ncells]
    level_test = ("ratio", level)
    frame = _findings(summary, names, groups[hit] % ncells, sums[hit], summed[hit], (k, p, ratio[hit]), level_test)
    return frame, int(tested.sum())


def _by_difference(
    summary: Summary, level: str, missing: np.ndarray, reporting: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """The reporting communes' sums of `groups` as the summary's sums over every commune under the parent less
    those of the communes not reporting (whole numbers: the same sums as adding the reporting ones), NaN in a
    period where a reporting commune is not held. `missing`: the summary's rows not reported."""
    ncells, size = len(summary.cells), len(summary.levels[level]) * len(summary.cells)
    start = summary.offset(level)
    total, held = summary.rows(start + groups), summary.rows(start + size + groups)
    under = summary.under[level][missing // ncells]
    key = under * ncells + missing % ncells
    mine = (under >= 0) & (reporting[np.maximum(key, 0)] > 0)
    missing, key = missing[mine], key[mine]
    slot = np.full(size, -1)
    slot[groups] = np.arange(len(groups))
    g = slot[key]
    past = summary.rows(missing)
    for j in range(LOOK_BACK):
        gaps = np.isnan(past[:, j])
        total[:, j] -= np.bincount(g, weights=np.where(gaps, 0.0, past[:, j]), minlength=len(groups))
        held[:, j] -= np.bincount(g[~gaps], minlength=len(groups))
    return np.where(held == reporting[groups][:, None], total, np.nan)


def _summed(summary: Summary, batch: _Batch, parent: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The sums of `groups` ((parent, cell) keys) over their reporting communes' rows, in the batch's order (as
    `compare.sum_up` adds them), NaN in a period where one of them is not held."""
    ncells = len(summary.cells)
    form, cell = np.nonzero(batch.present & (parent >= 0)[:, None])
    key = parent[form] * ncells + cell
    slot = np.full(int(key.max(initial=-1)) + 1, -1)
    slot[groups] = np.arange(len(groups))
    g = slot[key]
    past = np.full((len(form), LOOK_BACK), np.nan)
    known = batch.row[form] >= 0
    past[known] = summary.rows(batch.row[form][known] * ncells + cell[known])
    out = np.full((len(groups), LOOK_BACK), np.nan)
    for j in range(LOOK_BACK):
        gaps = np.isnan(past[:, j])
        total = np.bincount(g, weights=np.where(gaps, 0.0, past[:, j]), minlength=len(groups))
        out[:, j] = np.where(np.bincount(g[gaps], minlength=len(groups)) == 0, total, np.nan)
    return out


def _findings(
    summary: Summary,
    units: list[str],
    cells: np.ndarray,
    value: np.ndarray,
    matrix: np.ndarray,
    numbers: tuple[np.ndarray, np.ndarray, np.ndarray],
    test_level: tuple[str, str],
) -> pd.DataFrame:
    """Flagged rows as `compare.judge` gives them: each with the periods and values of its history."""
    k, p, ratio = numbers
    periods = np.empty(len(units), dtype=object)
    pasts = np.empty(len(units), dtype=object)
    for kind in ("stock", "flow"):
        mine = np.flatnonzero(np.array([summary.kinds[c] == kind for c in cells], dtype=bool))
        labels = summary.labels[kind]
        got = histories(matrix[mine][:, : len(labels)], labels, np.ones(len(mine), dtype=bool))
        periods[mine], pasts[mine] = got
    n = len(units)
    return pd.DataFrame(
        {
            "unit": pd.Categorical(units),
            "cell": pd.Categorical([summary.cells[c] for c in cells]),
            "value": np.asarray(value, dtype=float),
            "periods": periods,
            "past": pasts,
            "k": np.asarray(k, dtype=np.int64),
            "p": np.asarray(p, dtype=float),
            "ratio": np.asarray(ratio, dtype=float),
            "test": pd.Categorical([test_level[0]] * n),
            "tested": np.ones(n, dtype=bool),
            "flagged": np.ones(n, dtype=bool),
            "level": pd.Categorical([test_level[1]] * n),
        },
        columns=[*FINDING_COLUMNS, "level"],
    )
