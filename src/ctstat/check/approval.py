"""Is a district workbook exactly what a named official approved? Checked offline, from the workbook alone.

The workbook carries the district's review chain (`model.records.APPROVAL_SHEET`, one signed record per row).
A city accepts its numbers only when every record's signature verifies against the signers the city lists, the
records form one unbroken chain of that district and period, the last word on the rollup is an approval (not
reopened since), and that approval names the digest of the data sheet as it is now. Each failure is one issue,
located at the record's row: `rollup-unapproved`, `rollup-bad-signature`, `rollup-changed-since-approval`;
an error, or a warning when the city rolls up with `--allow-unapproved` (then the workbook is listed, and used).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ctstat.model.messages import make_issue
from ctstat.model.records import (
    APPROVAL_HEADER,
    APPROVAL_SHEET,
    Record,
    RecordError,
    check_links,
    record_from_dict,
    standing_approval,
)
from ctstat.model.report import Issue, Severity
from ctstat.model.signing import Trust
from ctstat.read.rollup_book import DATA, RollupBook

_RECORD_COL = "G"  #: the approval sheet's column of the records' JSON
assert len(APPROVAL_HEADER) == 7


@dataclass(frozen=True)
class ApprovalPolicy:
    """Whom the city trusts, and whether an unapproved workbook stops the rollup (else it is listed)."""

    trust: Trust
    required: bool = True


@dataclass
class ApprovalState:
    unit: str
    state: str  #: approved | unapproved | bad-signature | changed
    who: str = ""
    at: str = ""
    issue: Issue | None = None

    def to_dict(self) -> dict[str, Any]:
        problem = self.issue.text_vi if self.issue else ""
        return {"unit": self.unit, "state": self.state, "who": self.who, "at": self.at, "problem": problem}


def judge_approval(book: RollupBook, path: str, unit: str, period: str, policy: ApprovalPolicy) -> ApprovalState:
    severity = Severity.ERROR if policy.required else Severity.WARNING
    if not book.records:
        issue = make_issue("rollup-unapproved", severity, path=path, detail=unit)
        return ApprovalState(unit, "unapproved", issue=issue)
    rows = {}
    try:
        records: list[Record] = []
        for row, text in book.records:
            where = f"{APPROVAL_SHEET}!{_RECORD_COL}{row}"
            try:
                doc = json.loads(text)
            except ValueError:
                raise RecordError(where, "not a record (not JSON)", "không phải bản ghi (không phải JSON)") from None
            rec = record_from_dict(doc, where)
            rows[rec.seq] = row
            policy.trust.verify(rec, where)
            records.append(rec)
        check_links(records, f"{period}/{unit}", f"{APPROVAL_SHEET} ")
    except RecordError as exc:
        return ApprovalState(unit, "bad-signature", issue=_located(exc, rows, path, severity))
    top = standing_approval(records, unit)
    if top is None:
        issue = make_issue("rollup-unapproved", severity, path=path, detail=unit)
        return ApprovalState(unit, "unapproved", issue=issue)
    if top.covers.data_sheet != book.data_digest:
        detail = f"{top.who} đã duyệt lúc {top.at} (bản ghi #{top.seq})"
        detail_en = f"{top.who} approved at {top.at} (record #{top.seq})"
        issue = make_issue(
            "rollup-changed-since-approval", severity, path=path, sheet=DATA, detail=detail, detail_en=detail_en
        )
        return ApprovalState(unit, "changed", top.who, top.at, issue)
    return ApprovalState(unit, "approved", top.who, top.at)


def _located(exc: RecordError, rows: dict[int, int], path: str, severity: Severity) -> Issue:
    """A chain fault at its record's cell of the approval sheet."""
    cell = None
    m = re.search(r"!([A-Z]+\d+)$", exc.where)
    if m:
        cell = m.group(1)
    else:
        n = re.search(r"#(\d+)$", exc.where)
        if n and int(n.group(1)) in rows:
            cell = f"{_RECORD_COL}{rows[int(n.group(1))]}"
    where = f"{APPROVAL_SHEET}!{cell}" if cell else exc.where
    return make_issue(
        "rollup-bad-signature",
        severity,
        path=path,
        sheet=APPROVAL_SHEET,
        cell=cell,
        detail=f"{where}: {exc.why_vi}",
        detail_en=f"{where}: {exc.why_en}",
    )
