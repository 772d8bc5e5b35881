"""A city verifies offline that a district's workbook is exactly what a named official approved."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from ctstat.check.approval import ApprovalPolicy
from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period
from ctstat.model.records import APPROVAL_SHEET, CORRECTIONS_SHEET, record_from_dict
from ctstat.model.report import Issue
from ctstat.model.signing import Trust, load_signer, new_keypair
from ctstat.pipeline import RollupInputs, collect_inputs, rollup_paths
from ctstat.read.rollup_book import DATA, DIGEST_LABEL, data_digest

from .test_review import WHEN, Job, approve_everything, make_job

CITY: dict[str, Any] = {"period": "2025-H1", "unit": "01", "allow_partial": True}


def district_book(cfg: JobConfig) -> Path:
    (book,) = (cfg.out / "tong-hop").glob("2025-H1_008_*.xlsx")
    return book


def city_trust(tmp_path: Path, cfg: JobConfig) -> ApprovalPolicy:
    """The city lists the district official's public key (under the same name)."""
    return ApprovalPolicy(Trust.load(dict(cfg.review_keys), []))


@pytest.fixture
def job(cfg: JobConfig, tmp_path: Path) -> Job:
    return make_job(cfg, tmp_path)


@pytest.fixture
def signed(job: Job, catalogue: Catalogue, tmp_path: Path) -> tuple[JobConfig, Path]:
    cfg, a, _ = job
    approve_everything(cfg, catalogue, a)
    copy = tmp_path / "city-inbox" / district_book(cfg).name
    copy.parent.mkdir()
    shutil.copyfile(district_book(cfg), copy)
    return cfg, copy


def _approval(report_issues: list[Issue], code: str) -> list[Issue]:
    return [i for i in report_issues if i.code == code]


def test_a_city_rollup_over_a_signed_district_workbook_passes(
    signed: tuple[JobConfig, Path], catalogue: Catalogue, tmp_path: Path
) -> None:
    cfg, book = signed
    wb = openpyxl.load_workbook(book)
    assert APPROVAL_SHEET in wb.sheetnames and CORRECTIONS_SHEET in wb.sheetnames
    records = [row[6] for row in wb[APPROVAL_SHEET].iter_rows(min_row=4, values_only=True) if row[6]]
    assert record_from_dict(json.loads(records[-1])).kind == "approve-rollup"
    res = rollup_paths([book], out=tmp_path / "city", approval=city_trust(tmp_path, cfg), catalogue=catalogue, **CITY)
    (state,) = res.manifest["approvals"]
    assert state["state"] == "approved" and state["who"] == "Nguyễn Văn A" and state["unit"] == "008"
    (rep,) = res.report.files
    assert rep.valid, [i.text_en for i in rep.issues]
    used = [s for s in res.completeness.rows if s.status == "valid"]
    assert len(used) == 14


def _set_record(book: Path, seq: int, change: Callable[[str], str]) -> None:
    wb = openpyxl.load_workbook(book)
    ws = wb[APPROVAL_SHEET]
    for row in ws.iter_rows(min_row=4):
        if row[6].value and json.loads(row[6].value)["seq"] == seq:
            row[6].value = change(row[6].value)
    wb.save(book)


def _last_seq(book: Path) -> int:
    wb = openpyxl.load_workbook(book)
    return max(json.loads(r[6])["seq"] for r in wb[APPROVAL_SHEET].iter_rows(min_row=4, values_only=True) if r[6])


def _city(book: Path, cfg: JobConfig, tmp_path: Path, catalogue: Catalogue, required: bool = True) -> RollupInputs:
    policy = replace(city_trust(tmp_path, cfg), required=required)
    return collect_inputs([book], catalogue, Period.parse("2025-H1"), approval=policy)


def test_an_altered_record_is_refused_at_its_row(
    signed: tuple[JobConfig, Path], catalogue: Catalogue, tmp_path: Path
) -> None:
    cfg, book = signed
    _set_record(book, 1, lambda text: text.replace('"why":""', '"why":"sửa"'))
    got = _city(book, cfg, tmp_path, catalogue)
    (rep,) = got.report.files
    (issue,) = _approval(rep.issues, "rollup-bad-signature")
    assert issue.sheet == APPROVAL_SHEET and issue.cell == "G4" and "bị sửa" in issue.text_vi
    assert not rep.valid and got.values_of == {}
    assert all(not c.valid for claims in got.claims.values() for c in claims)
    # --allow-unapproved: listed (a warning), the numbers used
    got = _city(book, cfg, tmp_path, catalogue, required=False)
    (rep,) = got.report.files
    assert _approval(rep.issues, "rollup-bad-signature")[0].severity == "warning" and len(got.values_of) == 14


def test_a_record_resigned_with_an_unlisted_key_is_refused(
    signed: tuple[JobConfig, Path], catalogue: Catalogue, tmp_path: Path
) -> None:
    cfg, book = signed
    key, pub = new_keypair(tmp_path / "stranger", "x")
    stranger = load_signer(key, Trust.load({"Nguyễn Văn A": pub}, []))  # claims the official's name
    last = _last_seq(book)

    def resign(text: str) -> str:
        rec = record_from_dict(json.loads(text))
        return stranger.sign(replace(rec, signature=None)).to_json()

    _set_record(book, last, resign)
    (rep,) = _city(book, cfg, tmp_path, catalogue).report.files
    (issue,) = _approval(rep.issues, "rollup-bad-signature")
    assert "not listed" in issue.text_en and issue.cell is not None


def test_a_data_sheet_changed_after_approval_is_refused(
    signed: tuple[JobConfig, Path], catalogue: Catalogue, tmp_path: Path
) -> None:
    cfg, book = signed
    wb = openpyxl.load_workbook(book)
    ws = wb[DATA]
    ws.cell(2, 8).value = (ws.cell(2, 8).value or 0) + 1  # one count, typed over
    # ... and the cover's digest recomputed, so the workbook alone would not tell
    grid = [[c if c is not None else "" for c in row] for row in ws.iter_rows(values_only=True)]
    digest = data_digest([str(v) for v in grid[0]], grid[1:])
    for row in wb.worksheets[0].iter_rows():
        for c in row:
            if c.value == DIGEST_LABEL:
                wb.worksheets[0].cell(c.row, c.column + 1).value = digest
    wb.save(book)
    (rep,) = _city(book, cfg, tmp_path, catalogue).report.files
    codes = [i.code for i in rep.issues if i.severity == "error"]
    assert "rollup-changed-since-approval" in codes and "rollup-edited" not in codes, codes
    (issue,) = _approval(rep.issues, "rollup-changed-since-approval")
    assert "Nguyễn Văn A" in issue.text_vi and issue.sheet == DATA


def test_an_unapproved_district_workbook_is_refused(job: Job, catalogue: Catalogue, tmp_path: Path) -> None:
    from ctstat.job.run import run_job

    from .test_review import arrive_all

    cfg, _, _ = job
    arrive_all(cfg)
    run_job(cfg, catalogue, now=WHEN)  # written, never approved: no chain in it
    (rep,) = _city(district_book(cfg), cfg, tmp_path, catalogue).report.files
    (issue,) = _approval(rep.issues, "rollup-unapproved")
    assert "008" in issue.text_vi and not rep.valid


def test_cli_city_rollup_checks_approvals(signed: tuple[JobConfig, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ctstat.cli.commands import app

    cfg, book = signed
    (name, pub), _ = cfg.review_keys
    base = ["rollup", str(book), "--period", "2025-H1", "--unit", "01", "--allow-partial", "--json"]
    ok = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "c1"), "--signer", f"{name}={pub}"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["approvals"][0]["state"] == "approved"
    # the city lists someone else: the district's approval does not count; --allow-unapproved lists it instead
    key, other = new_keypair(tmp_path / "o", "o")
    refused = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "c2"), "--signer", f"Lê Văn C={other}"])
    doc = json.loads(refused.stdout)
    assert doc["approvals"][0]["state"] == "bad-signature" and doc["complete"] is False
    assert not any(i["used"] for i in doc["inputs"])
    listed = CliRunner().invoke(
        app, [*base, "--out", str(tmp_path / "c3"), "--signer", f"Lê Văn C={other}", "--allow-unapproved"]
    )
    doc = json.loads(listed.stdout)
    assert doc["approvals"][0]["state"] == "bad-signature" and all(i["used"] for i in doc["inputs"])
    bad = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "c4"), "--signer", "no-equals"])
    assert bad.exit_code == 2 and "TÊN=TỆP_KHÓA" in bad.output


def test_the_city_completeness_sheet_says_each_districts_approval(
    signed: tuple[JobConfig, Path], catalogue: Catalogue, tmp_path: Path
) -> None:
    from ctstat.model.sheets import COMPLETENESS

    cfg, book = signed
    res = rollup_paths([book], out=tmp_path / "city", approval=city_trust(tmp_path, cfg), catalogue=catalogue, **CITY)
    (out,) = [p for p in res.outputs if p.name.startswith("2025-H1_01_")]
    rows = list(openpyxl.load_workbook(out)[COMPLETENESS].iter_rows(values_only=True))
    head = next(r for r in rows if r[0] == "STT" and r[2] == "Quận, huyện")
    assert head[7] == "Phê duyệt"
    (hm,) = [r for r in rows if r[1] == "008"]
    assert str(hm[7]).startswith("Đã duyệt: Nguyễn Văn A, ")
    others = [r for r in rows[rows.index(head) + 1 :] if r[1] and r[1] != "008" and len(r[1]) == 3]
    assert others and all(r[7] == "Không có tệp tổng hợp" for r in others)
    # a district workbook changed after approval: said on its line
    wb = openpyxl.load_workbook(book)
    wb[DATA].cell(2, 8).value = (wb[DATA].cell(2, 8).value or 0) + 1
    wb.save(book)
    lenient = replace(city_trust(tmp_path, cfg), required=False)
    res = rollup_paths([book], out=tmp_path / "city2", approval=lenient, catalogue=catalogue, **CITY)
    (out,) = [p for p in res.outputs if p.name.startswith("2025-H1_01_")]
    (hm,) = [r for r in openpyxl.load_workbook(out)[COMPLETENESS].iter_rows(values_only=True) if r[1] == "008"]
    assert hm[7] == "Đã thay đổi sau khi duyệt: Nguyễn Văn A, " + str(hm[7]).split(", ")[-1]
    # a city rollup that does not check approvals has no such column
    res = rollup_paths([book], out=tmp_path / "city3", catalogue=catalogue, **CITY)
    (out,) = [p for p in res.outputs if p.name.startswith("2025-H1_01_")]
    rows = list(openpyxl.load_workbook(out)[COMPLETENESS].iter_rows(values_only=True))
    head = next(r for r in rows if r[0] == "STT" and r[2] == "Quận, huyện")
    assert len([h for h in head if h]) == 7
