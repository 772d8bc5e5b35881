"""The history's summary (issue 24): `validate --history` and `compare --period` read one table per period and unit
list instead of every earlier period's cells. It must give exactly the findings of the full history, be made again
whenever the history changes, and be ready for the next period after `history add`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ctstat.job import history_summary
from ctstat.job.compare import Comparison, compare_period, issues
from ctstat.job.history import COLUMNS, History, Source
from ctstat.job.history_past import kinds_of, past_cells
from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period
from ctstat.model.units import load_crosswalk, load_units
from ctstat.plan.compare import LOOK_BACK
from ctstat.plan.dense import Summary, summary_of
from ctstat.plan.reform import sources_of

STOCK, FLOW = "TE01/*/*", "XH01/*/*"
OLD, NEW = "2025-06-30", "2025-07-01"


def _hoang_mai() -> list[str]:
    old = load_units(OLD)
    return [u.code for u in old.children(old.get("008", "district"))]  # type: ignore[arg-type]


def _noisy_history(h: History, units: list[str], periods: list[str], seed: int, vintage: str = OLD) -> None:
    """Counts small and large, some periods and cells missing, some years held as such."""
    rng = np.random.default_rng(seed)
    rows = []
    for unit in units:
        base = {STOCK: rng.integers(50, 5000), FLOW: rng.gamma(0.7, 3.0)}
        for period in periods:
            for cell, mean in base.items():
                if rng.random() < 0.03:
                    continue  # a gap
                rows.append((unit, vintage, period, cell, float(rng.poisson(mean)), f"s{seed}"))
    h.add(pd.DataFrame(rows, columns=COLUMNS), [Source(f"s{seed}", "table", str(seed))])


def _current(units: list[str], seed: int) -> pd.DataFrame:
    """This period's counts: mostly ordinary, some jumps and drops to 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for unit in units:
        rows.append((unit, STOCK, float(rng.choice([rng.integers(50, 5000), 0, 40000]))))
        rows.append((unit, FLOW, float(rng.choice([0, 1, 2, 3, 14, 30]))))
    return pd.DataFrame(rows, columns=["unit", "cell", "value"])


def _same(h: History, catalogue: Catalogue, period: str, vintage: str, current: pd.DataFrame | None) -> pd.DataFrame:
    per = Period.parse(period)
    full = compare_period(h, catalogue, per, vintage, current, full=True)
    fast = compare_period(h, catalogue, per, vintage, current, full=False)
    assert_same_flags(full, fast, catalogue)
    return fast.flagged


def assert_same_flags(full: Comparison, fast: Comparison, catalogue: Catalogue) -> None:
    """The same cells flagged, in the same order, with the same p, history, ratio and note; the same messages;
    the same number of cells checked and the same communes without comparable history."""
    a, b = (c.flagged.reset_index(drop=True) for c in (full, fast))
    text = ["unit", "cell", "test", "level"]
    pd.testing.assert_frame_equal(a.astype(dict.fromkeys(text, str)), b.astype(dict.fromkeys(text, str)))
    assert full.no_history == fast.no_history and full.checked == fast.checked
    assert [i.to_dict() for i in issues(full, catalogue)] == [i.to_dict() for i in issues(fast, catalogue)]


def test_the_summary_gives_the_full_history_s_findings(tmp_path: Path, catalogue: Catalogue) -> None:
    h = History(tmp_path / "h")
    units = _hoang_mai()
    _noisy_history(h, units, [f"{y}-H{s}" for y in range(2017, 2025) for s in (1, 2)], 1)
    _noisy_history(h, units[:5], ["2015", "2016"], 2)
    current = _current(units, 3)
    flagged = _same(h, catalogue, "2025-H1", OLD, current)
    assert set(flagged["level"]) == {"commune", "district", "province"}  # the test has something to agree on
    assert len(list((h.dir / "summary").glob("2025-H1_2025-06-30_*.arrow"))) == 1  # kept for the next run
    _same(h, catalogue, "2025-H1", OLD, current)  # read back: the same
    _same(h, catalogue, "2025-H1", OLD, current[current["unit"].isin(units[3:9])])  # part of a district
    _same(h, catalogue, "2024-H2", OLD, None)  # a period the history holds, compared with the ones before it
    _same(h, catalogue, "2016", OLD, None)  # a year
    _same(h, catalogue, "2024", OLD, None)  # a year the history holds as halves


def test_across_the_reform_the_summary_restates_exactly(tmp_path: Path, catalogue: Catalogue) -> None:
    new = load_units(NEW)
    province = [u.code for u in new.all("commune") if u.parent_code == "01"][:40]
    olds = sorted({o for src in sources_of(load_crosswalk(), province).values() for o, _ in src})
    h = History(tmp_path / "h")
    _noisy_history(h, olds, [f"{y}-H{s}" for y in range(2020, 2025) for s in (1, 2)] + ["2025-H1"], 4)
    _noisy_history(h, province[:10], ["2025-H2"], 5, NEW)
    flagged = _same(h, catalogue, "2026-H1", NEW, _current(province, 6))
    assert not flagged.empty
    _same(h, catalogue, "2025", NEW, None)  # the year 2025 by new units: H1 restated + H2


def test_a_load_makes_the_summary_again(tmp_path: Path, catalogue: Catalogue) -> None:
    h = History(tmp_path / "h")
    units = _hoang_mai()
    _noisy_history(h, units, [f"{y}-H1" for y in range(2019, 2024)], 7)
    current = _current(units, 8)
    before = _same(h, catalogue, "2025-H1", OLD, current)
    (old,) = (h.dir / "summary").glob("*.arrow")
    _noisy_history(h, units, ["2024-H1"], 9)  # a new period: the old summary is gone, never read again
    assert not old.exists()
    after = _same(h, catalogue, "2025-H1", OLD, current)
    assert not after[["unit", "cell", "level"]].equals(before[["unit", "cell", "level"]])  # it did change the findings


def test_history_add_prepares_the_next_period(
    tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = History(tmp_path / "h")
    units = _hoang_mai()
    _noisy_history(h, units, [f"{y}-H{s}" for y in range(2019, 2024) for s in (1, 2)], 10)
    kinds = kinds_of(catalogue)
    made = history_summary.prepare(h, kinds)
    assert made == [history_summary.summary_path(h, Period.parse(p), OLD, kinds) for p in ("2024-H1", "2024-H2")]
    assert all(path.exists() for path in made)

    def no_build(*args: object) -> None:
        raise AssertionError("the summary was built again")

    monkeypatch.setattr(history_summary, "build", no_build)
    found = compare_period(h, catalogue, Period.parse("2024-H1"), OLD, _current(units, 11), full=False)
    assert found.checked > 0


def test_history_add_prepares_the_year_2025_by_the_new_communes(
    tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history of the old communes up to 2025-H1 (and some new communes' 2025-H2): the load prepares the year
    2025 on the new list too, and a year job's first comparison reads it (the same flags as the full history)."""
    new = load_units(NEW)
    province = [u.code for u in new.all("commune") if u.parent_code == "01"][:40]
    olds = sorted({o for src in sources_of(load_crosswalk(), province).values() for o, _ in src})
    h = History(tmp_path / "h")
    _noisy_history(h, olds, [f"{y}-H{s}" for y in range(2020, 2025) for s in (1, 2)] + ["2025-H1"], 16)
    _noisy_history(h, province[:10], ["2025-H2"], 17, NEW)
    kinds = kinds_of(catalogue)
    made = history_summary.prepare(h, kinds)
    year = history_summary.summary_path(h, Period.parse("2025"), NEW, kinds)
    assert year in made and year.exists()
    assert history_summary.prepare(h, kinds) == []  # made once per load

    def no_build(*args: object) -> None:
        raise AssertionError("the summary was built again")

    current = _current(province, 18)
    full = compare_period(h, catalogue, Period.parse("2025"), NEW, current, full=True)
    monkeypatch.setattr(history_summary, "build", no_build)
    fast = compare_period(h, catalogue, Period.parse("2025"), NEW, current, full=False)
    assert fast.checked > 0 and not fast.flagged.empty
    assert_same_flags(full, fast, catalogue)


def test_a_history_that_cannot_be_written_is_summarised_in_memory(tmp_path: Path, catalogue: Catalogue) -> None:
    h = History(tmp_path / "h")
    units = _hoang_mai()
    _noisy_history(h, units, [f"{y}-H1" for y in range(2019, 2025)], 12)
    (h.dir / "summary").write_text("not a folder")  # writing a summary fails
    _same(h, catalogue, "2025-H1", OLD, _current(units, 13))
    assert (h.dir / "summary").read_text() == "not a folder"


def test_an_upload_reads_its_own_cells_not_the_summary(tmp_path: Path, catalogue: Catalogue) -> None:
    """A few units (the portal's one upload) are read from their own row groups; a batch from the summary."""
    h = History(tmp_path / "h")
    units = _hoang_mai()
    _noisy_history(h, units, [f"{y}-H1" for y in range(2019, 2025)], 14)
    one = compare_period(h, catalogue, Period.parse("2025-H1"), OLD, _current(units[:1], 15))
    assert one.checked > 0 and not (h.dir / "summary").exists()
    compare_period(h, catalogue, Period.parse("2025-H1"), OLD, _current(units, 15), full=False)
    assert len(list((h.dir / "summary").glob("*.arrow"))) == 1


def _by_unit(summary: Summary) -> dict[str, np.ndarray]:
    """Each commune's rows of the summary (cells × periods, then k, total and phi per cell)."""
    units, cells = len(summary.units), len(summary.cells)
    columns = [c[: units * cells] if c is not None else np.full(units * cells, np.nan) for c in summary.matrix]
    extra = [summary.k.astype(float), summary.total, summary.phi]
    whole = np.column_stack([*columns, *extra]).reshape(units, cells, len(columns) + len(extra))
    return dict(zip(summary.units, whole, strict=True))


def test_the_summary_read_from_the_period_files_is_the_one_made_from_the_cells(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    """The first comparison of a period with no summary ready reads each comparable period's file straight into
    the summary's arrays: the same arrays as laying out the history's cells (gaps, years held as such, years
    built from halves, parents' sums), so the same flags."""
    h = History(tmp_path / "h")
    units = _hoang_mai()
    _noisy_history(h, units, [f"{y}-H{s}" for y in range(2017, 2025) for s in (1, 2)], 21)
    _noisy_history(h, units[:5], ["2015", "2016", "2020"], 22)
    kinds = kinds_of(catalogue)
    for label in ("2025-H1", "2025-H2", "2025", "2021", "2017-H1"):
        period = Period.parse(label)
        read = history_summary.build(h, period, OLD, kinds)
        past, _ = past_cells(h, OLD, period, None, dict(kinds))
        laid = summary_of(past, period, kinds, history_summary.parents_of(OLD))
        a, b = _by_unit(read), _by_unit(laid)
        nothing = np.full((len(read.cells), LOOK_BACK + 3), np.nan)
        for unit in set(a) | set(b):
            got, want = a.get(unit, nothing), b.get(unit, nothing)
            assert np.array_equal(got[..., :-3], want[..., :-3], equal_nan=True), (label, unit)
            if unit in a and unit in b:
                assert np.array_equal(got, want, equal_nan=True), (label, unit)
        for x, y in zip(_parents_part(read), _parents_part(laid), strict=True):  # district and province sums
            assert np.array_equal(x, y, equal_nan=True), label
        assert read.levels == laid.levels and read.exact == laid.exact
        held = sum(int((~np.isnan(v[..., :LOOK_BACK])).sum()) for v in a.values())
        assert held > 100 or label == "2017-H1", label  # something compared (2017-H1: nothing comparable before)


def _parents_part(summary: Summary) -> list[np.ndarray]:
    start = len(summary.units) * len(summary.cells)
    size = sum(2 * len(codes) for codes in summary.levels.values()) * len(summary.cells)
    return [c[start:] if c is not None else np.full(size, np.nan) for c in summary.matrix]
