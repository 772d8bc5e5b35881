"""The year 2025 by the new communes: old communes' 2025-H1 forms (or district workbooks) with the new communes'
2025-H2 forms, put together through the crosswalk (issue 24): flows H1 + H2, stocks H2, exact or refused."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ctstat.cli.commands import app
from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import element_of
from ctstat.pipeline import rollup_paths, synth_forms

from .conftest import ROOT, MakeForm
from .test_rollup import HOANG_MAI, LAI_CHAU, read_data_sheet, ward_values

CROSSWALK = ROOT / "src" / "ctstat" / "data" / "units" / "map_2025-07-01.csv"


@pytest.fixture(scope="module")
def lai_chau_h1(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> Path:
    """Every old commune of Tỉnh Lai Châu (12) for 2025-H1: 106 forms, all of which went whole into 38 new ones."""
    out = tmp_path_factory.mktemp("lai-chau-h1")
    assert synth_forms("12", "2025-H1", out, catalogue, seed=5) == 106
    return out


def expected_year(h1: pd.DataFrame, h2: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """Independently of ctstat's code: each new commune's H2, plus for flows the sum of its old communes' H1."""
    with CROSSWALK.open(encoding="utf-8") as fh:
        new_of = {r["old_commune"]: r["new_commune"] for r in csv.DictReader(fh) if r["old_split"] == "0"}
    mapped = h1.groupby(h1.index.map(new_of)).sum()
    flows = [k for k in h2.columns if catalogue.elements[element_of(k)].over_time == "flow"]
    out = h2.copy()
    out[flows] = h2[flows] + mapped.reindex(h2.index)[flows]
    return out


def test_the_year_by_new_units_is_h1_mapped_plus_h2_for_flows_and_h2_for_stocks(
    catalogue: Catalogue, lai_chau_h1: Path, tmp_path: Path
) -> None:
    result = rollup_paths([lai_chau_h1, LAI_CHAU], "2025", tmp_path / "a", units="2025-07-01", catalogue=catalogue)
    assert not result.refused and not result.partial
    assert result.unit.code == "12" and result.vintage == "2025-07-01"
    h1, h2 = ward_values(lai_chau_h1, catalogue), ward_values(LAI_CHAU, catalogue)
    expected = expected_year(h1, h2, catalogue).sort_index()
    got = read_data_sheet(result.outputs[0])[expected.columns].sort_index().astype(float)
    pd.testing.assert_frame_equal(got, expected, check_names=False)
    # every input is listed, of its own period and list, and used
    kinds = {(i["period"], i["vintage"], i["used"]) for i in result.manifest["inputs"]}
    assert kinds == {("2025-H1", "2025-06-30", True), ("2025-H2", "2025-07-01", True)}
    assert len(result.manifest["inputs"]) == 106 + 38
    # the cover says how the year was put together, and that the stock/flow reading is modelled
    cover = pd.read_excel(result.outputs[0], sheet_name="Thông tin chung", header=None, engine="calamine")
    notes = " ".join(str(v) for v in cover.to_numpy().ravel() if isinstance(v, str))
    assert "Năm 2025 theo đơn vị mới (MÔ HÌNH HÓA" in notes
    # same inputs, same bytes
    again = rollup_paths([lai_chau_h1, LAI_CHAU], "2025", tmp_path / "b", units="2025-07-01", catalogue=catalogue)
    assert again.outputs[0].read_bytes() == result.outputs[0].read_bytes()


def test_the_old_districts_h1_workbooks_regroup_onto_the_new_province(
    catalogue: Catalogue, lai_chau_h1: Path, tmp_path: Path
) -> None:
    h1 = rollup_paths([lai_chau_h1], "2025-H1", tmp_path / "h1", unit="12", catalogue=catalogue)
    districts = [p for p in h1.outputs if len(p.name.split("_")[1]) == 3]
    assert len(districts) == 8
    books = rollup_paths([*districts, LAI_CHAU], "2025", tmp_path / "y", units="2025-07-01", catalogue=catalogue)
    forms = rollup_paths([lai_chau_h1, LAI_CHAU], "2025", tmp_path / "f", units="2025-07-01", catalogue=catalogue)
    assert not books.partial
    pd.testing.assert_frame_equal(read_data_sheet(books.outputs[0]), read_data_sheet(forms.outputs[0]))
    assert {i["kind"] for i in books.manifest["inputs"] if i["period"] == "2025-H1"} == {"rollup"}
    assert all(i["used"] for i in books.manifest["inputs"])


def test_an_old_commune_without_its_h1_report_leaves_its_new_commune_out(
    catalogue: Catalogue, lai_chau_h1: Path, tmp_path: Path
) -> None:
    h1 = tmp_path / "h1"
    shutil.copytree(lai_chau_h1, h1)
    gone = sorted(h1.glob("*.xlsx"))[0]
    old = gone.name.split("-")[0]
    gone.unlink()
    with CROSSWALK.open(encoding="utf-8") as fh:
        new = next(r["new_commune"] for r in csv.DictReader(fh) if r["old_commune"] == old)
    result = rollup_paths([h1, LAI_CHAU], "2025", tmp_path / "out", units="2025-07-01", catalogue=catalogue)
    assert result.refused
    [row] = [s for s in result.manifest["chase_list"] if s["unit"] == new]
    assert row["status"] == "invalid"
    assert f"thiếu báo cáo 2025-H1 của xã, phường cũ {old}" in row["problem"]


def test_a_new_commune_with_a_split_old_ward_is_refused_naming_it(
    catalogue: Catalogue, make_form: MakeForm, tmp_path: Path
) -> None:
    """Every ward of Quận Hoàng Mai was split: their 2025-H1 counts are never shared out between new communes."""
    h2 = make_form(unit="00331", period="2025-H2", name="00331-h2")  # the new Phường Hoàng Mai
    args = {"unit": "01", "units": "2025-07-01", "catalogue": catalogue}
    refused = rollup_paths([HOANG_MAI, h2], "2025", tmp_path / "r", **args)  # type: ignore[arg-type]
    assert refused.refused and not refused.outputs
    result = rollup_paths([HOANG_MAI, h2], "2025", tmp_path / "p", allow_partial=True, **args)  # type: ignore[arg-type]
    [row] = [s for s in result.manifest["chase_list"] if s["unit"] == "00331"]
    assert row["status"] == "invalid"
    # the split old wards that went partly into Phường Hoàng Mai, and where each went
    assert "00304 Phường Vĩnh Hưng (chia cho 00283 Phường Vĩnh Tuy, 00301 Phường Vĩnh Hưng" in row["problem"]
    assert "không chia được" in row["problem"] and "báo cáo cả năm 2025" in row["problem"]
    assert row["problem"].en.startswith("the year 2025 cannot be computed on the new units")
    # each split ward's own file says why it is left out, at its unit code
    thanh_tri = next(f for f in result.report.files if f.unit == "00301" and f.period == "2025-H1")
    [issue] = [i for i in thanh_tri.issues if i.code == "reform-split"]
    assert (issue.sheet, issue.cell) == ("Thông tin chung", "C5")
    assert "00301 Vĩnh Hưng" not in issue.text_vi and "00301 Phường Vĩnh Hưng, 00328 Phường Lĩnh Nam" in issue.text_vi
    assert thanh_tri.valid  # a warning: the ward's file itself is right
    assert not any(i["used"] for i in result.manifest["inputs"])
    data = read_data_sheet(result.outputs[0]).loc["00331"]
    assert data["status"] == "invalid" and data.iloc[5:].isna().all()  # no figure put in its place


def test_a_year_form_on_the_new_list_is_taken_as_it_is(
    catalogue: Catalogue, make_form: MakeForm, tmp_path: Path
) -> None:
    year = make_form(unit="00331", period="2025", vintage="2025-07-01", name="00331-2025.xlsx", seed=4)
    alone = tmp_path / "year"
    alone.mkdir()
    shutil.copy(year, alone)
    args = {"unit": "01", "units": "2025-07-01", "allow_partial": True, "catalogue": catalogue}
    result = rollup_paths([HOANG_MAI, alone], "2025", tmp_path / "o", **args)  # type: ignore[arg-type]
    assert "00331" not in {s["unit"] for s in result.manifest["chase_list"]}
    got = read_data_sheet(result.outputs[0]).loc["00331"]
    mine = ward_values(alone, catalogue).loc["00331"]
    assert got[mine.index].astype(float).tolist() == mine.tolist()


def test_a_form_of_another_period_is_refused_in_the_reform_year(
    catalogue: Catalogue, make_form: MakeForm, tmp_path: Path
) -> None:
    other = make_form(unit="03388", period="2024-H2", name="03388-2024")
    far = HOANG_MAI / "00301-thanh-tri.xlsx"  # an old ward of Hà Nội, not of Lai Châu
    result = rollup_paths(
        [LAI_CHAU, other, far],
        "2025",
        tmp_path / "o",
        unit="12",
        units="2025-07-01",
        allow_partial=True,
        catalogue=catalogue,
    )
    [away] = [f for f in result.report.files if f.path == str(far)]
    assert [i.code for i in away.issues] == ["reform-split", "outside-unit"]
    assert "00301 (2025-06-30)" in away.issues[1].text_en and "not part of Tỉnh Lai Châu" in away.issues[1].text_en
    [rep] = [f for f in result.report.files if f.path == str(other)]
    [issue] = [i for i in rep.issues if i.code == "wrong-period"]
    assert "2024-H2 (2025-06-30)" in issue.text_en and "2025-H1 (2025-06-30), 2025-H2 (2025-07-01)" in issue.text_en
    assert (issue.sheet, issue.cell) == ("Thông tin chung", "C9")


def test_old_forms_in_a_new_half_year_say_how_to_roll_them_up(lai_chau_h1: Path, tmp_path: Path) -> None:
    """Old and new codes overlap (03640 is Xã Khoen On in both lists): an old form never claims a new commune."""
    res = CliRunner().invoke(
        app, ["--lang", "en", "rollup", str(lai_chau_h1), "--period", "2025-H2", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2, res.output
    assert "reports on another unit list (2025-H1 (2025-06-30))" in res.output
    assert "--period 2025 --units 2025-07-01" in res.output
    res = CliRunner().invoke(
        app, ["rollup", str(lai_chau_h1), "--period", "2025-H2", "--unit", "12", "--out", str(tmp_path), "--json"]
    )
    chase = json.loads(res.stdout)["chase_list"]
    assert {s["status"] for s in chase} == {"missing"}  # not 'invalid' under a new commune's code


def test_an_old_commune_sent_twice_is_named(catalogue: Catalogue, lai_chau_h1: Path, tmp_path: Path) -> None:
    h1 = tmp_path / "h1"
    shutil.copytree(lai_chau_h1, h1)
    first = sorted(h1.glob("*.xlsx"))[0]
    shutil.copy(first, h1 / f"copy-{first.name}")
    old = first.name.split("-")[0]
    result = rollup_paths([h1, LAI_CHAU], "2025", tmp_path / "out", units="2025-07-01", catalogue=catalogue)
    assert result.refused
    [row] = [s for s in result.manifest["chase_list"] if s["status"] != "valid"]
    assert row["problem"].startswith(f"2 tệp 2025-H1 cho cùng xã, phường cũ {old}")
    assert row["problem_en"].startswith(f"2 2025-H1 files for the old commune {old}")


def test_run_builds_the_year_2025_from_its_ledger(catalogue: Catalogue, lai_chau_h1: Path, tmp_path: Path) -> None:
    """A scheduled job of the year 2025 on the new list takes in the old communes' 2025-H1 forms and the new
    communes' 2025-H2 forms, each judged under its own period and list, and rolls the year up as `rollup` does."""
    from datetime import date, datetime

    from ctstat.job.config import JobConfig
    from ctstat.job.ledger import Ledger
    from ctstat.job.run import run_job
    from ctstat.model.period import Period

    inbox = tmp_path / "inbox"
    shutil.copytree(LAI_CHAU, inbox / "h2")
    cfg = JobConfig(
        period=Period.parse("2025"),
        unit="12",
        units="2025-07-01",
        inbox=inbox,
        out=tmp_path / "out",
        deadline=date(2026, 1, 31),
        log=tmp_path / "out" / "ctstat.log",
        allow_partial=False,
    )
    first = run_job(cfg, catalogue, now=datetime(2026, 1, 10, 9))
    assert first.rollup_state == "waiting" and first.rollup is None  # no new commune has its H1 yet
    assert {f.period for f in first.validated} == {"2025-H2"} and all(f.valid for f in first.validated)
    shutil.copytree(lai_chau_h1, inbox / "h1")
    second = run_job(cfg, catalogue, now=datetime(2026, 1, 11, 9))
    assert second.rollup_state == "written" and second.ok and second.rollup is not None
    assert {(f.period, f.vintage) for f in second.validated} == {("2025-H1", "2025-06-30")}
    with Ledger(cfg.ledger_path, readonly=True) as ledger:
        assert len(ledger.current("2025-H1")) == 106 and len(ledger.current("2025-H2")) == 38
    h1, h2 = ward_values(lai_chau_h1, catalogue), ward_values(LAI_CHAU, catalogue)
    expected = expected_year(h1, h2, catalogue).sort_index()
    got = read_data_sheet(second.rollup.outputs[0])[expected.columns].sort_index().astype(float)
    pd.testing.assert_frame_equal(got, expected, check_names=False)
    assert run_job(cfg, catalogue, now=datetime(2026, 1, 12, 9)).rollup_state == "unchanged"


def _year_job(inbox: Path, out: Path, history: Path | None = None) -> JobConfig:
    from datetime import date

    from ctstat.model.period import Period

    return JobConfig(
        period=Period.parse("2025"),
        unit="12",
        units="2025-07-01",
        inbox=inbox,
        out=out,
        deadline=date(2026, 1, 31),
        log=out / "ctstat.log",
        allow_partial=False,
        history=history,
    )


def test_a_year_job_s_status_counts_each_new_commune_s_year(
    catalogue: Catalogue, lai_chau_h1: Path, tmp_path: Path
) -> None:
    """`status` (and the district's page, which shows it) counts each new commune as its year stands: waiting for
    its old communes' H1, complete once every year is put together; and a year rolled up from inputs that changed
    since is said not current, and moved aside, when the new inputs make no year (never left as the current set)."""
    from datetime import datetime

    from ctstat.job.ledger import Ledger
    from ctstat.job.run import ROLLUP_DIR, STALE_DIR, job_status, run_job, ward_status

    inbox = tmp_path / "inbox"
    shutil.copytree(LAI_CHAU, inbox / "h2")
    cfg = _year_job(inbox, tmp_path / "out")
    run_job(cfg, catalogue, now=datetime(2026, 1, 10, 9))
    waiting = job_status(cfg, catalogue)
    assert not waiting["complete"]
    (counts,) = waiting["by_parent"].values()
    assert counts["expected"] == 38 and counts["received"] == 38 and counts["valid"] == 0
    assert all("2025-H1" in row["problem"] for row in waiting["chase_list"])  # what is missing: the old H1s
    with Ledger(cfg.ledger_path, readonly=True) as ledger:  # the portal's ward page: the same, for one commune
        ward = ward_status(cfg, catalogue, ledger, waiting["chase_list"][0]["unit"])
    assert ward.status == "invalid" and "2025-H1" in str(ward.problem)
    shutil.copytree(lai_chau_h1, inbox / "h1")
    written = run_job(cfg, catalogue, now=datetime(2026, 1, 11, 9))
    assert written.rollup_state == "written" and written.rollup is not None
    done = job_status(cfg, catalogue)
    assert done["complete"] and next(iter(done["by_parent"].values()))["valid"] == 38
    assert done["rollup"]["current"] and done["chase_list"] == []
    gone = sorted((inbox / "h1").rglob("*.xlsx"))[0]
    gone.unlink()  # an old commune's H1 taken back: its new commune has no year now
    refused = run_job(cfg, catalogue, now=datetime(2026, 1, 12, 9))
    assert refused.rollup_state == "waiting"
    aside = cfg.out / ROLLUP_DIR / STALE_DIR
    assert all(not Path(p).exists() for p in written.rollup.outputs)  # not left where the current set goes
    assert sorted(p.name for p in aside.glob("*.xlsx")) == sorted(Path(p).name for p in written.rollup.outputs)
    after = job_status(cfg, catalogue)
    assert not after["complete"] and not after["rollup"]["current"] and after["rollup"]["moved_to"] == str(aside)
    assert next(iter(after["by_parent"].values()))["valid"] == 37


def test_a_year_job_compares_each_new_commune_s_year_with_earlier_years(
    catalogue: Catalogue, lai_chau_h1: Path, tmp_path: Path
) -> None:
    """`run` with a history lists the unusual changes of the year as the job puts it together (H1 mapped + H2 for
    flows, H2 for stocks), against the new communes' earlier years restated from their old communes."""
    from datetime import datetime

    from ctstat.job.compare import compare_job
    from ctstat.job.history import COLUMNS, History, Source
    from ctstat.job.run import run_job

    h1, h2 = ward_values(lai_chau_h1, catalogue), ward_values(LAI_CHAU, catalogue)
    history = History(tmp_path / "history")
    long = h1.rename_axis("unit").reset_index().melt(id_vars="unit", var_name="cell", value_name="value")
    frames = [
        long.assign(vintage="2025-06-30", period=f"{y}-H{s}", source="past") for y in (2022, 2023, 2024) for s in (1, 2)
    ]
    history.add(pd.concat(frames, ignore_index=True)[COLUMNS], [Source("past", "table", "past")])
    inbox = tmp_path / "inbox"
    shutil.copytree(LAI_CHAU, inbox / "h2")
    shutil.copytree(lai_chau_h1, inbox / "h1")
    cfg = _year_job(inbox, tmp_path / "out", history.dir)
    run_job(cfg, catalogue, now=datetime(2026, 1, 11, 9))
    found = compare_job(cfg, catalogue, history)
    assert found.period == "2025" and found.checked > 0
    communes = found.findings[found.findings["level"] == "commune"]
    expected = expected_year(h1, h2, catalogue)
    assert set(communes["unit"].astype(str)) == set(expected.index)
    for row in communes.sample(20, random_state=1).to_dict("records"):
        assert row["value"] == expected.loc[str(row["unit"]), str(row["cell"])]


def test_a_year_job_s_status_lists_the_resubmissions_of_both_half_years(
    catalogue: Catalogue, lai_chau_h1: Path, make_form: MakeForm, tmp_path: Path
) -> None:
    """A year job's files are old communes' 2025-H1 forms and new communes' 2025-H2 forms: `status` lists the
    resubmissions of each, keyed by period, unit list and code, and says which commune each is of. Every new
    commune of Lai Châu has the code of an old one: 03538 was Xã Căn Co and is now Xã Nậm Mạ."""
    from datetime import datetime

    from ctstat.job.run import job_status, run_job

    inbox = tmp_path / "inbox"
    shutil.copytree(LAI_CHAU, inbox / "h2")
    shutil.copytree(lai_chau_h1, inbox / "h1")
    (inbox / "year").mkdir()
    year_form = make_form(unit="03466", period="2025", vintage="2025-07-01", name="03466-2025.xlsx", seed=4)
    shutil.copy(year_form, inbox / "year")
    cfg = _year_job(inbox, tmp_path / "out")
    run_job(cfg, catalogue, now=datetime(2026, 1, 10, 9))
    assert job_status(cfg, catalogue)["resubmissions"] == {}
    (inbox / "year" / "03466-2025.xlsx").unlink()  # a form of the year sent again, other values
    again = make_form(unit="03466", period="2025", vintage="2025-07-01", name="03466-2025-sua.xlsx", seed=5)
    shutil.copy(again, inbox / "year")
    resent = {}
    for half, code in (("h1", "03538"), ("h2", "03538"), ("h1", "03466")):  # two files of 03538, one of each list
        [first] = (inbox / half).glob(f"{code}-*.xlsx")
        again = first.with_name(f"{code}-gui-lai.xlsx")
        first.rename(again)  # sent again under another name (the same bytes), the first taken out
        resent[half, code] = (first.name, again.name)
    run_job(cfg, catalogue, now=datetime(2026, 1, 11, 9))
    doc = job_status(cfg, catalogue)
    h1, h2 = "2025-H1|2025-06-30", "2025-H2|2025-07-01"
    year = "2025|2025-07-01|03466"
    assert set(doc["resubmissions"]) == {f"{h1}|03538", f"{h2}|03538", f"{h1}|03466", year}  # no 2025-H2 03466
    assert [(r["path"], r["current"], r["period"], r["units"]) for r in doc["resubmissions"][year]] == [
        ("year/03466-2025.xlsx", False, "2025", "2025-07-01"),
        ("year/03466-2025-sua.xlsx", True, "2025", "2025-07-01"),
    ]
    for key, half in ((f"{h1}|03538", "h1"), (f"{h2}|03538", "h2"), (f"{h1}|03466", "h1")):
        rows = doc["resubmissions"][key]
        period, units, code = key.split("|")
        assert [(r["path"], r["current"], r["removed"]) for r in rows] == [
            (f"{half}/{resent[half, code][0]}", False, True),
            (f"{half}/{resent[half, code][1]}", True, False),
        ]
        assert {(r["period"], r["units"]) for r in rows} == {(period, units)}
    said = doc["resubmitted"]
    assert said[f"{h1}|03538"]["label"] == (
        "báo cáo 6 tháng đầu năm 2025 của xã, phường cũ 03538 Xã Căn Co (danh mục đến 30/6/2025)"
    )
    assert said[f"{h2}|03538"]["label"] == (
        "báo cáo 6 tháng cuối năm 2025 của xã, phường mới 03538 Xã Nậm Mạ (danh mục từ 1/7/2025)"
    )
    assert said[f"{h1}|03538"]["label_en"] == (
        "the 2025-H1 report of the old commune 03538 Xã Căn Co (list until 30 June 2025)"
    )
    assert said[f"{h2}|03538"]["label_en"] == (
        "the 2025-H2 report of the new commune 03538 Xã Nậm Mạ (list from 1 July 2025)"
    )
    assert said[f"{h1}|03466"]["label"].startswith("báo cáo 6 tháng đầu năm 2025 của xã, phường cũ 03466 Xã Bum Nưa")
    assert said[year]["label"] == "báo cáo năm 2025 của xã, phường mới 03466 Xã Bum Nưa (danh mục từ 1/7/2025)"
    where = ["--period", "2025", "--units", "2025-07-01", "--unit", "12", "--inbox", str(inbox), "--out", str(cfg.out)]
    text = CliRunner().invoke(app, ["status", *where]).output
    assert "Nộp lại báo cáo 6 tháng đầu năm 2025 của xã, phường cũ 03538 Xã Căn Co" in " ".join(text.split())
    assert "Nộp lại báo cáo 6 tháng cuối năm 2025 của xã, phường mới 03538 Xã Nậm Mạ" in " ".join(text.split())
    english = CliRunner().invoke(app, ["--lang", "en", "status", *where]).output
    assert "Resubmitted the 2025-H2 report of the new commune 03538 Xã Nậm Mạ" in " ".join(english.split())
    # the province's page of the portal lists the same, each under who it is of
    from starlette.testclient import TestClient

    from ctstat.web.app import create_app
    from ctstat.web.tokens import issue_tokens

    tokens = {i.unit: i.token for i in issue_tokens(cfg, tmp_path / "tokens.csv")}
    site = create_app(cfg, catalogue)
    try:
        c = TestClient(site, base_url="http://portal.test")
        assert c.post("/dang-nhap", data={"token": tokens["12"]}, follow_redirects=False).status_code == 303
        page = c.get("/huyen").text
        part = page[page.index('id="nop-lai"') : page.index("</section>", page.index('id="nop-lai"'))]
        for key in doc["resubmissions"]:
            label = said[key]["label"]
            assert f"<strong>{label[0].upper()}{label[1:]}</strong>: nộp 2 lần; hiện hành:" in part
        assert part.count('class="current"') == 4 and part.count("đã bị thay hoặc xoá") == 4
    finally:
        site.state.portal.intake.close()


def test_a_year_job_reviews_nothing_and_says_where_reports_are_reviewed(catalogue: Catalogue, tmp_path: Path) -> None:
    """The year 2025's job puts together half-years' reports (old communes' H1, new communes' H2), each reviewed
    in the job of its half-year: an approval there pins one file, which a year cannot. Asked to review here
    (`ctstat review`, the district's page), it says so and records nothing; its page shows no list of wards
    'without a report' to approve (their H2 forms are there: it is the wrong place, not missing reports)."""
    from dataclasses import replace
    from datetime import datetime

    from ctstat.job.ledger import Ledger
    from ctstat.job.review import Action, act, chain_name
    from ctstat.job.run import run_job
    from ctstat.model.errors import UsageError
    from ctstat.web.tokens import issue_tokens

    from .test_portal import Site
    from .test_review import make_job

    inbox = tmp_path / "inbox"
    shutil.copytree(LAI_CHAU, inbox / "h2")
    cfg, official, _ = make_job(_year_job(inbox, tmp_path / "out"), tmp_path)
    cfg = replace(cfg, uploads_per_minute=20)
    run_job(cfg, catalogue, now=datetime(2026, 1, 10, 9))
    ward = sorted(p.name[:5] for p in LAI_CHAU.glob("*.xlsx"))[0]
    for action in (Action("approve", ward), Action("approve-rollup", "12")):
        with pytest.raises(UsageError) as refused:
            act(cfg, catalogue, official, action)
        assert "trong đợt của kỳ đó (2025-H1" in (refused.value.message_vi or "")
        assert "in the job of its half-year" in str(refused.value)
    with Ledger(cfg.ledger_path, readonly=True) as ledger:
        assert ledger.reviews(chain_name(cfg)) == []
    site = Site(cfg, catalogue, {i.unit: i.token for i in issue_tokens(cfg, tmp_path / "tokens.csv")})
    try:
        page = site.sign_in("12").get("/huyen").text
    finally:
        site.portal.intake.close()
    assert "Đợt năm 2025 chỉ ghép số liệu hai kỳ, không duyệt." in page
    assert "Chưa có báo cáo" not in page and "Duyệt báo cáo tổng hợp" not in page
    assert "Danh sách cần đôn đốc" in page  # what is missing for each commune's year is still there
