"""The entry pages' ledger work, in one lane: one thread, one connection to the job's ledger kept open.

Twenty wards saving at once made twenty threads each open the ledger (a connection, its schema read, its checks),
then wait on SQLite's lock, which a waiting connection polls with growing sleeps (1, 2, 5, 10 ... ms): a save
took a few milliseconds of work and a few hundred of waiting. In the lane, the entry pages' reads and writes run
one after the other on a connection opened once, and each waits for the one ahead of it only (a save is one
short transaction). The rest of the portal (sign-in, sessions, uploads) keeps its own connections; SQLite still
keeps the lane and them apart.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from ctstat.job.ledger import Ledger

T = TypeVar("T")


class Lane:
    """Runs functions that use the ledger on the lane's thread (`run`); `ledger()` is their connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ctstat-entry-ledger")
        self._ledger: Ledger | None = None
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self._pool.submit(self._call, fn, *args))

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        self._thread = threading.current_thread()
        return fn(*args)

    def ledger(self) -> AbstractContextManager[Ledger]:
        """The lane's connection (opened at its first use), for `with`: it stays open after the block."""
        if threading.current_thread() is not self._thread:
            raise RuntimeError("the entry pages' ledger is used on its lane's thread only (Lane.run)")
        if self._ledger is None:
            self._ledger = Ledger(self.path, readonly=False)
        return nullcontext(self._ledger)

    def close(self) -> None:
        def shut() -> None:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

        self._pool.submit(shut).result()
        self._pool.shutdown()
