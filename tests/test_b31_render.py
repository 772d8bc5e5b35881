"""A rollup's cover prints on one page with its signature block whole: a partial year 2025 (its banner naming the
missing communes, the note on how the year is put together) pushed the signatures' "(Ký, ...)" lines onto a
second page of their own. Printed with LibreOffice as tests/test_render.py does (skipped without it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ctstat.model.catalogue import Catalogue
from ctstat.pipeline import rollup_paths

from .conftest import ROOT, SAMPLES
from .test_render import HAVE, _tools  # noqa: F401  (skipped without LibreOffice)

sys.path.insert(0, str(ROOT / "scripts"))
render_check = pytest.importorskip("render_check")


def test_a_partial_years_cover_prints_on_one_page_signed(catalogue: Catalogue, tmp_path: Path) -> None:
    # the new communes' 2025-H2 alone: every one lacks its old communes' 2025-H1, the banner names them
    result = rollup_paths(
        [SAMPLES / "wards" / "2025-H2-lai-chau"],
        "2025",
        tmp_path / "out",
        catalogue=catalogue,
        units="2025-07-01",
        allow_partial=True,
    )
    assert result.partial
    env = render_check.font_env(tmp_path)
    assert render_check.serif_missing(env) is None
    pdf = render_check.to_pdf(result.outputs[0], tmp_path, tmp_path / "profile", env)
    first, second = subprocess.run(
        ["pdftotext", "-layout", "-f", "1", "-l", "2", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout.split("\f")[:2]
    assert "BÁO CÁO CHƯA ĐẦY ĐỦ" in first and "Năm 2025 theo đơn vị mới" in first
    for line in ("Người lập biểu", "Thủ trưởng đơn vị", "(Ký, ghi rõ họ tên)", "(Ký, đóng dấu, ghi rõ họ tên)"):
        assert line in first, line
    assert second.lstrip().startswith("CÁC CHỈ TIÊU THỐNG KÊ")  # the next sheet: the cover is one page
