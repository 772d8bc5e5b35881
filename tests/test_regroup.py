"""2025-H1 regrouped onto the new provinces (issue 24): `rollup --period 2025-H1 --units 2025-07-01` from old-list
forms or district workbooks, exact at the province level, refused below it, named apart from the old list's."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ctstat.cli.commands import app
from ctstat.model.catalogue import Catalogue
from ctstat.model.units import load_crosswalk, load_units
from ctstat.pipeline import rollup_paths
from ctstat.plan.regroup import REGROUPED, province_map, regrouped

from .test_reform_year import CROSSWALK, lai_chau_h1  # noqa: F401  (the fixture: Lai Châu's 106 old forms)
from .test_rollup import read_data_sheet

OLD, NEW = load_units("2025-06-30"), load_units("2025-07-01")


def test_every_old_province_went_whole_into_one_new_province() -> None:
    """Read from the crosswalk file itself, independently of ctstat's code: the new province of each old commune's
    targets, per old province, is one; 63 old provinces into 34 new ones."""
    new_province = {u.code: u.parent_code for u in NEW.all("commune")}
    old_province = {c.code: OLD.ancestors(c)[-1].code for c in OLD.all("commune")}
    into: dict[str, set[str]] = {}
    with CROSSWALK.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            into.setdefault(old_province[r["old_commune"]], set()).add(str(new_province[r["new_commune"]]))
    assert all(len(s) == 1 for s in into.values())
    assert province_map(OLD, NEW, load_crosswalk()) == {p: next(iter(s)) for p, s in into.items()}
    assert len(into) == 63 and len(set(province_map(OLD, NEW, load_crosswalk()).values())) == 34


def test_a_merged_province_holds_every_old_commune_of_its_old_provinces() -> None:
    """New 15 (Lào Cai) is old 10 (Lào Cai) and old 15 (Yên Bái): the code 15 meant another province before."""
    h = regrouped(OLD, NEW, load_crosswalk())
    province = h.get("15", "province")
    assert province is not None and province.name == "Tỉnh Lào Cai" and h.vintage == REGROUPED
    old = [c for p in ("10", "15") for c in OLD.communes_under(OLD.get(p, "province"))]  # type: ignore[arg-type]
    assert sorted(u.code for u in h.communes_under(province)) == sorted(u.code for u in old)
    assert {d.code for d in h.children(province)} == {
        d.code
        for p in ("10", "15")
        for d in OLD.children(OLD.get(p, "province"))  # type: ignore[arg-type]
    }


def test_a_province_divided_between_new_ones_is_not_regrouped() -> None:
    first = OLD.all("commune")[0]
    other = next(u for u in NEW.all("commune") if u.parent_code != "01")
    targets = {first.code: [("00004", True), (other.code, True)]}  # as if an old Hà Nội ward went partly elsewhere
    with pytest.raises(ValueError, match="divided"):
        province_map(OLD, NEW, targets)


def test_the_old_forms_roll_up_onto_the_new_province_apart_from_the_old_list_s_workbooks(
    catalogue: Catalogue,
    lai_chau_h1: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    old = rollup_paths([lai_chau_h1], "2025-H1", out, unit="12", catalogue=catalogue)
    new = rollup_paths([lai_chau_h1], "2025-H1", out, units="2025-07-01", catalogue=catalogue)
    assert not new.refused and not new.partial and new.unit.code == "12" and new.vintage == REGROUPED
    # the province's workbook only, named with the new list: the old list's workbooks are all still there
    assert [p.name for p in new.outputs] == ["2025-H1_2025-07-01_12_tinh-lai-chau.xlsx"]
    assert new.manifest_path is not None and new.manifest_path.name == "2025-H1_2025-07-01_12_manifest.json"
    assert all(p.exists() for p in [*old.outputs, *new.outputs])
    assert len(list(out.glob("*.xlsx"))) == len(old.outputs) + 1
    # the same wards, the same sums: the old province's workbook and the new one's data agree cell for cell
    old_province = next(p for p in old.outputs if p.name.split("_")[1] == "12")
    pd.testing.assert_frame_equal(read_data_sheet(new.outputs[0]), read_data_sheet(old_province))
    cover = pd.read_excel(new.outputs[0], sheet_name="Thông tin chung", header=None, engine="calamine")
    assert REGROUPED in {str(v) for v in cover.to_numpy().ravel()}
    # the old districts' workbooks regroup the same way (every number validated again as it is read)
    districts = [p for p in old.outputs if len(p.name.split("_")[1]) == 3]
    books = rollup_paths(districts, "2025-H1", tmp_path / "b", units="2025-07-01", catalogue=catalogue)
    pd.testing.assert_frame_equal(read_data_sheet(books.outputs[0]), read_data_sheet(new.outputs[0]))
    # given back to a rollup of the old list by mistake, a regrouped workbook is not taken (its list is neither)
    back = rollup_paths([new.outputs[0]], "2025-H1", tmp_path / "c", unit="12", catalogue=catalogue, allow_partial=True)
    assert [(i["valid"], i["used"]) for i in back.manifest["inputs"]] == [(False, False)]
    assert [i.code for i in back.report.files[0].issues] == ["rollup-mismatch"]
    again = rollup_paths([lai_chau_h1], "2025-H1", tmp_path / "again", units="2025-07-01", catalogue=catalogue)
    assert again.outputs[0].read_bytes() == new.outputs[0].read_bytes()


@pytest.mark.parametrize("unit", ["105", "03640"])
def test_below_the_province_is_refused_saying_what_is_exact(
    lai_chau_h1: Path,  # noqa: F811
    tmp_path: Path,
    unit: str,
) -> None:
    args = ["rollup", str(lai_chau_h1), "--period", "2025-H1", "--units", "2025-07-01", "--unit", unit]
    res = CliRunner().invoke(app, ["--lang", "en", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "exact at the province level only" in res.output and "--units 2025-06-30" in res.output
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])
    assert "chỉ tính chính xác được ở cấp tỉnh" in res.output
    assert not list(tmp_path.glob("*.xlsx"))


def test_no_comparison_sheet_on_the_regrouped_list(lai_chau_h1: Path, tmp_path: Path) -> None:  # noqa: F811
    history = tmp_path / "history"  # a history (a folder without one is refused before this is looked at)
    history.mkdir()
    (history / "manifest.json").write_text('{"format": 1, "files": {}, "sources": {}}', encoding="utf-8")
    args = ["rollup", str(lai_chau_h1), "--period", "2025-H1", "--units", "2025-07-01", "--history", str(history)]
    res = CliRunner().invoke(app, ["--lang", "en", *args, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "no comparison sheet" in res.output


def test_a_merged_province_s_district_workbooks_regroup_onto_it(catalogue: Catalogue, tmp_path: Path) -> None:
    """End to end: new Cà Mau (96) is old Bạc Liêu (95) and old Cà Mau (96). Each old province's 2025-H1 is rolled up
    on the old list from its wards' forms; the 16 old districts' workbooks of both, given together, regroup onto the
    new province, whose every count is the sum of the wards of both old provinces."""
    from ctstat.model.keys import element_of
    from ctstat.model.layout import form_layout
    from ctstat.pipeline import synth_forms

    from .test_rollup import ward_values

    forms = {p: tmp_path / f"forms-{p}" for p in ("95", "96")}
    districts = []
    for old, folder in forms.items():
        count = len(OLD.communes_under(OLD.get(old, "province")))  # type: ignore[arg-type]
        assert synth_forms(old, "2025-H1", folder, catalogue, seed=int(old)) == count
        rolled = rollup_paths([folder], "2025-H1", tmp_path / f"old-{old}", unit=old, catalogue=catalogue)
        assert not rolled.refused and not rolled.partial
        districts += [p for p in rolled.outputs if len(p.name.split("_")[1]) == 3]
    assert len(districts) == 16
    new = rollup_paths(districts, "2025-H1", tmp_path / "new", units="2025-07-01", catalogue=catalogue)
    assert not new.refused and not new.partial and new.unit.code == "96" and new.vintage == REGROUPED
    assert [p.name for p in new.outputs] == ["2025-H1_2025-07-01_96_tinh-ca-mau.xlsx"]
    assert {i["kind"] for i in new.manifest["inputs"]} == {"rollup"} and all(i["used"] for i in new.manifest["inputs"])
    wards = pd.concat([ward_values(folder, catalogue) for folder in forms.values()])
    assert len(wards) == 164  # every ward of both old provinces
    # its data sheet: the 16 old districts (from both old provinces), each the sum of its wards
    by_district = wards.groupby(wards.index.map(lambda c: OLD.get(c).parent_code)).sum()  # type: ignore[union-attr]
    data = read_data_sheet(new.outputs[0])
    assert sorted(data.index) == sorted(by_district.index) and set(data["parent_code"]) == {"96"}
    pd.testing.assert_frame_equal(
        data.loc[by_district.index, by_district.columns].astype(float), by_district, check_names=False
    )
    # the province's own figures, in the form's cells of each Biểu sheet: the sums of both old provinces' wards
    layout = form_layout(catalogue)
    counts = [k for k in layout.keys if catalogue.elements[element_of(k)].type == "count"]
    sheets: dict[str, pd.DataFrame] = {}
    for key in counts:
        sheet, cell = layout.address(key)
        if sheet not in sheets:
            sheets[sheet] = pd.read_excel(new.outputs[0], sheet_name=sheet, header=None, engine="calamine")
        letters = "".join(ch for ch in cell if ch.isalpha())
        col = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(letters))) - 1
        assert sheets[sheet].iat[int(cell[len(letters) :]) - 1, col] == wards[key].sum(), key
