"""Who sent what: the status of each expected commune and, above the district level, of each child unit as a
source (`Completeness`), from the claims of a rollup or of the scheduled job. Free of pandas, so that a scheduled
run with nothing new to read starts without loading it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ctstat.model.report import Claim, FileReport, Said, english
from ctstat.model.units import Hierarchy, Unit
from ctstat.model.vocab import WHOLE, status_label


@dataclass(frozen=True)
class UnitStatus:
    """One expected commune in the completeness sheet."""

    code: str
    name: str
    parent: str  #: the parent unit's code
    parent_name: str
    status: str  #: valid | invalid | missing | duplicate
    late: bool = False
    files: tuple[str, ...] = ()
    problem: str = ""

    @property
    def parent_label(self) -> str:
        return f"{self.parent} {self.parent_name}".strip()

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.code,
            "name": self.name,
            "parent": self.parent,
            "parent_name": self.parent_name,
            "status": self.status,
            "late": self.late,
            "files": list(self.files),
            "problem": self.problem,
            "problem_en": english(self.problem),
        }


@dataclass(frozen=True)
class ParentStatus:
    """Above the district level: a child unit of the rollup (a district; a province in a national rollup) as the
    source of its communes' figures, its own workbook first. Whom a city statistician calls: the district, not
    its 18 wards."""

    code: str
    name: str
    level: str  #: "district" | "province"
    #: valid | missing (no workbook, no ward file) | edited (its workbook changed after ctstat wrote it) | invalid
    #: (its workbook cannot be used: another period, form, ...) | duplicate | partial (some communes lack figures)
    status: str
    files: tuple[str, ...] = ()  #: its workbook(s) among the inputs
    problem: str = ""  #: what to do, in Vietnamese ("" when valid)
    problem_en: str = ""
    communes: tuple[UnitStatus, ...] = ()  #: its communes, the detail

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def whole(self) -> bool:
        """Every commune shares the parent's one cause (listed together, not one by one)."""
        return self.status in WHOLE

    def chase(self) -> list[UnitStatus]:
        """Its communes without valid figures."""
        return [c for c in self.communes if c.status != "valid"]

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.code,
            "name": self.name,
            "level": self.level,
            "status": self.status,
            "files": list(self.files),
            "problem": self.problem,
            "problem_en": self.problem_en,
            "counts": Completeness.count(self.communes),
            "communes": [c.to_dict() for c in self.chase()],
        }


@dataclass
class Completeness:
    """Expected, received, valid, missing, duplicated and late communes, per parent unit; above the district
    level, also each child unit as a source (`parents`: a district and its workbook)."""

    rows: list[UnitStatus] = field(default_factory=list)
    parents: list[ParentStatus] = field(default_factory=list)

    def by_parent(self) -> dict[str, list[UnitStatus]]:
        """Rows per parent unit, keyed by its label ("008 Quận Hoàng Mai"), in the order met."""
        out: dict[str, list[UnitStatus]] = {}
        for r in self.rows:
            out.setdefault(r.parent_label, []).append(r)
        return out

    @staticmethod
    def count(rows: Sequence[UnitStatus]) -> dict[str, int]:
        return {
            "expected": len(rows),
            "received": sum(r.status != "missing" for r in rows),
            "valid": sum(r.status == "valid" for r in rows),
            "invalid": sum(r.status == "invalid" for r in rows),
            "missing": sum(r.status == "missing" for r in rows),
            "duplicate": sum(r.status == "duplicate" for r in rows),
            "late": sum(r.late for r in rows),
        }

    @property
    def complete(self) -> bool:
        return all(r.status == "valid" for r in self.rows)

    def chase_list(self) -> list[UnitStatus]:
        return [r for r in self.rows if r.status != "valid"]

    def chase_parents(self) -> list[ParentStatus]:
        """Above the district level: the districts to call first (their workbook missing, edited, partial)."""
        return [p for p in self.parents if p.status != "valid"]


MISSING_VI = Said("Chưa nộp báo cáo", "Not submitted")


def unit_statuses(
    h: Hierarchy,
    expected: Sequence[Unit],
    claims: Mapping[str, Sequence[Claim]],
    deadline: date | None,
    latest_wins: bool,
) -> list[UnitStatus]:
    """One status per expected commune.

    `latest_wins` (the scheduled job): the claims of a unit are its submissions over time, oldest first, and the
    latest received is current, whatever came before. Otherwise (one rollup over a folder) two files for one
    commune are a `duplicate`: ctstat does not guess which one the district meant."""
    out: list[UnitStatus] = []
    for u in expected:
        p = h.parent(u)
        pcode, pname = (p.code, p.name) if p else ("", "")
        mine = list(claims.get(u.code, ()))
        if not mine:
            out.append(UnitStatus(u.code, u.name, pcode, pname, "missing", problem=MISSING_VI))
            continue
        if latest_wins:
            mine = mine[-1:]
        late = deadline is not None and any(c.received_at is not None and c.received_at.date() > deadline for c in mine)
        if len(mine) > 1:
            files = tuple(c.path for c in mine)
            n = len(mine)
            twice = Said(f"{n} tệp cho cùng đơn vị: giữ lại một tệp", f"{n} files for one unit: keep one")
            out.append(UnitStatus(u.code, u.name, pcode, pname, "duplicate", late, files, twice))
            continue
        c = mine[0]
        problem = c.problem
        if not c.valid and not problem:
            name = Path(c.path).name
            problem = Said(f"không hợp lệ trong tệp tổng hợp {name}", f"invalid in the rollup workbook {name}")
        status = "valid" if c.valid else "invalid"
        out.append(UnitStatus(u.code, u.name, pcode, pname, status, late, (c.path,), problem))
    return out


def parent_statuses(
    h: Hierarchy,
    target: Unit,
    statuses: Sequence[UnitStatus],
    claims: Mapping[str, Sequence[Claim]],
    books: Sequence[FileReport] | None = None,
) -> list[ParentStatus]:
    """Above the district level (the communes' parents are not the unit rolled up): each parent as the source of
    its communes, its workbook first. `books`: the reports of the district workbooks among the inputs (a workbook
    that cannot be used at all claims no commune, and is found by the unit on its cover); None for the scheduled
    job, which takes in ward files only.

    A parent is `missing` when nothing came for any of its communes, `edited` or `invalid` when its workbook is
    not used at all (changed after ctstat wrote it; another period, form, ...), `duplicate` when two sources
    claim it, `partial` when some of its communes lack valid figures, else `valid`."""
    groups: dict[str, list[UnitStatus]] = {}
    for s in statuses:
        groups.setdefault(s.parent, []).append(s)
    if all(p in ("", target.code) for p in groups):
        return []  # a district, or a province of communes: its communes are whom to call
    level = "district" if h.has_districts else "province"
    books_of = _books_of(groups, claims, books)
    out = []
    for parent, rows in groups.items():
        mine = sorted(books_of.get(parent, {}).values(), key=lambda r: r.path)
        status, vi, en = _parent_verdict(rows, mine, books is None)
        files = tuple(r.path for r in mine)
        out.append(ParentStatus(parent, rows[0].parent_name, level, status, files, vi, en, tuple(rows)))
    return out


def _books_of(
    groups: dict[str, list[UnitStatus]], claims: Mapping[str, Sequence[Claim]], books: Sequence[FileReport] | None
) -> dict[str, dict[str, FileReport]]:
    """Each parent's district workbooks: by the unit on their cover, or by the communes they claim."""
    by_path = {rep.path: rep for rep in books or ()}
    books_of: dict[str, dict[str, FileReport]] = {}
    for rep in books or ():
        if rep.unit in groups:
            books_of.setdefault(rep.unit, {})[rep.path] = rep
    for parent, rows in groups.items():
        for s in rows:
            for c in claims.get(s.code, ()):
                if c.report is None and c.path in by_path:
                    books_of.setdefault(parent, {})[c.path] = by_path[c.path]
    return books_of


def _parent_verdict(rows: list[UnitStatus], mine: list[FileReport], job: bool) -> tuple[str, str, str]:
    """A parent's status and what to do about it (Vietnamese, English), from its communes and its workbooks."""
    name = rows[0].parent_name
    files = tuple(r.path for r in mine)
    counts = Completeness.count(rows)
    n, bad = counts["expected"], counts["expected"] - counts["valid"]
    book = Path(files[0]).name if files else ""
    cause = {i.code: i for rep in mine for i in reversed(rep.issues)}
    lacking = (f"{bad}/{n} xã, phường chưa có số liệu hợp lệ", f"{bad}/{n} communes have no valid figures")
    if bad == 0:
        status, vi, en = "valid", "", ""
    elif not mine and counts["missing"] == n:
        status = "missing"
        if job:  # the job: wards send their own files
            vi = f"Chưa có báo cáo nào của {n} xã, phường thuộc {name}: liên hệ {name}."
            en = f"No report from any of the {n} communes of {name}: contact {name}."
        else:
            vi = f"Chưa nhận được tệp tổng hợp của {name}, cũng không có báo cáo nào của {n} xã, phường: "
            vi += f"đề nghị {name} gửi báo cáo."
            en = f"No workbook from {name}, and no report from any of its {n} communes: ask {name} to send it."
    elif "rollup-edited" in cause:
        status = "edited"
        vi = f"Tệp tổng hợp {book} đã bị sửa sau khi ctstat ghi: không dùng số liệu nào của tệp ({lacking[0]}). "
        vi += f"Đề nghị {name} gửi lại tệp do ctstat ghi, không sửa tay."
        en = f"The workbook {book} was changed after ctstat wrote it: none of its figures is used ({lacking[1]}). "
        en += f"Ask {name} for the workbook as ctstat wrote it, not edited by hand."
    elif "rollup-mismatch" in cause:
        status = "invalid"
        issue = cause["rollup-mismatch"]
        vi = issue.text_vi.replace("Tệp tổng hợp này", f"Tệp tổng hợp {book}", 1)
        vi += f" Đề nghị {name} gửi lại đúng tệp ({lacking[0]})."
        en = issue.text_en.replace("This rollup workbook", f"The workbook {book}", 1)
        en += f" Ask {name} for the right workbook ({lacking[1]})."
    elif len(mine) > 1 or counts["duplicate"]:
        status = "duplicate"
        names = ", ".join(sorted({Path(f).name for s in rows if s.status == "duplicate" for f in s.files} or files))
        vi = f"{lacking[0]}: số liệu của {counts['duplicate']} xã có ở nhiều tệp ({names}); giữ lại một tệp."
        en = f"{lacking[1]}: {counts['duplicate']} communes are in several files ({names}); keep one."
    else:
        status = "partial"
        parts = [(k, counts[k]) for k in ("missing", "invalid") if counts[k]]
        detail_vi = ", ".join(f"{v} {status_label(k, 'vi', lower=True)}" for k, v in parts)
        detail_en = ", ".join(f"{v} {status_label(k, 'en')}" for k, v in parts)
        if mine:
            actions = {
                "missing": ("thu đủ báo cáo", "collect the missing reports"),
                "invalid": ("sửa báo cáo không hợp lệ", "have the invalid ones fixed"),
            }
            todo = [actions[k] for k, _ in parts]
            vi = f"Tệp tổng hợp {book} chưa đầy đủ: {lacking[0]} ({detail_vi}): đề nghị {name} "
            vi += " và ".join(t[0] for t in todo) + " rồi tổng hợp lại."
            en = f"The workbook {book} is partial: {lacking[1]} ({detail_en}): ask {name} to "
            en += " and ".join(t[1] for t in todo) + ", then roll up again."
        else:
            vi, en = f"{lacking[0]} ({detail_vi}).", f"{lacking[1]} ({detail_en})."
    return status, vi, en
