"""How the pipeline writes a rollup's workbooks: what was read before stays out of the cyclic collector's way."""

from __future__ import annotations

import gc
import hashlib
from pathlib import Path
from typing import Any

import pytest

import ctstat.write.rollup_book as rollup_book
from ctstat.model.catalogue import Catalogue
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
