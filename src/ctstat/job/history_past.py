"""The earlier cells a period is compared with, read from the history: each kind's comparable periods, and across
the 2025 reform the old communes' cells restated on the new ones (`plan.reform`). Shared by the comparison
(`job.compare`) and the history's summary (`job.history_summary`), which are made from the same cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from ctstat.job.history import History
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import element_of
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.units import load_crosswalk
from ctstat.plan.compare import LOOK_BACK, comparable_periods
from ctstat.plan.reform import restate

REFORM = ("2025-06-30", "2025-07-01")  #: (old list, new list) of the crosswalk


def kinds_of(catalogue: Catalogue) -> dict[str, str]:
    """Cell -> stock or flow, for the cells holding counts (money and yes/no are not tested)."""
    return {
        key: catalogue.elements[element_of(key)].over_time
        for key in form_layout(catalogue).keys
        if catalogue.elements[element_of(key)].type == "count"
    }


def labels_read(period: Period, kind: str) -> list[str]:
    """The periods read for `kind` (the comparable ones looked at, and the halves a year is built from)."""
    labels = comparable_periods(period, kind)[-LOOK_BACK:]
    years = {lb for lb in labels if "-" not in lb}
    return sorted(set(labels) | {f"{y}-H{h}" for y in years for h in (1, 2)})


def past_cells(
    history: History, vintage: str, period: Period, units: list[str] | None, kinds: dict[str, str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The earlier cells of `units` (None: every unit) under `vintage` (of the cells in `kinds`, each kind's
    periods only); for the new units of the reform, also their old communes' cells restated on them (exactly, or
    not at all). Returns (unit, period, cell, value) and the units with no comparable history before the reform."""
    parts, none = [], set()
    every = sorted({lb for kind in ("stock", "flow") for lb in labels_read(period, kind)})
    read = history.cells_of(vintage, every, units, None if kinds is None else list(kinds))  # each file read once
    for kind in ("stock", "flow"):
        cells = None if kinds is None else [c for c, k in kinds.items() if k == kind]
        labels = labels_read(period, kind)
        parts.append(_pick(read, labels, cells))
        if vintage == REFORM[1]:
            crosswalk = load_crosswalk()
            wanted = set(units) if units is not None else {new for pairs in crosswalk.values() for new, _ in pairs}
            olds = sorted({old for old, pairs in crosswalk.items() if any(new in wanted for new, _ in pairs)})
            restated, missing = restate(history.cells_of(REFORM[0], labels, olds, cells), crosswalk, wanted)
            parts.append(restated)
            none |= missing
    both = concat_long(parts)
    if vintage == REFORM[1]:  # a new unit held under its own list wins over its restated old communes
        both = both.drop_duplicates(["unit", "period", "cell"], keep="first")
    return both, sorted(none)


def _pick(frame: pd.DataFrame, periods: list[str], cells: list[str] | None) -> pd.DataFrame:
    """The rows of `periods` (and `cells`, when given) of a frame read by `History.cells_of`, by their codes."""
    keep = np.ones(len(frame), dtype=bool)
    for column, wanted in (("period", periods), ("cell", cells)):
        if wanted is not None and len(frame):
            codes = frame[column].astype("category").cat
            keep &= np.append(codes.categories.isin(wanted), False)[codes.codes.to_numpy()]
    return frame[keep].reset_index(drop=True)


def concat_long(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Long frames one after another, their text columns kept as categories (millions of rows nationally)."""
    parts = [p for p in parts if len(p)]
    if len(parts) <= 1:
        return parts[0] if parts else pd.DataFrame(columns=["unit", "period", "cell", "value"])
    out = {
        col: pd.Series(union_categoricals([p[col].astype("category") for p in parts], ignore_order=True))
        for col in ("unit", "period", "cell")
    }
    return pd.DataFrame({**out, "value": np.concatenate([p["value"].to_numpy(dtype=float) for p in parts])})
