"""The second wall: files are read in worker processes with a memory cap and a time limit per file.

The guard (guard.py) keeps what a reader is given small and sane, but a reader is native code: a panic, an
abort on a failed allocation, a `MemoryError` or a hang will happen one day. Each worker runs under an address-
space limit; a worker that dies or overruns costs the file it was reading one issue (`reader-crashed`,
`reader-timeout`), a fresh worker takes its place, and the rest of the batch goes on. This holds for one worker
(`--jobs 1`) as for many. Results come back in the order of the inputs.
"""

from __future__ import annotations

import faulthandler
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

from ctstat.errors import InternalError
from ctstat.report import Said

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
) -> Iterator[T]:
    """`fn(arg)` for every arg, in order, each in a worker process (`jobs` of them) under a memory cap and a time
    limit. A call that crashes its worker, or overruns, yields `failed(arg, code, detail)` instead, with code
    `reader-crashed` or `reader-timeout`; one that raises an Exception (a bug of ctstat) raises InternalError.

    With `pool`, its workers (running `pool.fn`, in place of `fn`) are used and left running for the next call."""
    if not args:
        return
    if pool is not None:
        with pool._lock:
            yield from _map(pool.fn, args, failed, pool.jobs, timeout, pool.memory_mb, pool.workers)
        return
    yield from _map(fn, args, failed, jobs, timeout, memory_mb, None)


def _map(
    fn: Callable[[A], T],
    args: Sequence[A],
    failed: Callable[[A, str, str], T],
    jobs: int,
    timeout: float | None,
    memory_mb: int | None,
    kept: list[_Worker[A]] | None,
) -> Iterator[T]:
    """contained_map over the workers in `kept` (started as needed; left there, idle, when all went well), or
    over workers of its own, stopped at the end (`kept` None)."""
    timeout = read_timeout() if timeout is None else timeout
    extra_mb = read_memory_mb() if memory_mb is None else memory_mb
    ctx = _context()
    n_workers = max(1, min(jobs, len(args)))
    size = max(1, min(32, len(args) // (n_workers * 8)))

    def start() -> _Worker[A]:
        return _start(ctx, fn, extra_mb)

    todo: deque[tuple[int, A]] = deque(enumerate(args))
    done: dict[int, T] = {}
    kept_ = [] if kept is None else kept
    for w in [w for w in kept_ if not w.proc.is_alive()]:  # died while idle
        _stop(w, kill=True)
        kept_.remove(w)
    workers, spare = kept_[:n_workers], kept_[n_workers:]
    workers += [start() for _ in range(n_workers - len(workers))]
    out = 0
    faulted = False  # a fault of the machine: the other workers finish what they hold (and clean up after it)

    def replace(w: _Worker[A], code: str, detail: str) -> None:
        culprit = int(w.progress[0]) if w.progress[1] else None
        left = [item for chunk in w.pending for item in chunk if item[0] not in done]
        for index, arg in left:
            if index == culprit:
                done[index] = failed(arg, code, detail)
        # the files it had not finished go back to the front, for the next worker
        todo.extendleft(reversed([item for item in left if item[0] != culprit]))
        _stop(w, kill=True)
        workers[workers.index(w)] = start()

    try:
        while out < len(args):
            for w in workers:
                while todo and len(w.pending) < 2:
                    chunk = [todo.popleft() for _ in range(min(size, len(todo)))]
                    w.pending.append(chunk)
                    try:
                        w.conn.send(chunk)
                    except OSError:  # it died: seen below through its sentinel
                        break
            busy = [w for w in workers if w.pending]
            now = time.monotonic()
            started = [w.progress[1] for w in busy if w.progress[1]]
            wait_for = min((t + timeout for t in started), default=now + 1.0) - now
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], max(0.0, wait_for)))
            for w in busy:
                if w.conn in ready or w.proc.sentinel in ready:
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
                                    raise InternalError(_label(args[index]), value)
                                else:
                                    done[index] = (
                                        value if status == "ok" else failed(args[index], "reader-crashed", value)
                                    )
                    except (EOFError, OSError):  # the pipe: the worker died, seen below
                        pass
                    if machine is not None:
                        faulted = True
                        raise OSError(*machine)
                    if not w.proc.is_alive():
                        replace(w, "reader-crashed", _death(w.proc.exitcode))
                elif w.progress[1] and time.monotonic() - w.progress[1] >= timeout:
                    replace(w, "reader-timeout", f"{timeout:g}")
            while out in done:
                yield done.pop(out)
                out += 1
    finally:
        finished = out == len(args)
        if kept is None:
            for w in workers:
                _stop(w, kill=not finished and not faulted)
        else:
            kept.clear()
            for w in workers:
                if finished and not w.pending and w.proc.is_alive() and w.served < RECYCLE:
                    kept.append(w)  # idle and well: kept for the next call
                else:
                    _stop(w, kill=True)
            kept.extend(spare)


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
