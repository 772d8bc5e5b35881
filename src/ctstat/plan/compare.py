"""Unusual changes: each count against the same unit's comparable earlier periods (issue 24). Pure: frames in,
frames out.

Comparable periods (each element's `over_time` in the catalogue):
- a flow (events during the period): H1 with earlier H1s, H2 with earlier H2s, a year with earlier years;
- a stock (a count at the period's end): a half-year with every earlier half-year (the end of June and the end of
  December count the same thing), a year with earlier years;
- a year's flow is H1 + H2 and a year's stock its H2, when the history holds halves and not the year.

Communes: the exact conditional Poisson test (`poisson.py`) over the last `MAX_BACK` comparable periods held,
flagged when p < `ALPHA`, at least `MIN_PERIODS` are held and the count is at least `MIN_COUNT` (or 0, which the
test flags only when the history makes 0 improbable). Districts and provinces, where counts are large: the
WHO data-quality review's consistency rule, flagged when the count differs by more than `RATIO` from the mean of
the three comparable periods before (also with at least `MIN_COUNT`). Every finding carries its p-value (ranked by
it), the history it was judged on and the test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from ctstat.model.period import Period
from ctstat.plan.poisson import conditional_poisson, dispersion

ALPHA = 0.01
MIN_PERIODS = 3
MIN_COUNT = 3
MAX_BACK = 6
LOOK_BACK = 2 * MAX_BACK  #: comparable periods looked at, for the last MAX_BACK held among them
RATIO = 0.33
FIRST_YEAR = 2000
KEY2 = ("unit", "cell")
#: `tested`: enough comparable periods held to judge the cell (the "checked N" of a batch)
FINDING_COLUMNS = ["unit", "cell", "value", "periods", "past", "k", "p", "ratio", "test", "tested", "flagged"]


def comparable_periods(period: Period, kind: str) -> list[str]:
    """The labels of every earlier period comparable with `period`, oldest first."""
    years = range(FIRST_YEAR, period.year)
    if period.half is None:
        return [str(y) for y in years]
    if kind == "flow":
        return [f"{y}-H{period.half}" for y in years]
    halves = [f"{y}-H{h}" for y in years for h in (1, 2)]
    return halves + ([f"{period.year}-H1"] if period.half == 2 else [])


def _codes(values: pd.Series, index: pd.Index) -> np.ndarray:
    """The position in `index` of each value (-1: not in it), through the categories (cheap on large frames)."""
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    lookup = np.append(index.get_indexer(cat.cat.categories), -1)
    return lookup[cat.cat.codes.to_numpy()]  # code -1 (a missing value) takes the appended -1


def wide_history(past: pd.DataFrame, labels: Sequence[str], kind: str, rows: pd.DataFrame) -> np.ndarray:
    """`past` (unit, period, cell, value) as a matrix: one row per row of `rows` (unit, cell), one column per
    label; a year not held as such is built from its halves (flow: H1 + H2, both needed; stock: H2)."""
    years = [lb for lb in labels if "-" not in lb]
    columns = pd.Index(list(dict.fromkeys([*labels, *(f"{y}-H{h}" for y in years for h in (1, 2))])))
    units, cells = (pd.Index(np.asarray(rows[c].unique(), dtype=object)) for c in ("unit", "cell"))
    slot = np.full(len(units) * len(cells), -1)
    slot[_codes(rows["unit"], units) * len(cells) + _codes(rows["cell"], cells)] = np.arange(len(rows))
    matrix = np.full((len(rows), len(columns)), np.nan)
    if len(past):
        u, c, col = _codes(past["unit"], units), _codes(past["cell"], cells), _codes(past["period"], columns)
        ok = (u >= 0) & (c >= 0) & (col >= 0)
        r = slot[u[ok] * len(cells) + c[ok]]
        keep = r >= 0
        matrix[r[keep], col[ok][keep]] = past["value"].to_numpy(dtype=float)[ok][keep]
    for y in years:
        j, h1, h2 = columns.get_loc(y), columns.get_loc(f"{y}-H1"), columns.get_loc(f"{y}-H2")
        built = matrix[:, h2] if kind == "stock" else matrix[:, h1] + matrix[:, h2]  # NaN unless both halves
        matrix[:, j] = np.where(np.isnan(matrix[:, j]), built, matrix[:, j])
    return matrix[:, : len(labels)]


def last_held(matrix: np.ndarray, n: int) -> np.ndarray:
    """Each row's last `n` values that are not NaN, right-aligned (NaN-padded on the left). Column by column
    from the right: a whole column held (or not held) by every row still to fill is one slice."""
    rows = matrix.shape[0]
    out = np.full((rows, n), np.nan, order="F")
    count = np.zeros(rows, dtype=np.int64)  # values taken so far, per row
    same = True  # every row has taken as many
    for j in range(matrix.shape[1] - 1, -1, -1):
        col = matrix[:, j]
        take = ~np.isnan(col) & (count < n)
        if same and take.all():
            out[:, n - 1 - int(count[0]) if rows else 0] = col
            count += 1
            continue
        if not take.any():
            continue
        at = np.flatnonzero(take)
        out[at, n - 1 - count[at]] = col[at]
        count[at] += 1
        same = False
    return out


Matrix = Callable[[pd.DataFrame, Sequence[str], str], np.ndarray]  #: (rows, labels, kind) -> history matrix


def compare(
    current: pd.DataFrame,
    past: pd.DataFrame,
    period: Period,
    kinds: Mapping[str, str],
    parents: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """Judge `current` (unit, cell, value: communes' counts of `period`) against `past` (unit, period, cell,
    value). `kinds`: cell -> "stock" | "flow" (cells not in it are not judged); `parents`: level -> commune ->
    its unit at that level, for the sums. One row per judged cell and level (`FINDING_COLUMNS` + level), flagged
    or not, ranked by p."""
    return judge(current, period, kinds, lambda rows, labels, kind: wide_history(past, labels, kind, rows), parents)


def compare_held(
    current: pd.DataFrame,
    held: Mapping[str, tuple[pd.DataFrame, np.ndarray]],
    period: Period,
    kinds: Mapping[str, str],
    parents: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """`compare` from the history already laid out as matrices: per kind, (unit, cell) rows and their values
    over `comparable_periods(period, kind)[-LOOK_BACK:]` (what `wide_history` makes; the history's summary).
    The same findings as `compare` on the long history the matrices were made from."""

    def matrix(rows: pd.DataFrame, labels: Sequence[str], kind: str) -> np.ndarray:
        table, values = held.get(kind, (pd.DataFrame({"unit": [], "cell": []}), np.empty((0, len(labels)))))
        return align(rows, table, values)

    return judge(current, period, kinds, matrix, parents)


def align(rows: pd.DataFrame, table: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """The row of `values` (indexed like `table`: unit, cell) of each of `rows` (unit, cell); NaN where none."""
    units, cells = (pd.Index(np.asarray(table[c].astype("category").cat.categories, dtype=object)) for c in KEY2)
    slot = np.full(len(units) * len(cells) + 1, len(table))  # the last slot, and any row not in `table`: NaN
    slot[_codes(table["unit"], units) * len(cells) + _codes(table["cell"], cells)] = np.arange(len(table))
    u, c = _codes(rows["unit"], units), _codes(rows["cell"], cells)
    at = np.where((u >= 0) & (c >= 0), slot[np.maximum(u, 0) * len(cells) + np.maximum(c, 0)], len(table))
    out = np.empty((len(rows), values.shape[1]), order="F")
    none = at == len(table)
    at[none] = 0
    for j in range(values.shape[1]):  # column by column: each one contiguous
        out[:, j] = values[:, j].take(at) if len(table) else np.nan
    out[none] = np.nan
    return out


def judge(
    current: pd.DataFrame,
    period: Period,
    kinds: Mapping[str, str],
    matrix_of: Matrix,
    parents: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """`compare`, each kind's history matrix given by `matrix_of(rows, labels, kind)`."""
    parts = []
    for kind in ("stock", "flow"):
        cells = [c for c, k in kinds.items() if k == kind]
        cur = current[current["cell"].isin(cells)]
        if cur.empty:
            continue
        labels = comparable_periods(period, kind)[-LOOK_BACK:]
        matrix = np.asfortranarray(matrix_of(cur, labels, kind))  # read column by column from here on
        parts.append(_judge(cur, matrix, labels, "commune"))
        for level, parent_of in (parents or {}).items():
            sums, summed = sum_up(cur, matrix, parent_of)
            parts.append(_judge(sums, summed, labels, level))
    if not parts:
        return pd.DataFrame(columns=[*FINDING_COLUMNS, "level"])
    out = _stack(parts)
    flags = np.asarray(out["flagged"], dtype=bool)
    flagged = np.flatnonzero(flags)
    unit, cell = (np.asarray(out[c].take(flagged), dtype=str) for c in KEY2)
    ranked = flagged[np.lexsort((cell, unit, out["p"][flagged]))]
    order = np.concatenate([ranked, np.flatnonzero(~flags)])  # the rest (millions, nationally) left as judged
    return pd.DataFrame({name: column[order] for name, column in out.items()})


def _stack(parts: list[pd.DataFrame]) -> dict[str, Any]:
    """Frames' columns one after another, their codes kept as categories (millions of rows nationally)."""
    out: dict[str, Any] = {}
    for column in parts[0].columns:
        if isinstance(parts[0][column].dtype, pd.CategoricalDtype):
            cats = [p[column].array for p in parts]  # codes as text whatever the source's dtype (object, str)
            same = [pd.Categorical.from_codes(c.codes, pd.Index(c.categories.astype(str))) for c in cats]
            out[column] = union_categoricals(same, ignore_order=True)
        else:
            out[column] = np.concatenate([p[column].to_numpy() for p in parts])
    return out


def sum_up(cur: pd.DataFrame, matrix: np.ndarray, parent_of: Mapping[str, str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The communes' cells summed into their parents, like with like: only the communes reporting now, and an
    earlier period of a parent's cell only when every one of them is held in it (half a district reporting is not
    a drop)."""
    unit = cur["unit"].astype("category")  # each code's parent looked up once, not once per cell
    by_unit, punits = pd.factorize(np.array([parent_of.get(str(u)) for u in unit.cat.categories], dtype=object))
    parent = np.append(by_unit, -1)[unit.cat.codes.to_numpy()]
    keep = parent >= 0
    pcodes = parent[keep]
    cell = cur["cell"].astype("category")
    ccodes, ccells = cell.cat.codes.to_numpy()[keep], np.asarray(cell.cat.categories, dtype=object)
    dense = pcodes.astype(np.int64) * len(ccells) + ccodes
    present = np.bincount(dense, minlength=len(punits) * len(ccells))
    groups = np.flatnonzero(present)  # the (parent, cell) pairs in their order, counted not sorted
    key = (np.cumsum(present > 0) - 1)[dense]
    n = len(groups)
    summed = np.full((n, matrix.shape[1]), np.nan)
    for j, col in enumerate(np.ascontiguousarray((matrix if keep.all() else matrix[keep]).T)):
        gaps = np.isnan(col)
        if gaps.all():
            continue
        total = np.bincount(key, weights=np.where(gaps, 0.0, col), minlength=n)
        summed[:, j] = np.where(np.bincount(key[gaps], minlength=n) == 0, total, np.nan)
    value = np.bincount(key, weights=cur["value"].to_numpy(dtype=float)[keep], minlength=n)
    units, cells = pd.Categorical(punits[groups // len(ccells)]), pd.Categorical(ccells[groups % len(ccells)])
    sums = pd.DataFrame({"unit": units, "cell": cells, "value": value})
    return sums, summed


def _judge(cur: pd.DataFrame, matrix: np.ndarray, labels: Sequence[str], level: str) -> pd.DataFrame:
    y = cur["value"].to_numpy(dtype=float)
    back = last_held(matrix, MAX_BACK)
    k = np.sum(~np.isnan(back), axis=1)
    p = np.ones_like(y)
    some = k >= MIN_PERIODS  # only cells with enough history are tested (and ranked)
    if some.all():  # the usual case: no copy of the history
        p = conditional_poisson(y, back, dispersion(back))
    else:
        p[some] = conditional_poisson(y[some], back[some], dispersion(back[some]))
    big_enough = (y >= MIN_COUNT) | (y == 0)
    if level == "commune":
        ratio = np.full(len(y), np.nan)
        tested = k >= MIN_PERIODS
        flagged = tested & (p < ALPHA) & big_enough
        test = "poisson"
    else:
        three = back[:, -MIN_PERIODS:]  # the last three held (`back` is right-aligned)
        mean = np.nanmean(np.where(np.isnan(three).all(axis=1)[:, None], 0.0, three), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(mean > 0, y / mean - 1, np.nan)
        tested = np.sum(~np.isnan(three), axis=1) >= MIN_PERIODS
        flagged = tested & (np.abs(np.nan_to_num(ratio)) > RATIO) & big_enough
        test = "ratio"
    periods, pasts = histories(matrix, labels, flagged)
    return pd.DataFrame(
        {
            "unit": cur["unit"].astype("category").array,
            "cell": cur["cell"].astype("category").array,
            "value": y,
            "periods": periods,
            "past": pasts,
            "k": k,
            "p": p,
            "ratio": ratio,
            "test": pd.Categorical.from_codes(np.zeros(len(y), dtype=np.int8), pd.Index([test])),
            "tested": tested,
            "flagged": flagged,
            "level": pd.Categorical.from_codes(np.zeros(len(y), dtype=np.int8), pd.Index([level])),
        }
    )


def histories(matrix: np.ndarray, labels: Sequence[str], flagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per flagged row, the last `MAX_BACK` held periods and their values (what the message shows); empty for
    the others (a national batch has millions of rows)."""
    empty = np.empty(1, dtype=object)
    empty[0] = ()
    periods, values = np.repeat(empty, len(matrix)), np.repeat(empty, len(matrix))
    rows = np.flatnonzero(flagged)
    mine = matrix[rows]
    at = last_held(np.where(np.isnan(mine), np.nan, np.arange(mine.shape[1], dtype=float)), MAX_BACK).tolist()
    held = last_held(mine, MAX_BACK).tolist()
    for i, js, vs in zip(rows.tolist(), at, held, strict=True):
        periods[i] = tuple(labels[int(j)] for j in js if j == j)  # j != j: NaN, no period held there
        values[i] = tuple(v for v in vs if v == v)
    return periods, values


def _num(v: float, lang: str) -> str:
    text = f"{int(v):,}" if float(v).is_integer() else f"{v:,.1f}"
    return text.replace(",", ".") if lang == "vi" else text


def history_text(periods: Sequence[str], past: Sequence[float], period: str, value: float, lang: str = "en") -> str:
    """'2023-H1: 1 · 2024-H1: 1 · 2025-H1: 2 → 2026-H1: 14'."""
    before = " · ".join(f"{p}: {_num(v, lang)}" for p, v in zip(periods, past, strict=True))
    return f"{before} → {period}: {_num(value, lang)}"


def p_text(p: float, lang: str = "en") -> str:
    """'p = 0.0003' ('p = 0,0003'); below one in ten thousand, 'p < 0.0001'."""
    text = "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}" if p < 0.01 else f"p = {p:.2f}"
    return text.replace(".", ",") if lang == "vi" else text


def finding_detail(row: Mapping[Any, Any], period: str, lang: str) -> str:
    """The history, and for the ratio check the mean it was compared with."""
    periods, past = row["periods"], row["past"]
    assert isinstance(periods, tuple) and isinstance(past, tuple)
    text = history_text(periods, past, period, float(row["value"]), lang)
    ratio = row.get("ratio")
    if row.get("test") == "ratio" and isinstance(ratio, float) and not np.isnan(ratio):
        change = f"{ratio * 100:+.0f} %"
        text += (
            f" ({change} so với trung bình 3 kỳ trước)"
            if lang == "vi"
            else f" ({change} against the mean of the 3 before)"
        )
    return text
