"""The history: every period ctstat has judged, as Parquet files queried with DuckDB.

One history per district or province, shared by every period's job (`history = "..."` in ctstat.toml, or
`--history DIR`). A folder holds:

- `cells/<period>_<vintage>_<digest>.parquet`: one file per period and unit list, a row per (unit, vintage,
  period, cell) with its value and the source it came from, sorted by unit and cell (a unit's rows are found
  from the row groups' statistics without reading the rest);
- `manifest.json`: the files in force and the sources loaded (kind, name, SHA-256).

Analysts open the Parquet files with their own tools (DuckDB, pandas, R's arrow). Loading is idempotent and
atomic: a source already loaded (same SHA-256) adds nothing; a new value of a key already held replaces it; new
files are written beside the old ones and the manifest is switched with one rename, so a reader sees the history
before or after a load, never half of one, and a crash leaves the old history whole. A lock file serialises
writers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ctstat.check.engine import require_arrow
from ctstat.job.config import HISTORY_MANIFEST
from ctstat.model.errors import UsageError
from ctstat.model.period import VINTAGES, Period
from ctstat.write.atomic import atomic_write

require_arrow(__name__)  # pandas must know pyarrow's tables: it was not loaded without pyarrow in this process

if TYPE_CHECKING:  # loaded for a query only: `validate --history` reads the summary without it
    import duckdb

KEY = ["unit", "vintage", "period", "cell"]
COLUMNS = [*KEY, "value", "source"]
MANIFEST = HISTORY_MANIFEST
_SCHEMA = pa.schema(
    [
        ("unit", pa.string()),
        ("vintage", pa.string()),
        ("period", pa.string()),
        ("cell", pa.string()),
        ("value", pa.float64()),
        ("source", pa.string()),
    ]
)
_ROW_GROUP = 131_072
_FEW_UNITS = 64  #: up to this many units, `cells_of` reads only the row groups that can hold them


@dataclass(frozen=True)
class Source:
    """One loaded source: its SHA-256 (the identity loading is idempotent on), kind and a name to show."""

    sha256: str
    kind: str  #: "ledger", "form", "rollup", "table"
    name: str


@dataclass(frozen=True)
class Loaded:
    """What one load did."""

    sources: int  #: new sources taken in
    skipped: int  #: sources already in the history
    added: int  #: cells not held before
    changed: int  #: cells held before with another value (the new one is kept)
    unchanged: int  #: cells held before with the same value


def empty_cells() -> pd.DataFrame:
    frame: pd.DataFrame = _SCHEMA.empty_table().to_pandas()
    return frame


class History:
    """A history folder (created on the first load)."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_files: list[str] = []

    def manifest(self) -> dict[str, Any]:
        path = self.dir / MANIFEST
        if not path.exists():
            if self.dir.exists() and any(not f.name.startswith(".") for f in self.dir.iterdir()):
                raise UsageError(
                    f"{self.dir} is not a ctstat history (no {MANIFEST}) and not empty",
                    message_vi=f"{self.dir} không phải thư mục lịch sử của ctstat (không có {MANIFEST}) và không trống",
                )
            return {"format": 1, "files": {}, "sources": {}}
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"the history's {MANIFEST} cannot be read ({exc})",
                message_vi=f"không đọc được {MANIFEST} của lịch sử ({exc})",
            ) from None
        if not isinstance(doc, dict) or doc.get("format") != 1:
            raise UsageError(
                f"{path} is not a ctstat history manifest", message_vi=f"{path} không phải tệp mục lục lịch sử"
            )
        return doc

    def files(self) -> list[Path]:
        return [self.dir / name for _, name in sorted(self.manifest()["files"].items())]

    def sources(self) -> dict[str, Source]:
        return {sha: Source(sha, **s) for sha, s in self.manifest()["sources"].items()}

    def add(self, cells: pd.DataFrame, sources: Sequence[Source]) -> Loaded:
        """Take in `cells` (columns `COLUMNS`, `source` the SHA-256 of one of `sources`) from the sources not
        loaded before. Idempotent and atomic (see the module)."""
        with self._lock():
            doc = self.manifest()
            new = {s.sha256: s for s in sources if s.sha256 not in doc["sources"]}
            cells = cells.loc[cells["source"].isin(list(new)), COLUMNS]
            cells = cells.drop_duplicates(KEY, keep="last")
            _names_are_safe(cells)
            counts = {"added": 0, "changed": 0, "unchanged": 0}
            written: dict[str, str] = {}
            for (period, vintage), part in cells.groupby(["period", "vintage"], sort=True):
                slot = f"{period}|{vintage}"
                old = self._read(doc["files"].get(slot))
                merged, c = _merge(old, part)
                for k in counts:
                    counts[k] += c[k]
                written[slot] = self._write(merged, str(period), str(vintage))
            doc["files"].update(written)
            for s in new.values():
                doc["sources"][s.sha256] = {"kind": s.kind, "name": s.name}
            if new:
                self._switch(doc)
        return Loaded(len(new), len(sources) - len(new), **counts)

    def _read(self, name: str | None) -> pd.DataFrame:
        if not name:
            return empty_cells()
        frame: pd.DataFrame = pq.read_table(self.dir / name, schema=_SCHEMA).to_pandas()
        return frame

    def _write(self, frame: pd.DataFrame, period: str, vintage: str) -> str:
        frame = frame.sort_values(["unit", "cell"], kind="stable").reset_index(drop=True)
        table = pa.Table.from_pandas(frame[COLUMNS], schema=_SCHEMA, preserve_index=False)
        (self.dir / "cells").mkdir(parents=True, exist_ok=True)
        with atomic_write(self.dir / "cells" / f".{period}_{vintage}.new") as tmp:
            pq.write_table(table, tmp, row_group_size=_ROW_GROUP, compression="zstd")
        staged = self.dir / "cells" / f".{period}_{vintage}.new"
        digest = hashlib.sha256(staged.read_bytes()).hexdigest()[:16]
        name = f"cells/{period}_{vintage}_{digest}.parquet"
        os.replace(staged, self.dir / name)
        return name

    def _switch(self, doc: dict[str, Any]) -> None:
        with atomic_write(self.dir / MANIFEST) as tmp:
            Path(tmp).write_text(json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
        keep = {Path(n).name for n in doc["files"].values()}
        for f in (self.dir / "cells").glob("*.parquet"):
            if f.name not in keep:
                f.unlink(missing_ok=True)
        for f in (self.dir / "summary").glob("*"):  # made from the files before: never read again
            f.unlink(missing_ok=True)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest()  # refuses a folder that is not a history before writing anything into it
        with open(self.dir / ".lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the view `cells` over the files in force, kept while the manifest is the
        same (a load switches the manifest, and the next query sees the new files)."""
        files = [str(f) for f in self.files()]
        if self._con is None or self._con_files != files:
            if self._con is not None:
                self._con.close()
            import duckdb

            con = duckdb.connect()
            con.execute("SET enable_object_cache = true")  # Parquet footers read once per connection, not per query
            if files:
                con.execute(f"CREATE VIEW cells AS SELECT * FROM read_parquet({_list(files)})")
            else:
                con.register("empty_cells", empty_cells())
                con.execute("CREATE VIEW cells AS SELECT * FROM empty_cells")
            self._con, self._con_files = con, files
        return self._con

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Run `sql` over the view `cells` (every cell of the history) with DuckDB; text columns come back as
        categories (a national period is millions of rows of a few thousand distinct codes)."""
        relation = self._connection().sql(sql, params=list(params))
        table: pa.Table = (
            relation.to_arrow_table() if relation is not None else empty_cells().pipe(pa.Table.from_pandas)
        )
        for i, name in enumerate(table.column_names):
            if pa.types.is_string(table.schema.field(i).type) or pa.types.is_large_string(table.schema.field(i).type):
                table = table.set_column(i, name, pc.dictionary_encode(table.column(i)))
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def unit(self, unit: str, vintage: str | None = None) -> pd.DataFrame:
        """One unit's cells over every period (and unit list, unless `vintage`)."""
        where = "unit = ?" + (" AND vintage = ?" if vintage else "")
        params = [unit, vintage] if vintage else [unit]
        return self.query(f"SELECT {', '.join(COLUMNS)} FROM cells WHERE {where} ORDER BY period, cell", params)

    def cells_of(
        self,
        vintage: str,
        periods: Sequence[str],
        units: Sequence[str] | None = None,
        cells: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The cells of `periods` under one unit list (of `units` and `cells` only, when given): unit, period,
        cell, value, text as categories. Read straight from the periods' Parquet files (one file per period and
        unit list, so no other period is opened), the codes as dictionaries; a few units are found from the row
        groups' statistics, many are picked out by their codes after the read."""
        columns = ["unit", "period", "cell", "value"]
        if not periods or units is not None and not len(units) or cells is not None and not len(cells):
            return empty_cells()[columns]
        slots = self.manifest()["files"]
        names = [slots[s] for s in sorted({f"{p}|{vintage}" for p in periods}) if s in slots]
        few = units is not None and len(units) <= _FEW_UNITS
        filters = [("unit", "in", sorted(set(units)))] if few and units is not None else None
        tables = [
            pq.read_table(self.dir / name, columns=columns, read_dictionary=columns[:3], filters=filters)
            for name in names
        ]
        if not tables:
            return empty_cells()[columns]
        frame: pd.DataFrame = pa.concat_tables(tables).unify_dictionaries().to_pandas()
        keep = np.ones(len(frame), dtype=bool)
        for column, wanted in (("unit", None if few else units), ("cell", cells)):
            if wanted is not None:
                codes = frame[column].cat.codes.to_numpy()
                keep &= np.append(frame[column].cat.categories.isin(list(wanted)), False)[codes]
        return frame if keep.all() else frame[keep].reset_index(drop=True)

    def summary(self) -> list[dict[str, Any]]:
        """Per period and unit list: units and cells held."""
        df = self.query(
            "SELECT period, vintage, count(DISTINCT unit) AS units, count(*) AS cells FROM cells "
            "GROUP BY period, vintage ORDER BY period, vintage"
        )
        return [
            {"period": str(p), "vintage": str(v), "units": int(u), "cells": int(c)}
            for p, v, u, c in zip(df["period"], df["vintage"], df["units"].tolist(), df["cells"].tolist(), strict=True)
        ]


def _names_are_safe(cells: pd.DataFrame) -> None:
    """Periods and unit lists name the files: only canonical ones (the sources were validated, so anything else
    is ctstat's own bug, never a path an input chose)."""
    for period in cells["period"].unique():
        if str(Period.parse(str(period))) != period:
            raise ValueError(f"not a canonical period: {period!r}")
    unknown = set(cells["vintage"].unique()) - set(VINTAGES)
    if unknown:
        raise ValueError(f"unknown unit lists: {sorted(unknown)}")


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in items) + "]"


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, Mapping[str, int]]:
    """`old` with `new` laid over it (a key in both keeps the new value), and how many cells were added, changed
    and left as they were."""
    if old.empty:  # a new period: nothing to lay over (the usual case, and the large one)
        return new[COLUMNS], {"added": len(new), "changed": 0, "unchanged": 0}
    both = old.merge(new[[*KEY, "value"]], on=KEY, how="inner", suffixes=("", "_new"))
    same = (both["value"] == both["value_new"]) | (both["value"].isna() & both["value_new"].isna())
    keep = old.merge(new[KEY], on=KEY, how="left", indicator=True)
    keep = keep[keep["_merge"] == "left_only"].drop(columns="_merge")
    merged = pd.concat([keep[COLUMNS], new[COLUMNS]], ignore_index=True) if len(keep) else new[COLUMNS]
    counts = {"added": len(new) - len(both), "changed": int((~same).sum()), "unchanged": int(same.sum())}
    return merged, counts
