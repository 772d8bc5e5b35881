"""The history (issue 24): Parquet files queried with DuckDB, loaded idempotently and atomically from checked
sources, and what `validate --history`, `compare` and `history` make of it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ctstat.cli.commands import app
from ctstat.job.history import COLUMNS, History, Source
from ctstat.job.history_sources import add_sources
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.keys import TOTAL, split_key
from ctstat.pipeline import valid_cells

from .conftest import SAMPLES

WARDS = SAMPLES / "wards" / "2025-H1-hoang-mai"
EARLIER = ["2021-H1", "2022-H1", "2023-H1", "2024-H1"]
QUIET = "00331"  #: its abuse cells are 0 in every earlier period of the table; it reports XH01 = 3 in 2025-H1


def _cells(rows: list[tuple[str, str, str, float]], source: str = "s1") -> pd.DataFrame:
    return pd.DataFrame([(u, "2025-06-30", p, c, v, source) for u, p, c, v in rows], columns=COLUMNS)


def test_loading_is_idempotent_and_a_new_value_replaces_the_old(tmp_path: Path) -> None:
    h = History(tmp_path / "h")
    first = _cells([("00301", "2024-H1", "XH01/*/*", 1.0), ("00304", "2024-H1", "XH01/*/*", 2.0)])
    loaded = h.add(first, [Source("s1", "table", "a.csv")])
    assert (loaded.sources, loaded.added, loaded.changed) == (1, 2, 0)
    again = h.add(first, [Source("s1", "table", "a.csv")])
    assert (again.sources, again.skipped, again.added) == (0, 1, 0)
    assert len(h.query("SELECT * FROM cells")) == 2  # the same source twice: no duplicates
    # another source with the same key: one row, the new value; the same value: unchanged
    second = _cells([("00301", "2024-H1", "XH01/*/*", 4.0), ("00304", "2024-H1", "XH01/*/*", 2.0)], "s2")
    loaded = h.add(second, [Source("s2", "rollup", "b.xlsx")])
    assert (loaded.added, loaded.changed, loaded.unchanged) == (0, 1, 1)
    got = h.unit("00301")
    assert got[["period", "cell", "value", "source"]].to_dict("records") == [
        {"period": "2024-H1", "cell": "XH01/*/*", "value": 4.0, "source": "s2"}
    ]
    assert sorted(h.sources()) == ["s1", "s2"]
    assert [p.name.split("_")[0] for p in h.files()] == ["2024-H1"]  # one file per period; old ones removed
    assert len(list((tmp_path / "h" / "cells").glob("*.parquet"))) == 1


def test_a_failed_load_leaves_the_history_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = History(tmp_path / "h")
    h.add(_cells([("00301", "2024-H1", "XH01/*/*", 1.0)]), [Source("s1", "table", "a")])
    before = (tmp_path / "h" / "manifest.json").read_bytes()

    monkeypatch.setattr("ctstat.job.history.atomic_write", _failing_atomic_write)
    with pytest.raises(OSError):
        h.add(_cells([("00301", "2024-H1", "XH01/*/*", 9.0)], "s2"), [Source("s2", "table", "b")])
    assert (tmp_path / "h" / "manifest.json").read_bytes() == before
    assert h.unit("00301")["value"].tolist() == [1.0]


def _failing_atomic_write(path: object) -> object:
    from contextlib import contextmanager

    @contextmanager
    def broken():  # type: ignore[no-untyped-def]
        raise OSError("disk full")
        yield ""

    return broken()


def test_a_folder_that_is_not_a_history_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match="not a ctstat history"):
        History(tmp_path).add(_cells([("00301", "2024-H1", "XH01/*/*", 1.0)]), [Source("s1", "table", "a")])
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["notes.txt"]


def _tidy(found: list, periods: list[str], quiet: str) -> pd.DataFrame:  # type: ignore[type-arg]
    """A table as `ctstat export` writes it, of the sample's values in each of `periods` (the abuse cells of
    `quiet` set to 0)."""
    rows = []
    for v in found:
        for period in periods:
            for key, value in v.values.dropna().items():
                el, row, col = split_key(str(key))
                if v.unit == quiet and el.startswith("XH"):
                    value = 0.0
                dim, cat = col.split(":", 1) if col != TOTAL else ("", "total")
                rows.append((period, v.unit, el, "total" if row == TOTAL else row, dim, cat, value))
    cols = ["period", "unit_code", "element", "row_category", "column_dimension", "column_category", "value"]
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture(scope="module")
def past(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue) -> Path:
    """A history of four earlier H1s from a tidy table, the Hoàng Mai sample's values in each."""
    root = tmp_path_factory.mktemp("history")
    _, found = valid_cells([WARDS], catalogue)
    table = root / "earlier.csv"
    _tidy(found, EARLIER, QUIET).to_csv(table, index=False, encoding="utf-8-sig")
    loaded, report = add_sources(History(root / "h"), [table], catalogue)
    assert report.valid, [i.message("en") for i in report.issues][:3]
    assert loaded.sources == 1 and loaded.added > 0
    return root


def test_a_tidy_table_is_validated_before_it_enters(tmp_path: Path, catalogue: Catalogue) -> None:
    _, found = valid_cells([WARDS], catalogue)
    table = _tidy(found[:2], ["2024-H1"], "")
    table.loc[(table["unit_code"] == found[0].unit) & (table["element"] == "XH01"), "value"] = -5  # not a count
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    h = History(tmp_path / "h")
    loaded, report = add_sources(h, [path], catalogue)
    assert [f.unit for f in report.files if not f.valid] == [found[0].unit]
    assert "negative-value" in {i.code for i in report.issues}
    assert sorted(h.query("SELECT DISTINCT unit FROM cells")["unit"]) == [found[1].unit]  # the bad unit: nothing
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    _, report = add_sources(h, [bad], catalogue)
    assert [i.code for i in report.issues] == ["history-table"]


def test_validate_with_a_history_flags_the_cell_and_never_blocks(past: Path, runner) -> None:  # type: ignore[no-untyped-def]
    out = runner.invoke(app, ["validate", str(WARDS), "--history", str(past / "h"), "--json", "--lang", "en"])
    assert out.exit_code == 0, out.output  # warnings only
    doc = json.loads(out.output)
    flags = [(f["unit"], i) for f in doc["files"] for i in f["issues"] if i["code"] == "unusual-change"]
    assert flags and {u for u, _ in flags} == {QUIET}  # every other cell has the same value in every period
    unit, first = flags[0]
    assert first["severity"] == "warning" and first["sheet"] and first["cell"]
    assert "2021-H1: 0 · 2022-H1: 0 · 2023-H1: 0 · 2024-H1: 0 → 2025-H1: 3" in first["message"]
    counts = doc["history"][0]
    assert counts["checked"] > 1000 and counts["flagged_by_level"]["commune"] == len(flags)
    text = runner.invoke(app, ["validate", str(WARDS), "--history", str(past / "h")])
    assert "Thay đổi bất thường so với các kỳ trước" in text.output
    assert "đã kiểm tra" in text.output and f"cấp xã {len(flags)}" in text.output


def test_validating_a_few_forms_reads_their_own_history(past: Path, tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    """A few forms (a district's 14) are compared from their own units' cells: no summary of the whole history
    is made for them (a national one takes seconds), and the flags are the same."""
    import shutil

    h = tmp_path / "h"
    shutil.copytree(past / "h", h)
    shutil.rmtree(h / "summary", ignore_errors=True)
    out = runner.invoke(app, ["validate", str(WARDS), "--history", str(h), "--json", "--lang", "en"])
    assert out.exit_code == 0, out.output
    assert not (h / "summary").exists()
    assert json.loads(out.output)["history"][0]["flagged_by_level"]["commune"] > 0


def test_history_add_twice_then_compare_lists_the_flags_ranked(past: Path, tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    import shutil

    h = tmp_path / "h"
    shutil.copytree(past / "h", h)
    first = runner.invoke(app, ["history", "add", str(WARDS), "--history", str(h), "--lang", "en"])
    assert first.exit_code == 0, first.output
    assert "Loaded 14 sources" in first.output
    # the summaries of the periods validated next are made with the load (the history ends at 2025-H1)
    made = sorted(tuple(p.name.split("_")[:2]) for p in (h / "summary").glob("*.arrow"))
    # and the year 2025 by the new communes, which a year job compares first (its halves are held or next)
    assert made == [("2025", "2025-07-01"), ("2025-H2", "2025-07-01"), ("2026-H1", "2025-07-01")]
    again = runner.invoke(app, ["history", "add", str(WARDS), "--history", str(h), "--lang", "en"])
    assert "Loaded 0 sources (skipped 14 already loaded)" in again.output
    out = runner.invoke(app, ["compare", "--period", "2025-H1", "--history", str(h), "--json", "--lang", "en"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    ps = [r["p"] for r in doc["unusual_changes"]]
    assert ps == sorted(ps)  # ranked by p (district flags come from the ratio rule, their p only ranks them)
    assert all(r["p"] < 0.01 for r in doc["unusual_changes"] if r["level"] == "commune")
    assert all(abs(r["ratio"]) > 0.33 for r in doc["unusual_changes"] if r["level"] != "commune")
    assert {r["unit"] for r in doc["unusual_changes"] if r["level"] == "commune"} == {QUIET}
    assert doc["checked"] > doc["flagged"] > 0
    shown = runner.invoke(app, ["history", "show", "--unit", QUIET, "--history", str(h), "--lang", "en"])
    assert "2021-H1" in shown.output and "2025-H1" in shown.output and "XH01" in shown.output


def test_a_history_is_needed(tmp_path: Path, runner, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    out = runner.invoke(app, ["compare", "--period", "2025-H1", "--lang", "en"])
    assert out.exit_code == 2 and "no history" in out.output
    (tmp_path / "ctstat.toml").write_text('history = "hist"\n', encoding="utf-8")
    out = runner.invoke(app, ["compare", "--period", "2025-H1", "--lang", "en"])  # named, never loaded: not "0 checked"
    assert out.exit_code == 2, out.output
    assert f"no history in {tmp_path / 'hist'} (no manifest.json): load the earlier periods into it first" in out.output


def test_run_with_a_history_lists_the_period_s_unusual_changes(past: Path, tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    import shutil

    inbox = tmp_path / "inbox"
    shutil.copytree(WARDS, inbox)
    (tmp_path / "ctstat.toml").write_text(
        f'period = "2025-H1"\nunit = "008"\ninbox = "inbox"\nout = "out"\nhistory = "{past / "h"}"\n', encoding="utf-8"
    )
    out = runner.invoke(app, ["run", "--config", str(tmp_path / "ctstat.toml"), "--json", "--lang", "en"])
    assert out.exit_code == 0, out.output  # the rollup is written: warnings never block it
    doc = json.loads(out.output)
    assert doc["unusual_changes"]["flagged_by_level"]["commune"] > 0
    assert {r["unit"] for r in doc["unusual_changes"]["unusual_changes"] if r["level"] == "commune"} == {QUIET}
    assert list((tmp_path / "out").rglob("*.xlsx"))  # rolled up
    text = runner.invoke(app, ["run", "--config", str(tmp_path / "ctstat.toml"), "--lang", "en"])
    assert "Against the history (2025-H1): checked" in text.output and "Unusual changes" in text.output


def test_a_confirmed_flag_is_kept_by_later_runs(past: Path, tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    import shutil

    h = tmp_path / "h"
    shutil.copytree(past / "h", h)
    before = json.loads(runner.invoke(app, ["validate", str(WARDS), "--history", str(h), "--json"]).output)
    flags = [i for f in before["files"] for i in f["issues"] if i["code"] == "unusual-change"]
    first = flags[0]
    address = f"{first['sheet']}!{first['cell']}"
    # a different value than the ward's: confirms nothing the ward reported
    args = ["history", "confirm", "--period", "2025-H1", "--unit", QUIET, "--cell", address, "--history", str(h)]
    out = runner.invoke(app, [*args, "--value", "99", "--note", "=cmd|' /C calc'!A0 shelter", "--lang", "en"])
    assert out.exit_code == 0, out.output
    again = json.loads(runner.invoke(app, ["validate", str(WARDS), "--history", str(h), "--json"]).output)
    assert len([i for f in again["files"] for i in f["issues"] if i["code"] == "unusual-change"]) == len(flags)
    assert "'=cmd" in (h / "confirmed.csv").read_text(encoding="utf-8")  # a note is never a live formula
    out = runner.invoke(app, [*args, "--value", str(first["value"]), "--note", "Mở nhà tạm lánh mới"])
    assert out.exit_code == 0, out.output
    later = json.loads(runner.invoke(app, ["validate", str(WARDS), "--history", str(h), "--json"]).output)
    left = [i for f in later["files"] for i in f["issues"] if i["code"] == "unusual-change"]
    assert len(left) == len(flags) - 1 and (first["sheet"], first["cell"]) not in {
        (i["sheet"], i["cell"]) for i in left
    }
    empty = runner.invoke(app, [*args, "--note", "  ", "--value", "1", "--lang", "en"])
    assert empty.exit_code == 2 and "needs a note" in empty.output
    bad = runner.invoke(app, [*args[:-2], "--cell", "Nowhere!Z99", "--note", "x", "--value", "1", "--lang", "en"])
    assert bad.exit_code == 2 and "no cell" in bad.output


def test_only_canonical_periods_and_unit_lists_name_files(tmp_path: Path) -> None:
    h = History(tmp_path / "h")
    for period, vintage in (("../../etc/x", "2025-06-30"), ("2024-h1", "2025-06-30"), ("2024-H1", "../v")):
        cells = pd.DataFrame([("00301", vintage, period, "XH01/*/*", 1.0, "s")], columns=COLUMNS)
        with pytest.raises(ValueError):
            h.add(cells, [Source("s", "table", "t")])
    assert not (tmp_path / "h" / "manifest.json").exists() and not (tmp_path / "h" / "cells").exists()
    assert not list(tmp_path.rglob("*x*"))


def test_cells_of_reads_only_the_periods_units_and_cells_asked_for(tmp_path: Path) -> None:
    """`cells_of` reads the periods' files itself (no SQL): what it returns is what the SQL view holds for the
    same question, for a few units (found from the row groups) and for many (picked out after the read)."""
    import pyarrow.parquet as pq

    import ctstat.job.history as history

    h = History(tmp_path / "h")
    units = [f"{i:05d}" for i in range(1, 100)]
    rows = [(u, p, c, float(i + j)) for i, u in enumerate(units) for j, p in enumerate(EARLIER) for c in ("a", "b")]
    h.add(_cells(rows), [Source("s1", "table", "a.csv")])
    h.add(_cells([("00001", "2025-H1", "a", 9.0)], "s2"), [Source("s2", "table", "b.csv")])
    pq.write_table(pq.read_table(h.files()[0]), h.files()[0], row_group_size=20)  # many row groups to skip

    def want(periods: list[str], some: list[str] | None, cells: list[str] | None) -> list[tuple[object, ...]]:
        sql = "SELECT unit, period, cell, value FROM cells WHERE vintage = '2025-06-30' AND period IN "
        sql += "(SELECT unnest(?))"
        got = h.query(sql, [periods]).astype(str)
        got = got[got["unit"].isin(some or units) & got["cell"].isin(cells or ["a", "b"])]
        return sorted(map(tuple, got.to_numpy().tolist()))

    for periods, some, cells in [
        (["2021-H1", "2024-H1", "2025-H1"], None, None),
        (["2022-H1"], ["00003", "00050"], ["b"]),  # a few units
        (EARLIER, units[: history._FEW_UNITS + 5], None),  # many units
        (["2019-H1"], None, None),  # a period not held
    ]:
        got = h.cells_of("2025-06-30", periods, some, cells)
        assert all(isinstance(got[c].dtype, pd.CategoricalDtype) for c in ("unit", "period", "cell")) or got.empty
        assert sorted(map(tuple, got.astype(str).to_numpy().tolist())) == want(periods, some, cells)
    assert h.cells_of("2025-07-01", EARLIER).empty  # another unit list
