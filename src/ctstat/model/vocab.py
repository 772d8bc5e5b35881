"""The words for ctstat's own vocabularies, in one place: statuses of a unit, counts of completeness, bases.

Every workbook, report and page says these the same way because they all take them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ctstat.model.report import Lang

#: the yes/no words of a form's yes/no cells: the dropdown offers these; reading takes them and their variants
YES, NO = "Có", "Không"
YES_WORDS = {YES.lower(), "co", "yes", "x"}
NO_WORDS = {NO.lower(), "khong", "no"}

#: a parent's statuses whose communes all share its one cause (nothing, or a workbook not used at all): the
#: parent's line says it all, its communes are listed together, not one by one
WHOLE = ("missing", "edited", "invalid")

#: where a unit stands in a period
STATUS: dict[str, tuple[str, str]] = {
    "valid": ("Hợp lệ", "valid"),
    "invalid": ("Không hợp lệ", "invalid"),
    "missing": ("Chưa nộp", "missing"),
    "duplicate": ("Trùng tệp", "duplicate"),
    "edited": ("Tệp bị sửa", "edited"),  # a district's workbook changed after ctstat wrote it
    "partial": ("Chưa đầy đủ", "partial"),  # a district with some communes lacking valid figures
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
    """'phải nộp 12, đã nộp 11, hợp lệ 10, ...' (every count, in one order; 10.035 in Vietnamese)."""
    return ", ".join(f"{count_label(k, lang).lower()} {count_text(counts[k], lang)}" for k in COUNTS if k in counts)


def count_text(v: int, lang: str = "vi") -> str:
    """A count as its reader writes it: 10.035 in Vietnamese (a dot between thousands), 10,035 in English."""
    return f"{v:,}".replace(",", ".") if lang == "vi" else f"{v:,}"


#: how a ward's current submission differs from the one a rollup used
CHANGES = {
    "removed": (
        "tệp đã tổng hợp không còn trong thư mục nhận, không có tệp nào khác",
        "the file rolled up is no longer in the inbox, and no other file is",
    ),
    "invalid": ("tệp hiện hành không phải tệp đã tổng hợp và không hợp lệ", "its current file is another, invalid"),
    "replaced": ("đã có tệp hợp lệ mới", "a new valid file"),
    "added": ("có báo cáo hợp lệ sau lần tổng hợp", "a valid report arrived after the rollup"),
}


def rollup_note(rollup: Mapping[str, Any], lang: Lang = "vi") -> str:
    """One line saying that a rollup is no longer current and why (status, the portal, the run's summary)."""
    vi = lang == "vi"
    made = ""
    if rollup["written_at"]:
        when = datetime.fromisoformat(rollup["written_at"])
        made = f" (lập lúc {when:%H:%M ngày %d/%m/%Y})" if vi else f" (written {when:%Y-%m-%d %H:%M})"
    head = f"Bảng tổng hợp{made} KHÔNG CÒN HIỆN HÀNH" if vi else f"The rollup{made} is NO LONGER CURRENT"
    why = "; ".join(f"{c['unit']} {c['name']}: {CHANGES[c['change']][0 if vi else 1]}" for c in rollup["changes"])
    if not why:
        why = (
            "danh mục chỉ tiêu, hạn nộp hoặc số liệu đã thay đổi từ lần tổng hợp đó"
            if vi
            else "the catalogue, the deadline or the submissions changed since"
        )
    tail = ""
    if rollup["moved_to"]:
        tail = f" Đã chuyển sang {rollup['moved_to']}." if vi else f" Moved to {rollup['moved_to']}."
    advice = " Không ký, không gửi bảng này." if vi else " Do not sign or send it."
    return f"{head}: {why}.{advice}{tail}"


#: how an element moves over time (catalogue `over_time`), in both languages
OVER_TIME_WORDS = {
    "stock": ("số cuối kỳ (cả năm = số cuối năm)", "stock: at the period's end (a year is its H2)"),
    "flow": ("số trong kỳ (cả năm = cộng hai nửa năm)", "flow: during the period (a year is H1 + H2)"),
}


def over_time_label(kind: str, basis: str, lang: Lang = "vi") -> str:
    """'số trong kỳ (...) · mô hình hóa' for an element's `over_time`."""
    vi, en = OVER_TIME_WORDS.get(kind, (kind, kind))
    return f"{vi if lang == 'vi' else en} · {basis_label(basis, lang)}"
