"""The entry pages' ledger work, in two lanes: each one thread with one connection to the job's ledger kept open,
one lane for reads and one for writes.

Twenty wards saving at once made twenty threads each open the ledger (a connection, its schema read, its checks),
then wait on SQLite's lock, which a waiting connection polls with growing sleeps (1, 2, 5, 10 ... ms): a save
took a few milliseconds of work and a few hundred of waiting. In the write lane the entry pages' writes run one
after the other on a connection opened once, each waiting for the one ahead of it only, and saves waiting
together are stored in one transaction (`Together`): one commit, not one each. A commit of SQLite's rollback
journal keeps every reader of the ledger waiting while it writes and syncs, and the portal reads the ledger on
every request (its session): twenty wards saving at once made twenty of those pauses where one does. Reads
(a draft, the lock) have a lane of their own, so a page is never served behind a write that waits for another
process's lock (`ctstat run` recording a batch). The rest of the portal keeps its own connections.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Generic, TypeVar

from ctstat.job.ledger import Ledger

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")


class Lane:
    """Runs functions that use the ledger on the lane's thread (`run`); `ledger()` is their connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ctstat-entry-ledger")
        self._local = threading.local()  #: the lane thread's connection (as web/tokens.py keeps its readers)
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self.submit(fn, *args))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(self._call, fn, *args)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        self._thread = threading.current_thread()
        return fn(*args)

    def ledger(self) -> AbstractContextManager[Ledger]:
        """The lane's connection (opened at its first use), for `with`: it stays open after the block."""
        if threading.current_thread() is not self._thread:
            raise RuntimeError("the entry pages' ledger is used on its lane's thread only (Lane.run)")
        ledger: Ledger | None = getattr(self._local, "ledger", None)
        if ledger is None:
            # read-write even for the reads' lane: a read-only connection of a WAL ledger of an earlier release is an
            # immutable view (`job.ledger`), which a connection kept open would keep for ever
            ledger = self._local.ledger = Ledger(self.path, readonly=False)
        return nullcontext(ledger)

    def close(self) -> None:
        def shut() -> None:
            ledger: Ledger | None = getattr(self._local, "ledger", None)
            if ledger is not None:
                ledger.close()
                self._local.ledger = None

        self._pool.submit(shut).result()
        self._pool.shutdown()


class Together(Generic[A, R]):
    """Calls that wait for the lane together run as one: `every(list of arguments)` (on the lane) answers each
    with its result, or the exception that is its answer; an exception of `every` itself answers them all."""

    def __init__(self, lane: Lane, every: Callable[[list[A]], list[R | Exception]]) -> None:
        self.lane, self.every = lane, every
        self._waiting: list[tuple[A, Future[R]]] = []
        self._lock = threading.Lock()

    async def __call__(self, args: A) -> R:
        fut: Future[R] = Future()
        with self._lock:
            self._waiting.append((args, fut))
            first = len(self._waiting) == 1
        if first:  # the others join the run already asked for, until it starts
            self.lane.submit(self._run)
        return await asyncio.wrap_future(fut)

    def _run(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            answers = self.every([args for args, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every caller waiting is told
            for _, fut in batch:
                fut.set_exception(exc)
            return
        for (_, fut), answer in zip(batch, answers, strict=True):
            if isinstance(answer, Exception):
                fut.set_exception(answer)
            else:
                fut.set_result(answer)
