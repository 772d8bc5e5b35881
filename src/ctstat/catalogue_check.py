"""What a catalogue change does to the ward form, before it is published to every ward (pure, plus one trial form).

`check_catalogue(new, old)` compares the form layouts of two catalogues row by row (rows added, removed, moved),
lists the rules, indicators and charts added or removed, says whether the template version changes (forms made
with the old one are then reported `template-version`), and proves the new catalogue can be filled and read back:
one synthetic form is written, read and validated, and must come out clean.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import a1
from ctstat.model.layout import FormLayout, form_layout


@dataclass(frozen=True)
class RowChange:
    kind: str  #: "added" | "removed" | "moved" | "changed" (same place, other cells)
    code: str  #: the row's "Mã số" (AB01, AB01.02)
    label: str
    old: str = ""  #: "Biểu 1!D9:F9" before
    new: str = ""  #: after

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "code": self.code, "label": self.label, "old": self.old, "new": self.new}


@dataclass
class CatalogueCheck:
    version: str
    template_version: str
    old_template_version: str | None = None
    rows: list[RowChange] = field(default_factory=list)
    cells_added: int = 0
    cells_removed: int = 0
    cells_moved: int = 0
    added: dict[str, list[str]] = field(default_factory=dict)  #: "elements"/"rules"/"indicators"/"charts" -> ids
    removed: dict[str, list[str]] = field(default_factory=dict)
    changed_rules: list[str] = field(default_factory=list)
    #: what a synthetic form of the new catalogue got, and what must be fixed before publishing: (vi, en) each
    trial: list[tuple[str, str]] = field(default_factory=list)
    faults: list[tuple[str, str]] = field(default_factory=list)

    @property
    def trial_issues(self) -> list[str]:
        return [en for _, en in self.trial]

    @property
    def problems(self) -> list[str]:
        return [en for _, en in self.faults]

    @property
    def ok(self) -> bool:
        """The catalogue can be published: no problem found."""
        return not self.problems

    @property
    def layout_changed(self) -> bool:
        return self.old_template_version is not None and self.old_template_version != self.template_version

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "template_version": self.template_version,
            "old_template_version": self.old_template_version,
            "layout_changed": self.layout_changed,
            "rows": [r.to_dict() for r in self.rows],
            "cells": {"added": self.cells_added, "removed": self.cells_removed, "moved": self.cells_moved},
            "added": self.added,
            "removed": self.removed,
            "changed_rules": self.changed_rules,
            "trial_issues": self.trial_issues,
            "problems": self.problems,
            "trial_issues_vi": [vi for vi, _ in self.trial],
            "problems_vi": [vi for vi, _ in self.faults],
        }


def _rows(layout: FormLayout) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """Row code -> (label, "Sheet!D9:F9", the cell keys on it)."""
    out: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for sheet in layout.sheets:
        for row in sheet.rows:
            if not row.code:
                continue
            keys = tuple(k for k, (s, r, _) in layout.positions.items() if s == sheet.name and r == row.row)
            cols = [layout.positions[k][2] for k in keys]
            where = f"{sheet.name}!{a1(row.row, min(cols))}:{a1(row.row, max(cols))}" if cols else sheet.name
            out[row.code] = (row.label_vi, where, keys)
    return out


def _rule_text(cat: Catalogue) -> dict[str, str]:
    return {r.code: f"{r.severity} {r.lhs} {r.op} {r.rhs}" for r in cat.rules}


def check_catalogue(new: Catalogue, old: Catalogue | None = None, trial: bool = True) -> CatalogueCheck:
    result = CatalogueCheck(new.version, new.template_version)
    if old is not None:
        result.old_template_version = old.template_version
        _diff(result, new, old)
        if result.layout_changed and new.version == old.version:
            result.faults.append(
                (
                    f"biểu mẫu thay đổi nhưng `version` vẫn là {new.version!r}: tăng `version` trong catalogue.yaml "
                    "để phân biệt biểu mẫu theo bố cục cũ",
                    f"the form changes but version is still {new.version!r}: bump `version` in catalogue.yaml, so "
                    "that forms of the old layout are told apart",
                )
            )
    if trial:
        result.trial = trial_form(new)
        if result.trial:
            result.faults.append(
                (
                    "một biểu mẫu tổng hợp thử theo danh mục này không qua kiểm tra (xem phần thử)",
                    "a synthetic form of this catalogue does not validate clean (see the trial)",
                )
            )
    return result


def _diff(result: CatalogueCheck, new: Catalogue, old: Catalogue) -> None:
    lo, ln = form_layout(old), form_layout(new)
    ro, rn = _rows(lo), _rows(ln)
    for code, (label, where, keys) in rn.items():
        if code not in ro:
            result.rows.append(RowChange("added", code, label, new=where))
        elif ro[code][1] != where:
            result.rows.append(RowChange("moved", code, label, ro[code][1], where))
        elif set(ro[code][2]) != set(keys):
            result.rows.append(RowChange("changed", code, label, ro[code][1], where))
    for code, (label, where, _) in ro.items():
        if code not in rn:
            result.rows.append(RowChange("removed", code, label, old=where))
    po, pn = lo.positions, ln.positions
    result.cells_added = len(pn.keys() - po.keys())
    result.cells_removed = len(po.keys() - pn.keys())
    result.cells_moved = sum(po[k] != pn[k] for k in pn.keys() & po.keys())
    pairs = {
        "elements": (set(old.elements), set(new.elements)),
        "rules": (set(_rule_text(old)), set(_rule_text(new))),
        "indicators": ({i.id for i in old.indicators}, {i.id for i in new.indicators}),
        "charts": ({c.sheet for c in old.charts}, {c.sheet for c in new.charts}),
    }
    for name, (before, after) in pairs.items():
        if after - before:
            result.added[name] = sorted(after - before)
        if before - after:
            result.removed[name] = sorted(before - after)
    to, tn = _rule_text(old), _rule_text(new)
    result.changed_rules = sorted(c for c in tn.keys() & to.keys() if tn[c] != to[c])


def trial_form(cat: Catalogue) -> list[tuple[str, str]]:
    """Write one synthetic form of `cat`, read it back and validate it: the issues it gets (none, if sound), in
    Vietnamese and English."""
    from ctstat.model.errors import CatalogueError
    from ctstat.model.period import Period
    from ctstat.model.units import load_units
    from ctstat.pipeline import validate_paths
    from ctstat.write.synth import write_ward

    period = Period.parse("2025-H2")
    h = load_units(period.vintages()[-1])
    unit = h.all("commune")[0]
    with tempfile.TemporaryDirectory(prefix="ctstat-check-") as tmp:
        try:
            path = write_ward(Path(tmp), cat, h, unit, period)
        except CatalogueError as exc:
            return [(str(exc), str(exc))]
        report = validate_paths([path], cat, period)
    return [
        (f"{i.where} {i.code}: {i.message('vi')}".strip(), f"{i.where} {i.code}: {i.message('en')}".strip())
        for i in report.issues
    ]
