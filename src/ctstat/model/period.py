"""Reporting periods (2025, 2025-H1, 2025-H2) and the administrative-unit vintage each one uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from ctstat.model.errors import UsageError

#: Unit-list vintages shipped with ctstat, each valid from its date until the next one.
VINTAGES: dict[str, date] = {"2025-06-30": date(1900, 1, 1), "2025-07-01": date(2025, 7, 1)}
OLD, NEW = "2025-06-30", "2025-07-01"  #: the unit lists either side of the 2025 reform
H1, H2, YEAR = "2025-H1", "2025-H2", "2025"
#: the (period, unit list) of the inputs of the year 2025 by the new communes; anything else is the wrong period
SLOTS = ((H1, OLD), (H2, NEW), (YEAR, NEW))


def is_reform_year(period: str, vintage: str) -> bool:
    """The year 2025 reported by the new communes: put together from both sides of the reform."""
    return period == YEAR and vintage == NEW


_PERIOD = re.compile(r"^\s*(\d{4})(?:\s*-\s*([Hh])([12]))?\s*$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    half: int | None = None  #: 1 or 2 for six-month periods; None for the year

    @classmethod
    def parse(cls, text: object) -> Period:
        """`2025`, `2025-H1` or `2025-H2` (a number 2025.0 from a cell is accepted as the year)."""
        if isinstance(text, float) and text.is_integer():
            text = str(int(text))
        m = _PERIOD.match(str(text)) if isinstance(text, (str, int)) else None
        if not m or not 2000 <= int(m.group(1)) <= 2100:
            raise ValueError(f"not a period: {text!r}")
        return cls(int(m.group(1)), int(m.group(3)) if m.group(3) else None)

    @property
    def start(self) -> date:
        return date(self.year, 7 if self.half == 2 else 1, 1)

    @property
    def end(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    def __str__(self) -> str:
        return f"{self.year}-H{self.half}" if self.half else str(self.year)

    def label_vi(self) -> str:
        if self.half == 1:
            return f"6 tháng đầu năm {self.year}"
        if self.half == 2:
            return f"6 tháng cuối năm {self.year}"
        return f"Năm {self.year}"

    def vintages(self) -> list[str]:
        """The unit-list vintages in force at some day of the period."""
        names = sorted(VINTAGES, key=VINTAGES.__getitem__)
        out = []
        for i, name in enumerate(names):
            valid_from = VINTAGES[name]
            valid_to = VINTAGES[names[i + 1]] if i + 1 < len(names) else date.max
            if valid_from <= self.end and valid_to > self.start:
                out.append(name)
        return out


def parse_period(text: str | Period) -> Period:
    """A period given by a user; a malformed one is a usage error (exit 2), not a data fault."""
    if isinstance(text, Period):
        return text
    try:
        return Period.parse(text)
    except ValueError:
        raise UsageError(
            f"period {text!r} is not valid: write 2025, 2025-H1 or 2025-H2",
            message_vi=f"kỳ {text!r} không hợp lệ: viết 2025, 2025-H1 hoặc 2025-H2",
        ) from None


def vintage_for(period: Period, override: str | None = None) -> str:
    """The unit list a period is reported on.

    A period inside one vintage uses it. A period that spans a reform (the year 2025 spans the end of districts
    on 1 July 2025) is not guessed: the caller must choose with `override` (`--units`), because a year's data
    can be reported either by the old communes or by the new ones.
    """
    if override is not None:
        if override not in VINTAGES:
            known = ", ".join(VINTAGES)
            raise UsageError(
                f"unknown unit list {override!r}; known: {known}",
                message_vi=f"không có danh mục đơn vị {override!r}; các danh mục: {known}",
            )
        if override not in period.vintages():
            raise UsageError(
                f"unit list {override} was not in force during {period}",
                message_vi=f"danh mục đơn vị {override} không có hiệu lực trong kỳ {period}",
            )
        return override
    found = period.vintages()
    if len(found) > 1:
        raise UsageError(
            f"period {period} spans more than one administrative-unit list ({', '.join(found)}): "
            f"choose one with --units (for example --units {found[-1]} to report on the communes in force "
            f"at the end of the period)",
            message_vi=f"kỳ {period} trải qua nhiều danh mục đơn vị hành chính ({', '.join(found)}): chọn một "
            f"bằng --units (ví dụ --units {found[-1]} để báo cáo theo các xã có hiệu lực cuối kỳ)",
        )
    return found[0]
