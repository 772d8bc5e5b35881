"""Specifications of form, schema, synth, validate and rollup, written on the small catalogue in tests/catalogue/
(two elements: AA01 children by age x sex, exclusive; AA02 children supported by need x sex, the needs
overlapping; one rule AA02 <= AA01; one rate AA02 / AA01 x 100; one chart). A change to the circular's content in
indicators/ does not touch these."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from ctstat.check.schema import breakdown_specs, rule_specs
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.errors import CatalogueError
from ctstat.model.keys import TOTAL, a1, cell_key, parse_a1
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.pipeline import rollup_paths, synth_forms, validate_paths
from ctstat.write.synth import synth_values, write_ward

HERE = Path(__file__).parent / "catalogue"
PERIOD = Period.parse("2025-H1")


@pytest.fixture(scope="module")
def small() -> Catalogue:
    return load_catalogue(HERE)


def _form(small: Catalogue, out: Path, changes: dict[str, Any] | None = None, unit: str = "00301") -> Path:
    h = load_units("2025-06-30")
    u = h.get(unit)
    assert u is not None
    values = synth_values(small, u, PERIOD)
    values.update(changes or {})
    return write_ward(out, small, h, u, PERIOD, values=values)


# --- keys ---------------------------------------------------------------------------------------------------


def test_cell_keys_and_a1_addresses_round_trip() -> None:
    assert cell_key("AA01", TOTAL, "sex:nam") == "AA01/*/sex:nam"
    for row, col in [(1, 1), (9, 4), (65536, 256), (1048576, 16384)]:
        assert parse_a1(a1(row, col)) == (row, col)
    assert a1(9, 4) == "D9" and parse_a1("$AB$12") == (12, 28) and parse_a1("D") is None


# --- form ---------------------------------------------------------------------------------------------------


def test_the_layout_places_every_cell_and_computes_only_exclusive_totals(small: Catalogue) -> None:
    layout = form_layout(small)
    where = {k: a1(r, c) for k, (_, r, c) in layout.positions.items()}
    # AA01: total row 9, a label row, then one row per age; columns D (total), E (nam), F (nữ)
    assert [where[cell_key("AA01", r, TOTAL)] for r in (TOTAL, "duoi-6", "tu-6")] == ["D9", "D11", "D12"]
    assert where[cell_key("AA02", TOTAL, TOTAL)] == "D13" and where[cell_key("AA02", "kham", "sex:nu")] == "F17"
    # exclusive breakdowns are formulas on the form; an overlapping one (needs) is typed
    assert layout.formulas[cell_key("AA01", TOTAL, "sex:nam")] == (
        cell_key("AA01", "duoi-6", "sex:nam"),
        cell_key("AA01", "tu-6", "sex:nam"),
    )
    assert cell_key("AA02", TOTAL, "sex:nam") not in layout.formulas
    assert layout.formulas[cell_key("AA02", "an", TOTAL)] == (
        cell_key("AA02", "an", "sex:nam"),
        cell_key("AA02", "an", "sex:nu"),
    )
    assert len(layout.inputs()) == 4 + 2 + 6


def test_the_form_prints_the_catalogue_s_rows(small: Catalogue, tmp_path: Path) -> None:
    grid = CalamineWorkbook.from_path(str(_form(small, tmp_path))).get_sheet_by_name("Biểu A").to_python()
    codes = [r[1] for r in grid[8:] if r[1]]
    assert codes == ["AA01", "AA01.01", "AA01.02", "AA02", "AA02.01", "AA02.02", "AA02.03"]
    assert grid[13][0].startswith("Chia theo nhu cầu hỗ trợ (một trẻ có thể thuộc nhiều nhóm)")


# --- schema -------------------------------------------------------------------------------------------------


def test_one_check_per_total_and_breakdown(small: Catalogue) -> None:
    names = {s.name for s in breakdown_specs(small)}
    assert "sum:AA01/*/*:sex" in names and "sum:AA01/*/*:age" in names
    assert "overlap:AA02/*/sex:nam:need" in names and "sum:AA02/an/*:sex" in names
    # AA01: 3 rows x sex + 3 columns x age; AA02: 4 rows x sex + 3 columns x need
    assert len(names) == 3 + 3 + 4 + 3


def test_a_rule_compares_only_cells_that_mean_the_same_on_both_sides(small: Catalogue) -> None:
    pairs = [(s.at, s.rhs) for s in rule_specs(small)]
    # AA01's rows are ages, AA02's are needs: only the total row is common
    assert pairs == [(cell_key("AA02", TOTAL, c), cell_key("AA01", TOTAL, c)) for c in (TOTAL, "sex:nam", "sex:nu")]


# --- synth --------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_synthetic_values_keep_every_breakdown_and_rule(small: Catalogue, seed: int) -> None:
    u = load_units("2025-06-30").get("00301")
    assert u is not None
    v = synth_values(small, u, PERIOD, seed)
    ages = [v[cell_key("AA01", a, f"sex:{s}")] for a in ("duoi-6", "tu-6") for s in ("nam", "nu")]
    assert 200 <= sum(ages) <= 400  # the catalogue's `synthetic: {size: [200, 400]}`
    for s in ("nam", "nu"):
        total = v[cell_key("AA02", TOTAL, f"sex:{s}")]
        parts = [v[cell_key("AA02", n, f"sex:{s}")] for n in ("an", "hoc", "kham")]
        assert max(parts, default=0) <= total <= sum(parts)  # overlapping: each child once in the total
        assert total <= sum(v[cell_key("AA01", a, f"sex:{s}")] for a in ("duoi-6", "tu-6"))  # the rule
    assert synth_values(small, u, PERIOD, seed) == v  # deterministic


# --- validate -----------------------------------------------------------------------------------------------


def test_a_synthetic_form_is_valid(small: Catalogue, tmp_path: Path) -> None:
    report = validate_paths([_form(small, tmp_path)], small, PERIOD)
    assert report.issues == [] and report.files[0].unit == "00301"


@pytest.mark.parametrize(
    ("change", "code", "cell"),
    [
        ({cell_key("AA01", "tu-6", "sex:nu"): -1}, "negative-value", "F12"),
        ({cell_key("AA02", TOTAL, "sex:nam"): 10_000}, "supported-exceeds-children", "E13"),
        ({cell_key("AA02", "an", "sex:nam"): 10_000}, "overlap-bounds", "E15"),  # at the group above its total
        ({cell_key("AA01", "duoi-6", "sex:nam"): "1.5"}, "text-in-number", "E11"),
    ],
)
def test_a_fault_is_reported_at_its_cell(
    small: Catalogue, tmp_path: Path, change: dict[str, Any], code: str, cell: str
) -> None:
    issues = validate_paths([_form(small, tmp_path, change)], small, PERIOD).issues
    assert (code, "Biểu A", cell) in {(i.code, i.sheet, i.cell) for i in issues}


# --- rollup -------------------------------------------------------------------------------------------------


def test_counts_are_summed_and_the_rate_recomputed_from_summed_parts(small: Catalogue, tmp_path: Path) -> None:
    assert synth_forms("008", "2025-H1", tmp_path / "in", small) == 14
    result = rollup_paths([tmp_path / "in"], "2025-H1", tmp_path / "out", catalogue=small)
    (book,) = result.outputs
    data = pd.read_excel(book, sheet_name="Dữ liệu", engine="calamine")
    children, supported = data[cell_key("AA01", TOTAL, TOTAL)], data[cell_key("AA02", TOTAL, TOTAL)]
    assert result.manifest["totals"]["test.children"] == children.sum()
    assert result.manifest["totals"]["test.supported-rate"] == pytest.approx(100 * supported.sum() / children.sum())
    assert abs((100 * supported / children).mean() - 100 * supported.sum() / children.sum()) > 1e-9
    wb = CalamineWorkbook.from_path(str(book))
    assert "Biểu đồ thử" in wb.sheet_names  # the catalogue's chart, under the name it gives
    chart = wb.get_sheet_by_name("Biểu đồ thử").to_python()
    head = next(i for i, r in enumerate(chart) if r[0] == "Đơn vị")
    assert chart[head][1:4] == ["Ăn uống", "Học tập", "Khám chữa bệnh"]
    needs = sum(float(x) for r in chart[head + 1 :] for x in r[1:4])
    assert needs == sum(data[cell_key("AA02", n, TOTAL)].sum() for n in ("an", "hoc", "kham"))
    note = [c for r in wb.get_sheet_by_name("Chỉ tiêu").to_python() for c in r if str(c).startswith("Tỷ lệ =")]
    assert note == ["Tỷ lệ = Tử số / Mẫu số × 100, tính từ số đã cộng của các xã. Ô trống: mẫu số bằng 0."]


# --- the loader ---------------------------------------------------------------------------------------------


def _broken(tmp_path: Path, file: str, old: str, new: str) -> list[str]:
    d = tmp_path / "cat"
    shutil.copytree(HERE, d)
    text = (d / file).read_text(encoding="utf-8")
    assert old in text
    (d / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(d)
    return [i.message("en") for i in info.value.issues]


LOADER_CASES = [
    ("children.yaml", "by: need", "by: age", "charts.Biểu đồ thử.by: AA02 has no breakdown by 'age'"),
    ("children.yaml", "sheet: Biểu đồ thử", "sheet: Chỉ tiêu", "is already used by the form or the rollup"),
    ("children.yaml", "second: 0.3}", "secnd: 0.3}", "children.yaml: elements.1.synthetic.secnd: unknown field"),
    ("children.yaml", "{size: [200, 400]}", "{size: [400, 200]}", "elements.0.synthetic.size: expected [low, high]"),
    (
        "catalogue.yaml",
        "categories:\n      - {key: nam",
        "synthetic: {weights: {nam: 1, ba: 2}}\n    categories:\n      - {key: nam",
        "catalogue.yaml: dimensions.sex.synthetic.weights.ba: unknown category",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), LOADER_CASES)
def test_loader_errors_name_the_file_and_the_yaml_path(
    tmp_path: Path, file: str, old: str, new: str, expected: str
) -> None:
    problems = _broken(tmp_path, file, old, new)
    assert any(expected in p for p in problems), problems
