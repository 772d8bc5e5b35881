"""The review chain on a job's ledger: approve, send back, correct, reopen, approve the rollup; locking; the CLI."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from ctstat.job.config import JobConfig
from ctstat.job.ledger import VERSION, Ledger
from ctstat.job.review import Action, Chain, act, chain_name, load_trust, read_chain, signer_for
from ctstat.job.run import run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.period import Period
from ctstat.model.signing import Signer, new_keypair
from ctstat.model.units import load_units
from ctstat.write.synth import synth_values

from .conftest import SAMPLES, MakeForm

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
CELL = "TE01/0-2/sex:nam"  #: an input cell
WHERE = "Biểu 1!E11"
WHEN = datetime(2025, 7, 10, 9, 0).astimezone()

Job = tuple[JobConfig, Signer, Signer]


@pytest.fixture
def job(cfg: JobConfig, tmp_path: Path) -> Job:
    return make_job(cfg, tmp_path)


def make_job(cfg: JobConfig, tmp_path: Path) -> Job:
    """The Hoàng Mai job with two officials listed."""
    a_key, a_pub = new_keypair(tmp_path / "keys", "a")
    b_key, b_pub = new_keypair(tmp_path / "keys", "b")
    cfg = replace(cfg, review_keys=(("Nguyễn Văn A", a_pub), ("Trần Thị B", b_pub)))
    return cfg, signer_for(cfg, a_key), signer_for(cfg, b_key)


def arrive_all(cfg: JobConfig, but: str = "") -> None:
    for f in sorted(HM.glob("*.xlsx")):
        if not (but and f.name.startswith(but)):
            shutil.copyfile(f, cfg.inbox / f.name)


def meant(catalogue: Catalogue, unit: str = "00301", seed: int = 0) -> float:
    u = load_units("2025-06-30").get(unit)
    assert u is not None
    return float(synth_values(catalogue, u, Period.parse("2025-H1"), seed)[CELL])


def chain_of(cfg: JobConfig) -> Chain:
    ledger = Ledger(cfg.ledger_path, readonly=True)
    try:
        return read_chain(ledger, chain_name(cfg), load_trust(cfg))
    finally:
        ledger.close()


def test_approve_locks_the_ward_and_a_new_file_is_refused(job: Job, catalogue: Catalogue, make_form: MakeForm) -> None:
    cfg, a, _ = job
    arrive_all(cfg)
    run_job(cfg, catalogue, now=WHEN)
    rec = act(cfg, catalogue, a, Action("approve", "00301"), WHEN)
    assert rec.kind == "approve" and rec.who == "Nguyễn Văn A" and rec.seq == 1 and rec.prev == ""
    assert rec.covers.catalogue == catalogue.digest and len(rec.covers.totals) == 64
    assert list(rec.covers.inputs) == ["00301"]
    with pytest.raises(UsageError, match="approved by Nguyễn Văn A") as err:
        act(cfg, catalogue, a, Action("approve", "00301"), WHEN)
    assert "ctstat review reopen 00301" in (err.value.message_vi or "")
    # the ward sends another (valid) file: recorded, refused with who approved and how to reopen
    shutil.copyfile(make_form(unit="00301", seed=5), cfg.inbox / "00301-new.xlsx")
    r = run_job(cfg, catalogue, now=WHEN)
    (new,) = [f for f in r.validated if Path(f.path).name == "00301-new.xlsx"]
    (locked,) = [i for i in new.issues if i.code == "approved-locked"]
    assert "Nguyễn Văn A" in locked.text_vi and "ctstat review reopen 00301" in locked.text_vi
    assert r.rollup_state == "written"  # the approved file still counts: every ward valid
    src = {i["unit"]: i["sha256"] for i in r.rollup.manifest["inputs"]} if r.rollup else {}
    assert src["00301"] == rec.covers.inputs["00301"]
    # reopened, with a reason: the newest file is current again
    with pytest.raises(UsageError, match="reason is required"):
        act(cfg, catalogue, a, Action("reopen", "00301", why="  "), WHEN)
    act(cfg, catalogue, a, Action("reopen", "00301", why="Xã gửi lại số liệu đúng"), WHEN)
    r = run_job(cfg, catalogue, now=WHEN)
    src = {i["unit"]: i["sha256"] for i in r.rollup.manifest["inputs"]} if r.rollup else {}
    assert src["00301"] != rec.covers.inputs["00301"]
    assert [x.kind for x in chain_of(cfg).records] == ["approve", "reopen"]


def test_send_back_needs_a_reason_and_an_invalid_file_is_not_approved(
    job: Job, catalogue: Catalogue, make_form: MakeForm
) -> None:
    cfg, a, _ = job
    shutil.copyfile(make_form(unit="00301", changes={CELL: -3}), cfg.inbox / "00301.xlsx")
    run_job(cfg, catalogue, now=WHEN)
    with pytest.raises(UsageError, match="not valid"):
        act(cfg, catalogue, a, Action("approve", "00301"), WHEN)
    with pytest.raises(UsageError, match="reason is required"):
        act(cfg, catalogue, a, Action("send-back", "00301"), WHEN)
    with pytest.raises(UsageError, match="no submission"):
        act(cfg, catalogue, a, Action("send-back", "00302", why="x"), WHEN)
    rec = act(cfg, catalogue, a, Action("send-back", "00301", why="Số trẻ 0-2 tuổi bị âm"), WHEN)
    assert rec.why == "Số trẻ 0-2 tuổi bị âm" and chain_of(cfg).states()["00301"].sent_back == rec


def test_a_correction_is_a_record_and_the_corrected_form_counts(
    job: Job, catalogue: Catalogue, make_form: MakeForm
) -> None:
    cfg, a, b = job
    arrive_all(cfg, but="00301")
    value = meant(catalogue)
    typo = make_form(unit="00301", changes={CELL: f"{value:g} trẻ"})
    shutil.copyfile(typo, cfg.inbox / "00301.xlsx")
    before = (cfg.inbox / "00301.xlsx").read_bytes()
    r = run_job(cfg, catalogue, now=WHEN)
    assert r.rollup_state == "waiting"  # 00301 is invalid
    # refusals, each recording nothing
    for action, match in [
        (Action("correct", "00301", why="", cell=WHERE, value=value), "reason is required"),
        (Action("correct", "00301", why="x", cell="Biểu 1!D9", value=value), "total the form computes"),
        (Action("correct", "00301", why="x", cell="Biểu 1!Z99", value=value), "not a cell of the form"),
        (Action("correct", "00301", why="x", cell="Không có!E11", value=value), "not a cell of the form"),
        (Action("correct", "00301", why="x", cell=WHERE, value=-1), "makes the form invalid"),
    ]:
        with pytest.raises(UsageError, match=match):
            act(cfg, catalogue, a, action, WHEN)
    assert chain_of(cfg).records == []
    rec = act(
        cfg, catalogue, b, Action("correct", "00301", why="Xã xác nhận qua điện thoại", cell=WHERE, value=value), WHEN
    )
    (fix,) = rec.covers.corrections
    assert (fix.key, fix.where, fix.old, fix.new) == (CELL, WHERE, f"{value:g} trẻ", value)
    assert rec.who == "Trần Thị B" and rec.covers.totals
    assert (cfg.inbox / "00301.xlsx").read_bytes() == before  # the ward's file is never touched
    r = run_job(cfg, catalogue, now=WHEN)
    assert r.rollup_state == "written"  # the corrected submission counts
    # a second correction starts from the first: its old value is the corrected one; the totals follow
    again = act(cfg, catalogue, a, Action("correct", "00301", why="Gọi lại lần 2", cell=WHERE, value=value + 1), WHEN)
    assert again.covers.corrections[0].old == value and again.covers.totals != rec.covers.totals
    approval = act(cfg, catalogue, a, Action("approve", "00301"), WHEN)
    assert approval.covers.corrections == (fix, *again.covers.corrections)
    assert approval.covers.totals == again.covers.totals
    r = run_job(cfg, catalogue, now=WHEN)
    assert r.rollup is not None and r.rollup_state == "written"  # rolled up again, from the corrected cells
    from .test_rollup import read_data_sheet

    (book,) = [p for p in r.rollup.outputs if p.suffix == ".xlsx"]
    assert read_data_sheet(book).loc["00301", CELL] == value + 1


def approve_everything(cfg: JobConfig, catalogue: Catalogue, signer: Signer) -> list[str]:
    """Every Hoàng Mai ward in, approved, the rollup written, approved, and written again with its chain."""
    arrive_all(cfg)
    run_job(cfg, catalogue, now=WHEN)
    wards = sorted(p.name[:5] for p in HM.glob("*.xlsx"))
    for w in wards:
        act(cfg, catalogue, signer, Action("approve", w), WHEN)
    run_job(cfg, catalogue, now=WHEN)
    act(cfg, catalogue, signer, Action("approve-rollup", "008"), WHEN)
    run_job(cfg, catalogue, now=WHEN)
    return wards


def test_rollup_approval_needs_every_ward(job: Job, catalogue: Catalogue) -> None:
    cfg, a, _ = job
    arrive_all(cfg)
    run_job(cfg, catalogue, now=WHEN)
    wards = sorted(p.name[:5] for p in HM.glob("*.xlsx"))
    for w in wards[:-1]:
        act(cfg, catalogue, a, Action("approve", w), WHEN)
    with pytest.raises(UsageError, match=f"1 ward.*{wards[-1]}"):
        act(cfg, catalogue, a, Action("approve-rollup", "008"), WHEN)
    with pytest.raises(UsageError, match="not a ward"):
        act(cfg, catalogue, a, Action("approve-rollup", "008", excused={"99999": "x"}), WHEN)
    with pytest.raises(UsageError, match="not a ward"):
        act(cfg, catalogue, a, Action("approve-rollup", "008", excused={wards[-1]: " "}), WHEN)
    # excused, but its (unapproved) numbers are in the workbook: the approval would cover them, refused
    with pytest.raises(UsageError, match="older than the approvals"):
        act(cfg, catalogue, a, Action("approve-rollup", "008", excused={wards[-1]: "Sáp nhập"}), WHEN)
    act(cfg, catalogue, a, Action("approve", wards[-1]), WHEN)
    # the workbook on disk already holds exactly the approved numbers: the approval covers its data sheet
    top = act(cfg, catalogue, a, Action("approve-rollup", "008"), WHEN)
    assert len(top.covers.inputs) == len(wards) and len(top.covers.data_sheet) == 64
    # a ward cannot be reopened while the rollup over it stands approved
    with pytest.raises(UsageError, match="reopen-rollup"):
        act(cfg, catalogue, a, Action("reopen", wards[0], why="x"), WHEN)
    act(cfg, catalogue, a, Action("reopen-rollup", "008", why="Phường sửa số liệu"), WHEN)
    act(cfg, catalogue, a, Action("reopen", wards[0], why="Phường sửa số liệu"), WHEN)


def test_a_rollup_set_aside_as_no_longer_current_cannot_be_approved(job: Job, catalogue: Catalogue) -> None:
    """A partial rollup (past the deadline) over approved wards, one ward excused; then the deadline is moved
    later: the workbook no longer matches what the job would write and is set aside
    (tong-hop/khong-con-hien-hanh) so that nobody signs it. Approving the rollup then was accepted, over that
    workbook, while the page said it was no longer current; it is refused, and accepted once it is written again."""
    cfg, a, _ = job
    cfg = replace(cfg, allow_partial=True)
    late = datetime(2025, 7, 20, 9, 0).astimezone()
    wards = sorted(p.name[:5] for p in HM.glob("*.xlsx"))
    arrive_all(cfg, but=wards[-1])
    run_job(cfg, catalogue, now=late)
    for w in wards[:-1]:
        act(cfg, catalogue, a, Action("approve", w), late)
    assert run_job(cfg, catalogue, now=late).rollup_state == "written"
    r = run_job(replace(cfg, deadline=date(2025, 7, 31)), catalogue, now=late)
    assert r.rollup_state == "waiting" and list((cfg.out / "tong-hop" / "khong-con-hien-hanh").glob("*.xlsx"))
    excused = {wards[-1]: "Chưa nộp, đã báo cáo lãnh đạo"}
    with pytest.raises(UsageError, match="no longer matches the current submissions") as err:
        act(cfg, catalogue, a, Action("approve-rollup", "008", excused=excused), late)
    assert "không còn khớp" in (err.value.message_vi or "")
    assert run_job(cfg, catalogue, now=late).rollup_state == "written"  # the deadline back: written again
    top = act(cfg, catalogue, a, Action("approve-rollup", "008", excused=excused), late)
    assert len(top.covers.inputs) == len(wards) - 1 and top.covers.excused == excused


def test_a_hand_edited_chain_is_refused(job: Job, catalogue: Catalogue) -> None:
    import sqlite3

    cfg, a, _ = job
    arrive_all(cfg)
    run_job(cfg, catalogue, now=WHEN)
    act(cfg, catalogue, a, Action("approve", "00301"), WHEN)
    act(cfg, catalogue, a, Action("approve", "00304"), WHEN)
    db = sqlite3.connect(cfg.ledger_path)
    text = db.execute("SELECT record FROM reviews WHERE seq=1").fetchone()[0]
    db.execute("UPDATE reviews SET record=? WHERE seq=1", (text.replace("Nguyễn Văn A", "Trần Thị B"),))
    db.commit()
    db.close()
    with pytest.raises(UsageError, match="review chain .* is broken: ledger reviews #1"):
        act(cfg, catalogue, a, Action("approve", "00307"), WHEN)


def test_two_officials_at_once_record_nothing_half(job: Job, catalogue: Catalogue) -> None:
    """Both act on the same ward at the same moment: one approval is recorded, the other is refused whole."""
    import threading

    cfg, a, b = job
    arrive_all(cfg)
    run_job(cfg, catalogue, now=WHEN)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def approve(signer: Signer) -> None:
        start.wait()
        try:
            act(cfg, catalogue, signer, Action("approve", "00301"), WHEN)
            outcomes.append("ok")
        except UsageError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=approve, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1 and any("approved by" in o for o in outcomes), outcomes
    assert [r.kind for r in chain_of(cfg).records] == ["approve"]


def test_a_ledger_of_the_previous_schema_migrates_forward(job: Job, catalogue: Catalogue) -> None:
    """A version-3 ledger (the release before reviews: the portal's sessions) gains the reviews table; every row and
    receipt time kept."""
    import sqlite3

    cfg, a, _ = job
    arrive_all(cfg)
    run_job(cfg, catalogue, now=WHEN)
    db = sqlite3.connect(cfg.ledger_path)
    db.execute("DROP TABLE reviews")
    db.execute("PRAGMA user_version=3")
    db.commit()
    before = db.execute("SELECT id, path, sha256, received_at, cells FROM submissions ORDER BY id").fetchall()
    db.close()
    act(cfg, catalogue, a, Action("approve", "00301"), WHEN)  # opens for writing: migrates
    db = sqlite3.connect(cfg.ledger_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    assert db.execute("SELECT id, path, sha256, received_at, cells FROM submissions ORDER BY id").fetchall() == before
    assert db.execute("SELECT kind, unit FROM reviews").fetchall() == [("approve", "00301")]
    db.close()


def _settings(cfg: JobConfig, tmp_path: Path, pub: Path) -> Path:
    path = tmp_path / "ctstat.toml"
    path.write_text(
        f'period = "2025-H1"\nunit = "008"\ninbox = "{cfg.inbox}"\nout = "{cfg.out}"\n'
        f'[review_keys]\n"Nguyễn Văn A" = "{pub}"\n',
        encoding="utf-8",
    )
    return path


def test_cli_keys_and_review(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path, make_form: MakeForm) -> None:
    from typer.testing import CliRunner

    from ctstat.cli.commands import app

    runner = CliRunner()
    out = runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "k"), "--name", "a"])
    assert out.exit_code == 0 and "Khóa bí mật" in out.output
    key = tmp_path / "k" / "a.key"
    assert key.stat().st_mode & 0o077 == 0
    again = runner.invoke(app, ["keys", "new", "--out", str(tmp_path / "k"), "--name", "a"])
    assert again.exit_code == 2 and "không ghi đè" in again.output
    conf = _settings(cfg, tmp_path, tmp_path / "k" / "a.pub")
    value = meant(catalogue)
    shutil.copyfile(make_form(unit="00301", changes={CELL: f"{value:g} trẻ"}), cfg.inbox / "00301.xlsx")
    run_job(cfg, catalogue, now=WHEN)
    base = ["--config", str(conf), "--key", str(key)]
    refused = runner.invoke(app, ["review", "approve", "00301", *base])
    assert refused.exit_code == 2 and "chưa hợp lệ" in refused.output
    empty = runner.invoke(app, ["review", "correct", "00301", "--cell", WHERE, "--value", "5", "--why", "", *base])
    assert empty.exit_code == 2 and "phải ghi lý do" in empty.output
    bad = runner.invoke(app, ["review", "correct", "00301", "--cell", WHERE, "--value", "-1", "--why", "x", *base])
    assert bad.exit_code == 2 and "không hợp lệ" in bad.output and "Biểu 1!E11" in bad.output
    # "1.000" is one thousand as Vietnamese writes it: float() took it for 1 (as the portal's form did)
    for typed, said in {
        "1.000": "gõ liền các chữ số, không có dấu chấm, dấu phẩy hay khoảng trắng: 1000",
        "1_0": "không phải là số",
    }.items():
        grouped = runner.invoke(
            app, ["review", "correct", "00301", "--cell", WHERE, "--value", typed, "--why", "x", *base]
        )
        assert grouped.exit_code == 2 and said in grouped.output, grouped.output
    fixed = runner.invoke(
        app, ["review", "correct", "00301", "--cell", WHERE, "--value", f"{value:g}", "--why", "Xã xác nhận", *base]
    )
    assert fixed.exit_code == 0 and "ĐÃ SỬA Ô 00301" in fixed.output and f"-> {value:g}" in fixed.output
    ok = runner.invoke(app, ["review", "approve", "00301", *base, "--lang", "en"])
    assert ok.exit_code == 0 and "approve 00301 2025-H1: Nguyễn Văn A" in ok.output
    locked = runner.invoke(app, ["review", "send-back", "00301", "--why", "x", *base])
    assert locked.exit_code == 2 and "đã được Nguyễn Văn A duyệt" in locked.output


def test_status_shows_each_wards_history(job: Job, catalogue: Catalogue, make_form: MakeForm, tmp_path: Path) -> None:
    """`ctstat status` (and --json): per ward, submissions, corrections, send-backs, approvals, reopens in order."""
    import json

    from typer.testing import CliRunner

    from ctstat.cli.commands import app
    from ctstat.job.run import job_status

    cfg, a, b = job
    arrive_all(cfg, but="00301")
    value = meant(catalogue)
    shutil.copyfile(make_form(unit="00301", changes={CELL: f"{value:g} trẻ"}), cfg.inbox / "00301.xlsx")
    run_job(cfg, catalogue, now=WHEN)
    act(cfg, catalogue, a, Action("send-back", "00304", why="Biểu 3 để trống"), WHEN)
    act(cfg, catalogue, b, Action("correct", "00301", why="Xã xác nhận", cell=WHERE, value=value), WHEN)
    act(cfg, catalogue, a, Action("approve", "00301"), WHEN)
    act(cfg, catalogue, a, Action("reopen", "00301", why="Xã báo nhầm"), WHEN)
    doc = job_status(cfg, catalogue)["review"]
    assert doc["verified"] and doc["chain"] == "2025-H1/008"
    kinds = [e["kind"] for e in doc["wards"]["00301"]["events"]]
    assert kinds == ["submitted", "correct", "approve", "reopen"]
    fix = doc["wards"]["00301"]["events"][1]
    assert fix["who"] == "Trần Thị B" and fix["corrections"] == [{"cell": WHERE, "old": f"{value:g} trẻ", "new": value}]
    assert doc["wards"]["00301"]["state"] == "corrected"  # reopened; its corrections stand
    assert doc["wards"]["00304"]["state"] == "sent-back" and doc["wards"]["00307"]["state"] == "not-reviewed"
    conf = tmp_path / "ctstat.toml"
    keys = "".join(f'"{n}" = "{p}"\n' for n, p in cfg.review_keys)
    conf.write_text(
        f'period = "2025-H1"\nunit = "008"\ninbox = "{cfg.inbox}"\nout = "{cfg.out}"\n[review_keys]\n{keys}',
        encoding="utf-8",
    )
    out = CliRunner().invoke(app, ["status", "--config", str(conf)])
    assert out.exit_code == 0, out.output  # the corrected 00301 counts as valid, as in the run
    assert "Lịch sử nộp và xem xét" in out.output and "Xã xác nhận" in out.output and "đã trả lại 1" in out.output
    assert f"Biểu 1!E11: {value:g} trẻ -> {value:g}" in out.output
    as_json = CliRunner().invoke(app, ["status", "--config", str(conf), "--json"])
    assert json.loads(as_json.stdout)["review"]["wards"]["00304"]["events"][-1]["why"] == "Biểu 3 để trống"
