from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ctstat.cli.commands import app
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import form_layout
from ctstat.model.sheets import COVER
from ctstat.pipeline import rollup_paths, synth_forms
from ctstat.plan.sums import indicator_parts, sum_by
from ctstat.read.workbook import read_submission
from ctstat.write.rollup_book import DATA, INDICATORS

from .conftest import SAMPLES

HOANG_MAI = SAMPLES / "wards" / "2025-H1-hoang-mai"
LAI_CHAU = SAMPLES / "wards" / "2025-H2-lai-chau"


def ward_values(folder: Path, catalogue: Catalogue) -> pd.DataFrame:
    """Independently of the rollup: each ward file's cells as numbers (index: unit code)."""
    keys = form_layout(catalogue).keys
    rows = {}
    for path in sorted(folder.rglob("*.xlsx")):
        sub = read_submission(path, catalogue)
        rows[sub.cover["unit_code"]] = [
            (1.0 if v == "Có" else 0.0) if isinstance(v, str) else float(v) for v in sub.raw
        ]
    return pd.DataFrame.from_dict(rows, orient="index", columns=keys)


def read_data_sheet(path: Path) -> pd.DataFrame:
    frame = pd.read_excel(path, sheet_name=DATA, dtype={"unit_code": str, "parent_code": str}, engine="calamine")
    return frame.set_index("unit_code")


@pytest.fixture(scope="module")
def da_nang(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> Path:
    """Every ward of Thành phố Đà Nẵng (48) for 2025-H1: 47 wards in 7 districts (and an island district)."""
    out = tmp_path_factory.mktemp("da-nang")
    assert synth_forms("48", "2025-H1", out, catalogue, seed=3) == 47
    return out


def test_district_rollup_sums_the_wards(catalogue: Catalogue, tmp_path: Path) -> None:
    result = rollup_paths([HOANG_MAI], "2025-H1", tmp_path, catalogue=catalogue)
    assert not result.refused and not result.partial
    assert [p.name for p in result.outputs] == ["2025-H1_008_quan-hoang-mai.xlsx"]
    expected = ward_values(HOANG_MAI, catalogue)
    got = read_data_sheet(result.outputs[0])[expected.columns].sort_index()
    pd.testing.assert_frame_equal(got.astype(float), expected.sort_index(), check_names=False)
    # the Biểu sheets hold the sums, in the form's own cells
    layout = form_layout(catalogue)
    sheet, cell = layout.address(cell_key("XH01", TOTAL, "sex:nu"))
    wb = pd.read_excel(result.outputs[0], sheet_name=sheet, header=None, engine="calamine")
    col = ord(cell[0]) - 65
    assert wb.iat[int(cell[1:]) - 1, col] == expected[cell_key("XH01", TOTAL, "sex:nu")].sum()
    assert (tmp_path / "2025-H1_008_manifest.json").exists()


def test_rates_are_recomputed_from_summed_parts_never_averaged(catalogue: Catalogue, tmp_path: Path) -> None:
    result = rollup_paths([HOANG_MAI], "2025-H1", tmp_path, catalogue=catalogue)
    wards = ward_values(HOANG_MAI, catalogue)
    num = wards[cell_key("HC02", TOTAL, TOTAL)].sum()
    den = wards[cell_key("HC01", TOTAL, TOTAL)].sum()
    assert result.manifest["totals"]["protection.special-circumstances-assisted-rate"] == pytest.approx(
        100 * num / den, abs=1e-6
    )
    mean_of_rates = (100 * wards[cell_key("HC02", TOTAL, TOTAL)] / wards[cell_key("HC01", TOTAL, TOTAL)]).mean()
    assert abs(mean_of_rates - 100 * num / den) > 1e-6  # the two differ, so the test can tell them apart
    play = wards[cell_key("VH03", TOTAL, TOTAL)]
    assert result.manifest["totals"]["culture.commune-play-area"] == pytest.approx(100 * play.sum() / len(play))
    sheet = pd.read_excel(result.outputs[0], sheet_name=INDICATORS, header=None, engine="calamine")
    row = sheet[sheet[1] == "Tỷ lệ trẻ em có hoàn cảnh đặc biệt được trợ giúp"].iloc[0]
    assert (row[5], row[6], row[7]) == (pytest.approx(100 * num / den), num, den)


def test_a_missing_ward_stops_the_rollup_with_a_chase_list(catalogue: Catalogue, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    shutil.copytree(HOANG_MAI, inbox)
    (inbox / "00337-hoang-liet.xlsx").unlink()
    shutil.copy(SAMPLES / "faulty" / "01-so-am.xlsx", inbox / "00301-thanh-tri.xlsx")  # now invalid
    result = rollup_paths([inbox], "2025-H1", tmp_path / "out", catalogue=catalogue)
    assert result.refused and result.outputs == []
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.xlsx"))
    chase = {(c["unit"], c["status"]) for c in result.manifest["chase_list"]}
    assert chase == {("00301", "invalid"), ("00337", "missing")}
    assert result.manifest["completeness"]["008 Quận Hoàng Mai"]["missing"] == 1


def test_allow_partial_marks_every_sheet(catalogue: Catalogue, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    shutil.copytree(HOANG_MAI, inbox)
    (inbox / "00337-hoang-liet.xlsx").unlink()
    result = rollup_paths([inbox], "2025-H1", tmp_path / "out", catalogue=catalogue, allow_partial=True)
    assert result.partial and not result.refused
    from openpyxl import load_workbook

    wb = load_workbook(result.outputs[0])
    shown = [ws for ws in wb.worksheets if ws.sheet_state == "visible"]
    assert {"Biểu đồ", "Nguồn dữ liệu", "Đầy đủ", "Chỉ tiêu"} <= {ws.title for ws in shown}
    for ws in shown:  # every sheet a reader sees, near its top (printed on its first page), with what is missing
        text = " ".join(str(c.value) for row in ws.iter_rows(max_row=25) for c in row if c.value)
        assert "CHƯA ĐẦY ĐỦ" in text and "00337 Phường Hoàng Liệt" in text, ws.title
    assert "00337" in " ".join(str(c.value) for c in wb["Đầy đủ"]["B"] if c.value)
    with zipfile.ZipFile(result.outputs[0]) as z:  # a chart copied into a document keeps the mark
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert charts and all("CHƯA ĐẦY ĐỦ" in c for c in charts)
    whole = rollup_paths([HOANG_MAI], "2025-H1", tmp_path / "whole", catalogue=catalogue)
    for ws in load_workbook(whole.outputs[0]).worksheets:
        assert "CHƯA ĐẦY ĐỦ" not in " ".join(str(c.value) for row in ws.iter_rows() for c in row if c.value)


def test_any_digest_on_the_cover_fits_its_column_when_printed(catalogue: Catalogue, tmp_path: Path) -> None:
    """The cover's SHA-256 is 64 hex characters; set in 11 pt it ran past the table's edge on paper for digests
    rich in wide letters (b, d: half an em, like a digit). At the size it is set in, even a digest of wide
    characters alone fits the column (a column `w` characters wide is (7w + 5) × 0.75 pt)."""
    from openpyxl import load_workbook

    from ctstat.read.rollup_book import DIGEST_LABEL

    result = rollup_paths([HOANG_MAI], "2025-H1", tmp_path, catalogue=catalogue)
    ws = load_workbook(result.outputs[0])[COVER]
    [row] = [r for r in ws.iter_rows() if r[1].value == DIGEST_LABEL]
    digest = row[2]
    assert re.fullmatch(r"[0-9a-f]{64}", str(digest.value))
    widest = 64 * 0.5 * float(digest.font.sz)  # points: every character as wide as a digit
    assert widest <= (7 * ws.column_dimensions["C"].width + 5) * 0.75


def test_same_inputs_give_byte_identical_workbooks(catalogue: Catalogue, tmp_path: Path) -> None:
    a = rollup_paths([HOANG_MAI], "2025-H1", tmp_path / "a", catalogue=catalogue)
    b = rollup_paths([HOANG_MAI], "2025-H1", tmp_path / "b", catalogue=catalogue)
    assert a.outputs[0].read_bytes() == b.outputs[0].read_bytes()
    c = rollup_paths(
        [HOANG_MAI], "2025-H1", tmp_path / "c", catalogue=catalogue, generated_at=datetime(2025, 7, 20, 9, 30)
    )
    assert c.outputs[0].read_bytes() != a.outputs[0].read_bytes()


def test_province_from_wards_equals_province_from_district_workbooks(
    catalogue: Catalogue, da_nang: Path, tmp_path: Path
) -> None:
    one = rollup_paths([da_nang], "2025-H1", tmp_path / "one", catalogue=catalogue)
    assert one.unit.code == "48"  # inferred: the smallest unit holding every input
    names = [p.name for p in one.outputs]
    assert len(names) == 8 and names[-1] == "2025-H1_48_thanh-pho-da-nang.xlsx"  # 7 districts, then the city
    districts = [p for p in one.outputs if "_48_" not in p.name]
    two = rollup_paths(districts, "2025-H1", tmp_path / "two", unit="48", catalogue=catalogue)
    assert two.manifest["totals"] == one.manifest["totals"]
    assert two.manifest["complete"]
    city_one = read_data_sheet(one.outputs[-1])
    city_two = read_data_sheet(next(p for p in two.outputs if "_48_" in p.name))
    pd.testing.assert_frame_equal(city_one.drop(columns="sha256"), city_two.drop(columns="sha256"))
    wards = ward_values(da_nang, catalogue)
    assert one.manifest["totals"]["general.child-population"] == wards[cell_key("TE01", TOTAL, TOTAL)].sum()


def test_mixing_ward_files_and_district_workbooks_for_the_same_wards_is_an_error(
    catalogue: Catalogue, da_nang: Path, tmp_path: Path
) -> None:
    one = rollup_paths([da_nang], "2025-H1", tmp_path / "one", catalogue=catalogue)
    district = next(p for p in one.outputs if "_48_" not in p.name)
    ward = next(da_nang.rglob("*.xlsx"))
    result = rollup_paths([district, ward], "2025-H1", tmp_path / "two", unit="48", catalogue=catalogue)
    assert result.refused
    found = [(Path(f.path).name, i.code) for f in result.report.files for i in f.issues]
    assert found == [(ward.name, "mixed-inputs")]  # once, at the ward's file, naming the workbook
    unit = ward.name[:5]
    (issue,) = [i for f in result.report.files for i in f.issues]
    assert issue.message("vi") == (
        f"Số liệu của {unit} có cả trong tệp của xã và trong tệp tổng hợp {district}. Chỉ gửi một trong hai."
    )
    statuses = {s.code: s.status for s in result.completeness.rows}
    assert statuses[unit] == "duplicate"  # counted once, as neither source
    assert [c for c, s in statuses.items() if s == "valid"] == [
        s.code for s in one.completeness.rows if s.parent == district.name.split("_")[1] and s.code != unit
    ]


def test_two_tier_province(catalogue: Catalogue, tmp_path: Path) -> None:
    result = rollup_paths([LAI_CHAU], "2025-H2", tmp_path, catalogue=catalogue)
    assert result.unit.code == "12" and result.vintage == "2025-07-01"
    assert [p.name for p in result.outputs] == ["2025-H2_12_tinh-lai-chau.xlsx"]
    wards = ward_values(LAI_CHAU, catalogue)
    got = read_data_sheet(result.outputs[0])[wards.columns].sort_index().astype(float)
    pd.testing.assert_frame_equal(got, wards.sort_index(), check_names=False)
    assert result.manifest["completeness"] == {
        "12 Tỉnh Lai Châu": {
            "expected": 38,
            "received": 38,
            "valid": 38,
            "invalid": 0,
            "missing": 0,
            "duplicate": 0,
            "late": 0,
        }
    }


def test_late_files_are_marked(catalogue: Catalogue, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    shutil.copytree(HOANG_MAI, inbox)
    files = sorted(inbox.glob("*.xlsx"))
    for p in files:  # a file given to rollup was received when it was last written
        when = datetime(2025, 7, 20 if p == files[0] else 10).timestamp()
        os.utime(p, (when, when))
    result = rollup_paths(files, "2025-H1", tmp_path / "out", catalogue=catalogue, deadline=date(2025, 7, 15))
    assert [s.code for s in result.completeness.rows if s.late] == ["00301"]
    assert not result.refused  # late is reported, not refused


def test_cli_rollup_json_equals_the_library_manifest(catalogue: Catalogue, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["rollup", str(HOANG_MAI), "--period", "2025-H1", "--out", str(tmp_path / "a"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    lib = rollup_paths([HOANG_MAI], "2025-H1", tmp_path / "a", catalogue=catalogue).manifest
    assert doc == json.loads(json.dumps(lib, ensure_ascii=False))
    inbox = tmp_path / "in"
    shutil.copytree(HOANG_MAI, inbox)
    (inbox / "00337-hoang-liet.xlsx").unlink()
    res = runner.invoke(app, ["rollup", str(inbox), "--period", "2025-H1", "--out", str(tmp_path / "b")])
    assert res.exit_code == 1
    assert "00337" in res.output and "chưa nộp" in res.output
    res = runner.invoke(app, ["rollup", str(inbox), "--period", "2025", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "--units" in res.output


def test_cli_rollup_summary_counts_every_file_read(tmp_path: Path) -> None:
    """The faulty file is shown; the summary counts the 14 files read, not only the one shown."""
    inbox = tmp_path / "in"
    shutil.copytree(HOANG_MAI, inbox)
    shutil.copyfile(SAMPLES / "faulty" / "01-so-am.xlsx", inbox / "00301-thanh-tri.xlsx")
    res = CliRunner().invoke(app, ["rollup", str(inbox), "--period", "2025-H1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "Tổng kết: 14 tệp, 13 hợp lệ, 1 không hợp lệ; 1 lỗi, 0 cảnh báo." in res.output
    assert "00301-thanh-tri.xlsx" in res.output and "00302" not in res.output  # valid files are not listed


# --- properties of the pure rollup --------------------------------------------------------------------------

counts = st.integers(0, 500)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_level_is_the_sum_of_its_parts_and_rates_use_summed_parts(
    data: st.DataObject, catalogue: Catalogue
) -> None:
    keys = form_layout(catalogue).keys
    n = data.draw(st.integers(1, 12))
    wards = [f"{i:05d}" for i in range(n)]
    districts = {w: f"D{data.draw(st.integers(0, 2))}" for w in wards}
    values = pd.DataFrame(
        np.array(
            data.draw(st.lists(st.lists(counts, min_size=len(keys), max_size=len(keys)), min_size=n, max_size=n)),
            dtype=float,
        ),
        index=wards,
        columns=keys,
    )
    by_district = sum_by(values, districts)
    city = sum_by(by_district, dict.fromkeys(by_district.index, "city"))
    # nothing lost or counted twice, at every level
    pd.testing.assert_series_equal(city.loc["city"], values.sum(), check_names=False)
    for d, rows in values.groupby(pd.Series(districts)):
        pd.testing.assert_series_equal(by_district.loc[d], rows.sum(), check_names=False)
    n_units = pd.Series(pd.Series(districts).value_counts())
    parts = indicator_parts(catalogue, by_district, n_units)
    for ind in catalogue.indicators:
        frame = parts[ind.id]
        if ind.kind == "count":
            assert (frame["value"] == by_district[cell_key(ind.element, TOTAL, TOTAL)]).all()  # type: ignore[arg-type]
            continue
        num = by_district[cell_key(ind.numerator, TOTAL, TOTAL)]  # type: ignore[arg-type]
        den = (
            n_units.reindex(by_district.index).astype(float)
            if ind.denominator == "_units"
            else by_district[cell_key(ind.denominator, TOTAL, TOTAL)]
        )  # type: ignore[arg-type]
        expected = (num / den.where(den != 0)) * ind.factor
        pd.testing.assert_series_equal(frame["value"], expected, check_names=False)


def test_a_three_tier_province_workbook_is_not_an_input(catalogue: Catalogue, da_nang: Path, tmp_path: Path) -> None:
    one = rollup_paths([da_nang], "2025-H1", tmp_path / "one", catalogue=catalogue)
    city = one.outputs[-1]
    result = rollup_paths([city], "2025-H1", tmp_path / "two", unit="48", catalogue=catalogue)
    assert result.refused
    assert [i.code for f in result.report.files for i in f.issues] == ["rollup-mismatch"]


def test_above_the_district_level_the_chase_list_names_the_district_workbook_first(
    catalogue: Catalogue, da_nang: Path, tmp_path: Path
) -> None:
    """A city fed by district workbooks: a missing district is one line (not its 5 wards as 'chưa nộp'), an edited
    workbook one line (not its 6 wards as 'không hợp lệ'), a partial one names its missing wards as detail; in the
    terminal, the manifest and the 'Đầy đủ' sheet."""
    import openpyxl

    from ctstat.cli.render import make_consoles, render_rollup
    from ctstat.model.units import load_units

    one = rollup_paths([da_nang], "2025-H1", tmp_path / "districts", catalogue=catalogue)
    books = tmp_path / "books"
    books.mkdir()
    for p in one.outputs:
        code = p.name.split("_")[1]
        if code in ("490", "48"):  # Liên Chiểu never sends its workbook
            continue
        if code == "491":  # Thanh Khê's workbook typed over after ctstat wrote it
            wb = openpyxl.load_workbook(p)
            wb[DATA].cell(2, 10).value = (wb[DATA].cell(2, 10).value or 0) + 3
            wb.save(books / p.name)
        elif code == "493":  # Sơn Trà sends last half-year's workbook
            wb = openpyxl.load_workbook(p)
            for row in wb["Thông tin chung"].iter_rows(min_row=6, max_row=24):
                if row[1].value == "Kỳ báo cáo":
                    row[2].value = "2024-H2 (6 tháng cuối năm 2024)"
            wb.save(books / p.name)
        elif code != "492":
            shutil.copy(p, books / p.name)
    # Hải Châu rolled up without two of its wards (--allow-partial)
    h = load_units("2025-06-30")
    hai_chau = [u.code for u in h.communes_under(h.get("492", "district"))]  # type: ignore[arg-type]
    wards = tmp_path / "w492"
    wards.mkdir()
    for p in da_nang.rglob("*.xlsx"):
        if p.name[:5] in hai_chau[2:]:
            shutil.copy(p, wards / p.name)
    part = rollup_paths([wards], "2025-H1", tmp_path / "p492", unit="492", catalogue=catalogue, allow_partial=True)
    shutil.copy(part.outputs[0], books / part.outputs[0].name)

    result = rollup_paths([books], "2025-H1", tmp_path / "city", unit="48", catalogue=catalogue)
    assert result.refused
    parents = {p.code: p for p in result.completeness.chase_parents()}
    assert {c: p.status for c, p in parents.items()} == {
        "490": "missing",
        "491": "edited",
        "492": "partial",
        "493": "invalid",
    }
    assert parents["490"].files == () and [Path(f).name for f in parents["491"].files] == [
        "2025-H1_491_quan-thanh-khe.xlsx"
    ]
    assert "Chưa nhận được tệp tổng hợp của Quận Liên Chiểu" in parents["490"].problem
    assert "đã bị sửa sau khi ctstat ghi" in parents["491"].problem
    assert "2/9 xã, phường chưa có số liệu hợp lệ (2 chưa nộp)" in parents["492"].problem
    assert "kỳ 2024-H2, cần 2025-H1" in parents["493"].problem
    assert "was changed after ctstat wrote it" in parents["491"].problem_en
    assert [c.code for c in parents["492"].chase()] == hai_chau[:2]
    assert [c.code for c in parents["490"].chase()] == [u.code for u in h.communes_under(h.get("490", "district"))]  # type: ignore[arg-type]

    # the manifest: the districts first, each with its communes; the flat list of communes stays
    keys = list(result.manifest)
    assert keys.index("chase_parents") < keys.index("chase_list")
    first = result.manifest["chase_parents"][0]
    assert (first["unit"], first["status"], first["counts"]["expected"], len(first["communes"])) == (
        "490",
        "missing",
        5,
        5,
    )
    assert len(result.manifest["chase_list"]) == 5 + 6 + 2 + 6

    # the terminal: one line per district; the communes only where they differ (Hải Châu's two)
    console = make_consoles(no_color=True)[0]
    console.width = 400
    with console.capture() as cap:
        render_rollup(result, console, "vi")
    text = cap.get()
    districts_at = text.index("Danh sách cần đôn đốc: quận, huyện")
    assert districts_at < text.index("Chi tiết theo xã, phường") < text.index(hai_chau[0])
    lien_chieu = [u.code for u in h.communes_under(h.get("490", "district"))]  # type: ignore[arg-type]
    assert not any(code in text for code in lien_chieu)
    assert "(4/7 quận, huyện cần đôn đốc)" in text
    with console.capture() as cap:
        render_rollup(result, console, "en")
    assert "Chase list: districts" in cap.get() and "No workbook from Quận Liên Chiểu" in cap.get()

    # the workbook (rolled up partial): the districts' table first, then the communes; Liên Chiểu's in one row
    partial = rollup_paths([books], "2025-H1", tmp_path / "city2", unit="48", catalogue=catalogue, allow_partial=True)
    city = next(p for p in partial.outputs if "_48_" in p.name)
    ws = openpyxl.load_workbook(city)["Đầy đủ"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    flat = [" ".join(str(v) for v in row if v is not None) for row in rows]
    banner = next(line for line in flat if line.startswith("BÁO CÁO CHƯA ĐẦY ĐỦ"))
    assert "490 Quận Liên Chiểu: chưa nộp" in banner and "491 Quận Thanh Khê: tệp bị sửa" in banner
    head = next(i for i, line in enumerate(flat) if line.startswith("STT Mã Quận, huyện"))
    table = rows[head + 1 : head + 8]
    assert [(r[1], r[3], r[4]) for r in table] == [
        ("490", "Chưa nộp", "0/5"),
        ("491", "Tệp bị sửa", "0/6"),
        ("492", "Chưa đầy đủ", "7/9"),
        ("493", "Không hợp lệ", "0/6"),
        ("494", "Hợp lệ", "4/4"),
        ("495", "Hợp lệ", "6/6"),
        ("497", "Hợp lệ", "11/11"),
    ]
    assert table[1][5] == "2025-H1_491_quan-thanh-khe.xlsx" and "đã bị sửa" in table[1][6]
    first_commune = next(i for i, line in enumerate(flat) if lien_chieu[0] in line)
    assert first_commune > head + 8
    assert flat[first_commune].startswith("Cả 5 xã, phường (chưa nộp") and all(
        c in flat[first_commune] for c in lien_chieu
    )
    assert sum(lien_chieu[1] in line for line in flat) == 1  # one row for the five, not five rows
    assert sum(hai_chau[0] in line for line in flat) == 1  # Hải Châu's communes: one row each


def test_a_city_job_chases_a_silent_district_as_one_line(catalogue: Catalogue, da_nang: Path, tmp_path: Path) -> None:
    """The scheduled job at the city takes in ward files: a district none of whose wards sent anything is one
    line of `status`, its wards not listed one by one."""
    from ctstat.cli.render import make_consoles, render_status
    from ctstat.job.config import JobConfig
    from ctstat.job.run import job_status, run_job
    from ctstat.model.period import Period
    from ctstat.model.units import load_units

    h = load_units("2025-06-30")
    lien_chieu = [u.code for u in h.communes_under(h.get("490", "district"))]  # type: ignore[arg-type]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in da_nang.rglob("*.xlsx"):
        if p.name[:5] not in lien_chieu:
            shutil.copy(p, inbox / p.name)
    cfg = JobConfig(Period.parse("2025-H1"), "48", inbox, tmp_path / "out", deadline=date(2025, 7, 15))
    run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    doc = job_status(cfg, catalogue)
    assert [(p["unit"], p["status"], len(p["communes"])) for p in doc["chase_parents"]] == [("490", "missing", 5)]
    assert "Chưa có báo cáo nào của 5 xã, phường thuộc Quận Liên Chiểu" in doc["chase_parents"][0]["problem"]
    console = make_consoles(no_color=True)[0]
    console.width = 300
    with console.capture() as cap:
        render_status(doc, console, "vi")
    text = cap.get()
    assert "Danh sách cần đôn đốc: quận, huyện" in text and not any(code in text for code in lien_chieu)


def test_a_district_sent_twice_or_with_a_ward_file_is_one_duplicate_line(
    catalogue: Catalogue, da_nang: Path, tmp_path: Path
) -> None:
    one = rollup_paths([da_nang], "2025-H1", tmp_path / "districts", catalogue=catalogue)
    books = [p for p in one.outputs if "_48_" not in p.name]
    lien_chieu = next(p for p in books if "_490_" in p.name)
    copy = tmp_path / "copy" / f"ban-sao-{lien_chieu.name}"
    copy.parent.mkdir()
    shutil.copy(lien_chieu, copy)
    ward = sorted(da_nang.rglob("20206-*.xlsx"))[0]  # a ward of Thanh Khê (491), also in its district's workbook
    result = rollup_paths([*books, copy, ward], "2025-H1", tmp_path / "city", unit="48", catalogue=catalogue)
    parents = {p.code: p for p in result.completeness.chase_parents()}
    assert {c: p.status for c, p in parents.items()} == {"490": "duplicate", "491": "duplicate"}
    assert len(parents["490"].files) == 2 and f"ban-sao-{lien_chieu.name}" in parents["490"].problem
    assert "1/6 xã, phường chưa có số liệu hợp lệ" in parents["491"].problem and ward.name in parents["491"].problem
