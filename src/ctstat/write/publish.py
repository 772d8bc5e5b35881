"""Publish a set of outputs at once: the workbooks and manifest of one rollup are never half old, half new.

The set is written into a staging folder beside the output folder. On success the output folder's other files
(earlier rollups of other units kept there) are hard-linked into the staging folder, and the two folders are
exchanged in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`). Where a file system cannot exchange, the old
folder is renamed aside and the new one renamed in: a reader may then find the folder missing for an instant, but
never a mix. A run killed at any point leaves the old set or the new one; the next publish removes what a killed
run left behind (and puts back a folder renamed aside, should a kill fall between the two renames).
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .atomic import umask

_NEW, _OLD = ".new-", ".old-"


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """Yield an empty staging folder; when the block succeeds, what it holds replaces the same names in `out`
    (other files of `out` stay), all at once. On failure the staging folder is removed and `out` is untouched."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}{_NEW}{os.getpid()}-", dir=out.parent))
    try:
        # mkdtemp makes 0700: the folder swapped in keeps the mode of the one it replaces, or gets a new folder's
        os.chmod(stage, stat.S_IMODE(out.stat().st_mode) if out.is_dir() else 0o777 & ~umask())
        yield stage
        _swap_in(out, stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap_in(out: Path, stage: Path) -> None:
    if not out.exists():
        os.rename(stage, out)
        return
    if not out.is_dir() or out.is_symlink():
        raise NotADirectoryError(errno.ENOTDIR, "the output is not a folder", str(out))
    staged_names = {p.name for p in stage.iterdir()}
    for entry in out.iterdir():
        if entry.name in staged_names or (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        if entry.is_dir() and not entry.is_symlink():  # a folder of the user's: moved with the set, as it is
            _link_tree(entry, stage / entry.name)
        else:
            _link(entry, stage / entry.name)
    if _exchange(stage, out):
        shutil.rmtree(stage, ignore_errors=True)  # now the old set
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}{_OLD}{os.getpid()}-", dir=out.parent))
    os.rmdir(aside)
    os.rename(out, aside)
    os.rename(stage, out)
    shutil.rmtree(aside, ignore_errors=True)


def _link(src: Path, dst: Path) -> None:
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links: a copy keeps the set whole
        shutil.copy2(src, dst)


def _link_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True, copy_function=lambda s, d: _link(Path(s), Path(d)))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot (then the caller renames)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def recover(out: Path) -> None:
    """Clean up after a publish that was killed: staging folders of dead processes are removed; a folder renamed
    aside with nothing in its place is put back."""
    parent = out.parent
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        for mark in (_NEW, _OLD):
            prefix = f".{out.name}{mark}"
            if not entry.name.startswith(prefix):
                continue
            pid = entry.name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and _alive(int(pid)):
                continue
            if mark == _OLD and not out.exists():
                os.rename(entry, out)
            else:
                shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers (a pid reused) are not another run's work in progress
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
