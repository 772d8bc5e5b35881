"""One input stage: whatever the source (a ward's file, a district workbook, the job's ledger), every number that
reaches a rollup passed the same validation under the catalogue in use; the job survives the faults of its machine."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger
from ctstat.job.run import job_status, run_job
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.errors import EnvironmentFault
from ctstat.model.keys import TOTAL, cell_key
from ctstat.model.layout import form_layout
from ctstat.pipeline import rollup_paths, synth_forms, validate_paths
from ctstat.read.inputs import find_files
from ctstat.read.rollup_book import DATA, DIGEST_LABEL

from .conftest import ROOT, SAMPLES, MakeForm, bound_by_file_modes

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
POPULATION = cell_key("TE01", TOTAL, TOTAL)


# --- district workbooks are judged like ward files ---------------------------------------------------------------


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> Path:
    """The district workbook of Quận Hoàng Mai (008), as ctstat writes it."""
    result = rollup_paths([HM], "2025-H1", tmp_path_factory.mktemp("district"), catalogue=catalogue)
    return result.outputs[0]


def edited(district: Path, tmp_path: Path, edit: object, name: str = "edited.xlsx") -> Path:
    wb = openpyxl.load_workbook(district)
    edit(wb)  # type: ignore[operator]
    out = tmp_path / name
    wb.save(out)
    return out


def data_col(wb: openpyxl.Workbook, key: str) -> int:
    return [c.value for c in wb[DATA][1]].index(key) + 1


def codes(result: object) -> list[tuple[str, str | None]]:
    return [(i.code, i.where) for f in result.report.files for i in f.issues]  # type: ignore[attr-defined]


def test_a_district_workbook_as_written_rolls_up_like_its_wards(
    district: Path, catalogue: Catalogue, tmp_path: Path
) -> None:
    from_wards = rollup_paths([HM], "2025-H1", tmp_path / "a", catalogue=catalogue)
    from_book = rollup_paths([district], "2025-H1", tmp_path / "b", unit="008", catalogue=catalogue)
    assert from_book.completeness.complete and codes(from_book) == []
    assert from_book.manifest["totals"] == from_wards.manifest["totals"]
    assert from_book.manifest["inputs"][0]["kind"] == "rollup" and from_book.manifest["inputs"][0]["used"]
    # a workbook merely opened and saved again (here by openpyxl) keeps its digest
    resaved = edited(district, tmp_path, lambda wb: None, "resaved.xlsx")
    again = rollup_paths([resaved], "2025-H1", tmp_path / "c", unit="008", catalogue=catalogue)
    assert again.completeness.complete and codes(again) == []
    # and ctstat validate says so too
    assert validate_paths([district], catalogue, "2025-H1").valid


def test_a_count_edited_in_the_data_sheet_is_caught_at_its_cell(
    district: Path, catalogue: Catalogue, tmp_path: Path
) -> None:
    def minus_five(wb: openpyxl.Workbook) -> None:
        wb[DATA].cell(2, data_col(wb, POPULATION)).value = -5

    book = edited(district, tmp_path, minus_five)
    result = rollup_paths([book], "2025-H1", tmp_path / "out", unit="008", catalogue=catalogue)
    assert result.refused and not result.outputs  # nothing of an edited workbook is used
    found = codes(result)
    cell = f"{DATA}!{openpyxl.utils.get_column_letter(data_col(openpyxl.load_workbook(book), POPULATION))}2"
    assert ("rollup-edited", DATA) in found
    assert ("negative-value", cell) in found  # the ward's row, validated like a ward file
    assert result.completeness.count(result.completeness.rows)["valid"] == 0
    assert all("đã bị sửa" in s.problem for s in result.completeness.rows)
    # the same verdict from ctstat validate
    report = validate_paths([book], catalogue, "2025-H1")
    assert not report.valid and ("negative-value", cell) in [(i.code, i.where) for i in report.issues]


def test_a_stripped_or_foreign_district_workbook_is_one_mismatch(
    district: Path, catalogue: Catalogue, tmp_path: Path
) -> None:
    def strip(wb: openpyxl.Workbook) -> None:
        del wb[DATA]

    def other_form(wb: openpyxl.Workbook) -> None:
        ws = wb["Thông tin chung"]
        for row in ws.iter_rows(min_row=6, max_row=24):
            if row[1].value == "Phiên bản biểu mẫu":
                row[2].value = "2021.1+deadbeef"

    for edit, words in ((strip, f"thiếu trang '{DATA}'"), (other_form, "biểu mẫu phiên bản 2021.1+deadbeef")):
        book = edited(district, tmp_path, edit, f"{edit.__name__}.xlsx")
        result = rollup_paths([book], "2025-H1", tmp_path / edit.__name__, unit="008", catalogue=catalogue)
        issues = [i for f in result.report.files for i in f.issues]
        assert [i.code for i in issues] == ["rollup-mismatch"], issues  # reported once, at its root
        assert words in issues[0].text_vi and result.refused


def test_a_printed_total_edited_by_hand_is_caught_at_its_cell(
    district: Path, catalogue: Catalogue, tmp_path: Path
) -> None:
    sheet, cell = form_layout(catalogue).address(POPULATION)

    def retype(wb: openpyxl.Workbook) -> None:
        wb[sheet][cell].value = 1

    book = edited(district, tmp_path, retype)
    result = rollup_paths([book], "2025-H1", tmp_path / "out", unit="008", catalogue=catalogue)
    assert codes(result) == [("rollup-totals", f"{sheet}!{cell}")]


def test_a_district_workbook_without_a_digest_is_not_trusted(
    district: Path, catalogue: Catalogue, tmp_path: Path
) -> None:
    def no_digest(wb: openpyxl.Workbook) -> None:
        for row in wb["Thông tin chung"].iter_rows(min_row=6, max_row=24):
            if row[1].value == DIGEST_LABEL:
                row[2].value = None

    book = edited(district, tmp_path, no_digest)
    result = rollup_paths([book], "2025-H1", tmp_path / "out", unit="008", catalogue=catalogue)
    assert codes(result) == [("rollup-edited", DATA)] and result.refused
    assert "không có mã kiểm tra" in result.report.files[0].issues[0].text_vi


def test_the_manifest_records_each_workbooks_data_digest(district: Path) -> None:
    manifest = json.loads(next(district.parent.glob("*_manifest.json")).read_text(encoding="utf-8"))
    wb = openpyxl.load_workbook(district)
    on_cover = next(
        row[2].value for row in wb["Thông tin chung"].iter_rows(min_row=6, max_row=24) if row[1].value == DIGEST_LABEL
    )
    assert manifest["outputs"][0]["data_digest"] == on_cover and len(on_cover) == 64
    # and each file's SHA-256 (taken in the writer, before the set was published): the file as published
    assert manifest["outputs"][0]["sha256"] == hashlib.sha256(district.read_bytes()).hexdigest()
    assert manifest["outputs"][0]["path"] == str(district)


# --- the ledger ----------------------------------------------------------------------------------------------------


def fill(cfg: JobConfig, names: list[str] | None = None) -> None:
    for p in sorted(HM.glob("*.xlsx")):
        if names is None or p.name in names:
            shutil.copyfile(p, cfg.inbox / p.name)


def changed_catalogue(tmp_path: Path, old: str, new: str) -> Catalogue:
    root = tmp_path / "indicators"
    shutil.copytree(ROOT / "indicators", root)
    text = (root / "catalogue.yaml").read_text(encoding="utf-8")
    assert old in text
    (root / "catalogue.yaml").write_text(text.replace(old, new), encoding="utf-8")
    return load_catalogue(root)


SEX = "      - {key: nam, vi: Nam, en: Male}\n      - {key: nu, vi: Nữ, en: Female}\n"
SEX_SWAPPED = "      - {key: nu, vi: Nữ, en: Female}\n      - {key: nam, vi: Nam, en: Male}\n"


def test_a_catalogue_change_under_a_ledger_rejudges_what_is_stored(
    cfg: JobConfig, catalogue: Catalogue, tmp_path: Path
) -> None:
    fill(cfg)
    first = run_job(cfg, catalogue, now=datetime(2025, 7, 5))
    assert first.rollup_state == "written" and first.ok
    # the sex categories reordered: a new form; every stored file is judged again, and none of them fits it
    swapped = changed_catalogue(tmp_path, SEX, SEX_SWAPPED)
    assert swapped.template_version != catalogue.template_version
    second = run_job(cfg, swapped, now=datetime(2025, 7, 6))
    assert len(second.validated) == 14
    assert {i.code for f in second.validated for i in f.issues} == {"template-version"}
    assert second.rollup_state == "waiting" and not second.ok
    assert not job_status(cfg, swapped)["complete"]
    # a change that leaves the form as it is (a label): judged again, receipt times kept, the rollup rewritten
    relabelled = changed_catalogue(tmp_path / "b", "{key: nam, vi: Nam, en: Male}", "{key: nam, vi: Nam, en: Men}")
    assert relabelled.template_version == catalogue.template_version and relabelled.digest != catalogue.digest
    third = run_job(cfg, relabelled, now=datetime(2025, 7, 20))
    assert len(third.validated) == 14 and third.rollup_state == "written"
    doc = job_status(cfg, relabelled)
    assert doc["complete"] and doc["late"] == []  # received on 5 July, not on 20 July
    ledger = Ledger(cfg.ledger_path, readonly=True)
    assert len(ledger.rows()) == 14 and {r.catalogue_digest for r in ledger.rows()} == {relabelled.digest}
    ledger.close()


def test_sending_earlier_content_again_and_deleting_the_newest_file(
    cfg: JobConfig, catalogue: Catalogue, make_form: MakeForm
) -> None:
    fill(cfg)
    name = "00301-thanh-tri.xlsx"
    a = (cfg.inbox / name).read_bytes()
    b = make_form(unit="00301", seed=5).read_bytes()  # the same ward's form with other figures
    run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    for day, data in ((2, b), (3, a)):  # A, then B, then A again under the same name
        (cfg.inbox / name).write_bytes(data)
        os.utime(cfg.inbox / name, ns=(day * 10**9, day * 10**9))
        run_job(cfg, catalogue, now=datetime(2025, 7, day))
    again = run_job(cfg, catalogue, now=datetime(2025, 7, 4))
    assert again.validated == []
    ledger = Ledger(cfg.ledger_path, readonly=True)
    rows = [r for r in ledger.rows() if r.path == name]
    sha_a, sha_b = hashlib.sha256(a).hexdigest(), hashlib.sha256(b).hexdigest()
    assert sha_a != sha_b and [r.sha256 for r in rows] == [sha_a, sha_b, sha_a]  # A, B, then A again: three rows
    assert [str(r.received_at)[:10] for r in rows] == ["2025-07-01", "2025-07-02", "2025-07-03"]
    assert ledger.current("2025-H1")["00301"].id == rows[2].id != rows[0].id  # the A of day 3, not of day 1
    ledger.close()
    # a ward sends a second file under another name; deleting it brings the first one back, not "missing"
    shutil.copyfile(cfg.inbox / name, cfg.inbox / "00301-resend.xlsx")
    run_job(cfg, catalogue, now=datetime(2025, 7, 5))
    assert job_status(cfg, catalogue)["resubmissions"]["00301"][-1]["current"]
    (cfg.inbox / "00301-resend.xlsx").unlink()
    after = run_job(cfg, catalogue, now=datetime(2025, 7, 6))
    rows_301 = [s for s in after.completeness.rows if s.code == "00301"]
    assert rows_301[0].status == "valid" and rows_301[0].files == (str(cfg.inbox / name),)


V0_SCHEMA = """
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, received_at TEXT NOT NULL, unit TEXT, unit_name TEXT, period TEXT, vintage TEXT,
    valid INTEGER NOT NULL, errors INTEGER NOT NULL, warnings INTEGER NOT NULL, issues TEXT NOT NULL, cells TEXT,
    annotated TEXT, superseded_by INTEGER REFERENCES submissions(id), removed_at TEXT, UNIQUE (path, sha256));
CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, new_files INTEGER,
    outcome TEXT);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def test_a_ledger_of_the_first_release_is_migrated(cfg: JobConfig, catalogue: Catalogue) -> None:
    fill(cfg, ["00301-thanh-tri.xlsx"])
    cfg.out.mkdir()
    db = sqlite3.connect(cfg.ledger_path)
    db.executescript(V0_SCHEMA)
    st = (cfg.inbox / "00301-thanh-tri.xlsx").stat()
    db.execute(
        "INSERT INTO submissions (path, sha256, size, mtime_ns, received_at, unit, period, valid, errors, warnings,"
        " issues, cells) VALUES (?, 'x', ?, ?, '2025-07-01T08:00:00', '00301', '2025-H1', 1, 0, 0, '[]', '[1, 2]')",
        ("00301-thanh-tri.xlsx", st.st_size, st.st_mtime_ns),
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.commit()
    db.close()
    status_before = job_status(cfg, catalogue)  # read-only: an old ledger is read as it is, not changed
    assert status_before["by_parent"]["008 Quận Hoàng Mai"]["received"] == 1
    result = run_job(cfg, catalogue, now=datetime(2025, 7, 20))
    assert len(result.validated) == 1  # judged under no catalogue: read again
    ledger = Ledger(cfg.ledger_path, readonly=True)
    assert ledger.version == 5  # migrated to the current schema (3: sessions; 4: the review chain; 5: drafts)
    assert ledger.uploads() == [] and ledger.token_hashes() == {}  # the portal's tables exist, empty
    rows = ledger.rows()
    assert len(rows) == 2 and rows[0].removed_at is not None  # its hash was not the file's: new content
    assert rows[1].catalogue_digest == catalogue.digest
    ledger.close()


# --- faults of the machine -----------------------------------------------------------------------------------------


def test_a_full_disk_under_the_ledger_changes_nothing_and_the_next_run_recovers(
    cfg: JobConfig, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = sorted(p.name for p in HM.glob("*.xlsx"))
    fill(cfg, names[:4])
    run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    fill(cfg)
    real = Ledger.transaction

    def full(self: Ledger):  # type: ignore[no-untyped-def]
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count={pages}")  # SQLite itself reports the disk full
        return real(self)

    monkeypatch.setattr(Ledger, "transaction", full)
    with pytest.raises(EnvironmentFault, match="the disk is full"):
        run_job(cfg, catalogue, now=datetime(2025, 7, 2))
    monkeypatch.undo()
    ledger = Ledger(cfg.ledger_path, readonly=True)
    assert len(ledger.rows()) == 4  # as it was
    ledger.close()
    done = run_job(cfg, catalogue, now=datetime(2025, 7, 3))
    assert len(done.validated) == 10 and done.rollup_state == "written"


def test_a_full_disk_under_the_workbooks_keeps_the_published_set(
    cfg: JobConfig,
    catalogue: Catalogue,
    make_form: MakeForm,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(cfg)
    run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    before = {p.name: p.read_bytes() for p in (cfg.out / "tong-hop").iterdir()}
    shutil.copyfile(make_form(unit="00301", seed=5), cfg.inbox / "00301-corrected.xlsx")  # new figures arrive

    def no_space(*args: object) -> object:
        raise OSError(errno.ENOSPC, "No space left on device", "tong-hop/x.xlsx")

    monkeypatch.setattr("ctstat.write.rollup_book.write_rollup", no_space)
    monkeypatch.setattr(sys, "argv", ["ctstat", "run", "--period", "2025-H1", "--unit", "008", "--inbox",
                                      str(cfg.inbox), "--out", str(cfg.out)])  # fmt: skip
    from ctstat.cli.commands import main

    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 3
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (cfg.out / "tong-hop").iterdir()} == before
    assert [p.name for p in cfg.out.iterdir() if ".new-" in p.name or ".old-" in p.name] == []
    monkeypatch.undo()
    assert run_job(cfg, catalogue, now=datetime(2025, 7, 3)).rollup_state == "written"


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder another user can read (pytest's own is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="ctstat-test-"))
    path.chmod(0o755)
    yield path
    for p in [path, *path.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path)


def ctstat_as_other(shared: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """ctstat bound by file modes (root ignores them), run in the shared folder: the checkout may be private."""
    env = {**os.environ, "HOME": str(shared), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [*bound_by_file_modes(), sys.executable, "-m", "ctstat", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=shared, timeout=300)


def test_a_user_bound_by_file_modes_runs_ctstat_from_a_private_checkout(shared: Path) -> None:
    """A checkout under root's home (0700) or a mktemp -d: the program run bound by file modes still imports ctstat
    from it, and is still refused what file modes forbid."""
    private = Path(tempfile.mkdtemp(prefix="ctstat-private-"))
    try:
        private.chmod(0o700)
        shutil.copytree(
            ROOT / "src" / "ctstat", private / "src" / "ctstat", ignore=shutil.ignore_patterns("__pycache__")
        )
        forbidden = shared / "forbidden.xlsx"
        forbidden.write_bytes(b"PK")
        forbidden.chmod(0o000)
        probe = "import ctstat, sys; print(ctstat.__file__); open(sys.argv[1], 'rb')"
        env = {**os.environ, "PYTHONPATH": str(private / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        run = subprocess.run([*bound_by_file_modes(), sys.executable, "-c", probe, str(forbidden)],
                             capture_output=True, text=True, env=env, cwd=shared, timeout=120)  # fmt: skip
        assert run.stdout.strip() == str(private / "src" / "ctstat" / "__init__.py"), run.stderr
        assert "PermissionError" in run.stderr
    finally:
        shutil.rmtree(private)


def test_a_read_only_output_folder(shared: Path, catalogue: Catalogue) -> None:
    inbox, out = shared / "inbox", shared / "out"
    shutil.copytree(HM, inbox)
    job = ["--period", "2025-H1", "--unit", "008", "--inbox", str(inbox), "--out", str(out)]
    assert (
        subprocess.run([sys.executable, "-m", "ctstat", "run", *job], capture_output=True, cwd=shared).returncode == 0
    )
    for p in [out, *out.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    ledger = (out / "ledger.sqlite").read_bytes()
    status = ctstat_as_other(shared, "status", *job, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["complete"]
    assert (out / "ledger.sqlite").read_bytes() == ledger and sorted(p.name for p in out.iterdir()) == [
        ".ctstat-run.lock",
        "ledger.sqlite",
        "tong-hop",
    ]
    shutil.copyfile(HM / "00301-thanh-tri.xlsx", inbox / "00301-again.xlsx")
    run = ctstat_as_other(shared, "run", *job)
    assert run.returncode == 3, run.stderr
    assert "cannot go on" in run.stderr and "Traceback" not in run.stderr


def test_an_inbox_file_it_may_not_read(shared: Path) -> None:
    inbox, out = shared / "inbox", shared / "out"
    shutil.copytree(HM, inbox)
    out.mkdir()
    out.chmod(0o777)
    (inbox / "00301-thanh-tri.xlsx").chmod(0o000)
    job = ["--period", "2025-H1", "--unit", "008", "--inbox", str(inbox), "--out", str(out), "--json"]
    run = ctstat_as_other(shared, "run", *job)
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert len(doc["validated"]) == 14
    assert [i["code"] for f in doc["validated"] for i in f["issues"]] == ["file-unreadable"]
    assert doc["completeness"]["valid"] == 13


KILLER = """
import os, signal, sys
from datetime import datetime
from ctstat.write import rollup_book as writer
from ctstat.pipeline import rollup_paths

real, written = writer.write_rollup, []

def write_then_die(path, cat, data):
    if len(written) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # the machine goes down in the middle of a province rollup
    written.append(path)
    return real(path, cat, data)

writer.write_rollup = write_then_die
rollup_paths([sys.argv[1]], "2025-H1", sys.argv[2], generated_at=datetime(2025, 7, 2))
"""


def test_a_province_rollup_killed_midway_leaves_the_old_set_whole(catalogue: Catalogue, tmp_path: Path) -> None:
    wards, out = tmp_path / "wards", tmp_path / "out"
    synth_forms("48", "2025-H1", wards, catalogue, seed=3)
    old = rollup_paths([wards], "2025-H1", out, catalogue=catalogue, generated_at=datetime(2025, 7, 1))
    assert len(old.outputs) == 8
    (out / "notes.txt").write_text("the district's own file", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLER), str(wards), str(out)], timeout=300)
    assert killed.returncode == -9
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old set, whole
    assert any(".new-" in p.name for p in tmp_path.iterdir())  # what the killed run left aside
    new = rollup_paths([wards], "2025-H1", out, catalogue=catalogue, generated_at=datetime(2025, 7, 2))
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(after) == set(before) and after["notes.txt"] == before["notes.txt"]
    manifest = json.loads(after["2025-H1_48_manifest.json"])
    assert manifest["generated_at"].startswith("2025-07-02") and len(new.outputs) == 8
    assert all(after[p.name] != before[p.name] for p in new.outputs)
    assert [p.name for p in tmp_path.iterdir() if ".new-" in p.name or ".old-" in p.name] == []


# --- one status code ------------------------------------------------------------------------------------------------


def test_rollup_and_run_give_the_same_statuses(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> None:
    fill(cfg)
    (cfg.inbox / "00337-hoang-liet.xlsx").unlink()
    shutil.copy(SAMPLES / "faulty" / "01-so-am.xlsx", cfg.inbox / "00301-thanh-tri.xlsx")
    for p in cfg.inbox.iterdir():  # received on 1 July, for both
        os.utime(p, (datetime(2025, 7, 1).timestamp(),) * 2)
    job = run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    rollup = rollup_paths([cfg.inbox], "2025-H1", tmp_path / "r", catalogue=catalogue, deadline=cfg.deadline)
    assert [s.to_dict() for s in job.completeness.rows] == [s.to_dict() for s in rollup.completeness.rows]
    assert {s.status for s in job.completeness.rows} == {"valid", "invalid", "missing"}


def test_a_district_workbook_in_a_job_inbox_is_named_for_what_it_is(
    cfg: JobConfig, catalogue: Catalogue, district: Path
) -> None:
    fill(cfg, ["00301-thanh-tri.xlsx"])
    shutil.copyfile(district, cfg.inbox / "tong-hop-quan.xlsx")
    result = run_job(cfg, catalogue, now=datetime(2025, 7, 1))
    book = next(f for f in result.validated if f.path.endswith("tong-hop-quan.xlsx"))
    assert [i.code for i in book.issues] == ["not-a-form"] and "tệp tổng hợp" in book.issues[0].text_vi
    assert [r.path for r in result.unattributed] == ["tong-hop-quan.xlsx"]


def test_a_folder_lists_the_workbooks_pathlib_would_find(tmp_path: Path) -> None:
    """The one-listing-per-folder walk finds exactly what `rglob` plus a stat per file found: files, links to
    files, broken links, FIFOs and links to folders named like a workbook; never a folder, a lock file or a
    hidden file; nothing under a linked folder."""
    root = tmp_path / "inbox"
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden-dir").mkdir()
    (root / "dir.xlsx").mkdir()  # a folder named like a workbook: not listed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "far.xlsx").write_bytes(b"x")
    for rel in ["x.xlsx", "a/Y.XLSX", "a/b/z.ods", "a/b/w.xls", "a/m.xlsm", ".hidden-dir/h.xlsx", "a.b.xlsx"]:
        (root / rel).write_bytes(b"x")
    for rel in ["~$x.xlsx", ".~lock.x.xlsx#", ".x.xlsx", "notes.txt", "x.xlsx.bak", "a/b/noext"]:
        (root / rel).write_bytes(b"x")
    (root / "link.xlsx").symlink_to(root / "x.xlsx")
    (root / "broken.xlsx").symlink_to(tmp_path / "nowhere.xlsx")
    (root / "linked-dir.xlsx").symlink_to(elsewhere)  # listed (its reader says it is a folder), not followed
    (root / "linked-plain").symlink_to(elsewhere)  # not followed: far.xlsx is not in the inbox
    os.mkfifo(root / "a" / "pipe.xlsx")
    expected = sorted(
        f
        for f in root.rglob("*")
        if f.suffix.lower() in {".xlsx", ".xlsm", ".xls", ".ods"}
        and not f.name.startswith(("~$", ".~lock", "."))
        and (f.is_symlink() or not f.is_dir())
    )
    found = find_files([root])
    assert found == expected
    assert {p.name for p in found} == {
        "x.xlsx", "Y.XLSX", "z.ods", "w.xls", "m.xlsm", "h.xlsx", "a.b.xlsx", "link.xlsx", "broken.xlsx",
        "linked-dir.xlsx", "pipe.xlsx",
    }  # fmt: skip


def test_reading_pauses_the_collector_and_gives_it_back_as_it_was(catalogue: Catalogue) -> None:
    """No cyclic collection while a batch is read (everything read is kept, so each found nothing to free); two
    readings at once (the portal's threads) or one inside another leave it on only once the last ends, and off if
    it was off before."""
    import gc
    import threading

    from ctstat import pipeline

    seen: list[bool] = []

    def watch() -> None:
        seen.append(gc.isenabled())

    was = gc.isenabled()
    try:
        gc.enable()
        outer, inner_in, inner_out = threading.Event(), threading.Event(), threading.Event()

        def other() -> None:
            with pipeline._no_collections():
                inner_in.set()
                outer.wait(10)
            inner_out.set()

        with pipeline._no_collections():
            watch()  # off while reading
            t = threading.Thread(target=other)
            t.start()
            assert inner_in.wait(10)
        watch()  # the other thread still reads: still off
        outer.set()
        assert inner_out.wait(10)
        t.join()
        watch()  # the last reading ended: on again
        gc.disable()
        with pipeline._no_collections():
            pass
        watch()  # off before, off after
        gc.enable()
        files = sorted((SAMPLES / "wards" / "2025-H1-hoang-mai").glob("*.xlsx"))[:2]
        subs = pipeline.read_checked(files, catalogue, None, None, jobs=1, progress=watch)
        watch()
    finally:
        (gc.enable if was else gc.disable)()
    assert len(subs) == 2 and all(s.readable for s in subs)
    assert seen == [False, False, True, False, False, False, True]
