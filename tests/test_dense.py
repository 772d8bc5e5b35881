"""A batch judged from the dense summary (`plan.dense`, issue 24's speed) flags exactly what the full comparison
(`plan.compare.compare`) flags: the same cells, the same p, the same histories and ratios, the same number of
cells checked, whatever the history's gaps, counts, partial districts and blank cells."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.plan.compare import ALPHA, compare
from ctstat.plan.dense import judge_batch, may_flag, summary_of
from ctstat.plan.poisson import conditional_poisson

PERIOD = Period.parse("2025-H1")
KINDS = {"TE01/*/*": "stock", "XH01/*/*": "flow", "XH02/*/*": "flow"}


def _hierarchy() -> tuple[list[str], dict[str, dict[str, str]]]:
    """Two districts' communes (Hoàng Mai and Long Biên, Hà Nội), and every commune's district and province."""
    old = load_units("2025-06-30")
    parent_of: dict[str, dict[str, str]] = {"district": {}, "province": {}}
    for commune in old.all("commune"):
        for above in old.ancestors(commune):
            parent_of[above.level][commune.code] = above.code
    units = [c for c, d in parent_of["district"].items() if d in ("008", "004")]
    return sorted(units), parent_of


UNITS, PARENT_OF = _hierarchy()


def _flags(found: pd.DataFrame) -> pd.DataFrame:
    flagged = found[found["flagged"].astype(bool)].reset_index(drop=True)
    return flagged.astype(dict.fromkeys(("unit", "cell", "test", "level"), str))


def _both(past: pd.DataFrame, current: pd.DataFrame, shuffle: bool = True) -> None:
    units = sorted(current["unit"].unique())
    parents = {lv: {u: of[u] for u in units} for lv, of in PARENT_OF.items()}
    full = compare(current, past, PERIOD, KINDS, parents)
    summary = summary_of(past, PERIOD, KINDS, PARENT_OF)
    cells = list(KINDS)
    forms = list(dict.fromkeys(current["unit"]))  # in the districts' order, or shuffled (files in any order)
    if shuffle:
        forms = [forms[i] for i in np.random.default_rng(len(forms)).permutation(len(forms))]
    values = np.full((len(forms), len(cells)), np.nan)
    for u, c, v in current[["unit", "cell", "value"]].itertuples(index=False):
        values[forms.index(u), cells.index(c)] = v
    fast, checked = judge_batch(summary, forms, values, parents)
    pd.testing.assert_frame_equal(_flags(full), _flags(fast))
    assert checked == int(full["tested"].sum())


def _past(rng: np.random.Generator, gap: float, scale: dict[str, float]) -> pd.DataFrame:
    rows = []
    for unit in UNITS:
        if rng.random() < 0.05:
            continue  # a commune the history does not hold
        means = {c: float(rng.gamma(0.8, m)) for c, m in scale.items()}
        for year in range(2017, 2025):
            for half in (1, 2):
                for cell, mean in means.items():
                    if rng.random() >= gap:
                        rows.append((unit, f"{year}-H{half}", cell, float(rng.poisson(mean))))
    return pd.DataFrame(rows, columns=["unit", "period", "cell", "value"])


def _current(rng: np.random.Generator, past: pd.DataFrame, report: float, blank: float) -> pd.DataFrame:
    """Mostly ordinary counts, some jumps, drops to 0 and new units; some communes missing, some cells blank."""
    last = past.groupby(["unit", "cell"])["value"].mean()
    rows = []
    for unit in UNITS:
        if rng.random() >= report:
            continue
        for cell in KINDS:
            if rng.random() < blank:
                continue
            mean = float(last.get((unit, cell), rng.gamma(0.8, 5)))
            value = rng.choice([rng.poisson(mean), 0, rng.poisson(mean * 3 + 3), rng.poisson(mean / 3)])
            rows.append((unit, cell, float(value)))
    return pd.DataFrame(rows, columns=["unit", "cell", "value"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    gap=st.sampled_from([0.0, 0.05, 0.4]),
    report=st.sampled_from([1.0, 0.9, 0.5]),
    blank=st.sampled_from([0.0, 0.1]),
    big=st.sampled_from([5.0, 60.0, 3000.0]),
)
def test_the_summary_s_flags_are_the_full_comparison_s(
    seed: int, gap: float, report: float, blank: float, big: float
) -> None:
    rng = np.random.default_rng(seed)
    past = _past(rng, gap, {"TE01/*/*": big, "XH01/*/*": 2.0, "XH02/*/*": 20.0})
    _both(past, _current(rng, past, report, blank))


def test_every_district_reporting_and_the_issue_s_examples() -> None:
    """Whole districts (their sums from the summary), the issue's small-count cases at communes."""
    rng = np.random.default_rng(24)
    past = _past(rng, 0.0, {"TE01/*/*": 4000.0, "XH01/*/*": 1.0, "XH02/*/*": 12.0})
    current = _current(rng, past, 1.0, 0.0)
    jumps = current["cell"] == "XH01/*/*"
    current.loc[jumps.to_numpy().nonzero()[0][:5], "value"] = 14.0
    _both(past, current, shuffle=False)
    _both(past, current)


def test_fractions_are_summed_as_the_full_comparison_sums_them() -> None:
    """Values with fractions (not counts, but a history may hold one): the parents' sums are added as the full
    comparison adds them, not taken from the summary's totals."""
    rng = np.random.default_rng(7)
    past = _past(rng, 0.1, {"TE01/*/*": 50.0, "XH01/*/*": 3.0, "XH02/*/*": 20.0})
    past["value"] = past["value"] + 0.1
    _both(past, _current(rng, past, 0.8, 0.1))


def test_the_bound_never_clears_a_cell_the_exact_test_flags() -> None:
    """Every (count, earlier total, periods) on a grid: where the exact p is below ALPHA, the cheap bound keeps
    the cell for the exact test."""
    grid = [
        (y, x, k)
        for k in range(3, 7)
        for n in itertools.chain(range(0, 80), (150, 400, 1000, 4000, 20000))
        for y in range(0, n + 1, 1 if n < 80 else max(1, n // 200))
        for x in (n - y,)
    ]
    y, x, k = (np.array(v, dtype=float) for v in zip(*grid, strict=True))
    past = np.full((len(grid), 6), np.nan)
    for i, (total, periods) in enumerate(zip(x, k, strict=True)):  # k periods summing to x
        share = np.full(int(periods), total // periods)
        share[: int(total % periods)] += 1
        past[i, : int(periods)] = share
    p = conditional_poisson(y, past)
    kept = may_flag(y, y + x, k)
    assert (p < ALPHA).any() and (~kept).any()  # the grid has both sides
    assert kept[p < ALPHA].all()
