"""ctstat's checks, registered with pandera so that its schemas round-trip through pandera's YAML.

Importing this module registers them (`import ctstat.pandera_checks` before `DataFrameSchema.from_yaml`). Each is
a frame check over many cells at once (all of an element's cells, a layer of its breakdowns, every pair of cells a
rule compares), vectorised with numpy: pandera's cost is per check, so few checks keep a batch cheap. A check
answers with a boolean frame of the input's shape, False only at the cells a fault is reported at, so pandera's
failure cases hold, for each failing row, those cells and their values.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import numpy as np
import pandas as pd

# pandera asks of a dtype it cannot name at once (once a schema is validated) whether it is geopandas', by
# importing geopandas: a failed import is not remembered, so without geopandas each call searched every folder of
# sys.path again (a tenth of a portal's batch). Not installed: its import fails at once.
if importlib.util.find_spec("geopandas") is None:
    sys.modules.setdefault("geopandas", None)  # type: ignore[arg-type]

import pandera.pandas as pa  # noqa: E402
from pandera import extensions  # noqa: E402
from pandera.api.base.checks import CheckResult  # noqa: E402
from pandera.backends.pandas.checks import PandasCheckBackend  # noqa: E402

from ctstat.check.compare import compare, tolerance  # noqa: E402


def _registered(name: str) -> bool:
    return hasattr(extensions.Check, name)  # type: ignore[attr-defined]


def _where(df: pd.DataFrame, *groups: list[str]) -> list[list[int]]:
    """The positions of each group of cells among `df`'s columns (a KeyError names a cell the frame lacks)."""
    pos = {c: i for i, c in enumerate(df.columns)}
    return [[pos[c] for c in cells] for cells in groups]


def _answer(df: pd.DataFrame, cells: list[str], ok: np.ndarray) -> pd.DataFrame:
    """A boolean frame of `df`'s shape: `ok` (rows x len(cells)) at `cells`, True elsewhere."""
    out = np.ones(df.shape, dtype=bool)
    out[:, _where(df, cells)[0]] = ok
    return pd.DataFrame(out, index=df.index, columns=df.columns)


def _matrix(df: pd.DataFrame, *groups: list[str]) -> tuple[np.ndarray, list[list[int]]]:
    """The values of the cells in `groups`, as floats (only those: an analyst's frame has other columns too), and
    each group's positions in it."""
    wanted = list(dict.fromkeys(c for g in groups for c in g))
    at = {c: i for i, c in enumerate(wanted)}
    (cols,) = _where(df, wanted)
    # the whole frame as one float array (a view of ctstat's own frames), then numpy's indexing: pandas' own
    # column indexing costs more than the check itself
    try:
        x = df.to_numpy(dtype=float)[:, cols]
    except (TypeError, ValueError):  # a frame with text columns beside the cells (an analyst's own)
        x = df.iloc[:, cols].to_numpy(dtype=float)
    return x, [[at[c] for c in g] for g in groups]


def _values(df: pd.DataFrame, cells: list[str]) -> np.ndarray:
    return _matrix(df, cells)[0]


def ctstat_nonnegative(df: pd.DataFrame, *, cells: list[str]) -> pd.DataFrame:
    """Each of `cells` is >= 0 (or blank)."""
    return _answer(df, cells, ~(_values(df, cells) < 0))


def ctstat_whole(df: pd.DataFrame, *, cells: list[str]) -> pd.DataFrame:
    """Each of `cells` is a whole number (or blank)."""
    x = _values(df, cells)
    with np.errstate(invalid="ignore"):
        return _answer(df, cells, (np.fmod(x, 1) == 0) | np.isnan(x))


def ctstat_yesno(df: pd.DataFrame, *, cells: list[str]) -> pd.DataFrame:
    """Each of `cells` is 1 (yes) or 0 (no) (or blank)."""
    x = _values(df, cells)
    return _answer(df, cells, (x == 0) | (x == 1) | np.isnan(x))


def _parts(df: pd.DataFrame, totals: list[str], parts: list[list[str]]) -> tuple[Any, ...]:
    """The totals, the sums of their parts, where a part is blank (each rows x len(totals)), and each group of
    parts as columns of `x`, the values."""
    x, (at, *groups) = _matrix(df, totals, *parts)
    blank = np.isnan(x)
    filled = np.where(blank, 0.0, x)
    # plain sums, no matrix product: BLAS may start threads, and a reading worker forked after that can hang
    sums = np.column_stack([filled[:, g].sum(axis=1) for g in groups])
    any_blank = np.column_stack([blank[:, g].any(axis=1) for g in groups])
    return x[:, at], sums, any_blank, x, groups


def ctstat_sums(df: pd.DataFrame, *, totals: list[str], parts: list[list[str]]) -> pd.DataFrame:
    """Exclusive breakdowns: the parts `parts[j]` add up to `totals[j]` (where none is blank)."""
    total, sums, blank, _, _ = _parts(df, totals, parts)
    ok = np.abs(sums - total) <= tolerance(total, sums)
    return _answer(df, totals, ok | blank | np.isnan(total))


def ctstat_overlaps(df: pd.DataFrame, *, totals: list[str], parts: list[list[str]]) -> pd.DataFrame:
    """Overlapping breakdowns: `totals[j]` lies between the largest of `parts[j]` and their sum."""
    total, sums, blank, x, groups = _parts(df, totals, parts)
    largest = np.column_stack([x[:, g].max(axis=1) for g in groups])
    tol = tolerance(total, sums)
    with np.errstate(invalid="ignore"):
        ok = (total >= largest - tol) & (total <= sums + tol)
    return _answer(df, totals, ok | blank | np.isnan(total))


def ctstat_rule(
    df: pd.DataFrame,
    *,
    op: str,
    lhs: list[str],
    rhs: list[str] | float,
    rule: str = "",
    severity: str = "error",
) -> pd.DataFrame:
    """A catalogue rule, cell by cell: `lhs[j] op rhs[j]` (or each `lhs op` a number); `rule` is its code and
    `severity` whether ctstat reports a failure as an error or a warning."""
    sides: tuple[np.ndarray, np.ndarray | float]
    if isinstance(rhs, list):
        x, (left, right_) = _matrix(df, lhs, rhs)
        sides = (x[:, left], x[:, right_])
    else:
        sides = (_values(df, lhs), float(rhs))
    with np.errstate(invalid="ignore"):
        return _answer(df, lhs, compare(op, *sides))


_FRAME: dict[str, tuple[Any, list[str]]] = {
    "ctstat_nonnegative": (ctstat_nonnegative, ["cells"]),
    "ctstat_whole": (ctstat_whole, ["cells"]),
    "ctstat_yesno": (ctstat_yesno, ["cells"]),
    "ctstat_sums": (ctstat_sums, ["totals", "parts"]),
    "ctstat_overlaps": (ctstat_overlaps, ["totals", "parts"]),
    "ctstat_rule": (ctstat_rule, ["op", "lhs", "rhs", "rule", "severity"]),
}
for _name, (_fn, _stats) in _FRAME.items():
    if not _registered(_name):
        extensions.register_check_method(statistics=_stats, supported_types=pd.DataFrame)(_fn)


class _FastTableBackend(PandasCheckBackend):
    """pandera's own check backend, with the failure cases of a frame check found in one vectorised pass.

    pandera loops over every column of the frame for every frame check, failing or not (about 25 ms for a check
    over one element's cells, whatever the number of rows); this gives the same result (`index` -> {column:
    value} of the failing cells) from one boolean mask."""

    def postprocess_table(self, check_obj: pd.DataFrame, check_output: pd.DataFrame) -> CheckResult:
        assert check_obj.shape == check_output.shape
        ok = check_output.to_numpy(dtype=bool)
        if self.check.ignore_na:
            ok = ok | pd.isna(check_obj.to_numpy())
        out = pd.DataFrame(ok, index=check_output.index, columns=check_output.columns)
        if ok.all():
            return CheckResult(out, True, check_obj, None)
        rows, cols = np.nonzero(~ok)
        values = check_obj.to_numpy()
        cases: dict[Any, dict[str, Any]] = {}
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            value = values[r, c]
            cases.setdefault(check_obj.index[r], {})[str(check_obj.columns[c])] = (
                value.item() if isinstance(value, np.generic) else value
            )
        failures = pd.DataFrame({"failure_case": list(cases.values())}, index=pd.Index(list(cases), name="index"))
        return CheckResult(out, False, check_obj, failures)


class CtstatCheck(pa.Check):
    """The class of the checks ctstat builds: pandera's `Check`, run by `_FastTableBackend` on frames. Loaded
    back from YAML they are plain `Check`s (same checks, pandera's own backend)."""


CtstatCheck.register_backend(pd.DataFrame, _FastTableBackend)


def ctstat_check(name: str, **stats: Any) -> pa.Check:
    """One of ctstat's registered checks, as a `CtstatCheck` (what `pa.Check.<name>(**stats)` gives, run faster)."""
    method = getattr(pa.Check.REGISTERED_CUSTOM_CHECKS[name], "func")  # noqa: B009 - a partial's function
    return method(CtstatCheck, **stats)  # type: ignore[no-any-return]
