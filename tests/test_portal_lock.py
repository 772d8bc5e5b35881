"""An approved ward's uploads (issue 29): its token is refused before the body is read (409, the attempt
recorded), and an approval recorded while a batch of uploads is judged still keeps a file out (the lock is checked
again in the transaction that records the batch)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ctstat.job.config import JobConfig
from ctstat.job.review import Action, act
from ctstat.model.catalogue import Catalogue
from ctstat.model.signing import Signer
from ctstat.web.tokens import issue_tokens

from .conftest import MakeForm
from .test_portal import HM, WARD, Site, inbox_files
from .test_review import WHEN, make_job

BOUNDARY = "ctstat-test-boundary"


@pytest.fixture
def reviewed(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[Site, Signer]]:
    cfg, a, _ = make_job(replace(cfg, upload_limit_mb=1, uploads_per_minute=20), tmp_path)
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    s = Site(cfg, catalogue, {i.unit: i.token for i in issued})
    yield s, a
    s.portal.intake.close()


def raw_upload(site: Site, unit: str, body: bytes) -> tuple[int, dict[str, Any], int]:
    """POST `body` to the API straight into the ASGI app, counting the body messages the app asks for: the status,
    the JSON answer, and how many pieces of the body were read."""
    read = 0
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(pieces):
            read += 1
            return {"type": "http.request", "body": pieces[read - 1], "more_body": read < len(pieces)}
        await asyncio.sleep(3600)  # the client is still there, sending nothing more
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/submissions",
        "raw_path": b"/api/v1/submissions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"portal.test"),
            (b"authorization", f"Bearer {site.tokens[unit]}".encode()),
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("portal.test", 80),
    }
    asyncio.run(asyncio.wait_for(site.app(scope, receive, send), 60))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(answer), read


def multipart(path: Path) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return head.encode() + path.read_bytes() + f"\r\n--{BOUNDARY}--\r\n".encode()


def test_an_approved_wards_token_is_refused_before_its_body_is_read(
    reviewed: tuple[Site, Signer], catalogue: Catalogue, make_form: MakeForm
) -> None:
    site, a = reviewed
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
    # not approved: the body is read (the counting works)
    status, answer, read = raw_upload(site, WARD, multipart(make_form(unit=WARD, seed=3)))
    assert status == 200 and answer["outcome"] == "accepted" and read > 1
    act(site.cfg, catalogue, a, Action("approve", WARD), WHEN)
    before, uploads = inbox_files(site.cfg), len(site.ledger().uploads())
    status, answer, read = raw_upload(site, WARD, multipart(make_form(unit=WARD, seed=4)))
    assert status == 409 and read == 0  # answered before a byte of the body was asked for
    assert answer["outcome"] == "locked" and answer["unit"] == WARD and "Nguyễn Văn A" in answer["error"]
    assert "ctstat review reopen 00301" in answer["error_en"]
    # the attempt is recorded (who tried, when), with nothing of the body: no file, no name, no size
    (last,) = [u for u in site.ledger().uploads() if u.id == answer["upload"]]
    assert (last.sender, last.outcome, last.size, last.client_name, last.kept) == (WARD, "locked", 0, "", None)
    assert len(site.ledger().uploads()) == uploads + 1 and inbox_files(site.cfg) == before
    # the ward's page shows it among its attempts, as refused for the lock
    c = site.sign_in(WARD)
    result = c.get(f"/lan-nop/{last.id}").text
    assert "Không nhận: báo cáo của 00301" in result and "đã được duyệt" in result
    # the district's token may send for any of its wards: the file's cover names the ward, so it is read, and
    # the file's own check refuses it all the same
    status, answer, read = raw_upload(site, "008", multipart(make_form(unit=WARD, seed=5)))
    assert status == 409 and answer["outcome"] == "locked" and read > 1
    # another ward is not locked
    status, answer, _ = raw_upload(site, "00304", multipart(HM / "00304-vinh-hung.xlsx"))
    assert status == 200 and answer["outcome"] == "accepted"


def test_an_approval_recorded_while_a_batch_is_judged_keeps_its_file_out(
    reviewed: tuple[Site, Signer], catalogue: Catalogue, make_form: MakeForm, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctstat.web.intake as intake

    site, a = reviewed
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
    before, rows = inbox_files(site.cfg), len(site.ledger().rows())
    mark_up = intake.mark_up
    approvals = []

    def approve_meanwhile(*args: Any, **kwargs: Any) -> Any:
        """Between judging the batch (the ward not approved: its file valid) and recording it, the district
        approves the ward's current file."""
        approvals.append(act(site.cfg, catalogue, a, Action("approve", WARD), WHEN))
        return mark_up(*args, **kwargs)

    monkeypatch.setattr(intake, "mark_up", approve_meanwhile)
    r = site.api(WARD, make_form(unit=WARD, seed=9))
    assert len(approvals) == 1
    assert r.status_code == 409, r.text
    assert r.json()["outcome"] == "locked" and "Nguyễn Văn A" in r.json()["error"]
    # nothing of the file stored or recorded as a submission; the approval covers the file it named
    assert inbox_files(site.cfg) == before and len(site.ledger().rows()) == rows
    assert list(site.portal.cfg.out.joinpath("portal", "incoming").iterdir()) == []
    (current,) = site.ledger().rows("unit=?", WARD)
    assert approvals[0].covers.inputs[WARD] == current.sha256
    assert site.ledger().uploads()[0].outcome == "locked"


def test_a_ledger_locked_past_the_wait_is_a_fault_never_a_view_frozen_for_good(
    cfg: JobConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portal's request threads keep a read-only connection each (tokens, sessions, a ward's approval). One
    that could not read at once, because another process held the ledger locked past the wait, was opened on an
    immutable view instead, which never sees a later commit: a rotated token, a sign-out or an approval ignored
    on that thread until the server restarts. It is the fault now (the request fails, the next one opens again),
    and a question about approvals is never answered "none" because the ledger was busy."""
    import sqlite3

    from ctstat.job import ledger as ledger_module
    from ctstat.job.ledger import Ledger
    from ctstat.model.errors import EnvironmentFault
    from ctstat.web.tokens import Keys

    issue_tokens(cfg, tmp_path / "tokens.csv")
    monkeypatch.setattr(ledger_module, "BUSY_WAIT", 0.2)
    keys = Keys(cfg.ledger_path)
    kept = keys.reader()
    holder = sqlite3.connect(cfg.ledger_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(EnvironmentFault, match="locked"):
            Ledger(cfg.ledger_path, readonly=True)
        with pytest.raises(EnvironmentFault, match="locked"):
            kept.reviews("2025-H1/008", WARD)  # not [] ("not approved"): the upload is not let through
        holder.execute("INSERT INTO meta (key, value) VALUES ('written-while-busy', '1')")
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert keys.reader() is kept and kept.get_meta("written-while-busy") == "1"  # the kept one sees the commit


def test_a_kept_reader_follows_the_ledger_file_when_it_is_replaced(cfg: JobConfig, tmp_path: Path) -> None:
    """A ledger restored from a backup (moved into place) while the portal runs: the request threads read the
    file now there, not the one their connection was opened on."""
    import os
    import shutil

    from ctstat.web.tokens import Keys

    first = {i.unit: i.token for i in issue_tokens(cfg, tmp_path / "first.csv")}
    backup = tmp_path / "backup.sqlite"
    shutil.copy(cfg.ledger_path, backup)
    keys = Keys(cfg.ledger_path)
    assert keys.unit_of(first[WARD]) == WARD
    rotated = {i.unit: i.token for i in issue_tokens(cfg, tmp_path / "rotated.csv", rotate=[WARD])}
    assert keys.unit_of(first[WARD]) is None and keys.unit_of(rotated[WARD]) == WARD
    os.replace(backup, cfg.ledger_path)  # the backup, from before the rotation, restored
    assert keys.unit_of(rotated[WARD]) is None and keys.unit_of(first[WARD]) == WARD
