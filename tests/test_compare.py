"""Unusual changes (issue 24): the examples of the issue, comparable periods for stocks and flows, district and
province sums like with like, and history across the 2025 reform (exact or none)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctstat.job.compare import compare_period, comparison_dict, issues
from ctstat.job.history import COLUMNS, History, Source
from ctstat.job.history_past import past_cells
from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period
from ctstat.model.units import load_crosswalk, load_units
from ctstat.plan.compare import comparable_periods, compare, wide_history
from ctstat.plan.reform import restate

CELL = "X/*/*"


def _one(history: list[float], value: float, kind: str = "flow") -> dict[str, object]:
    past = pd.DataFrame(
        {"unit": "u", "period": [f"{2026 - len(history) + i}-H1" for i in range(len(history))], "cell": CELL}
    ).assign(value=history)
    current = pd.DataFrame({"unit": ["u"], "cell": [CELL], "value": [value]})
    (row,) = compare(current, past, Period.parse("2026-H1"), {CELL: kind}).to_dict("records")
    return row


def test_the_issue_s_examples() -> None:
    assert _one([1, 1, 2], 14)["flagged"]  # a jump from small counts
    assert not _one([0, 0, 0], 1)["flagged"]  # one case after none: noise
    assert _one([12, 10, 15], 0)["flagged"]  # a drop to 0 the history makes improbable
    assert not _one([1, 0, 1], 0)["flagged"]  # a 0 after small counts is not


def test_the_gates() -> None:
    assert not _one([1, 1], 14)["flagged"]  # fewer than 3 comparable periods
    assert not _one([0, 0, 0, 0, 0, 0], 2)["flagged"]  # below a count of 3, whatever p says
    row = _one([0, 0, 0, 0, 0, 0], 3)  # the note's table: all 0 then 3, six periods: flagged
    assert row["flagged"] and row["p"] < 0.01
    assert not _one([0, 0, 0], 3)["flagged"]  # three periods of 0 then 3: p = 0.016, not below 0.01
    assert not _one([12, 10, 15], 13)["flagged"]


def test_it_reads_at_most_six_periods_back_and_says_which() -> None:
    row = _one([50, 1, 1, 1, 1, 1, 2, 1], 14)
    assert row["periods"] == ("2020-H1", "2021-H1", "2022-H1", "2023-H1", "2024-H1", "2025-H1")
    assert row["k"] == 6 and row["flagged"]


def test_comparable_periods_of_stocks_and_flows() -> None:
    h2 = Period.parse("2025-H2")
    assert comparable_periods(h2, "flow")[-2:] == ["2023-H2", "2024-H2"]
    assert comparable_periods(h2, "stock")[-3:] == ["2024-H1", "2024-H2", "2025-H1"]  # H2 with H1 for stocks
    assert comparable_periods(Period.parse("2025-H1"), "stock")[-2:] == ["2024-H1", "2024-H2"]
    assert comparable_periods(Period.parse("2025"), "flow")[-1] == "2024"


def test_a_year_is_built_from_its_halves() -> None:
    past = pd.DataFrame(
        [("u", p, CELL, v) for p, v in (("2023-H1", 3), ("2023-H2", 4), ("2024-H1", 5), ("2024-H2", 6), ("2022", 9))],
        columns=["unit", "period", "cell", "value"],
    )
    rows = pd.DataFrame({"unit": ["u", "v"], "cell": [CELL, CELL]})
    flow = wide_history(past, ["2022", "2023", "2024"], "flow", rows)
    stock = wide_history(past, ["2022", "2023", "2024"], "stock", rows)
    assert flow[0].tolist() == [9, 7, 11]  # a year's flow is H1 + H2
    assert stock[0].tolist() == [9, 4, 6]  # a year's stock is its H2
    assert np.isnan(flow[1]).all()  # a unit the history does not hold
    half = wide_history(past[past["period"] != "2024-H2"], ["2024"], "flow", rows)
    assert np.isnan(half[0]).all()  # one half missing: no year


@pytest.fixture
def hoang_mai(tmp_path: Path) -> tuple[History, list[str]]:
    """Quận Hoàng Mai's communes with a child population of 4,000 in each of four earlier H1s."""
    h = History(tmp_path / "h")
    communes = [u.code for u in load_units("2025-06-30").children(load_units("2025-06-30").get("008", "district"))]  # type: ignore[arg-type]
    rows = [(u, "2025-06-30", f"{y}-H1", "TE01/*/*", 4000.0, "s") for u in communes for y in range(2021, 2025)]
    h.add(pd.DataFrame(rows, columns=COLUMNS), [Source("s", "table", "t")])
    return h, communes


def test_a_population_halved_is_flagged_at_district_level(hoang_mai, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    h, communes = hoang_mai
    current = pd.DataFrame({"unit": communes, "cell": "TE01/*/*", "value": 2000.0})
    found = compare_period(h, catalogue, Period.parse("2025-H1"), "2025-06-30", current)
    district = found.flagged[found.flagged["level"] == "district"].to_dict("records")
    assert [(r["unit"], r["cell"], r["test"]) for r in district] == [("008", "TE01/*/*", "ratio")]
    assert district[0]["ratio"] == pytest.approx(-0.5)
    assert set(found.flagged["level"]) == {"commune", "district", "province"}
    # a change within ±33 % is not flagged at district level
    steady = compare_period(h, catalogue, Period.parse("2025-H1"), "2025-06-30", current.assign(value=3400.0))
    assert "district" not in set(steady.flagged["level"])


def test_the_counts_alone_when_no_flagged_cell_is_asked_for(hoang_mai, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    """`validate --history` says "checked N, flagged M" only: `limit=0` lists no cell (it used to list them all)."""
    h, communes = hoang_mai
    current = pd.DataFrame({"unit": communes, "cell": "TE01/*/*", "value": 2000.0})
    found = compare_period(h, catalogue, Period.parse("2025-H1"), "2025-06-30", current)
    counts = comparison_dict(found, catalogue, "vi", 0)
    assert counts["flagged"] == len(found.flagged) > 0
    assert counts["unusual_changes"] == []
    assert len(comparison_dict(found, catalogue, "vi", 2)["unusual_changes"]) == 2
    assert len(comparison_dict(found, catalogue, "vi")["unusual_changes"]) == len(found.flagged)


def test_a_district_compares_like_with_like(hoang_mai, catalogue: Catalogue) -> None:  # type: ignore[no-untyped-def]
    h, communes = hoang_mai
    # only half the communes have reported so far: the district sum is theirs, then and now, so nothing is flagged
    current = pd.DataFrame({"unit": communes[:7], "cell": "TE01/*/*", "value": 4000.0})
    found = compare_period(h, catalogue, Period.parse("2025-H1"), "2025-06-30", current)
    assert found.flagged.empty
    district = found.findings[found.findings["level"] == "district"].to_dict("records")
    assert [(r["unit"], r["value"], r["k"], r["ratio"]) for r in district] == [("008", 28000.0, 4, 0.0)]


def _whole_and_split() -> tuple[str, list[str], str]:
    """A new commune made of whole old wards (with its wards), and one with a split ward."""
    sources: dict[str, list[tuple[str, bool]]] = {}
    for old, pairs in load_crosswalk().items():
        for new, split in pairs:
            sources.setdefault(new, []).append((old, split))
    whole = next(n for n, s in sorted(sources.items()) if len(s) >= 3 and not any(sp for _, sp in s))
    split = next(n for n, s in sorted(sources.items()) if any(sp for _, sp in s))
    return whole, [o for o, _ in sources[whole]], split


def test_across_the_reform_exact_from_whole_wards_none_from_a_split_one(tmp_path: Path, catalogue: Catalogue) -> None:
    whole, olds, split = _whole_and_split()
    h = History(tmp_path / "h")
    xs = {2023: [0, 1, 0], 2024: [1, 0, 0], 2025: [0, 1, 1]}  # per old ward: sums 1, 1, 2
    rows = [
        (old, "2025-06-30", f"{y}-H1", "XH01/*/*", float(xs[y][i] if i < 3 else 0), "s")
        for y in xs
        for i, old in enumerate(olds)
    ]
    h.add(pd.DataFrame(rows, columns=COLUMNS), [Source("s", "table", "t")])
    current = pd.DataFrame({"unit": [whole, split], "cell": "XH01/*/*", "value": 14.0})
    past, none = past_cells(h, "2025-07-01", Period.parse("2026-H1"), [whole, split])
    assert none == [split]  # "no comparable history": a split ward's counts are never shared out
    mine = past[past["unit"] == whole].astype({"period": str}).sort_values("period")
    assert mine["value"].tolist() == [1.0, 1.0, 2.0]  # exactly the sum of the old wards
    found = compare_period(h, catalogue, Period.parse("2026-H1"), "2025-07-01", current)
    assert found.no_history == [split]
    (issue,) = [i for i in issues(found, catalogue) if i.element == "XH01/*/*"]
    assert "2023-H1: 1 · 2024-H1: 1 · 2025-H1: 2 → 2026-H1: 14" in issue.message("en")
    assert issue.severity == "warning" and issue.code == "unusual-change"
    assert "Thay đổi bất thường" in issue.message("vi")


def test_a_period_is_restated_only_when_every_old_ward_is_held() -> None:
    whole, olds, _ = _whole_and_split()
    old = pd.DataFrame(
        [(o, "2024-H1", "XH01/*/*", 1.0) for o in olds] + [(o, "2025-H1", "XH01/*/*", 1.0) for o in olds[1:]],
        columns=["unit", "period", "cell", "value"],
    )
    restated, none = restate(old, load_crosswalk(), [whole])
    assert restated.to_dict("records") == [
        {"unit": whole, "period": "2024-H1", "cell": "XH01/*/*", "value": float(len(olds))}
    ]
    assert none == set()


def test_a_district_period_with_a_commune_missing_is_not_compared(tmp_path: Path, catalogue: Catalogue) -> None:
    h = History(tmp_path / "h")
    old = load_units("2025-06-30")
    communes = [u.code for u in old.children(old.get("008", "district"))]  # type: ignore[arg-type]
    rows = [
        (u, "2025-06-30", f"{y}-H1", "TE01/*/*", 4000.0, "s")
        for u in communes
        for y in range(2021, 2025)
        if not (u == communes[0] and y == 2024)  # one ward's 2024-H1 is not in the history
    ]
    h.add(pd.DataFrame(rows, columns=COLUMNS), [Source("s", "table", "t")])
    current = pd.DataFrame({"unit": communes, "cell": "TE01/*/*", "value": 4000.0})
    found = compare_period(h, catalogue, Period.parse("2025-H1"), "2025-06-30", current)
    (district,) = found.findings[found.findings["level"] == "district"].to_dict("records")
    assert district["k"] == 3 and not district["flagged"]  # 2024-H1 left out of the district's history, not a drop


def test_the_year_2025_by_new_units_is_h1_mapped_plus_h2_for_flows(tmp_path: Path, catalogue: Catalogue) -> None:
    """Synthetic data of a whole province (Hà Nội, 126 new communes): the old wards' H1 and the new communes' H2."""
    from ctstat.job.compare import year_cells
    from ctstat.plan.reform import sources_of

    new = load_units("2025-07-01")
    province = [u.code for u in new.all("commune") if u.parent_code == "01"]
    sources = sources_of(load_crosswalk(), province)
    olds = sorted({o for src in sources.values() for o, _ in src})
    rng = np.random.default_rng(2025)
    h1 = {o: float(rng.poisson(2)) for o in olds}
    h2 = {u: float(rng.poisson(2)) for u in province}
    stock = {u: float(rng.integers(1000, 9000)) for u in province}
    rows = [(o, "2025-06-30", "2025-H1", "XH01/*/*", v, "h1") for o, v in h1.items()]
    rows += [(u, "2025-07-01", "2025-H2", "XH01/*/*", v, "h2") for u, v in h2.items()]
    rows += [(u, "2025-07-01", "2025-H2", "TE01/*/*", v, "h2") for u, v in stock.items()]
    h = History(tmp_path / "h")
    h.add(pd.DataFrame(rows, columns=COLUMNS), [Source("h1", "table", "a"), Source("h2", "table", "b")])
    year, refused = year_cells(h, catalogue, 2025, "2025-07-01")
    split = sorted(u for u, src in sources.items() if any(s for _, s in src))
    assert refused == split and 0 < len(split) < len(province)
    got = {(r["unit"], r["cell"]): r["value"] for r in year.to_dict("records")}
    for u in province:
        assert got[(u, "TE01/*/*")] == stock[u]  # a stock: its H2
        if u in split:
            assert (u, "XH01/*/*") not in got  # refused: never an invented share
        else:
            assert got[(u, "XH01/*/*")] == h2[u] + sum(h1[o] for o, _ in sources[u])  # H1 mapped + H2
    # and the year compares with earlier years through the same crosswalk
    found = compare_period(h, catalogue, Period.parse("2025"), "2025-07-01")
    assert set(split) <= set(found.no_history)
