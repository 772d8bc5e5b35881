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
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ctstat.job.history import MANIFEST, History
from ctstat.model.period import Period
from ctstat.plan.compare import LOOK_BACK, comparable_periods, wide_history
from ctstat.write.atomic import atomic_write

SUMMARY = "summary"
COLUMNS = [f"c{i}" for i in range(LOOK_BACK)]
Held = dict[str, tuple[pd.DataFrame, np.ndarray]]  #: kind -> ((unit, cell) rows, their matrix), as `compare_held`


def state(history: History, kinds: Mapping[str, str]) -> str:
    """The digest a summary is valid for: the files in force and which cells are stocks and flows."""
    doc = {"format": 1, "files": sorted(history.manifest()["files"].values()), "kinds": sorted(kinds.items())}
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


def summary_path(history: History, period: Period, vintage: str, kinds: Mapping[str, str]) -> Path:
    return history.dir / SUMMARY / f"{period}_{vintage}_{state(history, kinds)}.parquet"


def build(history: History, period: Period, vintage: str, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Every unit's matrix for `period` (unit, cell, c0…), from the full history."""
    from ctstat.job.compare import past_cells

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
    """`frame` written to `path` atomically (skipped for a folder that is not a history yet or not writable)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if (history.dir / MANIFEST).exists():
        try:
            path.parent.mkdir(exist_ok=True)
            with atomic_write(path) as tmp:
                pq.write_table(table, tmp, compression="zstd")
        except OSError:
            pass  # a history the user may only read: summarised in memory, every time
    table = table.set_column(0, "unit", table.column("unit").dictionary_encode())
    return table.set_column(1, "cell", table.column("cell").dictionary_encode())


def _held(table: pa.Table, period: Period, kinds: Mapping[str, str]) -> Held:
    keys = table.select(["unit", "cell"]).to_pandas()
    values = np.column_stack(
        [table.column(c).to_numpy().astype(float) for c in COLUMNS] if table.num_rows else [np.empty((0, LOOK_BACK))]
    )
    cells = keys["cell"].astype("category").cat
    kind_of = np.append(np.array([kinds.get(str(c), "") for c in cells.categories], dtype=object), "")
    kind = kind_of[cells.codes.to_numpy()]
    out: Held = {}
    for name in ("stock", "flow"):
        mine = kind == name
        width = len(comparable_periods(period, name)[-LOOK_BACK:])
        out[name] = (keys[mine].reset_index(drop=True), values[mine, :width])
    return out


def prepare(history: History, kinds: Mapping[str, str]) -> list[Path]:
    """After a load: the summary of the half-year that follows the newest one held, under each unit list (the
    period that will be validated next), so that its first `validate --history` reads it ready-made."""
    from ctstat.model.period import vintage_for

    made = []
    newest: dict[str, Period] = {}
    for slot in history.manifest()["files"]:
        label, vintage = slot.split("|")
        period = Period.parse(label)
        if period.half is not None and (vintage not in newest or period.end > newest[vintage].end):
            newest[vintage] = period
    for period in newest.values():
        following = Period.parse(f"{period.year}-H2" if period.half == 1 else f"{period.year + 1}-H1")
        path = summary_path(history, following, vintage_for(following), kinds)
        if not path.exists():
            save(history, build(history, following, vintage_for(following), kinds), path)
            made.append(path)
    return made
