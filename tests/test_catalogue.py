from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ctstat.cli.commands import app
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.errors import CatalogueError
from ctstat.model.keys import TOTAL

from .conftest import ROOT


def test_shipped_catalogue_has_every_category_list(catalogue: Catalogue) -> None:
    dims = catalogue.dimensions
    assert [c.vi for c in dims["sex"].categories] == ["Nam", "Nữ"]
    assert len(dims["special_group"].categories) == 14
    assert dims["special_group"].categories[4].vi == "đ) Trẻ em nhiễm HIV/AIDS"
    assert [c.vi for c in dims["abuse_form"].categories] == [
        "Bạo lực",
        "Bóc lột",
        "Xâm hại tình dục",
        "Mua bán",
        "Bỏ rơi",
        "Bỏ mặc",
        "Hình thức gây tổn hại khác",
    ]
    assert dims["age_group"].basis == "modelled"
    assert dims["abuse_setting"].basis == "modelled"


def test_every_indicator_says_where_it_comes_from(catalogue: Catalogue) -> None:
    by_id = {i.id: i for i in catalogue.indicators}
    assert by_id["participation.online-safety"].provenance == "circular"
    assert by_id["participation.online-safety"].code == "0605"
    assert by_id["abuse.children-abused"].code == "0101"
    assert by_id["abuse.children-abused"].provenance == "modelled"  # its formula is not printed
    for ind in catalogue.indicators:
        assert {"code", "name_vi", "formula"} <= set(ind.basis), ind.id


def test_elements_cover_what_the_issue_asks(catalogue: Catalogue) -> None:
    els = catalogue.elements
    assert els["TE01"].rows and els["TE01"].rows.dimension.key == "age_group"
    assert els["HC01"].rows and els["HC01"].rows.breakdown == "overlapping"
    assert [a.dimension.key for a in els["XH01"].columns] == ["sex", "age_group", "abuse_setting"]
    assert els["VP03"].type == "money" and els["VH03"].type == "yesno"
    assert els["XH01"].row_code(TOTAL) == "XH01" and els["XH01"].row_code("bo-roi") == "XH01.05"


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "indicators"
    shutil.copytree(ROOT / "indicators", dst)
    return dst


def _problems(directory: Path) -> list[str]:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(directory)
    return [i.message("en") for i in info.value.issues]


def test_a_typo_is_reported_with_file_and_path(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    text = (d / "abuse.yaml").read_text(encoding="utf-8").replace("type: count", "type: cuont", 1)
    (d / "abuse.yaml").write_text(text, encoding="utf-8")
    assert _problems(d) == ["abuse.yaml: elements.0.type: must be one of count, money, yesno; got 'cuont'"]


def test_unknown_dimension_and_field(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    text = (d / "population.yaml").read_text(encoding="utf-8")
    text = text.replace("dimension: age_group", "dimension: age").replace(
        "unit_en: children\n", "unit_en: children\n    colour: red\n", 1
    )
    (d / "population.yaml").write_text(text, encoding="utf-8")
    problems = _problems(d)
    assert any(p.startswith("population.yaml: elements.0.colour: unknown field") for p in problems)
    assert any(p.startswith("population.yaml: elements.0.rows.dimension: unknown dimension 'age'") for p in problems)


def test_rule_naming_an_unknown_element(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    text = (d / "special.yaml").read_text(encoding="utf-8").replace("rhs: HC01", "rhs: HC09", 1)
    (d / "special.yaml").write_text(text, encoding="utf-8")
    assert _problems(d) == ["catalogue: rules.assisted-exceeds-special: unknown element 'HC09' (in special.yaml)"]


def test_broken_yaml_gives_line_and_column(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "culture.yaml").write_text("sheet: [unclosed\n", encoding="utf-8")
    (problem,) = _problems(d)
    assert problem.startswith("culture.yaml: line 2, column 1: not valid YAML")


def test_cli_reports_a_bad_catalogue_with_exit_2_and_no_traceback(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    d = _copy(tmp_path)
    text = (d / "catalogue.yaml").read_text(encoding="utf-8").replace('version: "2026.1"', "version:")
    (d / "catalogue.yaml").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["indicators", "--catalogue", str(d)])
    assert result.exit_code == 2
    # Vietnamese by default, English with --lang en; located either way
    assert "danh mục chỉ tiêu không hợp lệ" in result.output
    assert "catalogue.yaml: version: bắt buộc phải có" in result.output
    assert "Traceback" not in result.output
    english = runner.invoke(app, ["indicators", "--catalogue", str(d), "--lang", "en"])
    assert english.exit_code == 2 and "catalogue.yaml: version: is required" in english.output
