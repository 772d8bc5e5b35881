"""A check of a typed report ("Kiểm tra", web/entry_check.py) judges what the reader would make of the workbook
ctstat writes from it: the same Submission, the same checks, the same issues as that workbook uploaded."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ctstat.check.validate import validate_batch
from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period
from ctstat.model.units import load_units
from ctstat.read.workbook import Submission, read_submission
from ctstat.web.entry import form_values, sheet_inputs
from ctstat.web.entry_check import Checks, as_read, judge_typed
from ctstat.write.form import FormHeader, write_form

from .test_entry import WARD, typed_values

COVER = {"report_date": datetime(2025, 7, 3), "preparer": '=HYPERLINK("x") Nguyễn Thị Lan', "phone": "+84 (24) 3826"}


def drafts(catalogue: Catalogue) -> dict[str, dict[str, str]]:
    """Typed reports as a ward leaves them: whole, with blanks, with figures the checks refuse, all "Không"."""
    whole = typed_values(catalogue)
    b1, b2 = sheet_inputs(catalogue)["Biểu 1"], sheet_inputs(catalogue)["Biểu 2"]
    yesno = [k for k in whole if catalogue.elements[k.split("/")[0]].type == "yesno"]
    return {
        "whole": whole,
        "blanks": {k: v for k, v in whole.items() if k not in b1[:7] and k not in yesno[:1]},
        "faults": {**whole, b2[0]: str(int(whole[b2[0]]) + 10**6), b1[1]: "0", b1[2]: "9999999999999"},
        "no": {**whole, **dict.fromkeys(yesno, "Không")},
        "few": dict(list(whole.items())[:3]),
    }


def typed_of(catalogue: Catalogue, cells: dict[str, str], path: Path) -> tuple[str, FormHeader, Any, Any]:
    h = load_units("2025-06-30")
    unit = h.get(WARD)
    assert unit is not None
    return str(path), FormHeader.for_unit(h, unit, Period.parse("2025-H1")), form_values(catalogue, cells), COVER


def read_back(catalogue: Catalogue, typed: tuple[str, FormHeader, Any, Any]) -> Submission:
    """The workbook ctstat's form writer writes from the typed report (as "Nộp" sends it), read as an upload."""
    path, header, values, cover = typed
    write_form(Path(path), catalogue, header, values, cover, None)
    return read_submission(path, catalogue)


def kept(sub: Submission) -> dict[str, Any]:
    """What the checks take of a Submission (the file's hash and size aside: a check has no file)."""
    return {
        "raw": [(type(v).__name__, v) for v in sub.raw],
        "cover": {k: (type(v).__name__, v) for k, v in sub.cover.items()},
        **{f: getattr(sub, f) for f in ("path", "format", "unavailable", "moved", "formula_keys", "nocache_keys")},
        "issues": sub.issues,
    }


@pytest.mark.parametrize("which", ["whole", "blanks", "faults", "no", "few"])
def test_a_typed_report_is_judged_as_its_workbook_uploaded(
    catalogue: Catalogue, cfg: JobConfig, tmp_path: Path, which: str
) -> None:
    typed = typed_of(catalogue, drafts(catalogue)[which], tmp_path / "nhap-tren-trang.xlsx")
    uploaded = read_back(catalogue, typed)
    built = as_read(catalogue, typed)
    assert kept(built) == kept(uploaded)  # the reader's Submission, cell by cell, type by type
    (as_uploaded,) = validate_batch([uploaded], catalogue, cfg.period, cfg.units, check_duplicates=False)[0].files
    (checked,) = judge_typed(cfg, catalogue, [typed])
    assert checked == replace(as_uploaded, sha256=None)  # the same issues, in the same words, at the same cells
    if which == "faults":
        assert not checked.valid and any(i.sheet == "Biểu 2" for i in checked.issues)
    if which == "blanks":
        assert {"blank-value"} <= {i.code for i in checked.issues}
    if which == "whole":
        assert checked.valid, [i.text_vi for i in checked.issues]


def test_checks_waiting_together_are_judged_together(catalogue: Catalogue, cfg: JobConfig, tmp_path: Path) -> None:
    forms = drafts(catalogue)
    typed = [typed_of(catalogue, cells, tmp_path / f"{name}.xlsx") for name, cells in forms.items()]
    checks = Checks(cfg, catalogue)
    futures = [checks.submit(t) for t in typed]
    reports = [f.result(timeout=120) for f in futures]
    assert reports == judge_typed(cfg, catalogue, typed)
    assert [r.path for r in reports] == [t[0] for t in typed]


def test_a_failing_check_fails_its_requests_and_the_next_ones_are_still_judged(
    catalogue: Catalogue, cfg: JobConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctstat.check.validate as validate
    import ctstat.web.entry_check as entry_check

    def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("a bug")

    typed = typed_of(catalogue, drafts(catalogue)["whole"], tmp_path / "a.xlsx")
    monkeypatch.setattr(validate, "warm_up", broken)  # loading the checks fails: the thread lives on
    monkeypatch.setattr(entry_check, "judge_typed", broken)
    checks = Checks(cfg, catalogue)
    with pytest.raises(RuntimeError, match="a bug"):
        checks.submit(typed).result(timeout=60)
    monkeypatch.undo()
    assert checks.submit(typed).result(timeout=60).valid
