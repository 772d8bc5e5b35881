"""The year 2025 by the new communes (`rollup --period 2025 --units 2025-07-01`), from the forms people filled.

The first half of 2025 was reported by the old communes (list `2025-06-30`), the second by the new ones
(`2025-07-01`). A new commune's year is put together from its own 2025-H2 figures and the 2025-H1 figures of the
old communes that went into it (`map_2025-07-01.csv`), element by element as the catalogue reads it over time:

- a flow (events during the period) is H1 + H2: the 2025-H1 cells of its old communes, summed, plus its 2025-H2;
- a stock (a count at the period's end) is its 2025-H2: the end of December is the end of the year.

Exact, or refused: a new commune is computed only when every old commune that went into it went in whole
(`old_split = 0`) and each of them has exactly one valid 2025-H1 report. Where an old commune was divided between
new ones its counts cannot be shared out from aggregate figures (how many of 3 abused children lived on which side
of the new boundary is not in the form), so every new commune it went into is refused, naming the split commune and
where it went; ctstat never allocates by guess (area or population shares would invent figures an official signs).
Such a commune can still be rolled up from a form of the whole year 2025 filled on the new list, which is taken as
it is. A new commune made from an island district that had no commune (the five đặc khu) had no commune report in
2025-H1: its year is its H2.

Pure: claims and values in, claims and values out, keyed by the new communes' codes (old and new codes overlap, so
the two lists never share a dictionary).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import a1, element_of
from ctstat.model.layout import COVER, COVER_BY_KEY, form_layout
from ctstat.model.messages import make_issue
from ctstat.model.period import H1, NEW
from ctstat.model.report import Claim, Issue, Said
from ctstat.model.units import Hierarchy
from ctstat.plan.reform import Targets, sources_of

_UNIT = COVER_BY_KEY["unit_code"]


@dataclass
class Slot:
    """The inputs of one (period, unit list): who claims each unit (by that list's codes) and the valid cells."""

    claims: dict[str, list[Claim]] = field(default_factory=dict)
    values: dict[str, pd.Series] = field(default_factory=dict)


@dataclass
class YearInputs:
    """The year by the new communes: claims and valid cells keyed by new codes; `feeds`: each old commune's input
    (its form, or the district workbook it came in) -> the new communes whose year it went into; `homes`: each
    input -> a new commune it belongs with (for the list of sources), used or not."""

    claims: dict[str, list[Claim]] = field(default_factory=dict)
    values: dict[str, pd.Series] = field(default_factory=dict)
    feeds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)  #: `reform-split` on each split old commune's input


@dataclass(frozen=True)
class Lists:
    """Both unit lists and the crosswalk between them."""

    old: Hierarchy
    new: Hierarchy
    targets: Targets  #: old commune -> [(new commune, the old one was split)]


def over_time(catalogue: Catalogue) -> pd.Series:
    """Per form cell (index: cell keys): True for a flow (summed over the halves), False for a stock."""
    keys = form_layout(catalogue).keys
    return pd.Series([catalogue.elements[element_of(k)].over_time == "flow" for k in keys], index=list(keys))


def year_by_new_units(h1: Slot, h2: Slot, year: Slot, flows: pd.Series, lists: Lists) -> YearInputs:
    """Each new commune that some input names: its claim for the year 2025 and, when valid, its cells."""
    out = YearInputs()
    touched = set(h2.claims) | set(year.claims)
    touched |= {new for old in h1.claims for new, _ in lists.targets.get(old, ())}
    sources = sources_of(lists.targets, touched)
    for new in sorted(touched):
        direct, halves = year.claims.get(new, []), h2.claims.get(new, [])
        if direct or len(halves) != 1 or not halves[0].valid:
            out.claims[new] = direct + halves  # a year form as it is; two sources are a duplicate, as always
            if len(direct) == 1 and not halves and direct[0].valid:
                out.values[new] = year.values[new]
            continue
        claim, value = _composed(new, halves[0], h2.values.get(new), sources[new], h1, flows, lists)
        out.claims[new] = [claim]
        if value is not None:
            out.values[new] = value
            for old, _ in sources[new]:
                path = h1.claims[old][0].path
                out.feeds[path] = (*out.feeds.get(path, ()), new)
    for old, claims in sorted(h1.claims.items()):
        homes = sorted(new for new, _ in lists.targets.get(old, ()))
        for c in claims:
            out.feeds.setdefault(c.path, ())
            if homes:
                out.homes.setdefault(c.path, homes[0])
            if any(split for _, split in lists.targets.get(old, ())):
                out.issues.append(_split_issue(old, c, lists))
    return out


def _split_issue(old: str, claim: Claim, lists: Lists) -> Issue:
    """A split old commune's input, told why its figures are left out (at its unit code, or its workbook)."""
    went = ", ".join(_name(lists.new, n) for n, _ in sorted(lists.targets[old]))
    where: dict[str, Any] = {"sheet": COVER, "cell": a1(_UNIT.row, _UNIT.col)} if claim.report is not None else {}
    return make_issue("reform-split", path=claim.path, unit=_name(lists.old, old), detail=went, period=H1, **where)


def _composed(
    new: str,
    half: Claim,
    h2_value: pd.Series | None,
    sources: Sequence[tuple[str, bool]],
    h1: Slot,
    flows: pd.Series,
    lists: Lists,
) -> tuple[Claim, pd.Series | None]:
    """A new commune's year from its valid H2 and its old communes' H1, or its refusal with what to do."""
    problem = _split_problem(new, sources, lists) or _h1_problem(sources, h1, lists)
    parts = [c for old, _ in sources for c in h1.claims.get(old, ())]
    received = [c.received_at for c in (half, *parts) if c.received_at is not None]
    when = max(received) if received else None
    if problem is not None or h2_value is None:
        return Claim(new, half.path, False, problem or "", when, half.report), None
    index = h2_value.index
    olds = [h1.values[old].reindex(index).to_numpy(dtype=float) for old, _ in sources]
    stack = np.vstack([h2_value.to_numpy(dtype=float), *olds])
    summed = np.where(np.isnan(stack).all(axis=0), np.nan, np.nansum(stack, axis=0))
    is_flow = flows.reindex(index, fill_value=False).to_numpy(dtype=bool)
    value = pd.Series(np.where(is_flow, summed, stack[0]), index=index)
    return Claim(new, half.path, True, "", when, half.report), value


def _name(h: Hierarchy, code: str) -> str:
    u = h.get(code)
    return f"{code} {u.name}" if u else code


def _split_problem(new: str, sources: Sequence[tuple[str, bool]], lists: Lists) -> Said | None:
    """The old communes split between new ones that went partly into `new` (its year cannot be computed)."""
    split = sorted(old for old, was_split in sources if was_split)
    if not split:
        return None
    parts_vi, parts_en = [], []
    for old in split[:3]:
        went = ", ".join(_name(lists.new, n) for n, _ in sorted(lists.targets.get(old, ())))
        parts_vi.append(f"{_name(lists.old, old)} (chia cho {went})")
        parts_en.append(f"{_name(lists.old, old)} (divided between {went})")
    more = f" và {len(split) - 3} xã khác" if len(split) > 3 else ""
    more_en = f" and {len(split) - 3} more" if len(split) > 3 else ""
    return Said(
        f"không tính được số liệu cả năm 2025 theo đơn vị mới: xã, phường cũ {'; '.join(parts_vi)}{more} bị chia "
        f"ngày 1/7/2025, số liệu 6 tháng đầu năm của xã cũ không chia được cho từng xã mới. Đề nghị "
        f"{_name(lists.new, new)} gửi báo cáo cả năm 2025 theo danh mục {NEW}",
        f"the year 2025 cannot be computed on the new units: the old commune {'; '.join(parts_en)}{more_en} was "
        f"divided on 1 July 2025, and its 2025-H1 counts cannot be divided between the new communes. Ask "
        f"{_name(lists.new, new)} for a report of the whole year 2025 on the list {NEW}",
    )


def _h1_problem(sources: Iterable[tuple[str, bool]], h1: Slot, lists: Lists) -> Said | None:
    """The first old commune (all went in whole) without exactly one valid 2025-H1 report, said."""
    for old, _ in sorted(sources):
        claims = h1.claims.get(old, [])
        name = _name(lists.old, old)
        if not claims:
            return Said(
                f"thiếu báo cáo {H1} của xã, phường cũ {name} (nay thuộc xã này): cần để tính cả năm 2025",
                f"no {H1} report of the old commune {name} (now part of this one): the year 2025 needs it",
            )
        if len(claims) > 1:
            return Said(
                f"{len(claims)} tệp {H1} cho cùng xã, phường cũ {name}: giữ lại một tệp",
                f"{len(claims)} {H1} files for the old commune {name}: keep one",
            )
        if not claims[0].valid:
            first = claims[0].problem
            return Said(
                f"báo cáo {H1} của xã, phường cũ {name} không hợp lệ ({first})",
                f"the {H1} report of the old commune {name} is invalid ({getattr(first, 'en', first)})",
            )
    return None
