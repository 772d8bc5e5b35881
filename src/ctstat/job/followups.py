"""Flags confirmed with a note (issue 24): a ward or the district checked an unusual change and says why it is
right. Kept in the history folder (`confirmed.csv`: unit, unit list, period, cell, the value confirmed, the note),
so later runs keep it: a confirmed flag is no longer a warning while the value stays the one confirmed (a
resubmission with another value is judged afresh)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ctstat.model.errors import UsageError
from ctstat.model.messages import printable
from ctstat.write.atomic import atomic_write
from ctstat.write.inert import csv_field

FILE = "confirmed.csv"
FIELDS = ["unit", "vintage", "period", "cell", "value", "note"]
MAX_NOTE = 500


@dataclass(frozen=True)
class Confirmation:
    unit: str
    vintage: str
    period: str
    cell: str
    value: float
    note: str


def load(folder: Path) -> list[Confirmation]:
    path = folder / FILE
    if not path.exists():
        return []
    out = []
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
        try:
            out.append(Confirmation(**{**row, "value": float(row["value"])}))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue  # a row edited by hand into nonsense confirms nothing
    return out


def confirm(folder: Path, item: Confirmation) -> None:
    """Add (or replace) the confirmation of one cell, atomically."""
    note = " ".join(item.note.split())
    if not note:
        raise UsageError("a confirmation needs a note saying why", message_vi="xác nhận cần ghi chú lý do")
    if len(note) > MAX_NOTE:
        raise UsageError(
            f"the note is longer than {MAX_NOTE} characters", message_vi=f"ghi chú dài quá {MAX_NOTE} ký tự"
        )
    key = (item.unit, item.vintage, item.period, item.cell)
    kept = [c for c in load(folder) if (c.unit, c.vintage, c.period, c.cell) != key]
    rows = [*kept, Confirmation(*key, item.value, note)]
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / FILE) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FIELDS)
        for c in sorted(rows, key=lambda c: (c.period, c.unit, c.cell)):
            # a note may be opened in a spreadsheet: never a formula
            writer.writerow([c.unit, c.vintage, c.period, c.cell, repr(c.value), csv_field(c.note)])


def notes_for(folder: Path, vintage: str, period: str) -> pd.DataFrame:
    """unit, cell, value, note of the confirmations of one period (the note made printable)."""
    rows = [
        (c.unit, c.cell, c.value, printable(c.note, MAX_NOTE))
        for c in load(folder)
        if c.vintage == vintage and c.period == period
    ]
    return pd.DataFrame(rows, columns=["unit", "cell", "confirmed_value", "note"])


def cell_of(text: str, keys: list[str], address: dict[str, tuple[str, str]]) -> str:
    """A cell given as its key (ELEMENT/row/col) or as the form's address (Sheet!D9)."""
    text = text.strip()
    if text in keys:
        return text
    found = [k for k, (sheet, cell) in address.items() if f"{sheet}!{cell}".casefold() == text.casefold()]
    if not found:
        raise UsageError(
            f"no cell {text!r}: give its key (like the one `ctstat compare` shows) or its address (Sheet!D9)",
            message_vi=f"không có ô {text!r}: ghi mã ô (như ctstat compare hiện) hoặc địa chỉ ô (Biểu!D9)",
        )
    return found[0]
