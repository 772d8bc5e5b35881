"""The input stage: which files a command reads, and reading them safely (guard, then contained workers).

Kept free of pandas and pandera so that reading starts at once; the checks load while the workers read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.messages import make_issue
from ctstat.read.workbook import EXTENSIONS, Submission, read_submission

if TYPE_CHECKING:
    from ctstat.read.contain import Pool


class Checks(Protocol):
    """The per-file checks a reading worker runs after reading (check.file_checks.FileCheck): given to the reader,
    so that reading knows nothing of checking."""

    def apply(self, sub: Submission) -> None: ...


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and workbooks under folders (recursively), in a stable order; lock files skipped.

    Anything with a workbook's name that is not a folder is listed, FIFOs, devices and broken links included:
    the reader's guard reports each of them (one issue), so nothing a ward sends is silently passed over."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(_workbooks_under(p))
        elif p.exists() or p.is_symlink():
            out.append(p)
        else:
            raise UsageError(f"no such file or folder: {p}", message_vi=f"không có tệp hay thư mục {p}")
    return out


def _workbooks_under(folder: Path) -> Iterator[Path]:
    """Entries named like a workbook under `folder`, at any depth, that are not folders (a link to one is listed);
    links to folders are not followed. One directory listing per folder, no stat per file (a national inbox
    holds ten thousand)."""
    for top, dirs, files in os.walk(folder):
        at = Path(top)
        for name in files:
            if _named_like_a_workbook(name):
                yield at / name
        for name in dirs:  # a link to a folder, named like a workbook: listed, and its reader says what it is
            if _named_like_a_workbook(name) and (at / name).is_symlink():
                yield at / name


def _named_like_a_workbook(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in EXTENSIONS and not name.startswith(("~$", ".~lock", "."))


def read_all(
    files: Sequence[Path],
    catalogue: Catalogue,
    jobs: int = 1,
    check: Checks | None = None,
    pool: Pool[str] | None = None,
    started: Callable[[], object] | None = None,
) -> Iterator[Submission]:
    """Read files, in order, in `jobs` worker processes under a memory cap and a time limit (contain.py): a file
    that crashes or hangs its reader is one issue, and the others are still read. With `pool` (`reading_pool`,
    made with the same catalogue and check), its workers read, and stay for the next call."""
    from ctstat.read.contain import contained_map

    _preload()
    read = partial(_read, catalogue=catalogue, check=check)
    yield from contained_map(read, [str(f) for f in files], _unread, jobs, pool=pool, started=started)


def reading_pool(catalogue: Catalogue, jobs: int, check: Checks | None) -> Pool[str]:
    """Reading workers that outlive one batch (a server's): `read_all(..., pool=...)`."""
    from ctstat.read.contain import Pool

    _preload()
    return Pool(partial(_read, catalogue=catalogue, check=check), jobs)


def _read(path: str, catalogue: Catalogue, check: Checks | None) -> Submission:
    """In a worker: read one file and, with `check`, run its per-file checks there too (in parallel)."""
    sub = read_submission(path, catalogue)
    if check is not None:
        check.apply(sub)
    return sub


def _unread(path: str, code: str, detail: str) -> Submission:
    return Submission(path=path, issues=[make_issue(code, path=path, detail=detail)])


def _preload() -> None:
    """Import what a reading worker may need before any worker is forked, so that no worker ever imports (and a
    worker forked later, while another thread imports, cannot inherit a held import lock)."""
    import msoffcrypto  # noqa: F401
    import olefile  # noqa: F401
    import python_calamine  # noqa: F401
