"""The review chain of a job: a district approves, sends back or corrects a ward's current submission, reopens
an approval, and approves its own rollup; every action is a signed record appended to the job's chain in the
ledger (`model.records`, `model.signing`).

Each action reads the chain, checks it (links and signatures), decides, and appends one record, all inside one
ledger transaction (BEGIN IMMEDIATE): two officials acting at once are served one after the other, and the second
sees what the first did; a record's place is UNIQUE in the chain, so nothing is ever recorded twice or half.

A correction never touches the ward's file: the file is read again from the inbox (its bytes must still be those
recorded), the corrected cells are put in place of the old ones, and the corrected submission goes through the
same validation as any file. A correction that adds an error is refused; the corrected cells count (in the rollup)
only when the corrected submission is valid.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ctstat.job.config import JobConfig, rollup_files
from ctstat.job.ledger import Ledger, Row
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.model.keys import parse_a1
from ctstat.model.layout import FormLayout, form_layout
from ctstat.model.messages import make_issue
from ctstat.model.records import (
    NEEDS_REASON,
    Correction,
    Covers,
    Record,
    RecordError,
    canonical,
    check_links,
    record_from_dict,
    totals_digest,
)
from ctstat.model.report import Claim, FileReport, Severity
from ctstat.model.signing import KeyFileError, Signer, Trust, load_signer


def chain_name(cfg: JobConfig) -> str:
    return f"{cfg.period}/{cfg.unit}"


def load_trust(cfg: JobConfig) -> Trust:
    try:
        return Trust.load(dict(cfg.review_keys), cfg.trusted_roots)
    except KeyFileError as exc:
        raise UsageError(str(exc), message_vi=exc.why_vi) from None


def signer_for(cfg: JobConfig, key: Path, password: bytes | None = None) -> Signer:
    try:
        return load_signer(key, load_trust(cfg), password)
    except KeyFileError as exc:
        raise UsageError(str(exc), message_vi=exc.why_vi) from None
    except RecordError as exc:
        raise UsageError(str(exc), message_vi=f"{exc.where}: {exc.why_vi}") from None


@dataclass
class WardState:
    """What the chain says of one unit now."""

    unit: str
    approved: Record | None = None  #: the approval standing (none after a reopen)
    sent_back: Record | None = None  #: the last send-back, if nothing came after it
    corrections: dict[str, list[Record]] = field(default_factory=dict)  #: file SHA-256 -> its corrections
    history: list[Record] = field(default_factory=list)


@dataclass
class Chain:
    name: str
    records: list[Record]
    cells: dict[int, dict[str, float] | None]  #: seq -> a correction's corrected cells (valid ones only)

    def states(self) -> dict[str, WardState]:
        out: dict[str, WardState] = {}
        for rec in self.records:
            st = out.setdefault(rec.unit, WardState(rec.unit))
            st.history.append(rec)
            if rec.kind in ("approve", "approve-rollup"):
                st.approved, st.sent_back = rec, None
            elif rec.kind in ("reopen", "reopen-rollup"):
                st.approved = None
            elif rec.kind == "send-back":
                st.sent_back = rec
            elif rec.kind == "correct":
                st.corrections.setdefault(rec.covers.inputs[rec.unit], []).append(rec)
                st.sent_back = None
        return out

    def head(self) -> str:
        return self.records[-1].hash if self.records else ""


def read_chain(ledger: Ledger, name: str, trust: Trust) -> Chain:
    """The job's chain from the ledger, every link and signature checked (a ledger edited by hand is refused,
    located at its record)."""
    rows = ledger.reviews(name)
    try:
        records = [record_from_dict(json.loads(r["record"]), f"ledger reviews #{r['seq']}") for r in rows]
        for rec in records:  # signatures first: an altered record is named itself, not the one after it
            trust.verify(rec, f"ledger reviews #{rec.seq}")
        check_links(records, name, "ledger reviews ")
    except RecordError as exc:
        raise UsageError(
            f"the review chain in {ledger.path} is broken: {exc}",
            message_vi=f"chuỗi phê duyệt trong {ledger.path} bị hỏng: {exc.where}: {exc.why_vi}",
        ) from None
    cells = {int(r["seq"]): (json.loads(r["cells"]) if r["cells"] else None) for r in rows}
    return Chain(name, records, cells)


_NUMBER = re.compile(r"-?[0-9]+([.,][0-9]+)?")  #: ASCII digits, one decimal mark at most
_GROUPED = re.compile(r"-?[1-9][0-9]{0,2}([.,][0-9]{3})+")  #: grouped by thousands: "1.000", "12,345" (not "0.500")


def corrected_value(typed: str) -> float:
    """The number a district typed as a cell's right value; refused (UsageError) unless it is plain digits (a
    minus, a decimal mark: the checks then judge it as they judge a ward's cell).

    Python's float() alone read "1.000" (one thousand, as Vietnamese writes it) as 1, and took "1_000" and other
    scripts' digits ("٣"): a correction recorded a number nobody meant. A number grouped by thousands is refused
    with the digits to type instead, as the entry page refuses it. The portal's review form and
    `ctstat review correct --value` both take the value through here."""
    text = typed.strip().replace(" ", "").replace("\u00a0", "")
    if _GROUPED.fullmatch(text):
        plain = re.sub(r"[.,]", "", text)
        raise UsageError(
            f"the new value {text!r} is grouped by thousands: type {plain}",
            message_vi=f"Giá trị mới “{text}”: gõ liền các chữ số, không có dấu chấm, dấu phẩy hay khoảng trắng: "
            f"{plain}.",
        )
    if not _NUMBER.fullmatch(text):
        raise UsageError(
            f"the new value {text!r} is not a number",
            message_vi=f"Giá trị mới “{text}” không phải là số: chỉ gõ chữ số 0-9.",
        )
    value = float(text.replace(",", "."))
    if value in (float("inf"), float("-inf")):
        raise UsageError("the new value is not a number", message_vi="Giá trị mới không phải là số.")
    return value


@dataclass(frozen=True)
class Action:
    """What an official asks for."""

    kind: str  #: approve | send-back | correct | reopen | approve-rollup | reopen-rollup
    unit: str
    why: str = ""
    cell: str = ""  #: correct: 'Biểu 1!E11'
    value: float | None = None  #: correct: the value that counts instead
    excused: Mapping[str, str] = field(default_factory=dict)  #: approve-rollup: unit -> why it is left out


@dataclass
class Context:
    cfg: JobConfig
    catalogue: Catalogue
    ledger: Ledger
    chain: Chain
    now: datetime


def refuse(en: str, vi: str) -> UsageError:
    return UsageError(en, message_vi=vi)


#: why a job of the year 2025 by the new communes reviews nothing (Vietnamese, English): each of its inputs is a
#: half-year's report, reviewed in the job of that half-year; the year only puts them together
YEAR_REVIEW = (
    "Năm 2025 được ghép từ báo cáo 2025-H1 của các xã, phường cũ và 2025-H2 của các xã, phường mới: kiểm tra, sửa "
    "ô và duyệt từng báo cáo trong đợt của kỳ đó (2025-H1 theo danh mục 2025-06-30, 2025-H2 theo danh mục "
    "2025-07-01). Đợt năm 2025 chỉ ghép số liệu hai kỳ, không duyệt.",
    "The year 2025 is put together from the old communes' 2025-H1 reports and the new communes' 2025-H2 reports: "
    "check, correct and approve each report in the job of its half-year (2025-H1 on list 2025-06-30, 2025-H2 on "
    "list 2025-07-01). The year 2025's job only puts the two together; it reviews nothing.",
)


def reviews_here(cfg: JobConfig) -> bool:
    """Whether the job's reports are reviewed in it: every job but the year 2025's by the new communes."""
    return not cfg.reform_year


def act(cfg: JobConfig, catalogue: Catalogue, signer: Signer, action: Action, now: datetime | None = None) -> Record:
    """Do `action` on the job's ledger: check, build the record, sign it, append it, in one transaction."""
    if not reviews_here(cfg):
        raise refuse(YEAR_REVIEW[1], YEAR_REVIEW[0])
    if action.kind in NEEDS_REASON and not action.why.strip():
        raise refuse(f"{action.kind}: a reason is required (--why)", f"{action.kind}: phải ghi lý do (--why)")
    trust = load_trust(cfg)
    with Ledger.open_existing(cfg, readonly=False) as ledger, ledger.transaction():
        chain = read_chain(ledger, chain_name(cfg), trust)
        ctx = Context(cfg, catalogue, ledger, chain, now or datetime.now().astimezone())
        covers, cells = _decide(ctx, action)
        rec = Record(
            chain=chain.name,
            seq=len(chain.records) + 1,
            prev=chain.head(),
            kind=action.kind,
            period=str(cfg.period),
            unit=action.unit,
            who=signer.who,
            at=ctx.now.isoformat(timespec="seconds"),
            why=action.why.strip(),
            covers=covers,
        )
        rec = signer.sign(rec)
        stored = json.dumps(cells) if cells is not None else None
        ledger.add_review(rec.chain, rec.seq, rec.kind, rec.unit, rec.to_json(), rec.hash, stored)
    return rec


def _decide(ctx: Context, action: Action) -> tuple[Covers, dict[str, float] | None]:
    if action.kind in ("approve-rollup", "reopen-rollup"):
        return _decide_rollup(ctx, action), None
    states = ctx.chain.states()
    st = states.get(action.unit, WardState(action.unit))
    _no_rollup_approval(ctx, states, action)
    if action.kind == "reopen":
        if st.approved is None:
            raise refuse(
                f"{action.unit} is not approved: nothing to reopen",
                f"{action.unit} chưa được duyệt: không có gì để mở lại",
            )
        return Covers(inputs=dict(st.approved.covers.inputs), catalogue=ctx.catalogue.digest), None
    if st.approved is not None:
        raise locked(st.approved, ctx.cfg)
    row = _current(ctx, action.unit)
    if action.kind == "send-back":
        return Covers(inputs={action.unit: row.sha256}, catalogue=ctx.catalogue.digest), None
    if action.kind == "correct":
        return _correct(ctx, st, row, action)
    if action.kind == "approve":
        return _approve(ctx, st, row), None
    raise refuse(f"unknown review action {action.kind!r}", f"không có thao tác {action.kind!r}")


def _no_rollup_approval(ctx: Context, states: Mapping[str, WardState], action: Action) -> None:
    """A ward's approval cannot change while the rollup over it stands approved (reopen the rollup first)."""
    top = states.get(ctx.cfg.unit)
    if top is not None and top.approved is not None and action.unit != ctx.cfg.unit:
        raise refuse(
            f"the rollup of {ctx.cfg.unit} was approved by {top.approved.who} at {top.approved.at}: reopen it first "
            f"(ctstat review reopen-rollup --why ...)",
            f"báo cáo tổng hợp {ctx.cfg.unit} đã được {top.approved.who} duyệt lúc {top.approved.at}: phải mở lại "
            f"trước (ctstat review reopen-rollup --why ...)",
        )


def locked(approval: Record, cfg: JobConfig) -> UsageError:
    en, vi = locked_text(approval)
    return refuse(en, vi)


def locked_text(approval: Record) -> tuple[str, str]:
    """What a refused action or file is told: who approved, when, and how to reopen."""
    unit = approval.unit
    return (
        f"{unit} {approval.period} was approved by {approval.who} at {approval.at}; to change it, reopen it first: "
        f'ctstat review reopen {unit} --why "..."',
        f"{unit} kỳ {approval.period} đã được {approval.who} duyệt lúc {local_time(approval.at)}; muốn thay đổi phải "
        "mở lại: "
        f'ctstat review reopen {unit} --why "..."',
    )


def local_time(at: str) -> str:
    """A record's ISO time as Vietnamese readers write it ('05/12/2026 10:09'), the record's own clock."""
    try:
        return f"{datetime.fromisoformat(at):%d/%m/%Y %H:%M}"
    except ValueError:
        return at


def _current(ctx: Context, unit: str) -> Row:
    row = ctx.ledger.current(str(ctx.cfg.period)).get(unit)
    if row is None:
        raise refuse(
            f"{unit} has no submission for {ctx.cfg.period} in the ledger",
            f"{unit} chưa có báo cáo kỳ {ctx.cfg.period} trong sổ theo dõi",
        )
    return row


def effective_cells(ledger: Ledger, chain: Chain, st: WardState, row: Row, catalogue: Catalogue) -> Any:
    """The cells that count for `row` and whether they are valid: its last valid correction's, else its own.
    None when it is not valid (or was judged under another catalogue)."""
    fixes = st.corrections.get(row.sha256, [])
    if fixes:
        last = fixes[-1]
        if last.covers.catalogue != catalogue.digest:
            return None
        return chain.cells.get(last.seq)
    if not row.valid or row.catalogue_digest != catalogue.digest:
        return None
    return ledger.cells([row.id]).get(row.id)


def _approve(ctx: Context, st: WardState, row: Row) -> Covers:
    cells = effective_cells(ctx.ledger, ctx.chain, st, row, ctx.catalogue)
    if cells is None:
        raise refuse(
            f"{row.unit}: the current submission ({row.path}) is not valid; have the ward send a corrected file, "
            "or correct the cells (ctstat review correct), then approve",
            f"{row.unit}: báo cáo hiện tại ({row.path}) chưa hợp lệ; đề nghị xã gửi lại tệp đã sửa, hoặc sửa ô "
            "(ctstat review correct), rồi mới duyệt",
        )
    fixes = [c for rec in st.corrections.get(row.sha256, []) for c in rec.covers.corrections]
    return Covers(
        inputs={row.unit or "": row.sha256},
        corrections=tuple(fixes),
        totals=totals_digest(cells),
        catalogue=ctx.catalogue.digest,
    )


def cell_key_at(layout: FormLayout, where: str) -> tuple[str, str]:
    """'Biểu 1!E11' -> (cell key, address); refused for a computed total or a cell outside the form."""
    sheet, _, ref = where.rpartition("!")
    pos = parse_a1(ref.strip().upper())
    wanted = (sheet.strip().strip("'"), *(pos or (0, 0)))
    for key, spot in layout.positions.items():
        if spot == wanted:
            if key in layout.formulas:
                raise refuse(
                    f"{where} is a total the form computes: correct the cells it adds up",
                    f"{where} là ô tổng do biểu mẫu tự tính: hãy sửa các ô cộng thành nó",
                )
            return key, f"{wanted[0]}!{ref.strip().upper()}"
    raise refuse(
        f"{where} is not a cell of the form that a ward fills (write it as 'Biểu 1!E11')",
        f"{where} không phải ô số liệu của biểu mẫu (ghi dạng 'Biểu 1!E11')",
    )


def chain_as_recorded(ledger: Ledger, cfg: JobConfig, unit: str | None = None) -> Chain:
    """The job's chain as the ledger holds it, links and signatures not checked (the job itself only reads what
    `act` appended after checking; `ctstat review`, `status` and the city's rollup check them). With `unit`, only
    that unit's records: enough for its state (each unit's state is made of its own records), one indexed read
    when a ward's upload asks whether its report stands approved."""
    chain = Chain(chain_name(cfg), [], {})
    for r in ledger.reviews(chain.name, unit):
        chain.records.append(record_from_dict(json.loads(r["record"]), f"ledger reviews #{r['seq']}"))
        chain.cells[int(r["seq"])] = json.loads(r["cells"]) if r["cells"] else None
    return chain


def chain_head(ledger: Ledger, cfg: JobConfig) -> str:
    rows = ledger.reviews(chain_name(cfg))
    return str(rows[-1]["hash"]) if rows else ""


def reviewed_claims(
    ledger: Ledger, cfg: JobConfig, catalogue: Catalogue, rows: dict[str, list[Row]]
) -> tuple[dict[str, list[Row]], dict[int, dict[str, float]]]:
    """What the run counts, given the chain: an approved ward's approved file (whatever came after it, even if
    it has left the inbox), and the corrected cells of corrected files, by ledger row id (valid ones only)."""
    chain = chain_as_recorded(ledger, cfg)
    out = dict(rows)
    fixed: dict[int, dict[str, float]] = {}
    for unit, st in chain.states().items():
        if st.approved is not None and unit != cfg.unit:
            sha = st.approved.covers.inputs.get(unit)
            pinned = ledger.rows("period=? AND unit=? AND sha256=?", str(cfg.period), unit, sha)
            if pinned:
                out[unit] = [pinned[-1]]
        for row in out.get(unit, []):
            cells = effective_cells(ledger, chain, st, row, catalogue) if st.corrections.get(row.sha256) else None
            if cells is not None:
                fixed[row.id] = cells
    return out, fixed


def corrected_claims(
    claims: dict[str, list[Claim]], rows: Mapping[str, list[Row]], fixed: Mapping[int, Any]
) -> dict[str, list[Claim]]:
    """A submission made valid by corrections counts as valid (its report still lists what the ward sent)."""
    out = {}
    for unit, mine in claims.items():
        out[unit] = [
            replace(c, valid=True, problem="") if r.id in fixed else c for c, r in zip(mine, rows[unit], strict=True)
        ]
    return out


def flag_locked(ledger: Ledger, cfg: JobConfig, reports: list[FileReport]) -> list[FileReport]:
    """The reports of this run, each file for an approved ward (other than the approved one) with an error
    saying who approved it and how to reopen: it is recorded in the ledger but does not count."""
    states = chain_as_recorded(ledger, cfg).states()
    out = []
    for rep in reports:
        st = states.get(rep.unit or "")
        approval = st.approved if st is not None and rep.period == str(cfg.period) else None
        if approval is not None and approval.covers.inputs.get(rep.unit or "") != rep.sha256:
            en, vi = locked_text(approval)
            rep = replace(
                rep, issues=[*rep.issues, make_issue("approved-locked", path=rep.path, detail=vi, detail_en=en)]
            )
        out.append(rep)
    return out


# --- a correction ----------------------------------------------------------------------------------------------


def _correct(ctx: Context, st: WardState, row: Row, action: Action) -> tuple[Covers, dict[str, float] | None]:
    """Put the new value in place of the old one in the file's cells (after earlier corrections) and judge the
    corrected submission with the same validation as any file; refused if that adds an error."""
    from ctstat.check.validate import validate_batch
    from ctstat.read.workbook import read_submission

    layout = form_layout(ctx.catalogue)
    key, where = cell_key_at(layout, action.cell)
    if action.value is None or action.value != action.value:
        raise refuse("correct: a new value is required (--value)", "sửa ô: phải có giá trị mới (--value)")
    path = ctx.cfg.inbox / row.path
    sub = read_submission(path, ctx.catalogue)
    if sub.sha256 != row.sha256 or not sub.readable:
        raise refuse(
            f"{path} is no longer the file recorded for {row.unit} (changed or removed since): run 'ctstat run' first",
            f"{path} không còn là tệp đã ghi nhận của {row.unit} (đã đổi hoặc bị xóa): chạy 'ctstat run' trước",
        )
    earlier = [c for rec in st.corrections.get(row.sha256, []) for c in rec.covers.corrections]
    index = {k: i for i, k in enumerate(layout.keys)}
    for c in earlier:  # the submission as it counts now: the file with the earlier corrections
        sub.raw[index[c.key]] = c.new
    _recompute_totals(sub.raw, index, layout, {c.key for c in earlier})
    before, _ = validate_batch([sub], ctx.catalogue, ctx.cfg.period, ctx.cfg.units, check_duplicates=False)
    old = sub.raw[index[key]]
    sub.raw[index[key]] = float(action.value)
    _recompute_totals(sub.raw, index, layout, {key})
    after, frame = validate_batch([sub], ctx.catalogue, ctx.cfg.period, ctx.cfg.units, check_duplicates=False)
    had = {(i.code, i.sheet, i.cell) for i in before.files[0].issues if i.severity == Severity.ERROR}
    new = [i for i in after.files[0].issues if i.severity == Severity.ERROR and (i.code, i.sheet, i.cell) not in had]
    if new:
        raise UsageError(
            f"the correction of {where} makes the form invalid; nothing was recorded",
            new,
            message_vi=f"sửa ô {where} làm biểu mẫu không hợp lệ; không ghi nhận gì",
        )
    fix = Correction(key, where, _number(old), float(action.value))
    cells = None
    if after.files[0].valid and 0 in frame.index:
        cells = {k: float(v) for k, v in zip(frame.columns, frame.loc[0].to_numpy(dtype=float), strict=True)}
    covers = Covers(
        inputs={row.unit or "": row.sha256},
        corrections=(fix,),
        totals=totals_digest(cells) if cells is not None else "",
        catalogue=ctx.catalogue.digest,
    )
    return covers, cells


def _recompute_totals(raw: list[Any], index: Mapping[str, int], layout: FormLayout, changed: set[str]) -> None:
    """The form's totals are formulas: as the spreadsheet would, recompute those over a corrected cell (SUM
    skips text), totals of totals included."""
    todo = set(changed)
    while todo:
        hit = {t for t, parts in layout.formulas.items() if todo & set(parts)}
        for total in hit:
            parts = [raw[index[p]] for p in layout.formulas[total]]
            raw[index[total]] = float(sum(v for v in parts if isinstance(v, (int, float)) and not isinstance(v, bool)))
        todo = hit


def _number(value: Any) -> float | str | None:
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if value is None else float(value)
    return str(value)


# --- the rollup's own approval ---------------------------------------------------------------------------------


def _decide_rollup(ctx: Context, action: Action) -> Covers:
    """The unit rolled up is approved only when every ward under it is approved, or excused with a reason."""
    from ctstat.model.units import load_units

    cfg = ctx.cfg
    if action.unit != cfg.unit:
        raise refuse(
            f"this job rolls up {cfg.unit}, not {action.unit}",
            f"công việc này tổng hợp {cfg.unit}, không phải {action.unit}",
        )
    states = ctx.chain.states()
    top = states.get(cfg.unit, WardState(cfg.unit))
    if action.kind == "reopen-rollup":
        if top.approved is None:
            raise refuse(f"the rollup of {cfg.unit} is not approved", f"báo cáo tổng hợp {cfg.unit} chưa được duyệt")
        return Covers(inputs=dict(top.approved.covers.inputs), catalogue=ctx.catalogue.digest)
    if top.approved is not None:
        raise locked(top.approved, cfg)
    h = load_units(cfg.vintage)
    area = h.get(cfg.unit, "district") or h.get(cfg.unit, "province")
    expected = [u.code for u in h.communes_under(area)] if area is not None else []
    for code, why in action.excused.items():
        if code not in expected or not why.strip():
            raise refuse(
                f"--excuse {code}: not a ward of {cfg.unit}, or no reason given",
                f"--excuse {code}: không phải xã thuộc {cfg.unit}, hoặc thiếu lý do",
            )
    waiting = [c for c in expected if c not in action.excused and states.get(c, WardState(c)).approved is None]
    if waiting:
        shown = ", ".join(waiting[:10]) + (", …" if len(waiting) > 10 else "")
        raise refuse(
            f"{len(waiting)} ward(s) not approved yet: {shown} (approve them, or --excuse CODE=reason)",
            f"còn {len(waiting)} xã chưa được duyệt: {shown} (duyệt, hoặc --excuse MÃ=lý do)",
        )
    approved = [rec for c in expected if c not in action.excused and (rec := states[c].approved) is not None]
    inputs = {rec.unit: rec.hash for rec in approved}  # each ward's approval record, which names its file
    digest = hashlib.sha256(canonical({rec.unit: rec.covers.totals for rec in approved})).hexdigest()
    sheet = _workbook_digest(ctx, {rec.unit: rec for rec in approved})
    return Covers(
        inputs=inputs, totals=digest, catalogue=ctx.catalogue.digest, excused=dict(action.excused), data_sheet=sheet
    )


def _workbook_digest(ctx: Context, approved: Mapping[str, Record]) -> str:
    """The data-sheet digest of the unit's workbook that the last run wrote, once every ward row in it is shown
    to hold exactly an approved ward's approved numbers (so the approval covers that sheet, and nothing else)."""
    from ctstat.read.workbook import read_submission

    cfg = ctx.cfg
    written = rollup_files(cfg, ctx.ledger.get_meta("rollup_outputs"))
    mine = [p for p in written if p.name.startswith(f"{cfg.period}_{cfg.unit}_") and p.suffix == ".xlsx"]
    stale = refuse(
        f"the rollup workbook of {cfg.unit} is missing or older than the approvals: run 'ctstat run' first",
        f"chưa có tệp tổng hợp của {cfg.unit} hoặc tệp cũ hơn các lần duyệt: chạy 'ctstat run' trước",
    )
    if not mine or not mine[0].is_file():
        raise stale
    if not ctx.ledger.get_meta("rollup_key"):  # retired (run.retire_stale_rollup): set aside so nobody signs it
        raise refuse(
            f"the last rollup workbook of {cfg.unit} no longer matches the current submissions and was set aside "
            f"({mine[0].parent}): approve the rollup once 'ctstat run' has written it again",
            f"tệp tổng hợp gần nhất của {cfg.unit} không còn khớp với các báo cáo hiện hành và đã được để riêng "
            f"({mine[0].parent}): chỉ duyệt báo cáo tổng hợp sau khi 'ctstat run' ghi lại tệp",
        )
    sub = read_submission(mine[0], ctx.catalogue)
    if sub.book is None or sub.book.digest_ok is not True:
        raise stale
    keys = form_layout(ctx.catalogue).keys
    for row in sub.book.rows:
        unit = str(row.cover["unit_code"])
        values = {k: float(v) for k, v in zip(keys, row.raw, strict=True) if isinstance(v, (int, float))}
        rec = approved.get(unit)
        if rec is None or totals_digest(values) != rec.covers.totals:
            raise stale
    return sub.book.data_digest


# --- the audit view (ctstat status) ----------------------------------------------------------------------------


def audit(ledger: Ledger, cfg: JobConfig, history: Mapping[str, list[Row]]) -> dict[str, Any]:
    """Per ward, every submission and every review record in time order, the ward's review state, and the
    rollup's; the chain is checked (a broken one is said, with where, and shown as recorded)."""
    problem = ""
    try:
        chain = read_chain(ledger, chain_name(cfg), load_trust(cfg))
    except UsageError as exc:
        problem = exc.message_vi or str(exc)
        chain = chain_as_recorded(ledger, cfg)
    states = chain.states()
    wards: dict[str, dict[str, Any]] = {}
    for unit in sorted(set(history) | {u for u in states if u != cfg.unit}):
        events = [_submitted(r) for r in history.get(unit, [])]
        st = states.get(unit, WardState(unit))
        events += [_event(rec) for rec in st.history]
        events.sort(key=lambda e: str(e["at"])[:19])
        wards[unit] = {"state": _state(st, history.get(unit, [])), "events": events}
    top = states.get(cfg.unit)
    rollup = {"state": "approved", "who": top.approved.who, "at": top.approved.at} if top and top.approved else {}
    return {"chain": chain.name, "verified": not problem, "problem": problem, "rollup": rollup, "wards": wards}


def _submitted(r: Row) -> dict[str, Any]:
    return {
        "at": r.received_at.isoformat(timespec="seconds"),
        "kind": "submitted",
        "who": "",
        "why": "",
        "path": r.path,
        "valid": r.valid,
        "errors": r.errors,
        "removed": not r.present,
        "sha256": r.sha256,
    }


def _event(rec: Record) -> dict[str, Any]:
    fixes = [{"cell": c.where, "old": c.old, "new": c.new} for c in rec.covers.corrections if rec.kind == "correct"]
    return {"at": rec.at, "kind": rec.kind, "who": rec.who, "why": rec.why, "corrections": fixes, "seq": rec.seq}


def _state(st: WardState, rows: list[Row]) -> str:
    if st.approved is not None:
        return "approved"
    if st.sent_back is not None:
        return "sent-back"
    current = [r for r in rows if r.present]
    if current and st.corrections.get(current[-1].sha256):
        return "corrected"
    return "reopened" if any(r.kind == "reopen" for r in st.history) else "not-reviewed"
