"""The review chain in the portal (issue 29): what a ward's page and the district's page show of it, and the
district's review actions, which go through `job.review.act` (the same checks and records as `ctstat review`).

Signing from the portal: the portal signs with the key named by `portal_key` in ctstat.toml (a ctstat Ed25519 key
file, readable by the portal's user only, its public key listed in `review_keys`: the records name that official).
Without it the district's page shows the review state and says to use `ctstat review` on the server (a PKCS#12
certificate needs its password typed by its holder: the portal never holds one).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger
from ctstat.job.review import (
    Action,
    WardState,
    chain_as_recorded,
    chain_name,
    corrected_value,
    load_trust,
    local_time,
    locked_text,
    read_chain,
    signer_for,
)
from ctstat.model.errors import UsageError
from ctstat.model.keys import a1
from ctstat.model.layout import FormLayout
from ctstat.model.records import Record
from ctstat.model.signing import Signer

KIND_VI = {
    "approve": "Đã duyệt",
    "send-back": "Trả lại",
    "correct": "Sửa ô",
    "reopen": "Mở lại",
    "approve-rollup": "Duyệt báo cáo tổng hợp",
    "reopen-rollup": "Mở lại báo cáo tổng hợp",
}

STATE_VI = {
    "approved": "Đã duyệt",
    "sent-back": "Đã trả lại",
    "corrected": "Đã sửa ô, chờ duyệt",
    "waiting": "Chờ duyệt",
    "none": "Chưa có báo cáo",
}


@dataclass
class Review:
    """One unit's review, as a page shows it."""

    unit: str
    state: str  #: approved | sent-back | corrected | waiting | none
    approved: Record | None = None
    sent_back: Record | None = None
    locked: str = ""  #: approved: what a new upload is told (who, when, how to reopen)
    records: list[Record] = field(default_factory=list)  #: every review record of the unit, oldest first

    @property
    def state_vi(self) -> str:
        return STATE_VI[self.state]


def reviews(cfg: JobConfig, units: list[str]) -> dict[str, Review]:
    """The review of each of `units` (their current submissions and the job's chain, as recorded)."""
    if not cfg.ledger_path.exists():
        return {u: Review(u, "none") for u in units}
    with Ledger(cfg.ledger_path, readonly=True) as ledger:
        states = chain_as_recorded(ledger, cfg).states()
        current = ledger.current(str(cfg.period))
    return {u: _review(u, states.get(u, WardState(u)), current.get(u) is not None) for u in units}


def chain_problem(cfg: JobConfig) -> str:
    """'' when the job's chain verifies (every link and signature), else what is wrong and where (Vietnamese):
    the district's page says it, and every review action is refused until it is put right."""
    if not cfg.ledger_path.exists():
        return ""
    with Ledger(cfg.ledger_path, readonly=True) as ledger:
        try:
            read_chain(ledger, chain_name(cfg), load_trust(cfg))
        except UsageError as exc:
            return for_district(exc, cfg)
    return ""


#: where the server keeps a job's things, as a message names them to a district (its own paths stay in the log)
PLACES_VI = (
    ("ledger_path", "sổ theo dõi của kỳ"),
    ("inbox", "thư mục nhận báo cáo"),
    ("history", "số liệu các kỳ trước"),
    ("portal_key", "khóa ký của cổng"),
    ("log", "nhật ký của kỳ"),
    ("out", "thư mục kết quả của kỳ"),
)
_HOLDER = re.compile(r" ?\((?:pid [0-9]+(?:, started ([^)]*))?|unknown)\)")  #: a run's lock: its process, its start
_PATH = re.compile(r"(?<![\w/.])/[^\s()\[\]{}<>\"'“”,;:]+")  #: an absolute path left in a message


def without_paths(text: str, cfg: JobConfig) -> str:
    """A message for a district's page, without the server's paths (each of the job's places said by what it is,
    any other path as "(đường dẫn trên máy chủ)") or a run's process id (its start time kept)."""
    places: list[tuple[str, str]] = []
    for name, said in PLACES_VI:
        path = getattr(cfg, name)
        if isinstance(path, Path):
            places += [(str(path), said), (str(path.resolve()), said)]
    for path_text, said in sorted(places, key=lambda p: -len(p[0])):
        text = text.replace(path_text, said)
    text = _HOLDER.sub(lambda m: f" (bắt đầu lúc {m.group(1)})" if m.group(1) else "", text)
    return _PATH.sub("(đường dẫn trên máy chủ)", text)


def for_district(exc: Exception, cfg: JobConfig) -> str:
    """A refusal's words for a signed-in district user: in Vietnamese, without the server's paths; the server's log
    keeps them as they were."""
    said = getattr(exc, "message_vi", None) or str(exc)
    shown = without_paths(said, cfg)
    if shown != said:
        logging.getLogger("ctstat.portal").warning("shown to the district without its paths: %s", said)
    return shown


def _review(unit: str, st: WardState, has_file: bool) -> Review:
    out = Review(unit, "waiting" if has_file else "none", st.approved, st.sent_back, records=list(st.history))
    if st.approved is not None:
        out.state, out.locked = "approved", locked_text(st.approved)[1]
    elif st.sent_back is not None:
        out.state = "sent-back"
    elif has_file and st.history and st.history[-1].kind == "correct":
        out.state = "corrected"
    return out


when = local_time  #: a record's time as the pages show times


def number(value: Any) -> str:
    """A corrected cell's old or new value: a whole number without '.0', a text as typed, nothing as '(trống)'."""
    if value is None:
        return "(trống)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


ACTIONS = {"approve": "đã duyệt", "send-back": "đã trả lại", "correct": "đã sửa ô", "reopen": "đã mở lại"}


def portal_signer(cfg: JobConfig) -> tuple[Signer | None, str]:
    """The signer of the district's review actions from the portal, or why there is none (Vietnamese, for the
    page): no `portal_key` in ctstat.toml, a certificate (its password is its holder's, never the portal's), or
    a key that cannot be used (not listed, readable by others, unreadable)."""
    key = cfg.portal_key
    if key is None:
        return None, (
            "Cổng chưa được cấu hình khóa ký (portal_key trong ctstat.toml): xem được tình trạng, nhưng duyệt, trả "
            "lại, sửa ô phải làm trên máy chủ bằng lệnh ctstat review … --key."
        )
    if key.suffix.lower() in (".p12", ".pfx"):
        return None, (
            f"portal_key là chứng thư số ({key.name}): mật khẩu của chứng thư do người được cấp giữ, cổng không giữ; "
            "duyệt bằng chứng thư số phải làm trên máy chủ bằng lệnh ctstat review … --key."
        )
    try:
        return signer_for(cfg, key), ""
    except UsageError as exc:
        return None, f"Không dùng được khóa ký của cổng: {for_district(exc, cfg)}"


def cell_address(layout: FormLayout, text: str) -> str:
    """The cell a district names, as 'Biểu 1!E11' (passed on as typed) or as the row's Mã số and the column, by
    its letter or its heading ('<Mã số> E', '<Mã số> Nam'): the sheet-and-cell address `job.review` takes."""
    text = " ".join(text.split())
    if "!" in text or not text:
        return text
    code, _, column = text.partition(" ")
    rows = [
        (sheet, r.row) for sheet in layout.sheets for r in sheet.rows if r.code and r.code.casefold() == code.casefold()
    ]
    if not rows:
        raise UsageError(
            f"no row with the code {code!r} in the form", message_vi=f"Không có dòng mã số “{code}” trong biểu mẫu."
        )
    sheet, row = rows[0]
    wanted = column.casefold()
    cols = [c.col for c in sheet.columns if c.label_vi.casefold() == wanted or a1(1, c.col)[:-1].casefold() == wanted]
    if not cols:
        names = ", ".join(f"{a1(1, c.col)[:-1]} ({c.label_vi})" for c in sheet.columns)
        raise UsageError(
            f"no column {column!r} in {sheet.name}",
            message_vi=f"Không có cột “{column}” ở {sheet.name}: ghi chữ cái hoặc tên cột ({names}).",
        )
    return f"{sheet.name}!{a1(row, cols[0])}"


def code_example(layout: FormLayout) -> str:
    """A cell named by Mã số and column heading, from the form itself (for the page's hint)."""
    sheet = layout.sheets[0]
    row = next((r for r in sheet.rows if r.code and r.key not in ("", "*")), None)
    column = sheet.columns[1] if len(sheet.columns) > 1 else sheet.columns[0]
    return f"{row.code} {column.label_vi}" if row is not None else ""


def form_action(form: dict[str, str], wards: set[str], layout: FormLayout) -> Action:
    """The review action a district's form asks for; refused (UsageError) when a field is wrong."""
    kind, unit = form.get("action", ""), form.get("unit", "")
    if kind not in ACTIONS or unit not in wards:
        raise UsageError("unknown review action or ward", message_vi="Thao tác hoặc đơn vị không hợp lệ.")
    value = corrected_value(form.get("value", "")) if kind == "correct" else None
    why = "".join(c for c in form.get("why", "") if c.isprintable())  # a reason is text: no control characters
    if kind in ("send-back", "correct", "reopen") and not why.strip():
        raise UsageError("a reason is required", message_vi="Phải ghi lý do.")
    cell = cell_address(layout, form.get("cell", "")) if kind == "correct" else ""
    return Action(kind, unit, why=why, cell=cell, value=value)


# --- the district's own rollup ----------------------------------------------------------------------------------

ROLLUP_ACTIONS = {"approve-rollup": "đã duyệt báo cáo tổng hợp", "reopen-rollup": "đã mở lại báo cáo tổng hợp"}
EXCUSE = "mien-"  #: the approve-rollup form's field of a ward's excuse: 'mien-<code>' = why it is left out


@dataclass
class RollupReview:
    """The approval of the district's own rollup, as its page shows it."""

    unit: str
    approved: Record | None = None  #: the rollup approval standing (none after a reopen)
    blocking: list[str] = field(default_factory=list)  #: wards not approved: each blocks it unless excused
    records: list[Record] = field(default_factory=list)  #: the rollup's approvals and reopens, oldest first

    @property
    def excused(self) -> dict[str, str]:
        """The wards the standing approval leaves out, with why."""
        return dict(self.approved.covers.excused) if self.approved is not None else {}


def rollup_review(cfg: JobConfig, wards: list[str]) -> RollupReview:
    """The rollup's approval state and the wards of `wards` that block it (not approved), as recorded."""
    if not cfg.ledger_path.exists():
        return RollupReview(cfg.unit, blocking=list(wards))
    with Ledger(cfg.ledger_path, readonly=True) as ledger:
        states = chain_as_recorded(ledger, cfg).states()
    top = states.get(cfg.unit, WardState(cfg.unit))
    blocking = [u for u in wards if states.get(u, WardState(u)).approved is None]
    return RollupReview(cfg.unit, top.approved, blocking, list(top.history))


def _text(value: str) -> str:
    """A reason as text: no control characters."""
    return "".join(c for c in value if c.isprintable())


def rollup_action(form: dict[str, str], area: str, wards: set[str]) -> Action:
    """The rollup action a district's form asks for (approve, with the wards it excuses and why; reopen, with
    why); refused (UsageError) when a field is wrong. An excuse left empty excuses nothing."""
    kind = form.get("action", "")
    if kind not in ROLLUP_ACTIONS or form.get("unit", "") != area:
        raise UsageError("unknown rollup action or unit", message_vi="Thao tác hoặc đơn vị không hợp lệ.")
    why = _text(form.get("why", ""))
    if kind == "reopen-rollup" and not why.strip():
        raise UsageError("a reason is required", message_vi="Phải ghi lý do.")
    excused: dict[str, str] = {}
    for name, value in form.items():
        if not name.startswith(EXCUSE) or kind != "approve-rollup":
            continue
        code = name.removeprefix(EXCUSE)
        if code not in wards:
            raise UsageError(f"{code!r} is not a ward here", message_vi=f"“{code}” không phải xã, phường thuộc đơn vị.")
        if _text(value).strip():
            excused[code] = _text(value).strip()
    return Action(kind, area, why=why, excused=excused)
