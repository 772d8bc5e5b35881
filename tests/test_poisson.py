"""The exact conditional Poisson test (issue 24) against statsmodels, which is only a test dependency."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctstat.plan.poisson import binom_cdf, binom_sf, conditional_poisson, dispersion

rates = pytest.importorskip("statsmodels.stats.rates")
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # statsmodels on a zero history

HISTORIES = [
    (1, 1, 2),
    (0, 0, 0),
    (12, 10, 15),
    (0, 1, 0, 2, 0, 1),
    (3, 3, 3),
    (5, 0, 2, 7),
    (0, 0, 1),
    (2, 2),
    (40, 38, 45, 41),
    (100, 120, 90),
    (4800, 4900, 5000, 5100, 4950, 5050),
]
NEW = (0, 1, 2, 3, 4, 5, 9, 14, 30, 100, 2500, 5000, 12000)


def _reference(y: int, past: tuple[int, ...]) -> float:
    if y + sum(past) == 0:
        return 1.0
    return float(rates.test_poisson_2indep(y, 1, sum(past), len(past), method="exact-cond").pvalue)


def test_matches_statsmodels_exact_cond_on_a_grid_of_histories() -> None:
    grid = list(itertools.product(HISTORIES, NEW))
    past = np.full((len(grid), 6), np.nan)
    for i, (h, _) in enumerate(grid):
        past[i, : len(h)] = h
    got = conditional_poisson(np.array([y for _, y in grid], dtype=float), past)
    want = np.array([_reference(y, h) for h, y in grid])
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-300)


def test_matches_statsmodels_on_random_histories() -> None:
    rng = np.random.default_rng(24)
    rows = []
    for _ in range(200):
        k = int(rng.integers(1, 7))
        mean = float(rng.choice([0.2, 1, 3, 10, 60, 800]))
        past = tuple(int(v) for v in rng.poisson(mean, k))
        rows.append((int(rng.poisson(mean * rng.choice([0.3, 1, 2.5]))), past))
    matrix = np.full((len(rows), 6), np.nan)
    for i, (_, h) in enumerate(rows):
        matrix[i, : len(h)] = h
    got = conditional_poisson(np.array([y for y, _ in rows], dtype=float), matrix)
    np.testing.assert_allclose(got, [_reference(y, h) for y, h in rows], rtol=1e-8, atol=1e-300)


def test_binomial_tails_agree_with_direct_sums() -> None:
    from math import comb

    for n, p in ((7, 0.25), (20, 0.5), (60, 1 / 7)):
        pmf = [comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
        ks = np.arange(-1, n + 2, dtype=float)
        np.testing.assert_allclose(
            binom_cdf(ks, np.full_like(ks, n), np.full_like(ks, p)), [sum(pmf[: int(k) + 1]) for k in ks], atol=1e-12
        )
        np.testing.assert_allclose(
            binom_sf(ks, np.full_like(ks, n), np.full_like(ks, p)),
            [sum(pmf[max(0, int(k)) :]) for k in ks],
            atol=1e-12,
        )


def test_over_dispersion_only_for_large_counts_that_moved_before() -> None:
    past = np.array([[1, 1, 2, np.nan], [12, 10, 15, np.nan], [100, 160, 60, 120], [5000, 5010, 4990, 5000]])
    phi = dispersion(past)
    assert phi[0] == 1.0 and phi[1] == 1.0  # small counts: plain Poisson
    assert phi[2] == pytest.approx(np.var([100, 160, 60, 120], ddof=1) / 110)  # a cell that moves a lot
    assert phi[3] == 1.0  # steadier than Poisson: never below 1
    # the same jump is unusual for a steady cell and ordinary for one that has always jumped around
    y = np.array([170.0, 170.0])
    steady = np.array([[110, 108, 112, 110], [100, 160, 60, 120]], dtype=float)
    p = conditional_poisson(y, steady, dispersion(steady))
    assert p[0] < 1e-4 < 0.01 < p[1]


@pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning")  # rows with one value held
def test_each_p_value_depends_on_its_own_count_only() -> None:
    """Same inputs, same output: a cell's p-value is the same computed alone or among any others (a batch is
    computed once per distinct count and history, and each continued fraction stops on its own convergence)."""
    rng = np.random.default_rng(7)
    past = rng.poisson(rng.choice([0.5, 4, 60, 3000], size=(300, 1)), size=(300, 6)).astype(float)
    past[rng.random(past.shape) < 0.2] = np.nan
    y = rng.poisson(np.nan_to_num(np.nanmean(past, axis=1)) * rng.choice([0.3, 1, 3], 300)).astype(float)
    y[:3], past[:3] = 2.0**28, 2.0**28  # counts too large for the shared key: computed one by one, alike
    together = conditional_poisson(y, past, dispersion(past))
    alone = [conditional_poisson(y[i : i + 1], past[i : i + 1], dispersion(past[i : i + 1]))[0] for i in range(300)]
    assert together.tolist() == alone
    twice = conditional_poisson(np.concatenate([y, y]), np.vstack([past, past]), np.tile(dispersion(past), 2))
    assert twice.tolist() == alone + alone
