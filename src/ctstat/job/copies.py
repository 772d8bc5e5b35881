"""The marked-up copies of a run, written while the inbox is still being read.

A run over a national inbox reads ten thousand files, and about one in twenty gets a marked-up copy. Written
after the last file was read, the copies (milliseconds each) came after the whole read; here each part of the
batch, once the batch checks have judged it (`pipeline.read_checked(judged=...)`), sends its faulty files to
writers forked before the reading began, and the run records while the last copies are written. The copies are
those `run.mark_up` writes, from the same reports in the same order (`check.validate.in_order`): a file's copy
does not depend on when it is written.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import InternalError
from ctstat.model.period import Period
from ctstat.model.report import FileReport
from ctstat.read.workbook import Submission

if TYPE_CHECKING:
    from ctstat.read.contain import Pool
    from ctstat.write.annotate import Task

#: what a copy is made from: the file's report (its issues in their final order), what was read, where it goes
Job = tuple[FileReport, Submission, Path]


class EarlyCopies:
    """Marked-up copies written as the batch is judged. `target(sub)` says where a file's copy goes (None: the
    file gets none, its content was recorded before). With `early`, writers are forked now (before any reading
    worker or thread) and fed from the judging thread (`judged`); without, the copies are all written when the
    batch is judged (`rest`), as `run.mark_up` does. Use it with `with`, which stops the writers."""

    def __init__(
        self,
        catalogue: Catalogue,
        period: Period | None,
        jobs: int,
        target: Callable[[Submission], Path | None],
        early: bool,
    ) -> None:
        self.catalogue, self.period, self.jobs, self.target = catalogue, period, jobs, target
        self.pool: Pool[Task] | None = None
        if early:
            from ctstat.write.annotate import marking_pool

            self.pool = marking_pool(catalogue, jobs)
            self.pool.start()
        self.planned: dict[str, Path] = {}  #: by the path read (`Submission.path`): where its copy goes
        self.written: dict[str, Path] = {}
        self._queue: queue.Queue[list[Job] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._failure: list[BaseException] = []
        self._ended = False

    def __enter__(self) -> EarlyCopies:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def judged(self, chunk: Sequence[Submission]) -> None:
        """In the judging thread: the copies of the files of `chunk` judged ahead, sent to the writers (none
        without writers: then every copy is written by `rest`)."""
        from ctstat.check.validate import in_order

        if self.pool is None:
            return
        jobs = [
            job
            for sub in chunk
            if sub.judged and sub.checked is not None and sub.checked[0].issues  # a copy lists issues
            if (job := self._job(in_order(sub.checked[0], self.catalogue), sub)) is not None
        ]
        if not jobs:
            return
        if self._thread is None:  # started once the reading workers are forked (a fork copies no thread)
            self._thread = threading.Thread(target=self._write, daemon=True)
            self._thread.start()
        self._queue.put(jobs)

    def rest(self, reports: Sequence[FileReport], subs: Sequence[Submission]) -> None:
        """The batch is judged (`reports`, final, in the order of `subs`): the copies not sent yet. With writers,
        they are sent (`wait` waits for them); else written here, as `run.mark_up` does."""
        jobs = [job for rep, sub in zip(reports, subs, strict=True) if (job := self._job(rep, sub)) is not None]
        if self.pool is None:
            self._annotate(jobs)
            return
        if jobs and self._thread is None:
            self._thread = threading.Thread(target=self._write, daemon=True)
            self._thread.start()
        self._queue.put(jobs)
        self._end()

    def wait(self) -> dict[str, Path]:
        """Every copy planned, written (by the path read); a writer's failure (a full disk: OSError) raised."""
        self._end()
        if self._thread is not None:
            self._thread.join()
        if self._failure:
            raise self._failure[0]
        if self.written != self.planned:
            raise InternalError("marked-up copies", f"{len(self.planned)} planned, {len(self.written)} written")
        return self.written

    def close(self) -> None:
        """Stop the writers (after the copies they were given, when the run was cut short)."""
        self._end()
        if self._thread is not None:
            self._thread.join()
        if self.pool is not None:
            self.pool.close()

    def _job(self, rep: FileReport, sub: Submission) -> Job | None:
        from ctstat.write.annotate import marks_up

        if sub.path in self.planned or not marks_up(rep, sub):
            return None
        where = self.target(sub)
        if where is None:
            return None
        self.planned[sub.path] = where
        return rep, sub, where

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put(None)

    def _write(self) -> None:
        """The writing thread: each part's copies, in the kept writers; after a failure, only drains the queue."""
        while (jobs := self._queue.get()) is not None:
            if self._failure:
                continue
            try:
                self._annotate(jobs)
            except BaseException as exc:  # noqa: BLE001 - raised in the run's thread by `wait`
                self._failure.append(exc)

    def _annotate(self, jobs: list[Job]) -> None:
        from ctstat.write.annotate import annotate_all

        copies = annotate_all(jobs, self.catalogue, period=self.period, jobs=self.jobs, pool=self.pool)
        self.written.update((sub.path, path) for (_, sub, _), path in zip(jobs, copies, strict=True))
