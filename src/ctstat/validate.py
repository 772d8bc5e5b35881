"""Judge a batch of read submissions against the catalogue and the unit hierarchy: Submissions -> Report."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from ctstat.catalogue import Catalogue
from ctstat.cells import FileCheck, display_value, fmt_number
from ctstat.layout import COVER, COVER_BY_KEY, a1, form_layout
from ctstat.messages import make_issue
from ctstat.period import Period
from ctstat.report import FileReport, Issue, Report, Severity
from ctstat.schema import CheckSpec, build_schema, rule_severity
from ctstat.workbook import Submission


def run_schema(
    frame: pd.DataFrame, subs: Sequence[Submission], reports: Sequence[FileReport], catalogue: Catalogue
) -> None:
    """One lazy pandera call over the whole batch; failures become issues at their cells."""
    import pandera.pandas as pa

    schema, specs = _schema(catalogue)
    try:
        schema.validate(frame, lazy=True)
        return
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    cases = cases[cases["index"].notna()]
    seen: set[tuple[str, int]] = set()
    columns = (cases["check"], cases["column"], cases["index"], cases["failure_case"])
    for check, column, index, value in zip(*columns, strict=True):
        i = int(index)
        spec = specs.get(check)
        if spec is None:  # a column check: the check name is the issue code
            sub, rep = subs[i], reports[i]
            sheet, cell = sub.address(form_layout(catalogue), column)
            rep.issues.append(
                make_issue(
                    str(check), path=sub.path, sheet=sheet, cell=cell, value=display_value(value), element=column
                )
            )
            continue
        if (check, i) in seen:
            continue
        seen.add((check, i))
        reports[i].issues.append(_spec_issue(spec, frame.iloc[i], subs[i], catalogue))


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


def warm_up(catalogue: Catalogue) -> None:
    """Load pandera and build the catalogue's schema ahead of the first batch (the CLI does it while reading)."""
    _schema(catalogue)


@cache
def _schema(catalogue: Catalogue) -> tuple[Any, dict[str, CheckSpec]]:
    return build_schema(catalogue)


def _spec_issue(spec: CheckSpec, row: pd.Series, sub: Submission, catalogue: Catalogue) -> Issue:
    layout = form_layout(catalogue)
    sheet, cell = sub.address(layout, spec.at)
    value = row[spec.at]
    if spec.kind == "sum":
        return make_issue(
            "sum-mismatch",
            path=sub.path,
            sheet=sheet,
            cell=cell,
            value=display_value(value),
            expected=fmt_number(row[list(spec.parts)].sum()),
            detail=spec.label_vi,
            detail_en=spec.label_en,
            element=spec.at,
        )
    if spec.kind == "overlap":
        parts = row[list(spec.parts)]
        issue = make_issue(
            "overlap-bounds",
            path=sub.path,
            sheet=sheet,
            cell=cell,
            value=display_value(value),
            low=fmt_number(parts.max()),
            high=fmt_number(parts.sum()),
            detail=f"({spec.label_vi})",
            detail_en=f"({spec.label_en})",
            element=spec.at,
        )
        return issue
    rule = spec.rule
    assert rule is not None
    rhs_value = row[spec.rhs] if isinstance(spec.rhs, str) else spec.rhs
    lhs_s, rhs_s = fmt_number(value), fmt_number(float(rhs_value))  # type: ignore[arg-type]
    where_vi = where_en = ""
    if isinstance(spec.rhs, str):
        rs, rc = sub.address(layout, spec.rhs)
        where_vi, where_en = f" [so với ô {rs}!{rc}]", f" [compared with {rs}!{rc}]"
    return Issue(
        code=rule.code,
        severity=rule_severity(spec),
        text_vi=rule.message_vi.format(lhs=lhs_s, rhs=rhs_s) + where_vi,
        text_en=rule.message_en.format(lhs=lhs_s, rhs=rhs_s) + where_en,
        path=sub.path,
        sheet=sheet,
        cell=cell,
        value=display_value(value),
        element=spec.at,
    )


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
    groups: dict[tuple[str, str], list[FileReport]] = defaultdict(list)
    for rep in reports:
        if rep.unit and rep.period:
            groups[(rep.unit, rep.period)].append(rep)
    for (unit, period), reps in groups.items():
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


def _issue_order(catalogue: Catalogue) -> Any:
    sheet_order = {COVER: 0, **{s.name: i + 1 for i, s in enumerate(catalogue.sheets)}}

    def key(issue: Issue) -> tuple[Any, ...]:
        row, col = 0, 0
        if issue.cell:
            m = re.match(r"([A-Z]+)(\d+)", issue.cell)
            if m:
                row = int(m.group(2))
                col = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(m.group(1))))
        return (issue.sheet is not None, sheet_order.get(issue.sheet or "", 99), row, col, issue.code)

    return key


def severity_counts(issues: Sequence[Issue]) -> tuple[int, int]:
    return (sum(i.severity is Severity.ERROR for i in issues), sum(i.severity is Severity.WARNING for i in issues))
