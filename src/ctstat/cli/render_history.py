"""Human output for the history and unusual changes (issue 24)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from ctstat.model.keys import TOTAL, split_key
from ctstat.model.messages import printable
from ctstat.model.report import Report
from ctstat.model.vocab import count_text
from ctstat.plan.compare import p_text

LEVELS_VI = {"commune": "xã", "district": "huyện", "province": "tỉnh"}


def render_loaded(loaded: Any, report: Report, console: Console, lang: str) -> None:
    """What a load did, and each file (or unit of a table) left out with its first problem."""
    if lang == "vi":
        console.print(
            f"Đã nạp {loaded.sources} nguồn (bỏ qua {loaded.skipped} nguồn đã có): thêm {count_text(loaded.added)} ô, "
            f"thay {count_text(loaded.changed)} ô, giữ nguyên {count_text(loaded.unchanged)} ô."
        )
    else:
        console.print(
            f"Loaded {loaded.sources} sources (skipped {loaded.skipped} already loaded): "
            f"{count_text(loaded.added, 'en')} cells added, {count_text(loaded.changed, 'en')} changed, "
            f"{count_text(loaded.unchanged, 'en')} unchanged."
        )
    bad = [f for f in report.files if not f.valid]
    if bad:
        console.print(f"Không nạp ({len(bad)}):" if lang == "vi" else f"Left out ({len(bad)}):")
        for f in bad:
            first = next(i for i in f.issues if str(i.severity) == "error")
            where = " ".join(x for x in (f.unit or "", f.period or "", first.where) if x)
            console.print(
                f"  {printable(f.path)} {where}: {first.message('vi' if lang == 'vi' else 'en')}", markup=False
            )


def render_unit(unit: str, cells: pd.DataFrame, console: Console, lang: str) -> None:
    """A unit's element totals, one column per period held."""
    totals = cells[[split_key(c)[1:] == (TOTAL, TOTAL) for c in cells["cell"]]] if len(cells) else cells
    if totals.empty:
        console.print(
            f"Lịch sử không có số liệu của {unit}." if lang == "vi" else f"The history holds nothing of {unit}."
        )
        return
    wide = totals.pivot_table(
        index="cell", columns=["vintage", "period"], values="value", aggfunc="first", observed=True
    )  # observed: the default of pandas 3, not of 2.2 (which would add a column for every unused category)
    table = Table(title=f"{unit}: tổng từng chỉ tiêu theo kỳ" if lang == "vi" else f"{unit}: element totals by period")
    table.add_column("Chỉ tiêu" if lang == "vi" else "Element")
    for column in wide.columns:
        table.add_column(f"{column[1]}\n({column[0]})", justify="right")
    for cell, row in wide.iterrows():
        table.add_row(str(cell).split("/")[0], *("" if pd.isna(v) else f"{v:g}" for v in row))
    console.print(table)


def render_counts(done: Sequence[dict[str, Any]], console: Console, lang: str) -> None:
    """'checked N cells, flagged M (commune m, district d)' per period."""
    for d in done:
        by = d.get("flagged_by_level") or {}
        if lang == "vi":
            parts = ", ".join(f"cấp {LEVELS_VI.get(k, k)} {count_text(v)}" for k, v in by.items())
            head = (
                f"So với lịch sử ({d['period']}): đã kiểm tra {count_text(d['checked'])} ô, "
                f"đánh dấu {count_text(d['flagged'])}"
            )
        else:
            parts = ", ".join(f"{k} {count_text(v, lang)}" for k, v in by.items())
            head = (
                f"Against the history ({d['period']}): checked {count_text(d['checked'], lang)} cells, "
                f"flagged {count_text(d['flagged'], lang)}"
            )
        console.print(head + (f" ({parts})." if parts else "."))


def render_comparison(doc: dict[str, Any], console: Console, lang: str) -> None:
    """The counts, the units with no comparable history, then the flags ranked by p."""
    render_counts([doc], console, lang)
    if doc["no_comparable_history"]:
        units = ", ".join(doc["no_comparable_history"])
        console.print(
            f"Không có lịch sử so sánh được trước 1/7/2025 (xã cũ bị chia tách): {units}"
            if lang == "vi"
            else f"No comparable history before 1 July 2025 (an old commune was split): {units}"
        )
    for c in doc.get("confirmed", []):
        said = "Đã xác nhận" if lang == "vi" else "Confirmed"
        console.print(f"{said}: {c['unit']} {c['cell_key']} = {c['value']:g}: {printable(c['note'])}", markup=False)
    rows = doc["unusual_changes"]
    if not rows:
        return
    heads = ("Cấp", "Đơn vị", "Ô", "Lịch sử", "p") if lang == "vi" else ("Level", "Unit", "Cell", "History", "p")
    table = Table(title="Thay đổi bất thường" if lang == "vi" else "Unusual changes")
    for h in heads:
        table.add_column(h, overflow="fold")
    for r in rows:
        table.add_row(
            LEVELS_VI.get(r["level"], r["level"]) if lang == "vi" else r["level"],
            f"{r['unit']} {r['unit_name']}".strip(),
            f"{r['sheet']}!{r['cell']} ({r['cell_key']})",
            r["message"],
            p_text(r["p"], lang).removeprefix("p = "),
        )
    console.print(table)
