"""Judge a batch of read submissions against the catalogue and the unit hierarchy: Submissions -> Report."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ctstat.check.compare import compare, holds
from ctstat.check.file_checks import FileCheck, decimal_hint, display_value, fmt_number
from ctstat.check.schema import CheckSpec, batch_checks, rule_severity
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.keys import TOTAL, a1, parse_a1, split_column, split_key
from ctstat.model.layout import COVER, COVER_BY_KEY, form_layout
from ctstat.model.messages import OVERLAP_PART, make_issue
from ctstat.model.period import Period
from ctstat.model.report import Claim, FileReport, Issue, Report, Said, Severity, english
from ctstat.model.sheets import PERIOD_LABEL, TEMPLATE_LABEL, UNIT_LABEL, VINTAGE_LABEL
from ctstat.read.submission import RollupBook
from ctstat.read.workbook import Submission


def run_schema(
    frame: pd.DataFrame, subs: Sequence[Submission], reports: Sequence[FileReport], catalogue: Catalogue
) -> None:
    """One lazy pandera call over the whole batch (`schema.batch_checks`: every element's checks, merged); each
    failure case is one fault, at its cell.

    A wrong value is reported once, at the cell typed: the totals computed from it and the checks that compare
    them are consequences, named in that cell's issue instead of reported one by one."""
    import pandera.pandas as pa

    run = batch_checks(catalogue)
    cells: dict[int, dict[str, tuple[str, Any]]] = {}  # row -> cell -> (code, value) of cell checks
    frames: dict[int, list[CheckSpec]] = {}  # row -> failed frame checks
    # floats, every cell a column; cell keys as plain objects (pandas' default strings are Arrow arrays, slow to
    # look up one by one)
    block = pd.DataFrame(frame.to_numpy(dtype=float), index=frame.index, columns=pd.Index(frame.columns, dtype=object))
    try:
        run.checks.validate(block, lazy=True)
        cases = None
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    if cases is not None:
        if cases["index"].isna().any():  # a check that could not run is a bug of ctstat, never a data fault
            raise RuntimeError(f"batch checks: {cases[cases['index'].isna()].to_dict('records')}")
        # one failure case per check and failing row: {cell key: value} of the cells it fails at
        for number, index, failed in zip(cases["check_number"], cases["index"], cases["failure_case"], strict=True):
            meaning = run.meanings[int(number)]
            if isinstance(meaning, str):
                cells.setdefault(int(index), {}).update((str(k), (meaning, v)) for k, v in failed.items())
            else:
                frames.setdefault(int(index), []).extend(meaning[str(k)] for k in failed)
    form = _Form(catalogue, form_layout(catalogue), *_graph(catalogue))
    for i in sorted(cells.keys() | frames.keys()):
        specs = sorted(frames.get(i, []), key=lambda spec: run.order[spec.name])
        _fold(subs[i], reports[i], cells.get(i, {}), specs, frame.iloc[i], form)


#: cell problems found before the schema runs (`cells.clean_values`): the cell is blank in the frame, and the
#: spreadsheet computed its totals without it, so a check reading the cell or those totals cannot be judged
CELL_ERRORS = frozenset({"blank-value", "text-in-number", "not-a-number", "not-yes-no"})
#: what is wrong with a number typed over a total, besides the formula being gone
_TYPED_REASON = {
    "negative-value": ("Số đã gõ còn là số âm.", "The typed number is also negative."),
    "not-integer": ("Số đã gõ còn có phần thập phân.", "The typed number also has a fraction."),
}


def _at_cell(code: str, sub: Submission, at: tuple[str, str], value: Any, **fields: Any) -> Issue:
    """An issue at a cell of the file (sheet, A1), with its value as the reader typed it."""
    return make_issue(code, path=sub.path, sheet=at[0], cell=at[1], value=display_value(value), **fields)


@dataclass(frozen=True)
class _Form:
    """What folding a batch's failures needs of the form: the catalogue, its layout, and which totals each cell
    feeds directly (`up`) and at all (`below`)."""

    catalogue: Catalogue
    layout: Any
    up: dict[str, frozenset[str]]
    below: dict[str, frozenset[str]]


def _fold(
    sub: Submission,
    rep: FileReport,
    faulty: dict[str, tuple[str, Any]],
    specs: list[CheckSpec],
    row: pd.Series,
    form: _Form,
) -> None:
    """The issues of one file whose schema checks failed: each wrong cell once, naming the checks that fail only
    because of it (directly or through the totals computed from it), then every check no wrong cell explains."""
    layout = form.layout
    # totals typed over: no longer computed from their parts (what is computed from them still is)
    typed = {s.element: n for n, s in enumerate(rep.issues) if s.code == "formula-overwritten" and s.element}
    # cells already reported by the per-file checks (blank in the frame), and a total typed over with text
    prior = {
        s.element: n
        for n, s in enumerate(rep.issues)
        if s.element is not None
        and s.element in layout.positions
        and (s.code in CELL_ERRORS or (s.code == "formula-overwritten" and s.severity is Severity.ERROR))
    }
    reaches = {k: _reach(k, typed, form) for k in (*prior, *faulty)}
    derived = set().union(*(r - {k} for k, r in reaches.items()))
    roots = [k for k in faulty if k not in derived or k in typed]  # in form order (the schemas' order)
    knock: dict[str, list[str]] = {k: [] for k in (*prior, *roots)}
    for k in faulty:
        if k not in knock:  # a total wrong only because a part is: named at the parts that make it wrong
            by = [r for r in roots if k in reaches[r]] or [r for r in knock if k in reaches[r]]
            for r in by:
                knock[r].append(k)
    kept, under = _explained(specs, knock, reaches, form.below)
    where = partial(sub.address, layout)  # where the file has each cell (a moved row: where it moved to)
    kept = _fold_into_overwritten(rep, kept, form.below, where)
    for key, n in prior.items():
        rep.issues[n] = _also(rep.issues[n], knock[key], where)
    for key in roots:
        code, value = faulty[key]
        if key in typed:  # a total typed over with a wrong number: one error, restoring the formula fixes both
            n = typed[key]
            reason = _TYPED_REASON.get(code, ("", ""))
            rep.issues[n] = replace(_also(rep.issues[n], knock[key], where, reason), severity=Severity.ERROR)
            continue
        sheet, cell = sub.address(layout, key)
        vi, en = decimal_hint(float(value)) if code == "not-integer" else ("", "")
        issue = _at_cell(
            code,
            sub,
            (sheet, cell),
            value,
            value_en=_as_typed_en(value),
            element=key,
            detail=vi,
            detail_en=en,
        )
        rep.issues.append(_also(issue, knock[key], where))
    for spec in kept:
        issue = _spec_issue(spec, row, sub, form.catalogue)
        if under.get(id(spec)):
            more = ", ".join(_named(under[id(spec)], where, issue.sheet))
            issue = replace(
                issue,
                text_vi=f"{issue.text_vi} Lỗi này kéo theo ô tổng {more} (không báo riêng).",
                text_en=f"{issue.text_en} It also breaks the total {more} (not reported separately).",
            )
        rep.issues.append(issue)


def _reach(key: str, typed: dict[str, int], form: _Form) -> frozenset[str]:
    """`key` and every total computed from it, in this file (a typed-over total is computed from nothing)."""
    if not typed:
        return form.below.get(key, frozenset()) | {key}
    seen, todo = {key}, [k for k in form.up.get(key, ()) if k not in typed]
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo += [t for t in form.up.get(k, ()) if t not in typed]
    return frozenset(seen)


def _explained(
    specs: list[CheckSpec],
    knock: dict[str, list[str]],
    reaches: dict[str, frozenset[str]],
    below: dict[str, frozenset[str]],
) -> tuple[list[CheckSpec], dict[int, list[str]]]:
    """The checks no wrong cell explains (each with the totals folded with it), the others named at the wrong cells
    that explain them (in `knock`).

    A check failing at a total only because the same check fails at a part of that total (a rule broken in E30
    breaks it in D30 = E30 + F30; a group larger than the total in F14 makes D14 larger than D9) goes with the
    check at the part: said there, or folded with it into a wrong cell."""
    families: dict[tuple[str, str], list[int]] = {}
    for n, spec in enumerate(specs):
        families.setdefault(_family(spec), []).append(n)
    head: dict[int, int] = {}
    for family in families.values():
        for n in family:
            part = next((m for m in family if specs[n].at in below.get(specs[m].at, ())), None)
            if part is not None:
                head[n] = part
    for n in list(head):
        seen = {n}
        while head[n] in head and head[head[n]] not in seen:  # to the part at the bottom
            seen.add(head[n])
            head[n] = head[head[n]]
    kept: list[CheckSpec] = []
    under: dict[int, list[str]] = {}  # a kept check -> the totals folded with it
    explained: dict[int, list[str]] = {}  # a check folded into wrong cells -> those cells
    for n, spec in enumerate(specs):
        if n not in head:
            explained[n] = [r for r in knock if spec.cells & reaches[r]]
            if not explained[n]:
                kept.append(spec)
    for n, spec in enumerate(specs):
        if n in head:
            if explained[head[n]]:
                explained[n] = [r for r in knock if spec.cells & reaches[r]] or explained[head[n]]
            else:
                under.setdefault(id(specs[head[n]]), []).append(spec.at)
    for n, spec in enumerate(specs):
        for r in explained.get(n, ()):
            knock[r].append(spec.at)
    return kept, under


def _named(keys: Iterable[str], where: Callable[[str], tuple[str, str]], sheet: str | None) -> list[str]:
    """Cells as a reader finds them from an issue on `sheet`: where the file has them, by A1 on that sheet, with
    their sheet's name on another."""
    return list(dict.fromkeys(c if s == sheet else f"{s}!{c}" for s, c in map(where, dict.fromkeys(keys))))


def _also(
    issue: Issue, knocked: list[str], where: Callable[[str], tuple[str, str]], extra: tuple[str, str] = ("", "")
) -> Issue:
    """A wrong cell's issue, naming the cells it makes wrong too (`knocked`) and why (`extra`)."""
    shown = _named(knocked, where, issue.sheet)
    vi, en = extra
    if shown:
        more = ", ".join(shown[:8]) + (" ..." if len(shown) > 8 else "")
        vi += f" Ô này làm sai cả các ô {more}: sửa ô này trước (các ô đó không báo lỗi riêng)."
        en += f" It also makes {more} wrong: fix this cell first (those are not reported separately)."
    if not vi and not en:
        return issue
    return replace(issue, text_vi=f"{issue.text_vi} {vi.strip()}", text_en=f"{issue.text_en} {en.strip()}")


def _family(spec: CheckSpec) -> tuple[str, str]:
    """A check and its copies at other cells: one rule, or one kind of breakdown by one dimension."""
    return (spec.kind, spec.rule.code if spec.rule is not None else spec.name.rsplit(":", 1)[1])


def _fold_into_overwritten(
    rep: FileReport, kept: list[CheckSpec], below: dict[str, frozenset[str]], where: Callable[[str], tuple[str, str]]
) -> list[CheckSpec]:
    """A total typed over its formula that breaks the checks on it: one error, at that total (the formula
    restored is the fix), instead of a warning plus one error per breakdown."""
    for n, issue in enumerate(rep.issues):
        if issue.code != "formula-overwritten" or not issue.element:
            continue
        reach = {issue.element} | below.get(issue.element, frozenset())
        broken = [s for s in kept if s.cells & reach]
        if not broken:
            continue
        kept = [s for s in kept if s not in broken]
        at = ", ".join(_named((s.at for s in broken), where, issue.sheet))
        rep.issues[n] = replace(
            issue,
            severity=Severity.ERROR,
            text_vi=f"{issue.text_vi} Số đã gõ không khớp các phần nên làm sai kiểm tra ở ô {at}; khôi phục "
            "công thức là hết lỗi.",
            text_en=f"{issue.text_en} The typed number does not match the parts, which breaks the checks at "
            f"{at}; restoring the formula fixes them.",
        )
    return kept


def _as_typed_en(value: Any) -> Any:
    """A number as an English reader writes it: 1.158, 1158, -5 (the Vietnamese text has 1,158 and 1.158)."""
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


@cache
def _graph(catalogue: Catalogue) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Cell -> the formula cells of the form computed directly from it, and -> every formula cell computed from
    it (directly or through other totals)."""
    layout = form_layout(catalogue)
    up: dict[str, set[str]] = {}
    for total, parts in layout.formulas.items():
        for part in parts:
            up.setdefault(part, set()).add(total)
    out: dict[str, frozenset[str]] = {}
    for key in layout.keys:
        seen: set[str] = set()
        todo = list(up.get(key, ()))
        while todo:
            k = todo.pop()
            if k not in seen:
                seen.add(k)
                todo += up.get(k, ())
        if seen:
            out[key] = frozenset(seen)
    return {k: frozenset(v) for k, v in up.items()}, out


def judge_ahead(subs: Sequence[Submission], catalogue: Catalogue) -> None:
    """Run the schema over files whose per-file checks are done (`Submission.checked`), ahead of the batch:
    the checks are row by row, so a batch judged in parts gets the same issues. `validate_batch` skips them."""
    ready = [s for s in subs if s.checked is not None and s.checked[1] is not None and not s.judged]
    if not ready:
        return
    frame = pd.DataFrame(np.vstack([s.checked[1] for s in ready]), columns=form_layout(catalogue).keys)
    run_schema(frame, ready, [s.checked[0] for s in ready], catalogue)
    for s in ready:
        s.judged = True


def warm_up(catalogue: Catalogue, judge: bool = False) -> None:
    """Load pandera and build the catalogue's checks ahead of the first batch. With `judge` (the input stage, while
    its workers read), also run them once over no form, made as `validate_batch` makes its frame: that loads
    pandera's backends and pandas' Arrow strings, which, loaded after a national batch was read, were a burst of
    imports over a heap holding every form read, and the full collection it set off walked them all (0.15 s
    after 2,000 files). The portal's start does not: run there, before it forks its workers and freezes what it
    loaded, each upload then cost its server 0.2 ms more of CPU (measured, `bench/serve.py`; the cause not
    found); its first batch runs it, as it always did."""
    batch_checks(catalogue)
    if judge:
        _judged_once(catalogue)


@cache
def _judged_once(catalogue: Catalogue) -> None:
    keys = form_layout(catalogue).keys
    run_schema(pd.DataFrame(np.empty((0, len(keys))), columns=keys), [], [], catalogue)


def _spec_issue(spec: CheckSpec, row: pd.Series, sub: Submission, catalogue: Catalogue) -> Issue:
    layout = form_layout(catalogue)
    sheet, cell = sub.address(layout, spec.at)
    value = row[spec.at]
    if spec.kind == "sum":
        return _at_cell(
            "sum-mismatch",
            sub,
            (sheet, cell),
            value,
            expected=fmt_number(row[list(spec.parts)].sum()),
            detail=spec.label_vi,
            detail_en=spec.label_en,
            element=spec.at,
        )
    if spec.kind == "overlap":
        return _overlap_issue(spec, row, sub, layout)
    return _rule_issue(spec, row, sub, catalogue)


def _overlap_issue(spec: CheckSpec, row: pd.Series, sub: Submission, layout: Any) -> Issue:
    """Groups of a total larger than it: said at the one group too large, else at the total."""
    sheet, cell = sub.address(layout, spec.at)
    value = row[spec.at]
    parts = row[list(spec.parts)].astype(float)
    over = [p for p in spec.parts if not compare("<=", parts[p], value)]  # the groups larger than the total
    if len(over) == 1:  # one group larger than its total: said at the group, naming the total
        (part,) = over
        psheet, pcell = sub.address(layout, part)
        vi, en = OVERLAP_PART
        fields = {
            "value": display_value(parts[part]),
            "total": cell if sheet == psheet else f"{sheet}!{cell}",
            "expected": fmt_number(value),
            "high": fmt_number(parts.sum()),
        }
        return Issue(
            code="overlap-bounds",
            severity=Severity.ERROR,
            text_vi=vi.format(**fields, detail=f"({spec.label_vi})"),
            text_en=en.format(**{**fields, "value": _as_typed_en(parts[part])}, detail=f"({spec.label_en})"),
            path=sub.path,
            sheet=psheet,
            cell=pcell,
            value=display_value(parts[part]),
            element=part,
        )
    largest = over or [str(parts.idxmax())]
    shown = [sub.address(layout, p)[1] + (f" = {fmt_number(parts[p])}" if over else "") for p in largest]
    return _at_cell(
        "overlap-bounds",
        sub,
        (sheet, cell),
        value,
        low=fmt_number(parts.max()),
        high=fmt_number(parts.sum()),
        largest=("các ô " if len(shown) > 1 else "ô ") + ", ".join(shown),
        largest_en=("cells " if len(shown) > 1 else "cell ") + ", ".join(shown),
        detail=f"({spec.label_vi})",
        detail_en=f"({spec.label_en})",
        element=spec.at,
    )


def _rule_issue(spec: CheckSpec, row: pd.Series, sub: Submission, catalogue: Catalogue) -> Issue:
    """A catalogue rule broken at a cell, with the cell's row and column in words and what it is compared with."""
    layout = form_layout(catalogue)
    sheet, cell = sub.address(layout, spec.at)
    value = row[spec.at]
    rule = spec.rule
    assert rule is not None
    rhs_value = row[spec.rhs] if isinstance(spec.rhs, str) else spec.rhs
    lhs_s, rhs_s = fmt_number(value), fmt_number(float(rhs_value))  # type: ignore[arg-type]
    group_vi, group_en = _cell_label(catalogue, spec.at)
    where_vi, where_en = f" [{group_vi}", f" [{group_en}"
    if isinstance(spec.rhs, str):
        rs, rc = sub.address(layout, spec.rhs)
        where_vi, where_en = f"{where_vi}; so với ô {rs}!{rc}", f"{where_en}; compared with {rs}!{rc}"
    where_vi, where_en = where_vi + "]", where_en + "]"
    return Issue(
        code=rule.code,
        severity=rule_severity(spec),
        text_vi=rule.message_vi.format(lhs=lhs_s, rhs=rhs_s) + where_vi,
        text_en=rule.message_en.format(lhs=english(lhs_s), rhs=english(rhs_s)) + where_en,
        path=sub.path,
        sheet=sheet,
        cell=cell,
        value=display_value(value),
        element=spec.at,
    )


def _cell_label(catalogue: Catalogue, key: str) -> tuple[str, str]:
    """Which row and column a cell is, in words: "d) Trẻ em khuyết tật, Nam" / "total, Male"."""
    code, row, col = split_key(key)
    el = catalogue.elements[code]
    labels = []
    for lang in ("vi", "en"):
        r = ("tổng số" if lang == "vi" else "total") if row == TOTAL else el.row_label(row, lang)
        if col == TOTAL:
            c = "tổng số" if lang == "vi" else "total"
        else:
            dim, cat = split_column(col)
            found = next(x for x in catalogue.dimensions[dim].categories if x.key == cat)
            c = found.vi if lang == "vi" else found.en
        labels.append(f"{code}: {'dòng' if lang == 'vi' else 'row'} {r}, {'cột' if lang == 'vi' else 'column'} {c}")
    return labels[0], labels[1]


def validate_submissions(
    subs: Sequence[Submission],
    catalogue: Catalogue,
    period: Period | None = None,
    units: str | None = None,
) -> Report:
    """Validate a batch: cover, cells, totals and rules for every file, and duplicates across files."""
    return validate_batch(subs, catalogue, period, units)[0]


def validate_batch(
    subs: Sequence[Submission],
    catalogue: Catalogue,
    period: Period | None = None,
    units: str | None = None,
    check_duplicates: bool = True,
) -> tuple[Report, pd.DataFrame]:
    """Like `validate_submissions`, also returning the cleaned values: one row per readable file (index: the
    file's position in `subs`), one column per form cell, NaN where a cell could not be taken as a number.

    `check_duplicates=False` leaves two files for one unit to the caller (the scheduled job keeps the later one
    as a resubmission)."""
    keys = form_layout(catalogue).keys
    check = FileCheck(catalogue, period, units)
    # the per-file checks ran in the reading workers when they could (Submission.checked); else here
    done = [s.checked if s.checked is not None else check(s) for s in subs]
    reports = [rep for rep, _ in done]
    readable = [i for i, (_, values) in enumerate(done) if values is not None]
    rows = np.full((len(readable), len(keys)), np.nan)
    for n, i in enumerate(readable):
        rows[n] = done[i][1]
    frame = pd.DataFrame(rows, columns=keys)
    todo = [n for n, i in enumerate(readable) if not subs[i].judged]  # judge_ahead may have done some already
    if todo:
        part = frame.iloc[todo].reset_index(drop=True) if len(todo) < len(readable) else frame
        run_schema(part, [subs[readable[n]] for n in todo], [reports[readable[n]] for n in todo], catalogue)
    if check_duplicates:
        _duplicates(reports)
    for rep in reports:
        rep.issues.sort(key=_issue_order(catalogue))
    frame.index = pd.Index(readable)
    report = Report(files=reports, catalogue_version=catalogue.version, template_version=catalogue.template_version)
    return report, frame


def _duplicates(reports: Sequence[FileReport]) -> None:
    """Two files for one unit and period are each a duplicate. A unit is its code in its unit list: the year 2025
    is reported on either list, where one code may be two units (00331 was Phường Thịnh Liệt, is Phường Hoàng
    Mai), so forms of the year made for each list are not duplicates of each other."""
    groups: dict[tuple[str, str, str | None], list[FileReport]] = defaultdict(list)
    for rep in reports:
        if rep.unit and rep.period:
            groups[(rep.unit, rep.period, rep.vintage)].append(rep)
    for (unit, period, _), reps in groups.items():
        if len(reps) > 1:
            for rep in reps:
                rep.issues.append(
                    make_issue(
                        "duplicate-unit",
                        path=rep.path,
                        unit=unit,
                        period=period,
                        detail=", ".join(r.path for r in reps),
                        sheet=COVER,
                        cell=a1(COVER_BY_KEY["unit_code"].row, 3),
                        value=unit,
                    )
                )


def in_order(rep: FileReport, catalogue: Catalogue) -> FileReport:
    """A copy of a report with its issues in the order `validate_batch` leaves them in (its last step): a report
    judged ahead (`judge_ahead`) as it will be, for a caller that acts on it before the batch ends."""
    return replace(rep, issues=sorted(rep.issues, key=_issue_order(catalogue)))


def _issue_order(catalogue: Catalogue) -> Any:
    sheet_order = {COVER: 0, **{s.name: i + 1 for i, s in enumerate(catalogue.sheets)}}

    def key(issue: Issue) -> tuple[Any, ...]:
        row, col = 0, 0
        if issue.cell:
            row, col = parse_a1(issue.cell) or (0, 0)
        return (issue.sheet is not None, sheet_order.get(issue.sheet or "", 99), row, col, issue.code)

    return key


@dataclass
class JudgedBook:
    """A district workbook judged as an input: its report, a claim per commune it lists, the valid cells."""

    report: FileReport
    claims: list[Claim] = field(default_factory=list)
    values: dict[str, pd.Series] = field(default_factory=dict)


def _book_problems(
    book: RollupBook, rep: FileReport, catalogue: Catalogue, period: Period | None, units: str | None
) -> list[str]:
    """Why a district workbook cannot be used at all (its period, unit list, form version, level, data sheet), in
    Vietnamese; its period and unit list noted on its report."""
    from ctstat.model.period import vintage_for
    from ctstat.read.rollup_book import DATA

    fields = book.fields
    problems = [book.problem] if book.problem else []
    found_period = str(fields.get(PERIOD_LABEL) or "").split(" ")[0]
    try:
        per = Period.parse(found_period)
        rep.period = str(per)
    except ValueError:
        per = None
        problems.append(f"kỳ báo cáo {found_period or '(trống)'} không đọc được")
    if per is not None and period is not None and per != period:
        problems.append(f"kỳ {per}, cần {period}")
    if per is not None:
        try:
            vintage = vintage_for(per, units)
        except UsageError:  # a list not in force for this period: said below
            vintage = None
        rep.vintage = vintage
        found = fields.get(VINTAGE_LABEL)
        if vintage is not None and found != vintage and found not in per.vintages():
            problems.append(f"danh mục đơn vị {found}, cần {vintage}")
        elif found in per.vintages():
            rep.vintage = str(found)
    form = fields.get(TEMPLATE_LABEL)
    if not book.problem and form != catalogue.template_version:
        problems.append(f"biểu mẫu phiên bản {form or '(không ghi)'}, cần {catalogue.template_version}")
    elif not book.problem and not book.level_ok:
        problems.append("chỉ dùng được tệp tổng hợp có số liệu từng xã (cấp huyện, hoặc cấp tỉnh từ 1/7/2025)")
    elif not book.problem and not book.header_ok:
        problems.append(f"trang '{DATA}' không có đủ các cột của biểu mẫu")
    return problems


def judge_book(
    sub: Submission, catalogue: Catalogue, period: Period | None, units: str | None, check: FileCheck | None = None
) -> JudgedBook:
    """Judge a district workbook (read by `rollupbook.read_book`) like the ward files it was made from: it must
    be of this period, unit list and form; each data row of a valid commune goes through `validate_batch`; its
    data sheet must match its digest, and its printed totals the sum of its rows. A commune whose row fails is
    claimed invalid, with the row's first problem."""
    from ctstat.check.file_checks import check_rows
    from ctstat.read.rollup_book import DATA

    book = sub.book
    assert book is not None
    rep = FileReport(path=sub.path, sha256=sub.sha256 or None, issues=list(sub.issues))
    out = JudgedBook(rep)
    rep.unit = str(book.fields.get(UNIT_LABEL) or "").split(" ")[0] or None
    problems = _book_problems(book, rep, catalogue, period, units)
    if problems:
        rep.issues.append(make_issue("rollup-mismatch", path=sub.path, detail="; ".join(problems)))
        return out
    if book.digest_ok is not True:
        detail = ("mã kiểm tra không khớp", "its digest does not match")
        if book.digest_ok is None:
            detail = ("không có mã kiểm tra", "it carries no digest")
        rep.issues.append(make_issue("rollup-edited", path=sub.path, sheet=DATA, detail=detail[0], detail_en=detail[1]))
    check = check or FileCheck(catalogue, period, units)
    check_rows(sub, check)
    rows, frame = validate_batch(book.rows, catalogue, period, units, check_duplicates=False)
    name = Path(sub.path).name
    edited = (
        Said(
            f"tệp tổng hợp {name} đã bị sửa sau khi ctstat ghi",
            f"the rollup workbook {name} was changed after ctstat wrote it",
        )
        if book.digest_ok is not True
        else ""
    )
    for i, row_rep in enumerate(rows.files):
        rep.issues.extend(row_rep.issues)
        unit = row_rep.unit or str(book.rows[i].cover["unit_code"])
        valid = row_rep.valid and not edited  # an edited data sheet lends none of its numbers
        out.claims.append(Claim(unit, sub.path, valid, "" if valid else edited or row_rep.problem_vi()))
        if valid and i in frame.index:
            out.values[unit] = pd.Series(frame.loc[i].to_numpy(dtype=float), index=frame.columns)
    listed = {str(r.cover["unit_code"]) for r in book.rows}
    for code, (status, _) in book.claimed.items():
        if code not in listed and status != "missing":
            out.claims.append(Claim(code, sub.path, False, f"không hợp lệ trong tệp tổng hợp {name}"))
    if book.digest_ok and len(frame):
        _printed_totals(sub, frame, catalogue, rep)
    rep.issues.sort(key=_issue_order(catalogue))
    return out


def _printed_totals(sub: Submission, frame: pd.DataFrame, catalogue: Catalogue, rep: FileReport) -> None:
    """The report sheets' printed totals against the sum of the data rows: each differing cell is one issue."""
    assert sub.book is not None
    layout = form_layout(catalogue)
    sums = frame.sum(min_count=1).to_numpy(dtype=float)
    for j, (key, printed) in enumerate(zip(layout.keys, sub.book.printed, strict=True)):
        want = sums[j]
        got = printed if isinstance(printed, (int, float)) and not isinstance(printed, bool) else None
        if got is None and np.isnan(want):
            continue
        if got is not None and not np.isnan(want) and holds("==", float(got), want):
            continue
        sheet, cell = layout.address(key)
        rep.issues.append(
            _at_cell(
                "rollup-totals",
                sub,
                (sheet, cell),
                printed if printed is not None else "",
                expected=fmt_number(want) if not np.isnan(want) else "",
                element=key,
            )
        )
