"""Adding an indicator is a YAML change: the shipped catalogue plus one element, breakdown, rule and rate, run
through template -> synth -> validate -> rollup -> export with no Python change; and `ctstat catalogue check`
shows what the change does to the form before it is published."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from ctstat.job.config import JobConfig
from ctstat.job.run import export_table, run_job
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.pipeline import make_template, rollup_paths, synth_forms, validate_paths
from ctstat.write.synth import synth_values, write_ward

from .conftest import ROOT

CTSTAT = [sys.executable, "-m", "ctstat"]

NEW_ELEMENT = """
  - code: XH04
    name_vi: Số trẻ em bị xâm hại được tư vấn tâm lý
    name_en: Abused children who received counselling
    unit_vi: Trẻ em
    unit_en: children
    type: count
    rows: {dimension: abuse_setting, breakdown: exclusive}
    columns:
      - {dimension: sex, breakdown: exclusive}
    basis: modelled
    over_time: {kind: flow, basis: modelled}
    synthetic: {share: 0.6}
"""
NEW_INDICATOR = """
  - id: abuse.counselled-rate
    annex: II
    group_vi: Tình hình xâm hại trẻ em
    name_vi: Tỷ lệ trẻ em bị xâm hại được tư vấn tâm lý
    name_en: Proportion of abused children who received counselling
    kind: rate
    numerator: XH04
    denominator: XH01
    factor: 100
    unit_vi: "%"
    basis: {annex: modelled, code: unknown, name_vi: modelled, formula: modelled, unit: modelled}
"""
NEW_RULE = """
  - code: counselled-exceeds-abused
    severity: error
    lhs: XH04
    op: "<="
    rhs: XH01
    message_vi: Số trẻ em được tư vấn tâm lý ({lhs}) lớn hơn số trẻ em bị xâm hại ({rhs}).
    message_en: Children counselled ({lhs}) exceed children abused ({rhs}).
"""


def _extended(tmp_path: Path) -> Path:
    """The shipped catalogue with XH04 (an element by setting and sex), a rate on it and a rule bounding it."""
    d = tmp_path / "indicators"
    shutil.copytree(ROOT / "indicators", d)
    abuse = (d / "abuse.yaml").read_text(encoding="utf-8")
    abuse = abuse.replace("\n# Charts drawn", NEW_ELEMENT + "\n# Charts drawn", 1)
    abuse = abuse.replace("\nrules:\n", NEW_INDICATOR + "\nrules:\n" + NEW_RULE.lstrip("\n"), 1)
    (d / "abuse.yaml").write_text(abuse, encoding="utf-8")
    top = (d / "catalogue.yaml").read_text(encoding="utf-8")
    (d / "catalogue.yaml").write_text(top.replace('version: "2026.1"', 'version: "2026.2"'), encoding="utf-8")
    return d


@pytest.fixture
def extended(tmp_path: Path) -> Catalogue:
    return load_catalogue(_extended(tmp_path))


def test_the_new_element_is_on_the_form_with_its_rows_and_checks(extended: Catalogue, tmp_path: Path) -> None:
    layout = form_layout(extended)
    el = extended.elements["XH04"]
    assert [r.code for s in layout.sheets for r in s.rows if r.element == "XH04" and r.code] == [
        "XH04",
        *(f"XH04.{i:02d}" for i in range(1, 6)),
    ]
    form = make_template("00301", "2025-H1", tmp_path / "blank.xlsx", extended)
    grid = CalamineWorkbook.from_path(str(form)).get_sheet_by_name(el.sheet).to_python()
    codes = [row[1] for row in grid if len(row) > 1]
    assert "XH04" in codes and "XH04.05" in codes
    assert any(el.name_vi in str(row[0]) for row in grid)
    # the total row sums the settings, the total column sums the sexes: formulas on the form
    assert layout.formulas[cell_key("XH04", TOTAL, "sex:nam")] == tuple(
        cell_key("XH04", c.key, "sex:nam") for c in extended.dimensions["abuse_setting"].categories
    )


def test_synthetic_forms_of_the_new_catalogue_are_valid_and_faults_in_it_are_found(
    extended: Catalogue, tmp_path: Path
) -> None:
    per = Period.parse("2025-H1")
    written = synth_forms("008", "2025-H1", tmp_path / "wards", seed=0, catalogue=extended)
    assert written == 14
    report = validate_paths([tmp_path / "wards"], extended, per)
    assert report.issues == [] and len(report.files) == 14
    # a ward with more children counselled than abused: the new rule reports it at the new cell
    h = load_units("2025-06-30")
    unit = h.get("00301")
    assert unit is not None
    v = synth_values(extended, unit, per)
    abused = v[cell_key("XH01", TOTAL, "sex:nam")]
    v[cell_key("XH04", "gia-dinh", "sex:nam")] = abused + 3
    bad = write_ward(tmp_path / "bad", extended, h, unit, per, values=v)
    issues = validate_paths([bad], extended, per).issues
    assert {i.code for i in issues} == {"counselled-exceeds-abused"}
    sheet, cell = form_layout(extended).address(cell_key("XH04", TOTAL, "sex:nam"))
    assert any(i.sheet == sheet and i.cell == cell for i in issues)


def test_the_new_indicator_is_summed_rated_and_exported(extended: Catalogue, tmp_path: Path) -> None:
    per = Period.parse("2025-H1")
    synth_forms("008", "2025-H1", tmp_path / "inbox", seed=0, catalogue=extended)
    h = load_units("2025-06-30")
    wards = [synth_values(extended, u, per) for u in h.communes_under(h.get("008", "district"))]  # type: ignore[arg-type]
    counselled = sum(v[cell_key("XH04", k, f"sex:{s}")] for v in wards for k in ("gia-dinh", "truong-hoc",
                     "cong-dong", "mang", "khac") for s in ("nam", "nu"))  # fmt: skip
    abused = sum(v[cell_key("XH01", TOTAL, f"sex:{s}")] for v in wards for s in ("nam", "nu"))
    assert counselled > 0

    result = rollup_paths([tmp_path / "inbox"], "2025-H1", tmp_path / "out", catalogue=extended)
    (book,) = [p for p in result.outputs if p.suffix == ".xlsx"]
    wb = CalamineWorkbook.from_path(str(book))
    data = wb.get_sheet_by_name("Dữ liệu").to_python()
    col = data[0].index(cell_key("XH04", TOTAL, TOTAL))
    assert sum(float(r[col]) for r in data[1:]) == counselled
    ind = next(
        r for r in wb.get_sheet_by_name("Chỉ tiêu").to_python() if r[1] == "Tỷ lệ trẻ em bị xâm hại được tư vấn tâm lý"
    )
    assert ind[5] == pytest.approx(100 * counselled / abused) and (ind[6], ind[7]) == (counselled, abused)

    cfg = JobConfig(
        period=per,
        unit="008",
        inbox=tmp_path / "inbox",
        out=tmp_path / "job",
        deadline=date(2025, 7, 15),
        log=tmp_path / "job" / "ctstat.log",
        allow_partial=False,
    )
    run = run_job(cfg, extended)
    assert run.rollup_state == "written"
    table = export_table(cfg, extended)
    mine = table[table["element"] == "XH04"]
    assert len(mine) == 14 * len(extended.elements["XH04"].row_keys()) * len(extended.elements["XH04"].col_keys())
    grand = mine[(mine["row_category"] == "total") & (mine["column_category"] == "total")]
    assert grand["value"].sum() == counselled


def test_catalogue_check_shows_what_the_change_does_to_the_form(tmp_path: Path) -> None:
    new = _extended(tmp_path)
    out = subprocess.run(
        [*CTSTAT, "catalogue", "check", str(new), "--against", str(ROOT / "indicators"), "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["layout_changed"] and doc["old_template_version"] != doc["template_version"]
    added = [r["code"] for r in doc["rows"] if r["kind"] == "added"]
    assert added == ["XH04", *(f"XH04.{i:02d}" for i in range(1, 6))]
    assert doc["cells"]["added"] == 6 * 3 and doc["cells"]["removed"] == 0
    assert doc["added"] == {"elements": ["XH04"], "rules": ["counselled-exceeds-abused"],
                            "indicators": ["abuse.counselled-rate"]}  # fmt: skip
    assert doc["trial_issues"] == [] and doc["problems"] == []
    # XH04 sits after XH03, the last row of Biểu 3: no row moves, on that sheet or another
    assert [r["code"] for r in doc["rows"] if r["kind"] == "moved"] == []


def test_catalogue_check_refuses_a_layout_change_without_a_new_version(tmp_path: Path) -> None:
    new = _extended(tmp_path)
    top = new / "catalogue.yaml"
    top.write_text(top.read_text(encoding="utf-8").replace('"2026.2"', '"2026.1"'), encoding="utf-8")
    out = subprocess.run(
        [*CTSTAT, "catalogue", "check", str(new), "--against", str(ROOT / "indicators")],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 1
    assert "tăng `version` trong catalogue.yaml" in out.stdout  # Vietnamese by default
    en = subprocess.run(
        [*CTSTAT, "catalogue", "check", str(new), "--against", str(ROOT / "indicators"), "--lang", "en"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert en.returncode == 1 and "bump `version`" in en.stdout and "Rows of the form" in en.stdout


def test_catalogue_check_finds_rules_no_form_can_keep(tmp_path: Path) -> None:
    new = _extended(tmp_path)
    abuse = new / "abuse.yaml"
    # contradicts supported-exceeds-abused (XH03 <= XH01) as soon as any child is abused
    abuse.write_text(
        abuse.read_text(encoding="utf-8")
        + """
  - code: supported-beyond-abused
    severity: error
    lhs: XH03.total
    op: ">"
    rhs: XH01.total
    message_vi: "Mâu thuẫn ({lhs}, {rhs})."
    message_en: "A contradiction ({lhs}, {rhs})."
""",
        encoding="utf-8",
    )
    out = subprocess.run([*CTSTAT, "catalogue", "check", str(new), "--json"], capture_output=True, text=True)
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert doc["problems"] == ["a synthetic form of this catalogue does not validate clean (see the trial)"]
    (trial,) = doc["trial_issues"]
    assert "cannot make synthetic values that keep rule 'supported-beyond-abused'" in trial
