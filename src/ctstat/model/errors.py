"""Exceptions for the few cases where ctstat cannot go on; data faults are Issues, never exceptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctstat.model.report import Issue


class CtstatError(Exception):
    """ctstat cannot go on (bad catalogue, bad arguments, nothing to do). Maps to exit code 2."""

    def __init__(self, message: str, issues: Sequence[Issue] = (), message_vi: str | None = None) -> None:
        super().__init__(message)
        self.issues = list(issues)
        self.message_vi = message_vi  #: the message in Vietnamese, where it has one


class CatalogueError(CtstatError):
    """The indicator catalogue is invalid; `issues` says where and why."""


class UsageError(CtstatError):
    """An argument is wrong (unknown unit, malformed period, missing flag)."""


class EnvironmentFault(Exception):
    """The machine stops ctstat (disk full, read-only folder, a ledger another release wrote): exit code 3 with
    a message saying what to fix; never a data issue, never a traceback."""


class InternalError(Exception):
    """A bug in ctstat met while processing `path` (in a reading worker): exit code 3, never a data issue."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail.strip().splitlines()[-1] if detail.strip() else ''}")
        self.path, self.detail = path, detail


#: the file being processed, for the one line an internal error prints (set by the loops that go file by file)
processing: dict[str, str | None] = {"file": None}
