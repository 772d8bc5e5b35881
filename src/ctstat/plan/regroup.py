"""2025-H1 regrouped onto the new provinces (`rollup --period 2025-H1 --units 2025-07-01`), from old-list inputs.

The first half of 2025 was reported by the old communes (list `2025-06-30`). On 1 July 2025 the 63 provinces
became 34, each new province the union of whole old provinces (every old commune of an old province went into
communes of one and the same new province: checked here on the crosswalk, not assumed). So a new province's 2025-H1
totals are exactly the sums of its old communes' reports, even where a commune was split between new communes.

Only the province level (and the country) is exact: a new commune's 2025-H1 figures cannot be computed where one of
its old communes was split (`plan.reform`), and the new list has no district. The regrouped rollup therefore writes
the new provinces' workbooks only, their columns the old districts (as they were in 2025-H1); a district or commune
asked for is refused with what to do instead. Its files are named with the new list (`2025-H1_2025-07-01_<code>_…`)
so they never clash with the old list's workbooks of the same period (a province code exists in both lists, often
for another province: `15` was Yên Bái, is Lào Cai).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from ctstat.model.errors import UsageError
from ctstat.model.units import Hierarchy, Unit, level_of

if TYPE_CHECKING:  # plan.reform loads pandas: a rollup imports this module before its reading starts
    from ctstat.plan.reform import Targets

OLD, NEW, H1 = "2025-06-30", "2025-07-01", "2025-H1"
#: the unit list the regrouped workbooks say they follow: old communes and districts under the new provinces
REGROUPED = f"{OLD} → tỉnh {NEW}"
T = TypeVar("T")


def is_regroup(period: str, units: str | None) -> bool:
    """2025-H1 asked for on the new list (`--units`, a list not in force then): the old communes' reports
    regrouped onto the new provinces."""
    return period == H1 and units == NEW


def province_map(old: Hierarchy, new: Hierarchy, targets: Targets) -> dict[str, str]:
    """Old province -> the new province it went into whole. A ValueError if an old province's communes went into
    several new provinces (the regrouping would not be exact; not so in the shipped lists)."""
    into: dict[str, set[str]] = {}
    for code, pairs in targets.items():
        commune = old.get(code)
        if commune is None:
            continue
        province = [a.code for a in old.ancestors(commune) if a.level == "province"][0]
        for target, _ in pairs:
            unit = new.get(target)
            if unit is not None and unit.parent_code:
                into.setdefault(province, set()).add(unit.parent_code)
    divided = sorted(p for p, s in into.items() if len(s) != 1)
    if divided:
        raise ValueError(f"old provinces divided between new ones: {divided}")
    return {p: next(iter(s)) for p, s in into.items()}


def regrouped(old: Hierarchy, new: Hierarchy, targets: Targets) -> Hierarchy:
    """The old communes and districts under the new provinces they went into (`REGROUPED`)."""
    into = province_map(old, new, targets)
    units = [Unit(REGROUPED, "province", p.code, p.name, p.type, None) for p in new.all("province")]
    for d in old.all("district"):
        if d.parent_code in into:
            units.append(Unit(REGROUPED, "district", d.code, d.name, d.type, into[d.parent_code]))
    for c in old.all("commune"):
        units.append(Unit(REGROUPED, "commune", c.code, c.name, c.type, c.parent_code))
    return Hierarchy(REGROUPED, units)


def check_target(unit: str | None, history: object) -> None:
    """Refuse what the regrouping cannot give exactly: a district or commune, and the comparison sheet."""
    level = level_of(unit) if unit and unit.strip().upper() != "VN" else None
    if unit and unit.strip().upper() != "VN" and level != "province":
        raise UsageError(
            f"--unit {unit}: 2025-H1 on the list {NEW} is exact at the province level only (each new province is "
            f"whole old provinces; a new commune's first half cannot be computed where an old commune was split). "
            f"Give a new province's code, or roll up the district on its own list: --units {OLD}",
            message_vi=f"--unit {unit}: số liệu 2025-H1 theo danh mục {NEW} chỉ tính chính xác được ở cấp tỉnh "
            f"(mỗi tỉnh mới gồm trọn các tỉnh cũ; xã mới có xã cũ bị chia thì không tính được 6 tháng đầu năm). "
            f"Cho mã một tỉnh mới, hoặc tổng hợp huyện theo danh mục cũ: --units {OLD}",
        )
    if history is not None:
        raise UsageError(
            f"--history: 2025-H1 regrouped on the list {NEW} has no comparison sheet; compare it on the list {OLD}",
            message_vi=f"--history: số liệu 2025-H1 gộp theo tỉnh mới ({NEW}) không có trang so sánh; hãy so sánh "
            f"theo danh mục {OLD}",
        )


def province_books(sheets: Sequence[tuple[str, T]], levels: Sequence[str]) -> list[tuple[str, T]]:
    """The new provinces' (and the country's) workbooks of a regrouped rollup, named with the new list; `levels`:
    each sheet's unit level. A district workbook is the old list's own rollup, not written again here."""
    return [
        (f"{name.split('_', 1)[0]}_{NEW}_{name.split('_', 1)[1]}", data)
        for (name, data), level in zip(sheets, levels, strict=True)
        if level in ("province", "country")
    ]
