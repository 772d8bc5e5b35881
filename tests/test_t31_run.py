"""The scheduled job pinned to exact outcomes (found by mutating job/run.py by hand: these bugs went through the
rest of the suite)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger
from ctstat.job.run import job_status, run_job
from ctstat.model.catalogue import Catalogue

from .conftest import SAMPLES
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
