"""How the pipeline writes a rollup's workbooks: what was read before stays out of the cyclic collector's way."""

from __future__ import annotations

import gc
import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

import ctstat.write.rollup_book as rollup_book
from ctstat.model.catalogue import Catalogue
from ctstat.model.sheets import COMPARISON
from ctstat.pipeline import _write_all


def test_what_was_read_is_frozen_out_of_the_collector_while_workbooks_are_written(
    monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue, tmp_path: Path
) -> None:
    seen: list[int] = []

    def write(path: Path, cat: Catalogue, data: Any) -> tuple[Path, str]:
        seen.append(gc.get_freeze_count())
        path.write_bytes(path.name.encode())
        return path, "digest"

    monkeypatch.setattr(rollup_book, "write_rollup", write)
    read_before = [[i] for i in range(5_000)]  # what a rollup holds while it writes: the submissions read
    before = gc.get_freeze_count()
    written = list(_write_all([(tmp_path / "a.xlsx", None), (tmp_path / "b.xlsx", None)], catalogue, 1))
    assert [p.name for p, _, _ in written] == ["a.xlsx", "b.xlsx"]
    # each with its file's SHA-256, taken where it was written (for the manifest)
    assert [sha for _, _, sha in written] == [hashlib.sha256(n.encode()).hexdigest() for n in ("a.xlsx", "b.xlsx")]
    assert len(seen) == 2 and min(seen) >= before + len(read_before)  # a collection never walks them
    assert gc.get_freeze_count() == before  # and they are collected as before afterwards


def test_a_failed_write_unfreezes_too(monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue, tmp_path: Path) -> None:
    def write(path: Path, cat: Catalogue, data: Any) -> tuple[Path, str]:
        raise OSError("disk full")

    monkeypatch.setattr(rollup_book, "write_rollup", write)
    before = gc.get_freeze_count()
    with pytest.raises(OSError):
        list(_write_all([(tmp_path / "a.xlsx", None)], catalogue, 1))
    assert gc.get_freeze_count() == before


@pytest.mark.parametrize("where", ["plan_books", "_manifest", "write_rollup"])
def test_a_rollup_that_fails_anywhere_leaves_the_collector_as_it_was(
    where: str, monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue, tmp_path: Path
) -> None:
    """A bug in planning, in writing a workbook or in the manifest: the collector is on again, nothing is left
    frozen and no reading or freezing is counted as still open (a server goes on serving)."""
    import gc

    import ctstat.pipeline as pipeline
    import ctstat.plan.plan as plan
    import ctstat.write.rollup_book as book

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(where)

    owner = {"plan_books": plan, "_manifest": pipeline, "write_rollup": book}[where]
    monkeypatch.setattr(owner, where, broken)
    frozen = gc.get_freeze_count()
    with pytest.raises(RuntimeError, match=where):
        pipeline.rollup_paths(
            sorted(WARDS.rglob("*.xlsx")), "2025-H1", tmp_path / "out", catalogue, jobs=1, allow_partial=True, unit="01"
        )
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    assert pipeline._READING.depth == 0 and pipeline._FREEZES.depth == 0
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing published


def test_writers_forked_with_the_planned_workbooks_write_the_same_bytes(catalogue: Catalogue, tmp_path: Path) -> None:
    """The writers are forked holding the planned workbooks and are sent each one's number, not its data: the
    workbooks are the same bytes as written in one process, in order, and nothing is left held afterwards."""
    import ctstat.pipeline as pipeline
    from ctstat.pipeline import rollup_paths

    wards = sorted((Path(__file__).resolve().parents[1] / "samples" / "wards").rglob("*.xlsx"))
    one = rollup_paths(wards, "2025-H1", tmp_path / "one", catalogue, jobs=1, allow_partial=True, unit="01")
    assert len(one.outputs) >= 4  # enough for the writers to be used
    two = rollup_paths(wards, "2025-H1", tmp_path / "two", catalogue, jobs=2, allow_partial=True, unit="01")
    assert [p.name for p in two.outputs] == [p.name for p in one.outputs]
    for a, b in zip(one.outputs, two.outputs, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert pipeline._INHERITED is None
    _holds_the_wards_sums(two.outputs, catalogue)


def _holds_the_wards_sums(outputs: list[Path], catalogue: Catalogue) -> None:
    """The same bytes could be the same wrong numbers: Hoàng Mai's workbook holds each ward's cells as the ward
    typed them, the city's its district row as their sums (read back independently of the rollup), and a district
    with no ward holds nothing."""
    from .test_rollup import read_data_sheet, ward_values

    wards = ward_values(WARDS / "2025-H1-hoang-mai", catalogue)
    names = [p.name for p in outputs]
    assert names[-1] == "2025-H1_01_thanh-pho-ha-noi.xlsx" and "2025-H1_008_quan-hoang-mai.xlsx" in names
    district = read_data_sheet(outputs[names.index("2025-H1_008_quan-hoang-mai.xlsx")])
    assert sorted(district.index) == sorted(wards.index)
    assert (district.loc[wards.index, wards.columns].astype(float) == wards).all().all()
    city = read_data_sheet(outputs[-1])
    assert (city.loc["008", "level"], city.loc["008", "status"]) == ("district", "valid")
    assert (city.loc["008", wards.columns].astype(float) == wards.sum()).all()
    assert city.loc["001", "status"] == "partial" and city.loc["001", wards.columns].isna().all()


def test_the_planned_workbooks_are_not_pickled_to_the_writers(
    monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue, tmp_path: Path
) -> None:
    """Where processes can be forked, a writer is sent a workbook's number: what it shows is never pickled."""
    import multiprocessing as mp

    from ctstat.pipeline import rollup_paths
    from ctstat.plan.plan import RollupSheetData

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork here: the workbooks are pickled to spawned writers")

    def refuse(self: Any, protocol: Any) -> Any:
        raise AssertionError("a planned workbook was pickled")

    monkeypatch.setattr(RollupSheetData, "__reduce_ex__", refuse)
    wards = sorted((Path(__file__).resolve().parents[1] / "samples" / "wards").rglob("*.xlsx"))
    result = rollup_paths(wards, "2025-H1", tmp_path, catalogue, jobs=2, allow_partial=True, unit="01")
    assert len(result.outputs) >= 4 and all(p.exists() for p in result.outputs)
    _holds_the_wards_sums(result.outputs, catalogue)  # what the writers wrote, not only that they wrote


def test_a_rollup_in_a_server_leaves_what_the_server_froze_frozen(catalogue: Catalogue) -> None:
    """`serve` freezes what it loaded at start out of the collector's sight (web.app.serve); a rollup asked for
    from the portal freezes what it read while it writes, and must not thaw the server's objects when done (each
    full collection would walk them again for the rest of the server's life)."""
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        list(_write_all([], catalogue, 1))
        assert gc.get_freeze_count() > before // 2  # (what had become garbage is collected first)
    finally:
        gc.unfreeze()
    list(_write_all([], catalogue, 1))  # a command: nothing frozen before, nothing left frozen after
    assert gc.get_freeze_count() == 0


WARDS = Path(__file__).resolve().parents[1] / "samples" / "wards"


def _history(catalogue: Catalogue, folder: Path) -> Any:
    """A history of Hoàng Mai's wards two years back (their 2025-H1 cells, scaled down), as a rollup looks it up."""
    import pandas as pd

    from ctstat.job.compare import history_lookup
    from ctstat.job.history import COLUMNS, History, Source
    from ctstat.model.period import Period
    from ctstat.pipeline import collect_inputs

    now = collect_inputs([WARDS / "2025-H1-hoang-mai"], catalogue, Period.parse("2025-H1")).values_of
    rows = [
        (unit, "2025-06-30", f"{year}-H1", cell, float(int(v * scale)), "t")
        for year, scale in ((2023, 0.5), (2024, 0.8))
        for unit, cells in sorted(now.items())
        for cell, v in cells.dropna().items()
    ]
    History(folder).add(pd.DataFrame(rows, columns=COLUMNS), [Source("t", "table", "t.csv")])
    return history_lookup(History(folder), catalogue)


def test_each_workbook_is_planned_in_its_writer_and_is_the_same_as_planned_in_one_process(
    monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue, tmp_path: Path
) -> None:
    """Forked writers make each workbook's own data (its numbers, its comparison sheet) themselves: the main
    process plans only what the workbooks share, and the workbooks, each district's and the province's, are the
    same bytes as those planned and written in one process."""
    import multiprocessing as mp
    import os

    from ctstat.pipeline import rollup_paths
    from ctstat.plan.plan import PlannedBooks

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork here: spawned writers are sent each workbook's data made in the main process")
    main, made_here = os.getpid(), []
    data = PlannedBooks.data

    def spy(self: PlannedBooks, i: int) -> Any:
        if os.getpid() == main:
            made_here.append(i)
        return data(self, i)

    monkeypatch.setattr(PlannedBooks, "data", spy)
    lookup = _history(catalogue, tmp_path / "history")
    wards = sorted(WARDS.rglob("*.xlsx"))
    flags: dict[str, Any] = {"allow_partial": True, "unit": "01", "history": lookup}
    one = rollup_paths(wards, "2025-H1", tmp_path / "one", catalogue, jobs=1, **flags)
    assert sorted(made_here) == list(range(len(one.outputs))) and len(one.outputs) >= 4
    made_here.clear()
    two = rollup_paths(wards, "2025-H1", tmp_path / "two", catalogue, jobs=2, **flags)
    assert made_here == []  # every workbook planned in a writer
    assert [p.name for p in two.outputs] == [p.name for p in one.outputs]
    for a, b in zip(one.outputs, two.outputs, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    with zipfile.ZipFile(one.outputs[-1]) as book:  # the province's workbook has its comparison sheet
        assert COMPARISON in book.read("xl/workbook.xml").decode()
    assert one.manifest is not None and two.manifest is not None
    assert [o["data_digest"] for o in one.manifest["outputs"]] == [o["data_digest"] for o in two.manifest["outputs"]]


def test_forked_writers_collect_even_when_forked_with_the_collector_off(
    monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue, tmp_path: Path
) -> None:
    """A rollup in a server while another thread reads (the collector off meanwhile, `_no_collections`): its forked
    writers, which make each workbook's data with pandas, collect their own garbage all the same."""
    import gc
    import multiprocessing as mp
    import os

    from ctstat.pipeline import _no_collections, rollup_paths
    from ctstat.plan.plan import PlannedBooks

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork here")
    main, seen = os.getpid(), tmp_path / "seen"
    data = PlannedBooks.data

    def spy(self: PlannedBooks, i: int) -> Any:
        if os.getpid() != main:
            with open(seen, "a") as fh:
                fh.write(f"{gc.isenabled()}\n")
        return data(self, i)

    monkeypatch.setattr(PlannedBooks, "data", spy)
    wards = sorted(WARDS.rglob("*.xlsx"))
    with _no_collections():  # as a portal's intake thread reading at the same time
        done = rollup_paths(wards, "2025-H1", tmp_path / "out", catalogue, jobs=2, allow_partial=True, unit="01")
        assert not gc.isenabled()
    assert len(done.outputs) >= 4
    assert seen.read_text().split() == ["True"] * len(done.outputs)


def test_spawned_writers_are_sent_each_workbook_made_in_the_main_process(
    monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue, tmp_path: Path
) -> None:
    """Where writers cannot be forked (macOS, Windows), each workbook's data is made in the main process and sent:
    the same workbooks as written in one process."""
    import ctstat.pipeline as pipeline
    from ctstat.pipeline import rollup_paths

    monkeypatch.setattr(pipeline, "_WORKER_CATALOGUE", None)  # (set by the pool's initializer, here in-process)
    wards = sorted((WARDS / "2025-H1-hoang-mai").glob("*.xlsx"))
    one = rollup_paths(wards, "2025-H1", tmp_path / "one", catalogue, jobs=1, allow_partial=True, unit="01")
    monkeypatch.setattr(pipeline.mp, "get_start_method", lambda: "spawn")
    sent: list[Any] = []
    write_one = pipeline._write_one
    monkeypatch.setattr(pipeline, "_write_one", lambda args: sent.append(args) or write_one(args))
    monkeypatch.setattr(pipeline, "ProcessPoolExecutor", _InProcess)  # what is sent, without a process to spawn
    two = rollup_paths(wards, "2025-H1", tmp_path / "two", catalogue, jobs=2, allow_partial=True, unit="01")
    assert [type(d).__name__ for _, d in sent] == ["RollupSheetData"] * len(one.outputs)
    for a, b in zip(one.outputs, two.outputs, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


class _InProcess:
    """A process pool's `map` run in this process, for a test of what would be sent to spawned writers."""

    def __init__(self, jobs: int, initializer: Any = None, initargs: tuple[Any, ...] = ()) -> None:
        if initializer is not None:
            initializer(*initargs)

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn: Any, items: Any, chunksize: int = 1) -> Any:
        import pickle

        return [fn(pickle.loads(pickle.dumps(item))) for item in items]


def test_what_was_read_is_out_of_the_collectors_sight_from_the_reading_to_the_manifest(
    monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue, tmp_path: Path
) -> None:
    """From the end of the reading until the manifest is written, what the rollup read is frozen: the collections
    after the reading walked it all (0.4 s of a national rollup) to free nothing. A command leaves nothing frozen;
    a server's own frozen objects stay frozen."""
    import ctstat.pipeline as pipeline
    import ctstat.plan.plan as plan
    from ctstat.pipeline import rollup_paths

    seen: dict[str, int] = {}
    plan_books, manifest = plan.plan_books, pipeline._manifest

    def tracked(objects: list[Any]) -> int:
        """How many of `objects` the collector's generations hold (a frozen object is in none)."""
        ids = {id(o) for o in objects}
        return sum(1 for o in gc.get_objects() if id(o) in ids)

    def planning(rollup: Any) -> Any:
        seen["frozen"] = gc.get_freeze_count()
        seen["reports at planning"] = tracked(rollup.collected.report.files)
        return plan_books(rollup)

    def manifesting(result: Any, *args: Any) -> Any:
        seen["reports at the manifest"] = tracked(result.report.files)
        return manifest(result, *args)

    monkeypatch.setattr(plan, "plan_books", planning)
    monkeypatch.setattr(pipeline, "_manifest", manifesting)
    wards = sorted((WARDS / "2025-H1-hoang-mai").glob("*.xlsx"))
    assert gc.get_freeze_count() == 0
    result = rollup_paths(wards, "2025-H1", tmp_path / "a", catalogue, jobs=1)
    assert result.outputs and gc.get_freeze_count() == 0
    # the reports read (each submission's) out of the collector's generations while the rollup plans and writes
    assert seen["frozen"] > 0 and seen["reports at planning"] == seen["reports at the manifest"] == 0
    assert tracked(result.report.files) == len(wards)  # and back in them after
    gc.freeze()  # a server
    try:
        before = gc.get_freeze_count()
        rollup_paths(wards, "2025-H1", tmp_path / "b", catalogue, jobs=1)
        assert gc.get_freeze_count() >= before // 2
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_manifest_drafted_while_the_workbooks_are_written_is_the_whole_one(
    catalogue: Catalogue, tmp_path: Path, jobs: int
) -> None:
    """The manifest is made and rendered while the workbooks are written, but for its outputs: the file is the
    whole manifest rendered at once (one key a line, one input or output a line), with every workbook written."""
    import json

    from ctstat.pipeline import rollup_paths
    from ctstat.write.atomic import json_text

    wards = sorted((WARDS / "2025-H1-hoang-mai").glob("*.xlsx"))
    result = rollup_paths(wards, "2025-H1", tmp_path, catalogue, jobs=jobs, allow_partial=True, unit="01")
    assert result.manifest is not None and result.manifest_path is not None
    text = result.manifest_path.read_text(encoding="utf-8")
    assert text == json_text(result.manifest, objects_by_key=True) + "\n"
    doc = json.loads(text)
    assert list(doc)[list(doc).index("catalogue_digest") + 1] == "outputs"  # in its place among the keys
    assert [Path(o["path"]) for o in doc["outputs"]] == result.outputs and len(result.outputs) >= 4
    assert [o["sha256"] for o in doc["outputs"]] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in result.outputs]
    assert len(doc["inputs"]) == len(wards) and all(i["used"] for i in doc["inputs"])


def test_what_the_rollup_plans_with_is_made_ready_while_the_rest_is_read(
    monkeypatch: pytest.MonkeyPatch, catalogue: Catalogue
) -> None:
    """The parts judged ahead of the end of the reading: the judging thread asks when each of their files was
    received (and loads the unit list), the rest is asked after; every ward's claim has its file's time."""
    import os
    import threading
    from datetime import datetime

    import ctstat.pipeline as pipeline
    from ctstat.model.period import Period
    from ctstat.pipeline import collect_inputs

    asked_in: list[str] = []
    received = pipeline._received

    def asked(path: str) -> Any:
        asked_in.append(threading.current_thread().name)
        return received(path)

    monkeypatch.setattr(pipeline, "JUDGED_AHEAD", 4)
    monkeypatch.setattr(pipeline, "_received", asked)
    wards = sorted((WARDS / "2025-H1-hoang-mai").glob("*.xlsx"))
    got = collect_inputs(wards, catalogue, Period.parse("2025-H1"), jobs=2)
    main = threading.main_thread().name
    assert len(asked_in) == len(wards) and 4 <= sum(n != main for n in asked_in) < len(wards)
    for claims in got.claims.values():
        (claim,) = claims
        assert claim.received_at == datetime.fromtimestamp(os.stat(claim.path).st_mtime).astimezone()
    assert len(got.claims) == len(wards)
