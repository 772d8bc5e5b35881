"""A ward's figures of its last comparable period, from the job's history (issue 25: shown beside each field of
the report typed on the page, so that a ward sees at once a figure ten times last period's).

"Last period" is the latest earlier period comparable with the job's (plan/compare.comparable_periods): for a
count at a moment (stock), the half-year just before; for a count over the period (flow), the same half of the
year before; for a year, the year before. Across the reform of 2025 a new unit's counts are its old communes'
restated (job/compare.past_cells); a yes/no answer only as held under the job's own unit list.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctstat.job.config import JobConfig, has_history
from ctstat.job.history import History
from ctstat.job.history_past import kinds_of, past_cells
from ctstat.model.catalogue import Catalogue
from ctstat.model.keys import element_of
from ctstat.model.layout import form_layout
from ctstat.plan.compare import comparable_periods


@dataclass(frozen=True)
class Previous:
    """One cell's figure of the last comparable period: its period's label and the value (a count, or 1/0)."""

    period: str
    value: float


def last_labels(cfg: JobConfig, catalogue: Catalogue) -> dict[str, str]:
    """Cell -> the label of its last comparable period (cells with none left out)."""
    out = {}
    for key in form_layout(catalogue).keys:
        labels = comparable_periods(cfg.period, catalogue.elements[element_of(key)].over_time)
        if labels:
            out[key] = labels[-1]
    return out


def previous_values(cfg: JobConfig, catalogue: Catalogue, unit: str) -> dict[str, Previous]:
    """Cell -> the ward's figure of its last comparable period in the job's history; {} without a history."""
    if cfg.history is None or not has_history(cfg.history):
        return {}
    history = History(cfg.history)
    wanted = last_labels(cfg, catalogue)
    counts = {c: k for c, k in kinds_of(catalogue).items() if c in wanted}
    past, _ = past_cells(history, cfg.vintage, cfg.period, [unit], counts)
    answers = [c for c in wanted if catalogue.elements[element_of(c)].type == "yesno"]
    labels = sorted({wanted[c] for c in answers})
    held = history.cells_of(cfg.vintage, labels, [unit], answers) if answers else None
    out: dict[str, Previous] = {}
    for frame in (past, held):
        if frame is None:
            continue
        for period, cell, value in zip(frame["period"], frame["cell"], frame["value"], strict=True):
            cell, period = str(cell), str(period)
            if wanted.get(cell) == period and value == value:  # NaN: not held
                out[cell] = Previous(period, float(value))
    return out
