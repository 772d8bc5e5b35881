"""The history's summary: for one period and unit list, every unit's cells laid out over their comparable earlier
periods, the matrix `plan.compare` judges. `validate --history` and `compare --period` read this one table
instead of every earlier period's cells.

`summary/<period>_<vintage>_<state>.parquet` holds a row per (unit, cell) with any comparable history: `unit`,
`cell` and `c0`…`c11`, the values of the last `LOOK_BACK` comparable periods of the cell's kind, oldest first
(empty: not held; a year not held as such built from its halves; a new commune's periods before the reform
restated from its old communes, exactly or not at all). `state` digests the history's files in force and the
catalogue's stock/flow reading, so a summary made before a load is never read after it (a load removes them).
`ctstat history add` makes the summary of the period that follows the newest one held; any other period's is
made on its first use and kept. Summaries are written atomically, and a folder that cannot be written to is
summarised in memory. The full Parquet files stay the source of truth: the summary is derived from them and
gives the same findings (`tests/test_history_summary.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ctstat.job.history import MANIFEST, History
from ctstat.job.history_past import past_cells
from ctstat.model.period import Period
from ctstat.plan.compare import FIRST_YEAR, LOOK_BACK, comparable_periods, wide_history
from ctstat.write.atomic import atomic_write

SUMMARY = "summary"
COLUMNS = [f"c{i}" for i in range(LOOK_BACK)]
Held = dict[str, tuple[pd.DataFrame, np.ndarray]]  #: kind -> ((unit, cell) rows, their matrix), as `compare_held`


def state(history: History, kinds: Mapping[str, str]) -> str:
    """The digest a summary is valid for: the files in force, which cells are stocks and flows, the crosswalk of
    the reform and how far back the matrix reaches (a ctstat that reads them otherwise makes its own)."""
    doc = {
        "format": 1,
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
    return history.dir / SUMMARY / f"{period}_{vintage}_{state(history, kinds)}.parquet"


def build(history: History, period: Period, vintage: str, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Every unit's matrix for `period` (unit, cell, c0…), from the full history."""
    past, _ = past_cells(history, vintage, period, None, dict(kinds))
    held = past["unit"].astype("category").cat.categories if len(past) else pd.Index([], dtype=object)
    units = pd.Index(np.asarray(held, dtype=object))
    parts = []
    for kind in ("stock", "flow"):
        cells = pd.Index([c for c, k in kinds.items() if k == kind], dtype=object)
        labels = comparable_periods(period, kind)[-LOOK_BACK:]
        rows = pd.DataFrame(
            {
                "unit": pd.Categorical.from_codes(np.repeat(np.arange(len(units)), len(cells)), units),
                "cell": pd.Categorical.from_codes(np.tile(np.arange(len(cells)), len(units)), cells),
            }
        )
        matrix = wide_history(past, labels, kind, rows) if len(rows) else np.empty((0, len(labels)))
        keep = ~np.isnan(matrix).all(axis=1)
        values = np.full((int(keep.sum()), LOOK_BACK), np.nan)
        values[:, : matrix.shape[1]] = matrix[keep]
        part = pd.DataFrame(values, columns=COLUMNS)
        part.insert(0, "cell", np.asarray(rows["cell"], dtype=object)[keep])
        part.insert(0, "unit", np.asarray(rows["unit"], dtype=object)[keep])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def load(history: History, period: Period, vintage: str, kinds: Mapping[str, str]) -> Held:
    """The summary of `period` under `vintage`: read, or built from the history (and kept when it can be)."""
    path = summary_path(history, period, vintage, kinds)
    try:
        table = pq.read_table(path, read_dictionary=["unit", "cell"])
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        table = save(history, build(history, period, vintage, kinds), path)
    return _held(table, period, kinds)


def save(history: History, frame: pd.DataFrame, path: Path) -> pa.Table:
    """`frame` written to `path` atomically (skipped for a folder that is not a history yet or not writable).
    Values are kept as NaN, not as nulls (read back without conversion), in 32 bits when every one of them is
    exactly a 32-bit float (counts below 16,777,216), else in 64."""
    values = frame[COLUMNS].to_numpy(dtype=float)
    narrow = values.astype(np.float32)
    exact = bool(np.array_equal(narrow.astype(float), values, equal_nan=True))
    table = pa.table(
        {
            "unit": pa.array(frame["unit"].astype(str).to_numpy(dtype=object), pa.string()).dictionary_encode(),
            "cell": pa.array(frame["cell"].astype(str).to_numpy(dtype=object), pa.string()).dictionary_encode(),
            **{c: pa.array(narrow[:, j] if exact else values[:, j]) for j, c in enumerate(COLUMNS)},
        }
    )
    if (history.dir / MANIFEST).exists():
        try:
            path.parent.mkdir(exist_ok=True)
            with atomic_write(path) as tmp:
                pq.write_table(table, tmp, compression="lz4")  # read at every batch: the faster to decode
        except OSError:
            pass  # a history the user may only read: summarised in memory, every time
    return table


def _held(table: pa.Table, period: Period, kinds: Mapping[str, str]) -> Held:
    """The summary as `compare_held` takes it: each kind's rows are found by their codes, so one table serves
    both (the cells of a kind are not in the other), each kind's matrix as wide as its comparable periods."""
    keys = table.select(["unit", "cell"]).to_pandas()
    values = np.empty((table.num_rows, LOOK_BACK), order="F")  # column by column, as `plan.compare` reads it
    for j, name in enumerate(COLUMNS):
        start = 0
        for chunk in table.column(name).chunks:  # chunk by chunk: a chunked column's own conversion is slow
            values[start : start + len(chunk), j] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)
    return {k: (keys, values[:, : len(comparable_periods(period, k)[-LOOK_BACK:])]) for k in ("stock", "flow")}


def prepare(history: History, kinds: Mapping[str, str]) -> list[Path]:
    """After a load: the summaries of the periods likely validated next, so that their first `validate --history`
    reads them ready-made: under each unit list, the half-year after the newest one held, and the one a year
    after the newest H1 and the newest H2 held (a history of H1s only is compared with the next H1)."""
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
    made = []
    for period in sorted(wanted):
        path = summary_path(history, period, vintage_for(period), kinds)
        if not path.exists():
            save(history, build(history, period, vintage_for(period), kinds), path)
            made.append(path)
    return made


def _after(period: Period) -> tuple[int, int]:
    return (period.year, 2) if period.half == 1 else (period.year + 1, 1)
