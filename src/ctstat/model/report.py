"""Issues and reports: the values validation produces (no rendering here)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

Lang = Literal["vi", "en"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Said(str):
    """A text said in both languages: the Vietnamese as the string, the English in `en`. A number written for a
    message (1.234 and 12,5; in English 1,234 and 12.5), a chase list's problem: each reader gets theirs
    (`english`), and whatever only passes it on (a dataclass, JSON, the ledger) keeps the Vietnamese."""

    en: str

    def __new__(cls, vi: str, en: str) -> Said:
        self = super().__new__(cls, vi)
        self.en = en
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Said, (str(self), self.en))


def english(value: Any) -> Any:
    """`value` as an English message shows it (a `Said` in its English; anything else as it is)."""
    return value.en if isinstance(value, Said) else value


@dataclass(frozen=True)
class Issue:
    """One problem, located as precisely as it can be: file, sheet, A1 cell, value."""

    code: str
    severity: Severity
    text_vi: str
    text_en: str
    path: str | None = None
    sheet: str | None = None
    cell: str | None = None
    value: Any = None
    element: str | None = None
    loc: str | None = None  #: YAML path, for catalogue issues
    value_en: Any = None  #: the value as an English reader writes it (4,321 where `value` is 4.321); None: the same

    def __post_init__(self) -> None:
        if isinstance(self.value, Said):  # one plain string each: a number written for each language
            object.__setattr__(self, "value_en", self.value.en if self.value_en is None else self.value_en)
            object.__setattr__(self, "value", str(self.value))

    def message(self, lang: Lang = "vi") -> str:
        return self.text_vi if lang == "vi" else self.text_en

    def shown_value(self, lang: Lang = "vi") -> Any:
        """The value as a reader of `lang` writes it."""
        return self.value if lang == "vi" or self.value_en is None else self.value_en

    @property
    def where(self) -> str:
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet or self.loc or ""

    def to_dict(self, lang: Lang = "vi") -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "sheet": self.sheet,
            "cell": self.cell,
            "value": _jsonable(self.shown_value(lang)),
            "message": self.message(lang),
        }

    def to_record(self) -> dict[str, Any]:
        """Everything, both languages: for storing in the ledger."""
        return {
            "code": self.code,
            "severity": str(self.severity),
            "text_vi": self.text_vi,
            "text_en": self.text_en,
            "path": self.path,
            "sheet": self.sheet,
            "cell": self.cell,
            "value": _jsonable(self.value),
            "element": self.element,
            "loc": self.loc,
            "value_en": _jsonable(self.value_en),
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Issue:
        return cls(**{**rec, "severity": Severity(rec["severity"])})


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    return str(value)


@dataclass
class FileReport:
    """The validation result of one submitted file."""

    path: str
    sha256: str | None = None
    unit: str | None = None
    unit_name: str | None = None
    period: str | None = None
    vintage: str | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not any(i.severity is Severity.ERROR for i in self.issues)

    @property
    def errors(self) -> int:
        return sum(i.severity is Severity.ERROR for i in self.issues)

    @property
    def warnings(self) -> int:
        return sum(i.severity is Severity.WARNING for i in self.issues)

    def problem_vi(self) -> str:
        """For chase lists: how many errors, and the first one (in Vietnamese; a `Said`, with the English)."""
        if not self.errors:
            return ""
        first = first_error(self.issues)
        return Said(
            f"{self.errors} lỗi; đầu tiên: {first}", f"{count_en(self.errors, 'error')}; first: {english(first)}"
        )

    def to_dict(self, lang: Lang = "vi") -> dict[str, Any]:
        from ctstat.model.text import path_text, raw_path

        return {
            "path": path_text(self.path),
            "path_bytes": raw_path(self.path),  #: hex of a file name that is not UTF-8, else null
            "sha256": self.sha256,
            "unit": self.unit,
            "unit_name": self.unit_name,
            "period": self.period,
            "vintage": self.vintage,
            "valid": self.valid,
            "issues": [i.to_dict(lang) for i in self.issues],
        }


@dataclass
class Report:
    """The validation result of a batch of files."""

    files: list[FileReport] = field(default_factory=list)
    catalogue_version: str | None = None
    template_version: str | None = None

    @property
    def valid(self) -> bool:
        return all(f.valid for f in self.files)

    @property
    def ok(self) -> bool:
        """No error in any file (what `validate` exits 0 on)."""
        return self.valid

    @property
    def issues(self) -> list[Issue]:
        return [i for f in self.files for i in f.issues]

    def summary(self) -> dict[str, Any]:
        codes = Counter(i.code for i in self.issues)
        return {
            "files": len(self.files),
            "valid": sum(f.valid for f in self.files),
            "invalid": sum(not f.valid for f in self.files),
            "errors": sum(f.errors for f in self.files),
            "warnings": sum(f.warnings for f in self.files),
            "by_code": dict(sorted(codes.items())),
        }

    def to_dict(self, lang: Lang = "vi") -> dict[str, Any]:
        return {
            "valid": self.valid,
            "catalogue_version": self.catalogue_version,
            "template_version": self.template_version,
            "files": [f.to_dict(lang) for f in self.files],
            "summary": self.summary(),
        }

    def flatten(self, fields: Sequence[str] = ("code", "sheet", "cell")) -> list[tuple[Any, ...]]:
        """Issues as small tuples, for tests and quick looks."""
        return [tuple(getattr(i, f) for f in fields) for i in self.issues]


def first_error(issues: Sequence[Issue]) -> str:
    """'Biểu 1!E11 Số âm (-5). …' for the first error among `issues` (a `Said`, with the English), or ''."""
    first = next((i for i in issues if i.severity is Severity.ERROR), None)
    if first is None:
        return ""
    return Said(f"{first.where} {first.message('vi')}".strip(), f"{first.where} {first.message('en')}".strip())


def count_en(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


@dataclass(frozen=True)
class Claim:
    """One source saying it holds a commune's figures for the period."""

    unit: str
    path: str  #: the file (a ward's file, or the district workbook the row came in)
    valid: bool
    problem: str = ""  #: what to fix, in Vietnamese ("" when valid)
    received_at: datetime | None = None  #: None: not known (a row inside a district workbook), never late
    report: FileReport | None = None  #: the ward file's report; None for a row inside a district workbook

    @classmethod
    def of(cls, rep: FileReport, received_at: datetime | None = None) -> Claim:
        return cls(rep.unit or "", rep.path, rep.valid, rep.problem_vi(), received_at, rep)
