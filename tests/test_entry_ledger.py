"""The entry pages' ledger work (web/entry_ledger.py): one lane, saves waiting together stored in one transaction,
each answered as if stored alone."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from pathlib import Path

import pytest

from ctstat.job.config import JobConfig
from ctstat.job.drafts import load_draft, save_draft, save_drafts, start_draft
from ctstat.job.ledger import Ledger
from ctstat.web.entry_ledger import Lane, Together

from .test_entry import WARD, site  # noqa: F401 - the fixture
from .test_portal import Site

A, B = "TE01/0-2/sex:nam", "TE01/0-2/sex:nu"
NOW = datetime(2025, 7, 3, 9, 0)


def ledger_with_drafts(path: Path, *units: str) -> Ledger:
    ledger = Ledger(path)
    for unit in units:
        start_draft(ledger, "2025-H1", unit, {}, "empty", NOW)
    return ledger


def test_saves_stored_together_are_each_what_it_would_be_alone(tmp_path: Path) -> None:
    ledger = ledger_with_drafts(tmp_path / "l.sqlite", "00301", "00304")
    saves = [
        ("00301", 1, {A: "10"}),  # version 1 -> 2
        ("00304", 1, {A: "5", B: "6"}),
        ("00301", 1, {A: "11"}),  # opened at 1 too: the same field changed elsewhere since, to another number
        ("00301", 2, {A: "10", B: "7"}),  # opened at 2: a new field
        ("00399", 1, {A: "1"}),  # no draft
    ]
    together = save_drafts(ledger, "2025-H1", saves, NOW)
    alone_ledger = ledger_with_drafts(tmp_path / "m.sqlite", "00301", "00304")
    alone: list[object] = []
    for unit, base, typed in saves:
        try:
            alone.append(save_draft(alone_ledger, "2025-H1", unit, base, typed, NOW))
        except LookupError as exc:
            alone.append(exc)
    assert [type(x) for x in together] == [type(x) for x in alone]
    assert [x for x in together if not isinstance(x, LookupError)] == [x for x in alone if not isinstance(x, Exception)]
    third = together[2]
    assert not isinstance(third, LookupError) and not third.saved and third.conflicts == {A: "10"}
    assert isinstance(together[4], LookupError)
    d = load_draft(ledger, "2025-H1", "00301")
    assert d is not None and d.cells == {A: "10", B: "7"} and d.version == 3
    ledger.close()
    alone_ledger.close()


def test_calls_waiting_for_the_lane_run_as_one(cfg: JobConfig) -> None:
    lane = Lane(cfg.ledger_path)
    runs: list[list[int]] = []

    def every(args: list[int]) -> list[int | Exception]:
        runs.append(args)
        return [ValueError(f"odd {a}") if a % 2 else a * 10 for a in args]

    together: Together[int, int] = Together(lane, every)
    gate = threading.Event()

    async def main() -> list[object]:
        busy = lane.submit(gate.wait, 30)  # the lane is busy: the calls below wait together
        calls = [asyncio.ensure_future(together(n)) for n in range(6)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.wrap_future(busy)
        return list(await asyncio.gather(*calls, return_exceptions=True))

    answers = asyncio.run(main())
    assert runs == [[0, 1, 2, 3, 4, 5]]  # one run for the six
    assert answers[0::2] == [0, 20, 40]
    assert [str(a) for a in answers[1::2]] == ["odd 1", "odd 3", "odd 5"]

    def broken(args: list[int]) -> list[int | Exception]:
        raise RuntimeError("disk full")

    failing: Together[int, int] = Together(lane, broken)
    with pytest.raises(RuntimeError, match="disk full"):
        asyncio.run(failing(1))
    assert asyncio.run(together(8)) == 80  # the lane goes on
    lane.close()


def test_the_lane_s_ledger_is_used_on_its_thread_only(cfg: JobConfig) -> None:
    lane = Lane(cfg.ledger_path)
    with pytest.raises(RuntimeError):
        lane.ledger()

    def version() -> tuple[int, str]:
        with lane.ledger() as ledger:
            return ledger.version, threading.current_thread().name

    first = asyncio.run(lane.run(version))
    assert first == asyncio.run(lane.run(version))  # one thread, one connection
    assert first[1].startswith("ctstat-entry-ledger") and cfg.ledger_path.is_file()
    lane.close()


def test_a_page_is_served_while_a_save_waits_for_another_writer(site: Site) -> None:  # noqa: F811 - the fixture
    """Another process holds the ledger's write lock (`ctstat run` recording a batch): a save waits for it, and
    the pages are still served meanwhile (reads have a lane of their own)."""
    import sqlite3

    from .test_entry import save, started

    c, _ = started(site)
    other_device = site.sign_in(WARD)  # signed in before (signing in writes the ledger too)
    assert c.get("/xa/nhap/1").status_code == 200
    other = sqlite3.connect(site.cfg.ledger_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock, held
    answers: dict[str, int] = {}

    def saving() -> None:
        answers["save"] = save(c, 1, {A: "10"}).status_code

    def reading() -> None:
        answers["page"] = other_device.get("/xa/nhap/2").status_code

    writer = threading.Thread(target=saving)
    writer.start()
    while not site_writes_waiting(site):
        writer.join(0.01)
    reader = threading.Thread(target=reading)
    reader.start()
    reader.join(25)
    waiting = writer.is_alive()
    other.execute("COMMIT")
    other.close()
    writer.join(60)
    assert answers.get("page") == 200 and waiting  # served while the save waited
    assert answers.get("save") == 303
    row = site.ledger().draft("2025-H1", WARD)
    assert row is not None and '"TE01/0-2/sex:nam": "10"' in row["cells"]


def site_writes_waiting(s: Site) -> bool:
    """Whether the entry pages' write lane is busy: a probe sent to it does not run at once."""
    entry = next(
        r.endpoint.__self__
        for r in s.app.app.routes
        if getattr(r, "path", "") == "/xa/nhap/kiem-tra" and hasattr(r.endpoint, "__self__")  # the POST's
    )
    probe = entry.writes.submit(lambda: None)
    try:
        probe.result(timeout=0.2)
        return False
    except TimeoutError:
        return True
