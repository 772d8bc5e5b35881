"""How two values are compared, the one place: exact on whole numbers, tolerant of binary rounding where a value has
a fraction (1.158 + 2 is not exactly 3.158). The schemas, the pandera checks, the per-file checks and the synthetic
generator all compare through here."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

#: two values within this fraction of the larger (and at least of 1) are equal
RELATIVE = 1e-9


def tolerance(*sides: Any) -> Any:
    """How far apart two values may be and still be equal: 0 in effect for whole numbers (they differ by at least
    1), a rounding error's worth for numbers with fractions (1.158 + 2 is not exactly 3.158 in binary)."""
    scale: Any = 1.0
    for side in sides:
        scale = np.maximum(scale, np.abs(side))
    return RELATIVE * scale


_OPS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "<=": lambda left, right, tol: left <= right + tol,
    ">=": lambda left, right, tol: left >= right - tol,
    "==": lambda left, right, tol: abs(left - right) <= tol,
    "<": lambda left, right, tol: left < right - tol,
    ">": lambda left, right, tol: left > right + tol,
    "requires": lambda left, right, tol: (left <= 0) | (right > 0),  # a blank side is judged apart (compare)
}


def compare(op: str, left: Any, right: Any) -> Any:
    """True where the rule `left op right` holds or a side is missing (a missing value is reported on its own):
    exact on whole numbers, tolerant of rounding where a value has a fraction. Series or numbers."""
    ok = _OPS[op](left, right, tolerance(left, right))
    return ok | pd.isna(left) | pd.isna(right)


def holds(op: str, left: float, right: float) -> bool:
    """`compare` for one pair of numbers (in plain Python: the synthetic generator checks thousands a second)."""
    if math.isnan(left) or math.isnan(right):
        return True
    return bool(_OPS[op](left, right, RELATIVE * max(1.0, abs(left), abs(right))))
