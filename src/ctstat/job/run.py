"""Scheduled batch jobs: one safe step over an inbox (`run`), the state of a period (`status`), tidy export."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctstat.job.config import ANNOTATED_DIR as ANNOTATED_DIR
from ctstat.job.config import HISTORY_MANIFEST, JobConfig, has_history, history_missing, job_file, rollup_files
from ctstat.job.config import ROLLUP_DIR as ROLLUP_DIR
from ctstat.job.copies import EarlyCopies
from ctstat.job.ledger import Judged, Ledger, Row, encode_cells, local_time
from ctstat.job.review import audit, chain_as_recorded, chain_head, corrected_claims, flag_locked, reviewed_claims
from ctstat.job.year_job import STALE_VI, claims_of, current_inputs, submission_dict, year_key
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.errors import UsageError
from ctstat.model.keys import TOTAL, split_column, split_key
from ctstat.model.layout import form_layout
from ctstat.model.period import Period
from ctstat.model.report import Claim, FileReport, Report
from ctstat.model.text import json_dumps
from ctstat.model.units import Hierarchy, Unit, load_units
from ctstat.model.vocab import rollup_note
from ctstat.pipeline import (
    JUDGED_AHEAD,
    RollupInputs,
    RollupOptions,
    RollupResult,
    read_checked,
    rollup_collected,
    workers,
)
from ctstat.plan.completeness import Completeness, UnitStatus, parent_statuses, unit_statuses
from ctstat.read.inputs import find_files
from ctstat.read.workbook import Submission
from ctstat.write.atomic import atomic_write

if TYPE_CHECKING:
    import pandas as pd

    from ctstat.read.contain import Pool
    from ctstat.write.annotate import Task

LOCK_NAME = ".ctstat-run.lock"
#: inside ROLLUP_DIR: where the last rollup goes once it no longer matches the current submissions, with a note
STALE_DIR = "khong-con-hien-hanh"
STALE_NOTE = "LY-DO-KHONG-CON-HIEN-HANH.txt"


class EventLog:
    """One JSON object per line, appended (and flushed) event by event; also kept for the caller."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: str, **fields: Any) -> None:
        ts = datetime.now().astimezone().isoformat(timespec="seconds")  # ISO 8601 with the UTC offset
        rec = {"ts": ts, "event": event, **fields}
        self.events.append(rec)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json_dumps(rec, str) + "\n")

    def many(self, event: str, records: Sequence[Mapping[str, Any]]) -> None:
        """`event` once per record, the log file opened once (ten thousand files recorded: one open, not ten
        thousand)."""
        ts = datetime.now().astimezone().isoformat(timespec="seconds")
        recs = [{"ts": ts, "event": event, **fields} for fields in records]
        self.events += recs
        if self.path is not None and recs:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write("".join(json_dumps(rec, str) + "\n" for rec in recs))


#: the job locks this process holds open; a forked child (a reading worker) closes its copies at once: a flock
#: belongs to the open file, which a child shares, so a worker that outlives the lock's holder (the portal keeps
#: its workers) would otherwise hold the lock for ever
_LOCK_FDS: set[int] = set()
#: held while a lock's descriptor is opened and registered, or unregistered and closed, and across every fork: a
#: thread forking a worker while another opens or releases a lock would otherwise give the child a descriptor it
#: does not know to close
_LOCK_FDS_GUARD = threading.Lock()


def _close_inherited_locks() -> None:
    global _LOCK_FDS_GUARD
    _LOCK_FDS_GUARD = threading.Lock()  # the parent's was held across the fork
    for fd in list(_LOCK_FDS):
        try:
            os.close(fd)  # the child's copy only: the parent's lock stands
        except OSError:
            pass
    _LOCK_FDS.clear()


def _before_fork() -> None:
    _LOCK_FDS_GUARD.acquire()


def _after_fork_in_parent() -> None:
    _LOCK_FDS_GUARD.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_close_inherited_locks)


@contextmanager
def job_lock(out: Path, wait: float = 0.0) -> Iterator[None]:
    """One writer at a time per output folder (a run, or the portal taking files in): a second one waits up to
    `wait` seconds, then stops with a clear message."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    with _LOCK_FDS_GUARD:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        _LOCK_FDS.add(fd)
    until = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < until:
                    time.sleep(0.05)
                    continue
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
                raise UsageError(
                    f"another ctstat run is working on {out} ({holder}); this run did nothing",
                    message_vi=f"một lần chạy ctstat khác đang làm việc trên {out} ({holder}); lần này không làm gì",
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {datetime.now():%Y-%m-%d %H:%M:%S}".encode(), 0)
        yield
    finally:
        with _LOCK_FDS_GUARD:
            _LOCK_FDS.discard(fd)
            os.close(fd)  # closing releases the lock


@dataclass
class Removed:
    """An inbox file gone since the last run, and what that did to its ward: the ward's current submission now
    (inbox path and validity), or none (the ward has no submission left)."""

    path: str  #: relative to the inbox
    unit: str | None
    unit_name: str | None
    period: str | None
    was_current: bool  #: it was its ward's current submission
    now_current: str | None = None
    now_valid: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "unit": self.unit,
            "unit_name": self.unit_name,
            "period": self.period,
            "was_current": self.was_current,
            "now_current": self.now_current,
            "now_valid": self.now_valid,
        }


@dataclass
class RunResult:
    config: JobConfig
    validated: list[FileReport] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)  #: inbox files gone since the last run
    completeness: Completeness = field(default_factory=Completeness)
    unattributed: list[Row] = field(default_factory=list)
    rollup: RollupResult | None = None
    rollup_state: str = ""  #: written | unchanged | waiting
    #: the last rollup when it no longer matches the current submissions (see `last_rollup`), else None
    stale_rollup: dict[str, Any] | None = None
    past_deadline: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    #: what the IT officer must know about the job itself: {"code", "message" (Vietnamese), "message_en"}
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No one must act: no invalid submission, no file naming no unit, no rollup missing past the deadline."""
        invalid = any(s.status in ("invalid", "duplicate") for s in self.completeness.rows)
        overdue = self.past_deadline and self.rollup_state == "waiting"
        return not (invalid or self.unattributed or overdue)

    def to_dict(self) -> dict[str, Any]:
        counts = Completeness.count(self.completeness.rows)
        return {
            "period": str(self.config.period),
            "unit": self.config.unit,
            "validated": [f.to_dict() for f in self.validated],
            "removed": [r.to_dict() for r in self.removed],
            "completeness": counts,
            "unattributed": [{"path": r.path, "problem": r.first_problem()} for r in self.unattributed],
            "warnings": self.warnings,
            "rollup": self.rollup_state,
            "outputs": self.rollup.manifest.get("outputs", []) if self.rollup else [],
            "stale_rollup": self.stale_rollup,
            "exit_code": int(not self.ok),  #: what `ctstat run` exits with (cli/entry.py: 0 ok, 1 not)
        }


def job_area(cfg: JobConfig, h: Hierarchy) -> Unit:
    return h.area(cfg.unit)


def run_job(cfg: JobConfig, catalogue: Catalogue | None = None, now: datetime | None = None) -> RunResult:
    """One step of the scheduled job: take in new and changed files, record them, mark up the faulty ones, and
    roll up when every expected commune has a valid submission (or at the deadline with allow_partial)."""
    catalogue = catalogue or load_catalogue()
    now = now or datetime.now()
    result = RunResult(cfg)
    with job_lock(cfg.out):
        with Ledger(cfg.ledger_path) as ledger:
            log = EventLog(cfg.log)
            run_id = ledger.start_run(now)
            log("run-start", period=str(cfg.period), unit=cfg.unit, inbox=str(cfg.inbox))
            result.warnings = deadline_warnings(cfg, ledger.first_run_at())
            for w in result.warnings:
                log(w["code"], deadline=str(cfg.deadline), message=w["message_en"])
            for w in history_missing(cfg):
                result.warnings.append(w)
                log(w["code"], history=str(cfg.history), message=w["message_en"])
            _take_in(cfg, catalogue, ledger, log, now, result)
            _maybe_rollup(cfg, catalogue, ledger, log, now, result)
            outcome = "ok" if result.ok else "problems"
            ledger.finish_run(run_id, datetime.now(), len(result.validated), outcome)
            log("run-end", exit_code=int(not result.ok), new_files=len(result.validated), rollup=result.rollup_state)
        result.events = log.events
    return result


def deadline_warnings(cfg: JobConfig, first_run: datetime | None) -> list[dict[str, str]]:
    """A deadline already past when the job started (its first run) makes every file late: most likely a typo (the
    year), so every run and status says so."""
    if cfg.deadline is None or first_run is None or cfg.deadline >= first_run.date():
        return []
    started, due, per = first_run.date().isoformat(), cfg.deadline.isoformat(), cfg.period
    vi = (
        f"Hạn nộp {due} đã qua trước lần chạy đầu tiên của công việc này ({started}): mọi tệp đều bị tính là nộp "
        f"muộn. Kiểm tra lại 'deadline' trong cấu hình (gõ nhầm năm?)"
    )
    en = (
        f"The deadline {due} had already passed at this job's first run ({started}): every file is marked late. "
        f"Check 'deadline' in the configuration (a mistyped year?)"
    )
    if cfg.deadline < per.start:
        vi += f"; hạn này còn trước cả ngày bắt đầu kỳ {per} ({per.start.isoformat()})"
        en += f"; it is even before the period {per} begins ({per.start.isoformat()})"
    return [{"code": "deadline-already-past", "message": vi + ".", "message_en": en + "."}]


def _take_in(
    cfg: JobConfig, catalogue: Catalogue, ledger: Ledger, log: EventLog, now: datetime, result: RunResult
) -> None:
    """Record what is new in the inbox: new paths, new content at a path, files gone; and re-judge what was
    judged under another catalogue (its receipt time kept)."""
    known = ledger.by_path()
    # never take in our own outputs (marked-up copies, workbooks) when the output folder sits inside the inbox
    where = (cfg.inbox, cfg.inbox.resolve(), cfg.out.resolve())
    files = [f for f in find_files([cfg.inbox]) if not _ours(f, *where)]
    seen: set[str] = set()
    changed: list[Arrival] = []
    for f in files:
        rel = f.relative_to(cfg.inbox).as_posix()
        seen.add(rel)
        try:
            st = f.stat()
        except OSError:  # a broken link: judged (and reported) by the reader's guard like any other file
            st = f.lstat()
        row = known.get(rel)
        if (
            row is not None
            and (row.size, row.mtime_ns) == (st.st_size, st.st_mtime_ns)
            and row.catalogue_digest == catalogue.digest
        ):
            continue  # unchanged, and judged under this catalogue: not even read
        changed.append(Arrival(f, rel, st, row))
    gone = [row for rel, row in known.items() if rel not in seen]
    latest: dict[tuple[str | None, str], Row] = {}  # each ward's current submission before this run
    for row in known.values():
        if row.unit is not None:
            mine = latest.get((row.period, row.unit))
            if mine is None or (row.received_at, row.id) > (mine.received_at, mine.id):
                latest[(row.period, row.unit)] = row
    changed.sort(key=lambda a: (a.st.st_mtime_ns, a.rel))  # within a run, the later file is the resubmission
    early = len(changed) >= JUDGED_AHEAD  # parts of the batch are judged before the last file is read
    with EarlyCopies(catalogue, cfg.period, workers(cfg.jobs), _copy_target(cfg, catalogue, changed), early) as copies:
        judged = judge_arrivals(cfg, catalogue, changed, judged=copies.judged)
        copies.rest(judged.report.files, judged.subs)
        planned = {i: str(copies.planned[sub.path]) for i, sub in enumerate(judged.subs) if sub.path in copies.planned}
        with ledger.transaction():  # recorded while the last copies are written; committed once they are
            _, events = _record_rows(ledger, now, catalogue, judged, planned)
            copies.wait()
            for row in gone:
                ledger.mark_removed(row.id, now)
                was_current = row.unit is not None and latest.get((row.period, row.unit)) is row
                log("file-removed", path=row.path, unit=row.unit, was_current=was_current)
                result.removed.append(Removed(row.path, row.unit, row.unit_name, row.period, was_current))
            log.many("file-validated", events)
    result.validated = flag_locked(ledger, cfg, judged.report.files)  # an approved ward's new file: refused


def _copy_target(
    cfg: JobConfig, catalogue: Catalogue, arrivals: Sequence[Arrival]
) -> Callable[[Submission], Path | None]:
    """Where the marked-up copy of a file read goes (`mark_up`'s place for it), None when its content was
    recorded before (touched only: `judge_arrivals` leaves it out)."""
    from ctstat.write.annotate import annotated_name

    by_path = {str(a.source): a for a in arrivals}

    def target(sub: Submission) -> Path | None:
        a = by_path[sub.path]
        if _same_content(a.row, sub.sha256 or _unread_sha(a.st), catalogue):
            return None
        return cfg.out / ANNOTATED_DIR / annotated_name(a.rel.replace("/", "__"))

    return target


def _unread_sha(st: os.stat_result) -> str:
    """What is recorded as the hash of a file refused before reading (a FIFO, a link)."""
    return f"unread:{st.st_size}:{st.st_mtime_ns}"


def _same_content(row: Row | None, sha: str, catalogue: Catalogue) -> bool:
    """Whether a file read holds the bytes recorded at its path, judged under this catalogue (touched only)."""
    return row is not None and row.sha256 == sha and row.catalogue_digest == catalogue.digest


def _ours(f: Path, inbox: Path, real_inbox: Path, out: Path) -> bool:
    """Whether a file found in the inbox is one of the job's outputs (`out`, resolved). The folders under the inbox
    are real ones (find_files follows no link to a folder), so only a link needs resolving: one path computation
    per file instead of a system call per folder of its path (a second for a national inbox)."""
    if f.is_symlink():
        return f.resolve().is_relative_to(out)
    return (real_inbox / f.relative_to(inbox)).is_relative_to(out)


@dataclass
class Arrival:
    """A file to take in: where its bytes are read from, its path in the inbox (the ledger's key), its stat, and
    the row recorded at that path now (if any)."""

    source: Path
    rel: str
    st: os.stat_result
    row: Row | None = None


@dataclass
class Judgement:
    """What the input stage and the batch checks said of some arrivals. `todo` holds the arrivals with new
    content (their reports in `report.files`, their cleaned values in `frame`, in the same order); `touched`
    the rows whose file was touched but whose bytes did not change."""

    todo: list[Arrival]
    subs: list[Submission]
    shas: list[str]  #: of the bytes validated ('unread:…' for a file refused before reading)
    report: Report
    frame: pd.DataFrame | None  #: None when nothing was judged
    touched: list[tuple[Row, os.stat_result]] = field(default_factory=list)


def judge_arrivals(
    cfg: JobConfig,
    catalogue: Catalogue,
    arrivals: list[Arrival],
    pool: Pool[str] | None = None,
    judged: Callable[[list[Submission]], object] | None = None,
) -> Judgement:
    """Read `arrivals` once each in the guarded workers (the hash kept is that of the bytes validated) and judge
    the new content as one batch. The one path from a file to a judgement, for `run` and for uploads alike (the
    portal keeps its reading workers between batches: `pool`). `judged`: see `pipeline.read_checked`."""
    todo: list[Arrival] = []
    subs: list[Submission] = []
    shas: list[str] = []
    touched: list[tuple[Row, os.stat_result]] = []
    period, units = judged_as(cfg)
    sources = [a.source for a in arrivals]
    read = read_checked(sources, catalogue, period, units, workers(cfg.jobs), pool=pool, judged=judged)
    for a, sub in zip(arrivals, read, strict=True):
        sha = sub.sha256 or _unread_sha(a.st)  # refused before reading (a FIFO, a link)
        if a.row is not None and _same_content(a.row, sha, catalogue):
            touched.append((a.row, a.st))  # touched, same content
            continue
        todo.append(a)
        subs.append(sub)
        shas.append(sha)
    if not subs:  # nothing new: the checks (pandas, pandera) are not even loaded
        empty = Report(files=[], catalogue_version=catalogue.version, template_version=catalogue.template_version)
        return Judgement(todo, subs, shas, empty, None, touched)
    from ctstat.check.validate import validate_batch

    report, frame = validate_batch(subs, catalogue, period, units, check_duplicates=False)
    return Judgement(todo, subs, shas, report, frame, touched)


def judged_as(cfg: JobConfig) -> tuple[Period | None, str | None]:
    """The period and unit list a job's files are judged under: the job's; for the year 2025 by the new communes,
    each file's own (old communes' 2025-H1, new communes' 2025-H2, forms of the whole year: `plan.reform_year`)."""
    return (None, None) if cfg.reform_year else (cfg.period, cfg.units)


def mark_up(
    cfg: JobConfig,
    catalogue: Catalogue,
    judged: Judgement,
    targets: Mapping[int, Path] | None = None,
    only: Iterable[int] | None = None,
    pool: Pool[Task] | None = None,
) -> dict[int, str]:
    """Marked-up copies of the judged files (all, or the indices in `only`) that have issues: at `targets[i]`
    when given, else in out/kiem-tra under a name made from the inbox path, written by `pool`'s workers when
    given (`annotate.marking_pool`). Returns where each went, by index into `judged.todo`."""
    from ctstat.write.annotate import annotate_all, annotated_name, marks_up

    reports = judged.report.files
    which = range(len(reports)) if only is None else only
    faulty = [i for i in which if marks_up(reports[i], judged.subs[i])]
    if not faulty:
        return {}
    where = targets or {}
    tasks = [
        (
            reports[i],
            judged.subs[i],
            where.get(i) or cfg.out / ANNOTATED_DIR / annotated_name(judged.todo[i].rel.replace("/", "__")),
        )
        for i in faulty
    ]
    copies = annotate_all(tasks, catalogue, period=cfg.period, jobs=workers(cfg.jobs), pool=pool)
    return {i: str(path) for i, path in zip(faulty, copies, strict=True)}


def _stored_cells(judged: Judgement, which: Iterable[int]) -> dict[int, str]:
    """The cells each valid file among `which` is recorded with, by index, encoded as the ledger stores them
    (`encode_cells`: one array taken out of the frame and written at once, not a pandas lookup and a JSON
    encoding per file, a second each for a national inbox)."""
    frame = judged.frame
    if frame is None:
        return {}
    at = {int(i): n for n, i in enumerate(frame.index)}
    valid = [i for i in which if judged.report.files[i].valid and i in at]
    rows = frame.to_numpy(dtype=float)[[at[i] for i in valid]]
    return dict(zip(valid, encode_cells(list(frame.columns), rows), strict=True))


def record(
    ledger: Ledger,
    log: EventLog,
    now: datetime,
    catalogue: Catalogue,
    judged: Judgement,
    annotated: Mapping[int, str],
    only: Iterable[int] | None = None,
) -> dict[int, int]:
    """Record a judgement in the ledger (inside the caller's transaction): touched rows, and each new content
    (all of `judged.todo`, or the indices in `only`) as a new row, or as a re-judged one when the same bytes were
    judged under another catalogue; each logged. Returns the ledger row id of each index recorded."""
    ids, events = _record_rows(ledger, now, catalogue, judged, annotated, only)
    log.many("file-validated", events)
    return ids


def _record_rows(
    ledger: Ledger,
    now: datetime,
    catalogue: Catalogue,
    judged: Judgement,
    annotated: Mapping[int, str],
    only: Iterable[int] | None = None,
) -> tuple[dict[int, int], list[dict[str, Any]]]:
    """`record` but the logging: the row ids, and the "file-validated" event of each index recorded."""
    events: list[dict[str, Any]] = []
    for row, st in judged.touched:
        ledger.touch(row.id, st.st_size, st.st_mtime_ns)
    which = list(range(len(judged.todo)) if only is None else only)
    cells = _stored_cells(judged, which)
    ids: dict[int, int] = {}
    for i in which:
        a, rep = judged.todo[i], judged.report.files[i]
        sha, old = judged.shas[i], a.row
        entry = Judged(rep, None, annotated.get(i), catalogue.template_version, catalogue.digest, cells.get(i))
        if old is not None and old.sha256 == sha:  # the same bytes, judged under this catalogue now
            ledger.rejudge(old.id, a.st.st_size, a.st.st_mtime_ns, entry)
            ids[i] = old.id
        else:
            if old is not None:
                ledger.mark_removed(old.id, now)
            ids[i] = ledger.add(a.rel, sha, a.st.st_size, a.st.st_mtime_ns, now, entry)
        events.append(
            {
                "path": a.rel,
                "sha256": sha,
                "unit": rep.unit,
                "period": rep.period,
                "valid": rep.valid,
                "errors": rep.errors,
                "warnings": rep.warnings,
                "replaces": old.path if old and old.sha256 != sha else None,
                "rejudged": bool(old and old.sha256 == sha),
                "annotated": annotated.get(i),
            }
        )
    return ids, events


def job_claims(cfg: JobConfig, catalogue: Catalogue, rows: dict[str, list[Row]]) -> dict[str, list[Claim]]:
    """Each unit's submissions still in the inbox (`Ledger.claims`), oldest received first, as claims. A row
    judged under another catalogue (its file unreadable since) never counts as valid."""
    return claims_of(cfg.inbox, catalogue, rows)


def job_statuses(cfg: JobConfig, claims: dict[str, list[Claim]], h: Hierarchy) -> list[UnitStatus]:
    return unit_statuses(h, h.communes_under(job_area(cfg, h)), claims, cfg.deadline, latest_wins=True)


def _completeness(cfg: JobConfig, claims: dict[str, list[Claim]], h: Hierarchy) -> Completeness:
    """Each expected ward's status; above the district level, each district's too (the job takes in ward files
    only: a district is missing when none of its wards has sent anything)."""
    statuses = job_statuses(cfg, claims, h)
    return Completeness(statuses, parent_statuses(h, job_area(cfg, h), statuses, claims))


def _inputs_from_ledger(
    catalogue: Catalogue,
    ledger: Ledger,
    current: dict[str, Row],
    claims: dict[str, list[Claim]],
    fixed: Mapping[int, dict[str, float]] | None = None,
) -> RollupInputs:
    """The current claim of each unit, with the stored cells of the valid ones (decoded only here)."""
    keys = form_layout(catalogue).keys
    mine = {unit: claims[unit][-1] for unit in current}
    reports = [c.report for c in mine.values() if c.report is not None]
    got = RollupInputs(
        Report(files=reports, catalogue_version=catalogue.version, template_version=catalogue.template_version),
        latest_wins=True,
    )
    stored = ledger.cells([r.id for u, r in current.items() if mine[u].valid])
    stored.update(fixed or {})  # the corrected cells of a corrected submission (job/review.py)
    for unit, row in current.items():
        claim, cells = mine[unit], stored.get(row.id)
        if claim.valid and (cells is None or list(cells) != keys):  # not stored as this form's cells
            claim = replace(claim, valid=False, problem=STALE_VI)
        got.claims[unit] = [claim]
        if claim.valid and cells is not None:
            got.values_of[unit] = _series(list(cells.values()), keys)
    got.inputs = [(rep, "ward") for rep in reports]
    return got


def _series(values: list[float], keys: list[str]) -> pd.Series:
    import pandas as pd  # a run with nothing to roll up does without it

    return pd.Series(values, index=keys, dtype="float64")


def _maybe_rollup(
    cfg: JobConfig, catalogue: Catalogue, ledger: Ledger, log: EventLog, now: datetime, result: RunResult
) -> None:
    if cfg.reform_year:
        _reform_year(cfg, catalogue, ledger, log, now, result)
        return
    h = load_units(cfg.vintage)
    rows = ledger.claims(str(cfg.period), _counted(cfg, h, result.removed))  # read once
    rows, fixed = reviewed_claims(ledger, cfg, catalogue, rows)  # approved files pinned; corrected cells
    claims = corrected_claims(job_claims(cfg, catalogue, rows), rows, fixed)
    for gone in result.removed:  # what each removal did: the ward's current submission now, if any
        now_current = claims.get(gone.unit or "", [])[-1:] if gone.period == str(cfg.period) else []
        for c in now_current:
            gone.now_current, gone.now_valid = Path(c.path).relative_to(cfg.inbox).as_posix(), c.valid
    result.completeness = _completeness(cfg, claims, h)
    statuses = result.completeness.rows
    result.unattributed = ledger.unattributed()
    result.past_deadline = cfg.deadline is not None and now.date() >= cfg.deadline
    complete = result.completeness.complete
    current = _current(rows, statuses)
    key = _rollup_key(cfg, catalogue, current, complete, chain_head(ledger, cfg))
    if not complete and not (result.past_deadline and cfg.allow_partial):
        result.rollup_state = "waiting"
        result.stale_rollup = retire_stale_rollup(cfg, catalogue, ledger, log, rows, statuses)
        counts = Completeness.count(statuses)
        log(
            "rollup-waiting",
            valid=counts["valid"],
            expected=counts["expected"],
            missing=[s.code for s in statuses if s.status == "missing"],
            invalid=[s.code for s in statuses if s.status == "invalid"],
        )
        return
    out_dir = cfg.out / ROLLUP_DIR
    if _unchanged(cfg, ledger, key, log, result):
        return
    collected = _inputs_from_ledger(catalogue, ledger, current, claims, fixed)
    review = tuple(chain_as_recorded(ledger, cfg).records)  # carried in the unit's workbook
    opts = RollupOptions(
        cfg.unit,
        cfg.units,
        True,
        cfg.deadline,
        jobs=workers(cfg.jobs),
        review=review,
        history=_history_of(cfg, catalogue),
    )
    rollup = rollup_collected(collected, cfg.period, out_dir, catalogue, opts)
    inputs = {u: r.sha256 for u, r in sorted(current.items())}
    _written(ledger, log, (now, key), rollup, result, inputs)
    shutil.rmtree(out_dir / STALE_DIR, ignore_errors=True)  # a set retired earlier: this one replaces it


def _counted(cfg: JobConfig, h: Hierarchy, removed: Iterable[Removed]) -> set[str]:
    """The units whose submissions a run's completeness and rollup count: the communes of the job's area, and the
    units of files removed in this run (what the removal made current is reported)."""
    return {u.code for u in h.communes_under(job_area(cfg, h))} | {r.unit for r in removed if r.unit is not None}


def _unchanged(cfg: JobConfig, ledger: Ledger, key: str, log: EventLog, result: RunResult) -> bool:
    """Whether the rollup last written is made of what `key` says and its files are all there, in this job's folder
    (then said so)."""
    outputs = rollup_files(cfg, ledger.get_meta("rollup_outputs"))
    if ledger.get_meta("rollup_key") == key and outputs and all(p.exists() for p in outputs):
        result.rollup_state = "unchanged"
        log("rollup-unchanged", outputs=[str(p) for p in outputs])
        return True
    return False


def _written(
    ledger: Ledger,
    log: EventLog,
    when: tuple[datetime, str],
    rollup: RollupResult,
    result: RunResult,
    inputs: Mapping[str, str] | None = None,
) -> None:
    """A rollup just written, recorded in the ledger (its key, files, `inputs` used when given, time, manifest)."""
    now, key = when
    result.rollup, result.rollup_state = rollup, "written"
    paths = [str(p) for p in rollup.outputs]
    with ledger.transaction():
        ledger.set_meta("rollup_key", key)
        ledger.set_meta("rollup_outputs", json.dumps(paths))
        if inputs is not None:
            ledger.set_meta("rollup_inputs", json.dumps(dict(inputs)))
        ledger.set_meta("rollup_written_at", now.isoformat(timespec="seconds"))
        ledger.set_meta("rollup_manifest", str(rollup.manifest_path or ""))
    log("rollup-written", outputs=paths, partial=rollup.partial)


def _reform_year(
    cfg: JobConfig, catalogue: Catalogue, ledger: Ledger, log: EventLog, now: datetime, result: RunResult
) -> None:
    """The year 2025 by the new communes, from the current submissions the ledger holds of its three inputs (old
    communes' 2025-H1, new communes' 2025-H2, forms of the whole year), put together as `rollup --period 2025
    --units 2025-07-01` does (`pipeline.collect_reform_year`). Written once every new commune of the job's area
    has its year (or at the deadline with allow_partial); a new commune that cannot have one (a split old commune,
    a missing H1 report) keeps it waiting, named in the rollup's completeness, and a year written before from
    other inputs is retired (`retire_stale_rollup`): never left in place as if current."""
    from ctstat.pipeline import collect_reform_year

    current = current_inputs(ledger)
    result.unattributed = ledger.unattributed()
    result.past_deadline = cfg.deadline is not None and now.date() >= cfg.deadline
    partial = result.past_deadline and cfg.allow_partial
    key = _year_key(cfg, catalogue, ledger, now)
    if _unchanged(cfg, ledger, key, log, result):
        return
    if not current:
        result.rollup_state = "waiting"
        result.stale_rollup = retire_stale_rollup(cfg, catalogue, ledger, log, now=now)
        log("rollup-waiting", valid=0, expected=None, missing=[], invalid=[])
        return
    collected = collect_reform_year([cfg.inbox / r.path for r in current], catalogue, workers(cfg.jobs))
    opts = RollupOptions(cfg.unit, cfg.units, partial, cfg.deadline, jobs=workers(cfg.jobs))
    rollup = rollup_collected(collected, cfg.period, cfg.out / ROLLUP_DIR, catalogue, opts)
    result.completeness = rollup.completeness
    if rollup.refused:
        result.rollup_state = "waiting"
        result.stale_rollup = retire_stale_rollup(cfg, catalogue, ledger, log, now=now)
        missing = [s.code for s in rollup.completeness.rows if s.status != "valid"]
        log("rollup-waiting", valid=len(rollup.completeness.rows) - len(missing), missing=missing)
        return
    _written(ledger, log, (now, key), rollup, result)
    shutil.rmtree(cfg.out / ROLLUP_DIR / STALE_DIR, ignore_errors=True)  # a year retired earlier: replaced


def _year_key(cfg: JobConfig, catalogue: Catalogue, ledger: Ledger, now: datetime) -> str:
    """The key a written year 2025 is current for (`year_job.year_key`), as of `now`."""
    partial = cfg.allow_partial and cfg.deadline is not None and now.date() >= cfg.deadline
    return year_key(catalogue, ledger, cfg.deadline, partial, history_state(cfg.history) if cfg.history else None)


def _current(rows: dict[str, list[Row]], statuses: list[UnitStatus]) -> dict[str, Row]:
    """Each expected unit's current submission (the latest received still in the inbox)."""
    expected = {s.code for s in statuses}
    return {u: mine[-1] for u, mine in rows.items() if u in expected}


def _rollup_key(cfg: JobConfig, catalogue: Catalogue, current: dict[str, Row], complete: bool, chain: str) -> str:
    """What a rollup is made of: the current submissions, the catalogue, the deadline, whether it is complete, the
    review chain's head (an approval, a correction). A rollup is current while its key is the key of the ledger now."""
    return hashlib.sha256(
        json.dumps(
            [
                sorted((u, r.sha256, r.catalogue_digest) for u, r in current.items()),
                catalogue.digest,
                catalogue.template_version,
                str(cfg.deadline),
                complete,
                chain,
                *([history_state(cfg.history)] if cfg.history else []),
            ],
            sort_keys=True,
        ).encode()
    ).hexdigest()


def _history_of(cfg: JobConfig, catalogue: Catalogue) -> Any:
    """The job's history for the rollup's comparison sheet (None without one: no sheet, not one of "0 checked")."""
    if cfg.history is None or not has_history(cfg.history):
        return None
    from ctstat.job.compare import history_lookup
    from ctstat.job.history import History

    return history_lookup(History(cfg.history), catalogue)


def history_state(folder: Path) -> str:
    """What the comparison sheet depends on in a history folder: its manifest (the files in force) and the notes
    confirming flags. A load or a confirmation makes the job's rollup not current, so the next run rewrites it."""
    digest = hashlib.sha256()
    for name in (HISTORY_MANIFEST, "confirmed.csv"):
        try:
            digest.update((folder / name).read_bytes())
        except OSError:
            digest.update(b"-")
    return digest.hexdigest()


def last_rollup(
    cfg: JobConfig,
    catalogue: Catalogue,
    ledger: Ledger,
    rows: dict[str, list[Row]],
    statuses: list[UnitStatus],
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The last rollup of the job and whether it still matches the current submissions: its files (where they are
    now), when it was written, and, when not current, each ward whose current submission differs from the one it
    used (`changes`; empty when only the catalogue or the deadline changed, for a rollup of an earlier ctstat, or
    for the year 2025, whose key is its inputs': `_year_key` as of `now`). None when nothing was rolled up yet."""
    outputs = [str(p) for p in rollup_files(cfg, ledger.get_meta("rollup_outputs"))]
    if not outputs:
        return None
    if cfg.reform_year:
        is_current = ledger.get_meta("rollup_key") == _year_key(cfg, catalogue, ledger, now or datetime.now())
    else:
        complete = Completeness(statuses).complete
        key = _rollup_key(cfg, catalogue, _current(rows, statuses), complete, chain_head(ledger, cfg))
        is_current = ledger.get_meta("rollup_key") == key
    current = _current(rows, statuses)
    changes: list[dict[str, str]] = []
    used = json.loads(ledger.get_meta("rollup_inputs") or "null")
    if not is_current and used is not None:
        for s in statuses:
            row = current.get(s.code)
            if used.get(s.code) == (row.sha256 if row else None):
                continue
            if row is None:
                change = "removed"
            elif s.status != "valid":
                change = "invalid"
            else:
                change = "replaced" if s.code in used else "added"
            changes.append({"unit": s.code, "name": s.name, "change": change})
    aside = cfg.out / ROLLUP_DIR / STALE_DIR
    return {
        "current": is_current,
        "outputs": outputs,
        "written_at": ledger.get_meta("rollup_written_at"),
        "changes": changes,
        "moved_to": str(aside) if all(Path(p).parent == aside for p in outputs) else None,
    }


def _stale_note_text(cfg: JobConfig, rollup: dict[str, Any]) -> str:
    """The note left beside a retired rollup's files, Vietnamese then English (UTF-8 with a BOM: Notepad)."""
    names = ", ".join(Path(p).name for p in rollup["outputs"])
    vi = (
        f"BẢNG TỔNG HỢP KHÔNG CÒN HIỆN HÀNH - {cfg.unit} {cfg.period}\n\n{rollup_note(rollup, 'vi')}\n\n"
        f"Các tệp trong thư mục này ({names}) không còn khớp với báo cáo hiện hành của các xã, phường. ctstat lập "
        f"bảng tổng hợp mới trong thư mục {ROLLUP_DIR} khi mọi xã, phường có báo cáo hợp lệ (hoặc đến hạn, nếu "
        "cho phép tổng hợp khi chưa đủ), rồi xóa thư mục này. Xem 'ctstat status'.\n"
    )
    en = (
        f"ROLLUP NO LONGER CURRENT - {cfg.unit} {cfg.period}\n\n{rollup_note(rollup, 'en')}\n\n"
        f"The files in this folder ({names}) no longer match the wards' current reports. ctstat writes a new "
        f"rollup into {ROLLUP_DIR} when every ward has a valid report (or at the deadline, if partial rollups are "
        "allowed), then removes this folder. See 'ctstat status'.\n"
    )
    return f"{vi}\n{en}"


def retire_stale_rollup(
    cfg: JobConfig,
    catalogue: Catalogue,
    ledger: Ledger,
    log: EventLog,
    rows: dict[str, list[Row]] | None = None,
    statuses: list[UnitStatus] | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """When the last rollup no longer matches the current submissions, move its files out of the rollup folder
    into STALE_DIR beside a note saying why, so nobody signs or sends it for current; the ledger then names them
    there. Returns the rollup's state when it is not current (see `last_rollup`), else None."""
    if not ledger.get_meta("rollup_outputs"):
        return None
    if cfg.reform_year:
        rows, statuses = {}, []  # a year's key is its inputs' (`_year_key`), not the wards' of period 2025
    elif rows is None or statuses is None:
        rows = ledger.claims(str(cfg.period))
        statuses = job_statuses(cfg, job_claims(cfg, catalogue, rows), load_units(cfg.vintage))
    state = last_rollup(cfg, catalogue, ledger, rows, statuses, now)
    if state is None or state["current"]:
        return None
    aside = cfg.out / ROLLUP_DIR / STALE_DIR
    manifest = ledger.get_meta("rollup_manifest")
    olds = [*state["outputs"], str(job_file(cfg, manifest)) if manifest else ""]  # where they are in this folder
    moved = [str(aside / Path(p).name) for p in state["outputs"]]
    state = {**state, "outputs": moved, "moved_to": str(aside)}
    aside.mkdir(parents=True, exist_ok=True)
    with atomic_write(aside / STALE_NOTE) as tmp:
        Path(tmp).write_text(_stale_note_text(cfg, state), encoding="utf-8-sig")
    first = ledger.get_meta("rollup_key") != ""
    news = [*moved, str(aside / Path(olds[-1]).name) if olds[-1] else ""]
    for old, new in zip(olds, news, strict=True):
        if old and Path(old).exists() and old != new:
            os.replace(old, new)
    with ledger.transaction():
        ledger.set_meta("rollup_outputs", json.dumps(moved))
        ledger.set_meta("rollup_manifest", news[-1])
        ledger.set_meta("rollup_key", "")  # retired: written again (same inputs, same bytes) when due
    if first:
        log("rollup-retired", outputs=moved, changes=state["changes"])
    return state


# --- status ----------------------------------------------------------------------------------------------------


def _status_of(
    cfg: JobConfig, catalogue: Catalogue, ledger: Ledger
) -> tuple[Completeness, dict[str, list[Claim]], dict[str, list[Row]]]:
    """The job's completeness as the run counts it, each unit's claims and the period's rows. For the year 2025
    by the new communes, each new commune as its year stands (`year_job`: the old communes' H1 and its own H2, or
    a form of the year), not the rows of period "2025" alone."""
    h = load_units(cfg.vintage)
    if cfg.reform_year:
        from ctstat.job.year_job import year_completeness, year_inputs

        year = year_inputs(cfg.inbox, catalogue, ledger)
        return year_completeness(h, job_area(cfg, h), year, cfg.deadline), year.claims, {}
    rows_now, fixed = reviewed_claims(ledger, cfg, catalogue, ledger.claims(str(cfg.period)))
    claims = corrected_claims(job_claims(cfg, catalogue, rows_now), rows_now, fixed)  # as the run counts them
    return _completeness(cfg, claims, h), claims, rows_now


def ward_status(cfg: JobConfig, catalogue: Catalogue, ledger: Ledger, unit: str) -> UnitStatus:
    """One expected unit's status as the run counts it (the portal's ward page); for the year 2025 by the new
    communes, its year as it stands (`_status_of`)."""
    if cfg.reform_year:
        return next(s for s in _status_of(cfg, catalogue, ledger)[0].rows if s.code == unit)
    claims = job_claims(cfg, catalogue, ledger.claims(str(cfg.period)))
    return next(s for s in job_statuses(cfg, {unit: claims.get(unit, [])}, load_units(cfg.vintage)) if s.code == unit)


def _resubmissions(
    cfg: JobConfig,
    ledger: Ledger,
    statuses: Sequence[UnitStatus],
    claims: Mapping[str, list[Claim]],
    every: Mapping[str, list[Row]],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, str]]]:
    """Each expected unit that sent the period more than once, its files (the current one marked), by code; for
    the year 2025 by the new communes, every input's (`year_job.resubmissions`: by period, unit list and code,
    each with who it is of in both languages)."""
    if cfg.reform_year:
        from ctstat.job.year_job import resubmissions, resubmitted_unit

        found = resubmissions(ledger, {s.code for s in statuses})
        said = {key: resubmitted_unit(*key.split("|")) for key in found}
        return found, {key: {"label": str(s), "label_en": s.en} for key, s in said.items()}
    history: dict[str, list[dict[str, Any]]] = {}
    for s in statuses:
        rows = every.get(s.code, [])
        current = claims[s.code][-1].path if s.code in claims else None
        if len(rows) > 1:
            history[s.code] = [submission_dict(r, r.present and str(cfg.inbox / r.path) == current) for r in rows]
    return history, {}


def job_status(cfg: JobConfig, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Per parent unit: expected, received, valid, invalid, missing, late; the chase list; resubmissions.
    Reads the ledger only (also from a read-only folder)."""
    catalogue = catalogue or load_catalogue()
    with Ledger.open_existing(cfg) as ledger:
        comp, claims, rows_now = _status_of(cfg, catalogue, ledger)
        statuses = comp.rows
        every = ledger.history(str(cfg.period))  # one query, removed files included
        history, labels = _resubmissions(cfg, ledger, statuses, claims, every)
        return {
            "period": str(cfg.period),
            "units": cfg.vintage,
            "unit": cfg.unit,
            "deadline": cfg.deadline.isoformat() if cfg.deadline else None,
            "warnings": deadline_warnings(cfg, ledger.first_run_at()),
            "complete": comp.complete,
            "by_parent": {p: Completeness.count(rows) for p, rows in comp.by_parent().items()},
            "chase_parents": [p.to_dict() for p in comp.chase_parents()],
            "chase_list": [s.to_dict() for s in comp.chase_list()],
            "late": [s.code for s in statuses if s.late],
            "unattributed": [
                {"path": r.path, "received_at": r.received_at.isoformat(), "problem": r.first_problem()}
                for r in ledger.unattributed()
            ],
            "resubmissions": history,
            "resubmitted": labels,  # who each resubmission is of, as a person reads it (a year job's)
            "rollup_outputs": [str(p) for p in rollup_files(cfg, ledger.get_meta("rollup_outputs"))],
            "rollup": last_rollup(cfg, catalogue, ledger, rows_now, statuses),
            "last_runs": [
                {k: local_time(v).isoformat() if k.endswith("_at") and v else v for k, v in run.items()}
                for run in ledger.last_runs()
            ],
            "review": audit(ledger, cfg, every),  # per ward: submissions and review records in time order
        }


# --- export ----------------------------------------------------------------------------------------------------


#: the export's columns, in order
EXPORT_COLUMNS = [
    "period",
    "vintage",  #: the unit list the codes belong to (00301 is another ward before and after 1 July 2025)
    "unit_code",
    "unit_name",
    "district_code",
    "province_code",
    "element",
    "element_name",
    "row_dimension",
    "row_category",
    "column_dimension",
    "column_category",
    "value",
    "source_sha256",
]


def export_table(cfg: JobConfig, catalogue: Catalogue | None = None, all_periods: bool = False) -> pd.DataFrame:
    """The validated data as a tidy long table: one row per unit, cell and value, with the source file hash."""
    catalogue = catalogue or load_catalogue()
    with Ledger.open_existing(cfg) as ledger:
        periods = ledger.periods() if all_periods else [str(cfg.period)]
        rows, cells_of = ledger.current_valid(periods, catalogue.digest)
    keys = form_layout(catalogue).keys
    meta = _cell_meta(catalogue, keys)
    records = []
    for r in sorted(rows, key=lambda r: (r.period or "", r.unit or "")):
        h = load_units(r.vintage or cfg.vintage)
        unit = h.get(r.unit or "")
        chain = {a.level: a.code for a in h.ancestors(unit)} if unit else {}
        cells = cells_of.get(r.id, {})
        head = (
            r.period,
            r.vintage or cfg.vintage,
            r.unit,
            r.unit_name,
            chain.get("district", ""),
            chain.get("province", ""),
        )
        records += [(*head, *m, cells.get(key), r.sha256) for key, m in zip(keys, meta, strict=True)]
    import pandas as pd

    return pd.DataFrame(records, columns=EXPORT_COLUMNS)


def _cell_meta(catalogue: Catalogue, keys: Sequence[str]) -> list[tuple[str, str, str, str, str, str]]:
    """Per cell key: its element, the element's name, its row dimension and category, its column's."""
    meta = []
    for key in keys:
        el, row, col = split_key(key)
        element = catalogue.elements[el]
        col_dim, col_cat = split_column(col) if col != TOTAL else ("", "total")
        row_dim = element.rows.dimension.key if element.rows else ""
        meta.append((el, element.name_vi, row_dim, "total" if row == TOTAL else row, col_dim, col_cat))
    return meta


def _csv_ready(table: pd.DataFrame) -> pd.DataFrame:
    """Counts as integers (4785, not 4785.0) and no text field a spreadsheet would run as a formula."""
    from ctstat.write.inert import csv_field

    out = table.copy()
    for col in out.columns:
        series = out[col]
        if series.dtype.kind == "f":
            finite = series.dropna()
            if len(finite) and (finite == finite.round()).all() and finite.abs().max() < 2**53:
                out[col] = series.astype("Int64")
        elif series.dtype == object or str(series.dtype).startswith(("string", "str")):
            out[col] = series.map(csv_field)
    return out


def export_file(table: pd.DataFrame, out: Path) -> Path:
    from ctstat.write.atomic import atomic_write

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UsageError(
            f"export writes .csv or .parquet, not {out.name}",
            message_vi=f"export chỉ ghi tệp .csv hoặc .parquet, không ghi {out.name}",
        )
    with atomic_write(out) as tmp:
        if suffix == ".csv":
            _csv_ready(table).to_csv(tmp, index=False, encoding="utf-8-sig")  # the BOM: Excel reads it as UTF-8
        else:
            try:
                table.to_parquet(tmp, index=False)
            except ImportError:
                raise UsageError(
                    "writing Parquet needs pyarrow: pip install 'ctstat[parquet]'",
                    message_vi="ghi Parquet cần gói pyarrow: pip install 'ctstat[parquet]'",
                ) from None
    return out
