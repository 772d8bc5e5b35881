"""What the history is loaded from, each number through the checks a rollup applies.

- the job's ledger: the current valid submission of each unit, every period it holds;
- ward forms and rollup workbooks of earlier periods (`pipeline.valid_cells`: a workbook's hidden data sheet is
  digest-checked and each of its rows judged like a ward file);
- a tidy table as `ctstat export` writes it (CSV or Parquet; for figures from before ctstat): its rows are put
  back together into one form per unit and period and validated like a ward file; a unit whose form fails adds
  nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ctstat.job.history import COLUMNS, History, Loaded, Source, empty_cells
from ctstat.job.ledger import Ledger
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.keys import TOTAL, cell_key, element_of
from ctstat.model.layout import form_layout
from ctstat.model.messages import make_issue
from ctstat.model.period import Period, vintage_for
from ctstat.model.report import FileReport, Report
from ctstat.model.units import load_units
from ctstat.pipeline import ValidCells, valid_cells
from ctstat.read.workbook import Submission

TABLE_COLUMNS = ("period", "unit_code", "element", "row_category", "column_dimension", "column_category", "value")
MAX_TABLE_BYTES = 4 << 30  #: a national tidy table of 20 periods is about 1 GB as CSV


def _long(items: Iterable[tuple[str, str, str, str, pd.Series]]) -> pd.DataFrame:
    """(unit, vintage, period, source, values by cell) -> the history's long rows (blank cells left out)."""
    parts = []
    for unit, vintage, period, source, values in items:
        v = values.dropna()
        parts.append(
            pd.DataFrame(
                {"unit": unit, "vintage": vintage, "period": period, "cell": v.index.astype(str), "value": v.values}
            ).assign(source=source)
        )
    return pd.concat(parts, ignore_index=True)[COLUMNS] if parts else empty_cells()


def from_ledger(ledger_path: Path, catalogue: Catalogue) -> tuple[pd.DataFrame, list[Source]]:
    """The current valid submission of each unit in every period of a job's ledger."""
    if not ledger_path.exists():
        raise UsageError(f"no ledger at {ledger_path}", message_vi=f"không có sổ theo dõi ở {ledger_path}")
    with Ledger(ledger_path, readonly=True) as ledger:
        rows, cells_of = ledger.current_valid(ledger.periods(), catalogue.digest)
    items = [
        (r.unit or "", r.vintage or "", r.period or "", r.sha256, pd.Series(cells_of.get(r.id, {}), dtype=float))
        for r in rows
        if r.unit and r.vintage and r.period
    ]
    return _long(items), [Source(r.sha256, "ledger", Path(r.path).name) for r in rows]


def from_files(paths: Sequence[Path], catalogue: Catalogue, jobs: int = 1) -> tuple[pd.DataFrame, list[Source], Report]:
    """Ward forms and rollup workbooks, judged as a rollup judges them; the report says what was left out."""
    report, found = valid_cells(paths, catalogue, jobs)
    return _from_valid(found), _sources(found), report


def _from_valid(found: Sequence[ValidCells]) -> pd.DataFrame:
    return _long((v.unit, v.vintage, v.period, v.sha256, v.values) for v in found)


def _sources(found: Sequence[ValidCells]) -> list[Source]:
    return list({v.sha256: Source(v.sha256, v.kind, Path(v.path).name) for v in found}.values())


def read_table(path: Path) -> pd.DataFrame:
    """A tidy table (CSV with or without a BOM, or Parquet) as text columns."""
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise UsageError(f"{path.name} is too large ({size} bytes)", message_vi=f"{path.name} quá lớn ({size} byte)")
    try:
        if path.suffix.lower() == ".parquet":
            table: pd.DataFrame = pq.read_table(path).to_pandas()
            text: pd.DataFrame = table.astype(object).where(table.notna(), "").astype(str)
            return text
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path.name} cannot be read as a table ({exc})", message_vi=f"không đọc được bảng {path.name} ({exc})"
        ) from None


def from_table(path: Path, catalogue: Catalogue) -> tuple[pd.DataFrame, list[Source], Report]:
    """A tidy table: each unit and period validated as one ward form; the report has one entry per unit and
    period (its issues located at the form's cells, its path the table's)."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    table = read_table(path)
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        rep = FileReport(path=str(path), sha256=sha)
        detail = f"thiếu cột {', '.join(missing)}"
        rep.issues.append(make_issue("history-table", path=str(path), detail=detail, detail_en=f"no column {missing}"))
        return empty_cells(), [], Report(files=[rep])
    subs = _forms(table, path, sha, catalogue)
    from ctstat.check.validate import validate_batch

    report, frame = validate_batch(subs, catalogue, None, None)
    found = [
        ValidCells(rep.unit, rep.period, rep.vintage, sha, "table", str(path), _row(frame, i))
        for i, rep in enumerate(report.files)
        if rep.valid and rep.unit and rep.period and rep.vintage and i in frame.index
    ]
    return _from_valid(found), [Source(sha, "table", path.name)] if found else [], report


def _row(frame: pd.DataFrame, i: int) -> pd.Series:
    return pd.Series(frame.loc[i].to_numpy(dtype=float), index=frame.columns)


def _forms(table: pd.DataFrame, path: Path, sha: str, catalogue: Catalogue) -> list[Submission]:
    """One Submission per (unit, period) of the table, its cells in layout order."""
    layout = form_layout(catalogue)
    index = {k: i for i, k in enumerate(layout.keys)}
    row = table["row_category"].where(table["row_category"] != "total", TOTAL)
    col = (table["column_dimension"] + ":" + table["column_category"]).where(table["column_dimension"] != "", TOTAL)
    keys = [cell_key(e, r, c) for e, r, c in zip(table["element"], row, col, strict=True)]
    pos = np.array([index.get(k, -1) for k in keys])
    yesno = {i for i, k in enumerate(layout.keys) if catalogue.elements[element_of(k)].type == "yesno"}
    has_vintage = "vintage" in table.columns
    values = table["value"].astype(str).tolist()
    subs = []
    groups: dict[Any, Any] = table.groupby(["unit_code", "period"], sort=True).indices
    for (unit, period), idx in groups.items():
        vintage = str(table["vintage"].iloc[idx[0]]) if has_vintage else _vintage(str(period))
        raw: list[object] = [None] * len(layout.keys)
        for i in idx:
            if pos[i] >= 0 and values[i] != "":
                raw[pos[i]] = _yes_no(values[i]) if pos[i] in yesno else _number(values[i])
        name = str(table["unit_name"].iat[idx[0]]) if "unit_name" in table.columns else _name(str(unit), vintage)
        sub = Submission(path=str(path), sha256=sha, format="table")
        sub.cover = {
            "unit_code": str(unit),
            "unit_name": name,
            "period": str(period),
            "vintage": vintage,
            "template_version": catalogue.template_version,
        }
        sub.raw = raw
        subs.append(sub)
    return subs


def _number(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text  # judged as text in a number cell, like a typed word


def _yes_no(text: str) -> object:
    """A yes/no cell exported as 1 or 0 goes back on the form as the words a ward picks."""
    number = _number(text)
    return {1.0: "Có", 0.0: "Không"}.get(number, text) if isinstance(number, float) else text


def _vintage(period: str) -> str:
    try:
        return vintage_for(Period.parse(period))
    except (ValueError, UsageError):
        return ""  # judged by the cover check (a period spanning the reform needs a `vintage` column)


def _name(unit: str, vintage: str) -> str:
    try:
        found = load_units(vintage).get(unit)
    except (KeyError, OSError, UsageError):
        return ""
    return found.name if found else ""


def add_sources(history: History, paths: Sequence[Path], catalogue: Catalogue, jobs: int = 1) -> tuple[Loaded, Report]:
    """Load every source in `paths` (a ledger.sqlite, a .csv or .parquet table, workbooks or folders of them)
    into `history` in one atomic step. The report holds what was judged; invalid units add nothing."""
    cells, sources, report = [], [], Report()
    books = []
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".sqlite":
            c, s = from_ledger(path, catalogue)
        elif suffix in (".csv", ".parquet"):
            c, s, r = from_table(path, catalogue)
            report.files += r.files
        else:
            books.append(path)
            continue
        cells.append(c)
        sources += s
    if books:
        c, s, r = from_files(books, catalogue, jobs)
        cells.append(c)
        sources += s
        report.files += r.files
    frame = pd.concat(cells, ignore_index=True) if cells else empty_cells()
    loaded = history.add(frame, sources)
    if loaded.sources:  # the next period's summary, ready for its first `validate --history`
        from ctstat.job.history_past import kinds_of
        from ctstat.job.history_summary import prepare

        prepare(history, kinds_of(catalogue))
    return loaded, report
