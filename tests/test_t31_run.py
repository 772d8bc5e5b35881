"""The scheduled job pinned to exact outcomes (found by mutating job/run.py by hand: these bugs went through the
rest of the suite)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger
from ctstat.job.run import job_status, run_job
from ctstat.model.catalogue import Catalogue

from .conftest import SAMPLES, MakeForm
from .test_batch import _faulty_ward

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"


def test_two_files_of_a_ward_in_one_run_the_later_saved_is_current(cfg: JobConfig, catalogue: Catalogue) -> None:
    """Both arrive before one run: the file saved later is the resubmission, whatever the names' order (here the
    later one, faulty, sorts first by name)."""
    old = cfg.inbox / "z-00334-cu.xlsx"
    shutil.copyfile(HM / "00334-tran-phu.xlsx", old)
    new = cfg.inbox / "a-00334-moi.xlsx"
    shutil.copyfile(_faulty_ward("00334", cfg.out.parent / "faulty", catalogue), new)
    os.utime(old, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    os.utime(new, ns=(1_700_000_100_000_000_000, 1_700_000_100_000_000_000))
    run = run_job(cfg, catalogue, now=datetime(2025, 7, 5, 9))
    assert [f.path.rsplit("/", 1)[-1] for f in run.validated] == ["z-00334-cu.xlsx", "a-00334-moi.xlsx"]
    (status,) = [s for s in run.completeness.rows if s.code == "00334"]
    assert status.status == "invalid" and not run.ok
    with Ledger(cfg.ledger_path) as ledger:
        assert ledger.current("2025-H1")["00334"].path == "a-00334-moi.xlsx"
    history = job_status(cfg, catalogue)["resubmissions"]["00334"]
    assert [(h["path"], h["valid"], h["current"]) for h in history] == [
        ("z-00334-cu.xlsx", True, False),
        ("a-00334-moi.xlsx", False, True),
    ]


def test_a_ward_that_sends_corrected_figures_gets_them_rolled_up(
    cfg: JobConfig, catalogue: Catalogue, make_form: MakeForm, tmp_path: Path
) -> None:
    """A complete rollup is written; a ward sends a new valid file (other figures) while another's is deleted: the
    rollup is no longer current, its changes named (replaced, removed); once complete again it is written with the
    new figures. A second correction, the set complete all along, is written again too (never 'unchanged')."""
    for p in HM.glob("*.xlsx"):
        shutil.copyfile(p, cfg.inbox / p.name)
    assert run_job(cfg, catalogue, now=datetime(2025, 7, 1, 9)).rollup_state == "written"
    shutil.copyfile(make_form(unit="00301", seed=11, name="a.xlsx"), cfg.inbox / "00301-moi.xlsx")
    (cfg.inbox / "00337-hoang-liet.xlsx").unlink()
    run = run_job(cfg, catalogue, now=datetime(2025, 7, 2, 9))
    assert run.rollup_state == "waiting" and run.stale_rollup is not None
    changes = job_status(cfg, catalogue)["rollup"]["changes"]
    assert [(c["unit"], c["change"]) for c in changes] == [("00301", "replaced"), ("00337", "removed")]
    shutil.copyfile(HM / "00337-hoang-liet.xlsx", cfg.inbox / "00337-hoang-liet.xlsx")
    assert run_job(cfg, catalogue, now=datetime(2025, 7, 3, 9)).rollup_state == "written"
    assert _row_of(cfg, catalogue, "00301") == _cells_of(cfg.inbox / "00301-moi.xlsx", catalogue, tmp_path)
    shutil.copyfile(make_form(unit="00304", seed=12, name="b.xlsx"), cfg.inbox / "00304-moi.xlsx")
    again = run_job(cfg, catalogue, now=datetime(2025, 7, 4, 9))
    assert again.rollup_state == "written" and again.ok
    assert _row_of(cfg, catalogue, "00304") == _cells_of(cfg.inbox / "00304-moi.xlsx", catalogue, tmp_path)
    assert _row_of(cfg, catalogue, "00304") != _cells_of(HM / "00304-vinh-hung.xlsx", catalogue, tmp_path)


def _cells_of(path: Path, catalogue: Catalogue, scratch: Path) -> dict[str, float]:
    """A ward file's cells as numbers, read independently of the job (a copy alone in a folder of `scratch`)."""
    from .test_rollup import ward_values

    folder = scratch / f"_{path.stem}"
    folder.mkdir()
    shutil.copyfile(path, folder / path.name)
    (row,) = ward_values(folder, catalogue).to_dict("records")
    return {k: float(v) for k, v in row.items()}


def _row_of(cfg: JobConfig, catalogue: Catalogue, unit: str) -> dict[str, float]:
    """A ward's row of the district workbook the job wrote last."""
    from ctstat.model.layout import form_layout

    from .test_rollup import read_data_sheet

    book = cfg.out / "tong-hop" / "2025-H1_008_quan-hoang-mai.xlsx"
    row = read_data_sheet(book).loc[unit, list(form_layout(catalogue).keys)]
    return {k: float(v) for k, v in row.items()}


def test_a_file_saved_again_in_place_with_the_same_size_is_read_again(cfg: JobConfig, catalogue: Catalogue) -> None:
    """A run skips a file whose size and time are those recorded; a file saved over with other bytes of the same
    size (a digit typed again) has a new time: it is read and recorded again, not judged by its old verdict."""
    import hashlib

    path = cfg.inbox / "00301-thanh-tri.xlsx"
    path.write_bytes(b"A" * 100)
    os.utime(path, ns=(1_700_000_000_000_000_000,) * 2)
    first = run_job(cfg, catalogue, now=datetime(2025, 7, 5, 9))
    assert [f.path.rsplit("/", 1)[-1] for f in first.validated] == ["00301-thanh-tri.xlsx"]
    assert run_job(cfg, catalogue, now=datetime(2025, 7, 5, 10)).validated == []  # unchanged: not read
    path.write_bytes(b"B" * 100)
    os.utime(path, ns=(1_700_000_100_000_000_000,) * 2)
    again = run_job(cfg, catalogue, now=datetime(2025, 7, 6, 9))
    assert [f.sha256 for f in again.validated] == [hashlib.sha256(b"B" * 100).hexdigest()]
    with Ledger(cfg.ledger_path) as ledger:
        assert [(r.path, r.sha256[:8], r.removed_at is None) for r in ledger.rows()] == [
            ("00301-thanh-tri.xlsx", hashlib.sha256(b"A" * 100).hexdigest()[:8], False),
            ("00301-thanh-tri.xlsx", hashlib.sha256(b"B" * 100).hexdigest()[:8], True),
        ]


def test_files_judged_under_another_catalogue_are_judged_again_keeping_their_receipt(
    cfg: JobConfig, catalogue: Catalogue, tmp_path: Path
) -> None:
    """The catalogue changes (here a rule's message) while the inbox does not: the next run judges every file
    again under it (same rows, same receipt times, the new catalogue recorded), then leaves them alone."""
    from ctstat.model.catalogue import load_catalogue

    from .conftest import ROOT

    for p in sorted(HM.glob("*.xlsx"))[:3]:
        shutil.copyfile(p, cfg.inbox / p.name)
    run_job(cfg, catalogue, now=datetime(2025, 7, 5, 9))
    changed = tmp_path / "indicators"
    shutil.copytree(ROOT / "indicators", changed)
    text = (changed / "culture.yaml").read_text(encoding="utf-8")
    (changed / "culture.yaml").write_text(text.replace("({rhs}).", "({rhs}) ."), encoding="utf-8")
    other = load_catalogue(changed)
    assert other.digest != catalogue.digest
    with Ledger(cfg.ledger_path) as ledger:
        before = [(r.id, r.path, r.received_at, r.catalogue_digest) for r in ledger.rows()]
    again = run_job(cfg, other, now=datetime(2025, 7, 6, 9))
    assert sorted(f.path.rsplit("/", 1)[-1] for f in again.validated) == [p for _, p, _, _ in before]
    assert [e["rejudged"] for e in again.events if e["event"] == "file-validated"] == [True] * 3
    with Ledger(cfg.ledger_path) as ledger:
        after = [(r.id, r.path, r.received_at, r.catalogue_digest) for r in ledger.rows()]
    assert after == [(i, p, t, other.digest) for i, p, t, _ in before]
    assert {d for _, _, _, d in before} == {catalogue.digest}
    assert run_job(cfg, other, now=datetime(2025, 7, 7, 9)).validated == []
