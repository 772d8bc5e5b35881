"""Exceptions for the few cases where ctstat cannot go on; data faults are Issues, never exceptions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctstat.report import Issue


class CtstatError(Exception):
    """ctstat cannot go on (bad catalogue, bad arguments, nothing to do). Maps to exit code 2."""

    def __init__(self, message: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(message)
        self.issues = list(issues)


class CatalogueError(CtstatError):
    """The indicator catalogue is invalid; `issues` says where and why."""


class UsageError(CtstatError):
    """An argument is wrong (unknown unit, malformed period, missing flag)."""
