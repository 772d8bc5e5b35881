"""2025-H1 on a new province says on its cover which old provinces it is made of: new Cà Mau (96) is old Bạc Liêu
(95) and old Cà Mau (96), and its workbook read "96 - Tỉnh Cà Mau", 2025-H1, as if it were old Cà Mau's report."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from ctstat.model.catalogue import Catalogue
from ctstat.model.sheets import COVER
from ctstat.pipeline import rollup_paths, synth_forms
from ctstat.plan.regroup import REGROUPED


def test_a_regrouped_province_names_its_old_provinces_on_its_cover(catalogue: Catalogue, tmp_path: Path) -> None:
    folders = [tmp_path / p for p in ("95", "96")]
    for folder in folders:
        assert synth_forms(folder.name, "2025-H1", folder, catalogue, seed=1) > 0
    new = rollup_paths(folders, "2025-H1", tmp_path / "new", units="2025-07-01", catalogue=catalogue)
    assert not new.refused and new.vintage == REGROUPED and new.unit.code == "96"
    ws = openpyxl.load_workbook(new.outputs[0])[COVER]
    notes = [str(r[1]) for r in ws.iter_rows(values_only=True) if r[0] is None and isinstance(r[1], str)]
    [note] = [n for n in notes if n.startswith("6 tháng đầu năm 2025 theo tỉnh mới")]
    assert "Tỉnh Cà Mau (mã 96 mới) gồm toàn bộ 2 tỉnh cũ: 95 Tỉnh Bạc Liêu, 96 Tỉnh Cà Mau." in note
    assert "không phải báo cáo của một tỉnh cũ cùng tên hay cùng mã" in note
    # an old list's own province workbook has no such note
    old = rollup_paths([folders[1]], "2025-H1", tmp_path / "old", unit="96", catalogue=catalogue)
    province = next(p for p in old.outputs if p.name.split("_")[1] == "96")
    texts = [str(r[1]) for r in openpyxl.load_workbook(province)[COVER].iter_rows(values_only=True)]
    assert not any(t.startswith("6 tháng đầu năm 2025 theo tỉnh mới") for t in texts)
