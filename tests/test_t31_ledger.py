"""The job's ledger pinned to exact rows: what it stores is what it gives back, for every row asked for (found by
mutating job/ledger.py by hand: these bugs went through the rest of the suite)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from ctstat.job.ledger import Judged, Ledger
from ctstat.model.messages import make_issue
from ctstat.model.report import FileReport, Severity


def _judged(unit: str, cells: dict[str, float] | None, issues: int = 0, warnings: int = 0) -> Judged:
    path = f"{unit}.xlsx"
    found = [make_issue("negative-value", path=path, sheet="Biểu 1", cell=f"E{11 + n}") for n in range(issues)]
    found += [
        make_issue("formula-no-cache", path=f"{unit}.xlsx", sheet="Biểu 1", cell="D9", detail="", detail_en="")
        for _ in range(warnings)
    ]
    rep = FileReport(path=f"{unit}.xlsx", unit=unit, period="2025-H1", vintage="2025-06-30", issues=found)
    return Judged(rep, cells, None, "2026.1", "digest")


def test_the_cells_of_every_row_asked_for_come_back_past_a_chunk_of_500(tmp_path: Path) -> None:
    """`Ledger.cells` asks SQLite 500 ids at a time: 1001 valid rows (two full chunks and one more) each come back
    with their own cells, the 500th, 501st and last included."""
    when = datetime(2025, 7, 5, 9)
    with Ledger(tmp_path / "ledger.db") as ledger:
        with ledger.transaction():
            ids = [
                ledger.add(f"{n:05d}.xlsx", f"sha{n}", 10, n, when, _judged(f"{n:05d}", {"a": float(n), "b": 0.5}))
                for n in range(1001)
            ]
        got = ledger.cells(ids)
    assert sorted(got) == sorted(ids) and len(got) == 1001
    assert all(got[i] == {"a": float(n), "b": 0.5} for n, i in enumerate(ids))


def test_a_row_keeps_its_errors_and_warnings_apart(tmp_path: Path) -> None:
    """A file with 2 errors and 1 warning is recorded as such, read back as such, and is invalid; one with
    warnings only is valid."""
    when = datetime(2025, 7, 5, 9)
    with Ledger(tmp_path / "ledger.db") as ledger:
        with ledger.transaction():
            bad = ledger.add("00301.xlsx", "s1", 10, 1, when, _judged("00301", None, issues=2, warnings=1))
            ok = ledger.add("00304.xlsx", "s2", 10, 1, when, _judged("00304", {"a": 1.0}, warnings=3))
        rows = {r.id: r for r in ledger.rows()}
    assert (rows[bad].valid, rows[bad].errors, rows[bad].warnings) == (False, 2, 1)
    assert (rows[ok].valid, rows[ok].errors, rows[ok].warnings) == (True, 0, 3)
    assert [(i.code, i.severity, i.cell) for i in rows[bad].issues] == [
        ("negative-value", Severity.ERROR, "E11"),
        ("negative-value", Severity.ERROR, "E12"),
        ("formula-no-cache", Severity.WARNING, "D9"),
    ]
    assert rows[bad].received_at.replace(tzinfo=None) == when
    assert json.loads(json.dumps(rows[ok].issues[0].to_record()))["code"] == "formula-no-cache"


def test_the_current_submission_is_the_latest_received_then_the_latest_recorded(tmp_path: Path) -> None:
    """Two files of one ward received in the same second (one run): the one recorded last is current; an earlier
    one received later wins over both; a removed one never counts."""
    t1, t2 = datetime(2025, 7, 5, 9), datetime(2025, 7, 6, 9)
    with Ledger(tmp_path / "ledger.db") as ledger:
        with ledger.transaction():
            a = ledger.add("a.xlsx", "sa", 1, 1, t1, _judged("00301", {"x": 1.0}))
            b = ledger.add("b.xlsx", "sb", 1, 1, t1, _judged("00301", {"x": 2.0}))
        assert ledger.current("2025-H1")["00301"].id == b
        assert [r.id for r in ledger.claims("2025-H1")["00301"]] == [a, b]
        with ledger.transaction():
            c = ledger.add("c.xlsx", "sc", 1, 1, t2, _judged("00301", None, issues=1))
        assert ledger.current("2025-H1")["00301"].id == c
        with ledger.transaction():
            ledger.mark_removed(c, t2)
        assert ledger.current("2025-H1")["00301"].id == b
        rows, cells = ledger.current_valid(["2025-H1"], "digest")
        assert [r.id for r in rows] == [b] and cells == {b: {"x": 2.0}}
        assert ledger.current_valid(["2025-H1"], "another catalogue") == ([], {})
