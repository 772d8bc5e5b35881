"""Stock or flow: each catalogue element says how it moves over time (issue 24), modelled and marked so."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ctstat.cli.commands import app
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.errors import CatalogueError

from .conftest import ROOT


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "indicators"
    shutil.copytree(ROOT / "indicators", dst)
    return dst


def _problems(directory: Path) -> list[str]:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(directory)
    return [i.message("en") for i in info.value.issues]


def test_every_shipped_element_is_a_stock_or_a_flow_marked_modelled(catalogue: Catalogue) -> None:
    kinds = {code: el.over_time for code, el in catalogue.elements.items()}
    assert set(kinds.values()) == {"stock", "flow"}
    assert kinds["TE01"] == "stock" and kinds["HC01"] == "stock"  # population, special circumstances at the end
    assert kinds["XH01"] == "flow" and kinds["XH02"] == "flow" and kinds["VP01"] == "flow"  # events in the period
    assert {el.over_time_basis for el in catalogue.elements.values()} == {"modelled"}


def test_an_element_without_over_time_is_a_clear_catalogue_error(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    text = (d / "abuse.yaml").read_text(encoding="utf-8")
    text = text.replace("    over_time: {kind: flow, basis: modelled}\n", "", 1)
    (d / "abuse.yaml").write_text(text, encoding="utf-8")
    (problem,) = _problems(d)
    assert problem.startswith("abuse.yaml: elements.0.over_time: missing: say how the element moves over time")
    assert "stock" in problem and "flow" in problem


def test_a_bad_kind_or_basis_is_located(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    text = (d / "abuse.yaml").read_text(encoding="utf-8")
    text = text.replace("over_time: {kind: flow, basis: modelled}", "over_time: {kind: flux, basis: guessed}", 1)
    (d / "abuse.yaml").write_text(text, encoding="utf-8")
    problems = _problems(d)
    assert "abuse.yaml: elements.0.over_time.kind: must be one of stock, flow; got 'flux'" in problems
    assert any(p.startswith("abuse.yaml: elements.0.over_time.basis: must be one of") for p in problems)
    text = text.replace("over_time: {kind: flux, basis: guessed}", "over_time: flow", 1)
    (d / "abuse.yaml").write_text(text, encoding="utf-8")
    assert _problems(d) == ["abuse.yaml: elements.0.over_time: expected a mapping {kind, basis}"]


def test_indicators_shows_stock_or_flow(runner) -> None:  # type: ignore[no-untyped-def]
    out = runner.invoke(app, ["indicators", "--lang", "en"])
    assert out.exit_code == 0, out.output
    assert re.search(r"XH01.*flow: during the period", out.output)
    assert re.search(r"TE01.*stock: at the period's end", out.output)
    out = runner.invoke(app, ["indicators", "--json"])
    doc = json.loads(out.output)
    by_code = {e["code"]: e["over_time"] for e in doc["elements"]}
    assert by_code["XH02"] == {"kind": "flow", "basis": "modelled"}
    assert by_code["TE01"] == {"kind": "stock", "basis": "modelled"}
