"""How the pipeline writes a rollup's workbooks: what was read before stays out of the cyclic collector's way."""

from __future__ import annotations

import gc
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
        return path, "digest"

    monkeypatch.setattr(rollup_book, "write_rollup", write)
    read_before = [[i] for i in range(5_000)]  # what a rollup holds while it writes: the submissions read
    before = gc.get_freeze_count()
    written = list(_write_all([(tmp_path / "a.xlsx", None), (tmp_path / "b.xlsx", None)], catalogue, 1))
    assert [p.name for p, _ in written] == ["a.xlsx", "b.xlsx"]
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
