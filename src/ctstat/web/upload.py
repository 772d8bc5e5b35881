"""Receiving an upload: a multipart body streamed into the staging folder, counted as it comes (`receive`), then
handed to the intake (`take`). A ward whose report is approved is refused before its body is read (`Refused`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger, Upload
from ctstat.model.report import FileReport
from ctstat.web.context import HTTPProblem, Portal
from ctstat.web.intake import Staged, server_name, sniff_extension, staging_dir


async def receive(
    request: Any, p: Portal, sender: str, before_file: Callable[[dict[str, str]], None] | None = None
) -> tuple[Staged, dict[str, str]]:
    """Refused (`Refused`, nothing read) when `sender` is a ward whose report for the period is approved. Else,
    stream a multipart upload (one part named `file`, small text fields) into the staging folder, counting as
    it comes: every byte of the body counts (file, other parts, part headers, whatever the transfer encoding), and
    past the limit it stops at once (413) and removes what it wrote. `before_file` sees the fields sent before the
    file and may refuse it before any of it is stored. The file gets a server-chosen name; the client's name is
    kept as text only."""
    from python_multipart import MultipartParser
    from python_multipart.multipart import parse_options_header

    limit = p.cfg.upload_limit_mb * 1024 * 1024
    too_large = HTTPProblem(413, f"Tệp quá lớn: tối đa {p.cfg.upload_limit_mb} MB. Biểu mẫu điền đúng chỉ vài trăm KB.")
    wait = p.uploads.hit(sender)
    if wait:
        msg = f"Gửi quá nhiều lần trong một phút: thử lại sau {wait} giây."
        raise HTTPProblem(429, msg, {"Retry-After": str(wait)})
    if not p.is_area(sender):  # a ward's token: its unit is known before the body, and so is its approval
        refused = await asyncio.to_thread(locked_before_body, p.cfg, sender, p.keys.reader)
        if refused is not None:
            raise Refused(refused)
    mime, params = parse_options_header(request.headers.get("content-type", ""))
    if mime != b"multipart/form-data" or not params.get(b"boundary"):
        raise HTTPProblem(400, "Gửi tệp bằng biểu mẫu trên trang (multipart/form-data, trường 'file').")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + BODY_SLACK:
        raise too_large
    sink = UploadSink(staging_dir(p.cfg), limit, too_large, before_file)
    parser = MultipartParser(params[b"boundary"], sink.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit + BODY_SLACK:  # the file's bytes and everything around them
                raise too_large
            parser.write(chunk)
        parser.finalize()
    except BaseException as exc:
        sink.discard()
        if isinstance(exc, HTTPProblem):
            raise
        if isinstance(exc, Exception) and type(exc).__module__.startswith(("python_multipart", "multipart")):
            raise HTTPProblem(400, "Dữ liệu gửi lên không đúng dạng multipart.") from None
        raise
    if sink.path is not None and sink.size == 0 and not sink.client:  # what a browser sends when no file is chosen
        sink.discard()
        sink.path = None
    if sink.path is None:
        raise HTTPProblem(400, "Chưa chọn tệp: chọn tệp biểu mẫu (.xlsx, .xls, .ods) rồi bấm Gửi.")
    return Staged(sink.path, sender, sink.client, sink.size), sink.fields


BODY_SLACK = 65536  #: bytes of an upload's body beyond the file allowed for its other parts and headers
MAX_PARTS = 8  #: parts in an upload (the page sends two: csrf and file)


class UploadSink:
    """python-multipart callbacks: the part named `file` is written to a new file in `staging` as it streams (its
    first bytes say which extension to read it with), other parts are small text fields (1 KB at most, kept),
    at most MAX_PARTS parts, each with at most 8 headers of 100 + 1000 bytes (refused past that, 400)."""

    def __init__(
        self,
        staging: Path,
        limit: int,
        too_large: HTTPProblem,
        before_file: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        staging.mkdir(parents=True, exist_ok=True)
        self.staging, self.limit, self.too_large, self.before_file = staging, limit, too_large, before_file
        self._parts = 0
        self.fields: dict[str, str] = {}
        self.path: Path | None = None
        self.client = ""
        self.size = 0
        self._fh: Any = None
        self._headers: dict[bytes, bytes] = {}
        self._hname = self._hval = self._buf = self._head = b""
        self._name = ""
        self._in_file = False

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, a, b: setattr(self, "_hname", _bounded(self._hname, d[a:b], 100)),
            "on_header_value": lambda d, a, b: setattr(self, "_hval", _bounded(self._hval, d[a:b], 1000)),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise HTTPProblem(400, "Dữ liệu gửi lên có quá nhiều phần: gửi bằng biểu mẫu trên trang.")
        self._headers.clear()
        self._name, self._buf, self._in_file = "", b"", False

    def _header_end(self) -> None:
        if len(self._headers) >= 8:
            raise _bad_part()
        self._headers[self._hname.lower()] = self._hval
        self._hname = self._hval = b""

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, disp = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = disp.get(b"name", b"").decode("utf-8", "replace")[:40]
        filename = disp.get(b"filename")
        if self._name == "file" and filename is not None:
            if self.path is not None or self._in_file:
                raise HTTPProblem(400, "Chỉ gửi một tệp mỗi lần.")
            if self.before_file is not None:
                self.before_file(self.fields)
            text = filename.decode("utf-8", "replace")
            self.client = "".join(c for c in text if c.isprintable())[-120:]
            self._in_file, self._head = True, b""

    def _open(self) -> None:
        self.path = self.staging / server_name(sniff_extension(self._head, self.client))
        self._fh = self.path.open("xb")
        self._write(self._head)
        self._head = b""

    def _write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise self.too_large
        self._fh.write(chunk)

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._in_file:
            if len(self._buf) + len(chunk) <= 1024:
                self._buf += chunk
        elif self._fh is None:
            self._head += chunk
            if len(self._head) >= 128:
                self._open()
        else:
            self._write(chunk)

    def _part_end(self) -> None:
        if self._in_file:
            if self._fh is None:  # fewer than 128 bytes in all
                self._open()
            self._fh.close()
            self._fh, self._in_file = None, False
        elif self._name:
            self.fields[self._name] = self._buf.decode("utf-8", "replace")

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _bad_part() -> HTTPProblem:
    return HTTPProblem(400, "Dữ liệu gửi lên không đúng dạng multipart.")


def _bounded(have: bytes, more: bytes, limit: int) -> bytes:
    """A part header's name or value as it arrives: refused past `limit` bytes, never grown without bound."""
    if len(have) + len(more) > limit:
        raise _bad_part()
    return have + more


async def take(p: Portal, staged: Staged) -> Upload:
    return await asyncio.wrap_future(p.intake.submit(staged))


def locked_message(up: Upload) -> tuple[str, str]:
    """What an upload refused for an approved ward is told (English, Vietnamese): the run's own words."""
    issue = next(i for i in up.report.issues if i.code == "approved-locked")
    return issue.text_en, issue.text_vi


class Refused(Exception):
    """An upload refused before its body was read (the sender's report is approved), its attempt recorded."""

    def __init__(self, upload: Upload) -> None:
        super().__init__(upload.outcome)
        self.upload = upload


def locked_before_body(
    cfg: JobConfig, unit: str, reader: Callable[[], Ledger], now: datetime | None = None
) -> Upload | None:
    """None unless `unit`'s report for the period stands approved; then the attempt, recorded as `locked` (no
    file: nothing of the body is read or trusted), its report carrying who approved it and how to reopen.
    `reader`: the calling thread's read-only connection (`Keys.reader`): every upload asks, and a ledger opened
    for writing (migrated, its mode set) for each one cost the portal more than the question."""
    from ctstat.job.review import chain_as_recorded, locked_text
    from ctstat.model.messages import make_issue

    if not cfg.ledger_path.exists():
        return None
    st = chain_as_recorded(reader(), cfg, unit).states().get(unit)
    if st is None or st.approved is None:
        return None
    en, vi = locked_text(st.approved)
    issue = make_issue("approved-locked", path="", detail=vi, detail_en=en)
    report = FileReport("", unit=unit, period=str(cfg.period), issues=[issue])
    up = Upload(at=now or datetime.now(), sender=unit, client_name="", size=0, outcome="locked", report=report)
    with Ledger(cfg.ledger_path) as ledger, ledger.transaction():
        return replace(up, id=ledger.add_upload(up))
