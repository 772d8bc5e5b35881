"""Synthetic, plausible, deterministic ward submissions (no real child data): samples, tests and benchmarks."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np

from ctstat.check.compare import holds
from ctstat.check.schema import CheckSpec, rule_specs
from ctstat.model.catalogue import Axis, Catalogue, Dimension, Ref
from ctstat.model.errors import CatalogueError
from ctstat.model.keys import TOTAL, cell_key, split_column
from ctstat.model.layout import form_layout
from ctstat.model.period import VINTAGES, Period
from ctstat.model.report import Severity
from ctstat.model.units import Hierarchy, Unit, slug
from ctstat.write.form import FormHeader, write_form

SYNTHETIC_PREPARER = "Dữ liệu giả lập (synthetic)"


@dataclass(frozen=True)
class _Plan:
    """How a catalogue's elements are drawn, derived from its rules (once per catalogue)."""

    order: tuple[str, ...]  #: elements in drawing order: every element after the ones it is drawn from
    parent: dict[str, tuple[str, bool]]  #: element -> (the element it is a subset of, exact copy?)
    base: dict[str, str]  #: element -> the element whose total sets its size (a `requires` rule)
    requires: tuple[tuple[str, str], ...]  #: (lhs, rhs): lhs > 0 needs rhs > 0
    minimum: dict[str, int]  #: element -> smallest grand total a rule allows
    checks: tuple[CheckSpec, ...]  #: every rule, cell by cell, to verify a draw


@cache
def _plan(catalogue: Catalogue) -> _Plan:
    codes = list(catalogue.elements)
    edges: dict[str, set[str]] = {c: set() for c in codes}  # element -> the elements it is drawn from

    def reaches(a: str, b: str) -> bool:  # is a drawn (directly or not) from b?
        todo, seen = [a], set()
        while todo:
            x = todo.pop()
            if x == b:
                return True
            if x not in seen:
                seen.add(x)
                todo += edges[x]
        return False

    def link(child: str, source: str) -> bool:
        if child == source or reaches(source, child):
            return False
        edges[child].add(source)
        return True

    parent: dict[str, tuple[str, bool]] = {}
    base: dict[str, str] = {}
    requires: list[tuple[str, str]] = []
    minimum: dict[str, int] = {}
    # bounds first: cell-by-cell rules before grand totals, errors before warnings
    ranked = sorted(
        (r for r in catalogue.rules if isinstance(r.rhs, Ref) and r.op != "requires"),
        key=lambda r: (r.lhs.total_only, r.severity is not Severity.ERROR),
    )
    for r in ranked:
        assert isinstance(r.rhs, Ref)
        small, big = (r.lhs.element, r.rhs.element) if r.op in ("<=", "<", "==") else (r.rhs.element, r.lhs.element)
        if small not in parent and link(small, big):
            parent[small] = (big, r.op == "==")
    for r in catalogue.rules:
        if r.op == "requires" and isinstance(r.rhs, Ref):
            requires.append((r.lhs.element, r.rhs.element))
            if r.lhs.element not in parent and r.lhs.element not in base and link(r.lhs.element, r.rhs.element):
                base[r.lhs.element] = r.rhs.element
        elif isinstance(r.rhs, float) and r.lhs.total_only and r.op in (">", ">="):
            least = int(r.rhs) + 1 if r.op == ">" else int(-(-r.rhs // 1))
            minimum[r.lhs.element] = max(minimum.get(r.lhs.element, 0), least)
    order: list[str] = []
    while len(order) < len(codes):  # stable topological order (the catalogue's order where free)
        order.append(next(c for c in codes if c not in order and edges[c] <= set(order)))
    return _Plan(tuple(order), parent, base, tuple(requires), minimum, tuple(rule_specs(catalogue)))


@dataclass
class _People:
    """What an element counts, one entry per person (or case, or item): their categories and amounts."""

    n: int
    member: dict[str, np.ndarray] = field(default_factory=dict)  #: dimension -> n x categories, True where in
    amount: np.ndarray | None = None

    def take(self, mask: np.ndarray) -> _People:
        return _People(int(mask.sum()), {d: m[mask] for d, m in self.member.items()})


def _draw_dimension(rng: np.random.Generator, n: int, axis: Axis, second: float) -> np.ndarray:
    cats = axis.dimension.categories
    w = np.asarray(axis.dimension.weights or [1.0] * len(cats), dtype=float)
    p = w / w.sum()
    out = np.zeros((n, len(cats)), dtype=bool)
    out[np.arange(n), rng.choice(len(cats), size=n, p=p)] = True
    if axis.breakdown == "overlapping" and len(cats) > 1:
        more = rng.random(n) < second
        out[np.flatnonzero(more), rng.choice(len(cats), size=int(more.sum()), p=p)] = True
    return out


def _one_each(rng: np.random.Generator, member: np.ndarray) -> np.ndarray:
    """Keep one category per person (an exclusive breakdown of people drawn from an overlapping one)."""
    out = np.zeros_like(member)
    for i in range(len(member)):
        out[i, rng.choice(np.flatnonzero(member[i]))] = True
    return out


def _draw(catalogue: Catalogue, rng: np.random.Generator, scale: float) -> dict[str, float]:
    plan = _plan(catalogue)
    people: dict[str, _People] = {}
    values: dict[str, float] = {}
    for code in plan.order:
        el = catalogue.elements[code]
        hint = el.synthetic
        least = plan.minimum.get(code, 0)
        if any(lhs == code and people[rhs].n == 0 for lhs, rhs in plan.requires if rhs in people):
            least, cap = 0, 0
        else:
            cap = None
            if any(rhs == code and people[lhs].n > 0 for lhs, rhs in plan.requires if lhs in people):
                least = max(least, 1)
        if code in plan.parent:
            src, exact = plan.parent[code]
            pool = people[src]
            mask = np.ones(pool.n, bool) if exact else rng.random(pool.n) < min(1.0, hint.share or 0.5)
            want = least if cap is None else 0
            if cap == 0:
                mask[:] = False
            elif mask.sum() < min(want, pool.n):
                mask[rng.choice(np.flatnonzero(~mask), size=min(want, pool.n) - int(mask.sum()), replace=False)] = True
            group = pool.take(mask)
        else:
            if code in plan.base:
                n = int(rng.poisson((hint.share or 1.0) * people[plan.base[code]].n))
            elif hint.size is not None:
                n = int(rng.integers(hint.size[0], hint.size[1] + 1) * scale)
            else:
                n = int(rng.poisson((hint.mean if hint.mean is not None else 20.0) * scale))
            n = 0 if cap == 0 else max(n, least)
            group = _People(n)
        for axis in ((el.rows,) if el.rows else ()) + el.columns:
            key = axis.dimension.key
            if key not in group.member:
                group.member[key] = _draw_dimension(rng, group.n, axis, hint.second)
            elif axis.breakdown == "exclusive" and (group.member[key].sum(axis=1) > 1).any():
                group.member[key] = _one_each(rng, group.member[key])
        if el.type == "money":
            lo, hi, step = hint.amount
            group.amount = lo + step * rng.integers(0, int((hi - lo) // step) + 1, size=group.n)
        people[code] = group
        if el.type == "yesno":
            values[cell_key(code, TOTAL, TOTAL)] = float(rng.random() < hint.yes_share)
            continue
        weight = group.amount if group.amount is not None else np.ones(group.n)
        for r, c in el.cells():
            sel = np.ones(group.n, bool)
            if r != TOTAL:
                assert el.rows is not None
                sel &= group.member[el.rows.dimension.key][:, _index(el.rows.dimension, r)]
            if c != TOTAL:
                dim, cat = split_column(c)
                sel &= group.member[dim][:, _index(catalogue.dimensions[dim], cat)]
            values[cell_key(code, r, c)] = float(weight[sel].sum())
    return values


def _index(dim: Dimension, key: str) -> int:
    return next(i for i, c in enumerate(dim.categories) if c.key == key)


def _broken_rule(catalogue: Catalogue, values: dict[str, float]) -> str | None:
    for spec in _plan(catalogue).checks:
        assert spec.rule is not None
        right = values[spec.rhs] if isinstance(spec.rhs, str) else float(spec.rhs or 0)
        if not holds(spec.rule.op, values[spec.at], right):
            return spec.rule.code
    return None


def synth_values(catalogue: Catalogue, unit: Unit, period: Period, seed: int = 0) -> dict[str, Any]:
    """Input values of a plausible form for `unit` that keeps every breakdown and rule of the catalogue.

    Derived from the catalogue alone: each element's people are drawn bottom-up (an element bounded by another is a
    subset of its people; one that `requires` another is sized from it), so totals, parts and rules agree.
    Formula cells are left out (the form computes them). Deterministic in (seed, unit, period).
    """
    post_reform = VINTAGES[unit.vintage] > min(VINTAGES.values())  # a list after the first: after the 2025 reform
    scale = 2.6 if post_reform else 1.0  # post-reform communes are about 3x larger
    inputs = form_layout(catalogue).inputs()
    broken = None
    for attempt in range(50):
        digest = hashlib.sha256(f"{seed}:{unit.vintage}:{unit.code}:{period}:{attempt}".encode()).digest()
        values = _draw(catalogue, np.random.default_rng(int.from_bytes(digest[:8], "little")), scale)
        broken = _broken_rule(catalogue, values)
        if broken is None:
            return {k: int(values[k]) for k in inputs}
    raise CatalogueError(
        f"cannot make synthetic values that keep rule {broken!r}: give the elements it compares "
        "`synthetic:` hints (size, share) that let it hold",
        message_vi=f"không tạo được số liệu mẫu giữ đúng quy tắc {broken!r}: thêm cho các chỉ tiêu quy tắc đó so sánh "
        "gợi ý `synthetic:` (size, share) để quy tắc đúng",
    )


def file_name(unit: Unit) -> str:
    words = re.sub(r"^(phường|xã|thị trấn|đặc khu)\s+", "", unit.name, flags=re.I)
    return f"{unit.code}-{slug(words)}.xlsx"


class WardFill(TypedDict, total=False):
    """What a synthetic form holds besides its drawn values: given values, cover overrides, its file name."""

    values: dict[str, Any] | None
    cover: dict[str, Any] | None
    name: str | None


def write_ward(
    out_dir: Path,
    catalogue: Catalogue,
    h: Hierarchy,
    unit: Unit,
    period: Period,
    seed: int = 0,
    **fill: Unpack[WardFill],
) -> Path:
    """Write one filled synthetic form (values from `synth_values` unless given)."""
    values, cover, name = fill.get("values"), fill.get("cover"), fill.get("name")
    values = synth_values(catalogue, unit, period, seed) if values is None else values
    report_date = datetime.combine(period.end, datetime.min.time()) + timedelta(days=5 + int(unit.code) % 9)
    overrides = {"report_date": report_date, "preparer": SYNTHETIC_PREPARER, **(cover or {})}
    return write_form(
        out_dir / (name or file_name(unit)), catalogue, FormHeader.for_unit(h, unit, period), values, overrides
    )
