"""Every number of every rollup workbook, at every level, against a plain recomputation done here.

The recomputation reads the ward files with python-calamine by their "Mã số" codes, the catalogue's YAML with
yaml and the unit lists' CSV with csv; it uses none of ctstat's reading, planning or rollup code. Three rollups:
a district (Quận Hoàng Mai, three tiers, 2025-H1), a province of the two-tier list (Tỉnh Lai Châu, 2025-H2) and a
province of the three-tier list (Thành phố Đà Nẵng, 2025-H1, its wards made by `ctstat synth`: a province whose
workbook's columns are districts, with an island district that has no commune).

Checked in each workbook: every data cell of the six "Biểu" sheets, every row of "Chỉ tiêu" (value, numerator and
denominator of the unit, the value of each child), every cell of "Theo đơn vị", "Biểu đồ" and "Dữ liệu", the
commune counts of the cover, and the manifest's indicator totals.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from ctstat.cli.commands import app

ROOT = Path(__file__).resolve().parents[1]
WARDS = ROOT / "samples" / "wards"
UNITS = ROOT / "src" / "ctstat" / "data" / "units"
CODE = re.compile(r"^([A-Z]{2}\d{2})(?:\.(\d{2}))?$")
YES, NO = "Có", "Không"


# ---------------------------------------------------------------- the catalogue, read from its YAML


@dataclass
class Element:
    code: str
    sheet: str
    type: str
    row_keys: list[str]  #: the row dimension's category keys ("" row: the element's total)
    row_labels: list[str]
    col_keys: list[str]  #: "*" then "dim:key" for every column dimension's categories, in order
    col_labels: list[str]

    def row_code(self, i: int) -> str:
        return self.code if i == 0 else f"{self.code}.{i:02d}"


@dataclass
class Catalogue:
    elements: dict[str, Element] = field(default_factory=dict)
    indicators: list[dict[str, Any]] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    dims: dict[str, Any] = field(default_factory=dict)


def read_catalogue() -> Catalogue:
    top = yaml.safe_load((ROOT / "indicators" / "catalogue.yaml").read_text(encoding="utf-8"))
    cat = Catalogue(dims=top["dimensions"])
    for name in top["sheets"]:
        doc = yaml.safe_load((ROOT / "indicators" / name).read_text(encoding="utf-8"))
        for e in doc["elements"]:
            rows = e.get("rows")
            row_cats = cat.dims[rows["dimension"]]["categories"] if rows else []
            col_keys, col_labels = ["*"], ["Tổng số"]
            for c in e.get("columns", []):
                for k in cat.dims[c["dimension"]]["categories"]:
                    col_keys.append(f"{c['dimension']}:{k['key']}")
                    col_labels.append(k["vi"])
            cat.elements[e["code"]] = Element(
                e["code"],
                doc["sheet"]["name"],
                e["type"],
                ["*"] + [str(k["key"]) for k in row_cats],
                [""] + [k["vi"] for k in row_cats],
                col_keys,
                col_labels,
            )
        cat.indicators += doc.get("indicators", [])
        cat.charts += doc.get("charts", [])
    return cat


CAT = read_catalogue()


# ---------------------------------------------------------------- the unit lists, read from their CSV


@dataclass(frozen=True)
class Units:
    name: dict[str, str]
    parent: dict[str, str]
    level: dict[str, str]
    order: list[str]

    def ancestors(self, code: str) -> list[str]:
        out = []
        while self.parent.get(code):
            code = self.parent[code]
            out.append(code)
        return out

    def children(self, code: str) -> list[str]:
        return [c for c in self.order if self.parent.get(c) == code]


def read_units(vintage: str) -> Units:
    name, parent, level, order = {}, {}, {}, []
    with open(UNITS / f"units_{vintage}.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            name[row["code"]] = row["name"]
            parent[row["code"]] = row["parent_code"]
            level[row["code"]] = row["level"]
            order.append(row["code"])
    return Units(name, parent, level, order)


# ---------------------------------------------------------------- the ward files, read by their codes

Cells = dict[tuple[str, str, str], float]  #: (element, row key, column key) -> value


def read_ward(path: Path) -> tuple[str, Cells]:
    """A ward file's unit code (its cover) and every data cell, keyed by "Mã số" row and column position."""
    wb = CalamineWorkbook.from_path(str(path))
    cover = wb.get_sheet_by_name("Thông tin chung").to_python()
    unit = next(str(r[2]) for r in cover if len(r) > 2 and str(r[1]).startswith("Mã đơn vị báo cáo"))
    cells: Cells = {}
    for sheet in sorted({e.sheet for e in CAT.elements.values()}):
        for row in wb.get_sheet_by_name(sheet).to_python():
            m = CODE.match(str(row[1]).strip()) if len(row) > 1 else None
            if not m:
                continue
            e = CAT.elements[m.group(1)]
            rk = e.row_keys[int(m.group(2) or 0)]
            for j, ck in enumerate(e.col_keys):
                v = row[3 + j]
                if e.type == "yesno":
                    assert v in (YES, NO), (path, row)
                    v = 1.0 if v == YES else 0.0
                assert isinstance(v, float), (path, row, j)
                cells[(e.code, rk, ck)] = v
    n_expected = sum(len(e.row_keys) * len(e.col_keys) for e in CAT.elements.values())
    assert len(cells) == n_expected, path
    return unit, cells


def add(parts: list[Cells]) -> Cells:
    out: Cells = {}
    for p in parts:
        for k, v in p.items():
            out[k] = out.get(k, 0.0) + v
    return out


def indicator(ind: dict[str, Any], cells: Cells, n_communes: int) -> tuple[float | None, float, float | None]:
    """(value, numerator, denominator) of one indicator over summed cells; a zero denominator has no value."""
    if ind["kind"] == "count":
        v = cells[(ind["element"], "*", "*")]
        return v, v, None
    num = cells[(ind["numerator"], "*", "*")]
    den = float(n_communes) if ind["denominator"] == "_units" else cells[(ind["denominator"], "*", "*")]
    return (num / den * ind["factor"] if den else None), num, den


# ---------------------------------------------------------------- the three rollups


@dataclass
class Case:
    folder: Path
    period: str
    unit: str
    vintage: str
    out: Path
    units: Units
    wards: dict[str, Cells]  #: ward code -> its cells

    def wards_under(self, code: str) -> list[str]:
        return sorted(w for w in self.wards if code == w or code in self.units.ancestors(w))


CASES = {
    "district-hoang-mai": ("2025-H1-hoang-mai", "2025-H1", "008", "2025-06-30"),
    "province-lai-chau-two-tiers": ("2025-H2-lai-chau", "2025-H2", "12", "2025-07-01"),
    "province-da-nang-three-tiers": (None, "2025-H1", "48", "2025-06-30"),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    sample, period, unit, vintage = CASES[request.param]
    runner = CliRunner()
    base = tmp_path_factory.mktemp(request.param)
    if sample is None:
        folder = base / "wards"
        r = runner.invoke(app, ["synth", "--unit", unit, "--period", period, "--out", str(folder), "--lang", "en"])
        assert r.exit_code == 0, r.output
    else:
        folder = WARDS / sample
    out = base / "out"
    r = runner.invoke(app, ["rollup", str(folder), "--period", period, "--out", str(out), "--lang", "en"])
    assert r.exit_code == 0, r.output
    units = read_units(vintage)
    wards = dict(read_ward(p) for p in sorted(folder.glob("*.xlsx")))
    assert wards and all(unit in units.ancestors(w) for w in wards)
    return Case(folder, period, unit, vintage, out, units, wards)


def workbooks(case: Case) -> dict[str, Path]:
    """The unit code of each workbook written, from its file name."""
    return {p.name.split("_")[1]: p for p in case.out.glob("*.xlsx")}


def expected_workbooks(case: Case) -> set[str]:
    """The unit rolled up and, for a province of three tiers, each district that has a commune."""
    u = case.units
    if u.level[case.unit] == "province" and any(u.level[c] == "district" for c in u.children(case.unit)):
        return {case.unit} | {d for d in u.children(case.unit) if case.wards_under(d)}
    return {case.unit}


def sheet(path: Path, name: str) -> list[list[Any]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()  # type: ignore[no-any-return]


def close(got: Any, want: float | None) -> bool:
    if want is None:
        return got == ""
    return isinstance(got, float) and math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12)


# ---------------------------------------------------------------- the tests


def test_every_workbook_expected_is_written(case: Case) -> None:
    assert set(workbooks(case)) == expected_workbooks(case)
    if case.unit == "48":  # the island district (Hoàng Sa) has no commune, hence no workbook
        assert len(workbooks(case)) == 1 + 7


def test_every_bieu_cell_is_the_sum_of_the_wards(case: Case) -> None:
    for code, path in sorted(workbooks(case).items()):
        want = add([case.wards[w] for w in case.wards_under(code)])
        seen = set()
        for name in sorted({e.sheet for e in CAT.elements.values()}):
            rows = sheet(path, name)
            for row in rows:
                m = CODE.match(str(row[1]).strip()) if len(row) > 1 else None
                if not m:
                    continue
                e = CAT.elements[m.group(1)]
                i = int(m.group(2) or 0)
                assert e.sheet == name and str(row[0]).strip().endswith(e.row_labels[i]), (code, row)
                for j, ck in enumerate(e.col_keys):
                    key = (e.code, e.row_keys[i], ck)
                    assert close(row[3 + j], want[key]), (path.name, name, row[1], ck, row[3 + j], want[key])
                    seen.add(key)
                assert all(v == "" for v in row[3 + len(e.col_keys) :]), (path.name, row)
            # the column headings say which category each column is
            for e in (e for e in CAT.elements.values() if e.sheet == name and len(e.col_keys) > 1):
                labels = next(r for r in rows if r[:4] == ["", "", "", ""] and r[4] != "")
                assert labels[4 : 3 + len(e.col_keys)] == e.col_labels[1:], (name, labels)
        assert seen == set(want), (path.name, set(want) - seen)


def test_every_indicator_value_numerator_and_denominator(case: Case) -> None:
    for code, path in sorted(workbooks(case).items()):
        rows = sheet(path, "Chỉ tiêu")
        head = next(r for r in rows if r[:2] == ["STT", "Chỉ tiêu"])
        first = head.index("Mẫu số") + 1
        children = [c for c in case.units.children(code) if case.wards_under(c)]
        assert head[first : first + len(children)] == [case.units.name[c] for c in children]
        assert all(v == "" for v in head[first + len(children) :])
        body = [r for r in rows if isinstance(r[0], float)]
        assert len(body) == len(CAT.indicators)
        mine = case.wards_under(code)
        total = add([case.wards[w] for w in mine])
        for k, (row, ind) in enumerate(zip(body, CAT.indicators, strict=True), start=1):
            assert row[0] == k and row[1] == ind["name_vi"], row
            value, num, den = indicator(ind, total, len(mine))
            where = (path.name, ind["id"])
            assert close(row[5], value), (*where, row[5], value)
            if ind["kind"] == "rate":
                assert close(row[6], num) and close(row[7], den), (*where, row[6:8], num, den)
            else:
                assert row[6] == "" and row[7] == "", where
            for j, child in enumerate(children):
                under = case.wards_under(child)
                cv, _, _ = indicator(ind, add([case.wards[w] for w in under]), len(under))
                assert close(row[first + j], cv), (*where, child, row[first + j], cv)


def test_the_play_area_rate_counts_communes_at_every_level(case: Case) -> None:
    """The rate the issue named, spelled out: communes answering "Có" over communes reporting."""
    for code, path in sorted(workbooks(case).items()):
        name = "Tỷ lệ xã, phường, thị trấn có điểm vui chơi dành cho trẻ em"
        row = next(r for r in sheet(path, "Chỉ tiêu") if r[1] == name)
        mine = case.wards_under(code)
        yes = sum(case.wards[w][("VH03", "*", "*")] for w in mine)
        assert (row[6], row[7]) == (yes, len(mine))
        assert 0 <= row[5] <= 100 and close(row[5], 100 * yes / len(mine))


def test_by_unit_sheet_chart_data_and_machine_sheet(case: Case) -> None:
    for code, path in sorted(workbooks(case).items()):
        children = [c for c in case.units.children(code) if case.wards_under(c)]
        sums = {c: add([case.wards[w] for w in case.wards_under(c)]) for c in children}
        total = add([case.wards[w] for w in case.wards_under(code)])
        # Theo đơn vị: the total column of each row, for the unit and each child
        rows = sheet(path, "Theo đơn vị")
        head = next(r for r in rows if r[:2] == ["Chỉ tiêu", "Mã số"])
        assert head[4 : 4 + len(children)] == [f"{c} {case.units.name[c]}" for c in children]
        n = 0
        for row in rows:
            m = CODE.match(str(row[1]).strip()) if len(row) > 1 else None
            if not m:
                continue
            e = CAT.elements[m.group(1)]
            key = (e.code, e.row_keys[int(m.group(2) or 0)], "*")
            assert close(row[3], total[key]), (path.name, row[1])
            for j, c in enumerate(children):
                assert close(row[4 + j], sums[c][key]), (path.name, row[1], c)
            n += 1
        assert n == sum(len(e.row_keys) for e in CAT.elements.values())
        # Biểu đồ: each chart's element by its dimension, one row per child
        for chart in CAT.charts:
            e = CAT.elements[chart["element"]]
            rows = sheet(path, chart["sheet"])
            assert rows[0] == ["Đơn vị", *e.row_labels[1:]]
            assert [r[0] for r in rows[1:]] == [case.units.name[c] for c in children]
            for r, c in zip(rows[1:], children, strict=True):
                assert r[1:] == [sums[c][(e.code, rk, "*")] for rk in e.row_keys[1:]], (path.name, c)
        # Dữ liệu: one row per child, every cell key
        rows = sheet(path, "Dữ liệu")
        keys = rows[0][6:]
        assert set(keys) == {f"{k[0]}/{k[1]}/{k[2]}" for k in total}
        assert [r[0] for r in rows[1:]] == children
        for r in rows[1:]:
            got = dict(zip(keys, r[6:], strict=True))
            for k, v in sums[r[0]].items():
                assert close(got[f"{k[0]}/{k[1]}/{k[2]}"], v), (path.name, r[0], k)


def test_cover_counts_and_manifest_totals(case: Case) -> None:
    for code, path in sorted(workbooks(case).items()):
        mine = case.wards_under(code)
        cover = {r[1]: r[2] for r in sheet(path, "Thông tin chung") if isinstance(r[0], float)}
        assert cover["Số xã, phường phải báo cáo"] == len(mine)
        assert cover["Số xã, phường có số liệu hợp lệ"] == len(mine)
        assert cover["Đơn vị tổng hợp"] == f"{code} - {case.units.name[code]}"
    manifest = json.loads(next(case.out.glob("*_manifest.json")).read_text(encoding="utf-8"))
    total = add(list(case.wards.values()))
    for ind in CAT.indicators:
        value, _, _ = indicator(ind, total, len(case.wards))
        got = manifest["totals"][ind["id"]]
        # the manifest gives six decimals
        assert (got is None) if value is None else got == round(value, 6), (ind["id"], got, value)
