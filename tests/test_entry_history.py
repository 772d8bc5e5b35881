"""The report typed on the page shows last period's figure beside each field when the job has a history (issue
25): small and muted, the latest comparable period's (a stock: the half-year before; a flow: the same half of the
year before), the ward's own only; nothing without a history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from ctstat.job.config import JobConfig
from ctstat.job.history import COLUMNS, History, Source
from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.web.tokens import issue_tokens

from .test_entry import WARD, started
from .test_portal import OTHER, Site

STOCK = "HC01/*/*"  #: Biểu 2, a total (the form computes it)
FLOW = "XH01/*/sex:nam"  #: Biểu 3, an input
ANSWER = "VH03/*/*"  #: Biểu 5, yes/no


def _history(folder: Path) -> Path:
    rows = [
        (WARD, "2024-H1", STOCK, 7.0),
        (WARD, "2024-H2", STOCK, 1234.0),  # the stock's last period
        (WARD, "2023-H1", FLOW, 3.0),
        (WARD, "2024-H1", FLOW, 5.0),  # the flow's: the same half, a year before
        (WARD, "2024-H2", FLOW, 99.0),
        (WARD, "2024-H2", ANSWER, 1.0),
        (OTHER, "2024-H2", STOCK, 4242.0),  # another ward's, never shown
    ]
    frame = pd.DataFrame([(u, "2025-06-30", p, c, v, "t") for u, p, c, v in rows], columns=COLUMNS)
    History(folder).add(frame, [Source("t", "table", "t.csv")])
    return folder


def _site(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path, history: Path | None) -> Site:
    cfg = replace(cfg, out=tmp_path / "out", history=history)
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    return Site(cfg, catalogue, {i.unit: i.token for i in issued})


@pytest.fixture
def sites(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[Site, Site]]:
    a = _site(cfg, catalogue, tmp_path / "a", _history(tmp_path / "h"))
    b = _site(cfg, catalogue, tmp_path / "b", None)
    yield a, b
    a.portal.intake.close()
    b.portal.intake.close()


def _beside(html: str, catalogue: Catalogue, key: str) -> str | None:
    """The 'kỳ trước' text in the field of `key` (its cell: from the field's id to the cell's end)."""
    ident = f"o{form_layout(catalogue).keys.index(key)}"
    cell = re.search(rf'id="{ident}"(.*?)</td>', html, re.S)
    assert cell, key
    m = re.search(r'<span class="prev"[^>]*>kỳ trước: ([^<]*)</span>', cell.group(1))
    return m.group(1) if m else None


def test_last_periods_figures_beside_the_fields(sites: tuple[Site, Site], catalogue: Catalogue) -> None:
    with_history, _ = sites
    c, _ = started(with_history)
    b2, b3, b5 = (c.get(f"/xa/nhap/{n}").text for n in (2, 3, 5))
    assert _beside(b2, catalogue, STOCK) == "1.234"
    assert _beside(b3, catalogue, FLOW) == "5"
    assert _beside(b5, catalogue, ANSWER) == "Có"
    assert "4242" not in b2 and "4.242" not in b2
    assert "kỳ so sánh gần nhất (2024-H2)" in b2 and "(2024-H1)" in b3
    # a field with no figure held shows nothing
    assert _beside(b2, catalogue, "HC01/*/sex:nam") is None
    # the field says what its small figure is (a screen reader reads it with the field)
    ident = f"o{form_layout(catalogue).keys.index(FLOW)}"
    assert f'aria-describedby="{ident}-kt"' in b3


def test_a_new_history_is_seen_and_none_shows_nothing(sites: tuple[Site, Site], catalogue: Catalogue) -> None:
    with_history, plain = sites
    c, _ = started(with_history)
    assert _beside(c.get("/xa/nhap/3").text, catalogue, FLOW) == "5"
    assert with_history.cfg.history is not None
    frame = pd.DataFrame([(WARD, "2025-06-30", "2024-H1", FLOW, 6.0, "u")], columns=COLUMNS)
    History(with_history.cfg.history).add(frame, [Source("u", "table", "u.csv")])
    assert _beside(c.get("/xa/nhap/3").text, catalogue, FLOW) == "6"
    (with_history.cfg.history / "manifest.json").write_text("{not json", encoding="utf-8")
    page = c.get("/xa/nhap/3")
    assert page.status_code == 200 and "kỳ trước" not in page.text
    p, _ = started(plain)
    for n in range(1, 7):
        assert "kỳ trước" not in p.get(f"/xa/nhap/{n}").text
