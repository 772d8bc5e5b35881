"""The checks of one file, before any comparison across cells: the cover sheet and each cell's value.

Run in the reading workers (contain.py), in parallel, so the batch stage only has the pandera call and the checks
across files left. Needs numpy and the unit lists, never pandas or pandera.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import replace
from functools import cache, lru_cache
from typing import Any

import numpy as np

from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError, processing
from ctstat.model.keys import a1, element_of
from ctstat.model.layout import COVER, COVER_BY_KEY, form_layout
from ctstat.model.messages import FORMULA_DELETED, make_issue
from ctstat.model.period import VINTAGES, Period, vintage_for
from ctstat.model.report import FileReport, Issue, Said, Severity
from ctstat.model.units import LEVEL_VI, level_of, load_units, looks_legacy_encoded, name_key, normalise_code
from ctstat.model.vocab import NO_WORDS, YES_WORDS
from ctstat.read.workbook import Submission

_THOUSANDS = re.compile(r"^\d{1,3}([.\s]\d{3})+$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d+$")
_EXACT = 2.0**53  #: beyond this a float no longer holds every whole number: not a count anyone typed


def fmt_number(v: float) -> Said:
    """Vietnamese style, 1.234.567 and 12,5, with the English writing beside (1,234,567 and 12.5)."""
    if float(v).is_integer():
        return Said(f"{int(v):,}".replace(",", "."), f"{int(v):,}")
    text = repr(float(v))  # as typed: every digit, none invented
    if "e" in text or "n" in text:  # 1e-20, inf, nan
        return Said(text, text)
    whole, _, frac = text.partition(".")
    sign, digits = ("-", whole[1:]) if whole.startswith("-") else ("", whole)
    return Said(f"{sign}{int(digits):,}".replace(",", ".") + "," + frac, f"{sign}{int(digits):,}.{frac}")


def decimal_hint(v: float) -> tuple[str, str]:
    """A number with exactly three decimals (1.158) may be 1158 typed where a dot is the decimal point."""
    text = repr(float(v))
    if re.match(r"^-?[1-9]\d{0,2}\.\d{3}$", text):
        n = int(text.replace(".", ""))
        return (
            f" Có thể là số {n} (dấu chấm ngăn cách hàng nghìn bị máy hiểu là dấu thập phân).",
            f" It may mean {n:,} (a dot separating thousands, taken as a decimal point).",
        )
    return "", ""


def text_hint(text: str) -> tuple[str, str]:
    """What a number typed as text may mean, in Vietnamese and English (never applied silently)."""
    t = unicodedata.normalize("NFC", text).strip()
    if len(t) > 24:  # no count anyone types is that long: no hint
        return "", ""
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


class Cover:
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

        found = _stripped(cov.get("template_version"))
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
        vintage = self._vintage(period, _stripped(cov.get("vintage")), issues, at("vintage"))
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
        code = (
            None
            if isinstance(raw, str) and text.isdigit() and level_of(text) != "commune"
            else normalise_code(raw, "commune")
        )
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


def _stripped(v: Any) -> Any:
    """A cover field as typed, without the spaces around it (a space typed before the form version or the unit list
    is not another version: the message would show two values that look the same)."""
    return (v.strip() or None) if isinstance(v, str) else v


def _yes_no(v: Any) -> float:
    """A yes/no cell's answer as 1 or 0 (NaN: neither word)."""
    word = unicodedata.normalize("NFC", str(v)).strip().casefold()
    return 1.0 if word in YES_WORDS else 0.0 if word in NO_WORDS else math.nan


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

    for j, v in enumerate(sub.raw):
        if type(v) is float and not yesno[j] and -_EXACT <= v <= _EXACT:  # NaN and ±inf fail the comparison
            out[j] = v
            continue
        key = keys[j]
        if key in skip:
            continue
        if v is None and sub.formula_keys is not None and key in layout.formulas and key not in sub.formula_keys:
            flag("formula-overwritten", key, severity=Severity.ERROR)  # a total's formula deleted: restore it
            rep.issues[-1] = replace(rep.issues[-1], text_vi=FORMULA_DELETED[0], text_en=FORMULA_DELETED[1])
        elif v is None:
            flag("blank-value", key)
        elif yesno[j] and sub.format == "rollup-row" and v in (0.0, 1.0):
            out[j] = float(v)  # a district workbook's data sheet holds yes/no as 1/0
        elif yesno[j]:
            out[j] = _yes_no(v)
            if math.isnan(out[j]):
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
                typed = sub.raw[index[key]]
                if math.isnan(out[index[key]]):  # text typed over a total: one error, restoring the formula fixes it
                    rep.issues[:] = [i for i in rep.issues if i.element != key]
                    vi, en = text_hint(typed) if isinstance(typed, str) else ("", "")
                    flag(
                        "formula-overwritten",
                        key,
                        severity=Severity.ERROR,
                        value=typed,
                        detail=f" Đó không phải là một số{vi}.",
                        detail_en=f" That is not a number{en}.",
                    )
                    continue
                flag("formula-overwritten", key, value=display_value(sub.raw[index[key]]))
    if sub.nocache_keys:
        _compute_totals(sub, catalogue, out, rep)
    return out


def _compute_totals(sub: Submission, catalogue: Catalogue, out: np.ndarray, rep: FileReport) -> None:
    """The totals a program that does not calculate left without a value, computed as a spreadsheet would (the
    form's formulas: SUMs of known cells, where text and blanks count for nothing), so every check runs on the
    first pass; said once for the file, at its first such total."""
    missing = sub.nocache_keys - sub.unavailable
    computed = 0
    for key, j, parts in _formula_order(catalogue):
        if key in missing:
            out[j] = float(np.nansum(out[parts]))
            computed += 1
    if not computed:
        return
    layout = form_layout(catalogue)
    first = next(k for k in layout.formulas if k in missing)
    sheet, cell = sub.address(layout, first)
    if computed == 1:
        vi, en = "Ô công thức này", "This formula cell has"
    else:
        vi = f"{computed} ô công thức (ô tổng) của tệp, từ ô này,"
        en = f"{computed} formula cells (totals) of the file, from this one on, have"
    rep.issues.append(
        make_issue("formula-no-cache", path=sub.path, sheet=sheet, cell=cell, element=first, detail=vi, detail_en=en)
    )


# Catalogues hash by identity, so these caches hold one entry per catalogue loaded (and keep it alive).


@cache
def _index(catalogue: Catalogue) -> dict[str, int]:
    return {k: i for i, k in enumerate(form_layout(catalogue).keys)}


@cache
def _formula_order(catalogue: Catalogue) -> list[tuple[str, int, list[int]]]:
    """The form's totals, each after the totals it sums: (key, its position, its parts' positions)."""
    formulas, index = form_layout(catalogue).formulas, _index(catalogue)
    done: dict[str, None] = {}

    def visit(key: str) -> None:
        if key not in done:
            for part in formulas[key]:
                if part in formulas:
                    visit(part)
            done[key] = None

    for key in formulas:
        visit(key)
    return [(k, index[k], [index[p] for p in formulas[k]]) for k in done]


@cache
def _yesno_mask(catalogue: Catalogue) -> list[bool]:
    return [catalogue.elements[element_of(k)].type == "yesno" for k in form_layout(catalogue).keys]


def display_value(v: Any) -> Any:
    return fmt_number(v) if isinstance(v, float) and not math.isnan(v) else v


class FileCheck:
    """The per-file checks for one batch's options: `check(sub)` -> (its report, its cleaned values or None)."""

    def __init__(self, catalogue: Catalogue, period: Period | None, units: str | None) -> None:
        if period is not None and units is not None:
            vintage_for(period, units)  # raises UsageError if the list was not in force
        elif units is not None and units not in VINTAGES:
            raise UsageError(f"unknown unit list {units!r}", message_vi=f"không có danh mục đơn vị {units!r}")
        self.catalogue = catalogue
        self.cover = Cover(catalogue, period, units)

    def apply(self, sub: Submission) -> None:
        """Check a submission just read, in place (in the reading worker): its report and values, and for a district
        workbook each commune's data row, checked like a ward file."""
        sub.checked = self(sub)
        if sub.book is not None:
            check_rows(sub, self)

    def __call__(self, sub: Submission) -> tuple[FileReport, np.ndarray | None]:
        rep = FileReport(path=sub.path, sha256=sub.sha256 or None, issues=list(sub.issues))
        if sub.book is not None and not rep.issues:  # judged by validate.judge_book where a workbook may come
            detail = "đây là tệp tổng hợp, chỉ dùng làm đầu vào của ctstat rollup"
            rep.issues.append(make_issue("not-a-form", path=sub.path, detail=detail))
        if not sub.readable:
            return rep, None
        processing["file"] = sub.path
        self.cover.check(sub, rep)
        values = clean_values(sub, self.catalogue, rep)
        processing["file"] = None
        return rep, values


def check_rows(sub: Submission, check: FileCheck) -> None:
    """The per-file checks of each data row of a district workbook, located on the data sheet."""
    from ctstat.read.rollup_book import relocate

    assert sub.book is not None
    for row in sub.book.rows:
        if row.checked is None:
            rep, values = check(row)
            rep.issues = relocate(rep.issues, sub.book.claimed[row.cover["unit_code"]][1])
            row.checked = (rep, values)
