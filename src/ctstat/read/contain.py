"""The second wall: files are read in worker processes with a memory cap and a time limit per file.

The guard (guard.py) keeps what a reader is given small and sane, but a reader is native code: a panic, an
abort on a failed allocation, a `MemoryError` or a hang will happen one day. Each worker runs under an address-
space limit; a worker that dies or overruns costs the file it was reading one issue (`reader-crashed`,
`reader-timeout`), a fresh worker takes its place, and the rest of the batch goes on. This holds for one worker
(`--jobs 1`) as for many. Results come back in the order of the inputs.
"""

from __future__ import annotations

import faulthandler
import gc
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from ctstat.model.errors import InternalError
from ctstat.model.report import Said

OUT_OF_MEMORY = Said("hết bộ nhớ", "out of memory")
READER_FAULT = Said("lỗi bên trong chương trình đọc", "a fault inside the reader")  #: a native reader's panic

T = TypeVar("T")
A = TypeVar("A")

#: seconds one file may take to read (a form takes milliseconds); CTSTAT_READ_TIMEOUT overrides
READ_TIMEOUT = 60.0
#: memory a reading worker may add to what it starts with, in MiB; CTSTAT_READ_MEMORY_MB overrides
READ_MEMORY_MB = 1024
#: files a pooled worker reads before a fresh one takes its place (what a long-lived reader leaves behind in its
#: heap counts against its memory cap)
RECYCLE = 500


#: the cyclic collector's thresholds in a reading worker: a file's objects make few cycles, and Python's default
#: (a collection every 700 new objects) ran one every few cells
_WORKER_GC = (50_000, 20, 20)


def read_timeout() -> float:
    return float(os.environ.get("CTSTAT_READ_TIMEOUT") or READ_TIMEOUT)


def read_memory_mb() -> int:
    return int(os.environ.get("CTSTAT_READ_MEMORY_MB") or READ_MEMORY_MB)


def _context() -> Any:
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _limit_memory(extra_mb: int) -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the time limit still holds
        return
    now = _address_space()
    if not now or extra_mb <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = now + extra_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or limit < soft:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _serve(conn: Connection, fn: Callable[[Any], Any], extra_mb: int, progress: Any) -> None:
    """A worker: read the chunks it is sent until told to stop, answering each chunk with its results in order.

    Any failure is sent back as a value. `progress` (shared memory) says which file it is on and since when, so
    the parent can tell which file killed or stalled it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    debug = os.environ.get("CTSTAT_DEBUG") == "1"
    if not debug:  # a native reader's dying words (a Rust backtrace) are not for users
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        faulthandler.disable()  # it may hold its own copy of stderr (pytest's does)
    # streams of its own: the ones inherited keep the lock of their buffer as it was at the fork, and a thread of
    # the parent writing a line then (a server's access log) leaves it held for ever, so the first warning this
    # worker printed would hang it (the likely cause of one benchmark upload in a few thousand stuck until the
    # time limit)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the worker's life
    sys.stderr = (
        os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
        if debug
        else open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    )
    _limit_memory(extra_mb)
    # what the worker inherited lives as long as it does: the cyclic collector need not walk it (nor touch its
    # pages, which would copy them), and a file's objects are freed by reference counting as soon as it is read
    gc.freeze()
    gc.set_threshold(*_WORKER_GC)
    parent = os.getppid()
    while True:
        try:
            # a worker kept between batches must not outlive its parent (a server killed): the pipe may stay open
            # in its sibling workers, which inherited it, so the end of the pipe is not a sure sign
            while not conn.poll(1.0):
                if os.getppid() != parent:
                    return
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        replies = []
        for index, arg in chunk:
            progress[0], progress[1] = index, time.monotonic()
            try:
                reply: tuple[str, Any] = ("ok", fn(arg))
            except MemoryError:
                reply = ("failed", OUT_OF_MEMORY)
            except OSError as exc:  # a fault of the machine (a full disk, say), not a bug: the same error in the parent
                reply = ("oserror", (exc.errno, exc.strerror, exc.filename))
            except Exception:  # a bug in ctstat (native reader failures are issues already): exit 3 in the parent
                reply = ("bug", traceback.format_exc())
            except BaseException:  # noqa: BLE001 - a Rust panic is a BaseException; the worker must answer
                reply = ("failed", READER_FAULT)  # never the exception's name (PanicException) in a message
            replies.append((index, reply))
        progress[1] = 0.0
        try:
            conn.send(replies)
        except MemoryError:
            conn.send([(i, ("failed", OUT_OF_MEMORY)) for i, _ in replies])
        except Exception:  # a result could not be pickled
            conn.send([(i, ("failed", READER_FAULT)) for i, _ in replies])


@dataclass
class _Worker(Generic[A]):
    proc: Any
    conn: Connection
    progress: Any  #: [index of the file being read, when it started (0: idle)]
    pending: deque[list[tuple[int, A]]] = field(default_factory=deque)  #: chunks sent, not answered
    served: int = 0  #: files it has answered for


class Pool(Generic[A]):
    """Reading workers kept between calls of `contained_map`, for a server that reads a few files at a time: a
    worker is forked once, not once per batch. Each runs `fn`; one that dies or overruns is replaced as ever.
    One caller at a time (the portal's intake thread); `close` stops them."""

    def __init__(self, fn: Callable[[A], Any], jobs: int = 1, memory_mb: int | None = None) -> None:
        self.fn, self.jobs, self.memory_mb = fn, max(1, jobs), memory_mb
        self.workers: list[_Worker[A]] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Fork all its workers now. A server calls this before it starts any thread: a worker forked later, while
        another thread holds a lock (a module being imported the first time, say), can hang on that lock."""
        extra_mb = read_memory_mb() if self.memory_mb is None else self.memory_mb
        with self._lock:
            self.workers += [_start(_context(), self.fn, extra_mb) for _ in range(self.jobs - len(self.workers))]

    def close(self) -> None:
        with self._lock:
            for w in self.workers:
                _stop(w, kill=False)
            self.workers.clear()


def contained_map(
    fn: Callable[[A], T],
    args: Sequence[A],
    failed: Callable[[A, str, str], T],
    jobs: int = 1,
    timeout: float | None = None,
    memory_mb: int | None = None,
    pool: Pool[A] | None = None,
    started: Callable[[], object] | None = None,
) -> Iterator[T]:
    """`fn(arg)` for every arg, in order, each in a worker process (`jobs` of them) under a memory cap and a time
    limit. A call that crashes its worker, or overruns, yields `failed(arg, code, detail)` instead, with code
    `reader-crashed` or `reader-timeout`; one that raises an Exception (a bug of ctstat) raises InternalError.

    With `pool`, its workers (running `pool.fn`, in place of `fn`) are used and left running for the next call.
    `started` is called once the workers are forked, before the first answer: a caller may start a thread then,
    to work beside the reading (a worker forked while a thread imports could inherit a held lock)."""
    if not args:
        return
    if pool is not None:
        with pool._lock:
            yield from _map(pool.fn, args, failed, (pool.jobs, timeout, pool.memory_mb), pool.workers, started)
        return
    yield from _map(fn, args, failed, (jobs, timeout, memory_mb), None, started)


def _map(
    fn: Callable[[A], T],
    args: Sequence[A],
    failed: Callable[[A, str, str], T],
    limits: tuple[int, float | None, int | None],
    kept: list[_Worker[A]] | None,
    started: Callable[[], object] | None,
) -> Iterator[T]:
    """contained_map over the workers in `kept` (started as needed; left there, idle, when all went well), or
    over workers of its own, stopped at the end (`kept` None). `limits`: jobs, timeout and memory cap."""
    jobs, timeout, memory_mb = limits
    run = _Scheduler(fn, args, failed, jobs, memory_mb, kept)
    timeout = read_timeout() if timeout is None else timeout
    out = 0
    if started is not None:
        started()
    try:
        while out < len(args):
            run.feed()
            for w in run.ready(timeout):
                run.collect(w)
            run.expire(timeout)
            while out in run.done:
                yield run.done.pop(out)
                out += 1
    finally:
        run.release(finished=out == len(args))


class _Scheduler(Generic[A, T]):
    """The state of one contained_map: the tasks not yet sent (`todo`), the results not yet yielded (`done`), the
    workers, and whether a fault of the machine was met (then the other workers finish what they hold)."""

    def __init__(
        self,
        fn: Callable[[A], T],
        args: Sequence[A],
        failed: Callable[[A, str, str], T],
        jobs: int,
        memory_mb: int | None,
        kept: list[_Worker[A]] | None,
    ) -> None:
        self.fn, self.args, self.failed, self.kept = fn, args, failed, kept
        self.ctx, self.extra_mb = _context(), read_memory_mb() if memory_mb is None else memory_mb
        n_workers = max(1, min(jobs, len(args)))
        self.size = max(1, min(32, len(args) // (n_workers * 8)))
        self.todo: deque[tuple[int, A]] = deque(enumerate(args))
        self.done: dict[int, T] = {}
        self.faulted = False
        pooled = [] if kept is None else kept
        for w in [w for w in pooled if not w.proc.is_alive()]:  # died while idle
            _stop(w, kill=True)
            pooled.remove(w)
        self.workers, self.spare = pooled[:n_workers], pooled[n_workers:]
        self.workers += [self.start() for _ in range(n_workers - len(self.workers))]

    def start(self) -> _Worker[A]:
        return _start(self.ctx, self.fn, self.extra_mb)

    def feed(self) -> None:
        """Up to two chunks in flight per worker."""
        for w in self.workers:
            while self.todo and len(w.pending) < 2:
                chunk = [self.todo.popleft() for _ in range(min(self.size, len(self.todo)))]
                w.pending.append(chunk)
                try:
                    w.conn.send(chunk)
                except OSError:  # it died: seen through its sentinel
                    break

    def ready(self, timeout: float) -> list[_Worker[A]]:
        """The busy workers that answered or died, waiting at most until the oldest file being read overruns."""
        busy = [w for w in self.workers if w.pending]
        now = time.monotonic()
        started = [w.progress[1] for w in busy if w.progress[1]]
        wait_for = min((t + timeout for t in started), default=now + 1.0) - now
        ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], max(0.0, wait_for)))
        return [w for w in busy if w.conn in ready or w.proc.sentinel in ready]

    def collect(self, w: _Worker[A]) -> None:
        """Take a worker's answers; a machine fault in it is raised here as the same OSError, a bug as
        InternalError; a worker found dead costs the file it was reading `reader-crashed`."""
        machine: tuple[Any, ...] | None = None
        try:
            while w.conn.poll():
                replies = w.conn.recv()
                w.pending.popleft()
                w.served += len(replies)
                for index, (status, value) in replies:
                    if status == "oserror":
                        machine = machine or value  # the first one met
                    elif status == "bug":
                        raise InternalError(_label(self.args[index]), value)
                    else:
                        ok = status == "ok"
                        self.done[index] = value if ok else self.failed(self.args[index], "reader-crashed", value)
        except (EOFError, OSError):  # the pipe: the worker died, seen below
            pass
        if machine is not None:
            self.faulted = True
            raise OSError(*machine)
        if not w.proc.is_alive():
            self.replace(w, "reader-crashed", _death(w.proc.exitcode))

    def expire(self, timeout: float) -> None:
        """Workers reading one file for longer than `timeout` are replaced; that file gets `reader-timeout`."""
        for w in [w for w in self.workers if w.pending]:
            if w.progress[1] and time.monotonic() - w.progress[1] >= timeout:
                self.replace(w, "reader-timeout", f"{timeout:g}")

    def replace(self, w: _Worker[A], code: str, detail: str) -> None:
        culprit = int(w.progress[0]) if w.progress[1] else None
        left = [item for chunk in w.pending for item in chunk if item[0] not in self.done]
        for index, arg in left:
            if index == culprit:
                self.done[index] = self.failed(arg, code, detail)
        # the files it had not finished go back to the front, for the next worker
        self.todo.extendleft(reversed([item for item in left if item[0] != culprit]))
        _stop(w, kill=True)
        self.workers[self.workers.index(w)] = self.start()

    def release(self, finished: bool) -> None:
        """Own workers are stopped (killed if the map was cut short, unless by a machine fault: then they finish
        and clean up); pooled ones that are idle and well go back to the pool."""
        if self.kept is None:
            for w in self.workers:
                _stop(w, kill=not finished and not self.faulted)
            return
        self.kept.clear()
        for w in self.workers:
            if finished and not w.pending and w.proc.is_alive() and w.served < RECYCLE:
                self.kept.append(w)  # idle and well: kept for the next call
            else:
                _stop(w, kill=True)
        self.kept.extend(self.spare)


def _label(arg: Any) -> str:
    """What a task is about, for an error's one line: its path (a task may be a tuple of a report and more)."""
    first = arg[0] if isinstance(arg, tuple) and arg else arg
    return str(getattr(first, "path", first))[:300]


def _start(ctx: Any, fn: Callable[[A], Any], extra_mb: int) -> _Worker[A]:
    parent, child = ctx.Pipe()
    progress = ctx.RawArray("d", 2)
    proc = ctx.Process(target=_serve, args=(child, fn, extra_mb, progress), daemon=True)
    proc.start()
    child.close()
    return _Worker(proc, parent, progress)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name in ("SIGABRT", "SIGKILL", "SIGSEGV", "SIGBUS"):
            return Said(f"{name}, thường do hết bộ nhớ", f"{name}, usually out of memory")
        return name
    return f"exit {exitcode}"


def _stop(w: _Worker[Any], kill: bool) -> None:
    try:
        if kill:
            w.proc.kill()
        else:
            w.conn.send(None)
    except (OSError, ValueError):
        pass
    w.proc.join(5)
    if w.proc.is_alive():
        w.proc.kill()
        w.proc.join(5)
    w.conn.close()
