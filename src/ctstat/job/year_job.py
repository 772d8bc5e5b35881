"""A job of the year 2025 by the new communes (`period = "2025"`, `units = "2025-07-01"`), seen from its ledger.

Its inputs are of three kinds (old communes' 2025-H1 forms, new communes' 2025-H2 forms, forms of the whole year on
the new list: `period.SLOTS`), and no submission is of period "2025" but the last. Every view of the job puts them
together per new commune as `rollup --period 2025 --units 2025-07-01` does (`plan.reform_year`: flows H1 + H2,
stocks H2, refused where an old commune was split or an input is missing), from the ledger's records and stored
cells, without reading a file again:
- `status` and the portal count each new commune as its year stands (`year_completeness`);
- the unusual-change list compares each new commune's year with its earlier years (`year_cells`);
- a written year is current while `year_key` is the ledger's key; otherwise it is retired (`job.run`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ctstat.job.ledger import Ledger, Row
from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.model.period import NEW, OLD, SLOTS
from ctstat.model.report import Claim, Said
from ctstat.model.units import Hierarchy, Unit, load_crosswalk, load_units
from ctstat.plan.completeness import Completeness, parent_statuses, unit_statuses

if TYPE_CHECKING:  # pandas and the year's planning load only when a year is put together (`job.run` imports this)
    import pandas as pd

    from ctstat.plan.reform_year import YearInputs

STALE_VI = Said(
    "Tệp được kiểm tra theo danh mục chỉ tiêu khác; cần kiểm tra lại (chạy lại ctstat run)",
    "Checked against another catalogue; to be checked again (run ctstat run again)",
)


def claims_of(inbox: Path, catalogue: Catalogue, rows: Mapping[str, list[Row]]) -> dict[str, list[Claim]]:
    """Each unit's submissions (`Ledger.claims`), oldest received first, as claims. A row judged under another
    catalogue (its file unreadable since) never counts as valid."""
    out: dict[str, list[Claim]] = {}
    for unit, mine in rows.items():
        out[unit] = []
        for r in mine:
            rep = r.report(inbox)
            if r.catalogue_digest != catalogue.digest:
                out[unit].append(Claim(unit, rep.path, False, STALE_VI, r.received_at, rep))
            else:
                out[unit].append(Claim.of(rep, r.received_at))
    return out


def current_inputs(ledger: Ledger) -> list[Row]:
    """The current submission of each unit in each of the year's three inputs (what the run rolls up)."""
    return [row for period, _ in SLOTS for row in ledger.current(period).values()]


def year_inputs(inbox: Path, catalogue: Catalogue, ledger: Ledger) -> YearInputs:
    """Each new commune's year from the ledger: the current submission of each unit in each input (a file of
    another unit list than its period's is no input, as `rollup` refuses it), their stored cells."""
    import pandas as pd

    from ctstat.plan.reform_year import Lists, Slot, over_time, year_by_new_units

    keys = list(form_layout(catalogue).keys)
    slots = []
    for period, vintage in SLOTS:
        rows = {u: [r] for u, r in ledger.current(period).items() if r.vintage == vintage}
        claims = claims_of(inbox, catalogue, rows)
        valid = {u: rows[u][0].id for u, mine in claims.items() if mine[0].valid}
        stored = ledger.cells(list(valid.values()))
        values = {u: pd.Series(stored.get(i, {}), dtype=float).reindex(keys) for u, i in valid.items()}
        slots.append(Slot(claims, values))
    lists = Lists(load_units(OLD), load_units(NEW), load_crosswalk())
    h1, h2, year = slots
    return year_by_new_units(h1, h2, year, over_time(catalogue), lists)


def year_completeness(h: Hierarchy, area: Unit, year: YearInputs, deadline: date | None) -> Completeness:
    """Each new commune of `area` as its year stands: valid when it is put together (or a year form is valid),
    else what is missing or wrong (an old commune's H1, its own H2, a split), as the year's rollup says it."""
    statuses = unit_statuses(h, h.communes_under(area), year.claims, deadline, latest_wins=True)
    return Completeness(statuses, parent_statuses(h, area, statuses, year.claims))


def year_cells(year: YearInputs) -> pd.DataFrame:
    """The new communes' years put together (unit, cell, value), for the comparison with earlier years."""
    import pandas as pd

    parts = [
        pd.DataFrame({"unit": unit, "cell": values.index, "value": values.to_numpy(dtype=float)})
        for unit, values in sorted(year.values.items())
    ]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["unit", "cell", "value"])
    return frame.dropna(subset=["value"]).astype({"value": float})


def year_key(catalogue: Catalogue, ledger: Ledger, deadline: date | None, partial: bool, history: str | None) -> str:
    """What a written year is made of: the current inputs, the catalogue, the deadline, whether a partial year is
    allowed now, the history's state (`history`, None without one). It is current while this is its key."""
    return hashlib.sha256(
        json.dumps(
            [
                sorted((r.period or "", r.unit or "", r.sha256, r.catalogue_digest) for r in current_inputs(ledger)),
                catalogue.digest,
                str(deadline),
                partial,
                *([history] if history is not None else []),
            ]
        ).encode()
    ).hexdigest()
