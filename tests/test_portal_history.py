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
