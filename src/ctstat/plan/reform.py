"""Across the 1 July 2025 reform: a new unit's figures before it existed, from the old communes mapped into it.

Exact, or nothing: a new commune's earlier value is the sum of the old communes that went into it only when each
of them went in whole (`old_split = 0` in the crosswalk) and each of them is held for that period and cell. Where
one was divided between new communes its counts cannot be shared out from aggregate data, so the new commune has
"no comparable history" before the reform; ctstat never invents a share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

Targets = Mapping[str, Sequence[tuple[str, bool]]]  #: old unit -> [(new unit, the old unit was split)]


def sources_of(targets: Targets, new_units: Iterable[str]) -> dict[str, list[tuple[str, bool]]]:
    """New unit -> [(old unit mapped into it, that old unit was split)]."""
    wanted = set(new_units)
    out: dict[str, list[tuple[str, bool]]] = {u: [] for u in wanted}
    for old, pairs in targets.items():
        for new, split in pairs:
            if new in wanted:
                out[new].append((old, split))
    return out


def no_history(targets: Targets, new_units: Iterable[str]) -> set[str]:
    """The new units with no comparable history before the reform: an old unit mapped into them was split, or
    none was (what `restate` says of them, without any data)."""
    return _without_history(sources_of(targets, new_units))


def _without_history(sources: Mapping[str, Sequence[tuple[str, bool]]]) -> set[str]:
    return {new for new, src in sources.items() if not src or any(split for _, split in src)}


def restate(old: pd.DataFrame, targets: Targets, new_units: Iterable[str]) -> tuple[pd.DataFrame, set[str]]:
    """`old` (unit, period, cell, value; old units) restated on `new_units`: each new unit's sum of its sources,
    for the periods and cells where every source is held. Returns (unit, period, cell, value) and the new units
    with no comparable history (a source was split, or nothing maps into them)."""
    sources = sources_of(targets, new_units)
    none = _without_history(sources)
    into = {old_unit: new for new, src in sources.items() if new not in none for old_unit, _ in src}
    if not into or old.empty:
        return pd.DataFrame(columns=["unit", "period", "cell", "value"]), none
    news = pd.Index(sorted(set(into.values())))
    need = np.bincount(news.get_indexer(pd.Index(list(into.values()), dtype=object)), minlength=len(news))
    unit, period, cell = (old[c].astype("category").cat for c in ("unit", "period", "cell"))
    mapped = pd.Index([into.get(str(u)) for u in unit.categories], dtype=object)
    target = np.append(news.get_indexer(mapped), -1)[unit.codes]
    keep = target >= 0  # old units mapped whole into a new unit asked for (each counted once: history keys are unique)
    sizes = (len(news), len(period.categories), len(cell.categories))
    key = (target[keep] * sizes[1] + period.codes[keep]) * sizes[2] + cell.codes[keep]
    groups, inverse = np.unique(key, return_inverse=True)  # the (new unit, period, cell) held, in that order
    held = np.bincount(inverse, minlength=len(groups))
    value = np.bincount(inverse, weights=np.nan_to_num(old["value"].to_numpy(dtype=float)[keep]), minlength=len(groups))
    n, rest = np.divmod(groups, sizes[1] * sizes[2])
    exact = held == need[n]  # every old unit that went into it is held for that period and cell
    p, c = np.divmod(rest[exact], sizes[2])
    frame = pd.DataFrame(
        {
            "unit": pd.Categorical.from_codes(n[exact], news),
            "period": pd.Categorical.from_codes(p, period.categories),
            "cell": pd.Categorical.from_codes(c, cell.categories),
            "value": value[exact],
        }
    )
    return frame, none
