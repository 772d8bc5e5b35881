"""Across the 1 July 2025 reform: a new unit's figures before it existed, from the old communes mapped into it.

Exact, or nothing: a new commune's earlier value is the sum of the old communes that went into it only when each
of them went in whole (`old_split = 0` in the crosswalk) and each of them is held for that period and cell. Where
one was divided between new communes its counts cannot be shared out from aggregate data, so the new commune has
"no comparable history" before the reform; ctstat never invents a share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

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
    rows = [(old_unit, new) for new, src in sources.items() if new not in none for old_unit, _ in src]
    if not rows or old.empty:
        return pd.DataFrame(columns=["unit", "period", "cell", "value"]), none
    link = pd.DataFrame(rows, columns=["old", "new"])
    need = link.groupby("new").size().rename("need")
    joined = old.merge(link, left_on="unit", right_on="old")
    sums = joined.groupby(["new", "period", "cell"]).agg(value=("value", "sum"), held=("old", "nunique"))
    sums = sums.join(need, on="new")
    exact = sums[sums["held"] == sums["need"]].reset_index()
    return exact.rename(columns={"new": "unit"})[["unit", "period", "cell", "value"]], none
