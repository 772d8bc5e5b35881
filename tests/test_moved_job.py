"""A job's folder copied or moved elsewhere (restored from a backup, renamed) keeps working on its own files: the
ledger names its rollup by the path it was written at, and every reader takes that path in the job's folder as it
is now (`job.config.job_file`)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from ctstat.job.config import JobConfig, job_file
from ctstat.job.run import job_status, run_job
from ctstat.model.catalogue import Catalogue

from .conftest import SAMPLES

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
NOW = datetime(2025, 7, 5, 22, 0)


def test_a_copied_job_writes_and_reads_its_own_rollup(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> None:
    """The copy of a job whose rollup folder was emptied said "rollup unchanged" (the ledger's paths pointed at the
    original's files, which were there) and wrote nothing; its status and the portal named the original's files."""
    for p in sorted(HM.glob("*.xlsx")):
        shutil.copyfile(p, cfg.inbox / p.name)
    first = run_job(cfg, catalogue, now=NOW)
    assert first.rollup_state == "written"
    original = sorted((cfg.out / "tong-hop").iterdir())
    before = {p: p.stat().st_mtime_ns for p in original}

    moved = replace(cfg, out=tmp_path / "elsewhere" / "out", log=tmp_path / "elsewhere" / "out" / "ctstat.log")
    shutil.copytree(cfg.out, moved.out)
    again = run_job(moved, catalogue, now=NOW)
    assert again.rollup_state == "unchanged"  # whole: its own files are there
    assert job_status(moved, catalogue)["rollup_outputs"] == [str(moved.out / "tong-hop" / original[1].name)]

    shutil.rmtree(moved.out / "tong-hop")
    third = run_job(moved, catalogue, now=NOW)
    assert third.rollup_state == "written"
    assert sorted(p.name for p in (moved.out / "tong-hop").iterdir()) == [p.name for p in original]
    assert all(str(p).startswith(str(moved.out)) for p in third.rollup.outputs)  # type: ignore[union-attr]
    assert {p: p.stat().st_mtime_ns for p in original} == before  # the original job's files untouched


def test_job_file_re_roots_at_the_rollup_folder(cfg: JobConfig) -> None:
    old = "/srv/tong-hop/old-place/out/tong-hop/khong-con-hien-hanh/2025-H1_008_quan-hoang-mai.xlsx"
    assert job_file(cfg, old) == cfg.out / "tong-hop" / "khong-con-hien-hanh" / "2025-H1_008_quan-hoang-mai.xlsx"
    assert job_file(cfg, str(cfg.out / "tong-hop" / "a.xlsx")) == cfg.out / "tong-hop" / "a.xlsx"
    assert job_file(cfg, "/somewhere/else.json") == Path("/somewhere/else.json")


def test_a_moved_job_s_portal_hands_out_its_marked_up_copies(
    cfg: JobConfig, catalogue: Catalogue, tmp_path: Path
) -> None:
    """The ledger names a marked-up copy by where it was written: after the job was moved, the portal's links to it
    answered 404 'Không có tệp này' (the old place is outside the job's folder)."""
    from types import SimpleNamespace

    from ctstat.job.ledger import Ledger
    from ctstat.web.ward import _copy_at

    shutil.copyfile(SAMPLES / "faulty" / "01-so-am.xlsx", cfg.inbox / "01-so-am.xlsx")
    run_job(cfg, catalogue, now=NOW)
    moved = replace(cfg, out=tmp_path / "moved" / "out", log=None)
    shutil.move(cfg.out, moved.out)
    with Ledger(moved.ledger_path, readonly=True) as ledger:
        stored = [r.annotated for r in ledger.rows() if r.annotated]
    assert len(stored) == 1 and not Path(stored[0]).exists()  # the place it was written at is gone
    served = _copy_at(SimpleNamespace(cfg=moved), stored[0])  # type: ignore[arg-type]
    assert served == (moved.out / "kiem-tra" / Path(stored[0]).name).resolve() and served.is_file()
