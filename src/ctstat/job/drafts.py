"""Drafts: a ward's report typed in the portal, kept in the job's ledger per ward and period as it is typed.

A draft holds what was typed in each input cell of the form (never a total: those are computed), as text the
form writer turns back into a workbook: a whole number ('1234'), 'Có' or 'Không'; a blank cell is absent (blank
is not zero). Every save that changes something makes a new version and records its changes (`draft_changes`),
so a save made from a page opened at an older version (another device saved since) is merged field by field:
- a field this page did not change keeps the newer value saved elsewhere (the page is told it was updated);
- a field both changed, to different values, is a conflict: nothing of that save is stored, and the page is told
  each such field with the value saved elsewhere (what was typed stays on the page, to save again).

Typed text is judged before anything is stored (`parse_typed`): only the digits 0-9 make a number; "1.234",
"1,234", "1 234", "12a", "-5", "2,5" and numbers past the form's own limit are refused with a message for the
field, and a save with any refused field stores nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ctstat.job.ledger import Ledger

YES, NO = "Có", "Không"
MAX_NUMBER = 10**13  #: the largest number the form's own data validation lets a ward type
MAX_TEXT = 40  #: characters of a field looked at (longer is refused outright)
_DIGITS = re.compile(r"[0-9]+")
_GROUPED = re.compile(r"[0-9]{1,3}([., ][0-9]{3})+")
_DECIMAL = re.compile(r"-?[0-9]*[.,][0-9]+")


@dataclass(frozen=True)
class Draft:
    period: str
    unit: str
    version: int
    cells: dict[str, str]
    started_from: str
    updated_at: datetime
    checked: dict[str, Any] | None = None  #: {"version", "at", "report": the report as stored}
    submitted: dict[str, Any] | None = None  #: {"version", "at", "upload"}


@dataclass(frozen=True)
class Saved:
    """What became of a save."""

    draft: Draft  #: the draft as stored now
    saved: bool  #: False: refused for conflicts, nothing stored
    conflicts: dict[str, str | None] = field(default_factory=dict)  #: key -> the value saved elsewhere
    kept: dict[str, str | None] = field(default_factory=dict)  #: key -> a newer value from elsewhere, kept


def parse_typed(text: str, vtype: str) -> tuple[str | None, str | None]:
    """(the value to store, None) or (None, why it is refused, in Vietnamese) for what was typed in a field.
    A blank field is (None, None): blank, not zero."""
    text = text.strip().replace("\u00a0", " ")
    if not text:
        return None, None
    if len(text) > MAX_TEXT:
        return None, "Quá dài: chỉ gõ một số."
    if vtype == "yesno":
        if text in (YES, NO):
            return text, None
        return None, "Chọn Có hoặc Không."
    if _DIGITS.fullmatch(text):
        if int(text) > MAX_NUMBER:
            return None, f"Số quá lớn (tối đa {MAX_NUMBER:,}): kiểm tra lại số đã gõ.".replace(",", ".")
        return str(int(text)), None
    if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
        return None, "Số không được âm: ghi số lượng (0 nếu không có)."
    if _GROUPED.fullmatch(text):
        plain = re.sub(r"[., ]", "", text)
        return None, f"Gõ liền các chữ số, không có dấu chấm, dấu phẩy hay khoảng trắng: {plain}."
    if _DECIMAL.fullmatch(text):
        return None, "Phải là số nguyên (không có phần thập phân)."
    return None, "Chỉ gõ chữ số 0-9 (ghi 0 nếu không có)."


#: the cover's fields a ward types (draft key -> the form writer's cover field, its label)
COVER_KEYS = {"bia:preparer": ("preparer", "Người lập biểu"), "bia:phone": ("phone", "Số điện thoại liên hệ")}
_PHONE = re.compile(r"[0-9 +().-]{3,20}")


def parse_cover(text: str, key: str) -> tuple[str | None, str | None]:
    """(the value to store, None) or (None, why refused) for a cover field: printable text, 60 characters at most
    (a telephone number: digits, spaces and + ( ) . - only)."""
    text = " ".join(text.split())
    if not text:
        return None, None
    if len(text) > 60 or not text.isprintable():
        return None, "Tối đa 60 ký tự, không có ký tự điều khiển."
    if key == "bia:phone" and not _PHONE.fullmatch(text):
        return None, "Số điện thoại chỉ gồm chữ số, dấu cách và + ( ) . -"
    return text, None


def load_draft(ledger: Ledger, period: str, unit: str) -> Draft | None:
    row = ledger.draft(period, unit)
    if row is None:
        return None
    return Draft(
        period,
        unit,
        int(row["version"]),
        json.loads(row["cells"]),
        str(row["started_from"]),
        datetime.fromisoformat(row["updated_at"]),
        json.loads(row["checked"]) if row["checked"] else None,
        json.loads(row["submitted"]) if row["submitted"] else None,
    )


def all_drafts(ledger: Ledger, period: str) -> list[Draft]:
    drafts = (load_draft(ledger, period, str(r["unit"])) for r in ledger.drafts(period))
    return [d for d in drafts if d is not None]


def start_draft(ledger: Ledger, period: str, unit: str, cells: Mapping[str, str], source: str, now: datetime) -> Draft:
    """A draft holding `cells` (empty, or the ward's current submission): new, or the ward's draft started again
    (one more version, its earlier changes kept in `draft_changes`)."""
    with ledger.transaction():
        old = load_draft(ledger, period, unit)
        have = old.cells if old else {}
        changes: dict[str, str | None] = {k: v for k, v in cells.items() if have.get(k) != v}
        changes.update({k: None for k in have if k not in cells})
        version = old.version + 1 if old else 1
        fields = {
            "version": version,
            "cells": _json(dict(cells)),
            "started_from": source,
            "updated_at": now.isoformat(timespec="seconds"),
            "checked": None,
        }
        ledger.put_draft(period, unit, fields, changes)
    found = load_draft(ledger, period, unit)
    assert found is not None
    return found


def save_draft(
    ledger: Ledger, period: str, unit: str, base: int, typed: Mapping[str, str | None], now: datetime
) -> Saved:
    """Save the fields of one page (`typed`: key -> value, None for blank), opened at version `base`."""
    (saved,) = save_drafts(ledger, period, [(unit, base, typed)], now)
    if isinstance(saved, LookupError):
        raise saved
    return saved


#: one page's save: (unit, the version its page was opened at, key -> value typed or None for blank)
Save = tuple[str, int, Mapping[str, str | None]]


def save_drafts(ledger: Ledger, period: str, saves: list[Save], now: datetime) -> list[Saved | LookupError]:
    """Pages' saves stored one after the other in one transaction (one commit for all: the portal stores the
    saves waiting together), each as `save_draft` stores it alone; a save of a unit without a draft is its
    LookupError (nothing of it stored, the others stored)."""
    out: list[Saved | LookupError] = []
    with ledger.transaction():
        for unit, base, typed in saves:
            try:
                out.append(_save(ledger, period, unit, base, typed, now))
            except LookupError as exc:
                out.append(exc)
    return out


def _save(ledger: Ledger, period: str, unit: str, base: int, typed: Mapping[str, str | None], now: datetime) -> Saved:
    """One page's save, in the caller's transaction."""
    draft = load_draft(ledger, period, unit)
    if draft is None:
        raise LookupError(f"no draft of {unit} for {period}")
    later: dict[str, str | None] = {}
    for version, key, value in ledger.draft_changes(period, unit, min(base, draft.version)):
        if version > base:
            later[key] = value
    at_base = _values_at(ledger, period, unit, base, later.keys())
    changes, conflicts, kept = {}, {}, {}
    for key, value in typed.items():
        now_value = draft.cells.get(key)
        if value == now_value:
            continue
        if key in later:
            if value == at_base.get(key):  # this page did not change it: the newer value stays
                kept[key] = now_value
                continue
            conflicts[key] = now_value
            continue
        changes[key] = value
    if conflicts:
        return Saved(draft, False, conflicts, kept)
    if changes:
        cells = {k: v for k, v in {**draft.cells, **changes}.items() if v is not None}
        fields = {"version": draft.version + 1, "cells": _json(cells), "updated_at": _at(now)}
        ledger.put_draft(period, unit, fields, changes)
    found = load_draft(ledger, period, unit)
    assert found is not None
    return Saved(found, True, {}, kept)


def _values_at(ledger: Ledger, period: str, unit: str, version: int, keys: Any) -> dict[str, str | None]:
    """The value each of `keys` had at `version` of the draft."""
    wanted = set(keys)
    out: dict[str, str | None] = {}
    if not wanted:
        return out
    for v, key, value in ledger.draft_changes(period, unit, 0):
        if v > version:
            break
        if key in wanted:
            out[key] = value
    return out


def note_checks(ledger: Ledger, checked: list[tuple[Draft, dict[str, Any]]], now: datetime) -> None:
    """Keep the result of each check of a draft (its version; the report as the ledger stores one), to show beside
    its fields: those waiting together in one transaction."""
    with ledger.transaction():
        for draft, report in checked:
            doc = {"version": draft.version, "at": _at(now), "report": report}
            ledger.put_draft(draft.period, draft.unit, {"checked": _json(doc)}, {})


def note_submitted(ledger: Ledger, draft: Draft, upload: int, outcome: str, now: datetime) -> None:
    doc = {"version": draft.version, "at": _at(now), "upload": upload, "outcome": outcome}
    with ledger.transaction():
        ledger.put_draft(draft.period, draft.unit, {"submitted": _json(doc)}, {})


def _json(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def _at(now: datetime) -> str:
    return now.isoformat(timespec="seconds")
