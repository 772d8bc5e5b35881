"""ctstat's checks, registered with pandera so that its schemas round-trip through pandera's YAML.

Importing this module registers them (`import ctstat.pandera_checks` before `DataFrameSchema.from_yaml`). Frame
checks answer with a boolean frame of the input's shape, False only at the cell the fault is reported at, so
pandera's failure cases hold one row per real failure, naming that cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import extensions
from pandera.api.base.checks import CheckResult
from pandera.backends.pandas.checks import PandasCheckBackend

from ctstat.schema import compare, tolerance


def _at(df: pd.DataFrame, column: str, ok: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame(True, index=df.index, columns=df.columns)
    out[column] = ok
    return out


def _registered(name: str) -> bool:
    return hasattr(extensions.Check, name)  # type: ignore[attr-defined]


def ctstat_sum(df: pd.DataFrame, *, total: str, parts: list[str]) -> pd.DataFrame:
    """An exclusive breakdown: the parts add up to the total (where none is blank)."""
    p = df[list(parts)]
    total_, sum_ = df[total], p.sum(axis=1)
    ok = (sum_ - total_).abs() <= tolerance(total_, sum_)
    return _at(df, total, ok | p.isna().any(axis=1) | total_.isna())


def ctstat_overlap(df: pd.DataFrame, *, total: str, parts: list[str]) -> pd.DataFrame:
    """An overlapping breakdown: the total lies between the largest part and the sum of the parts."""
    p = df[list(parts)]
    total_, sum_ = df[total], p.sum(axis=1)
    tol = tolerance(total_, sum_)
    ok = (total_ >= p.max(axis=1) - tol) & (total_ <= sum_ + tol)
    return _at(df, total, ok | p.isna().any(axis=1) | total_.isna())


def ctstat_rule(
    df: pd.DataFrame, *, op: str, lhs: str, rhs: str | float, rule: str = "", severity: str = "error"
) -> pd.DataFrame:
    """A catalogue rule on one pair of cells (or a cell and a number): `lhs op rhs`; `rule` is its code and
    `severity` whether ctstat reports a failure as an error or a warning."""
    right = df[rhs] if isinstance(rhs, str) else float(rhs)
    return _at(df, lhs, compare(op, df[lhs], right))


def ctstat_integer(s: pd.Series) -> pd.Series:
    """A whole number (or blank)."""
    return (s % 1 == 0) | s.isna()


_FRAME: dict[str, tuple[Any, list[str]]] = {
    "ctstat_sum": (ctstat_sum, ["total", "parts"]),
    "ctstat_overlap": (ctstat_overlap, ["total", "parts"]),
    "ctstat_rule": (ctstat_rule, ["op", "lhs", "rhs", "rule", "severity"]),
}
for _name, (_fn, _stats) in _FRAME.items():
    if not _registered(_name):
        extensions.register_check_method(statistics=_stats, supported_types=pd.DataFrame)(_fn)
if not _registered("ctstat_integer"):
    extensions.register_check_method(statistics=[], supported_types=pd.Series)(ctstat_integer)


class _FastTableBackend(PandasCheckBackend):
    """pandera's own check backend, with the failure cases of a frame check found in one vectorised pass.

    pandera loops over every column of the frame for every frame check, failing or not (about 25 ms for a check
    over one element's cells, whatever the number of rows); this gives the same result (`index` -> {column:
    value} of the failing cells) from one boolean mask."""

    def postprocess_table(self, check_obj: pd.DataFrame, check_output: pd.DataFrame) -> CheckResult:
        assert check_obj.shape == check_output.shape
        ok = check_output.to_numpy(dtype=bool)
        if self.check.ignore_na:
            ok = ok | check_obj.isna().to_numpy()
        out = pd.DataFrame(ok, index=check_output.index, columns=check_output.columns)
        if ok.all():
            return CheckResult(out, True, check_obj, None)
        rows, cols = np.nonzero(~ok)
        values = check_obj.to_numpy()
        cases: dict[Any, dict[str, Any]] = {}
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            cases.setdefault(check_obj.index[r], {})[str(check_obj.columns[c])] = values[r, c]
        failures = pd.DataFrame({"failure_case": list(cases.values())}, index=pd.Index(list(cases), name="index"))
        return CheckResult(out, False, check_obj, failures)


class CtstatCheck(pa.Check):
    """The class of the checks ctstat builds: pandera's `Check`, run by `_FastTableBackend` on frames. Loaded
    back from YAML they are plain `Check`s (same checks, pandera's own backend)."""


CtstatCheck.register_backend(pd.DataFrame, _FastTableBackend)
CtstatCheck.register_backend(pd.Series, PandasCheckBackend)


def ctstat_check(name: str, **stats: Any) -> pa.Check:
    """One of ctstat's registered checks, as a `CtstatCheck` (what `pa.Check.<name>(**stats)` gives, run faster)."""
    method = getattr(pa.Check.REGISTERED_CUSTOM_CHECKS[name], "func")  # noqa: B009 - a partial's function
    return method(CtstatCheck, **stats)  # type: ignore[no-any-return]
