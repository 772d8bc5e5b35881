"""The library entry points the CLI calls: write a form, validate files or folders, roll them up."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ctstat.check.approval import ApprovalPolicy
    from ctstat.check.validate import JudgedBook
    from ctstat.plan.history_sheet import HistoryLookup, PeriodHistory
    from ctstat.plan.plan import PlannedBooks, RollupSheetData
    from ctstat.plan.reform_year import Slot
    from ctstat.read.contain import Pool

from ctstat.check.file_checks import FileCheck
from ctstat.model.catalogue import Catalogue, load_catalogue
from ctstat.model.errors import UsageError
from ctstat.model.messages import make_issue
from ctstat.model.period import VINTAGES, Period, parse_period, vintage_for
from ctstat.model.report import Claim, FileReport, Report
from ctstat.model.units import LEVEL_VI, Hierarchy, Unit, level_of, load_units, name_key
from ctstat.plan.spec import RollupFlags as RollupFlags
from ctstat.plan.spec import RollupInputs as RollupInputs
from ctstat.plan.spec import RollupOptions as RollupOptions
from ctstat.plan.spec import RollupResult as RollupResult
from ctstat.plan.spec import WardCells
from ctstat.read.inputs import find_files, read_all
from ctstat.read.workbook import Submission, sha256_of
from ctstat.write.atomic import atomic_write, json_text

_WORKER_CATALOGUE: Catalogue | None = None


def _init_worker(catalogue_dir: str) -> None:
    global _WORKER_CATALOGUE
    _WORKER_CATALOGUE = load_catalogue(catalogue_dir)


def validate_paths(
    paths: Iterable[str | Path],
    catalogue: Catalogue | None = None,
    period: str | Period | None = None,
    units: str | None = None,
    jobs: int = 1,
    progress: object = None,
) -> Report:
    """Validate every workbook in `paths`. Raises UsageError when there is nothing to validate."""
    return validate_files(paths, catalogue, period, units, jobs, progress)[0]


def validate_files(
    paths: Iterable[str | Path],
    catalogue: Catalogue | None = None,
    period: str | Period | None = None,
    units: str | None = None,
    jobs: int = 1,
    progress: object = None,
    exclude: Path | None = None,
) -> tuple[Report, list[Submission]]:
    """`validate_paths`, also returning what was read of each file (for marked-up copies); marked-up copies in
    `exclude` (the folder they go to, which may be one being read) are not read back."""
    catalogue = catalogue or load_catalogue()
    per = parse_period(period) if period is not None else None
    files = find_files(paths)
    if exclude is not None:
        from ctstat.write.annotate import SUFFIX

        skip = exclude.resolve()
        files = [f for f in files if not (f.name.endswith(SUFFIX) and f.resolve().is_relative_to(skip))]
    if not files:
        raise UsageError(
            "no workbook (.xlsx, .xlsm, .xls, .ods) found to validate",
            message_vi="không tìm thấy tệp bảng tính nào (.xlsx, .xlsm, .xls, .ods) để kiểm tra",
        )
    subs, report, _, books = _judge(read_checked(files, catalogue, per, units, jobs, progress), catalogue, per, units)
    report.files += [book.report for book in books]
    return report, subs


def _judge(
    read: list[Submission], catalogue: Catalogue, period: Period | None, units: str | None
) -> tuple[list[Submission], Report, pd.DataFrame, list[JudgedBook]]:
    """Judge what was read: ward forms as one batch, district workbooks row by row. Returns the submissions
    (forms first, then workbooks), the forms' report and cleaned values, and each workbook's judgement."""
    from ctstat.check.validate import judge_book, validate_batch

    forms = [s for s in read if s.book is None]
    books = [s for s in read if s.book is not None]
    report, frame = validate_batch(forms, catalogue, period, units)
    check = FileCheck(catalogue, period, units)
    return forms + books, report, frame, [judge_book(s, catalogue, period, units, check) for s in books]


def read_checked(
    files: Sequence[Path],
    catalogue: Catalogue,
    period: Period | None,
    units: str | None,
    jobs: int = 1,
    progress: object = None,
    pool: Pool[str] | None = None,
    judged: Callable[[list[Submission]], object] | None = None,
) -> list[Submission]:
    """The input stage every command shares: read `files` in guarded workers, which also run the per-file checks,
    while a thread loads pandera and runs the batch checks on parts already read. `validate_batch` then only
    gathers (and judges what is left). `pool`: workers kept between calls (`inputs.reading_pool`, made with the
    same catalogue, period and units). `judged`: called in that thread with each part once judged (its
    submissions with `judged` set have their issues, unsorted, in `checked[0]`), to act on them while the rest
    is read; an exception there stops the read as a bug of the thread does."""
    with _no_collections():
        return _read_checked(files, catalogue, (period, units), jobs, progress, (pool, judged))


@contextmanager
def _no_collections() -> Iterator[None]:
    """No cyclic collection while a batch is read: what comes back from the workers (thousands of submissions) is
    all kept, so a collection finds nothing to free, and each one walked what was read since the last (0.2 s of
    the main process's CPU over 10,035 files, at 50,000 objects a collection). Nested and concurrent readings (two
    threads of the portal) count: the collector is back on when the last one ends, if it was on before the first."""
    with _READING.lock:
        if _READING.depth == 0:
            _READING.was_on = gc.isenabled()
            gc.disable()
        _READING.depth += 1
    try:
        yield
    finally:
        with _READING.lock:
            _READING.depth -= 1
            if _READING.depth == 0 and _READING.was_on:
                gc.enable()


class _Readings:
    """How many batches are being read now, and whether the collector was on before the first; `lock` guards both."""

    def __init__(self) -> None:
        self.depth, self.was_on, self.lock = 0, True, threading.Lock()


_READING = _Readings()


def _read_checked(
    files: Sequence[Path],
    catalogue: Catalogue,
    options: tuple[Period | None, str | None],
    jobs: int,
    progress: object,
    hooks: tuple[Pool[str] | None, Callable[[list[Submission]], object] | None],
) -> list[Submission]:
    period, units = options
    pool, judged = hooks
    subs: list[Submission] = []
    chunks: queue.Queue[list[Submission] | None] = queue.Queue()
    # a thread loads pandas and pandera, then judges parts of the batch while the workers read the rest
    failure: list[BaseException] = []
    judge = threading.Thread(target=_judge_ahead, args=(catalogue, chunks, failure, judged), daemon=True)
    done = 0
    # the thread starts as soon as the workers are forked, so that loading pandera overlaps the first reads
    for sub in read_all(files, catalogue, jobs, FileCheck(catalogue, period, units), pool, judge.start):
        subs.append(sub)
        if len(subs) - done >= JUDGED_AHEAD:
            chunks.put(subs[done:])
            done = len(subs)
        if callable(progress):
            progress()
    chunks.put(None)
    if judge.ident is not None:  # started with the workers
        judge.join()
    if failure:
        raise failure[0]  # a bug in the judging thread is ctstat's bug: exit 3, not a silent re-run
    return subs


JUDGED_AHEAD = 2048  #: files judged together ahead of the end of reading


def _judge_ahead(
    catalogue: Catalogue,
    chunks: queue.Queue[list[Submission] | None],
    failure: list[BaseException],
    judged: Callable[[list[Submission]], object] | None = None,
) -> None:
    try:
        from ctstat.check import engine

        engine.load()  # before anything imports pandas: without pyarrow if the command said so
        from ctstat.check.validate import judge_ahead, warm_up

        warm_up(catalogue, judge=True)
        while (chunk := chunks.get()) is not None:
            judge_ahead(chunk, catalogue)
            if judged is not None:
                judged(chunk)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        failure.append(exc)


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def workers(jobs: int) -> int:
    """The processes `--jobs` (or the job's `jobs`) asks for: 0 is one per core (at most 4), in every command; never
    more than 4 a core in one pool (`--jobs 10000` over a national inbox forked a reading process per file). A
    command with several pools at once (the portal's readers, markers and fillers; a run's readers and copiers)
    has this many in each."""
    if jobs < 0:
        raise UsageError(
            f"--jobs: expected a whole number >= 0 (0 = one per core), not {jobs}",
            message_vi=f"--jobs: phải là số nguyên >= 0 (0 = mỗi lõi một tiến trình), không phải {jobs}",
        )
    return default_jobs() if jobs == 0 else min(jobs, most_jobs())


def most_jobs() -> int:
    """The most processes one pool starts: 4 a core (reading waits on the disk at times, never for long)."""
    return 4 * (os.cpu_count() or 1)


def make_template(
    unit_code: str,
    period: str,
    out: str | Path,
    catalogue: Catalogue | None = None,
    units: str | None = None,
) -> Path:
    """Write the blank form of one commune for one period."""
    catalogue = catalogue or load_catalogue()
    per = parse_period(period)
    vintage = vintage_for(per, units)
    h = load_units(vintage)
    unit = h.get(unit_code.strip()) if level_of(unit_code) == "commune" else None
    if unit is None:
        area = h.find(unit_code)
        if area is not None and area.level != "commune":
            first = h.communes_under(area)
            example = f": for example {first[0].code} ({first[0].name})" if first else ""
            raise UsageError(
                f"{unit_code} is a {LEVEL_VI[area.level]} ({area.name}) in list {vintage}; a form is for "
                f"one commune (xã/phường){example}",
                message_vi=f"{unit_code} là {LEVEL_VI[area.level]} ({area.name}) trong danh mục {vintage}; mỗi biểu "
                f"mẫu dành cho một xã/phường{example.replace('for example', 'ví dụ')}",
            )
        raise UsageError(
            f"unit {unit_code} is not a commune in the administrative-unit list {vintage} "
            "(commune codes have 5 digits, e.g. 00301)",
            message_vi=f"{unit_code} không phải là một xã/phường trong danh mục đơn vị hành chính {vintage} "
            "(mã xã có 5 chữ số, ví dụ 00301)",
        )
    from ctstat.write.form import FormHeader, write_form  # xlsxwriter: only the commands that write a form

    return write_form(out, catalogue, FormHeader.for_unit(h, unit, per))


#: what each unit list is, for a person choosing one
VINTAGE_WORDS = {
    "2025-06-30": ("ba cấp: tỉnh, huyện, xã; trước sắp xếp 1/7/2025", "three tiers: province, district, commune; "
                   "before the reform of 1 July 2025"),
    "2025-07-01": ("hai cấp: tỉnh, xã; từ 1/7/2025", "two tiers: province, commune; from 1 July 2025"),
}  # fmt: skip


def template_notes(unit_code: str, period: str, units: str | None = None) -> list[tuple[str, str]]:
    """What `make_template` wrote, said to the person who asked (Vietnamese, English): which commune and which
    unit list the form is for, and a warning when the code names a different commune in another list (the 2025
    reform reused codes: 00301 was Phường Thanh Trì of Quận Hoàng Mai, and is Phường Vĩnh Hưng of Hà Nội)."""
    per = parse_period(period)
    vintage = vintage_for(per, units)
    h = load_units(vintage)
    unit = h.get(unit_code.strip())
    if unit is None:
        return []
    vi_list, en_list = VINTAGE_WORDS.get(vintage, ("", ""))
    notes = [
        (
            f"Biểu mẫu của {unit.code} {h.path(unit)}, theo danh mục đơn vị hành chính {vintage} ({vi_list}), kỳ "
            f"{per.label_vi().lower()}.",
            f"The form of {unit.code} {h.path(unit)}, on the administrative-unit list {vintage} ({en_list}), period "
            f"{per}.",
        )
    ]
    for other in sorted(set(VINTAGES) - {vintage}):
        oh = load_units(other)
        then = oh.get(unit.code)
        if then is not None and name_key(then.name) != name_key(unit.name):  # not the same commune kept
            notes.append(
                (
                    f"Lưu ý: trong danh mục {other} ({VINTAGE_WORDS.get(other, ('', ''))[0]}), mã {unit.code} là "
                    f"{oh.path(then)}, một xã, phường khác. Kiểm tra lại mã và kỳ (hoặc --units) trước khi gửi biểu "
                    "mẫu cho xã, phường.",
                    f"Note: in the list {other} ({VINTAGE_WORDS.get(other, ('', ''))[1]}), code {unit.code} is "
                    f"{oh.path(then)}, a different commune. Check the code and the period (or --units) before "
                    "sending the form.",
                )
            )
    return notes


def resolve_area(code: str, vintage: str) -> list[Unit]:
    """The communes under a commune, district or province code ('VN': the whole country)."""
    h = load_units(vintage)
    if code.strip().upper() == "VN":
        return h.all("commune")
    unit = h.find(code)
    if unit is None:
        raise UsageError(
            f"unit {code} is not in the administrative-unit list {vintage}",
            message_vi=f"không có đơn vị {code} trong danh mục đơn vị hành chính {vintage}",
        )
    return h.communes_under(unit)


def _synth_chunk(args: tuple[str, str, str, str, int, list[str]]) -> int:
    catalogue_dir, vintage, period, out, seed, codes = args
    from ctstat.write.synth import write_ward

    cat = load_catalogue(catalogue_dir)
    h = load_units(vintage)
    per = Period.parse(period)
    for c in codes:
        unit = h.get(c)
        assert unit is not None
        write_ward(Path(out), cat, h, unit, per, seed)
    return len(codes)


def synth_forms(
    unit: str,
    period: str,
    out: str | Path,
    catalogue: Catalogue | None = None,
    units: str | None = None,
    seed: int = 0,
    jobs: int = 1,
) -> int:
    """Write synthetic filled forms for every commune under `unit`; returns how many."""
    catalogue = catalogue or load_catalogue()
    per = parse_period(period)
    vintage = vintage_for(per, units)
    codes = [u.code for u in resolve_area(unit, vintage)]
    Path(out).mkdir(parents=True, exist_ok=True)
    chunks = [codes[i :: max(jobs, 1) * 4] for i in range(max(jobs, 1) * 4)] if jobs > 1 else [codes]
    args = [(catalogue.path, vintage, str(per), str(out), seed, c) for c in chunks if c]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            return sum(pool.map(_synth_chunk, args))
    return sum(_synth_chunk(a) for a in args)


# --- rollup ---------------------------------------------------------------------------------------------------


def _received(path: str) -> datetime | None:
    """When a file given to `rollup` was received: its modification time, local with its offset (None if it is
    gone)."""
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime).astimezone()
    except OSError:
        return None


def _data_as_of(collected: RollupInputs, per: Period) -> datetime:
    """When the data of a rollup was complete: the latest time an input was received (deterministic: the same
    inputs give the same workbooks), or the period's end if no input says."""
    times = [c.received_at for claims in collected.claims.values() for c in claims if c.received_at is not None]
    return max(times, default=datetime.combine(per.end, datetime.min.time())).replace(microsecond=0)


def _infer_target(h: Hierarchy, codes: Iterable[str], inputs: Sequence[FileReport] = ()) -> Unit:
    chains = []
    for code in codes:
        u = h.get(code)
        if u is not None:
            chains.append(h.ancestors(u))
    if not chains:
        found = sorted({(r.period, r.vintage) for r in inputs if r.unit and r.period and r.vintage != h.vintage})
        seen = ", ".join(f"{p} ({v})" for p, v in found)
        hint = ("", "")
        if found:
            hint = (
                f": các tệp là báo cáo theo danh mục khác ({seen}). Để đưa số liệu 2025-H1 của các xã cũ về các xã "
                "mới, tổng hợp cả năm: --period 2025 --units 2025-07-01, kèm báo cáo 2025-H2 của các xã mới",
                f": the files are reports on another unit list ({seen}). To put the old communes' 2025-H1 figures "
                "onto the new communes, roll up the year: --period 2025 --units 2025-07-01, with the new communes' "
                "2025-H2 reports",
            )
        raise UsageError(
            f"no input names a commune of this period's unit list ({h.vintage}){hint[1] or ': give --unit'}",
            message_vi=f"không tệp nào ghi một xã trong danh mục đơn vị của kỳ này ({h.vintage})"
            f"{hint[0] or ': cho biết --unit'}",
        )
    common = [a for a in chains[0] if all(any(a.code == b.code and a.level == b.level for b in c) for c in chains)]
    if not common:
        raise UsageError(
            "the inputs belong to several provinces: give --unit",
            message_vi="các tệp thuộc nhiều tỉnh khác nhau: cho biết --unit",
        )
    return common[0]


def collect_inputs(
    paths: Iterable[str | Path],
    catalogue: Catalogue,
    period: Period,
    units: str | None = None,
    jobs: int = 1,
    approval: ApprovalPolicy | None = None,
) -> RollupInputs:
    """Read and validate ward files and district workbooks for a rollup: every number passes the same checks.
    With `approval`, each district workbook must also be what a listed official approved (`check/approval.py`)."""
    got, forms, books = _read_inputs(paths, catalogue, period, units, jobs, approval)
    vintage = vintage_for(period, units)
    for rep, row in forms.forms:
        if rep.unit and rep.vintage == vintage:  # a code of another list is another unit (00301 before and after)
            got.claims.setdefault(rep.unit, []).append(Claim.of(rep, forms.ready.received_at(rep.path)))
            if row is not None:
                got.values_of.put_row(rep.unit, forms.rows, forms.columns, row)
    for judged in books:
        for claim in judged.claims:
            got.claims.setdefault(claim.unit, []).append(claim)
        got.values_of.update(judged.values)
    return got


def _read_inputs(
    paths: Iterable[str | Path],
    catalogue: Catalogue,
    period: Period | None,
    units: str | None,
    jobs: int,
    approval: ApprovalPolicy | None,
) -> tuple[RollupInputs, _Forms, list[JudgedBook]]:
    """Every input read and judged (`period` None: each under its own period and list): the inputs' reports,
    each ward form with its row of cells (None unless valid), each district workbook judged (and its approval)."""
    files = find_files(paths)
    if not files:
        raise UsageError(
            "no workbook (.xlsx, .xlsm, .xls, .ods) found to roll up",
            message_vi="không tìm thấy tệp bảng tính nào (.xlsx, .xlsm, .xls, .ods) để tổng hợp",
        )
    ready = _ReadyToPlan(vintage_for(period, units) if period else None)
    read = read_checked(files, catalogue, period, units, jobs, judged=ready)
    subs, report, frame, books = _judge(read, catalogue, period, units)
    got = RollupInputs(report)
    # one array, each valid form's cells a row of it (a pandas row lookup per form was 0.3 s of a national rollup,
    # after the last file was read; a Series made of each, 0.1 s: `WardCells` makes one when asked for)
    rows, at = frame.to_numpy(dtype=float, copy=True), {n: r for r, n in enumerate(frame.index)}
    forms = [(rep, at.get(i) if rep.valid else None) for i, rep in enumerate(report.files)]
    got.inputs = [(rep, "ward") for rep in report.files]
    if approval is not None:
        _approvals(got, [s for s in subs if s.book is not None], books, period, approval)
    for judged in books:
        report.files.append(judged.report)
        got.inputs.append((judged.report, "rollup"))
    return got, _Forms(rows, frame.columns, forms, ready), books


@dataclass(frozen=True)
class _Forms:
    """The ward forms read for a rollup: each one's report with its row of `rows` (None unless valid)."""

    rows: np.ndarray  #: the valid forms' cells, a row each
    columns: pd.Index  #: the cell keys
    forms: list[tuple[FileReport, int | None]]
    ready: _ReadyToPlan  #: (when each file was received)

    def series(self) -> list[tuple[FileReport, pd.Series | None]]:
        """Each form with its cells as a Series (None unless valid)."""
        import pandas as pd

        return [
            (rep, None if r is None else pd.Series(self.rows[r], index=self.columns, copy=False))
            for rep, r in self.forms
        ]


class _ReadyToPlan:
    """What the rollup will plan and write with, made ready in the judging thread while the workers read (not
    after the last file was read, in the main process alone: 0.1 s to load the country's 10,795 units, 0.1 s to
    import the planning and the workbook writer, 0.04 s to ask each file's time of receipt): the unit list of
    `vintage`, the modules, and when each file judged ahead was received (`received`)."""

    def __init__(self, vintage: str | None) -> None:
        self.vintage = vintage
        self.received: dict[str, datetime | None] = {}

    def __call__(self, judged: list[Submission]) -> None:
        import ctstat.plan.completeness
        import ctstat.plan.plan
        import ctstat.write.publish
        import ctstat.write.rollup_book  # noqa: F401

        if self.vintage is not None:
            load_units(self.vintage)  # (kept: `load_units` is cached)
        self.received.update((sub.path, _received(sub.path)) for sub in judged)

    def received_at(self, path: str) -> datetime | None:
        """When the file at `path` was received (its modification time), asked ahead or now."""
        return self.received[path] if path in self.received else _received(path)


def collect_reform_year(
    paths: Iterable[str | Path], catalogue: Catalogue, jobs: int = 1, approval: ApprovalPolicy | None = None
) -> RollupInputs:
    """The inputs of the year 2025 by the new communes: 2025-H1 reports of the old communes (forms or district
    workbooks, list 2025-06-30), 2025-H2 reports of the new ones, and forms of the whole year on the new list.
    Each is validated under its own period and list; the new communes' years are then put together
    (`plan.reform_year`: flows H1 + H2, stocks H2, exact or refused where an old commune was split)."""
    from ctstat.model.period import NEW, OLD
    from ctstat.model.units import load_crosswalk

    got, forms, books = _read_inputs(paths, catalogue, None, None, jobs, approval)
    from ctstat.plan.reform_year import Lists, over_time, year_by_new_units  # pandas: loaded while reading

    lists = Lists(load_units(OLD), load_units(NEW), load_crosswalk())
    year = year_by_new_units(*_slots(forms.series(), books), over_time(catalogue), lists)
    got.claims, got.values_of, got.feeds, got.homes = year.claims, WardCells(year.values), year.feeds, year.homes
    by_path = {rep.path: rep for rep, _ in got.inputs}
    for issue in year.issues:
        if issue.path in by_path:
            by_path[issue.path].issues.append(issue)
    return got


def _slots(forms: list[tuple[FileReport, pd.Series | None]], books: list[JudgedBook]) -> tuple[Slot, Slot, Slot]:
    """The inputs of the reform year sorted by (period, list) (`period.SLOTS`), each keyed by its own list's
    codes; a file of any other period or list is refused here, at its cover."""
    from ctstat.model.keys import a1
    from ctstat.model.layout import COVER, COVER_BY_KEY
    from ctstat.model.period import SLOTS
    from ctstat.plan.reform_year import Slot

    slots = {slot: Slot() for slot in SLOTS}
    expected = ", ".join(f"{p} ({v})" for p, v in SLOTS)
    field_ = COVER_BY_KEY["period"]
    sources: list[tuple[FileReport, list[Claim], dict[str, pd.Series]]] = []
    for rep, cells in forms:
        values = {rep.unit: cells} if rep.unit and cells is not None else {}
        sources.append((rep, [Claim.of(rep, _received(rep.path))] if rep.unit else [], values))
    sources += [(b.report, b.claims, b.values) for b in books]
    for rep, claims, values in sources:
        slot = slots.get((rep.period or "", rep.vintage or ""))
        if slot is None:
            if rep.valid and rep.period:
                where: dict[str, Any] = {"sheet": COVER, "cell": a1(field_.row, field_.col)}
                if not any(rep is r for r, _ in forms):  # a district workbook: the file as a whole
                    where = {}
                found = f"{rep.period} ({rep.vintage})"
                rep.issues.append(make_issue("wrong-period", path=rep.path, value=found, expected=expected, **where))
            continue
        for claim in claims:
            slot.claims.setdefault(claim.unit, []).append(claim)
        slot.values.update(values)
    h1, h2, year = (slots[s] for s in SLOTS)
    return h1, h2, year


def _approvals(
    got: RollupInputs, subs: list[Submission], books: list[JudgedBook], period: Period | None, approval: ApprovalPolicy
) -> None:
    """Each district workbook's approval, checked offline: an issue on its report when it is not exactly what a
    listed official approved; when approval is required, none of its numbers is used then. `period` None: each
    workbook's own (the reform year takes workbooks of both halves)."""
    from ctstat.check.approval import judge_approval

    for sub, judged in zip(subs, books, strict=True):
        assert sub.book is not None
        unit = judged.report.unit or ""
        state = judge_approval(sub.book, sub.path, unit, str(period or judged.report.period), approval)
        got.approvals[sub.path] = state.to_dict()
        if state.issue is None:
            continue
        judged.report.issues.append(state.issue)
        if approval.required:
            judged.claims = [replace(c, valid=False, problem=state.issue.text_vi) for c in judged.claims]
            judged.values = {}


def rollup_paths(
    paths: Iterable[str | Path],
    period: str | Period,
    out: str | Path,
    catalogue: Catalogue | None = None,
    approval: ApprovalPolicy | None = None,
    **flags: Unpack[RollupFlags],
) -> RollupResult:
    """Validate ward submissions (and/or district rollup workbooks) and write the district and province
    workbooks of `unit` (inferred when None). Refuses (result.refused) when an expected commune is missing,
    invalid or duplicated, unless `allow_partial`. With `approval`, a district workbook counts only when it is
    exactly what a listed official approved (or, not required, is listed when it is not)."""
    from ctstat.model.period import is_reform_year
    from ctstat.model.units import load_crosswalk
    from ctstat.plan.regroup import NEW, OLD, check_target, is_regroup, regrouped

    catalogue = catalogue or load_catalogue()
    per = parse_period(period)
    opts = RollupOptions(**flags)
    h = None
    with ExitStack() as kept:
        with _no_collections():  # what is read is all kept: a collection would walk it all, to free nothing
            if is_regroup(str(per), opts.units):  # 2025-H1 onto the new provinces (a list not in force then)
                check_target(opts.unit, opts.history)
                collected = collect_inputs(paths, catalogue, per, OLD, opts.jobs, approval)
                h = regrouped(load_units(OLD), load_units(NEW), load_crosswalk())
            elif is_reform_year(str(per), vintage_for(per, opts.units)):
                collected = collect_reform_year(paths, catalogue, opts.jobs, approval)
            else:
                collected = collect_inputs(paths, catalogue, per, opts.units, opts.jobs, approval)
            kept.enter_context(_frozen())  # and out of its sight (frozen) before it is back on, until written
        return rollup_collected(collected, per, out, catalogue, opts, h)


def _target(h: Hierarchy, opts: RollupOptions, collected: RollupInputs, national: bool) -> Unit:
    """The unit rolled up: `--unit` (VN: the country), or the one the inputs share."""
    if national:
        target: Unit | None = Unit(h.vintage, "country", "VN", "Toàn quốc", "quốc gia", None)
    else:
        target = h.find(opts.unit) if opts.unit else _infer_target(h, collected.claims, collected.report.files)
    if target is None or target.level == "commune":
        raise UsageError(
            f"--unit {opts.unit} is not a district or province in the unit list {h.vintage}",
            message_vi=f"--unit {opts.unit} không phải là một huyện hay tỉnh trong danh mục đơn vị {h.vintage}",
        )
    return target


def rollup_collected(
    collected: RollupInputs,
    per: Period,
    out: str | Path,
    catalogue: Catalogue,
    opts: RollupOptions,
    h: Hierarchy | None = None,
) -> RollupResult:
    """The rollup proper, from inputs already validated (by `collect_inputs`, or from the ledger): plan, then
    write the set of workbooks and its manifest aside and publish them together. `h`: the units (by default the
    period's list; `plan.regroup`: the old communes under the new provinces, whose workbooks alone are written).

    What was read is frozen out of the cyclic collector's sight meanwhile (`_frozen`): it is all kept, and
    collections after the reading walked it all to free nothing (0.4 s of a national rollup's main process)."""
    from ctstat.write.publish import staged

    with _frozen():
        result, rollup = _plan_rollup(collected, per, catalogue, opts, h)
        if rollup is None:  # refused: nothing is written
            return result
        out_dir = Path(out)
        with staged(out_dir) as stage:
            written: list[tuple[Path, str, str]] = []
            draft = None
            for one in _write_all([(stage / n, i) for n, i in rollup.books], catalogue, opts.jobs, rollup.make):
                written.append(one)
                if draft is None:  # the writers at work: the manifest but for its outputs, meanwhile
                    draft = _Draft(_manifest(result, catalogue, [], collected, rollup.valid, rollup.top, rollup.when))
            draft = draft or _Draft(_manifest(result, catalogue, [], collected, rollup.valid, rollup.top, rollup.when))
            outputs = [(out_dir / path.name, path, digest, sha) for path, digest, sha in written]
            result.outputs = [final for final, *_ in outputs]
            result.manifest, text = draft.with_outputs(outputs)
            _write_text_atomic(stage / rollup.manifest, text)
            result.manifest_path = out_dir / rollup.manifest
    return result


class _Draft:
    """A rollup's manifest made while its workbooks are written, but for its outputs, each key rendered as
    `json_text` renders it: its inputs (ten thousand in a national rollup) made and rendered after the last
    workbook was written were 0.1 s more of waiting."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.lines = {key: _line(key, value) for key, value in doc.items() if key != "outputs"}

    def with_outputs(self, outputs: list[tuple[Path, Path, str, str]]) -> tuple[dict[str, Any], str]:
        """The manifest with its outputs, and its text: `json_text(doc, objects_by_key=True)`, byte for byte."""
        doc = {**self.doc, "outputs": _outputs(outputs)}  # (in its place: the draft has the key)
        lines = [self.lines[key] if key in self.lines else _line(key, value) for key, value in doc.items()]
        return doc, "{\n" + ",\n".join(lines) + "\n}"


def _line(key: str, value: Any) -> str:
    """The line(s) of one key of a manifest, as `json_text` writes them in the whole."""
    return json_text({key: value}, objects_by_key=True)[2:-2]  # (without the object's "{\n" and "\n}")


def _outputs(outputs: list[tuple[Path, Path, str, str]]) -> list[dict[str, str]]:
    """The manifest's entry of each workbook written: its final path, SHA-256 and data digest."""
    return [{"path": str(final), "sha256": sha, "data_digest": digest} for final, _, digest, sha in outputs]


@dataclass(frozen=True)
class _Planned:
    """A rollup planned, to be written: its workbooks (file name, number), what makes each one's data where it is
    written, the target's indicators and the time printed, the valid communes, and the manifest's file name."""

    books: list[tuple[str, int]]
    make: _BookData
    top: Mapping[str, pd.DataFrame]
    when: datetime
    valid: list[str]
    manifest: str


def _plan_rollup(
    collected: RollupInputs, per: Period, catalogue: Catalogue, opts: RollupOptions, h: Hierarchy | None
) -> tuple[RollupResult, _Planned | None]:
    """The rollup's result (its completeness) and its workbooks planned, or None if it is refused."""
    from ctstat.plan.completeness import Completeness, parent_statuses, unit_statuses
    from ctstat.plan.plan import RollupPlan, plan_books, scope_issues
    from ctstat.plan.regroup import NEW, REGROUPED, province_books

    h = h or load_units(vintage_for(per, opts.units))
    vintage, regroup = h.vintage, h.vintage == REGROUPED
    national = opts.unit is not None and opts.unit.strip().upper() == "VN"
    target = _target(h, opts, collected, national)
    expected = h.all("commune") if national else h.communes_under(target)
    codes = {u.code for u in expected}
    for rep, issue in scope_issues(collected.claims, h, target, codes):
        rep.issues.append(issue)
    for rep, _ in collected.inputs:  # the reform year: an old commune whose new one is not rolled up here
        home = collected.homes.get(rep.path)
        if home is not None and home not in codes:
            unit = f"{rep.unit} ({rep.vintage})"
            rep.issues.append(make_issue("outside-unit", path=rep.path, unit=unit, detail=h.path(target)))
    statuses = unit_statuses(h, expected, collected.claims, opts.deadline, collected.latest_wins)
    books = [rep for rep, kind in collected.inputs if kind == "rollup"]
    completeness = Completeness(statuses, parent_statuses(h, target, statuses, collected.claims, books))
    result = RollupResult(collected.report, target, per, vintage, completeness, partial=not completeness.complete)
    valid_codes = [s.code for s in statuses if s.status == "valid"]
    if result.partial and not opts.allow_partial:
        result.refused = True
        result.manifest = _manifest(result, catalogue, [], collected, valid_codes, {}, opts.generated_at)
        return result, None
    when = opts.generated_at or _data_as_of(collected, per)
    plan = RollupPlan(catalogue, h, target, per, statuses, collected, when, national, completeness.parents)
    planned, top = plan_books(plan)
    numbered = [(file_name, i) for i, (file_name, _, _) in enumerate(planned.books)]
    if regroup:  # the new provinces' workbooks only, named with the new list
        numbered = province_books(numbered, [planned.books[i][1].level for _, i in numbered])
    found = None
    if opts.history is not None:  # each workbook compares its units with their earlier periods
        found = _history_found(catalogue, h, per, collected, valid_codes, opts.history)
    make = _BookData(planned, collected.approvals, opts.review, found)
    name = f"{per}_{NEW}_{target.code}_manifest.json" if regroup else f"{per}_{target.code}_manifest.json"
    return result, _Planned(numbered, make, top, when, valid_codes, name)


@dataclass(frozen=True)
class _BookData:
    """What the `i`th planned workbook shows, made where it is written (`_write_all`): its own numbers
    (`PlannedBooks.data`), with the approvals of the district workbooks read (its completeness sheet), its
    comparison with earlier periods (`found`: looked up once for every valid commune), and the job's review chain
    when it is the rolled-up unit's own workbook."""

    planned: PlannedBooks
    approvals: Mapping[str, Mapping[str, Any]]
    review: tuple[Any, ...]
    found: PeriodHistory | None

    def __call__(self, i: int) -> RollupSheetData:
        from ctstat.plan.history_sheet import history_sheet

        plan, d = self.planned.plan, self.planned.data(i)
        if self.approvals:
            d = replace(d, approvals=self.approvals)
        if self.found is not None:
            history = history_sheet(plan.catalogue, plan.h, d.unit, d.children, d.ward_values, plan.per, self.found)
            d = replace(d, history=history)
        if self.review and d.unit.code == plan.target.code:  # the review chain travels in the unit's own workbook
            d = replace(d, review=self.review)
        return d


def _history_found(
    catalogue: Catalogue,
    h: Hierarchy,
    per: Period,
    collected: RollupInputs,
    valid_codes: list[str],
    lookup: HistoryLookup,
) -> PeriodHistory:
    """What the history says of the valid communes, their cells looked up once for every workbook."""
    import numpy as np
    import pandas as pd

    from ctstat.model.layout import form_layout

    keys = list(form_layout(catalogue).keys)
    rows = [collected.values_of[c].reindex(keys).to_numpy(dtype=float) for c in valid_codes]
    values = np.concatenate(rows) if rows else np.empty(0)
    current = pd.DataFrame(
        {"unit": np.repeat(valid_codes, len(keys)), "cell": np.tile(keys, len(valid_codes)), "value": values}
    ).dropna(subset=["value"])
    return lookup(current, per, h.vintage)


def _hashed(written: tuple[Path, str]) -> tuple[Path, str, str]:
    """A workbook written (its path, its data digest) with its file's SHA-256 for the manifest, taken where it was
    written: in a writer, beside the others (hashing the 754 national workbooks after they were all written was
    0.1 s more of waiting)."""
    path, digest = written
    return path, digest, sha256_of(path.read_bytes())


def _write_one(args: tuple[Path, Any]) -> tuple[Path, str, str]:
    from ctstat.write.rollup_book import write_rollup

    assert _WORKER_CATALOGUE is not None
    return _hashed(write_rollup(args[0], _WORKER_CATALOGUE, args[1]))


#: the catalogue, the workbooks to write and what makes each one's data, for writers forked to write them
_INHERITED: tuple[Catalogue, list[tuple[Path, Any]], Callable[[Any], Any]] | None = None


def _write_nth(i: int) -> tuple[Path, str, str]:
    from ctstat.write.rollup_book import write_rollup

    assert _INHERITED is not None
    catalogue, tasks, make = _INHERITED
    path, what = tasks[i]
    return _hashed(write_rollup(path, catalogue, make(what)))


def _as_is(data: Any) -> Any:
    return data


def _write_all(
    tasks: list[tuple[Path, Any]], catalogue: Catalogue, jobs: int, make: Callable[[Any], Any] = _as_is
) -> Iterator[tuple[Path, str, str]]:
    """Write the workbooks, each `(path, what)` with the data `make(what)`, in `jobs` processes when there are
    many: forked writers make each workbook's data themselves, in parallel (`_write_forked`); spawned ones are
    sent it made here. What was read before (thousands of submissions) is frozen out of the cyclic collector
    meanwhile: a collection in a forked worker would walk it all, and copy its pages, for every few workbooks."""
    from ctstat.write.rollup_book import write_rollup

    with _frozen():
        if jobs <= 1 or len(tasks) < 4:
            for path, what in tasks:
                yield _hashed(write_rollup(path, catalogue, make(what)))
            return
        chunk = max(1, min(8, len(tasks) // (jobs * 8)))
        if mp.get_start_method() == "fork":  # where forking is the platform's way (not macOS's spawn)
            yield from _write_forked(tasks, catalogue, jobs, chunk, make)
            return
        made = [(path, make(what)) for path, what in tasks]
        with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(catalogue.path,)) as pool:
            yield from pool.map(_write_one, made, chunksize=chunk)


class _Freezes:
    """How many `_frozen` are open now, whether something was frozen before the first; `lock` guards them."""

    def __init__(self) -> None:
        self.depth, self.served, self.lock = 0, False, threading.Lock()


_FREEZES = _Freezes()


@contextmanager
def _frozen() -> Iterator[None]:
    """Everything held now (and, nested, what was made since) frozen out of the cyclic collector's sight until the
    outermost ends: a collection would walk it all and free nothing (what a rollup read, 0.3 s after the reading)
    and, in a forked writer, copy its pages. Then unfrozen; or, where something was frozen before (a server froze
    what it loaded at start, web.app.serve), what was left behind collected and the rest frozen again."""
    with _FREEZES.lock:
        if _FREEZES.depth == 0:
            _FREEZES.served = gc.get_freeze_count() > 0
        _FREEZES.depth += 1
        gc.freeze()
    try:
        yield
    finally:
        with _FREEZES.lock:
            _FREEZES.depth -= 1
            last, served = _FREEZES.depth == 0, _FREEZES.served
            if last:
                gc.unfreeze()
        if last and served:  # out of the collector's sight again, once what was left behind is collected (not
            gc.collect()  # under the lock: a finalizer may run then)
            gc.freeze()


def _write_forked(
    tasks: list[tuple[Path, Any]], catalogue: Catalogue, jobs: int, chunk: int, make: Callable[[Any], Any]
) -> Iterator[tuple[Path, str, str]]:
    """The writers forked with the planned workbooks and the catalogue in hand: each is sent a workbook's number
    only, and makes its data itself (not made here and pickled, about a millisecond a workbook both ways, nor
    the catalogue loaded again)."""
    global _INHERITED
    _INHERITED = (catalogue, tasks, make)
    try:
        # (a writer collects, whatever the collector's state when it was forked: a server's other thread reading)
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork"), initializer=gc.enable) as pool:
            yield from pool.map(_write_nth, range(len(tasks)), chunksize=chunk)
    finally:
        _INHERITED = None


def _write_text_atomic(path: Path, text: str) -> None:
    """A rollup's manifest (`_Draft`: one key per line, one input or output per line; indented by json's Python
    encoder, a national manifest took 0.2 s after the last workbook was written)."""
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def _manifest(
    result: RollupResult,
    catalogue: Catalogue,
    outputs: list[tuple[Path, Path, str, str]],
    collected: RollupInputs,
    valid_codes: list[str],
    top: Mapping[str, pd.DataFrame],
    when: datetime | None,
) -> dict[str, Any]:
    import pandas as pd

    from ctstat import __version__
    from ctstat.plan.completeness import Completeness
    from ctstat.plan.plan import input_used

    used = set(valid_codes)
    used_books = collected.used_books(used)

    def num(v: Any) -> Any:
        if v is None or pd.isna(v):
            return None
        f = float(v)
        return int(f) if f.is_integer() else round(f, 6)

    by_parent = result.completeness.by_parent()
    return {
        "unit": result.unit.code,
        "unit_name": result.unit.name,
        "level": result.unit.level,
        "period": str(result.period),
        "vintage": result.vintage,
        "catalogue_version": catalogue.version,
        "template_version": catalogue.template_version,
        "ctstat_version": __version__,
        "generated_at": when.isoformat() if when else None,
        "complete": result.completeness.complete,
        "partial": result.partial,
        "refused": result.refused,
        "catalogue_digest": catalogue.digest,
        "outputs": _outputs(outputs),
        "inputs": [
            {
                "path": rep.path,
                "sha256": rep.sha256,
                "kind": kind,
                "unit": rep.unit,
                "period": rep.period,
                "valid": rep.valid,
                "errors": rep.errors,
                "warnings": rep.warnings,
                "vintage": rep.vintage,
                "used": input_used(rep, kind, used, used_books, collected.feeds),
            }
            for rep, kind in collected.inputs
        ],
        "completeness": {parent: Completeness.count(rows) for parent, rows in by_parent.items()},
        # above the district level: the districts to call first (workbook missing, edited, partial), each with
        # its communes; then every commune without valid figures
        "chase_parents": [p.to_dict() for p in result.completeness.chase_parents()],
        "chase_list": [s.to_dict() for s in result.completeness.chase_list()],
        "totals": {ind_id: num(frame["value"].iloc[0]) for ind_id, frame in top.items()},
        **({"approvals": list(collected.approvals.values())} if collected.approvals else {}),
    }


def export_schemas(catalogue: Catalogue, out: Path) -> list[Path]:
    """Write every element's schema as pandera YAML (`out/ELEMENT.yaml`), atomically; same catalogue, same bytes.

    Load one back with `import ctstat.pandera_checks` then `pandera.pandas.DataFrameSchema.from_yaml(path)`."""
    import yaml

    from ctstat.check.schema import schemas
    from ctstat.write.atomic import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for code, schema in schemas(catalogue).items():
        path = out / f"{code}.yaml"
        text = (
            f"# pandera schema of {code} (ctstat, catalogue {catalogue.version}); needs: import ctstat.pandera_checks\n"
        )
        with atomic_write(path) as tmp:
            # pandera's YAML, re-dumped keeping Vietnamese legible (pandera escapes non-ASCII)
            doc = yaml.safe_load(schema.to_yaml() or "")
            Path(tmp).write_text(text + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class ValidCells:
    """The cells of one valid unit in one period, as a rollup would take them (for the history)."""

    unit: str
    period: str
    vintage: str
    sha256: str  #: of the file they come from (a ward form or a rollup workbook)
    kind: str  #: "form" or "rollup"
    path: str
    values: pd.Series  #: cell key -> value (NaN: blank)


def valid_cells(
    paths: Iterable[str | Path], catalogue: Catalogue | None = None, jobs: int = 1
) -> tuple[Report, list[ValidCells]]:
    """Read ward forms and rollup workbooks of any period with the checks a rollup applies (a workbook's data
    sheet digest-checked, each of its rows judged like a ward file) and return the cells of every valid unit."""
    import pandas as pd

    catalogue = catalogue or load_catalogue()
    files = find_files(paths)
    if not files:
        raise UsageError(
            "no workbook (.xlsx, .xlsm, .xls, .ods) found",
            message_vi="không tìm thấy tệp bảng tính nào (.xlsx, .xlsm, .xls, .ods)",
        )
    _, report, frame, books = _judge(read_checked(files, catalogue, None, None, jobs), catalogue, None, None)
    out = []
    for i, rep in enumerate(report.files):
        if rep.valid and rep.unit and rep.period and rep.vintage and i in frame.index:
            values = pd.Series(frame.loc[i].to_numpy(dtype=float), index=frame.columns)
            out.append(ValidCells(rep.unit, rep.period, rep.vintage, rep.sha256 or "", "form", rep.path, values))
    for judged in books:
        report.files.append(judged.report)
        rep = judged.report
        for unit, values in judged.values.items():
            if rep.period and rep.vintage:
                out.append(ValidCells(unit, rep.period, rep.vintage, rep.sha256 or "", "rollup", rep.path, values))
    return report, out
