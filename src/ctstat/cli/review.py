"""`ctstat keys new` and `ctstat review …`: an official's key, and the review actions on the job's ledger.

Registered on the main app by `cli/commands.py` (which imports this module, never the other way round); the
Vietnamese help of these commands and options is here too (`HELP_VI`, `OPTION_HELP_VI`), merged there.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ctstat.cli.options import ConfigOpt, LangOpt, writable_place
from ctstat.model.errors import UsageError

keys_app = typer.Typer(no_args_is_help=True, help="Officials' signing keys.")
review_app = typer.Typer(
    no_args_is_help=True,
    help="Review a ward's current submission: approve, send back, correct a cell, reopen; approve the rollup.",
)

KeyOpt = Annotated[
    Path,
    typer.Option(
        "--key",
        help="Your private key (ctstat keys new) or certificate file (.p12/.pfx; password from CTSTAT_KEY_PASSWORD).",
        dir_okay=False,
        exists=True,
    ),
]
WardArg = Annotated[str, typer.Argument(help="The ward's code (5 digits).")]
WhyOpt = Annotated[str, typer.Option("--why", help="The reason, recorded with your name (required).")]
OptWhyOpt = Annotated[str, typer.Option("--why", help="A note, recorded with your name.")]

SignerOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--signer",
        help="An official whose approval of a district workbook counts: NAME=PUBLIC_KEY_FILE (repeatable); "
        "with it, an unapproved or changed district workbook is refused.",
    ),
]
RootOpt = Annotated[
    Optional[list[Path]],  # noqa: UP045
    typer.Option(
        "--trusted-root",
        help="A root certificate (PEM) officials' certificates must chain to (repeatable).",
        dir_okay=False,
        exists=True,
    ),
]
AllowUnapprovedOpt = Annotated[
    bool,
    typer.Option("--allow-unapproved", help="Use district workbooks that are not approved, listing them."),
]

HELP_VI = {
    "new": "Tạo cặp khóa ký của một cán bộ: khóa bí mật (chỉ chủ sở hữu đọc được) và khóa công khai, để liệt kê "
    "trong review_keys của ctstat.toml.\n\nVí dụ: ctstat keys new --out /home/a/khoa --name nguyen-van-a",
    "approve": "Duyệt báo cáo hiện tại của một xã (kèm các ô đã sửa): khóa số liệu đã duyệt; tệp mới của xã cho kỳ "
    "này bị từ chối cho đến khi mở lại.\n\nVí dụ: ctstat review approve 00301 --key a.key",
    "send-back": 'Trả lại báo cáo cho xã kèm lý do.\n\nVí dụ: ctstat review send-back 00301 --why "Thiếu số liệu '
    'Biểu 3" --key a.key',
    "correct": "Sửa một ô (không sửa tệp của xã): ghi lại giá trị cũ, giá trị mới, người sửa, lý do; báo cáo sau khi "
    'sửa phải qua mọi bước kiểm tra.\n\nVí dụ: ctstat review correct 00301 --cell "Biểu 1!E11" --value 1234 '
    '--why "Xã xác nhận qua điện thoại" --key a.key',
    "reopen": 'Mở lại báo cáo đã duyệt của một xã, kèm lý do.\n\nVí dụ: ctstat review reopen 00301 --why "..." '
    "--key a.key",
    "approve-rollup": "Duyệt báo cáo tổng hợp của đơn vị: chỉ khi mọi xã đã được duyệt (hoặc được miễn, kèm lý do)."
    '\n\nVí dụ: ctstat review approve-rollup --excuse "00340=Sáp nhập" --key a.key',
    "reopen-rollup": "Mở lại báo cáo tổng hợp đã duyệt, kèm lý do.\n\nVí dụ: ctstat review reopen-rollup --why "
    '"..." --key a.key',
}
OPTION_HELP_VI = {
    "Your private key (ctstat keys new) or certificate file (.p12/.pfx; password from CTSTAT_KEY_PASSWORD).": "Khóa "
    "bí mật của bạn (ctstat keys new) hoặc tệp chứng thư số (.p12/.pfx; mật khẩu trong CTSTAT_KEY_PASSWORD).",
    "The ward's code (5 digits).": "Mã xã, phường (5 chữ số).",
    "The reason, recorded with your name (required).": "Lý do, ghi kèm tên bạn (bắt buộc).",
    "A note, recorded with your name.": "Ghi chú, ghi kèm tên bạn.",
    "The cell to correct, as 'Biểu 1!E11'.": "Ô cần sửa, dạng 'Biểu 1!E11'.",
    "The value that counts instead (plain digits: 1234, not 1.234).": "Giá trị đúng thay cho giá trị cũ (gõ liền "
    "các chữ số: 1234, không viết 1.234).",
    "A ward left out of the approval, with why: CODE=reason (repeatable).": "Xã được miễn khi duyệt, kèm lý do: "
    "MÃ=lý do (dùng nhiều lần được).",
    "Folder for the key pair.": "Thư mục ghi cặp khóa.",
    "An official whose approval of a district workbook counts: NAME=PUBLIC_KEY_FILE (repeatable); with it, an "
    "unapproved or changed district workbook is refused.": "Cán bộ có quyền duyệt tệp tổng hợp cấp dưới: TÊN=TỆP_KHÓA_"
    "CÔNG_KHAI (dùng nhiều lần được); khi có, tệp tổng hợp chưa duyệt hoặc bị đổi sau khi duyệt bị từ chối.",
    "A root certificate (PEM) officials' certificates must chain to (repeatable).": "Chứng thư gốc (PEM) mà chứng "
    "thư số của cán bộ phải do nó cấp (dùng nhiều lần được).",
    "Use district workbooks that are not approved, listing them.": "Vẫn dùng tệp tổng hợp chưa được duyệt, và liệt "
    "kê chúng.",
    "File name of the key pair (NAME.key, NAME.pub).": "Tên tệp của cặp khóa (TÊN.key, TÊN.pub).",
}

KIND_VI = {
    "approve": "ĐÃ DUYỆT",
    "send-back": "ĐÃ TRẢ LẠI",
    "correct": "ĐÃ SỬA Ô",
    "reopen": "ĐÃ MỞ LẠI",
    "approve-rollup": "ĐÃ DUYỆT BÁO CÁO TỔNG HỢP",
    "reopen-rollup": "ĐÃ MỞ LẠI BÁO CÁO TỔNG HỢP",
}


def _lang(value: str | None) -> str:
    lang = (value or os.environ.get("CTSTAT_LANG") or "vi").lower()
    return "en" if lang == "en" else "vi"


@keys_app.command("new")
def keys_new(
    out: Annotated[Path, typer.Option("--out", help="Folder for the key pair.", file_okay=False)],
    name: Annotated[str, typer.Option("--name", help="File name of the key pair (NAME.key, NAME.pub).")] = "ctstat",
    lang: LangOpt = None,
) -> None:
    """Make an official's signing key pair: the private key (readable by its owner only) and the public key, to
    list under review_keys in ctstat.toml.

    Example: ctstat keys new --out /home/a/keys --name nguyen-van-a
    """
    from ctstat.model.signing import KeyFileError, new_keypair

    if not name or "/" in name or name.startswith("."):
        raise UsageError(f"--name: not a file name: {name!r}", message_vi=f"--name: tên tệp sai: {name!r}")
    writable_place(out, "--out", folder=True)
    try:
        key, pub = new_keypair(out, name)
    except KeyFileError as exc:
        raise UsageError(str(exc), message_vi=exc.why_vi) from None
    if _lang(lang) == "vi":
        typer.echo(
            f"Khóa bí mật: {key} (chỉ bạn đọc được; không gửi cho ai)\nKhóa công khai: {pub} (ghi vào review_keys)"
        )
    else:
        typer.echo(f"Private key: {key} (yours only; never send it)\nPublic key: {pub} (list it under review_keys)")


def _act(config: Path | None, key: Path, lang: str | None, **action: Any) -> None:
    from ctstat.job.config import load_config
    from ctstat.job.review import Action, act, signer_for
    from ctstat.model.catalogue import load_catalogue

    cfg = load_config(config)
    password = os.environ.get("CTSTAT_KEY_PASSWORD")
    signer = signer_for(cfg, key, password.encode() if password is not None else None)
    rec = act(cfg, load_catalogue(), signer, Action(**action), datetime.now().astimezone())
    from ctstat.cli.render import value_text

    shown = _lang(lang)
    fixes = "".join(
        f"\n  {c.where}: {value_text(c.old, shown)} -> {value_text(c.new, shown)}"
        for c in rec.covers.corrections
        if rec.kind == "correct"
    )
    if shown == "vi":
        typer.echo(f"{KIND_VI[rec.kind]} {rec.unit} kỳ {rec.period}: {rec.who}, {rec.at}, bản ghi #{rec.seq}{fixes}")
    else:
        typer.echo(f"{rec.kind} {rec.unit} {rec.period}: {rec.who}, {rec.at}, record #{rec.seq}{fixes}")


@review_app.command("approve")
def approve(ward: WardArg, key: KeyOpt, why: OptWhyOpt = "", config: ConfigOpt = None, lang: LangOpt = None) -> None:
    """Approve a ward's current submission (with its corrections): its numbers are locked; a new file from the
    ward for this period is refused until reopened.

    Example: ctstat review approve 00301 --key a.key
    """
    _act(config, key, lang, kind="approve", unit=ward, why=why)


@review_app.command("send-back")
def send_back(ward: WardArg, why: WhyOpt, key: KeyOpt, config: ConfigOpt = None, lang: LangOpt = None) -> None:
    """Send a ward's submission back with a reason.

    Example: ctstat review send-back 00301 --why "Biểu 3 is empty" --key a.key
    """
    _act(config, key, lang, kind="send-back", unit=ward, why=why)


@review_app.command("correct")
def correct(
    ward: WardArg,
    cell: Annotated[str, typer.Option("--cell", help="The cell to correct, as 'Biểu 1!E11'.")],
    value: Annotated[
        str, typer.Option("--value", help="The value that counts instead (plain digits: 1234, not 1.234).")
    ],
    why: WhyOpt,
    key: KeyOpt,
    config: ConfigOpt = None,
    lang: LangOpt = None,
) -> None:
    """Correct one cell without touching the ward's file: the old value, the new one, who and why are recorded;
    the corrected submission must pass every check.

    Example: ctstat review correct 00301 --cell "Biểu 1!E11" --value 1234 --why "confirmed by phone" --key a.key
    """
    from ctstat.job.review import corrected_value

    _act(config, key, lang, kind="correct", unit=ward, why=why, cell=cell, value=corrected_value(value))


@review_app.command("reopen")
def reopen(ward: WardArg, why: WhyOpt, key: KeyOpt, config: ConfigOpt = None, lang: LangOpt = None) -> None:
    """Reopen a ward's approved submission, with a reason.

    Example: ctstat review reopen 00301 --why "the ward found an error" --key a.key
    """
    _act(config, key, lang, kind="reopen", unit=ward, why=why)


@review_app.command("approve-rollup")
def approve_rollup(
    key: KeyOpt,
    excuse: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--excuse", help="A ward left out of the approval, with why: CODE=reason (repeatable)."),
    ] = None,
    why: OptWhyOpt = "",
    config: ConfigOpt = None,
    lang: LangOpt = None,
) -> None:
    """Approve the unit's own rollup: only when every ward is approved (or excused, with a reason).

    Example: ctstat review approve-rollup --excuse "00340=merged" --key a.key
    """
    from ctstat.job.config import load_config

    excused: dict[str, str] = {}
    for item in excuse or []:
        code, _, reason = item.partition("=")
        excused[code.strip()] = reason.strip()
    unit = load_config(config).unit
    _act(config, key, lang, kind="approve-rollup", unit=unit, why=why, excused=excused)


@review_app.command("reopen-rollup")
def reopen_rollup(why: WhyOpt, key: KeyOpt, config: ConfigOpt = None, lang: LangOpt = None) -> None:
    """Reopen the unit's approved rollup, with a reason (needed before a ward's approval can change).

    Example: ctstat review reopen-rollup --why "a ward's file was wrong" --key a.key
    """
    from ctstat.job.config import load_config

    unit = load_config(config).unit
    _act(config, key, lang, kind="reopen-rollup", unit=unit, why=why)


def approval_policy(signers: list[str], roots: list[Path], allow_unapproved: bool) -> Any:
    """What a rollup asks of district workbooks (None: nothing, as before any official was listed)."""
    from ctstat.check.approval import ApprovalPolicy
    from ctstat.model.signing import KeyFileError, Trust

    if not signers and not roots and not allow_unapproved:
        return None
    named: dict[str, Path] = {}
    for item in signers:
        name, _, file = item.rpartition("=")
        if not name.strip() or not file.strip():
            raise UsageError(
                f"--signer {item!r}: expected NAME=PUBLIC_KEY_FILE",
                message_vi=f"--signer {item!r}: phải là TÊN=TỆP_KHÓA",
            )
        named[name.strip()] = Path(file.strip())
    try:
        trust = Trust.load(named, roots)
    except KeyFileError as exc:
        raise UsageError(str(exc), message_vi=exc.why_vi) from None
    return ApprovalPolicy(trust, required=not allow_unapproved)


EVENT_VI = {**{k: v.lower() for k, v in KIND_VI.items()}, "submitted": "nộp tệp"}
STATE_VI = {
    "approved": "đã duyệt",
    "sent-back": "đã trả lại",
    "corrected": "đã sửa ô, chờ duyệt",
    "reopened": "đã mở lại",
    "not-reviewed": "chưa xem xét",
}


def render_audit(doc: dict[str, Any], console: Any, lang: str) -> None:
    """`ctstat status`: the review state per ward, and the history of every ward something happened to beyond
    one submission (all of it in --json)."""
    from rich.table import Table

    from ctstat.model.messages import printable

    review = doc.get("review") or {}
    vi = lang == "vi"
    if review.get("problem"):
        console.print(
            ("Chuỗi phê duyệt bị hỏng: " if vi else "The review chain is broken: ") + printable(review["problem"])
        )
    wards = review.get("wards", {})
    counts: dict[str, int] = {}
    for w in wards.values():
        counts[w["state"]] = counts.get(w["state"], 0) + 1
    summary = ", ".join(f"{STATE_VI[s] if vi else s} {n}" for s, n in sorted(counts.items()))
    top = review.get("rollup") or {}
    about = f"; {'tổng hợp đã duyệt' if vi else 'rollup approved'}: {top['who']}, {top['at']}" if top else ""
    console.print(f"{'Xem xét' if vi else 'Review'}: {summary or '-'}{about}")
    busy = {u: w for u, w in wards.items() if len(w["events"]) > 1}
    if not busy:
        return
    table = Table(title="Lịch sử nộp và xem xét" if vi else "Submissions and reviews")
    for col in (
        ("Mã", "Lúc", "Việc", "Người", "Lý do, chi tiết") if vi else ("Code", "At", "What", "Who", "Why, detail")
    ):
        table.add_column(col)
    for unit, w in busy.items():
        for e in w["events"]:
            table.add_row(unit, str(e["at"])[:16].replace("T", " "), _what(e, vi), printable(e["who"]), _detail(e, vi))
    console.print(table)


def _what(e: dict[str, Any], vi: bool) -> str:
    return EVENT_VI.get(e["kind"], e["kind"]) if vi else str(e["kind"])


def _detail(e: dict[str, Any], vi: bool) -> str:
    from ctstat.model.messages import printable

    if e["kind"] == "submitted":
        judged = ("hợp lệ" if vi else "valid") if e["valid"] else f"{e['errors']} {'lỗi' if vi else 'errors'}"
        gone = (", đã xóa khỏi hộp thư" if vi else ", removed from the inbox") if e["removed"] else ""
        return printable(f"{e['path']} ({judged}{gone})")
    fixes = "; ".join(f"{c['cell']}: {c['old']} -> {c['new']:g}" for c in e.get("corrections", []))
    return printable(" - ".join(t for t in (e["why"], fixes) if t))
