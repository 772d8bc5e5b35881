"""What a rollup starts from, how it is asked for, and what it returns: plain data, importing no pandas (a command
that only validates loads this module, and pandas loads in the judging thread while the files are read)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ctstat.model.period import Period
from ctstat.model.report import Claim, FileReport, Report
from ctstat.model.units import Unit

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ctstat.plan.completeness import Completeness
    from ctstat.plan.history_sheet import HistoryLookup


class WardCells(MutableMapping[str, "pd.Series"]):
    """Ward -> its cells (a Series over the form's cell keys). The forms read together are rows of one array
    (`put_row`), each made a Series only when it is asked for: ten thousand Series made, then stacked back into an
    array to plan the rollup, were 0.15 s of a national rollup after the reading. `rows` takes many wards' cells
    as one array, without making any."""

    def __init__(self, items: Mapping[str, pd.Series] | None = None) -> None:
        self._cells: dict[str, pd.Series | tuple[np.ndarray, pd.Index, int]] = dict(items or {})

    def put_row(self, code: str, rows: np.ndarray, columns: pd.Index, row: int) -> None:
        """The ward's cells: row `row` of `rows` (columns: the cell keys), shared with other wards, not copied."""
        self._cells[code] = (rows, columns, row)

    def rows(self, codes: Sequence[str], keys: pd.Index) -> np.ndarray | None:
        """The cells of `codes` (a row each, columns `keys`) as one new array, when they are all rows of one array
        over exactly `keys`; else None."""
        got = [g for c in codes if isinstance(g := self._cells[c], tuple)]
        if not got or len(got) < len(codes):
            return None
        rows, columns, _ = got[0]
        if not all(g[0] is rows and g[1] is columns for g in got) or not columns.equals(keys):
            return None
        return rows[[g[2] for g in got]]

    def __getitem__(self, code: str) -> pd.Series:
        got = self._cells[code]
        if not isinstance(got, tuple):
            return got
        import pandas as pd

        rows, columns, row = got
        return pd.Series(rows[row], index=columns, copy=False)  # its own row of `rows`, made for them

    def __setitem__(self, code: str, cells: pd.Series) -> None:
        self._cells[code] = cells

    def __delitem__(self, code: str) -> None:
        del self._cells[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cells)

    def __len__(self) -> int:
        return len(self._cells)


@dataclass
class RollupInputs:
    """What a rollup starts from: the validated inputs, each ward's cells, and who claims each ward."""

    report: Report
    values_of: WardCells = field(default_factory=WardCells)  #: ward -> cells (valid wards only)
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
