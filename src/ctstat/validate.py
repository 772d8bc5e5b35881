"""Judge a batch of read submissions against the catalogue and the unit hierarchy: Submissions -> Report."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ctstat.catalogue import Catalogue
from ctstat.errors import UsageError, processing
from ctstat.layout import COVER, COVER_BY_KEY, a1, form_layout
from ctstat.messages import make_issue
from ctstat.period import Period, vintage_for
from ctstat.report import FileReport, Issue, Report, Severity
from ctstat.schema import CheckSpec, build_schema, rule_severity
from ctstat.units import LEVEL_VI, load_units, looks_legacy_encoded, name_key, normalise_code
from ctstat.workbook import Submission

_THOUSANDS = re.compile(r"^\d{1,3}([.\s]\d{3})+$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d+$")
_EXACT = 2.0**53  #: beyond this a float no longer holds every whole number: not a count anyone typed
_YES = {"có", "co", "yes", "x"}
_NO = {"không", "khong", "no"}


def fmt_number(v: float) -> str:
    """Vietnamese style: 1.234.567 and 12,5."""
    if float(v).is_integer():
        return f"{int(v):,}".replace(",", ".")
    return f"{v:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def text_hint(text: str) -> tuple[str, str]:
    """What a number typed as text may mean, in Vietnamese and English (never applied silently)."""
    t = unicodedata.normalize("NFC", text).strip()
    if _THOUSANDS.match(t):
        n = int(re.sub(r"[.\s]", "", t))
        return (
            f"; có thể là số {n} (dấu chấm ngăn cách hàng nghìn)",
            f"; it may mean {n:,} (a dot separating thousands)",
        )
    if re.match(r"^-?\d+$", t):
        return f"; đây là số {t} được lưu dạng chữ", f"; the number {t} is stored as text"
    if _DECIMAL_COMMA.match(t):
        return f"; có thể là {t} (dấu phẩy thập phân)", f"; it may mean {t.replace(',', '.')} (decimal comma)"
    return "", ""


_name_key = lru_cache(maxsize=32768)(name_key)  #: a batch meets each unit's name at least twice


class _Cover:
    """Checks of the cover sheet: version, unit, period, vintage."""

    def __init__(self, catalogue: Catalogue, period: Period | None, units: str | None) -> None:
        self.catalogue = catalogue
        self.period = period
        self.units = units

    def check(self, sub: Submission, rep: FileReport) -> None:
        cov = sub.cover
        issues = rep.issues

        def at(key: str) -> dict[str, Any]:
            f = COVER_BY_KEY[key]
            return {"path": sub.path, "sheet": COVER, "cell": a1(f.row, f.col)}

        found = cov.get("template_version")
        if found != self.catalogue.template_version:
            issues.append(
                make_issue(
                    "template-version",
                    value=found or "?",
                    expected=self.catalogue.template_version,
                    **at("template_version"),
                )
            )
        period = None
        try:
            period = Period.parse(cov.get("period"))
            rep.period = str(period)
        except ValueError:
            issues.append(make_issue("bad-period", value=cov.get("period") or "", **at("period")))
        if period and self.period and period != self.period:
            issues.append(make_issue("wrong-period", value=str(period), expected=str(self.period), **at("period")))
        vintage = self._vintage(period, cov.get("vintage"), issues, at("vintage"))
        rep.vintage = vintage
        if vintage:
            self._unit(cov, vintage, rep, at)

    def _vintage(self, period: Period | None, found: Any, issues: list[Issue], where: dict[str, Any]) -> str | None:
        if period is None:
            return None
        allowed = period.vintages()
        if self.units is not None:
            expected = self.units
        elif len(allowed) == 1:
            expected = allowed[0]
        elif found in allowed:
            return str(found)  # a period spanning a reform: the form itself names the list it was made for
        else:
            expected = " hoặc ".join(allowed)
        if found != expected:
            # the code means a different unit in each list: do not judge it against a list it was not made for
            issues.append(
                make_issue("wrong-vintage", value=found or "", expected=expected, period=str(period), **where)
            )
            return None
        return expected

    def _unit(self, cov: dict[str, Any], vintage: str, rep: FileReport, at: Any) -> None:
        raw = cov.get("unit_code")
        if raw is None:
            rep.issues.append(make_issue("missing-unit", **at("unit_code")))
            return
        h = load_units(vintage)
        text = str(raw).strip()
        # a code typed as text keeps its width (008 is a district); a number lost its leading zeros (301 -> 00301)
        code = None if isinstance(raw, str) and text.isdigit() and len(text) != 5 else normalise_code(raw, "commune")
        unit = h.get(code) if code else None
        if unit is None:
            other = h.find_any_level(text)
            if other is not None:
                rep.issues.append(
                    make_issue(
                        "not-a-commune", value=raw, level=LEVEL_VI[other.level], name=other.name, **at("unit_code")
                    )
                )
            else:
                rep.issues.append(make_issue("unknown-unit", value=raw, vintage=vintage, **at("unit_code")))
            return
        rep.unit, rep.unit_name = unit.code, unit.name
        typed = cov.get("unit_name")
        if isinstance(typed, str) and typed.strip():
            t_type, t_key, _ = _name_key(typed) if len(typed) <= 200 else (None, "", "")
            u_type, u_key, _ = _name_key(unit.name)
            if looks_legacy_encoded(typed) or t_key != u_key or (t_type and t_type != u_type):
                rep.issues.append(
                    make_issue(
                        "unit-name-mismatch", value=typed, unit=unit.code, expected=h.path(unit), **at("unit_name")
                    )
                )


def clean_values(sub: Submission, catalogue: Catalogue, rep: FileReport) -> np.ndarray:
    """Raw cells -> floats (NaN where blank, unreadable or not to be judged), reporting each cell problem."""
    layout = form_layout(catalogue)
    keys = layout.keys
    out = np.full(len(keys), np.nan)
    yesno = _yesno_mask(catalogue)
    skip = sub.unavailable | sub.nocache_keys

    def flag(code: str, key: str, **fields: Any) -> None:
        sheet, cell = sub.address(layout, key)
        rep.issues.append(make_issue(code, path=sub.path, sheet=sheet, cell=cell, element=key, **fields))

    for key in sub.nocache_keys:
        flag("formula-no-cache", key)
    for j, v in enumerate(sub.raw):
        if type(v) is float and not yesno[j] and -_EXACT <= v <= _EXACT:  # NaN and ±inf fail the comparison
            out[j] = v
            continue
        key = keys[j]
        if key in skip:
            continue
        if v is None:
            flag("blank-value", key)
        elif yesno[j]:
            word = unicodedata.normalize("NFC", str(v)).strip().casefold()
            if word in _YES:
                out[j] = 1.0
            elif word in _NO:
                out[j] = 0.0
            else:
                flag("not-yes-no", key, value=v)
        elif isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool) and abs(v) > _EXACT):
            flag("not-a-number", key, value=repr(v) if isinstance(v, float) and not math.isfinite(v) else v)
        elif isinstance(v, int) and not isinstance(v, bool):
            out[j] = float(v)
        else:
            text = str(v) if not isinstance(v, bool) else ("TRUE" if v else "FALSE")
            vi, en = text_hint(text) if isinstance(v, str) else ("", "")
            flag("text-in-number", key, value=text, detail=vi, detail_en=en)
    if sub.formula_keys is not None:
        index = _index(catalogue)
        for key in layout.formulas:
            if key not in sub.formula_keys and key not in skip and sub.raw[index[key]] is not None:
                flag("formula-overwritten", key, value=_display(sub.raw[index[key]]))
    return out


# Catalogues hash by identity, so these caches hold one entry per catalogue loaded (and keep it alive).


@cache
def _index(catalogue: Catalogue) -> dict[str, int]:
    return {k: i for i, k in enumerate(form_layout(catalogue).keys)}


@cache
def _yesno_mask(catalogue: Catalogue) -> list[bool]:
    return [catalogue.elements[k.split("/", 1)[0]].type == "yesno" for k in form_layout(catalogue).keys]


def _display(v: Any) -> Any:
    return fmt_number(v) if isinstance(v, float) and not math.isnan(v) else v


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
                make_issue(str(check), path=sub.path, sheet=sheet, cell=cell, value=_display(value), element=column)
            )
            continue
        if (check, i) in seen:
            continue
        seen.add((check, i))
        reports[i].issues.append(_spec_issue(spec, frame.iloc[i], subs[i], catalogue))


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
            value=_display(value),
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
            value=_display(value),
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
        value=_display(value),
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
    if period is not None and units is not None:
        vintage_for(period, units)  # raises UsageError if the list was not in force
    elif units is not None and units not in ("2025-06-30", "2025-07-01"):
        raise UsageError(f"unknown unit list {units!r}")
    keys = form_layout(catalogue).keys
    cover = _Cover(catalogue, period, units)
    reports = [FileReport(path=s.path, sha256=s.sha256 or None, issues=list(s.issues)) for s in subs]
    readable = [i for i, s in enumerate(subs) if s.readable]
    rows = np.full((len(readable), len(keys)), np.nan)
    for n, i in enumerate(readable):
        processing["file"] = subs[i].path
        cover.check(subs[i], reports[i])
        rows[n] = clean_values(subs[i], catalogue, reports[i])
    processing["file"] = None
    frame = pd.DataFrame(rows, columns=keys)
    if readable:
        run_schema(frame, [subs[i] for i in readable], [reports[i] for i in readable], catalogue)
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
