"""Pandera schemas per data element: serialisable, reusable by analysts, and the very checks ctstat runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

import ctstat.pandera_checks  # noqa: F401 - registers ctstat's checks, as an analyst would
from ctstat.check.schema import CELL_CODES, batch_checks, element_schemas, schemas, wide
from ctstat.check.validate import validate_batch
from ctstat.job.config import JobConfig
from ctstat.job.run import export_table, run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.pipeline import export_schemas, read_checked

from .conftest import SAMPLES

FRAME_CODES = {"ctstat_sums": "sum-mismatch", "ctstat_overlaps": "overlap-bounds"} | CELL_CODES


def test_every_element_has_its_own_schema(catalogue: Catalogue) -> None:
    found = schemas(catalogue)
    assert list(found) == list(catalogue.elements)
    xh01 = found["XH01"]
    assert xh01.name == "XH01" and xh01.title == catalogue.elements["XH01"].name_vi
    assert all(c.startswith("XH01/") for c in xh01.columns)
    # its breakdowns and the rules on its cells, and nothing of other elements
    stats = [c.statistics for c in xh01.checks]
    assert {s.get("rule") for s in stats if "rule" in s} == {r.code for r in catalogue.rules if r.lhs.element == "XH01"}
    # each check covers many cells at once (pandera's cost is per check): every cell, a layer of breakdowns, a rule
    reported = [s.get("cells") or s.get("totals") or s.get("lhs") for s in stats]
    assert all(cells and all(c.startswith("XH01/") for c in cells) for cells in reported)
    assert [c.name for c in xh01.checks[:2]] == ["ctstat_nonnegative", "ctstat_whole"]
    assert set(reported[0]) == set(xh01.columns) and len(xh01.checks) < 12
    # the breakdowns: every total of XH01 with each of its breakdowns, once
    layers = [(t, tuple(p)) for s in stats if "totals" in s for t, p in zip(s["totals"], s["parts"], strict=True)]
    specs = element_schemas(catalogue)["XH01"].specs
    assert sorted(layers) == sorted((s.total, s.parts) for s in specs if s.kind != "rule")


def _checked(checks: list[pa.Check]) -> set[tuple[object, ...]]:
    """What `checks` test, one item per cell checked: (check, cell), (check, total, parts), or for a rule (check,
    rule, op, severity, cell, the cell or number it is compared with)."""
    out: set[tuple[object, ...]] = set()
    for c in checks:
        st = c.statistics
        if "cells" in st:
            out |= {(c.name, cell) for cell in st["cells"]}
        elif "totals" in st:
            out |= {(c.name, t, tuple(p)) for t, p in zip(st["totals"], st["parts"], strict=True)}
        else:
            rhs = st["rhs"] if isinstance(st["rhs"], list) else [st["rhs"]] * len(st["lhs"])
            out |= {(c.name, st["rule"], st["op"], st["severity"], a, b) for a, b in zip(st["lhs"], rhs, strict=True)}
    return out


def test_the_batch_checks_are_the_elements_checks_merged(catalogue: Catalogue) -> None:
    """ctstat runs every element's checks in one pandera call: the same registered checks over the same cells
    (nothing more, nothing less), fewer of them, each with what its failures mean."""
    run = batch_checks(catalogue)
    per_element = [c for s in schemas(catalogue).values() for c in s.checks]
    assert _checked(run.checks.checks) == _checked(per_element)
    assert len(run.checks.checks) < len(per_element) / 2 and not run.checks.columns
    assert len(run.meanings) == len(run.checks.checks)
    for check, meaning in zip(run.checks.checks, run.meanings, strict=True):
        st = check.statistics
        if isinstance(meaning, str):
            assert meaning == CELL_CODES[check.name]
        else:  # the spec reported at each cell the check reports at
            assert list(meaning) == list(st.get("totals") or st["lhs"])
            assert all(spec.at == at for at, spec in meaning.items())
    # every breakdown and rule has its place in the order failures are told in
    assert set(run.order) == {s.name for es in element_schemas(catalogue).values() for s in es.specs}


def _failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> set[tuple[int, str, str]]:
    """(row, issue code, cell key) for each failure case of `schema` on `frame`, read off pandera's own report."""
    try:
        schema.validate(frame, lazy=True)
        return set()
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    out = set()
    for row in cases.itertuples():
        check = schema.checks[int(row.check_number)]
        code = check.statistics.get("rule") or FRAME_CODES[check.name]
        for cell in row.failure_case:  # one failure case per check and failing row: {cell key: value}
            out.add((int(row.index), code, cell))
    return out


def test_exported_yaml_loads_back_and_finds_what_ctstat_finds(catalogue: Catalogue, tmp_path: Path) -> None:
    paths = export_schemas(catalogue, tmp_path / "schemas")
    assert sorted(p.name for p in paths) == sorted(f"{c}.yaml" for c in catalogue.elements)
    assert export_schemas(catalogue, tmp_path / "again")[0].read_bytes() == paths[0].read_bytes()
    loaded = {p.stem: pa.DataFrameSchema.from_yaml(p) for p in paths}
    # every faulty sample and a few hand-made faults of each kind
    files = sorted((SAMPLES / "faulty").glob("*.xlsx"))
    subs = read_checked(files, catalogue, None, None, 1)
    report, frame = validate_batch(subs, catalogue, check_duplicates=False)
    extra = frame.iloc[:3].copy()
    extra.index = [900, 901, 902]
    extra.loc[900, "VH03/*/*"] = 2.0  # not yes/no
    extra.loc[901, "TE01/0-2/sex:nam"] = 0.5  # not whole (and the sums disagree)
    extra.loc[902, "XH02/*/*"] = 10_000.0  # more cases than victims: a warning rule
    frame = pd.concat([frame, extra])
    from_yaml = set().union(*(_failures(s, frame) for s in loaded.values()))
    ctstat_codes = {"negative-value", "not-integer", "not-yes-no", "sum-mismatch", "overlap-bounds"}
    ctstat_codes |= {r.code for r in catalogue.rules}
    by_ctstat = {
        (int(i), issue.code, str(issue.element))
        for i in frame.index[frame.index < 900]
        for issue in report.files[int(i)].issues
        if issue.code in ctstat_codes
    }
    pandera_found = {f for f in from_yaml if f[0] < 900}
    assert by_ctstat and by_ctstat <= pandera_found
    # what pandera finds beyond: the consequences ctstat folds into the root issue, which names their cells
    layout = form_layout(catalogue)
    for row, _, cell in pandera_found - by_ctstat:
        named = " ".join(i.message("vi") for i in report.files[row].issues)
        at = layout.address(cell)[1]
        assert any(f"{lead} {at}" in named for lead in ("ô tổng", "các ô", "kiểm tra ở ô")), (row, cell)
    made = {f for f in from_yaml if f[0] >= 900}
    assert (900, "not-yes-no", "VH03/*/*") in made and (901, "not-integer", "TE01/0-2/sex:nam") in made
    assert (902, "cases-exceed-victims", "XH02/*/*") in made
    # the schemas loaded back are the schemas ctstat runs
    for code, es in element_schemas(catalogue).items():
        assert [c.statistics for c in loaded[code].checks] == [c.statistics for c in es.schema.checks]


def test_an_analyst_applies_the_schemas_to_an_export(catalogue: Catalogue, cfg: JobConfig, tmp_path: Path) -> None:
    for path in (SAMPLES / "wards" / "2025-H1-hoang-mai").glob("*.xlsx"):
        shutil.copy(path, cfg.inbox / path.name)
    run_job(cfg, catalogue)
    frame = wide(export_table(cfg, catalogue))
    assert len(frame) == 14 and list(frame.columns[:2]) == ["period", "unit_code"]
    assert set(frame.columns[2:]) == set(form_layout(catalogue).keys)
    for schema in schemas(catalogue).values():
        schema.validate(frame, lazy=True)  # valid data passes every schema
    frame.iloc[0, frame.columns.get_loc("HC02/d/sex:nam")] = 10_000.0
    with pytest.raises(pa.errors.SchemaErrors) as info:
        schemas(catalogue)["HC02"].validate(frame, lazy=True)
    cases = info.value.failure_cases
    # the cell changed breaks its row's sum, the element's overlap bound and the rule; all at row 0, nothing else
    assert sorted(str(c).split("(")[0] for c in cases["check"]) == ["ctstat_overlaps", "ctstat_rule", "ctstat_sums"]
    assert set(cases["index"]) == {0}
    pairs = zip(cases["check"], cases["failure_case"], strict=True)
    (rule,) = [f for c, f in pairs if "rule=assisted-exceeds-special" in str(c)]
    assert rule["HC02/d/sex:nam"] == 10_000.0, rule


def test_cli_schema_prints_one_element_and_exports_all(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "ctstat", "schema"]
    out = subprocess.run([*cmd, "HC02", "--lang", "en"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("HC02 Trong đó, số trẻ em có hoàn cảnh đặc biệt được trợ giúp (Of whom")
    assert "rule: assisted-exceeds-special (error): HC02 <= HC01" in out and "breakdown:" in out
    vi = subprocess.run([*cmd, "HC02"], capture_output=True, text=True, check=True).stdout  # Vietnamese by default
    assert "quy tắc: assisted-exceeds-special (lỗi): HC02 <= HC01" in vi and "phân tổ: ô D25 = tổng các phần" in vi
    assert "căn cứ: Mô hình hóa" in vi and "breakdown" not in vi
    done = subprocess.run([*cmd, "--export", str(tmp_path / "s")], capture_output=True, text=True, check=True)
    assert len(done.stdout.splitlines()) == 15
    bad = subprocess.run([*cmd, "ZZ99"], capture_output=True, text=True)
    assert bad.returncode == 2 and "không có chỉ tiêu 'ZZ99'" in bad.stderr
