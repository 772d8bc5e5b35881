"""`ctstat export` says which unit list each code belongs to (issue 24): a code alone is ambiguous across the
2025 reform (00301 is another ward before and after 1 July 2025)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pandas as pd

from ctstat.job.config import JobConfig
from ctstat.job.history import History
from ctstat.job.history_sources import add_sources
from ctstat.job.run import export_file, export_table, run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period

from .test_rollup import HOANG_MAI, LAI_CHAU


def test_every_row_names_its_unit_list_and_the_history_reads_it_back(catalogue: Catalogue, cfg: JobConfig) -> None:
    for f in HOANG_MAI.glob("00301*.xlsx"):
        shutil.copy(f, cfg.inbox)
    run_job(cfg, catalogue)
    old = export_table(cfg, catalogue)
    assert list(old.columns[:3]) == ["period", "vintage", "unit_code"]
    assert set(old["vintage"]) == {"2025-06-30"} and set(old["unit_code"]) == {"00301"}

    new_inbox = cfg.inbox.parent / "inbox-h2"
    new_inbox.mkdir()
    shutil.copy(LAI_CHAU / "03388-doan-ket.xlsx", new_inbox)
    job = replace(cfg, period=Period.parse("2025-H2"), unit="12", inbox=new_inbox, out=cfg.out.parent / "out-h2")
    run_job(job, catalogue)
    new = export_table(job, catalogue)
    assert set(new["vintage"]) == {"2025-07-01"}
    out = export_file(new, job.out / "2025-H2.csv")
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert set(back["vintage"]) == {"2025-07-01"}  # text, never a date a spreadsheet rewrote
    history = History(cfg.out.parent / "h")
    add_sources(history, [out], catalogue)
    assert [(s["period"], s["vintage"], s["units"]) for s in history.summary()] == [("2025-H2", "2025-07-01", 1)]
