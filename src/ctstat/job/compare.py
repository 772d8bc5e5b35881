"""Compare a period with the history: each commune's counts, and the district and province sums, against their
comparable earlier periods (`plan.compare`), across the 2025 reform where the crosswalk allows it (`plan.reform`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ctstat.job import history_summary
from ctstat.job.config import JobConfig, has_history
from ctstat.job.followups import notes_for
from ctstat.job.history import History
from ctstat.job.history_past import REFORM, concat_long, kinds_of, labels_read, past_cells
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import element_of
from ctstat.model.layout import form_layout
from ctstat.model.messages import make_issue
from ctstat.model.period import Period
from ctstat.model.report import FileReport, Issue, Report
from ctstat.model.units import load_crosswalk, load_units
from ctstat.plan.compare import compare, finding_detail, p_text
from ctstat.plan.dense import judge_batch
from ctstat.plan.history_sheet import HistoryLookup, PeriodHistory, needed_cells
from ctstat.plan.reform import no_history, restate
from ctstat.read.workbook import Submission

FEW_UNITS = 64  #: up to this many units, a comparison reads their cells, not the whole summary


@dataclass
class Comparison:
    """Every judged cell of a period (flagged or not), by level, ranked by p."""

    period: str
    vintage: str
    findings: pd.DataFrame  #: FINDING_COLUMNS + level: every judged cell, or the flagged ones only (`tested`)
    no_history: list[str] = field(default_factory=list)  #: new communes with no comparable history (reform)
    tested: int | None = None  #: cells checked, when `findings` holds the flagged cells only (`plan.dense`)

    @property
    def checked(self) -> int:
        """Cells judged: those with enough comparable periods held."""
        return self.tested if self.tested is not None else int(self.findings["tested"].astype(bool).sum())

    @property
    def flagged(self) -> pd.DataFrame:
        """The warnings: flagged and not confirmed."""
        return self.findings[self.findings["flagged"].astype(bool) & self.findings["note"].isna()]

    @property
    def confirmed(self) -> pd.DataFrame:
        """Flags a ward or the district confirmed with a note (for this very value)."""
        return self.findings[self.findings["flagged"].astype(bool) & self.findings["note"].notna()]


def compare_period(
    history: History,
    catalogue: Catalogue,
    period: Period,
    vintage: str,
    current: pd.DataFrame | None = None,
    full: bool | None = None,
) -> Comparison:
    """Judge `current` (unit, cell, value; by default the history's own cells of `period`) at every level: from
    the history's summary of `period` (`history_summary`, `plan.dense`: the flagged cells and the number
    checked), or with `full` from the earlier periods' cells the summary is made of (the same flags, and every
    judged cell). By default, a batch of a few units (an upload) reads their own cells (a few row groups), a
    larger one the summary."""
    kinds = kinds_of(catalogue)
    refused: list[str] = []
    if current is None:
        current = history.cells_of(vintage, [str(period)], cells=list(kinds))[["unit", "cell", "value"]]
        if current.empty and period.half is None:  # a year the history holds as halves
            current, refused = year_cells(history, catalogue, period.year, vintage)
    current = current[current["cell"].isin(list(kinds))]
    units = [str(u) for u in current["unit"].astype("category").cat.remove_unused_categories().cat.categories]
    dense = None if full or full is None and len(units) <= FEW_UNITS else _dense(current, units, list(kinds))
    if dense is not None:
        return compare_forms(history, kinds, period, vintage, dense, refused)
    parents = history_summary.parents_of(vintage, units)
    past, none = past_cells(history, vintage, period, sorted(units), kinds)
    findings = compare(current, past, period, kinds, parents)
    none = sorted(set(none) | set(refused))
    return Comparison(str(period), vintage, _with_notes(findings, history, vintage, str(period)), none)


def compare_forms(
    history: History,
    kinds: dict[str, str],
    period: Period,
    vintage: str,
    forms: tuple[list[str], np.ndarray],
    refused: list[str] | None = None,
) -> Comparison:
    """A batch of forms ((units, their values over the count cells `kinds`, NaN: blank)) judged against the
    history's summary of `period` (`plan.dense`): the flagged cells and the number of cells checked."""
    units, values = forms
    summary = history_summary.load(history, period, vintage, kinds)
    new = sorted(set(units) - set(summary.units))  # no history: their parents from the unit list
    parents = history_summary.parents_of(vintage, new) if new else {}
    findings, checked = judge_batch(summary, units, values, parents)
    none = sorted(no_history(load_crosswalk(), set(units))) if vintage == REFORM[1] else []
    none = sorted(set(none) | set(refused or []))
    notes = _with_notes(findings, history, vintage, str(period))
    return Comparison(str(period), vintage, notes, none, checked)


def _positions(column: pd.Series, index: list[str]) -> np.ndarray:
    """Each value's position in `index`, through its categories (millions of rows of a few thousand codes)."""
    cat = column.astype("category")
    where = pd.Index(index).get_indexer(pd.Index(cat.cat.categories.astype(str)))
    return np.asarray(where, dtype=np.int64)[cat.cat.codes.to_numpy()]


def _dense(current: pd.DataFrame, units: list[str], cells: list[str]) -> tuple[list[str], np.ndarray] | None:
    """`current` (unit, cell, value) as one row of values per unit over `cells` (None: a (unit, cell) twice)."""
    u, c = (_positions(current[name], index) for name, index in (("unit", units), ("cell", cells)))
    at = u * len(cells) + c
    if len(at) and np.bincount(at, minlength=len(units) * len(cells)).max() > 1:
        return None
    values = np.full(len(units) * len(cells), np.nan)
    values[at] = current["value"].to_numpy(dtype=float)
    return units, values.reshape(len(units), len(cells))


def _long(forms: tuple[list[str], np.ndarray], cells: list[str]) -> pd.DataFrame:
    """Forms (units, values over `cells`) as (unit, cell, value) rows, blanks left out."""
    units, values = forms
    frame = pd.DataFrame(
        {"unit": np.repeat(units, len(cells)), "cell": np.tile(cells, len(units)), "value": values.ravel()}
    )
    return frame.dropna(subset=["value"]).reset_index(drop=True)


def _with_notes(findings: pd.DataFrame, history: History, vintage: str, period: str) -> pd.DataFrame:
    """Each flagged commune finding with the note confirming its value, if any (`followups`)."""
    notes = notes_for(history.dir, vintage, period).assign(level="commune")
    note = np.full(len(findings), None, dtype=object)
    flagged = np.flatnonzero(findings["flagged"].to_numpy(dtype=bool))
    if len(notes) and len(flagged):
        mine = findings.iloc[flagged][["level", "unit", "cell", "value"]].astype(str).astype({"value": float})
        mine = mine.merge(notes, on=["level", "unit", "cell"], how="left")  # a left merge keeps the order
        same = (mine["confirmed_value"] == mine["value"]).to_numpy()  # another value since: judged afresh
        note[flagged[same]] = mine["note"].to_numpy(dtype=object)[same]
    return findings.assign(note=note)


def issues(comparison: Comparison, catalogue: Catalogue, paths: dict[str, str] | None = None) -> list[Issue]:
    """The flagged communes' cells as `unusual-change` warnings, located at the form's cell, ranked by p."""
    layout = form_layout(catalogue)
    out = []
    flagged = comparison.flagged
    chance = (
        "Nếu tình hình không đổi, khả năng gặp thay đổi lớn như vậy chỉ là",
        "Were nothing changed, a change this large would have a chance of",
    )
    for row in flagged[flagged["level"] == "commune"].to_dict("records"):
        sheet, cell = layout.address(str(row["cell"]))
        p = float(row["p"])
        out.append(
            make_issue(
                "unusual-change",
                path=(paths or {}).get(str(row["unit"])),
                sheet=sheet,
                cell=cell,
                element=str(row["cell"]),
                detail=f"{finding_detail(row, comparison.period, 'vi')}. {chance[0]} {p_text(p, 'vi')}",
                detail_en=f"{finding_detail(row, comparison.period, 'en')}. {chance[1]} {p_text(p, 'en')}",
                value=_plain(float(row["value"])),
            )
        )
    return out


def _plain(v: float) -> float | int:
    """A count as people write it (26, not 26.0)."""
    return int(v) if v.is_integer() else v


def forms_current(
    reports: list[FileReport], subs: list[Submission], keys: list[str], cells: list[str]
) -> dict[tuple[str, str], tuple[tuple[list[str], np.ndarray], dict[str, str]]]:
    """The valid ward forms of a `validate` batch, by (period, unit list): their units and values over `cells`
    (one row per form, NaN: blank), and each unit's file."""
    groups: dict[tuple[str, str], list[tuple[str, str, np.ndarray]]] = {}
    for rep, sub in zip(reports, subs, strict=False):
        values = sub.checked[1] if sub.checked is not None else None
        if rep.valid and rep.unit and rep.period and rep.vintage and values is not None and sub.book is None:
            groups.setdefault((rep.period, rep.vintage), []).append((rep.unit, rep.path, values))
    take = pd.Index(keys).get_indexer(pd.Index(cells))
    out = {}
    for slot, forms in groups.items():
        values = np.vstack([np.asarray(v, dtype=float) for _, _, v in forms])[:, take]
        out[slot] = (([u for u, _, _ in forms], values), {u: p for u, p, _ in forms})
    return out


def add_unusual(report: Report, subs: list[Submission], catalogue: Catalogue, history: History) -> list[Comparison]:
    """`validate --history`: judge every valid form against the history and add the flags to its report as
    warnings (they never make a file invalid). Returns each period's comparison (for "checked N, flagged M")."""
    keys = list(form_layout(catalogue).keys)
    kinds = kinds_of(catalogue)
    by_file = {f.path: f for f in report.files}
    done = []
    for (period, vintage), (forms, paths) in sorted(forms_current(report.files, subs, keys, list(kinds)).items()):
        if len(set(forms[0])) > FEW_UNITS:
            comparison = compare_forms(history, kinds, Period.parse(period), vintage, forms)
        else:  # a few forms: their own cells read from the history, no summary made for them
            comparison = compare_period(history, catalogue, Period.parse(period), vintage, _long(forms, list(kinds)))
        for issue in issues(comparison, catalogue, paths):
            if issue.path in by_file:
                by_file[issue.path].issues.append(issue)
        done.append(comparison)
    return done


def compare_job(cfg: JobConfig, catalogue: Catalogue, history: History) -> Comparison:
    """`run` with a history: the current valid submissions of the job's period against the history (the
    period itself is not loaded into the history: `ctstat history add` does that, when the period is closed). The
    year 2025 by the new communes compares each new commune's year as the job puts it together (`year_job`: the
    old communes' H1 and its own H2), with its earlier years."""
    from ctstat.job.history_sources import from_ledger

    if cfg.reform_year:
        from ctstat.job.ledger import Ledger
        from ctstat.job.year_job import year_cells, year_inputs

        with Ledger(cfg.ledger_path, readonly=True) as ledger:
            year = year_cells(year_inputs(cfg.inbox, catalogue, ledger))
        return compare_period(history, catalogue, cfg.period, cfg.vintage, year)
    cells, _ = from_ledger(cfg.ledger_path, catalogue)
    mine = cells[(cells["period"] == str(cfg.period)) & (cells["vintage"] == cfg.vintage)]
    return compare_period(history, catalogue, cfg.period, cfg.vintage, mine[["unit", "cell", "value"]])


def comparison_dict(
    comparison: Comparison, catalogue: Catalogue, lang: str = "vi", limit: int | None = None
) -> dict[str, Any]:
    """For --json and the rendered list: the counts, then each flagged cell ranked by p (the first `limit` of
    them; 0: the counts alone, as `validate --history` says them)."""
    layout = form_layout(catalogue)
    h = load_units(comparison.vintage)
    flagged = comparison.flagged
    rows = []
    for row in flagged.head(limit).to_dict("records") if limit is not None else flagged.to_dict("records"):
        sheet, cell = layout.address(str(row["cell"]))
        unit = h.find_any_level(str(row["unit"]))
        rows.append(
            {
                "level": row["level"],
                "unit": row["unit"],
                "unit_name": unit.name if unit else "",
                "cell_key": row["cell"],
                "sheet": sheet,
                "cell": cell,
                "value": float(row["value"]),
                "history": dict(zip(row["periods"], row["past"], strict=True)),
                "test": row["test"],
                "p": float(row["p"]),
                "ratio": None if pd.isna(row["ratio"]) else float(row["ratio"]),
                "message": finding_detail(row, comparison.period, lang),
            }
        )
    return {
        "period": comparison.period,
        "vintage": comparison.vintage,
        "checked": comparison.checked,
        "flagged": len(flagged),
        "flagged_by_level": {str(k): int(v) for k, v in flagged["level"].value_counts().sort_index().items()},
        "no_comparable_history": comparison.no_history,
        "unusual_changes": rows,
        "confirmed": [
            {"unit": r["unit"], "cell_key": r["cell"], "value": float(r["value"]), "note": r["note"]}
            for r in comparison.confirmed.to_dict("records")
        ],
    }


def year_cells(
    history: History, catalogue: Catalogue, year: int, vintage: str, units: list[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """A year built from its halves held in the history: a flow is H1 + H2 (both needed, cell by cell), a stock
    its H2. The year 2025 under the new list (`2025-07-01`) takes its H1 from the old communes restated on the new
    ones (`plan.reform`): exact where every old commune went in whole, and refused where one was split, whose
    flows cannot be counted for the year. Returns (unit, cell, value) and the units refused."""
    kinds = kinds_of(catalogue)
    h2 = history.cells_of(vintage, [f"{year}-H2"], units)
    h2 = h2.astype({"unit": str, "cell": str})[["unit", "cell", "value"]]
    wanted = units if units is not None else sorted(h2["unit"].unique())
    flows = [c for c, k in kinds.items() if k == "flow"]
    refused: set[str] = set()
    if vintage == REFORM[1] and year == 2025:
        crosswalk = load_crosswalk()
        olds = sorted({old for old, pairs in crosswalk.items() if any(new in set(wanted) for new, _ in pairs)})
        h1, refused = restate(history.cells_of(REFORM[0], ["2025-H1"], olds, flows), crosswalk, wanted)
    else:
        h1 = history.cells_of(vintage, [f"{year}-H1"], wanted, flows)
    h1 = h1.astype({"unit": str, "cell": str})[["unit", "cell", "value"]]
    stock = h2[h2["cell"].map(kinds) == "stock"]
    flow = h2[h2["cell"].isin(flows) & ~h2["unit"].isin(refused)].merge(h1, on=["unit", "cell"], suffixes=("", "_h1"))
    flow = flow.assign(value=flow["value"] + flow["value_h1"])[["unit", "cell", "value"]]
    parts = [f for f in (stock, flow) if not f.empty] or [stock]  # (pandas 2.2 warns of empty parts' dtypes)
    year_frame = pd.concat(parts, ignore_index=True).sort_values(["unit", "cell"], ignore_index=True)
    return year_frame, sorted(refused & set(wanted))


def period_history(
    history: History, catalogue: Catalogue, period: Period, vintage: str, current: pd.DataFrame
) -> PeriodHistory:
    """A rollup's comparison sheet (`plan.history_sheet`): the communes' earlier cells of every indicator (restated
    across the reform) and the period's findings at every level. `current`: the valid communes' cells."""
    current = current.astype({"unit": str, "cell": str})
    comparison = compare_period(history, catalogue, period, vintage, current)
    units = sorted(current["unit"].unique())
    cells = needed_cells(catalogue)
    answers = {c: k for c, k in cells.items() if catalogue.elements[element_of(c)].type == "yesno"}
    counts = {c: k for c, k in cells.items() if c not in answers}
    past, none = past_cells(history, vintage, period, units, counts)
    if answers:  # a yes/no answer is never summed across the reform: only as held under this list
        labels = sorted({lb for kind in set(answers.values()) for lb in labels_read(period, kind)})
        past = concat_long([past, history.cells_of(vintage, labels, units, list(answers))])
    missing = tuple(sorted(set(none) | set(comparison.no_history)))
    return PeriodHistory(past, comparison.findings, comparison.checked, missing, str(history.dir))


def history_lookup(history: History, catalogue: Catalogue) -> HistoryLookup:
    """What `rollup` is given to compare its communes with `history` (the pipeline never reads a history)."""

    def lookup(current: pd.DataFrame, period: Period, vintage: str) -> PeriodHistory:
        return period_history(history, catalogue, period, vintage, current)

    return lookup


def upload_unusual(cfg: JobConfig, catalogue: Catalogue, submission_id: int | None, unit: str) -> list[Issue]:
    """The portal's result page: a valid upload's unusual changes against the job's history (none without a
    history), as the ward's warnings. The ward sees them before the district calls. An upload is compared under
    its own period and unit list (a job of the year 2025 takes old communes' H1 and new communes' H2 forms)."""
    from ctstat.job.ledger import Ledger

    if cfg.history is None or submission_id is None or not has_history(cfg.history):
        return []
    with Ledger(cfg.ledger_path, readonly=True) as ledger:
        cells = ledger.cells([submission_id]).get(submission_id, {})
        rows = ledger.rows("id=?", submission_id)
    period = Period.parse(rows[0].period) if rows and rows[0].period else cfg.period
    vintage = rows[0].vintage if rows and rows[0].vintage else cfg.vintage
    current = pd.DataFrame({"unit": unit, "cell": list(cells), "value": list(cells.values())}, dtype=object)
    current = current.astype({"value": float}).dropna(subset=["value"])
    return issues(compare_period(History(cfg.history), catalogue, period, vintage, current), catalogue)
