"""The job lock and forked workers: a flock belongs to the open file, which a forked child shares. A worker forked
by one thread while another thread opens or releases the job lock must not take a copy of it along (the portal
keeps its workers: such a copy would hold the lock for as long as the worker lives, and every later run and upload
would find the job busy)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import ctstat.job.run as run
from ctstat.model.errors import UsageError


def _fork_a_worker() -> int:
    pid = os.fork()
    if pid == 0:  # a kept worker: it lives on, doing nothing with the lock
        signal.pause()
        os._exit(0)
    return pid


def _free(out: Path, seconds: float = 5.0) -> bool:
    """Whether the lock can be taken within `seconds`: a process of the test run that another test started (a
    subprocess between its fork and its exec) may hold a copy for a moment; the kept worker of this test would hold
    it for as long as it lives."""
    until = time.monotonic() + seconds
    while True:
        try:
            with run.job_lock(out):
                return True
        except UsageError:
            if time.monotonic() > until:
                return False
            time.sleep(0.05)


@pytest.mark.parametrize("moment", ["release", "open"])
def test_a_worker_forked_while_another_thread_opens_or_releases_the_lock_does_not_keep_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    """The other thread is stopped inside job_lock where a fork would copy a descriptor the child does not know to
    close (right after releasing it from the registry, or right before registering it); the fork is asked for
    then. The other thread goes on after at most a second; the child must not hold the lock afterwards."""
    inside, go = threading.Event(), threading.Event()

    class Registry(set[int]):
        def discard(self, fd: int) -> None:
            super().discard(fd)
            if moment == "release":
                inside.set()
                go.wait(1)

        def add(self, fd: int) -> None:
            if moment == "open":
                inside.set()
                go.wait(1)
            super().add(fd)

    monkeypatch.setattr(run, "_LOCK_FDS", Registry())

    def hold() -> None:
        with run.job_lock(tmp_path):
            pass

    other = threading.Thread(target=hold)
    other.start()
    assert inside.wait(10)
    pid = _fork_a_worker()
    try:
        go.set()
        other.join(10)
        assert not other.is_alive()
        assert _free(tmp_path), "the forked worker kept the job lock"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
