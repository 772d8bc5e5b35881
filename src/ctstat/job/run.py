"""Scheduled batch jobs: one safe step over an inbox (`run`), the state of a period (`status`), tidy export."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ctstat.check.validate import validate_batch
from ctstat.job.config import JobConfig
from ctstat.job.ledger import Judged, Ledger, Row
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.errors import UsageError
from ctstat.model.keys import split_key
from ctstat.model.layout import form_layout
from ctstat.model.report import FileReport, Report
from ctstat.model.units import Hierarchy, Unit, load_units
from ctstat.pipeline import RollupInputs, RollupOptions, RollupResult, _find_unit, read_checked, rollup_collected
from ctstat.plan.plan import Claim, unit_statuses
from ctstat.plan.sums import Completeness, UnitStatus
from ctstat.read.inputs import find_files
from ctstat.read.workbook import Submission

if TYPE_CHECKING:
    from ctstat.read.contain import Pool
    from ctstat.write.annotate import Task

LOCK_NAME = ".ctstat-run.lock"
ANNOTATED_DIR = "kiem-tra"
ROLLUP_DIR = "tong-hop"


class EventLog:
    """One JSON object per line, appended (and flushed) event by event; also kept for the caller."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: str, **fields: Any) -> None:
        rec = {"ts": datetime.now().isoformat(timespec="seconds"), "event": event, **fields}
        self.events.append(rec)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")


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
class RunResult:
    config: JobConfig
    validated: list[FileReport] = field(default_factory=list)
    completeness: Completeness = field(default_factory=Completeness)
    unattributed: list[Row] = field(default_factory=list)
    rollup: RollupResult | None = None
    rollup_state: str = ""  #: written | unchanged | waiting
    past_deadline: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when someone must act: an invalid submission, a file naming no unit, or no rollup past the deadline."""
        invalid = any(s.status in ("invalid", "duplicate") for s in self.completeness.rows)
        overdue = self.past_deadline and self.rollup_state == "waiting"
        return 1 if invalid or self.unattributed or overdue else 0

    def to_dict(self) -> dict[str, Any]:
        counts = Completeness.count(self.completeness.rows)
        return {
            "period": str(self.config.period),
            "unit": self.config.unit,
            "validated": [f.to_dict() for f in self.validated],
            "completeness": counts,
            "unattributed": [{"path": r.path, "problem": r.first_problem()} for r in self.unattributed],
            "rollup": self.rollup_state,
            "outputs": self.rollup.manifest.get("outputs", []) if self.rollup else [],
            "exit_code": self.exit_code,
        }


def _area(cfg: JobConfig, h: Hierarchy) -> Unit:
    area = _find_unit(h, cfg.unit)
    if area is None or area.level == "commune":
        raise UsageError(
            f"unit: {cfg.unit} is not a district or province in the unit list {h.vintage}",
            message_vi=f"unit: {cfg.unit} không phải là một huyện hay tỉnh trong danh mục đơn vị {h.vintage}",
        )
    return area


def run_job(cfg: JobConfig, catalogue: Catalogue | None = None, now: datetime | None = None) -> RunResult:
    """One step of the scheduled job: take in new and changed files, record them, mark up the faulty ones, and
    roll up when every expected commune has a valid submission (or at the deadline with allow_partial)."""
    catalogue = catalogue or load_catalogue()
    now = now or datetime.now()
    result = RunResult(cfg)
    with job_lock(cfg.out):
        ledger = Ledger(cfg.ledger_path)
        log = EventLog(cfg.log)
        try:
            run_id = ledger.start_run(now)
            log("run-start", period=str(cfg.period), unit=cfg.unit, inbox=str(cfg.inbox))
            _take_in(cfg, catalogue, ledger, log, now, result)
            _maybe_rollup(cfg, catalogue, ledger, log, now, result)
            outcome = {0: "ok", 1: "problems"}[result.exit_code]
            ledger.finish_run(run_id, datetime.now(), len(result.validated), outcome)
            log("run-end", exit_code=result.exit_code, new_files=len(result.validated), rollup=result.rollup_state)
        finally:
            ledger.close()
        result.events = log.events
    return result


def _take_in(
    cfg: JobConfig, catalogue: Catalogue, ledger: Ledger, log: EventLog, now: datetime, result: RunResult
) -> None:
    """Record what is new in the inbox: new paths, new content at a path, files gone; and re-judge what was
    judged under another catalogue (its receipt time kept)."""
    known = ledger.by_path()
    out = cfg.out.resolve()
    # never take in our own outputs (marked-up copies, workbooks) when the output folder sits inside the inbox
    files = [f for f in find_files([cfg.inbox]) if not f.resolve().is_relative_to(out)]
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
    changed.sort(key=lambda a: (a.st.st_mtime_ns, a.rel))  # within a run, the later file is the resubmission
    judged = judge_arrivals(cfg, catalogue, changed)
    annotated = mark_up(cfg, catalogue, judged)
    with ledger.transaction():
        for row in gone:
            ledger.mark_removed(row.id, now)
            log("file-removed", path=row.path, unit=row.unit)
        record(ledger, log, now, catalogue, judged, annotated)
    result.validated = judged.report.files


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
    frame: pd.DataFrame
    touched: list[tuple[Row, os.stat_result]] = field(default_factory=list)


def judge_arrivals(
    cfg: JobConfig, catalogue: Catalogue, arrivals: list[Arrival], pool: Pool[str] | None = None
) -> Judgement:
    """Read `arrivals` once each in the guarded workers (the hash kept is that of the bytes validated) and judge
    the new content as one batch. The one path from a file to a judgement, for `run` and for uploads alike (the
    portal keeps its reading workers between batches: `pool`)."""
    todo: list[Arrival] = []
    subs: list[Submission] = []
    shas: list[str] = []
    touched: list[tuple[Row, os.stat_result]] = []
    read = read_checked([a.source for a in arrivals], catalogue, cfg.period, cfg.units, cfg.jobs or 1, pool=pool)
    for a, sub in zip(arrivals, read, strict=True):
        sha = sub.sha256 or f"unread:{a.st.st_size}:{a.st.st_mtime_ns}"  # refused before reading (a FIFO, a link)
        row = a.row
        if row is not None and row.sha256 == sha and row.catalogue_digest == catalogue.digest:
            touched.append((row, a.st))  # touched, same content
            continue
        todo.append(a)
        subs.append(sub)
        shas.append(sha)
    report, frame = validate_batch(subs, catalogue, cfg.period, cfg.units, check_duplicates=False)
    return Judgement(todo, subs, shas, report, frame, touched)


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
    from ctstat.write.annotate import annotate_all, annotated_name

    reports = judged.report.files
    which = range(len(reports)) if only is None else only
    faulty = [i for i in which if reports[i].issues]
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
    copies = annotate_all(tasks, catalogue, period=cfg.period, jobs=cfg.jobs or 1, pool=pool)
    return {i: str(path) for i, path in zip(faulty, copies, strict=True)}


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
    judged under another catalogue. Returns the ledger row id of each index recorded."""
    for row, st in judged.touched:
        ledger.touch(row.id, st.st_size, st.st_mtime_ns)
    keys = list(judged.frame.columns)
    ids: dict[int, int] = {}
    for i in range(len(judged.todo)) if only is None else only:
        a, rep = judged.todo[i], judged.report.files[i]
        sha, old = judged.shas[i], a.row
        cells = None
        if rep.valid and i in judged.frame.index:
            cells = dict(zip(keys, (float(v) for v in judged.frame.loc[i].to_numpy(dtype=float)), strict=True))
        entry = Judged(rep, cells, annotated.get(i), catalogue.template_version, catalogue.digest)
        if old is not None and old.sha256 == sha:  # the same bytes, judged under this catalogue now
            ledger.rejudge(old.id, a.st.st_size, a.st.st_mtime_ns, entry)
            ids[i] = old.id
        else:
            if old is not None:
                ledger.mark_removed(old.id, now)
            ids[i] = ledger.add(a.rel, sha, a.st.st_size, a.st.st_mtime_ns, now, entry)
        log(
            "file-validated",
            path=a.rel,
            sha256=sha,
            unit=rep.unit,
            period=rep.period,
            valid=rep.valid,
            errors=rep.errors,
            warnings=rep.warnings,
            replaces=old.path if old and old.sha256 != sha else None,
            rejudged=bool(old and old.sha256 == sha),
            annotated=annotated.get(i),
        )
    return ids


def _claims(cfg: JobConfig, catalogue: Catalogue, rows: dict[str, list[Row]]) -> dict[str, list[Claim]]:
    """Each unit's submissions still in the inbox (`Ledger.claims`), oldest received first, as claims. A row
    judged under another catalogue (its file unreadable since) never counts as valid."""
    out: dict[str, list[Claim]] = {}
    for unit, mine in rows.items():
        out[unit] = []
        for r in mine:
            rep = r.report(cfg.inbox)
            if r.catalogue_digest != catalogue.digest:
                out[unit].append(Claim(unit, rep.path, False, STALE_VI, r.received_at, rep))
            else:
                out[unit].append(Claim.of(rep, r.received_at))
    return out


STALE_VI = "Tệp được kiểm tra theo danh mục chỉ tiêu khác; cần kiểm tra lại (chạy lại ctstat run)"


def _statuses(cfg: JobConfig, claims: dict[str, list[Claim]], h: Hierarchy) -> list[UnitStatus]:
    return unit_statuses(h, h.communes_under(_area(cfg, h)), claims, cfg.deadline, latest_wins=True)


def _inputs_from_ledger(
    catalogue: Catalogue, ledger: Ledger, current: dict[str, Row], claims: dict[str, list[Claim]]
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
    for unit, row in current.items():
        claim, cells = mine[unit], stored.get(row.id)
        if claim.valid and (cells is None or list(cells) != keys):  # not stored as this form's cells
            claim = replace(claim, valid=False, problem=STALE_VI)
        got.claims[unit] = [claim]
        if claim.valid and cells is not None:
            got.values_of[unit] = pd.Series(list(cells.values()), index=keys, dtype="float64")
    got.inputs = [(rep, "ward") for rep in reports]
    return got


def _maybe_rollup(
    cfg: JobConfig, catalogue: Catalogue, ledger: Ledger, log: EventLog, now: datetime, result: RunResult
) -> None:
    h = load_units(cfg.vintage)
    rows = ledger.claims(str(cfg.period))  # read once: every submission of the period still in the inbox
    claims = _claims(cfg, catalogue, rows)
    statuses = _statuses(cfg, claims, h)
    result.completeness = Completeness(statuses)
    result.unattributed = ledger.unattributed()
    result.past_deadline = cfg.deadline is not None and now.date() >= cfg.deadline
    complete = result.completeness.complete
    if not complete and not (result.past_deadline and cfg.allow_partial):
        result.rollup_state = "waiting"
        counts = Completeness.count(statuses)
        log(
            "rollup-waiting",
            valid=counts["valid"],
            expected=counts["expected"],
            missing=[s.code for s in statuses if s.status == "missing"],
            invalid=[s.code for s in statuses if s.status == "invalid"],
        )
        return
    expected = {s.code for s in statuses}
    current = {u: mine[-1] for u, mine in rows.items() if u in expected}
    key = hashlib.sha256(
        json.dumps(
            [
                sorted((u, r.sha256, r.catalogue_digest) for u, r in current.items()),
                catalogue.digest,
                catalogue.template_version,
                str(cfg.deadline),
                complete,
            ],
            sort_keys=True,
        ).encode()
    ).hexdigest()
    out_dir = cfg.out / ROLLUP_DIR
    previous = ledger.get_meta("rollup_key")
    outputs = json.loads(ledger.get_meta("rollup_outputs") or "[]")
    if previous == key and outputs and all(Path(p).exists() for p in outputs):
        result.rollup_state = "unchanged"
        log("rollup-unchanged", outputs=outputs)
        return
    collected = _inputs_from_ledger(catalogue, ledger, current, claims)
    opts = RollupOptions(cfg.unit, cfg.units, allow_partial=True, deadline=cfg.deadline, jobs=cfg.jobs or 1)
    rollup = rollup_collected(collected, cfg.period, out_dir, catalogue, opts)
    result.rollup = rollup
    result.rollup_state = "written"
    paths = [str(p) for p in rollup.outputs]
    with ledger.transaction():
        ledger.set_meta("rollup_key", key)
        ledger.set_meta("rollup_outputs", json.dumps(paths))
    log("rollup-written", outputs=paths, partial=rollup.partial)


# --- status ----------------------------------------------------------------------------------------------------


def job_status(cfg: JobConfig, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Per parent unit: expected, received, valid, invalid, missing, late; the chase list; resubmissions.
    Reads the ledger only (also from a read-only folder)."""
    catalogue = catalogue or load_catalogue()
    if not cfg.ledger_path.exists():
        raise UsageError(
            f"no ledger in {cfg.out} yet: run 'ctstat run' first",
            message_vi=f"chưa có sổ theo dõi trong {cfg.out}: chạy 'ctstat run' trước",
        )
    ledger = Ledger(cfg.ledger_path, readonly=True)
    try:
        h = load_units(cfg.vintage)
        claims = _claims(cfg, catalogue, ledger.claims(str(cfg.period)))
        statuses = _statuses(cfg, claims, h)
        comp = Completeness(statuses)
        every = ledger.history(str(cfg.period))  # one query, removed files included
        history: dict[str, list[dict[str, Any]]] = {}
        for s in statuses:
            rows = every.get(s.code, [])
            current = claims[s.code][-1].path if s.code in claims else None
            if len(rows) > 1:
                history[s.code] = [
                    {
                        "path": r.path,
                        "sha256": r.sha256,
                        "received_at": r.received_at.isoformat(),
                        "valid": r.valid,
                        "errors": r.errors,
                        "current": r.present and str(cfg.inbox / r.path) == current,
                        "removed": not r.present,
                    }
                    for r in rows
                ]
        return {
            "period": str(cfg.period),
            "unit": cfg.unit,
            "deadline": cfg.deadline.isoformat() if cfg.deadline else None,
            "complete": comp.complete,
            "by_parent": {p: Completeness.count(rows) for p, rows in comp.by_parent().items()},
            "chase_list": [s.to_dict() for s in comp.chase_list()],
            "late": [s.code for s in statuses if s.late],
            "unattributed": [
                {"path": r.path, "received_at": r.received_at.isoformat(), "problem": r.first_problem()}
                for r in ledger.unattributed()
            ],
            "resubmissions": history,
            "rollup_outputs": json.loads(ledger.get_meta("rollup_outputs") or "[]"),
            "last_runs": ledger.last_runs(),
        }
    finally:
        ledger.close()


# --- export ----------------------------------------------------------------------------------------------------


def export_table(cfg: JobConfig, catalogue: Catalogue | None = None, all_periods: bool = False) -> pd.DataFrame:
    """The validated data as a tidy long table: one row per unit, cell and value, with the source file hash."""
    catalogue = catalogue or load_catalogue()
    if not cfg.ledger_path.exists():
        raise UsageError(
            f"no ledger in {cfg.out} yet: run 'ctstat run' first",
            message_vi=f"chưa có sổ theo dõi trong {cfg.out}: chạy 'ctstat run' trước",
        )
    ledger = Ledger(cfg.ledger_path, readonly=True)
    try:
        periods = [str(cfg.period)]
        if all_periods:
            periods = sorted({r.period for r in ledger.rows("removed_at IS NULL AND period IS NOT NULL") if r.period})
        # the current submission of each unit, when valid under this catalogue (what a rollup would use)
        rows = [
            r for p in periods for r in ledger.current(p).values() if r.valid and r.catalogue_digest == catalogue.digest
        ]
        cells_of = ledger.cells([r.id for r in rows])
    finally:
        ledger.close()
    keys = form_layout(catalogue).keys
    meta = []
    for key in keys:
        el, row, col = split_key(key)
        element = catalogue.elements[el]
        col_dim, col_cat = col.split(":", 1) if col != "*" else ("", "total")
        meta.append(
            (
                el,
                element.name_vi,
                element.rows.dimension.key if element.rows else "",
                "total" if row == "*" else row,
                col_dim,
                col_cat,
            )
        )
    records = []
    for r in sorted(rows, key=lambda r: (r.period or "", r.unit or "")):
        h = load_units(r.vintage or cfg.vintage)
        unit = h.get(r.unit or "")
        chain = {a.level: a.code for a in h.ancestors(unit)} if unit else {}
        cells = cells_of.get(r.id, {})
        for key, (el, name, row_dim, row_cat, col_dim, col_cat) in zip(keys, meta, strict=True):
            v = cells.get(key)
            records.append(
                (
                    r.period,
                    r.unit,
                    r.unit_name,
                    chain.get("district", ""),
                    chain.get("province", ""),
                    el,
                    name,
                    row_dim,
                    row_cat,
                    col_dim,
                    col_cat,
                    v,
                    r.sha256,
                )
            )
    return pd.DataFrame(
        records,
        columns=[
            "period",
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
        ],
    )


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
