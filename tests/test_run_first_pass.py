"""What a first pass over a large inbox relies on to stay close to `validate`: marked-up copies written while the
inbox is still read (the same copies, the same ledger), recording committed only once they are all written, and
the completeness counted from the job's own wards."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import ctstat.job.run as job_run
import ctstat.pipeline
from ctstat.check.validate import in_order, validate_batch
from ctstat.job.config import JobConfig
from ctstat.job.copies import EarlyCopies
from ctstat.job.ledger import Ledger
from ctstat.job.run import run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import cell_key
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.read.workbook import Submission

from .conftest import SAMPLES, MakeForm

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
FAULTY = SAMPLES / "faulty"


def _inbox(inbox: Path) -> None:
    """Hoàng Mai's wards and the faulty samples (most get a marked-up copy)."""
    for p in sorted(HM.glob("*.xlsx")):
        shutil.copyfile(p, inbox / p.name)
    (inbox / "loi").mkdir()
    for p in sorted(FAULTY.glob("*.xlsx")):
        shutil.copyfile(p, inbox / "loi" / p.name)


@pytest.fixture
def ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Parts of four files judged ahead of the end of reading (a national inbox's parts hold 2048)."""
    monkeypatch.setattr(ctstat.pipeline, "JUDGED_AHEAD", 4)
    monkeypatch.setattr(job_run, "JUDGED_AHEAD", 4)
    yield


def _ledger_rows(cfg: JobConfig) -> list[tuple[Any, ...]]:
    """The submissions recorded, but when they were received and the folder their copy is in."""
    db = sqlite3.connect(cfg.ledger_path)
    rows = db.execute("SELECT * FROM submissions ORDER BY id").fetchall()
    names = [d[0] for d in db.execute("SELECT * FROM submissions").description]
    db.close()
    at, copy = names.index("received_at"), names.index("annotated")
    return [tuple(Path(v).name if n == copy and v else v for n, v in enumerate(r) if n != at) for r in rows]


def _copies(cfg: JobConfig) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((cfg.out / "kiem-tra").glob("*.xlsx"))}


def test_copies_are_sent_while_the_inbox_is_read_and_are_the_same(
    cfg: JobConfig, catalogue: Catalogue, ahead: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inbox(cfg.inbox)
    reading = threading.Event()
    early: list[tuple[str, bool]] = []  # (file, whether the reading was still going on) of each copy sent early
    read_checked, judged = job_run.read_checked, EarlyCopies.judged

    def reads(*args: Any, **kwargs: Any) -> list[Submission]:
        reading.set()
        try:
            return read_checked(*args, **kwargs)
        finally:
            reading.clear()

    def sends(self: EarlyCopies, chunk: list[Submission]) -> None:
        before = set(self.planned)
        judged(self, chunk)
        early.extend((path, reading.is_set()) for path in set(self.planned) - before)

    monkeypatch.setattr(job_run, "read_checked", reads)
    monkeypatch.setattr(EarlyCopies, "judged", sends)
    now = datetime(2025, 7, 5, 22, 0)
    r1 = run_job(cfg, catalogue, now=now)
    assert early and all(during for _, during in early), early  # sent by the judging thread, before the end
    copies = _copies(cfg)
    assert len(copies) > len(early) >= 4  # and others after the last part was judged
    _recorded_as_documented(cfg, copies)

    # the same inbox with nothing judged ahead (every copy written after the reading, as before): the same
    monkeypatch.setattr(ctstat.pipeline, "JUDGED_AHEAD", 10**9)
    monkeypatch.setattr(job_run, "JUDGED_AHEAD", 10**9)
    late = replace(cfg, out=cfg.out.parent / "late", log=cfg.out.parent / "late.log")
    early.clear()
    r2 = run_job(late, catalogue, now=now)
    assert early == []
    assert _copies(late) == copies  # byte for byte: cells, comments, formats, the list of issues
    assert _ledger_rows(late) == _ledger_rows(cfg)
    assert [f.to_dict() for f in r2.validated] == [f.to_dict() for f in r1.validated]
    # one log line per file recorded, as the run's events say
    assert cfg.log is not None and late.log is not None
    lines = [json.loads(line) for line in cfg.log.read_text(encoding="utf-8").splitlines()]
    logged = [e for e in lines if e["event"] == "file-validated"]
    assert len(logged) == len(r1.validated) == len(list(cfg.inbox.rglob("*.xlsx")))
    assert logged == [e for e in r1.events if e["event"] == "file-validated"]
    scrub = {"ts", "annotated"}
    other = [json.loads(line) for line in late.log.read_text(encoding="utf-8").splitlines()]
    assert [{k: v for k, v in e.items() if k not in scrub} for e in other if e["event"] == "file-validated"] == [
        {k: v for k, v in e.items() if k not in scrub} for e in logged
    ]


def _recorded_as_documented(cfg: JobConfig, copies: dict[str, bytes]) -> None:
    """Two runs that agree could agree on wrong rows: each file is recorded with the issues faults.json documents
    (the job keeps two files of a ward as a resubmission, not duplicates), the wards valid with none, and a
    marked-up copy is made of each file with an issue, none of the others."""
    faults = json.loads((FAULTY / "faults.json").read_text(encoding="utf-8"))
    expected = {f"loi/{f['file']}": [tuple(e) for e in f["expected"] if e[0] != "duplicate-unit"] for f in faults} | {
        p.name: [] for p in HM.glob("*.xlsx")
    }
    with Ledger(cfg.ledger_path) as ledger:
        rows = ledger.rows()
    assert sorted(r.path for r in rows) == sorted(expected)
    for r in rows:
        assert [(i.code, i.sheet, i.cell) for i in r.issues] == expected[r.path], r.path
        assert r.valid is all(i.severity.value == "warning" for i in r.issues), r.path
        assert (r.unit is not None) is (r.path not in ("loi/05-sai-ma-don-vi.xlsx", "loi/09-tep-hong.xlsx",
                                                       "loi/12-co-mat-khau.xlsx")), r.path  # fmt: skip
    marked = {r.path.replace("/", "__") + ".kiem-tra.xlsx" for r in rows if r.issues}
    assert set(copies) == marked


def test_a_report_judged_ahead_is_put_in_its_final_order(
    catalogue: Catalogue, ahead: None, make_form: MakeForm
) -> None:
    """`in_order` of a report as the judging thread hands it over is the report the batch ends with (the batch
    checks add their issues after the per-file checks': text on the last sheet, a negative count on the first)."""
    layout = form_layout(catalogue)
    last = layout.sheets[-1].name
    late = next(k for k in layout.keys if layout.positions[k][0] == last and k not in layout.formulas)
    mixed = [
        make_form(unit=u, changes={cell_key("TE01", "0-2", "sex:nam"): -3, late: "mười"}, name=f"{u}.xlsx")
        for u in ("00301", "00304", "00307")
    ]
    files = sorted(HM.glob("*.xlsx")) + sorted(FAULTY.glob("*.xlsx")) + mixed
    seen: dict[str, list[Any]] = {}
    unsorted = 0

    def judged(chunk: list[Submission]) -> None:
        nonlocal unsorted
        for sub in chunk:
            if sub.judged and sub.checked is not None:
                rep = sub.checked[0]
                seen[sub.path] = in_order(rep, catalogue).issues
                unsorted += seen[sub.path] != rep.issues

    period = Period.parse("2025-H1")
    subs = ctstat.pipeline.read_checked(files, catalogue, period, "2025-06-30", 2, judged=judged)
    report, _ = validate_batch(subs, catalogue, period, "2025-06-30", check_duplicates=False)
    assert len(seen) >= 16 and unsorted  # judged ahead, some of them with issues not yet in order
    final = {rep.path: rep.issues for rep in report.files}
    assert all(final[path] == issues for path, issues in seen.items())


def test_a_copy_that_cannot_be_written_records_nothing(cfg: JobConfig, catalogue: Catalogue, ahead: None) -> None:
    """The run records while the last copies are written, and commits only once they all are: a copy that
    cannot be written (here: the copies' folder is a file) leaves the ledger as it was, and the next run does
    it all."""
    _inbox(cfg.inbox)
    cfg.out.mkdir(parents=True)
    (cfg.out / "kiem-tra").write_text("not a folder")
    with pytest.raises(OSError):
        run_job(cfg, catalogue, now=datetime(2025, 7, 5))
    with Ledger(cfg.ledger_path) as ledger:
        assert ledger.rows() == []
    (cfg.out / "kiem-tra").unlink()
    r = run_job(cfg, catalogue, now=datetime(2025, 7, 6))
    assert len(r.validated) == len(list(cfg.inbox.rglob("*.xlsx")))
    with Ledger(cfg.ledger_path) as ledger:
        assert set(_copies(cfg)) == {Path(row.annotated).name for row in ledger.rows() if row.annotated}


def test_a_ward_outside_the_job_still_says_what_its_removal_did(
    cfg: JobConfig, catalogue: Catalogue, make_form: MakeForm
) -> None:
    """The run counts the job's wards only (the others' rows are not even decoded), but a file removed from the
    inbox is still reported with what it did, whichever ward it is of."""
    first = make_form(unit="00001")  # Phường Phúc Xá, Quận Ba Đình: not in Quận Hoàng Mai (008)
    shutil.copyfile(first, cfg.inbox / "00001-a.xlsx")
    shutil.copyfile(HM / "00301-thanh-tri.xlsx", cfg.inbox / "00301-thanh-tri.xlsx")
    run_job(cfg, catalogue, now=datetime(2025, 7, 5))
    shutil.copyfile(first, cfg.inbox / "00001-b.xlsx")
    run_job(cfg, catalogue, now=datetime(2025, 7, 6))
    (cfg.inbox / "00001-b.xlsx").unlink()
    r = run_job(cfg, catalogue, now=datetime(2025, 7, 7))
    assert [(g.path, g.was_current, g.now_current, g.now_valid) for g in r.removed] == [
        ("00001-b.xlsx", True, "00001-a.xlsx", True)
    ]
    counts = r.to_dict()["completeness"]
    assert (counts["expected"], counts["received"], counts["valid"]) == (14, 1, 1)
    with Ledger(cfg.ledger_path) as ledger:
        assert set(ledger.claims("2025-H1")) == {"00001", "00301"}
        assert set(ledger.claims("2025-H1", {"00301", "00304"})) == {"00301"}


def test_cells_are_stored_as_json_writes_them() -> None:
    """`encode_cells` (all files at once, a count's text looked up) gives, byte for byte, what `json.dumps` of each
    file's cells gave: fractions, -0.0, NaN, infinities, huge numbers and the edges of the looked-up counts too."""
    import numpy as np

    from ctstat.job.ledger import encode_cells

    keys = ["TE01|0-2|sex:nam", 'a "quoted" % key', "Trẻ em|tổng", "k4", "k5", "k6"]
    odd = [0.0, -0.0, 0.1, 1.5e-7, 65535.0, 65536.0, -1.0, 1e16, 1e17, 5e-324, float("nan"), float("inf"), -np.inf]
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.choice(odd, size=(40, len(keys))), rng.integers(0, 70000, (40, len(keys)))])
    expected = [json.dumps(dict(zip(keys, row.tolist(), strict=True))) for row in values.astype(float)]
    assert encode_cells(keys, values) == expected
    assert encode_cells(keys, np.empty((0, len(keys)))) == []


def test_as_soon_as_a_part_is_judged_ahead_its_copies_are_sent(
    cfg: JobConfig, catalogue: Catalogue, ahead: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of exactly one part (here 4 files) is judged ahead too: its copies go to the writers then. Without
    writers (a smaller batch) nothing is sent from the judging thread: every copy is written once judged."""
    for p in sorted(FAULTY.glob("0[1-4]-*.xlsx")):
        shutil.copyfile(p, cfg.inbox / p.name)
    sent: list[int] = []
    judged = EarlyCopies.judged

    def sends(self: EarlyCopies, chunk: list[Submission]) -> None:
        before = len(self.planned)
        judged(self, chunk)
        sent.append(len(self.planned) - before)

    monkeypatch.setattr(EarlyCopies, "judged", sends)
    run_job(cfg, catalogue, now=datetime(2025, 7, 5))
    assert sent == [4] and len(_copies(cfg)) == 4

    files = [cfg.inbox / p.name for p in sorted(FAULTY.glob("0[1-4]-*.xlsx"))]
    subs = ctstat.pipeline.read_checked(files, catalogue, Period.parse("2025-H1"), "2025-06-30", 1)
    report, _ = validate_batch(subs, catalogue, Period.parse("2025-H1"), "2025-06-30", check_duplicates=False)
    out = cfg.out.parent / "without"
    with EarlyCopies(catalogue, None, 1, lambda sub: out / Path(sub.path).name, early=False) as copies:
        copies.judged(subs)  # as if judged ahead: no writer to send to
        assert copies.planned == {}
        copies.rest(report.files, subs)
        assert sorted(copies.wait()) == sorted(str(f) for f in files)
    assert len(list(out.glob("*.xlsx"))) == 4
