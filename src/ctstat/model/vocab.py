"""The words for ctstat's own vocabularies, in one place: statuses of a unit, counts of completeness, bases.

Every workbook, report and page says these the same way because they all take them from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from ctstat.model.report import Lang

#: where a unit stands in a period
STATUS: dict[str, tuple[str, str]] = {
    "valid": ("Hợp lệ", "valid"),
    "invalid": ("Không hợp lệ", "invalid"),
    "missing": ("Chưa nộp", "missing"),
    "duplicate": ("Trùng tệp", "duplicate"),
}

#: the counts of a completeness line, in the order they are printed
COUNTS: dict[str, tuple[str, str]] = {
    "expected": ("Phải nộp", "expected"),
    "received": ("Đã nộp", "received"),
    "valid": ("Hợp lệ", "valid"),
    "invalid": ("Không hợp lệ", "invalid"),
    "missing": ("Chưa nộp", "missing"),
    "duplicate": ("Trùng tệp", "duplicate"),
    "late": ("Nộp muộn", "late"),
}

#: where a catalogue item comes from: (short label, phrase "theo ..."), in Vietnamese; English uses the key
BASIS: dict[str, tuple[str, str]] = {
    "circular": ("Thông tư", "theo Thông tư"),
    "summary": ("Danh mục tóm tắt", "theo danh mục tóm tắt của Thông tư"),
    "law": ("Luật Trẻ em", "theo Luật Trẻ em 2016"),
    "modelled": ("Mô hình hóa", "mô hình hóa"),
    "unknown": ("Chưa rõ", "chưa rõ nguồn"),
}


def status_label(status: str, lang: Lang = "vi", lower: bool = False) -> str:
    vi, en = STATUS.get(status, (status, status))
    text = vi if lang == "vi" else en
    return text.lower() if lower else text


def count_label(key: str, lang: Lang = "vi") -> str:
    vi, en = COUNTS[key]
    return vi if lang == "vi" else en


def basis_label(basis: str, lang: Lang = "vi", phrase: bool = False) -> str:
    if lang == "en":
        return basis
    short, long = BASIS.get(basis, (basis, basis))
    return long if phrase else short


def completeness_line(counts: Mapping[str, int], lang: Lang = "vi") -> str:
    """'phải nộp 12, đã nộp 11, hợp lệ 10, ...' (every count, in one order)."""
    return ", ".join(f"{count_label(k, lang).lower()} {counts[k]}" for k in COUNTS if k in counts)


#: how an element moves over time (catalogue `over_time`), in both languages
OVER_TIME_WORDS = {
    "stock": ("số cuối kỳ (cả năm = số cuối năm)", "stock: at the period's end (a year is its H2)"),
    "flow": ("số trong kỳ (cả năm = cộng hai nửa năm)", "flow: during the period (a year is H1 + H2)"),
}


def over_time_label(kind: str, basis: str, lang: Lang = "vi") -> str:
    """'số trong kỳ (...) · mô hình hóa' for an element's `over_time`."""
    vi, en = OVER_TIME_WORDS.get(kind, (kind, kind))
    return f"{vi if lang == 'vi' else en} · {basis_label(basis, lang)}"
