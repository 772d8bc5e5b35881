"""The check ("Kiểm tra") of a typed report, without a workbook: what the reader would make of the form ctstat
writes from the draft, built directly, and judged by the very checks an uploaded file gets.

Submitting writes the draft's form workbook with ctstat's form writer (`write.form.write_form`) and the intake
reads it back like any upload. A check needs only the judgement, so it skips the round trip: `as_read` builds the
`Submission` the reader (`read.workbook`) makes of that workbook: every cell's value in layout order as calamine
reads it (each number typed as a float, "Có"/"Không" as text, a blank as None, each total as the cached value
the writer computes), the cover's fields as written (`write.form`, `write.inert`), the totals as formula cells
with their cached values. `judge_typed` then runs `validate_batch`, the same function (per-file checks and the
catalogue's pandera schema) with the same options as the upload path (`job.run.judge_arrivals`). A test writes
the workbook, reads it, and holds both the Submission and the issues to be the same
(tests/test_entry_check.py).

Checks still arrive together when twenty wards press "Kiểm tra" at once: `Checks` judges every one waiting as a
batch, on a thread of its own (never behind an upload's batch: it shares no worker with the intake).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from datetime import date, datetime
from typing import Any

from ctstat.job.config import JobConfig
from ctstat.model.catalogue import Catalogue
from ctstat.model.layout import form_layout
from ctstat.model.report import FileReport
from ctstat.read.submission import Submission
from ctstat.write import inert
from ctstat.write.form import FormHeader, cached_total, cover_values

#: a typed report to judge: its file name (where its issues say they are), header, values, cover's fields
Typed = tuple[str, FormHeader, Mapping[str, Any], Mapping[str, Any]]


def as_read(catalogue: Catalogue, typed: Typed) -> Submission:
    """The Submission `read.workbook.read_submission` makes of the form workbook `write.form.write_form` writes
    from `typed` (with no `created` time and no marks): nothing is written or read."""
    name, header, values, cover = typed
    layout = form_layout(catalogue)
    raw: list[Any] = []
    for key in layout.keys:
        if key in layout.formulas:
            raw.append(float(cached_total(layout, key, values)))
        else:
            raw.append(_cell(values.get(key)))
    read_cover = {k: _cover_cell(k, v) for k, v in cover_values(catalogue, header, cover).items()}
    return Submission(
        path=name, format="xlsx", cover=read_cover, raw=raw, formula_keys=set(layout.formulas), nocache_keys=set()
    )


def _cell(value: Any) -> Any:
    """An input cell as calamine reads back what the form writer wrote in it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return inert.text(value)
    return float(value)  # calamine reads every number as a float


def _cover_cell(key: str, value: Any) -> Any:
    """A cover field as read: the report's date as a date (the cell's format is a date's), text made inert."""
    if key == "report_date" and isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return _cell(value)


def judge_typed(cfg: JobConfig, catalogue: Catalogue, typed: Sequence[Typed]) -> list[FileReport]:
    """Each typed report judged as an uploaded file is (`validate_batch`, as `judge_arrivals` calls it)."""
    from ctstat.check.validate import validate_batch
    from ctstat.job.run import judged_as

    subs = [as_read(catalogue, t) for t in typed]
    report, _ = validate_batch(subs, catalogue, *judged_as(cfg), check_duplicates=False)
    return list(report.files)


class Checks:
    """Drafts judged together: a thread takes every check waiting (up to BATCH) and judges them as one batch
    (`judge_typed`). Twenty wards pressing "Kiểm tra" at once cost one batch, not twenty in a row. The thread
    starts, and loads the checks (`warm_up`), when the portal starts."""

    BATCH = 64

    def __init__(self, cfg: JobConfig, catalogue: Catalogue) -> None:
        self.cfg, self.catalogue = cfg, catalogue
        self._queue: queue.Queue[tuple[Typed, Future[FileReport]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ctstat-entry-checks", daemon=True)
                self._thread.start()

    def submit(self, typed: Typed) -> Future[FileReport]:
        fut: Future[FileReport] = Future()
        self.start()
        self._queue.put((typed, fut))
        return fut

    def _loop(self) -> None:
        from ctstat.check.validate import warm_up

        try:
            warm_up(self.catalogue)
        except Exception:  # noqa: BLE001 - the first batch meets it again, and every waiting request is told
            pass
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                reports = judge_typed(self.cfg, self.catalogue, [typed for typed, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            for (_, fut), rep in zip(batch, reports, strict=True):
                fut.set_result(rep)
