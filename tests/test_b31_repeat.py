"""The lists an official prints over several pages repeat their header on every page: "Đầy đủ" (a two-tier
province's 126 communes ran over three pages, the second and third without their columns' names) and "Nguồn dữ
liệu" (every input file)."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from ctstat.model.catalogue import Catalogue
from ctstat.model.sheets import COMPLETENESS, PROVENANCE
from ctstat.pipeline import rollup_paths

from .conftest import SAMPLES


def test_the_completeness_and_sources_lists_repeat_their_header(catalogue: Catalogue, tmp_path: Path) -> None:
    lai_chau = SAMPLES / "wards" / "2025-H2-lai-chau"
    [book] = rollup_paths([lai_chau], "2025-H2", tmp_path, catalogue=catalogue).outputs
    wb = openpyxl.load_workbook(book)
    for name in (COMPLETENESS, PROVENANCE):
        ws = wb[name]
        header = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "STT")
        assert len([r for r in range(1, ws.max_row + 1) if isinstance(ws.cell(r, 1).value, int)]) == 38
        assert ws.print_title_rows == f"$1:${header}", name  # the titles down to the header, on every page
