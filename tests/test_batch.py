"""A simulated reporting window for the scheduled job: files arriving over several runs."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from ctstat.cli.commands import app
from ctstat.job.config import JobConfig, load_config
from ctstat.job.ledger import Ledger
from ctstat.job.run import export_file, export_table, job_lock, job_status, run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.period import Period

from .conftest import SAMPLES, MakeForm
from .test_rollup import read_data_sheet, ward_values

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"


def arrive(inbox: Path, name: str, source: Path | None = None, data: bytes | None = None) -> Path:
    target = inbox / name
    if data is not None:
        target.write_bytes(data)
    else:
        shutil.copyfile(source or HM / name, target)
    return target


def test_a_reporting_window(cfg: JobConfig, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    wards = sorted(p.name for p in HM.glob("*.xlsx"))
    # run 1: ten wards send valid files; Thịnh Liệt's upload is corrupted
    for name in wards[:10]:
        arrive(cfg.inbox, name)
    good_331 = (HM / "00331-thinh-liet.xlsx").read_bytes()
    arrive(cfg.inbox, "00331-thinh-liet.xlsx", data=good_331[: len(good_331) // 3])
    r1 = run_job(cfg, catalogue, now=datetime(2025, 7, 5, 22, 0))
    assert len(r1.validated) == 11 and r1.rollup_state == "waiting" and not r1.ok
    assert [row.path for row in r1.unattributed] == ["00331-thinh-liet.xlsx"]
    assert (cfg.out / "kiem-tra" / "00331-thinh-liet.xlsx.kiem-tra.xlsx").exists()

    # run 2: nothing new is re-read; Thịnh Liệt re-uploads a good file; Trần Phú sends a faulty one
    arrive(cfg.inbox, "00331-thinh-liet.xlsx")
    arrive(cfg.inbox, "00334-tran-phu.xlsx", source=_faulty_ward("00334", cfg.out.parent / "faulty", catalogue))
    import ctstat.pipeline

    read: list[Path] = []
    real_read_all = ctstat.pipeline.read_all

    def counting_read_all(files: list[Path], *args: object) -> object:
        read.extend(files)
        return real_read_all(files, *args)  # type: ignore[arg-type]

    monkeypatch.setattr("ctstat.pipeline.read_all", counting_read_all)
    r2 = run_job(cfg, catalogue, now=datetime(2025, 7, 8, 22, 0))
    assert sorted(Path(f.path).name for f in r2.validated) == ["00331-thinh-liet.xlsx", "00334-tran-phu.xlsx"]
    assert len(read) == 2  # the ten unchanged files were not even read (nor hashed)
    assert r2.unattributed == [] and not r2.ok
    monkeypatch.undo()

    # run 3: Trần Phú resubmits under another name: the later file supersedes, the ledger keeps both
    arrive(cfg.inbox, "00334-tran-phu-sua.xlsx", source=HM / "00334-tran-phu.xlsx")
    r3 = run_job(cfg, catalogue, now=datetime(2025, 7, 10, 22, 0))
    assert r3.ok and r3.rollup_state == "waiting"
    missing = [s.code for s in r3.completeness.rows if s.status == "missing"]
    assert missing == ["00337", "00340"]

    # two runs at once: the second stops at once and changes nothing
    with job_lock(cfg.out), pytest.raises(UsageError, match="another ctstat run"):
        run_job(cfg, catalogue, now=datetime(2025, 7, 11))

    # run 4: Hoàng Liệt arrives; Yên Sở comes late; the run is killed while writing the rollup
    arrive(cfg.inbox, "00337-hoang-liet.xlsx")
    arrive(cfg.inbox, "00340-yen-so.xlsx")

    def killed(self: object) -> None:
        raise KeyboardInterrupt  # as if the machine went down mid-write

    monkeypatch.setattr("xlsxwriter.Workbook.close", killed)
    with pytest.raises(KeyboardInterrupt):
        run_job(cfg, catalogue, now=datetime(2025, 7, 16, 22, 0))
    monkeypatch.undo()
    rollups = cfg.out / "tong-hop"
    assert not rollups.exists() or not any(rollups.iterdir())  # no half-written workbook, no temporary file
    ledger = Ledger(cfg.ledger_path)
    assert ledger.get_meta("rollup_key") is None
    ledger.close()

    # run 5 completes the work
    r5 = run_job(cfg, catalogue, now=datetime(2025, 7, 17, 22, 0))
    assert r5.rollup_state == "written" and r5.ok
    assert [p.name for p in r5.rollup.outputs] == ["2025-H1_008_quan-hoang-mai.xlsx"]  # type: ignore[union-attr]
    assert sorted(p.name for p in (cfg.out / "tong-hop").iterdir()) == [
        "2025-H1_008_manifest.json",
        "2025-H1_008_quan-hoang-mai.xlsx",
    ]

    # the final state is exactly right
    doc = job_status(cfg)
    assert doc["complete"] and doc["chase_list"] == [] and doc["unattributed"] == []
    assert doc["by_parent"] == {
        "008 Quận Hoàng Mai": {
            "expected": 14,
            "received": 14,
            "valid": 14,
            "invalid": 0,
            "missing": 0,
            "duplicate": 0,
            "late": 2,
        }
    }
    assert sorted(doc["late"]) == ["00337", "00340"]  # first seen on 16 July, after the 15 July deadline
    history = doc["resubmissions"]["00334"]
    assert [(h["path"], h["valid"], h["current"]) for h in history] == [
        ("00334-tran-phu.xlsx", False, False),
        ("00334-tran-phu-sua.xlsx", True, True),
    ]
    ledger = Ledger(cfg.ledger_path)
    rows = ledger.rows()
    assert len(rows) == 16  # 14 wards + the corrupted upload + the faulty Trần Phú
    assert [r.path for r in rows if r.removed_at] == ["00331-thinh-liet.xlsx"]  # the corrupted content
    ledger.close()
    expected = ward_values(HM, catalogue)
    got = read_data_sheet(r5.rollup.outputs[0])[expected.columns].sort_index().astype(float)  # type: ignore[union-attr]
    pd.testing.assert_frame_equal(got, expected.sort_index(), check_names=False)
    # the event log has one JSON object per line
    events = [json.loads(line)["event"] for line in cfg.log.read_text(encoding="utf-8").splitlines()]  # type: ignore[union-attr]
    assert events.count("run-start") == 5 and events.count("rollup-written") == 1 and "file-removed" not in events

    # run 6: nothing new, nothing rewritten
    r6 = run_job(cfg, catalogue, now=datetime(2025, 7, 18))
    assert r6.validated == [] and r6.rollup_state == "unchanged"

    # export: the same numbers as the rollup
    table = export_table(cfg, catalogue)
    totals = (
        table[(table.row_category == "total") & (table.column_category == "total")].groupby("element")["value"].sum()
    )
    manifest = json.loads((cfg.out / "tong-hop" / "2025-H1_008_manifest.json").read_text(encoding="utf-8"))
    for ind in catalogue.indicators:
        if ind.kind == "count":
            assert totals[ind.element] == manifest["totals"][ind.id], ind.id
    assert set(table.unit_code) == {p.name[:5] for p in HM.glob("*.xlsx")}
    assert (table.district_code == "008").all() and (table.province_code == "01").all()
    assert table.source_sha256.str.len().eq(64).all()
    out = export_file(table, cfg.out / "2025-H1.csv")
    back = pd.read_csv(out, dtype={"unit_code": str, "district_code": str, "province_code": str}, keep_default_na=False)
    pd.testing.assert_frame_equal(back, table, check_dtype=False)
    parquet = export_file(table, cfg.out / "2025-H1.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), table)
    with pytest.raises(UsageError, match=".csv or .parquet"):
        export_file(table, cfg.out / "2025-H1.xlsx")


def _faulty_ward(code: str, folder: Path, catalogue: Catalogue) -> Path:
    """The ward's sample form with one negative count."""
    from ctstat.model.units import load_units
    from ctstat.write.synth import synth_values, write_ward

    h = load_units("2025-06-30")
    unit = h.get(code)
    assert unit is not None
    values = synth_values(catalogue, unit, Period.parse("2025-H1"))
    values[cell_key("VP01", TOTAL, TOTAL)] = -1
    return write_ward(folder, catalogue, h, unit, Period.parse("2025-H1"), values=values)


def test_partial_rollup_at_the_deadline(cfg: JobConfig, catalogue: Catalogue) -> None:
    from dataclasses import replace

    for name in sorted(p.name for p in HM.glob("*.xlsx"))[:12]:
        arrive(cfg.inbox, name)
    before = run_job(cfg, catalogue, now=datetime(2025, 7, 14))
    assert before.rollup_state == "waiting" and before.ok
    partial = replace(cfg, allow_partial=True)
    at = run_job(partial, catalogue, now=datetime(2025, 7, 15))
    assert at.rollup_state == "written" and at.rollup is not None and at.rollup.partial
    without = run_job(cfg, catalogue, now=datetime(2025, 7, 16))
    assert without.rollup_state == "waiting" and not without.ok  # past the deadline, still incomplete


def test_config_file_flags_and_errors(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "ctstat.toml"
    path.write_text(
        'period = "2025-H1"\nunit = "008"\ninbox = "inbox"\nout = "out"\ndeadline = 2025-07-15\n', encoding="utf-8"
    )
    cfg = load_config(path)
    assert (cfg.inbox, cfg.out, cfg.deadline, cfg.vintage) == (
        tmp_path / "inbox",
        tmp_path / "out",
        date(2025, 7, 15),
        "2025-06-30",
    )
    assert load_config(path, unit="01", deadline="2025-07-20").unit == "01"
    path.write_text('period = "2025-H1"\nunit = "008"\ninbox = "inbox"\nout = "out"\ncolour = 1\n', encoding="utf-8")
    with pytest.raises(UsageError, match="colour: unknown setting"):
        load_config(path)
    path.write_text('period = "2025-Q1"\nunit = "008"\ninbox = "inbox"\nout = "out"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="period:"):
        load_config(path)
    path.write_text('period = "2025"\nunit = "008"\ninbox = "inbox"\nout = "out"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="units: .*spans more than one"):
        load_config(path)
    path.write_text('unit = "008"\ninbox = "inbox"\nout = "out"\n', encoding="utf-8")
    with pytest.raises(UsageError, match="period: is required"):
        load_config(path)


def test_cli_run_status_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in HM.glob("*.xlsx"):
        shutil.copyfile(p, inbox / p.name)
    (tmp_path / "ctstat.toml").write_text(
        'period = "2025-H1"\nunit = "008"\ninbox = "inbox"\nout = "out"\nlog = "out/ctstat.log"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["run"])
    assert res.exit_code == 0, res.output
    assert "Đã tổng hợp" in res.output
    res = runner.invoke(app, ["run", "--json"])
    assert json.loads(res.output)["rollup"] == "unchanged"
    res = runner.invoke(app, ["status", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["complete"]
    res = runner.invoke(app, ["status"])
    assert "008 Quận Hoàng Mai" in res.output
    res = runner.invoke(app, ["export", "--to", "data.csv"])
    assert res.exit_code == 0 and res.output.startswith(f"Đã ghi {14 * 229} dòng vào")
    with job_lock(tmp_path / "out"):
        res = runner.invoke(app, ["run"])
    assert res.exit_code == 2 and "một lần chạy ctstat khác" in res.output
    res = runner.invoke(app, ["run", "--unit", "0080"])
    assert res.exit_code == 2 and "unit:" in res.output
    res = runner.invoke(app, ["status", "--out", str(tmp_path / "elsewhere")])
    assert res.exit_code == 2 and "chạy 'ctstat run' trước" in res.output


def test_no_configuration_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ctstat.toml in the folder and no --config: say so, where ctstat looked and how to give one (not
    'flags: period: is required')."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["run"])
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert "không tìm thấy cấu hình" in out and f"({tmp_path})" in out and "ctstat.toml" in out, out
    assert "--config" in out and "--period, --unit, --inbox, --out" in out and "flags:" not in out
    res = runner.invoke(app, ["status", "--period", "2025-H1", "--lang", "en"])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "no configuration: no ctstat.toml in the current folder" in out, out
    assert "--unit, --inbox, --out" in out and "--period" not in out.split("give --unit")[-1]
    # tokens and serve take no such flags: only --config is offered
    res = runner.invoke(app, ["tokens", "--out", "t.csv", "--lang", "en"])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "--config" in out and "--unit" not in out, out
    assert not (tmp_path / "t.csv").exists()
    # a file named by --config still reports its own missing keys
    (tmp_path / "inbox").mkdir()
    (tmp_path / "job.toml").write_text('unit = "008"\ninbox = "inbox"\nout = "out"\n', encoding="utf-8")
    res = runner.invoke(app, ["run", "--config", "job.toml"])
    assert res.exit_code == 2 and "period: bắt buộc phải có" in res.output


def test_a_removed_inbox_file_is_said_with_what_it_did(cfg: JobConfig, catalogue: Catalogue) -> None:
    """A file deleted from the inbox is named on screen (not 'no new or changed file'), with what it did: the
    ward's earlier file is current again, or the ward has nothing left."""
    from ctstat.cli.render import make_consoles, render_run

    def shown(result: object, lang: str = "vi") -> str:
        console = make_consoles(no_color=True)[0]
        with console.capture() as cap:
            render_run(result, console, lang)  # type: ignore[arg-type]
        return " ".join(cap.get().split())

    arrive(cfg.inbox, "00301-thanh-tri.xlsx")
    arrive(cfg.inbox, "00304-vinh-hung.xlsx")
    run_job(cfg, catalogue, now=datetime(2025, 7, 5))
    arrive(cfg.inbox, "00301-lan-2.xlsx", source=HM / "00301-thanh-tri.xlsx")  # the ward sends again
    run_job(cfg, catalogue, now=datetime(2025, 7, 6))
    arrive(cfg.inbox, "junk.xlsx", data=b"not a workbook")
    run_job(cfg, catalogue, now=datetime(2025, 7, 7))

    (cfg.inbox / "00301-lan-2.xlsx").unlink()  # the current one: the earlier file is current again
    (cfg.inbox / "00304-vinh-hung.xlsx").unlink()  # the only one: the ward has nothing
    (cfg.inbox / "junk.xlsx").unlink()
    r = run_job(cfg, catalogue, now=datetime(2025, 7, 8))
    assert r.validated == [] and {g.path for g in r.removed} == {
        "00301-lan-2.xlsx",
        "00304-vinh-hung.xlsx",
        "junk.xlsx",
    }
    text = shown(r)
    assert "Không có tệp mới hoặc thay đổi" not in text
    assert (
        "Tệp đã bị xóa khỏi hộp thư: 00301-lan-2.xlsx (00301 Phường Thanh Trì): báo cáo hiện hành của xã nay là "
        "00301-thanh-tri.xlsx (hợp lệ)." in text
    ), text
    assert "00304-vinh-hung.xlsx (00304 Phường Vĩnh Hưng): xã nay không còn báo cáo nào (chưa nộp)." in text
    assert "junk.xlsx: tệp không xác định được đơn vị; không ảnh hưởng số liệu." in text
    assert "its current submission is now 00301-thanh-tri.xlsx (valid)" in shown(r, "en")
    assert {g["path"]: g["now_current"] for g in r.to_dict()["removed"]} == {
        "00301-lan-2.xlsx": "00301-thanh-tri.xlsx",
        "00304-vinh-hung.xlsx": None,
        "junk.xlsx": None,
    }
    was_current = {e["path"]: e["was_current"] for e in r.events if e["event"] == "file-removed"}
    assert was_current == {"00301-lan-2.xlsx": True, "00304-vinh-hung.xlsx": True, "junk.xlsx": False}
    # an older file that was not current: nothing changes, and it says so
    arrive(cfg.inbox, "00301-lan-3.xlsx", source=HM / "00301-thanh-tri.xlsx")
    run_job(cfg, catalogue, now=datetime(2025, 7, 9))
    (cfg.inbox / "00301-thanh-tri.xlsx").unlink()
    text = shown(run_job(cfg, catalogue, now=datetime(2025, 7, 10)))
    assert (
        "00301-thanh-tri.xlsx (00301 Phường Thanh Trì): không phải báo cáo hiện hành; vẫn dùng 00301-lan-3.xlsx" in text
    )
    assert "Không có tệp mới hoặc thay đổi" not in text
    assert "Không có tệp mới hoặc thay đổi" in shown(run_job(cfg, catalogue, now=datetime(2025, 7, 11)))


def test_a_deadline_already_past_when_the_job_starts_is_said(cfg: JobConfig, catalogue: Catalogue) -> None:
    """A mistyped year (2024 for 2025) makes every file late: the first run, every later run and status say so."""
    from ctstat.cli.render import make_consoles, render_run, render_status

    typo = replace(cfg, deadline=date(2024, 7, 15))
    arrive(cfg.inbox, "00301-thanh-tri.xlsx")
    first = run_job(typo, catalogue, now=datetime(2025, 7, 5, 22, 0))
    assert [w["code"] for w in first.warnings] == ["deadline-already-past"]
    assert (
        "2024-07-15" in first.warnings[0]["message"]
        and "trước cả ngày bắt đầu kỳ 2025-H1" in first.warnings[0]["message"]
    )
    assert any(e["event"] == "deadline-already-past" for e in first.events)
    console = make_consoles(no_color=True)[0]
    with console.capture() as cap:
        render_run(first, console, "vi")
    shown = " ".join(cap.get().split())
    assert shown.startswith("⚠ Hạn nộp 2024-07-15 đã qua trước lần chạy đầu tiên") and "gõ nhầm năm" in shown
    again = run_job(typo, catalogue, now=datetime(2025, 7, 6, 22, 0))
    assert again.warnings == first.warnings  # judged against the job's first run, not today
    doc = job_status(typo, catalogue)
    assert doc["warnings"] == first.warnings
    with console.capture() as cap:
        render_status(doc, console, "en")
    assert "had already passed at this job's first run (2025-07-05)" in " ".join(cap.get().split())
    # the deadline right: passed later in the window, no warning (files after it are late, as they should be)
    assert run_job(cfg, catalogue, now=datetime(2025, 7, 20)).warnings == []
    assert job_status(cfg, catalogue)["warnings"] == []
    # fixed in the configuration: the warning goes
    assert run_job(replace(cfg, deadline=date(2025, 7, 5)), catalogue, now=datetime(2025, 7, 21)).warnings == []


@pytest.fixture
def hanoi_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local time is Hà Nội's (UTC+7), whatever the machine running the tests says."""
    import time

    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_log_and_status_times_carry_their_offset(cfg: JobConfig, catalogue: Catalogue, hanoi_time: None) -> None:
    """Every time in the JSON log and in what status derives from the ledger is ISO 8601 with an offset; the
    ledger keeps storing the local time as before (an older ledger's rows read the same way)."""
    log = cfg.out / "ctstat.log"
    job = replace(cfg, log=log)
    arrive(cfg.inbox, "00301-thanh-tri.xlsx")
    arrive(cfg.inbox, "00331-thinh-liet.xlsx", data=b"not a workbook")
    run_job(job, catalogue, now=datetime(2025, 7, 5, 22, 0))
    arrive(cfg.inbox, "00301-thanh-tri.xlsx", source=HM / "00304-vinh-hung.xlsx")  # a resubmission at the path
    run_job(job, catalogue, now=datetime(2025, 7, 6, 22, 0))
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert lines and all(datetime.fromisoformat(rec["ts"]).utcoffset() == timedelta(hours=7) for rec in lines)
    doc = job_status(cfg, catalogue)
    times = [r["received_at"] for r in doc["unattributed"]]
    times += [r["received_at"] for rows in doc["resubmissions"].values() for r in rows]
    times += [run[k] for run in doc["last_runs"] for k in ("started_at", "finished_at")]
    assert len(times) >= 5 and all(t.endswith("+07:00") for t in times), times
    assert "2025-07-05T22:00:00+07:00" in times
    with sqlite3.connect(cfg.ledger_path) as db:  # stored as before: local time, no offset
        assert db.execute("SELECT MIN(received_at) FROM submissions").fetchone()[0] == "2025-07-05T22:00:00"


def test_element_totals_match_between_ledger_and_files(cfg: JobConfig, catalogue: Catalogue) -> None:
    for p in HM.glob("*.xlsx"):
        arrive(cfg.inbox, p.name)
    run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    table = export_table(cfg, catalogue)
    wards = ward_values(HM, catalogue)
    key = cell_key("XH01", TOTAL, "sex:nu")
    got = table[(table.element == "XH01") & (table.row_category == "total") & (table.column_category == "nu")]
    assert got.set_index("unit_code")["value"].sort_index().tolist() == wards[key].sort_index().tolist()


def test_outputs_inside_the_inbox_are_not_taken_in(tmp_path: Path, catalogue: Catalogue) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    arrive(inbox, "00301-thanh-tri.xlsx", source=_faulty_ward("00301", tmp_path / "src", catalogue))
    cfg = JobConfig(period=Period.parse("2025-H1"), unit="008", inbox=inbox, out=inbox / "out")
    run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    assert list((inbox / "out" / "kiem-tra").glob("*.xlsx"))  # a marked-up copy now sits inside the inbox
    run_job(cfg, catalogue, now=datetime(2025, 7, 2))
    ledger = Ledger(cfg.ledger_path)
    assert [r.path for r in ledger.rows()] == ["00301-thanh-tri.xlsx"]
    ledger.close()


def test_outputs_are_known_through_links_to_the_inbox_and_into_the_outputs(
    tmp_path: Path, catalogue: Catalogue
) -> None:
    """The inbox named through a link, the outputs by their real path inside it, and a link in the inbox to a
    marked-up copy: none of the job's outputs is taken in (only a link is resolved, the rest is path arithmetic)."""
    real = tmp_path / "real-inbox"
    real.mkdir()
    (tmp_path / "inbox").symlink_to(real)
    arrive(real, "00301-thanh-tri.xlsx", source=_faulty_ward("00301", tmp_path / "src", catalogue))
    cfg = JobConfig(period=Period.parse("2025-H1"), unit="008", inbox=tmp_path / "inbox", out=real / "out")
    run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    (copy,) = (real / "out" / "kiem-tra").glob("*.xlsx")
    (real / "a-link-to-the-copy.xlsx").symlink_to(copy)
    run_job(cfg, catalogue, now=datetime(2025, 7, 2))
    with Ledger.open_existing(cfg) as ledger:
        assert [r.path for r in ledger.rows()] == ["00301-thanh-tri.xlsx"]


def test_a_marked_up_copy_in_the_inbox_is_not_a_wards_submission(
    cfg: JobConfig, catalogue: Catalogue, make_form: MakeForm
) -> None:
    """'validate inbox --annotate inbox' puts copies among the wards' files: the next run named one the current
    submission of its ward, and the rollup said duplicate-unit. A copy is one issue of its own, never a claim."""
    for p in HM.glob("*.xlsx"):
        arrive(cfg.inbox, p.name)
    arrive(cfg.inbox, "00313-tuong-mai.xlsx", source=make_form(unit="00313", cover={"unit_name": "Phường Bến Nghé"}))
    res = CliRunner().invoke(app, ["validate", str(cfg.inbox), "--annotate", str(cfg.inbox)])
    assert res.exit_code == 0, res.output  # a warning (the name typed), valid
    assert [p.name for p in cfg.inbox.glob("*.kiem-tra.xlsx")] == ["00313-tuong-mai.xlsx.kiem-tra.xlsx"]
    result = run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    assert result.rollup_state == "written" and result.completeness.complete
    assert not [i for f in result.validated for i in f.issues if i.code == "duplicate-unit"]
    (copy,) = [f for f in result.validated if f.path.endswith(".kiem-tra.xlsx")]
    assert [i.code for i in copy.issues] == ["marked-up-copy"] and copy.unit is None
    assert [r.path for r in result.unattributed] == ["00313-tuong-mai.xlsx.kiem-tra.xlsx"]
    current = {s["unit"]: s for s in job_status(cfg, catalogue)["chase_list"]}
    assert "00313" not in current


def test_a_rollup_no_longer_current_says_so_everywhere(cfg: JobConfig, catalogue: Catalogue) -> None:
    """A ward's current file turns invalid and another's is deleted: the complete 14/14 rollup no longer matches the
    current submissions. Its files leave out/tong-hop/ for tong-hop/khong-con-hien-hanh/ beside a note saying why;
    status (text and JSON) and the run say so; a new rollup puts things back."""
    for p in HM.glob("*.xlsx"):
        arrive(cfg.inbox, p.name)
    assert run_job(cfg, catalogue, now=datetime(2025, 7, 1, 9)).rollup_state == "written"
    folder = cfg.out / "tong-hop"
    books = sorted(p.name for p in folder.iterdir())
    assert job_status(cfg, catalogue)["rollup"]["current"] is True
    arrive(cfg.inbox, "00301-sua-lai.xlsx", source=SAMPLES / "faulty" / "01-so-am.xlsx")  # later, invalid
    (cfg.inbox / "00337-hoang-liet.xlsx").unlink()
    run = run_job(cfg, catalogue, now=datetime(2025, 7, 2, 9))
    assert run.rollup_state == "waiting" and run.stale_rollup is not None
    aside = folder / "khong-con-hien-hanh"
    assert [p.name for p in folder.iterdir()] == ["khong-con-hien-hanh"]  # nothing left to take for current
    assert sorted(p.name for p in aside.iterdir()) == sorted([*books, "LY-DO-KHONG-CON-HIEN-HANH.txt"])
    note = (aside / "LY-DO-KHONG-CON-HIEN-HANH.txt").read_text(encoding="utf-8-sig")
    assert "KHÔNG CÒN HIỆN HÀNH" in note and "lập lúc 09:00 ngày 01/07/2025" in note and "NO LONGER CURRENT" in note
    assert "00301 Phường Thanh Trì: tệp hiện hành không phải tệp đã tổng hợp và không hợp lệ" in note
    assert "00337 Phường Hoàng Liệt: tệp đã tổng hợp không còn trong thư mục nhận" in note
    st = job_status(cfg, catalogue)
    assert st["rollup"]["current"] is False and st["rollup"]["moved_to"] == str(aside)
    assert [(c["unit"], c["change"]) for c in st["rollup"]["changes"]] == [("00301", "invalid"), ("00337", "removed")]
    assert st["rollup_outputs"] == st["rollup"]["outputs"] == [str(aside / n) for n in books if n.endswith(".xlsx")]
    assert all(Path(o).exists() for o in st["rollup_outputs"])
    res = CliRunner().invoke(app, ["status", "--period", "2025-H1", "--unit", "008", "--inbox", str(cfg.inbox),
                                   "--out", str(cfg.out)])  # fmt: skip
    assert "KHÔNG CÒN HIỆN HÀNH" in res.output and "00337 Phường Hoàng Liệt" in res.output
    assert [e["event"] for e in run.events if e["event"].startswith("rollup-")] == ["rollup-retired", "rollup-waiting"]
    # a second run changes nothing more; the wards send again: a new rollup, the retired one gone
    assert run_job(cfg, catalogue, now=datetime(2025, 7, 3)).stale_rollup is not None
    arrive(cfg.inbox, "00337-hoang-liet.xlsx")
    arrive(cfg.inbox, "00301-sua-lai.xlsx", source=HM / "00301-thanh-tri.xlsx")
    assert run_job(cfg, catalogue, now=datetime(2025, 7, 4)).rollup_state == "written"
    assert sorted(p.name for p in folder.iterdir()) == books
    assert job_status(cfg, catalogue)["rollup"]["current"] is True


LEDGER_OPENERS = ("Ledger", "Ledger.open_existing", "self.ledger", "w.ledger", "e.ledger")


def test_the_ledger_is_opened_by_with_and_once_for_the_views(cfg: JobConfig, catalogue: Catalogue) -> None:
    """`Ledger.open_existing` says "no ledger yet" for every view (status, export, review); `with` closes it; no
    module of the job or the portal opens or closes a ledger by hand."""
    import ast

    from .conftest import ROOT

    for view in (lambda: job_status(cfg, catalogue), lambda: export_table(cfg, catalogue)):
        with pytest.raises(UsageError, match="no ledger in .* yet"):
            view()
    run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    with Ledger.open_existing(cfg) as ledger:
        assert ledger.readonly and len(ledger.last_runs()) == 1
    with pytest.raises(sqlite3.ProgrammingError):
        ledger.db.execute("SELECT 1")
    # the job and the portal alike; a factory may return one (its callers use `with`), and the portal's token
    # checks keep one reader per thread open on purpose (web/tokens.py, `_local`)
    for folder in ("job", "web"):
        for path in (ROOT / "src" / "ctstat" / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            opened = {id(i.context_expr) for n in ast.walk(tree) if isinstance(n, ast.With) for i in n.items}
            opened |= {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Return) and n.value is not None}
            kept = {
                id(n.value)
                for n in ast.walk(tree)
                if isinstance(n, ast.Assign) and any("_local" in ast.unparse(t) for t in n.targets)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and ast.unparse(node.func) in LEDGER_OPENERS:
                    assert id(node) in opened | kept, f"{path}:{node.lineno}: a ledger opened by hand"


def test_jobs_0_is_one_process_per_core_in_the_job_as_in_validate(
    cfg: JobConfig, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jobs = 0` (or `run -j 0`) meant one process in the job and one per core in `validate`: one meaning now."""
    import ctstat.job.run as job_run

    asked: list[int] = []
    real = job_run.read_checked

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(args[4])
        return real(*args, **kwargs)

    monkeypatch.setattr(job_run, "read_checked", spy)
    monkeypatch.setattr("ctstat.pipeline.default_jobs", lambda: 2)
    arrive(cfg.inbox, "00301-thanh-tri.xlsx")
    run_job(replace(cfg, jobs=0), catalogue, now=datetime(2025, 7, 1))
    assert asked == [2]


def test_a_run_with_nothing_new_loads_neither_pandas_nor_pandera(cfg: JobConfig, catalogue: Catalogue) -> None:
    """A scheduled run that finds nothing new (the usual run of a timer) reads no file and judges nothing, so it
    does not load the checks: pandas and pandera took 0.4–0.6 s of a 2.3 s no-change run over 10,035 files. The
    second run here is a new process, as a timer starts it."""
    for name in sorted(p.name for p in HM.glob("*.xlsx"))[:3]:
        arrive(cfg.inbox, name)
    assert len(run_job(cfg, catalogue, now=datetime(2025, 7, 5, 22, 0)).validated) == 3
    code = (
        "import sys\n"
        "from datetime import date, datetime\n"
        "from pathlib import Path\n"
        "from ctstat.job.config import JobConfig\n"
        "from ctstat.job.run import run_job\n"
        "from ctstat.model.catalogue import load_catalogue\n"
        "from ctstat.model.period import Period\n"
        f"cfg = JobConfig(period=Period.parse('2025-H1'), unit='008', inbox=Path({str(cfg.inbox)!r}),\n"
        f"    out=Path({str(cfg.out)!r}), deadline=date(2025, 7, 15), log=Path({str(cfg.log)!r}),\n"
        "    allow_partial=False)\n"
        "r = run_job(cfg, load_catalogue(), now=datetime(2025, 7, 6))\n"
        "print(len(r.validated), r.rollup_state, sorted(m for m in ('pandas', 'pandera') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "0 waiting []", out.stdout + out.stderr
