"""Roll ward values up the unit hierarchy (pure pandas, no I/O): counts are summed, rates recomputed."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ctstat.model.catalogue import Catalogue, Indicator
from ctstat.model.keys import TOTAL, cell_key


def sum_by(values: pd.DataFrame, parent_of: Mapping[str, str]) -> pd.DataFrame:
    """Sum ward rows (index: unit code) into their parents. A unit with no ward stays out (it has no data)."""
    groups = values.index.map(lambda u: parent_of[u])
    return values.groupby(groups, sort=True).sum()


def indicator_parts(catalogue: Catalogue, values: pd.DataFrame, n_units: pd.Series) -> dict[str, pd.DataFrame]:
    """For each indicator: a frame (index: unit) with value, numerator, denominator.

    `values` holds the (summed) cells of each unit; `n_units` how many communes each unit's values come from.
    A rate is numerator / denominator x factor of the *summed* parts, never an average of rates; a rate with a
    zero denominator has no value (NaN), not 0.
    """
    out: dict[str, pd.DataFrame] = {}
    for ind in catalogue.indicators:
        out[ind.id] = _indicator(ind, values, n_units)
    return out


def _total(values: pd.DataFrame, element: str) -> pd.Series:
    return values[cell_key(element, TOTAL, TOTAL)]


def _indicator(ind: Indicator, values: pd.DataFrame, n_units: pd.Series) -> pd.DataFrame:
    if ind.kind == "count":
        assert ind.element is not None
        v = _total(values, ind.element)
        return pd.DataFrame({"value": v, "numerator": v, "denominator": np.nan})
    assert ind.numerator is not None and ind.denominator is not None
    num = _total(values, ind.numerator)
    den = (
        n_units.reindex(values.index).astype(float) if ind.denominator == "_units" else _total(values, ind.denominator)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (num / den.where(den != 0)) * ind.factor
    return pd.DataFrame({"value": rate, "numerator": num, "denominator": den})
