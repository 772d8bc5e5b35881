"""The history's summary: for one period and unit list, every commune's cells laid out over their comparable
earlier periods, dense (`plan.dense.Summary`): what `validate --history` and `compare --period` judge a batch
against, instead of every earlier period's cells.

`summary/<period>_<vintage>_<state>.arrow` is one Arrow IPC file, uncompressed and read memory-mapped (a batch
touches the pages of its own communes and cells): a row per (commune, count cell) with `c0`…`c11`, the values of
the last `LOOK_BACK` comparable periods of the cell's kind, oldest first (NaN: not held; a year not held as such
built from its halves; a new commune's periods before the reform restated from its old communes, exactly or not
at all), and `k`, `total`, `phi` (periods held among the last six, their sum, the over-dispersion factor); then,
per district and province, the sums of every commune under it and how many of them each sum holds. The codes,
kinds and period labels are in the schema's metadata. `state` digests the history's files in force and the
catalogue's stock/flow reading, so a summary made before a load is never read after it (a load removes them).
`ctstat history add` makes the summaries of the periods likely validated next (the year 2025 by the new communes
among them while 2025 is next or newest); any other period's is made on its first use (each comparable period's
file read straight into arrays) and kept. Summaries are written atomically, and a folder that cannot be written
to is summarised in memory. The full Parquet files stay the source of truth: the summary is derived from them and
gives the same flags (`tests/test_history_summary.py`, `tests/test_dense.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ctstat.job.history import MANIFEST, History
from ctstat.job.history_past import REFORM, labels_read, past_cells
from ctstat.model.period import NEW, YEAR, Period
from ctstat.model.units import load_units
from ctstat.plan.compare import FIRST_YEAR, LOOK_BACK
from ctstat.plan.dense import Summary, summary_from, summary_of
from ctstat.write.atomic import atomic_write

SUMMARY = "summary"
COLUMNS = [f"c{i}" for i in range(LOOK_BACK)]


def state(history: History, kinds: Mapping[str, str]) -> str:
    """The digest a summary is valid for: the files in force, which cells are stocks and flows, the crosswalk of
    the reform and how far back the matrix reaches (a ctstat that reads them otherwise makes its own)."""
    doc = {
        "format": 2,
        "files": sorted(history.manifest()["files"].values()),
        "kinds": sorted(kinds.items()),
        "crosswalk": _crosswalk_digest(),
        "back": [LOOK_BACK, FIRST_YEAR],
    }
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


@cache
def _crosswalk_digest() -> str:
    """The packaged crosswalk's digest (read once: it is part of every summary's state)."""
    crosswalk = resources.files("ctstat") / "data" / "units" / "map_2025-07-01.csv"
    return hashlib.sha256(crosswalk.read_bytes()).hexdigest()


def summary_path(history: History, period: Period, vintage: str, kinds: Mapping[str, str]) -> Path:
    return history.dir / SUMMARY / f"{period}_{vintage}_{state(history, kinds)}.arrow"


def parents_of(vintage: str, units: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """Level -> commune -> its unit at that level, for `units` (None: every commune of the unit list)."""
    h = load_units(vintage)
    communes = [c for u in units if (c := h.get(u))] if units is not None else h.all("commune")
    out: dict[str, dict[str, str]] = {lv: {} for lv in h.levels if lv != "commune"}
    for commune in communes:
        for above in h.ancestors(commune):
            if above.level in out:
                out[above.level][commune.code] = above.code
    return out


def build(history: History, period: Period, vintage: str, kinds: Mapping[str, str]) -> Summary:
    """Every unit's matrix for `period` from the full history, dense (`plan.dense`): each comparable period's
    file read straight into a units × cells array; across the reform, the new communes' earlier periods
    restated from their old communes (`history_past.past_cells`)."""
    if vintage == REFORM[1]:
        past, _ = past_cells(history, vintage, period, None, dict(kinds))
        return summary_of(past, period, kinds, parents_of(vintage))
    slots = history.manifest()["files"]
    read = {
        label: _codes_and_values(history.dir / slots[f"{label}|{vintage}"])
        for label in sorted({lb for kind in ("stock", "flow") for lb in labels_read(period, kind)})
        if f"{label}|{vintage}" in slots
    }
    units = sorted({str(u) for unit_codes, *_ in read.values() for u in unit_codes})
    cells = list(kinds)
    held = {}
    for label, (unit_codes, unit_at, cell_codes, cell_at, values) in read.items():
        u = pd.Index(units).get_indexer(pd.Index(unit_codes, dtype=object))[unit_at]
        c = pd.Index(cells).get_indexer(pd.Index(cell_codes, dtype=object))[cell_at]
        dense = np.full((len(units), len(cells)), np.nan)
        dense[u[c >= 0], c[c >= 0]] = values[c >= 0]
        held[label] = dense
    return summary_from(units, held, period, kinds, parents_of(vintage))


def _codes_and_values(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One period's file as (unit codes, each row's unit among them, cell codes, each row's cell, values)."""
    table = pq.read_table(path, columns=["unit", "cell", "value"], read_dictionary=["unit", "cell"])
    table = table.unify_dictionaries()
    out = []
    for name in ("unit", "cell"):
        chunks = table.column(name).chunks
        codes = chunks[0].dictionary.to_numpy(zero_copy_only=False) if chunks else np.zeros(0, dtype=object)
        at = np.concatenate([ch.indices.to_numpy() for ch in chunks]) if chunks else np.zeros(0, dtype=np.int64)
        out += [codes, at.astype(np.int64)]
    values = table.column("value").to_numpy()
    return out[0], out[1], out[2], out[3], np.asarray(values, dtype=float)


def load(history: History, period: Period, vintage: str, kinds: Mapping[str, str]) -> Summary:
    """The summary of `period` under `vintage`: read (memory-mapped), or built from the history (and kept when
    it can be)."""
    path = summary_path(history, period, vintage, kinds)
    try:
        return _read(path)
    except (FileNotFoundError, pa.ArrowInvalid, OSError, KeyError, ValueError):
        summary = build(history, period, vintage, kinds)
        save(history, summary, path)
        return summary


def save(history: History, summary: Summary, path: Path) -> None:
    """`summary` written to `path` atomically as one Arrow IPC file, uncompressed (memory-mapped when read:
    only the pages a batch touches are read), skipped for a folder that is not a history yet or not writable.
    Columns over every row (communes, then parents): k, total, phi (the communes' test), c0…c11 (the matrix),
    in 32 bits when every value is exactly a 32-bit float; the codes and labels in the schema's metadata."""
    if not (history.dir / MANIFEST).exists():
        return
    held = [(name, c) for name, c in zip(COLUMNS, summary.matrix, strict=True) if c is not None]
    rows = _rows(summary)
    pad = rows - len(summary.k)
    exact = all(np.array_equal(c.astype(np.float32).astype(float), c, equal_nan=True) for _, c in held)
    columns = {
        "k": np.concatenate([summary.k, np.zeros(pad, dtype=np.int8)]),
        "total": np.concatenate([summary.total, np.zeros(pad)]),
        "phi": np.concatenate([summary.phi, np.ones(pad)]),
        **{name: (c.astype(np.float32) if exact else c) for name, c in held},
    }
    meta = {
        "units": summary.units,
        "cells": summary.cells,
        "kinds": summary.kinds,
        "labels": summary.labels,
        "levels": summary.levels,
        "under": {lv: [int(n) for n in c] for lv, c in summary.under.items()},
        "exact": summary.exact,
    }
    table = pa.table({n: pa.array(v) for n, v in columns.items()}).replace_schema_metadata({"ctstat": json.dumps(meta)})
    try:
        path.parent.mkdir(exist_ok=True)
        with atomic_write(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table, max_chunksize=max(rows, 1))
    except OSError:
        pass  # a history the user may only read: summarised in memory, every time


def _read(path: Path) -> Summary:
    """A saved summary, its columns memory-mapped (not copied)."""
    table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    meta = json.loads(table.schema.metadata[b"ctstat"])

    def column(name: str) -> np.ndarray:
        chunks = table.column(name).chunks
        return np.asarray(chunks[0].to_numpy() if len(chunks) == 1 else table.column(name).to_numpy())

    units = len(meta["units"]) * len(meta["cells"])
    return Summary(
        meta["units"],
        meta["cells"],
        meta["kinds"],
        meta["labels"],
        meta["levels"],
        {lv: np.asarray(c, dtype=np.int64) for lv, c in meta["under"].items()},
        bool(meta["exact"]),
        column("k")[:units],
        column("total")[:units],
        column("phi")[:units],
        [column(c) if c in table.column_names else None for c in COLUMNS],
    )


def _rows(summary: Summary) -> int:
    """Rows of the summary's matrix: the communes', then each level's sums and counts."""
    return (len(summary.units) + 2 * sum(len(c) for c in summary.levels.values())) * len(summary.cells)


def prepare(history: History, kinds: Mapping[str, str]) -> list[Path]:
    """After a load: the summaries of the periods likely validated next, so that their first `validate --history`
    reads them ready-made: under each unit list, the half-year after the newest one held, and the one a year
    after the newest H1 and the newest H2 held (a history of H1s only is compared with the next H1); and the year
    2025 by the new communes when a half of 2025 is next or held (a year job's first comparison)."""
    from ctstat.model.period import vintage_for

    newest: dict[tuple[str, int], Period] = {}
    for slot in history.manifest()["files"]:
        label, vintage = slot.split("|")
        period = Period.parse(label)
        if period.half is not None:
            for key in ((vintage, 0), (vintage, period.half)):
                if key not in newest or period.end > newest[key].end:
                    newest[key] = period
    held = set(history.manifest()["files"])
    wanted = set()
    for (vintage, half), period in newest.items():
        nxt = Period(period.year + 1, period.half) if half else Period(*_after(period))
        if f"{nxt}|{vintage}" not in held:
            wanted.add(nxt)
    slots = [(period, vintage_for(period)) for period in sorted(wanted)]
    if _reform_year_next(wanted, held):
        slots.append((Period.parse(YEAR), NEW))
    made = []
    for period, vintage in slots:
        path = summary_path(history, period, vintage, kinds)
        if not path.exists():
            save(history, build(history, period, vintage, kinds), path)
            made.append(path)
    return made


def _reform_year_next(wanted: set[Period], held: set[str]) -> bool:
    """Whether the year 2025 by the new communes is likely compared next (a year job's first `run`): the history
    does not hold that year itself, and a half of 2025 is next or the newest period held is of 2025."""
    year = Period.parse(YEAR).year
    latest = max((Period.parse(slot.split("|")[0]) for slot in held), key=lambda p: p.end, default=None)
    soon = any(p.year == year for p in wanted) or (latest is not None and latest.year == year)
    return f"{YEAR}|{NEW}" not in held and soon


def _after(period: Period) -> tuple[int, int]:
    return (period.year, 2) if period.half == 1 else (period.year + 1, 1)
