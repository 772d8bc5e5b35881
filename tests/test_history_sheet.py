"""A rollup with a history gets a comparison sheet (issue 24): each unit against its comparable earlier periods,
rates from summed parts, the unusual changes with their p and history, flagged cells marked, trend charts, the
modelled reading said; same inputs, same bytes; no history, no sheet."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from ctstat.job.compare import history_lookup
from ctstat.job.history import COLUMNS, History, Source
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.period import Period
from ctstat.model.sheets import COMPARISON
from ctstat.pipeline import collect_inputs, rollup_paths
from ctstat.write.history_sheet import FLAG_FILL

from .test_rollup import HOANG_MAI

YEARS = (2021, 2022, 2023, 2024)
HC01 = cell_key("HC01", TOTAL, TOTAL)
TE01 = cell_key("TE01", TOTAL, TOTAL)
PLANTED = (1.0, 1.0, 2.0, 1.0)  #: 00301's children in special circumstances before 2025-H1 (it reports far more)


@pytest.fixture(scope="module")
def past(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> tuple[Path, pd.DataFrame]:
    """A history of Quận Hoàng Mai's H1s 2021-2024: each ward's 2025-H1 cells scaled down a little each year back,
    and one planted jump."""
    now = collect_inputs([HOANG_MAI], catalogue, Period.parse("2025-H1")).values_of
    rows = []
    for k, year in enumerate(YEARS):
        for unit, cells in sorted(now.items()):
            for cell, v in cells.dropna().items():
                value = float(np.floor(v * (0.7 + 0.1 * k)))
                if unit == "00301" and cell == HC01:
                    value = PLANTED[k]
                rows.append((unit, "2025-06-30", f"{year}-H1", cell, value, "t"))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    folder = tmp_path_factory.mktemp("history") / "h"
    History(folder).add(frame, [Source("t", "table", "t.csv")])
    return folder, frame


def _rollup(catalogue: Catalogue, out: Path, history: Path | None) -> Path:
    lookup = history_lookup(History(history), catalogue) if history else None
    result = rollup_paths([HOANG_MAI], "2025-H1", out, catalogue=catalogue, history=lookup)
    assert not result.refused
    return result.outputs[0]


def _table(book: Path) -> pd.DataFrame:
    return pd.read_excel(book, sheet_name=COMPARISON, header=None, engine="calamine")


def _row(sheet: pd.DataFrame, label: str, after: int = 0) -> pd.Series:
    hits = [i for i in sheet.index if i >= after and sheet.iat[i, 1] == label]
    return sheet.loc[hits[0]]


def test_the_sheet_compares_the_unit_with_its_earlier_periods(
    catalogue: Catalogue, past: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    folder, frame = past
    book = _rollup(catalogue, tmp_path / "a", folder)
    sheet = _table(book)
    header = next(i for i in sheet.index if sheet.iat[i, 0] == "STT")
    periods = [str(v) for v in sheet.loc[header, 4:]]
    assert periods[-1] == "2025-H1\n(kỳ này)" and periods[-5:-1] == [f"{y}-H1" for y in YEARS]
    assert periods[:-5] == ["2019-H1", "2020-H1"]  # shown, not held: '–'
    total = frame[frame["cell"] == TE01].groupby("period")["value"].sum()
    population = _row(sheet, "Dân số trẻ em")
    assert [float(population[4 + periods.index(f"{y}-H1")]) for y in YEARS] == [total[f"{y}-H1"] for y in YEARS]
    assert population[4] == "–"
    # a rate from the period's summed parts, never an average of the wards' rates
    held = frame[frame["period"] == "2023-H1"].pivot(index="unit", columns="cell", values="value")
    rate = _row(sheet, "Tỷ lệ trẻ em có hoàn cảnh đặc biệt")[4 + periods.index("2023-H1")]
    assert rate == pytest.approx(held[HC01].sum() / held[TE01].sum() * 100)
    assert rate != pytest.approx((held[HC01] / held[TE01]).mean() * 100)
    text = "\n".join(str(v) for v in sheet.to_numpy().ravel() if isinstance(v, str))
    assert "MÔ HÌNH HÓA" in text and "KHÔNG THUỘC BÁO CÁO" in text
    assert "tồn cuối kỳ *" in text and "phát sinh trong kỳ *" in text


def test_the_planted_jump_is_flagged_ranked_and_marked_on_its_ward(
    catalogue: Catalogue, past: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    folder, _ = past
    book = _rollup(catalogue, tmp_path / "a", folder)
    sheet = _table(book)
    first = next(i for i in sheet.index if sheet.iat[i, 0] == 1 and "\n" in str(sheet.iat[i, 1]))
    assert str(sheet.iat[first, 1]).startswith("00301 Phường Thanh Trì\n")
    assert str(sheet.iat[first, 4]).startswith("2021-H1: 1 · 2022-H1: 1 · 2023-H1: 2 · 2024-H1: 1 → 2025-H1: ")
    assert sheet.iat[first, 9] == "p < 0,0001" and sheet.iat[first, 2] == "xã"
    # in the wards' table, Phường Thanh Trì's count this period is filled; a ward without a flag is not
    ws = openpyxl.load_workbook(book)[COMPARISON]
    fills = {}
    ward = ""
    for row in ws.iter_rows(min_row=first + 2):
        label = row[1].value if row[0].value is None else None
        if isinstance(row[0].value, str) and row[0].value.startswith("00"):
            ward = row[0].value.split(" ")[0]
        elif row[1].value and not label:
            fills[(ward, row[1].value)] = row[10].fill.fgColor.rgb
    assert fills[("00301", "Số lượng trẻ em có hoàn cảnh đặc biệt")].endswith(FLAG_FILL[1:])
    assert not fills[("00304", "Số lượng trẻ em có hoàn cảnh đặc biệt")].endswith(FLAG_FILL[1:])


def test_same_inputs_same_bytes_and_no_history_no_sheet(
    catalogue: Catalogue, past: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    folder, _ = past
    a, b = _rollup(catalogue, tmp_path / "a", folder), _rollup(catalogue, tmp_path / "b", folder)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        assert sum(n.startswith("xl/charts/chart") for n in z.namelist()) >= 8 + len(catalogue.charts)
    plain = _rollup(catalogue, tmp_path / "c", None)
    assert COMPARISON not in pd.ExcelFile(plain, engine="calamine").sheet_names
    assert COMPARISON in pd.ExcelFile(a, engine="calamine").sheet_names


def test_rollup_takes_a_history_folder(past: tuple[Path, pd.DataFrame], tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    from ctstat.cli.commands import app

    folder, _ = past
    args = ["rollup", str(HOANG_MAI), "--period", "2025-H1", "--out", str(tmp_path), "--history", str(folder)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    [book] = tmp_path.glob("*.xlsx")
    assert COMPARISON in pd.ExcelFile(book, engine="calamine").sheet_names


def test_a_job_with_a_history_writes_the_sheet_and_a_new_load_rewrites_it(
    catalogue: Catalogue,
    past: tuple[Path, pd.DataFrame],
    tmp_path: Path,
    cfg,  # type: ignore[no-untyped-def]
) -> None:
    import dataclasses
    import shutil

    from ctstat.job.run import run_job

    folder, _ = past
    mine = tmp_path / "h"
    shutil.copytree(folder, mine)
    for f in HOANG_MAI.glob("*.xlsx"):
        shutil.copy(f, cfg.inbox)
    job = dataclasses.replace(cfg, history=mine)
    first = run_job(job, catalogue)
    assert first.rollup_state == "written" and first.rollup is not None
    book = first.rollup.outputs[0]
    assert COMPARISON in pd.ExcelFile(book, engine="calamine").sheet_names
    assert run_job(job, catalogue).rollup_state == "unchanged"
    more = pd.DataFrame([("00301", "2025-06-30", "2020-H1", HC01, 1.0, "u")], columns=COLUMNS)
    History(mine).add(more, [Source("u", "table", "u.csv")])  # an earlier period loaded: the sheet changes
    again = run_job(job, catalogue)
    assert again.rollup_state == "written"


def test_before_the_reform_a_new_province_is_the_sum_of_its_old_communes(catalogue: Catalogue, tmp_path: Path) -> None:
    """Tỉnh Lai Châu's 38 new communes took its 106 old ones whole: its 2024-H2 is theirs, summed; a yes/no answer
    (a play area) is never summed across the reform, so the share of communes with one has no earlier figure."""
    from ctstat.model.units import load_units

    from .test_rollup import LAI_CHAU

    old = load_units("2025-06-30")
    communes = old.communes_under(old.get("12", "province"))  # type: ignore[arg-type]
    assert len(communes) == 106
    rng = np.random.default_rng(7)
    play = cell_key("VH03", TOTAL, TOTAL)
    rows = [
        (
            u.code,
            "2025-06-30",
            f"{y}-H2",
            cell,
            float(rng.integers(0, 2) if cell == play else rng.integers(50, 900)),
            "t",
        )
        for y in (2022, 2023, 2024)
        for u in communes
        for cell in (TE01, HC01, play)
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    History(tmp_path / "h").add(frame, [Source("t", "table", "t.csv")])
    lookup = history_lookup(History(tmp_path / "h"), catalogue)
    result = rollup_paths([LAI_CHAU], "2025-H2", tmp_path / "out", catalogue=catalogue, history=lookup)
    sheet = _table(result.outputs[0])
    header = next(i for i in sheet.index if sheet.iat[i, 0] == "STT")
    col = 4 + [str(v) for v in sheet.loc[header, 4:]].index("2024-H2")
    expected = frame[(frame["cell"] == TE01) & (frame["period"] == "2024-H2")]["value"].sum()
    assert float(_row(sheet, "Dân số trẻ em")[col]) == expected
    assert _row(sheet, "Tỷ lệ xã, phường, thị trấn có điểm vui chơi dành cho trẻ em")[col] == "–"
