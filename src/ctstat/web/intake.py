"""The portal's intake: files uploaded by wards go through the same input stage, checks and ledger as `ctstat run`.

Uploads arriving together are judged together (one batch, like a run): a thread takes whatever is waiting, reads
and judges it with `judge_arrivals`, decides, has the marked-up copies written and records the batch with
`record`, holding the job's lock only to move accepted files into the inbox and write the ledger. Reading and
marking up run in worker processes kept for the server's life. A `run` from cron and uploads therefore never
overlap: a run either sees an uploaded file already recorded (unchanged: not read again) or not yet in the inbox.

What becomes of an upload:
- **accepted**: valid, and the sender's own (a ward's token: its cover names that ward; the district's token:
  one of its communes). Moved into `inbox/portal/<unit>/<server-chosen name>` and recorded as a submission.
- **invalid**: kept aside in `out/portal/kept/<sender>/` with its marked-up copy, counted as an attempt; the
  ward's current submission does not change. A sender keeps at most `kept_quota_mb` aside: past it, its oldest
  kept files (and their marked-up copies) are removed; their reports stay in the ledger.
- **refused**: another unit's file (HTTP 403): not kept, only the attempt is recorded.
- **locked**: a file for a ward whose report for the period is approved (HTTP 409, saying who approved it, when,
  and how to reopen): not kept, only the attempt is recorded; the approved file still counts. (Judged when the
  batch is: an approval recorded in the moment between that and the recording lets the file in, and every run
  then flags it `approved-locked` and keeps counting the approved file.)
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ctstat.check.file_checks import FileCheck
from ctstat.job.config import PORTAL_DIR as PORTAL_DIR  # under the inbox: accepted uploads; under out: staging, kept
from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger, Upload
from ctstat.job.review import flag_locked
from ctstat.job.run import (
    Arrival,
    EventLog,
    Judgement,
    job_lock,
    judge_arrivals,
    judged_as,
    mark_up,
    record,
    retire_stale_rollup,
)
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.report import FileReport
from ctstat.model.units import load_units
from ctstat.pipeline import workers
from ctstat.read.inputs import reading_pool
from ctstat.read.submission import EXTENSIONS
from ctstat.write.annotate import SUFFIX, marking_pool
from ctstat.write.filling import filling_pool

BATCH = 64  #: uploads judged together at most


@dataclass(frozen=True)
class Staged:
    """An upload written to disk, waiting to be judged."""

    path: Path
    sender: str
    client_name: str
    size: int


class Busy(Exception):
    """The job's lock stayed taken (a long run): the upload was not taken in; the sender should send it again."""


def staging_dir(cfg: JobConfig) -> Path:
    return cfg.out / PORTAL_DIR / "incoming"


def server_name(ext: str, now: datetime | None = None) -> str:
    """A file name the server chooses: time and randomness, the extension from the allowed set only."""
    ext = ext.lower() if ext.lower() in EXTENSIONS else ".xlsx"
    return f"{(now or datetime.now()):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}{ext}"


def sniff_extension(head: bytes, client_name: str) -> str:
    """The extension to read an upload with: the client's if it is a workbook's, else from the first bytes."""
    suffix = Path(client_name).suffix.lower() if "/" not in client_name and "\\" not in client_name else ""
    if suffix in EXTENSIONS:
        return suffix
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return ".xls"
    if head.startswith(b"PK") and b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head[:120]:
        return ".ods"
    return ".xlsx"


class Intake:
    """Judges and records uploads in batches, on one thread (see the module's text)."""

    def __init__(self, cfg: JobConfig, catalogue: Catalogue, lock_wait: float = 120.0) -> None:
        self.cfg = cfg
        self.catalogue = catalogue
        self.lock_wait = lock_wait
        self.log = EventLog(cfg.log)
        h = load_units(cfg.vintage)
        area = h.area(cfg.unit)
        self.area = area.code
        self.expected = {u.code for u in h.communes_under(area)}
        # reading workers forked once, not once per batch (each batch is a few files)
        self.readers = reading_pool(catalogue, workers(cfg.jobs), FileCheck(catalogue, *judged_as(cfg)))
        # and so are the workers that write marked-up copies (each takes a form's worth of work off this process)
        self.markers = marking_pool(catalogue, workers(cfg.jobs))
        # and those that write the forms typed on the page (web/entry.py), off this process's interpreter lock
        self.fillers = filling_pool(catalogue, workers(cfg.jobs))
        for pool in (self.readers, self.markers, self.fillers):  # forked here, before this process has any thread
            pool.start()
        self._queue: queue.Queue[tuple[Staged, Future[Upload]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="ctstat-intake", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(30)
        self.readers.close()
        self.markers.close()
        self.fillers.close()

    def submit(self, staged: Staged) -> Future[Upload]:
        fut: Future[Upload] = Future()
        self._queue.put((staged, fut))
        return fut

    def _loop(self) -> None:
        """Take whatever is waiting (up to BATCH) and take it in as one batch, until told to stop. (Judging one
        batch while the one before is recorded, in a second thread, was measured: no faster.)"""
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                done = self.take_in([s for s, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - every waiting request gets the failure
                for staged, fut in batch:
                    staged.path.unlink(missing_ok=True)
                    fut.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, fut), up in zip(batch, done, strict=True):
                fut.set_result(up)

    def take_in(self, batch: list[Staged], now: datetime | None = None) -> list[Upload]:
        """Judge, decide and record a batch of staged uploads (the intake thread calls this)."""
        cfg, cat = self.cfg, self.catalogue
        now = now or datetime.now()
        arrivals = [Arrival(s.path, f"{PORTAL_DIR}/{s.path.name}", s.path.stat()) for s in batch]
        judged = judge_arrivals(cfg, cat, arrivals, self.readers)
        judged.report.files = self._flag_locked(judged.report.files)
        outcomes = [self._outcome(s, rep) for s, rep in zip(batch, judged.report.files, strict=True)]
        targets = self._place(batch, judged, outcomes)
        keep = [i for i, o in enumerate(outcomes) if o in ("accepted", "invalid")]
        annotated = mark_up(cfg, cat, judged, targets, only=keep, pool=self.markers)
        try:
            uploads = self._record(batch, judged, outcomes, annotated, now)
        finally:
            for s in batch:
                s.path.unlink(missing_ok=True)  # refused, or left over from a failure: never kept
        self._trim_kept(batch, [i for i in keep if outcomes[i] == "invalid"])
        for up in uploads:
            self.log(
                "upload",
                id=up.id,
                sender=up.sender,
                unit=up.report.unit,
                outcome=up.outcome,
                errors=up.report.errors,
                sha256=up.report.sha256,
            )
        return uploads

    def _flag_locked(self, reports: list[FileReport]) -> list[FileReport]:
        """The reports, each file of an approved ward (for this period) carrying the error that says who approved
        it and how to reopen: such an upload is refused, whatever else it holds (`locked`)."""
        if not self.cfg.ledger_path.exists():
            return reports
        with Ledger(self.cfg.ledger_path, readonly=True) as ledger:
            return flag_locked(ledger, self.cfg, reports)

    def _place(self, batch: list[Staged], judged: Judgement, outcomes: list[str]) -> dict[int, Path]:
        """Where each upload goes (an accepted one: the inbox; an invalid one: kept aside), said in its report;
        the marked-up copies of those kept aside (their targets, returned)."""
        kept_dir = self.cfg.out / PORTAL_DIR / "kept"
        targets: dict[int, Path] = {}
        for i, (s, outcome) in enumerate(zip(batch, outcomes, strict=True)):
            rep = judged.report.files[i]
            if outcome == "accepted":
                judged.todo[i].rel = f"{PORTAL_DIR}/{rep.unit}/{s.path.name}"
                place = self.cfg.inbox / judged.todo[i].rel
            else:
                place = kept_dir / s.sender / s.path.name
                if outcome == "invalid":
                    targets[i] = kept_dir / s.sender / (s.path.name + SUFFIX)
            judged.report.files[i] = _relocated(rep, str(place))
        return targets

    def _record(
        self, batch: list[Staged], judged: Judgement, outcomes: list[str], annotated: dict[int, str], now: datetime
    ) -> list[Upload]:
        """Keep the invalid files aside, move the accepted ones into the inbox under the job's lock, and record
        the batch (its accepted submissions and every upload) in one ledger transaction."""
        cfg, kept_dir = self.cfg, self.cfg.out / PORTAL_DIR / "kept"
        for i, outcome in enumerate(outcomes):
            if outcome == "invalid":
                _move(batch[i].path, kept_dir / batch[i].sender / batch[i].path.name)
        uploads: list[Upload] = []
        with _locked(cfg.out, self.lock_wait):
            with Ledger(cfg.ledger_path) as ledger:
                with ledger.transaction():
                    accepted = self._still_open(ledger, batch, judged, outcomes)
                    for i in accepted:  # into the inbox only under the lock: a run sees them recorded, or not at all
                        a = judged.todo[i]
                        _move(batch[i].path, cfg.inbox / a.rel)
                        a.st = (cfg.inbox / a.rel).stat()
                    ids = record(ledger, self.log, now, self.catalogue, judged, annotated, only=accepted)
                    for i, (s, outcome) in enumerate(zip(batch, outcomes, strict=True)):
                        up = Upload(
                            at=now,
                            sender=s.sender,
                            client_name=s.client_name,
                            size=s.size,
                            outcome=outcome,
                            report=judged.report.files[i],
                            submission_id=ids.get(i),
                            kept=judged.report.files[i].path if outcome in ("accepted", "invalid") else None,
                            annotated=annotated.get(i),
                        )
                        uploads.append(replace(up, id=ledger.add_upload(up)))
                if accepted:  # a new current submission: a rollup made before it is no longer current
                    retire_stale_rollup(cfg, self.catalogue, ledger, self.log)
        return uploads

    def _still_open(self, ledger: Ledger, batch: list[Staged], judged: Judgement, outcomes: list[str]) -> list[int]:
        """The accepted uploads, the lock checked again inside the transaction that records them (an approval is
        recorded in a transaction of its own: it came before this one, and is seen here, or comes after, and
        covers what this one records): one for a ward approved since the batch was judged becomes `locked`."""
        accepted = [i for i, o in enumerate(outcomes) if o == "accepted"]
        flagged = flag_locked(ledger, self.cfg, [judged.report.files[i] for i in accepted]) if accepted else []
        for i, rep in zip(accepted, flagged, strict=True):
            if any(x.code == "approved-locked" for x in rep.issues):  # said of where a locked file would be kept
                place = self.cfg.out / PORTAL_DIR / "kept" / batch[i].sender / batch[i].path.name
                judged.report.files[i], outcomes[i] = _relocated(rep, str(place)), "locked"
        return [i for i in accepted if outcomes[i] == "accepted"]

    def _trim_kept(self, batch: list[Staged], invalid: list[int]) -> None:
        """Each sender of an invalid upload within its quota of files kept aside (this batch's are kept)."""
        kept_dir = self.cfg.out / PORTAL_DIR / "kept"
        for sender in sorted({batch[i].sender for i in invalid}):
            fresh = {batch[i].path.name for i in invalid if batch[i].sender == sender}
            removed = _within_quota(kept_dir / sender, self.cfg.kept_quota_mb * 1024 * 1024, fresh)
            if removed:
                self.log("kept-removed", sender=sender, files=removed, quota_mb=self.cfg.kept_quota_mb)

    def _outcome(self, staged: Staged, rep: FileReport) -> str:
        mine = {staged.sender} if staged.sender != self.area else self.expected
        if rep.unit is not None and rep.unit not in mine:
            return "refused"
        if any(i.code == "approved-locked" for i in rep.issues):
            return "locked"
        return "accepted" if rep.valid and rep.unit is not None else "invalid"


@contextmanager
def _locked(out: Path, wait: float) -> Iterator[None]:
    """job_lock, with a lock still taken after `wait` seconds turned into Busy."""
    with ExitStack() as stack:
        try:
            stack.enter_context(job_lock(out, wait=wait))
        except UsageError as exc:
            raise Busy(str(exc)) from None
        yield


def _relocated(rep: FileReport, path: str) -> FileReport:
    """The report of a staged file, said of the place it is kept."""
    return replace(rep, path=path, issues=[replace(i, path=path) if i.path else i for i in rep.issues])


def _within_quota(folder: Path, quota: int, fresh: set[str]) -> list[str]:
    """Remove the oldest uploads kept aside in `folder` (each with its marked-up copy) until it holds `quota`
    bytes at most, never one of `fresh` (this batch's). The names removed."""
    groups: dict[str, list[Path]] = {}
    try:
        for f in folder.iterdir():
            if f.is_file() and not f.is_symlink():
                groups.setdefault(f.name.removesuffix(SUFFIX), []).append(f)
    except FileNotFoundError:
        return []
    sizes = {name: sum(f.stat().st_size for f in files) for name, files in groups.items()}
    total = sum(sizes.values())
    removed = []
    for name in sorted(groups, key=lambda n: (min(f.stat().st_mtime_ns for f in groups[n]), n)):
        if total <= quota:
            break
        if name in fresh:
            continue
        for f in groups[name]:
            f.unlink(missing_ok=True)
        total -= sizes[name]
        removed.append(name)
    return removed


def _move(src: Path, dst: Path) -> None:
    """Rename (or, across file systems, copy beside and rename) `src` to `dst`, which must not exist."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        raise FileExistsError(dst)
    try:
        os.link(src, dst)  # never over an existing file
        src.unlink()
    except OSError:
        tmp = dst.with_name(f".{dst.name}.part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        src.unlink()
