"""What a rollup starts from, how it is asked for, and what it returns: plain data, importing no pandas (a command
that only validates loads this module, and pandas loads in the judging thread while the files are read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ctstat.model.period import Period
from ctstat.model.report import Claim, FileReport, Report
from ctstat.model.units import Unit

if TYPE_CHECKING:
    import pandas as pd

    from ctstat.plan.completeness import Completeness
    from ctstat.plan.history_sheet import HistoryLookup


@dataclass
class RollupInputs:
    """What a rollup starts from: the validated inputs, each ward's cells, and who claims each ward."""

    report: Report
    values_of: dict[str, pd.Series] = field(default_factory=dict)  #: ward -> cells (valid wards only)
    claims: dict[str, list[Claim]] = field(default_factory=dict)  #: ward -> its claims, oldest received first
    inputs: list[tuple[FileReport, str]] = field(default_factory=list)  #: (report, "ward" | "rollup")
    latest_wins: bool = False  #: claims are one ward's submissions over time (the job), not rival files
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)  #: district workbook -> its approval state
    #: the year 2025 by the new communes (`plan.reform_year`): an old commune's input -> the new communes it went
    #: into (used when one of them is), and -> the new commune it is listed with in the sources
    feeds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)

    def used_books(self, used: set[str]) -> set[str]:
        """The district workbooks whose rows gave the wards a rollup used."""
        return {c.path for code in used for c in self.claims.get(code, ()) if c.report is None}


class RollupFlags(TypedDict, total=False):
    """`RollupOptions` given by name (`rollup_paths(..., unit="008", allow_partial=True)`)."""

    unit: str | None
    units: str | None
    allow_partial: bool
    deadline: date | None
    generated_at: datetime | None
    jobs: int
    history: HistoryLookup | None


@dataclass(frozen=True)
class RollupOptions:
    """How to roll up: which unit (inferred when None; "VN" the whole country), under which unit list, whether
    to write a partial rollup, the deadline (for lateness), the time printed, and the writing processes."""

    unit: str | None = None
    units: str | None = None
    allow_partial: bool = False
    deadline: date | None = None
    generated_at: datetime | None = None
    jobs: int = 1
    review: tuple[Any, ...] = ()  #: the job's signed review records, carried in the unit's own workbook
    history: HistoryLookup | None = None  #: the earlier periods, for the comparison sheet (`job.compare`)


@dataclass
class RollupResult:
    """What a rollup did: its inputs' validation, completeness, the workbooks written, and a manifest."""

    report: Report
    unit: Unit
    period: Period
    vintage: str
    completeness: Completeness
    outputs: list[Path] = field(default_factory=list)
    partial: bool = False
    refused: bool = False
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_path: Path | None = None  #: where the manifest was written (None when refused)

    @property
    def ok(self) -> bool:
        return not self.refused
