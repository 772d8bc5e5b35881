"""The exact conditional Poisson test of one count against the same unit's earlier comparable counts.

If a cell's rate did not change, then given n = y + x₁ + … + x_k (this period and k earlier ones), the count of
this period y follows Binomial(n, 1/(k+1)). The two-sided p-value sums the probabilities of every outcome no more
likely than y (the "minlike" rule of scipy's binomtest, as statsmodels' `test_poisson_2indep(method="exact-cond")`
uses it). Vectorised over cells with numpy only: the binomial tails come from the regularised incomplete beta
function (a continued fraction, evaluated for every cell at once), the far side of the two-sided sum from a
bisection on the log-probability.

Large counts vary more than a Poisson count does (a ward's child population is not a Poisson draw), so for a
history whose mean is at least `DISPERSION_FROM` a quasi-Poisson factor φ = max(1, variance / mean) of the earlier
counts divides every count before the test (effective counts, rounded): the test then asks whether the change is
large against how much this very cell has moved before.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

DISPERSION_FROM = 20.0  #: the mean of the earlier counts from which over-dispersion is allowed for
_EPS = 1e-14
_TINY = 1e-300
_MAXIT = 2000
_RELATIVE = 1 + 1e-7  #: scipy's tolerance for "as likely as the observed outcome"
_lgamma = np.frompyfunc(math.lgamma, 1, 1)
_TABLE = 1 << 22  #: log Γ of the integers up to here comes from a table (log (m - 1)! as a running sum of logs)
_log_factorials: Floats | None = None
_KEYED = 1 << 27  #: counts below this are deduplicated through one integer key (n, y, k)


def lgamma(x: npt.ArrayLike) -> Floats:
    """log Γ(x), element by element: the arguments here are whole numbers, looked up in a table; any other
    value (or one past the table) computed by math.lgamma."""
    global _log_factorials
    x = np.asarray(x, dtype=float)
    top = min(_TABLE, int(np.nanmax(x, initial=1.0)) if np.isfinite(np.nanmax(x, initial=1.0)) else _TABLE)
    if _log_factorials is None or len(_log_factorials) <= top:  # grown as needed (a running sum: same values)
        size = min(_TABLE, 1 << max(16, top.bit_length()))
        _log_factorials = np.concatenate(([np.inf, 0.0], np.cumsum(np.log(np.arange(1, size, dtype=float)))))
    whole = (x == np.floor(x)) & (x >= 1) & (x < len(_log_factorials))
    if whole.all():
        return _log_factorials[x.astype(np.int64)]
    out = np.asarray(_lgamma(x), dtype=float)
    out[whole] = _log_factorials[x[whole].astype(np.int64)]
    return out


def log_pmf(k: Floats, n: Floats, p: Floats) -> Floats:
    """log P(Y = k) for Y ~ Binomial(n, p), 0 < p < 1."""
    return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) + k * np.log(p) + (n - k) * np.log1p(-p)


def _betacf(a: Floats, b: Floats, x: Floats) -> Floats:
    """The continued fraction of the incomplete beta function (modified Lentz), for every element at once. An
    element's value is taken at the step its own fraction converges, so each value depends on its own arguments
    only, whatever else is computed with it. The elements still converging are gathered again only when a
    quarter of those in work have converged (a gather costs more than a step)."""
    qab, qap, qam = a + b, a + 1, a - 1
    d = 1 - qab * x / qap
    d = 1 / np.where(np.abs(d) < _TINY, _TINY, d)
    out = d.copy()  # an element that never converges keeps its last value, as before
    idx = np.arange(len(x))
    w = [a, b, x, qab, qap, qam, np.ones_like(x), d, d.copy()]  # a, b, x, qab, qap, qam, c, d, h of `idx`
    open_ = np.ones(len(x), dtype=bool)  # of `idx`: not converged yet
    with np.errstate(all="ignore"):  # converged elements still in work may overflow: their values are kept
        for m in range(1, _MAXIT + 1):
            al, bl, xl, qb, qp, qm, cl, dl, hl = w
            m2 = 2 * m
            step = np.ones_like(xl)
            for aa in (
                m * (bl - m) * xl / ((qm + m2) * (al + m2)),
                -(al + m) * (qb + m) * xl / ((al + m2) * (qp + m2)),
            ):
                dl = 1 + aa * dl
                dl = 1 / np.where(np.abs(dl) < _TINY, _TINY, dl)
                cl = 1 + aa / cl
                cl = np.where(np.abs(cl) < _TINY, _TINY, cl)
                step = dl * cl
                hl = hl * step
            w[6:] = [cl, dl, hl]
            done = open_ & (np.abs(step - 1) < _EPS)
            out[idx[done]] = hl[done]
            open_ &= ~done
            if m == _MAXIT:
                out[idx[open_]] = hl[open_]
            if not open_.any():
                break
            if open_.sum() * 4 < len(open_) * 3:
                idx, w, open_ = idx[open_], [v[open_] for v in w], open_[open_]
    return out


def betainc(a: Floats, b: Floats, x: Floats) -> Floats:
    """The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, x)))
    out = np.where(x <= 0, 0.0, 1.0)
    inner = (x > 0) & (x < 1)
    if not inner.any():
        return out
    a, b, x = a[inner], b[inner], x[inner]
    front = np.exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * np.log(x) + b * np.log1p(-x))
    direct = x < (a + 1) / (a + b + 2)
    value = np.empty_like(x)
    if direct.any():
        value[direct] = front[direct] * _betacf(a[direct], b[direct], x[direct]) / a[direct]
    flip = ~direct
    if flip.any():
        value[flip] = 1 - front[flip] * _betacf(b[flip], a[flip], 1 - x[flip]) / b[flip]
    out[inner] = np.clip(value, 0.0, 1.0)
    return out


def binom_cdf(k: Floats, n: Floats, p: Floats) -> Floats:
    """P(Y ≤ k) for Y ~ Binomial(n, p), integer k and n."""
    k, n, p = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, n, p)))
    out = np.where(k < 0, 0.0, 1.0)
    mid = (k >= 0) & (k < n)
    out[mid] = betainc(n[mid] - k[mid], k[mid] + 1, 1 - p[mid])
    return out


def binom_sf(k: Floats, n: Floats, p: Floats) -> Floats:
    """P(Y ≥ k) for Y ~ Binomial(n, p), integer k and n."""
    k, n, p = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, n, p)))
    out = np.where(k <= 0, 1.0, 0.0)
    mid = (k > 0) & (k <= n)
    out[mid] = betainc(k[mid], n[mid] - k[mid] + 1, p[mid])
    return out


def binom_two_sided(y: Floats, n: Floats, p: Floats) -> Floats:
    """Two-sided exact binomial p-values ("minlike"): the probability of every outcome no more likely than y."""
    y, n, p = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (y, n, p)))
    y, n, p = y.copy(), n.copy(), p.copy()
    out = np.ones_like(y)
    live = (n > 0) & (p > 0) & (p < 1)  # nothing to compare with (k = 0): p = 1
    if not live.any():
        return out
    y, n, p = y[live], n[live], p[live]
    d = log_pmf(y, n, p) + math.log(_RELATIVE)
    mode = np.floor((n + 1) * p)
    low = y < mode  # the observed count is in the lower tail: find where the upper tail starts
    # bisection on the far side of the mode, where the probabilities fall away from it: below y's side the first
    # outcome at least as unlikely as y (upper tail start), above it the last one (lower tail end)
    lo = np.where(low, mode - 1, -1.0)
    hi = np.where(low, n + 1, mode + 1)
    for _ in range(80):
        todo = np.flatnonzero(hi - lo > 1)  # only the rows still open are evaluated
        if not len(todo):
            break
        mid = np.floor((lo[todo] + hi[todo]) / 2)
        unlikely = log_pmf(np.clip(mid, 0, n[todo]), n[todo], p[todo]) <= d[todo]
        move_hi = unlikely == low[todo]  # low: an unlikely mid bounds the tail start from above
        hi[todo] = np.where(move_hi, mid, hi[todo])
        lo[todo] = np.where(move_hi, lo[todo], mid)
    lower = binom_cdf(np.where(low, y, lo), n, p)
    upper = binom_sf(np.where(low, hi, y), n, p)
    out[live] = np.where(y == mode, 1.0, np.minimum(1.0, lower + upper))
    return out


def dispersion(past: Floats) -> Floats:
    """The quasi-Poisson factor of each row of earlier counts (NaN: no value): variance / mean, at least 1, and
    exactly 1 below a mean of `DISPERSION_FROM` or with fewer than 3 values."""
    held = ~np.isnan(past)
    k = np.sum(held, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(k > 0, np.sum(np.where(held, past, 0.0), axis=1) / np.maximum(k, 1), 0.0)
        phi = np.ones(len(past))
        big = (k >= 3) & (mean >= DISPERSION_FROM)  # only these are computed (few, in a batch of small counts)
        if big.any():
            dev = np.where(held[big], past[big] - mean[big, None], 0.0)
            var = np.sum(dev * dev, axis=1) / (k[big] - 1)
            phi[big] = np.maximum(1.0, var / mean[big])
    return np.nan_to_num(phi, nan=1.0)


def conditional_poisson(y: Floats, past: Floats, phi: Floats | None = None) -> Floats:
    """The two-sided p-value of each count `y` against its row of earlier counts `past` (NaN: a period without a
    value, not counted), under a constant rate, counts divided by the over-dispersion factor `phi` first."""
    y = np.asarray(y, dtype=float)
    if not len(y):
        return np.ones(0)
    past = np.asarray(past, dtype=float).reshape(len(y), -1)
    k = np.sum(~np.isnan(past), axis=1)
    phi = np.ones_like(y) if phi is None else np.asarray(phi, dtype=float)
    y_eff = np.rint(y / phi)
    x_eff = np.rint(np.nansum(past, axis=1) / phi)
    # a batch is mostly small counts: the same (y, n, k) many times over, each computed once
    n = y_eff + x_eff
    if not (np.isfinite(n).all() and n.max() < _KEYED and y_eff.min() >= 0 and k.max() < 64):
        return binom_two_sided(y_eff, n, 1 / (k + 1.0))
    key = (n.astype(np.int64) * _KEYED + y_eff.astype(np.int64)) * 64 + k
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return binom_two_sided(y_eff[first], n[first], 1 / (k[first] + 1.0))[inverse.reshape(-1)]
