"""The review chain in the portal (issue 29): an approved ward's uploads are refused, nothing stored; the
district reviews from its page (approve, send back, correct a cell) through the same job functions as the CLI;
the ward sees what was done to its report."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ctstat.job.config import JobConfig
from ctstat.job.review import Action, act, chain_as_recorded
from ctstat.model.catalogue import Catalogue
from ctstat.model.records import Record
from ctstat.model.signing import Signer
from ctstat.web.tokens import issue_tokens

from .conftest import MakeForm
from .test_portal import HM, WARD, Site, csrf_of, inbox_files
from .test_review import CELL, WHEN, WHERE, make_job


@pytest.fixture
def reviewed(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[tuple[Site, Signer]]:
    """The portal over a job whose settings list two officials' keys (the first one's signer returned)."""
    cfg, a, _ = make_job(replace(cfg, upload_limit_mb=1, uploads_per_minute=20), tmp_path)
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    s = Site(cfg, catalogue, {i.unit: i.token for i in issued})
    yield s, a
    s.portal.intake.close()


def stored(cfg: JobConfig) -> list[Path]:
    """Every file the portal keeps: the inbox and the files kept aside (staging is emptied after each upload)."""
    return inbox_files(cfg) + sorted(p for p in (cfg.out / "portal").rglob("*") if p.is_file())


def test_an_approved_wards_upload_is_refused_and_nothing_is_stored(
    reviewed: tuple[Site, Signer], catalogue: Catalogue, make_form: MakeForm
) -> None:
    site, a = reviewed
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
    act(site.cfg, catalogue, a, Action("approve", WARD), WHEN)
    before, rows, ups = stored(site.cfg), len(site.ledger().rows()), len(site.ledger().uploads())
    # the API: a located JSON error saying who approved, when and how to reopen; nothing stored
    for sender, f in [(WARD, make_form(unit=WARD, seed=5)), ("008", make_form(unit=WARD, seed=6))]:
        r = site.api(sender, f)
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["outcome"] == "locked" and body["unit"] == WARD
        assert "Nguyễn Văn A" in body["error"] and "mở lại" in body["error"]
        assert f"duyệt lúc {WHEN:%d/%m/%Y %H:%M};" in body["error"]  # as a ward writes a time
        assert "reopen" in body["error_en"]
    # an invalid file for an approved ward is refused the same way (not kept aside either)
    bad = make_form(unit=WARD, changes={"TE01/0-2/sex:nam": -3})
    assert site.api(WARD, bad).status_code == 409
    assert stored(site.cfg) == before and len(site.ledger().rows()) == rows
    # the page: the ward is told before it sends, and a post is a problem page with the same words
    c = site.sign_in(WARD)
    page = c.get("/xa").text
    assert "đã được Nguyễn Văn A duyệt" in page and "Gửi và kiểm tra" not in page
    f = make_form(unit=WARD, seed=7)
    r = c.post("/xa/nop", files={"file": (f.name, f.read_bytes())}, data={"csrf": csrf_of(page)})
    assert r.status_code == 409 and "Nguyễn Văn A" in r.text and "mở lại" in r.text
    assert stored(site.cfg) == before and len(site.ledger().rows()) == rows
    # the attempts are in the ledger (who tried, when), marked as refused for the lock
    assert [u.outcome for u in site.ledger().uploads()][: len(site.ledger().uploads()) - ups] == ["locked"] * 4
    # another ward is not locked
    other = HM / "00304-vinh-hung.xlsx"
    assert site.api("00304", other).json()["outcome"] == "accepted"
    # reopened: the ward may send again
    act(site.cfg, catalogue, a, Action("reopen", WARD, why="Xã gửi lại số liệu đúng"), WHEN)
    assert site.api(WARD, make_form(unit=WARD, seed=8)).json()["outcome"] == "accepted"


def test_a_run_after_the_refusal_still_counts_the_approved_file(
    reviewed: tuple[Site, Signer], catalogue: Catalogue, make_form: MakeForm
) -> None:
    from ctstat.job.run import run_job

    site, a = reviewed
    for f in sorted(HM.glob("*.xlsx")):
        shutil.copyfile(f, site.cfg.inbox / f.name)
    run_job(site.cfg, catalogue, now=WHEN)
    act(site.cfg, catalogue, a, Action("approve", WARD), WHEN)
    assert site.api(WARD, make_form(unit=WARD, seed=5)).status_code == 409
    r = run_job(site.cfg, catalogue, now=WHEN)
    assert r.validated == [] and r.rollup_state == "written"


@pytest.fixture
def signing(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[Site]:
    """The portal with its own key (Trần Thị B's, listed in review_keys) to sign the district's actions."""
    cfg, _, _ = make_job(replace(cfg, upload_limit_mb=1, uploads_per_minute=20), tmp_path)
    cfg = replace(cfg, portal_key=tmp_path / "keys" / "b.key")
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    s = Site(cfg, catalogue, {i.unit: i.token for i in issued})
    yield s
    s.portal.intake.close()


def records(site: Site) -> list[Record]:
    ledger = site.ledger()
    try:
        return chain_as_recorded(ledger, site.cfg).records
    finally:
        ledger.close()


def test_the_district_reviews_from_its_page_and_the_ward_sees_it(signing: Site) -> None:
    site = signing
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
    assert site.api("00304", HM / "00304-vinh-hung.xlsx").json()["outcome"] == "accepted"
    c = site.sign_in("008")
    page = c.get("/huyen").text
    assert "Kiểm tra và duyệt" in page and "Trần Thị B" in page and 'id="xa-00301"' in page
    assert "mã số dòng và cột (TE01.01 Nam)" in page  # the hint's example, taken from the form
    csrf = csrf_of(page)

    def post(**form: str) -> Any:
        return c.post("/huyen/duyet", data={"csrf": csrf, **form}, follow_redirects=False)

    # refusals: each says why, nothing recorded
    assert c.post("/huyen/duyet", data={"csrf": "0" * 40, "action": "approve", "unit": WARD}).status_code == 403
    other_site = {"Origin": "http://evil.test"}
    assert (
        c.post("/huyen/duyet", data={"csrf": csrf, "action": "approve", "unit": WARD}, headers=other_site).status_code
        == 403
    )
    r = post(action="send-back", unit=WARD, why="   ")
    assert r.status_code == 409 and "Phải ghi lý do" in r.text
    r = post(action="correct", unit=WARD, cell=WHERE, value="-1", why="Gọi điện")
    assert r.status_code == 409 and "làm biểu mẫu không hợp lệ" in r.text and "Biểu 1!E11" in r.text
    assert "Số âm" in r.text  # the issue the correction would add, shown at its cell
    r = post(action="correct", unit=WARD, cell="Biểu 1!D9", value="5", why="Gọi điện")
    assert r.status_code == 409 and "ô tổng" in r.text
    r = post(action="correct", unit=WARD, cell=WHERE, value="mười", why="Gọi điện")
    assert r.status_code == 409 and "không phải là số" in r.text
    assert post(action="approve", unit="99999").status_code == 409
    assert post(action="approve", unit="008").status_code == 409
    assert records(site) == []
    # a correction with its note, a send-back, an approval: each a record signed by the portal's official
    old = site.ledger().cells([site.ledger().rows("unit=?", WARD)[0].id])
    value = next(iter(old.values()))[CELL]
    r = post(action="correct", unit=WARD, cell="TE99.01 E", value="1", why="Gọi điện")
    assert r.status_code == 409 and "Không có dòng mã số “TE99.01”" in r.text
    r = post(action="correct", unit=WARD, cell="TE01.01 Z", value="1", why="Gọi điện")
    assert r.status_code == 409 and "Không có cột “Z” ở Biểu 1" in r.text and "E (Nam)" in r.text
    assert records(site) == []
    # the cell by its row's Mã số and its column's heading, as the form prints them: the same cell as Biểu 1!E11
    r = post(
        action="correct", unit=WARD, cell=" te01.01   nam ", value=f"{value + 1:g}", why="Xã xác nhận qua điện thoại"
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/huyen?tb=correct&xa=00301")
    assert post(action="send-back", unit="00304", why="Biểu 3 để trống<script>x</script>\x1b[31m").status_code == 303
    assert post(action="approve", unit=WARD).status_code == 303
    assert records(site)[0].covers.corrections[0].where == WHERE
    assert [(x.kind, x.unit, x.who) for x in records(site)] == [
        ("correct", WARD, "Trần Thị B"),
        ("send-back", "00304", "Trần Thị B"),
        ("approve", WARD, "Trần Thị B"),
    ]
    page = c.get("/huyen?tb=approve&xa=00301").text
    assert "Đã duyệt báo cáo của 00301" in page and "Trả lại: Biểu 3 để trống" in page
    assert f"{value:g} → <strong>{value + 1:g}</strong>" in page
    # the ward sees the correction (cell, old → new, who, why) and the approval; its upload form is locked
    w = site.sign_in(WARD)
    mine = w.get("/xa").text
    assert "Biểu 1!E11" in mine and f"{value:g} → <strong>{value + 1:g}</strong>" in mine
    assert "Xã xác nhận qua điện thoại" in mine and "Trần Thị B" in mine and "Đã được Trần Thị B duyệt" in mine
    assert "Gửi và kiểm tra" not in mine and "Không gửi được tệp mới" in mine
    assert "00304" not in mine and "Biểu 3 để trống" not in mine  # nothing of another ward
    # and on the result page of its upload
    (first,) = [u for u in site.ledger().uploads() if u.sender == WARD]
    result = w.get(f"/lan-nop/{first.id}").text
    assert "Đã được Trần Thị B duyệt" in result and f"{value:g} → <strong>{value + 1:g}</strong>" in result
    # the other ward sees its send-back and the reason
    back = site.sign_in("00304").get("/xa").text
    assert "Huyện trả lại báo cáo: Biểu 3 để trống&lt;script&gt;" in back and "<script>" not in back
    assert records(site)[1].why == "Biểu 3 để trống<script>x</script>[31m"  # kept as text, control characters out
    assert page.count("Lịch sử (2 bản ghi)") == 1  # 00301: the correction and the approval, each listed
    # a ward's session cannot review
    ward_csrf = csrf_of(mine)
    r = w.post("/huyen/duyet", data={"csrf": ward_csrf, "action": "approve", "unit": "00304"})
    assert r.status_code == 403 and len(records(site)) == 3


def test_without_a_portal_key_the_page_says_how_to_review(reviewed: tuple[Site, Signer]) -> None:
    site, _ = reviewed
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
    c = site.sign_in("008")
    page = c.get("/huyen").text
    assert "portal_key" in page and "ctstat review" in page and 'action="/huyen/duyet"' not in page
    r = c.post("/huyen/duyet", data={"csrf": csrf_of(page), "action": "approve", "unit": WARD})
    assert r.status_code == 403 and "portal_key" in r.text and records(site) == []


def test_the_portal_key_from_the_settings_and_a_certificate_it_will_not_hold(cfg: JobConfig, tmp_path: Path) -> None:
    from ctstat.job.config import load_config
    from ctstat.web.review import portal_signer

    cfg, _, _ = make_job(cfg, tmp_path)
    toml = tmp_path / "ctstat.toml"
    keys = "".join(f'"{n}" = "{p}"\n' for n, p in cfg.review_keys)
    toml.write_text(
        f'period = "2025-H1"\nunit = "008"\ninbox = "{cfg.inbox}"\nout = "{cfg.out}"\nportal_key = "keys/a.key"\n'
        f"[review_keys]\n{keys}",
        encoding="utf-8",
    )
    loaded = load_config(toml)
    assert loaded.portal_key == tmp_path / "keys" / "a.key"
    signer, why = portal_signer(loaded)
    assert signer is not None and signer.who == "Nguyễn Văn A" and why == ""
    # a certificate: its password is its holder's, the portal does not sign with it
    signer, why = portal_signer(replace(loaded, portal_key=tmp_path / "keys" / "b.p12"))
    assert signer is None and "chứng thư số" in why and "ctstat review" in why
    # a key others can read, or one not listed: said, not used
    (tmp_path / "keys" / "a.key").chmod(0o644)
    signer, why = portal_signer(loaded)
    assert signer is None and "chmod 600" in why
    (tmp_path / "keys" / "a.key").chmod(0o600)
    signer, why = portal_signer(replace(loaded, review_keys=loaded.review_keys[1:]))
    assert signer is None and "review_keys" in why
    assert portal_signer(replace(loaded, portal_key=None))[0] is None


def test_a_hand_edited_chain_is_said_on_the_page_and_stops_every_action(signing: Site) -> None:
    import sqlite3

    site = signing
    for f in ("00301-thanh-tri.xlsx", "00304-vinh-hung.xlsx"):
        assert site.api(f[:5], HM / f).json()["outcome"] == "accepted"
    c = site.sign_in("008")
    page = c.get("/huyen").text
    assert "Chuỗi phê duyệt không kiểm tra được" not in page
    assert c.post("/huyen/duyet", data={"csrf": csrf_of(page), "action": "approve", "unit": WARD}).status_code == 200
    db = sqlite3.connect(site.cfg.ledger_path)
    text = db.execute("SELECT record FROM reviews WHERE seq=1").fetchone()[0]
    db.execute("UPDATE reviews SET record=? WHERE seq=1", (text.replace("Trần Thị B", "Nguyễn Văn A"),))
    db.commit()
    db.close()
    page = c.get("/huyen").text
    assert "Chuỗi phê duyệt không kiểm tra được" in page and "reviews #1" in page
    r = c.post("/huyen/duyet", data={"csrf": csrf_of(page), "action": "approve", "unit": "00304"})
    assert r.status_code == 409 and "bị hỏng" in r.text and len(records(site)) == 1


def test_the_districts_pages_say_what_is_wrong_without_the_servers_paths(
    signing: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken chain and a run holding the job were said with the server's folders (and a process id) on the
    district's pages: the district reads what is wrong, by what the place is; the server's log keeps the paths."""
    import logging
    import re
    import sqlite3

    from ctstat.job.run import job_lock
    from ctstat.model.errors import UsageError
    from ctstat.web.review import for_district

    site = signing
    roots = {str(site.cfg.out), str(site.cfg.out.resolve()), str(site.cfg.ledger_path)}

    def no_path(text: str) -> None:
        assert not any(r in text for r in roots) and "/tmp" not in text and not re.search(r"\bpid\b", text), text

    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
    c = site.sign_in("008")
    page = c.get("/huyen").text
    assert c.post("/huyen/duyet", data={"csrf": csrf_of(page), "action": "approve", "unit": WARD}).status_code == 200
    db = sqlite3.connect(site.cfg.ledger_path)
    text = db.execute("SELECT record FROM reviews WHERE seq=1").fetchone()[0]
    db.execute("UPDATE reviews SET record=? WHERE seq=1", (text.replace("Trần Thị B", "Nguyễn Văn A"),))
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING, logger="ctstat.portal"):
        page = c.get("/huyen").text
        (broken,) = re.findall(r"Chuỗi phê duyệt không kiểm tra được[^<]*", page)
        assert "chuỗi phê duyệt trong sổ theo dõi của kỳ bị hỏng: ledger reviews #1" in broken
        no_path(broken)
        r = c.post("/huyen/duyet", data={"csrf": csrf_of(page), "action": "reopen", "unit": WARD, "why": "x"})
        assert r.status_code == 409 and "Không ghi nhận: chuỗi phê duyệt trong sổ theo dõi của kỳ bị hỏng" in r.text
        no_path(r.text)
    assert any(str(site.cfg.ledger_path) in m for m in caplog.messages)  # the log keeps where
    # a run holding the job: said with its start, not its folder and process
    with job_lock(site.cfg.out), pytest.raises(UsageError) as held:
        with job_lock(site.cfg.out):
            pass
    assert str(site.cfg.out) in str(held.value.message_vi) and "pid" in str(held.value.message_vi)
    said = for_district(held.value, site.cfg)
    no_path(said)
    assert said.startswith("một lần chạy ctstat khác đang làm việc trên thư mục kết quả của kỳ (bắt đầu lúc 20")
    assert said.endswith("; lần này không làm gì")
