"""The rollup's pure steps pinned to exact values (found by mutating plan/ by hand: these bugs went through the
rest of the suite)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from ctstat.model.report import Claim
from ctstat.model.units import load_crosswalk, load_units
from ctstat.plan.reform_year import Lists, Slot, year_by_new_units


def test_a_new_communes_year_is_received_when_its_last_part_was() -> None:
    """00808 (new) is the whole old communes 00808 and 00811: its year is composed from its H2 and both H1 forms,
    so it was received when the last of the three arrived (a late H1 part makes the year late), and its flows are
    H1 + H2, its stocks H2."""
    lists = Lists(load_units("2025-06-30"), load_units("2025-07-01"), load_crosswalk())
    assert sorted(o for o, targets in lists.targets.items() for n, _ in targets if n == "00808") == ["00808", "00811"]
    cells = ["flow", "stock"]
    flows = pd.Series([True, False], index=cells)

    def slot(values: dict[str, tuple[float, float]], when: dict[str, datetime]) -> Slot:
        return Slot(
            {u: [Claim(u, f"{u}.xlsx", True, "", when[u])] for u in values},
            {u: pd.Series(v, index=cells) for u, v in values.items()},
        )

    h1 = slot(
        {"00808": (1.0, 10.0), "00811": (2.0, 20.0)}, {"00808": datetime(2025, 7, 2), "00811": datetime(2025, 8, 9)}
    )
    h2 = slot({"00808": (4.0, 40.0)}, {"00808": datetime(2026, 1, 3)})
    year = year_by_new_units(h1, h2, Slot(), flows, lists)
    (claim,) = year.claims["00808"]
    assert (claim.valid, claim.path, claim.received_at) == (True, "00808.xlsx", datetime(2026, 1, 3))
    assert year.values["00808"].to_dict() == {"flow": 7.0, "stock": 40.0}
    assert year.feeds == {"00808.xlsx": ("00808",), "00811.xlsx": ("00808",)}
    late = slot(
        {"00808": (1.0, 10.0), "00811": (2.0, 20.0)}, {"00808": datetime(2025, 7, 2), "00811": datetime(2026, 2, 1)}
    )
    (claim,) = year_by_new_units(late, h2, Slot(), flows, lists).claims["00808"]
    assert claim.received_at == datetime(2026, 2, 1)
    assert not np.isnan(year.values["00808"]).any()


def test_a_district_whose_count_falls_to_zero_is_flagged_at_every_level() -> None:
    """Every commune of Hoàng Mai (008) had 8 to 12 children abused each half-year for eight years and reports 0
    now: the drop to nothing is flagged at each commune (the exact test), at the district (-100 %, the ratio check
    flags a zero sum as it flags any) and at the province, by the dense summary as by the full comparison."""
    from ctstat.plan.compare import compare
    from ctstat.plan.dense import judge_batch, summary_of

    from .test_dense import KINDS, PARENT_OF, PERIOD, UNITS

    hoang_mai = [u for u in UNITS if PARENT_OF["district"][u] == "008"]
    rows = [
        (u, f"{year}-H{half}", cell, 8.0 + (year + half + n) % 5)
        for n, u in enumerate(hoang_mai)
        for year in range(2017, 2025)
        for half in (1, 2)
        for cell in KINDS
    ]
    past = pd.DataFrame(rows, columns=["unit", "period", "cell", "value"])
    current = pd.DataFrame([(u, c, 0.0) for u in hoang_mai for c in KINDS], columns=["unit", "cell", "value"])
    parents = {lv: {u: of[u] for u in hoang_mai} for lv, of in PARENT_OF.items()}
    values = np.zeros((len(hoang_mai), len(KINDS)))
    fast, _ = judge_batch(summary_of(past, PERIOD, KINDS, PARENT_OF), hoang_mai, values, parents)
    full = compare(current, past, PERIOD, KINDS, parents)
    flagged = full[full["flagged"].astype(bool)]
    for found in (fast, flagged):
        at = {(str(r.level), str(r.unit)) for r in found.itertuples() if str(r.cell) == "XH01/*/*"}
        assert at == {("district", "008"), ("province", "01")} | {("commune", u) for u in hoang_mai}
        ratios = {str(r.unit): r.ratio for r in found.itertuples() if str(r.level) != "commune"}
        assert ratios == {"008": -1.0, "01": -1.0}


def test_a_rate_over_a_zero_denominator_has_no_value() -> None:
    """A unit whose denominator sums to 0 has no rate (NaN: shown as no value), never an infinite one, even where
    its numerator does not (no rule ties HC01 to TE01); the others' rates are their summed parts' ratio."""
    from ctstat.model.catalogue import load_catalogue
    from ctstat.model.keys import TOTAL, cell_key
    from ctstat.model.layout import form_layout
    from ctstat.plan.sums import indicator_parts, sum_by

    from .conftest import ROOT

    catalogue = load_catalogue(ROOT / "indicators")
    keys = list(form_layout(catalogue).keys)
    wards = pd.DataFrame(0.0, index=["00301", "00304", "00307"], columns=keys)
    special, population = cell_key("HC01", TOTAL, TOTAL), cell_key("TE01", TOTAL, TOTAL)
    wards.loc[:, special] = [3.0, 2.0, 1.0]
    wards.loc[:, population] = [0.0, 100.0, 300.0]
    parts = indicator_parts(catalogue, wards, pd.Series(1, index=wards.index))["protection.special-circumstances-rate"]
    assert np.isnan(parts.loc["00301", "value"]) and parts.loc["00301", "denominator"] == 0.0
    assert parts.loc["00304", "value"] == 2.0 and parts.loc["00307", "value"] == 1 / 300 * 100
    district = sum_by(wards, {"00301": "008", "00304": "008", "00307": "008"})
    summed = indicator_parts(catalogue, district, pd.Series(3, index=["008"]))["protection.special-circumstances-rate"]
    assert summed.loc["008"].tolist() == [100 * 6 / 400, 6.0, 400.0]
