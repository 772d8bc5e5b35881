"""The pandera schemas of the catalogue, one per data element (pure: no I/O).

A batch is one wide frame: a row per submission, a column per form cell (`element/row/col`), floats with NaN where
a cell is blank, unreadable or already reported. An element's schema holds its cells as columns and frame checks,
each over many cells at once (pandera's cost is per check): its cells' values (>= 0 and whole, or yes/no), each
layer of its breakdowns (exclusive parts add up, overlapping ones bound the total) and each catalogue rule on its
cells, all registered pandera checks (`ctstat.pandera_checks`), so each schema round-trips through pandera's YAML.
A failure maps to an issue by one lookup: its check's position and the failing cell give the `CheckSpec`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property, partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from ctstat.model.catalogue import Axis, Catalogue, Ref, Rule
from ctstat.model.keys import TOTAL, a1, cell_key, element_of
from ctstat.model.layout import FormLayout, form_layout
from ctstat.model.report import Severity

if TYPE_CHECKING:
    import pandera.pandas as pa


@dataclass(frozen=True)
class CheckSpec:
    """What a named frame check tests, and where its failures are reported."""

    name: str
    kind: str  #: "sum" | "overlap" | "rule"
    at: str  #: the cell key the issue is reported at
    total: str = ""
    parts: tuple[str, ...] = ()
    label_vi: str = ""
    label_en: str = ""
    rule: Rule | None = None
    rhs: str | float | None = None

    @property
    def cells(self) -> set[str]:
        """Every cell the check reads: where it reports, the parts, the cell compared with."""
        return {self.at, *self.parts, *([self.rhs] if isinstance(self.rhs, str) else [])}


def _range(layout: FormLayout, keys: tuple[str, ...]) -> str:
    pos = [layout.positions[k] for k in keys]
    return f"{a1(pos[0][1], pos[0][2])}:{a1(pos[-1][1], pos[-1][2])}"


def breakdown_specs(catalogue: Catalogue) -> list[CheckSpec]:
    """One check per total and each breakdown of it: columns within a row, rows within a column."""
    layout = form_layout(catalogue)
    specs: list[CheckSpec] = []

    def add(total: str, parts: tuple[str, ...], axis: Axis) -> None:
        kind = "sum" if axis.breakdown == "exclusive" else "overlap"
        where = _range(layout, parts)
        specs.append(
            CheckSpec(
                name=f"{kind}:{total}:{axis.dimension.key}",
                kind=kind,
                at=total,
                total=total,
                parts=parts,
                label_vi=f"theo {axis.dimension.name_vi.lower()}, ô {where}",
                label_en=f"by {axis.dimension.name_en.lower()}, cells {where}",
            )
        )

    for el in catalogue.elements.values():
        for row in el.row_keys():
            for axis in el.columns:
                parts = tuple(cell_key(el.code, row, k) for k in axis.keys())
                add(cell_key(el.code, row, TOTAL), parts, axis)
        if el.rows is not None:
            for col in el.col_keys():
                parts = tuple(cell_key(el.code, r, col) for r in el.row_keys()[1:])
                add(cell_key(el.code, TOTAL, col), parts, el.rows)
    return specs


def rule_specs(catalogue: Catalogue) -> list[CheckSpec]:
    """One check per pair of cells a catalogue rule compares (cell by cell over the cells both sides have)."""
    specs: list[CheckSpec] = []
    for rule in catalogue.rules:
        lhs = catalogue.elements[rule.lhs.element]
        if isinstance(rule.rhs, float):
            specs.append(
                CheckSpec(
                    f"rule:{rule.code}:{lhs.code}", "rule", cell_key(lhs.code, TOTAL, TOTAL), rule=rule, rhs=rule.rhs
                )
            )
            continue
        rhs = catalogue.elements[rule.rhs.element]
        if rule.lhs.total_only:
            pairs = [(TOTAL, TOTAL)]
        else:
            # the cells both sides have; a row key only means the same on both if it is of the same dimension
            # (two dimensions may share a category key, like "khac")
            same_rows = lhs.rows is not None and rhs.rows is not None and lhs.rows.dimension is rhs.rows.dimension
            rhs_cells = set(rhs.cells())
            pairs = [(r, c) for r, c in lhs.cells() if (r, c) in rhs_cells and (r == TOTAL or same_rows)]
        for r, c in pairs:
            at = cell_key(lhs.code, r, c)
            specs.append(CheckSpec(f"rule:{rule.code}:{at}", "rule", at, rule=rule, rhs=cell_key(rhs.code, r, c)))
    return specs


#: the issue code of a failure of each of the cell checks, by check name
CELL_CODES = {"ctstat_nonnegative": "negative-value", "ctstat_whole": "not-integer", "ctstat_yesno": "not-yes-no"}

#: what one of a schema's checks means: a cell check's issue code, or for a check of breakdowns or of a rule,
#: the `CheckSpec` reported at each cell it reports at
Meaning = str | Mapping[str, CheckSpec]


@dataclass(frozen=True)
class ElementSchema:
    """The pandera schema of one data element, and for each of its checks (by position) what it means."""

    element: str
    meanings: tuple[Meaning, ...]  #: aligned with schema.checks
    described: Callable[[], pa.DataFrameSchema]  #: builds `schema` (pandera copies every column component it is given)

    @cached_property
    def schema(self) -> pa.DataFrameSchema:
        """The whole schema, column components included (for analysts' frames and the exported YAML): built when
        first asked for, not by a validation, which runs `batch_checks`."""
        return self.described()

    @property
    def specs(self) -> tuple[CheckSpec, ...]:
        """Its breakdowns and rules, one `CheckSpec` per cell checked."""
        return tuple(s for m in self.meanings if not isinstance(m, str) for s in m.values())


@dataclass(frozen=True)
class BatchChecks:
    """What ctstat runs on its own batch frame (`validate.run_schema`): the checks of every element's schema,
    merged into as few as can be, in one schema without column components, and what each means (by position).

    Each cell check runs over every cell of its kind in the form, each layer of breakdowns over every element,
    each rule over every pair of cells it compares: the same registered checks over the same cells as the
    elements' schemas (a test holds that), 21 checks in one pandera call instead of 59 in 15. pandera's cost is
    per check and per call, whatever the rows, so a batch of a few files (a portal upload's) took 8 ms, 3.5 ms
    now. The column components are left out: they say each cell is a float column, maybe blank, which ctstat's
    frame is by construction, and pandera validates them one column at a time (more than the checks cost)."""

    checks: pa.DataFrameSchema
    meanings: tuple[Meaning, ...]  #: aligned with checks.checks
    #: where each breakdown and rule (by `CheckSpec.name`) stands in the elements' schemas (element, check,
    #: column): a file's failures are told in that order, whatever merged check found them
    order: Mapping[str, tuple[int, int, int]]


#: a check to make: its registered name, its statistics, and the spec reported at each cell it reports at (a cell
#: check's: its issue code)
Planned = tuple[str, dict[str, Any], Meaning]


@cache
def batch_checks(catalogue: Catalogue) -> BatchChecks:
    import pandera.pandas as pa

    layout = form_layout(catalogue)
    planned: list[Planned] = []
    for name in ("ctstat_yesno", "ctstat_nonnegative", "ctstat_whole"):  # the later cell check wins at a cell
        wanted = name == "ctstat_yesno"
        cells = [k for k in layout.keys if (catalogue.elements[element_of(k)].type == "yesno") == wanted]
        if cells:
            planned.append((name, {"cells": cells}, CELL_CODES[name]))
    planned += _grouped([*breakdown_specs(catalogue), *rule_specs(catalogue)])
    column = {k: n for n, k in enumerate(layout.keys)}
    order = {
        spec.name: (e, n, column[spec.at])  # as each element's schema finds them: its checks, then its columns
        for e, es in enumerate(element_schemas(catalogue).values())
        for n, meaning in enumerate(es.meanings)
        if not isinstance(meaning, str)
        for spec in meaning.values()
    }
    run = pa.DataFrameSchema(checks=_made(planned), strict=False, name="ctstat")
    return BatchChecks(run, tuple(meaning for _, _, meaning in planned), order)


def _made(planned: list[Planned]) -> list[pa.Check]:
    """The pandera checks of `planned` (pandera validates each one's statistics as it is made)."""
    from ctstat.check.pandera_checks import ctstat_check

    return [ctstat_check(name, **stats) for name, stats, _ in planned]


def _grouped(specs: list[CheckSpec]) -> list[Planned]:
    """The specs as few checks as can be: each breakdown kind in layers (a total checked more than once, by rows
    and by columns, is in a layer for each), each rule as one check over every pair of cells it compares."""
    out: list[Planned] = []
    for kind, name in (("sum", "ctstat_sums"), ("overlap", "ctstat_overlaps")):
        layers: list[dict[str, CheckSpec]] = []
        for spec in (s for s in specs if s.kind == kind):
            layer = next((la for la in layers if spec.at not in la), None)
            if layer is None:
                layers.append(layer := {})
            layer[spec.at] = spec
        for layer in layers:
            out.append((name, {"totals": list(layer), "parts": [list(s.parts) for s in layer.values()]}, layer))
    rules: dict[str, dict[str, CheckSpec]] = {}
    for spec in (s for s in specs if s.kind == "rule"):
        assert spec.rule is not None
        rules.setdefault(spec.rule.code, {})[spec.at] = spec
    for at in rules.values():
        first = next(iter(at.values()))
        assert first.rule is not None
        rhs: list[str] | float = float(first.rhs) if isinstance(first.rhs, float) else [str(s.rhs) for s in at.values()]
        stats = {"op": first.rule.op, "lhs": list(at), "rhs": rhs, "rule": first.rule.code}
        out.append(("ctstat_rule", stats | {"severity": str(first.rule.severity)}, at))
    return out


@cache
def element_schemas(catalogue: Catalogue) -> dict[str, ElementSchema]:
    """One schema per data element: its cells as columns, the checks on every cell (>= 0 and whole, or yes/no),
    its breakdowns and the rules on its cells (the pandera objects made when first asked for: a validation runs
    `batch_checks`)."""
    layout = form_layout(catalogue)
    by_element: dict[str, list[CheckSpec]] = {code: [] for code in catalogue.elements}
    for spec in [*breakdown_specs(catalogue), *rule_specs(catalogue)]:
        by_element[element_of(spec.at)].append(spec)
    out: dict[str, ElementSchema] = {}
    for code, el in catalogue.elements.items():
        own = [k for k in layout.keys if element_of(k) == code]
        # not-integer is said of a cell that is both negative and not whole (the later cell check wins)
        cell_checks = ("ctstat_yesno",) if el.type == "yesno" else ("ctstat_nonnegative", "ctstat_whole")
        planned: list[Planned] = [(name, {"cells": own}, CELL_CODES[name]) for name in cell_checks]
        planned += _grouped(by_element[code])
        described = partial(_described, catalogue, code, own, planned)
        out[code] = ElementSchema(code, tuple(meaning for _, _, meaning in planned), described)
    return out


def _described(catalogue: Catalogue, code: str, own: list[str], planned: list[Planned]) -> pa.DataFrameSchema:
    """One element's whole schema: a float column (maybe blank) per cell, titled with its place on the form."""
    import pandera.pandas as pa

    layout, el = form_layout(catalogue), catalogue.elements[code]
    columns = {}
    for key in own:
        sheet, cell = layout.address(key)
        columns[key] = pa.Column(float, nullable=True, title=f"{sheet}!{cell}")
    return pa.DataFrameSchema(
        columns,
        checks=_made(planned),
        strict=False,
        name=code,
        title=el.name_vi,
        description=f"{el.name_en} ({el.unit_en}); basis: {el.basis}; catalogue {catalogue.version}",
    )


def schemas(catalogue: Catalogue) -> dict[str, pa.DataFrameSchema]:
    """The pandera schema of each data element of `catalogue`, by element code (for analysts' own frames: one
    column per form cell, `ELEMENT/row/col`; see `wide`)."""
    return {code: es.schema for code, es in element_schemas(catalogue).items()}


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """A tidy table of `ctstat export` as a wide frame: one row per (period, unit): `period`, `unit_code`, then
    one column per form cell."""
    table = table.fillna({"row_category": "", "column_dimension": "", "column_category": ""}).astype(
        {"row_category": str, "column_dimension": str, "column_category": str, "unit_code": str}
    )  # a CSV read back has NaN for the empty texts
    row = table["row_category"].where(table["row_category"] != "total", TOTAL)
    col = (table["column_dimension"] + ":" + table["column_category"]).where(table["column_dimension"] != "", TOTAL)
    frame = table.assign(key=table["element"] + "/" + row + "/" + col).pivot_table(
        index=["period", "unit_code"], columns="key", values="value", aggfunc="first", sort=False
    )
    frame.columns.name = None
    # period and unit as plain columns (pandera's frame checks do not take a MultiIndex)
    return frame.astype(float).reset_index()


def rule_severity(spec: CheckSpec) -> Severity:
    return spec.rule.severity if spec.rule else Severity.ERROR


def describe(catalogue: Catalogue, code: str, lang: str = "en") -> dict[str, object]:
    """One element's schema in words (in `lang`, "vi" or "en"): its cells, their checks, its breakdowns and rules,
    and their basis."""
    from ctstat.model.vocab import basis_label

    es = element_schemas(catalogue)[code]
    el = catalogue.elements[code]
    layout = form_layout(catalogue)
    own = [k for k in layout.keys if element_of(k) == code]
    first, last = layout.address(own[0]), layout.address(own[-1])
    where = f"{first[0]}!{first[1]}..{last[1]}"
    vi = lang == "vi"
    if vi:
        value = "số nguyên >= 0" if el.type != "yesno" else "1 (có) hoặc 0 (không)"
        cells = f"{len(own)} ô, {where}, mỗi ô là {value} hoặc để trống"
    else:
        value = "a whole number >= 0" if el.type != "yesno" else "1 (yes) or 0 (no)"
        cells = f"{len(own)} cells, {where}, each {value} or blank"

    def breakdown(s: CheckSpec) -> str:
        at = layout.address(s.at)[1]
        if vi:
            how = "= tổng các phần" if s.kind == "sum" else "nằm giữa phần lớn nhất và tổng các phần"
            return f"ô {at} {how}: {s.label_vi}"
        how = "=" if s.kind == "sum" else "between max and sum of"
        return f"{how} parts at {at}: {s.label_en}"

    def rule(r: Rule) -> str:
        sev = ("lỗi" if r.severity == Severity.ERROR else "cảnh báo") if vi else str(r.severity)
        return f"{r.code} ({sev}): {r.lhs} {r.op} {r.rhs}: {r.message_vi if vi else r.message_en}"

    return {
        "element": code,
        "name_vi": el.name_vi,
        "name_en": el.name_en,
        "unit": el.unit_vi if vi else el.unit_en,
        "basis": basis_label(el.basis, "vi" if vi else "en"),
        "cells": cells,
        "breakdowns": [breakdown(s) for s in es.specs if s.kind != "rule"],
        "rules": sorted({rule(s.rule) for s in es.specs if s.rule is not None}),
        "checks": len(es.schema.checks),
    }


__all__ = [
    "CELL_CODES",
    "CheckSpec",
    "ElementSchema",
    "Ref",
    "breakdown_specs",
    "describe",
    "element_schemas",
    "rule_specs",
    "schemas",
    "wide",
]
