"""The trend charts of "So sánh các kỳ" draw no point where the table says '–' (no comparable figure): a chart
draws a text cell as 0, so Hà Nội's children went from 0 in 2019-2024 to 1.6 million in 2025-H1 on paper."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string

from ctstat.job.compare import history_lookup
from ctstat.job.history import COLUMNS, History, Source
from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period
from ctstat.model.sheets import COMPARISON
from ctstat.pipeline import collect_inputs, rollup_paths

from .test_rollup import HOANG_MAI


def _book(catalogue: Catalogue, tmp_path: Path) -> Path:
    """Quận Hoàng Mai's 2025-H1 workbook over a history holding 2023-H1 and 2024-H1 only (2019-2022 shown '–')."""
    now = collect_inputs([HOANG_MAI], catalogue, Period.parse("2025-H1")).values_of
    rows = [
        (unit, "2025-06-30", f"{year}-H1", cell, float(v), "t")
        for year in (2023, 2024)
        for unit, cells in sorted(now.items())
        for cell, v in cells.dropna().items()
    ]
    History(tmp_path / "h").add(pd.DataFrame(rows, columns=COLUMNS), [Source("t", "table", "t.csv")])
    lookup = history_lookup(History(tmp_path / "h"), catalogue)
    result = rollup_paths([HOANG_MAI], "2025-H1", tmp_path / "out", catalogue=catalogue, history=lookup)
    return result.outputs[0]


def _cells(ref: str) -> tuple[int, int, int]:
    """'So sánh các kỳ'!$M$12:$S$12 -> (row, first column, last column), 1-based."""
    m = re.fullmatch(r"'?(.+?)'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", ref)
    assert m and m[1] == COMPARISON and m[3] == m[5], ref
    return int(m[3]), column_index_from_string(m[2]), column_index_from_string(m[4])


def test_a_period_without_a_figure_is_no_point_on_the_trend_chart(catalogue: Catalogue, tmp_path: Path) -> None:
    book = _book(catalogue, tmp_path)
    ws = load_workbook(book)[COMPARISON]
    with zipfile.ZipFile(book) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    lines = [c for c in charts if "<c:lineChart>" in c]
    assert lines
    for xml in lines:
        [ref] = re.findall(r"<c:val><c:numRef><c:f>(.+?)</c:f>", xml)
        [cats] = re.findall(r"<c:cat><c:(?:str|num)Ref><c:f>(.+?)</c:f>", xml)
        [name] = re.findall(r"<c:ser>.*?<c:tx><c:v>(.+?)</c:v>", xml)
        row, first, last = _cells(html.unescape(ref))
        head, cat_first, cat_last = _cells(html.unescape(cats))
        assert (first, last) == (cat_first, cat_last) and last - first == 6
        # the table's row of this indicator: its name in column B, below the header the categories are
        table = next(r for r in range(head + 1, ws.max_row + 1) if ws.cell(r, 2).value == html.unescape(name))
        shown = [ws.cell(table, c).value for c in range(first, last + 1)]
        drawn = [ws.cell(row, c).value for c in range(first, last + 1)]
        assert shown[:4] == ["–"] * 4 and all(isinstance(v, float | int) for v in shown[4:])
        # the chart draws the table's numbers, and nothing (a gap) where the table has none
        assert drawn == [None if v == "–" else v for v in shown]
        assert "<c:dispBlanksAs" not in xml  # (absent: a gap, Excel's and LibreOffice's reading; never "zero")
        if ws.row_dimensions[row].hidden:  # the chart's numbers may sit in hidden rows: then it must draw them
            assert "<c:plotVisOnly" not in xml  # (absent: hidden cells are drawn)


def test_a_chart_of_few_children_counts_in_whole_children(catalogue: Catalogue, tmp_path: Path) -> None:
    """Quận Hoàng Mai's abused children by form (at most 3 a ward): its axis read 0, 0.5, 1, 1.5 ... children."""
    [book] = rollup_paths([HOANG_MAI], "2025-H1", tmp_path, catalogue=catalogue).outputs
    with zipfile.ZipFile(book) as z:
        bars = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    bars = [x for x in bars if "<c:barChart>" in x]
    assert len(bars) == len(catalogue.charts) > 0
    for xml in bars:
        assert '<c:majorUnit val="1"/>' in xml and '<c:numFmt formatCode="#,##0"' in xml
