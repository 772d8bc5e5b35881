"""A job of the year 2025 by the new communes (`period = "2025"`, `units = "2025-07-01"`), seen from its ledger.

Its inputs are of three kinds (old communes' 2025-H1 forms, new communes' 2025-H2 forms, forms of the whole year on
the new list: `period.SLOTS`), and no submission is of period "2025" but the last. Every view of the job puts them
together per new commune as `rollup --period 2025 --units 2025-07-01` does (`plan.reform_year`: flows H1 + H2,
stocks H2, refused where an old commune was split or an input is missing), from the ledger's records and stored
cells, without reading a file again:
- `status` and the portal count each new commune as its year stands (`year_completeness`);
- the unusual-change list compares each new commune's year with its earlier years (`year_cells`);
- a written year is current while `year_key` is the ledger's key; otherwise it is retired (`job.run`);
- `status` lists the resubmissions of every input (`resubmissions`), keyed by period, unit list and code: a code
  names another commune on each list (03538 was Xã Căn Co and is now Xã Nậm Mạ).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctstat.job.ledger import Ledger, Row
from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.model.period import NEW, OLD, SLOTS, Period
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


def submission_dict(r: Row, current: bool) -> dict[str, Any]:
    """One submission of a unit as `status` lists its resubmissions."""
    return {
        "path": r.path,
        "sha256": r.sha256,
        "received_at": r.received_at.isoformat(),
        "period": r.period,
        "units": r.vintage,
        "valid": r.valid,
        "errors": r.errors,
        "current": current,
        "removed": not r.present,
    }


def resubmission_key(period: str, vintage: str, unit: str) -> str:
    """A year job's resubmission: the same code is another commune on each unit list (`PERIOD|LIST|CODE`)."""
    return f"{period}|{vintage}|{unit}"


def resubmissions(ledger: Ledger, expected: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Every unit that sent an input of the year more than once (the old communes mapped into the `expected` new
    ones for 2025-H1, the new communes for 2025-H2 and the year), each file with the unit list and half-year it
    is of, keyed by `resubmission_key`, the current one (the latest received still in the inbox) marked."""
    olds = {old for old, news in load_crosswalk().items() if any(new in expected for new, _ in news)}
    out: dict[str, list[dict[str, Any]]] = {}
    for period, vintage in SLOTS:
        scope = olds if vintage == OLD else expected
        for unit, rows in sorted(ledger.history(period).items()):
            mine = [r for r in rows if r.vintage == vintage]
            if unit not in scope or len(mine) < 2:
                continue
            present = [r for r in mine if r.present]
            current = max(present, key=lambda r: (r.received_at, r.id)).id if present else None
            out[resubmission_key(period, vintage, unit)] = [submission_dict(r, r.id == current) for r in mine]
    return out


def resubmitted_unit(period: str, vintage: str, unit: str) -> Said:
    """Who resubmitted, as a person reads it: the report's period, whether the commune is of the old or the new
    list, its code and its name on that list."""
    found = load_units(vintage).get(unit)
    name = f"{unit} {found.name}" if found else unit
    p = Period.parse(period)
    if vintage == OLD:
        return Said(
            f"báo cáo {p.label_vi().lower()} của xã, phường cũ {name} (danh mục đến 30/6/2025)",
            f"the {p} report of the old commune {name} (list until 30 June 2025)",
        )
    return Said(
        f"báo cáo {p.label_vi().lower()} của xã, phường mới {name} (danh mục từ 1/7/2025)",
        f"the {p} report of the new commune {name} (list from 1 July 2025)",
    )


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
