"""The portal's result page shows an accepted upload's unusual changes when the job has a history (issue 24): the
ward sees the warning before the district calls; without a history, nothing changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from ctstat.job.config import JobConfig
from ctstat.job.history import COLUMNS, History, Source
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.web.tokens import issue_tokens

from .test_portal import HM, WARD, Site, csrf_of

HC01 = cell_key("HC01", TOTAL, TOTAL)
PAST = (1.0, 1.0, 2.0, 1.0)


def _history(folder: Path) -> Path:
    """Phường Thanh Trì had 1, 1, 2, 1 children in special circumstances; its sample form says 26."""
    rows = [(WARD, "2025-06-30", f"{y}-H1", HC01, v, "t") for y, v in zip(range(2021, 2025), PAST, strict=True)]
    History(folder).add(pd.DataFrame(rows, columns=COLUMNS), [Source("t", "table", "t.csv")])
    return folder


def _site(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path, history: Path | None) -> Site:
    cfg = replace(cfg, upload_limit_mb=1, uploads_per_minute=8, history=history)
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    return Site(cfg, catalogue, {i.unit: i.token for i in issued})


@pytest.fixture
def sites(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[Site, Site]]:
    a = _site(cfg, catalogue, tmp_path / "a", _history(tmp_path / "h"))
    b = _site(replace(cfg, out=tmp_path / "plain"), catalogue, tmp_path / "b", None)
    yield a, b
    a.portal.intake.close()
    b.portal.intake.close()


def _upload(site: Site) -> str:
    c = site.sign_in(WARD)
    good = HM / "00301-thanh-tri.xlsx"
    r = c.post("/xa/nop", files={"file": (good.name, good.read_bytes())}, data={"csrf": csrf_of(c.get("/xa").text)})
    assert r.status_code == 200 and "Hợp lệ: đã nhận báo cáo của 00301 Phường Thanh Trì" in r.text
    return r.text


def test_an_accepted_upload_shows_its_unusual_changes(sites: tuple[Site, Site]) -> None:
    with_history, plain = sites
    page = _upload(with_history)
    assert "So với các kỳ trước: 1 số khác thường" in page
    assert "2021-H1: 1 · 2022-H1: 1 · 2023-H1: 2 · 2024-H1: 1 → 2025-H1: 26" in page
    assert "Biểu 2!" in page and "p &lt; 0,0001" in page
    assert "So với các kỳ trước" not in _upload(plain)


def test_an_unreadable_history_costs_the_page_nothing(sites: tuple[Site, Site]) -> None:
    with_history, _ = sites
    assert with_history.cfg.history is not None
    (with_history.cfg.history / "manifest.json").write_text("{not json", encoding="utf-8")
    page = _upload(with_history)
    assert "So với các kỳ trước" not in page


def test_a_year_job_compares_an_upload_under_its_own_period(
    cfg: JobConfig, catalogue: Catalogue, tmp_path: Path
) -> None:
    """A job of the year 2025 by the new communes takes the new communes' 2025-H2 forms: each is compared as the
    half-year it is (with earlier half-years, its old communes' restated), not as if it were the year."""
    from datetime import date

    from ctstat.model.period import Period

    from .test_rollup import LAI_CHAU

    olds = ["03386", "03388", "03389", "03391", "03403"]  # all went whole into the new 03388 Xã Đoàn Kết
    periods = ["2023-H1", "2023-H2", "2024-H1", "2024-H2", "2025-H1"]
    rows = [(old, "2025-06-30", p, HC01, 2.0, "t") for old in olds for p in periods]
    History(tmp_path / "h").add(pd.DataFrame(rows, columns=COLUMNS), [Source("t", "table", "t.csv")])
    year = replace(cfg, period=Period.parse("2025"), unit="12", units="2025-07-01", deadline=date(2026, 1, 31))
    site = _site(year, catalogue, tmp_path / "a", tmp_path / "h")
    try:
        c = site.sign_in("03388")
        form = LAI_CHAU / "03388-doan-ket.xlsx"
        r = c.post("/xa/nop", files={"file": (form.name, form.read_bytes())}, data={"csrf": csrf_of(c.get("/xa").text)})
        assert r.status_code == 200 and "Hợp lệ" in r.text
        assert "2023-H1: 10 · 2023-H2: 10 · 2024-H1: 10 · 2024-H2: 10 · 2025-H1: 10 → 2025-H2: 51" in r.text
    finally:
        site.portal.intake.close()
