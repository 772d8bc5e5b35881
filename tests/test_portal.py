"""`ctstat serve`: the portal through its test client, the ledger checked after each step."""

from __future__ import annotations

import csv
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger
from ctstat.job.run import RunResult, job_lock, job_status, run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.errors import UsageError
from ctstat.web.app import create_app
from ctstat.web.tokens import issue_tokens, token_unit

from .conftest import SAMPLES, MakeForm
from .test_access import DOCUMENTED

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
FAULTY = SAMPLES / "faulty"
WARD = "00301"
OTHER = "00304"


class Site:
    def __init__(self, cfg: JobConfig, catalogue: Catalogue, tokens: dict[str, str]) -> None:
        self.cfg, self.catalogue, self.tokens = cfg, catalogue, tokens
        self.app = create_app(cfg, catalogue)
        self.portal = self.app.state.portal
        self.client = TestClient(self.app, raise_server_exceptions=False, base_url="http://portal.test")

    def api(self, unit: str, path: Path, name: str | None = None) -> object:
        return self.client.post(
            "/api/v1/submissions",
            files={"file": (name or path.name, path.read_bytes())},
            headers={"Authorization": f"Bearer {self.tokens[unit]}"},
        )

    def sign_in(self, unit: str) -> TestClient:
        c = TestClient(self.app, raise_server_exceptions=False, base_url="http://portal.test")
        r = c.post("/dang-nhap", data={"token": self.tokens[unit]}, follow_redirects=False)
        assert r.status_code == 303
        return c

    def ledger(self) -> Ledger:
        return Ledger(self.cfg.ledger_path, readonly=True)


@pytest.fixture
def site(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[Site]:
    cfg = replace(cfg, upload_limit_mb=1, uploads_per_minute=8)
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    s = Site(cfg, catalogue, {i.unit: i.token for i in issued})
    yield s
    s.portal.intake.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def inbox_files(cfg: JobConfig) -> list[Path]:
    return sorted(p for p in cfg.inbox.rglob("*") if p.is_file())


# --- tokens ------------------------------------------------------------------------------------------------------


def test_tokens_one_per_expected_ward_and_the_district_only_hashes_kept(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "tokens.csv"
    assert out.read_bytes().startswith(b"\xef\xbb\xbfunit,name,token\n")  # the BOM: Excel reads it as UTF-8
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert [r["unit"] for r in rows][:2] == ["008", WARD] and len(rows) == 15  # the district and its 14 wards
    assert rows[1]["name"] == "Phường Thanh Trì"
    assert all(token_unit(r["token"]) == r["unit"] for r in rows)
    assert out.stat().st_mode & 0o077 == 0  # readable by its owner only
    raw = site.cfg.ledger_path.read_bytes()
    assert not any(r["token"].encode() in raw for r in rows)  # never stored
    hashes = site.ledger().token_hashes()
    assert set(hashes) == {r["unit"] for r in rows} and all(h.startswith("$argon2id$") for h in hashes.values())
    # a second issue gives nobody a new token, and never writes over a list
    with pytest.raises(UsageError, match="already exists"):
        issue_tokens(site.cfg, out)
    assert issue_tokens(site.cfg, tmp_path / "again.csv") == []


def test_rotating_a_token_ends_the_old_one_and_its_sessions(site: Site, tmp_path: Path) -> None:
    browser = site.sign_in(WARD)
    assert browser.get("/xa").status_code == 200
    (new,) = issue_tokens(site.cfg, tmp_path / "rotated.csv", rotate=[WARD])
    assert new.unit == WARD and new.token != site.tokens[WARD]
    r = site.api(WARD, HM / "00301-thanh-tri.xlsx")
    assert r.status_code == 401  # the old token
    r = browser.get("/xa", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/?tb=")  # the old session
    site.tokens[WARD] = new.token
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").status_code == 200
    assert site.api(OTHER, HM / "00304-vinh-hung.xlsx").status_code == 200  # other wards untouched


# --- the JSON API --------------------------------------------------------------------------------------------------


def test_nothing_without_a_token(site: Site) -> None:
    f = HM / "00301-thanh-tri.xlsx"
    c = site.client
    assert c.post("/api/v1/submissions", files={"file": (f.name, f.read_bytes())}).status_code == 401
    bad = {"Authorization": "Bearer 00301-aaaaa-bbbbb-ccccc-ddddd"}
    assert c.post("/api/v1/submissions", files={"file": (f.name, f.read_bytes())}, headers=bad).status_code == 401
    assert c.get("/api/v1/status").status_code == 401
    for path in ("/xa", "/huyen", "/lan-nop/1", "/tai/lan-nop/1", "/tai/tong-hop/0", "/xa/bieu-mau", "/tai/tep/1"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/?tb=het-phien", path
    assert inbox_files(site.cfg) == [] and site.ledger().uploads() == []


def test_the_access_log_times_carry_their_offset(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    import json
    from datetime import datetime

    with caplog.at_level("INFO", logger="ctstat.access"):
        assert site.client.get("/api/v1/status").status_code == 401
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ctstat.access"]
    assert line["event"] == "http" and datetime.fromisoformat(line["ts"]).utcoffset() is not None, line


def test_a_valid_upload_is_taken_in_once_under_a_server_name(site: Site) -> None:
    r = site.api(WARD, HM / "00301-thanh-tri.xlsx", name="../../../etc/cron.d/x.xlsx")
    assert r.status_code == 200, r.text
    entry = r.json()
    assert entry["valid"] is True and entry["unit"] == WARD and entry["outcome"] == "accepted"
    assert entry["issues"] == [] and re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}\.xlsx", entry["path"])
    (stored,) = inbox_files(site.cfg)
    assert stored.relative_to(site.cfg.inbox).as_posix() == f"portal/{WARD}/{entry['path']}"
    assert not (Path("/etc/cron.d") / "x.xlsx").exists()
    ledger = site.ledger()
    (row,) = ledger.rows()
    (up,) = ledger.uploads()
    assert row.valid and row.unit == WARD and up.submission_id == row.id and up.client_name.endswith("x.xlsx")
    assert row.sha256 == entry["sha256"] == up.report.sha256
    # the nightly run finds it recorded: nothing read again, nothing recorded twice
    result = run_job(site.cfg, site.catalogue)
    assert result.validated == []
    assert len(site.ledger().rows()) == 1
    assert job_status(site.cfg, site.catalogue)["by_parent"]["008 Quận Hoàng Mai"]["valid"] == 1


def test_another_units_file_is_refused_and_not_kept(site: Site) -> None:
    r = site.api(OTHER, HM / "00301-thanh-tri.xlsx")
    assert r.status_code == 403 and r.json()["outcome"] == "refused"
    assert inbox_files(site.cfg) == []
    assert not any((site.cfg.out / "portal").rglob("*.xlsx"))  # neither kept aside nor left in staging
    (up,) = site.ledger().uploads()
    assert up.outcome == "refused" and up.sender == OTHER and up.report.unit == WARD and up.kept is None
    assert site.ledger().rows() == []
    # the district's token takes any of its communes' files, not another district's
    assert site.api("008", HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"


def test_an_invalid_upload_is_kept_aside_and_does_not_replace_a_valid_one(site: Site) -> None:
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["valid"] is True
    r = site.api(WARD, FAULTY / "01-so-am.xlsx")
    assert r.status_code == 200
    entry = r.json()
    assert entry["valid"] is False and entry["outcome"] == "invalid"
    assert [(i["code"], i["sheet"], i["cell"]) for i in entry["issues"]] == [("negative-value", "Biểu 1", "E11")]
    assert "Số âm" in entry["issues"][0]["message"]
    assert len(inbox_files(site.cfg)) == 1  # only the valid one is in the inbox
    kept = list((site.cfg.out / "portal" / "kept" / WARD).iterdir())
    assert len(kept) == 2  # the file and its marked-up copy
    ledger = site.ledger()
    assert [r.valid for r in ledger.rows()] == [True]
    assert [u.outcome for u in ledger.uploads()] == ["invalid", "accepted"]
    st = job_status(site.cfg, site.catalogue)
    assert st["by_parent"]["008 Quận Hoàng Mai"]["valid"] == 1  # still current: the valid one
    # the marked-up copy: to the ward that sent it, not to another ward
    copy = site.sign_in(WARD).get(entry["marked_up"])
    assert copy.status_code == 200 and copy.content[:2] == b"PK"
    assert site.sign_in(OTHER).get(entry["marked_up"]).status_code == 404


def test_a_marked_up_copy_sent_back_is_not_a_submission(site: Site, tmp_path: Path) -> None:
    """A ward downloads its marked-up copy and sends it back (corrected or not): it is the copy, not a form."""
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["valid"] is True
    first = site.api(WARD, FAULTY / "01-so-am.xlsx").json()
    copy = tmp_path / "00301-thanh-tri.xlsx"
    copy.write_bytes(site.sign_in(WARD).get(first["marked_up"]).content)
    entry = site.api(WARD, copy).json()
    assert entry["outcome"] == "invalid" and [i["code"] for i in entry["issues"]] == ["marked-up-copy"]
    assert entry["marked_up"] is None  # no copy of a copy
    assert "bản đánh dấu lỗi" in entry["issues"][0]["message"]
    assert len(inbox_files(site.cfg)) == 1 and [r.valid for r in site.ledger().rows()] == [True]


def test_unreadable_and_hostile_files_are_one_issue_each(site: Site, tmp_path: Path) -> None:
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"PK\x03\x04" + b"\x00" * 500)
    text = tmp_path / "note.txt"
    text.write_text("xin chào", encoding="utf-8")
    tiny = tmp_path / "t.xlsx"
    tiny.write_bytes(b"")
    cases = {
        junk: "unreadable-workbook",
        text: "not-a-workbook",  # what it is is said (a text file), not just that it cannot be read
        tiny: "not-a-workbook",  # an empty file
        FAULTY / "09-tep-hong.xlsx": "unreadable-workbook",
        FAULTY / "12-co-mat-khau.xlsx": "encrypted-workbook",
    }
    for f, code in cases.items():
        r = site.api(WARD, f)
        assert r.status_code == 200, (f, r.text)
        e = r.json()
        assert e["valid"] is False and e["outcome"] == "invalid", f
        assert [(i["code"], i["severity"]) for i in e["issues"]] == [(code, "error")], (f, e["issues"])
        assert e["errors"] == 1 and e["warnings"] == 0 and e["issues"][0]["message"], f
    assert inbox_files(site.cfg) == []
    assert list((site.cfg.out / "portal" / "incoming").iterdir()) == []


def test_uploads_past_the_limit_are_stopped_while_streaming(site: Site) -> None:
    big = b"PK\x03\x04" + b"\x00" * (2 * 1024 * 1024)
    auth = {"Authorization": f"Bearer {site.tokens[WARD]}"}
    r = site.client.post("/api/v1/submissions", files={"file": ("big.xlsx", big)}, headers=auth)
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.xlsx"\r\n\r\n'
        for _ in range(40):
            yield b"\x00" * 65536
        yield b"\r\n--B--\r\n"

    headers = {**auth, "Content-Type": "multipart/form-data; boundary=B"}
    r = site.client.post("/api/v1/submissions", content=chunks(), headers=headers)
    assert r.status_code == 413 and "1 MB" in r.json()["error"]
    assert list((site.cfg.out / "portal" / "incoming").iterdir()) == []
    assert site.ledger().uploads() == []


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"not multipart", "text/plain"),
        (b'--B\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--B--\r\n', "multipart/form-data; boundary=B"),
        (b"garbage without a boundary line", "multipart/form-data; boundary=B"),
    ],
)
def test_malformed_requests_are_400(site: Site, body: bytes, ctype: str) -> None:
    headers = {"Authorization": f"Bearer {site.tokens[WARD]}", "Content-Type": ctype}
    r = site.client.post("/api/v1/submissions", content=body, headers=headers)
    assert r.status_code == 400 and "error" in r.json()


def test_two_files_in_one_request_are_refused(site: Site) -> None:
    f = (HM / "00301-thanh-tri.xlsx").read_bytes()
    auth = {"Authorization": f"Bearer {site.tokens[WARD]}"}
    files = [("file", ("a.xlsx", f)), ("file", ("b.xlsx", f))]
    r = site.client.post("/api/v1/submissions", files=files, headers=auth)
    assert r.status_code == 400
    assert inbox_files(site.cfg) == []


def test_too_many_uploads_a_minute_is_429(site: Site) -> None:
    f = (FAULTY / "01-so-am.xlsx").read_bytes()
    auth = {"Authorization": f"Bearer {site.tokens[WARD]}"}
    codes = [
        site.client.post("/api/v1/submissions", files={"file": ("a.xlsx", f)}, headers=auth).status_code
        for _ in range(9)
    ]
    assert codes == [200] * 8 + [429]
    r = site.client.post("/api/v1/submissions", files={"file": ("a.xlsx", f)}, headers=auth)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert site.api(OTHER, FAULTY / "02-so-dang-chu.xlsx").status_code == 200  # per token
    assert len(site.ledger().uploads()) == 9


def test_status_is_the_districts_only(site: Site) -> None:
    site.api(WARD, HM / "00301-thanh-tri.xlsx")
    r = site.client.get("/api/v1/status", headers={"Authorization": f"Bearer {site.tokens['008']}"})
    assert r.status_code == 200
    assert r.json()["by_parent"] == job_status(site.cfg, site.catalogue)["by_parent"]
    r = site.client.get("/api/v1/status", headers={"Authorization": f"Bearer {site.tokens[WARD]}"})
    assert r.status_code == 403


def test_a_long_run_holding_the_lock_is_503_and_nothing_is_taken_in(site: Site) -> None:
    site.portal.intake.lock_wait = 0.2
    with job_lock(site.cfg.out):
        r = site.api(WARD, HM / "00301-thanh-tri.xlsx")
    assert r.status_code == 503 and r.headers["retry-after"]
    assert inbox_files(site.cfg) == [] and site.ledger().uploads() == []
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").status_code == 200  # and afterwards it works


def test_uploads_during_a_run_are_recorded_exactly_once(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploads and runs meet in both orders, each order forced rather than left to the scheduler (it was: the test
    passed or failed by the threads' timing): an upload arriving while a run holds the job lock waits for it and is
    recorded after it; a run starting while the portal records an upload does nothing, and says so. Every file is
    recorded once, by one of them."""
    import ctstat.job.run as run_module
    import ctstat.web.intake as intake_module

    for p in sorted(HM.glob("*.xlsx"))[7:]:
        shutil.copyfile(p, site.cfg.inbox / p.name)  # files the runs take in
    wards = sorted(HM.glob("*.xlsx"))[:7]  # files the wards upload
    in_run, let_run, in_intake, let_intake, at_lock = (threading.Event() for _ in range(5))

    judge, record, locked = run_module.judge_arrivals, intake_module.record, intake_module._locked

    def run_stops_after_judging(*a: Any, **k: Any) -> Any:
        out = judge(*a, **k)
        in_run.set()
        assert let_run.wait(60)
        return out

    def intake_stops_while_recording(*a: Any, **k: Any) -> Any:
        in_intake.set()
        assert let_intake.wait(60)
        return record(*a, **k)

    def intake_reaches_the_lock(*a: Any, **k: Any) -> Any:
        at_lock.set()
        return locked(*a, **k)

    monkeypatch.setattr(run_module, "judge_arrivals", run_stops_after_judging)
    monkeypatch.setattr(intake_module, "_locked", intake_reaches_the_lock)
    codes: dict[str, int] = {}

    def upload(p: Path) -> None:
        codes[p.name[:5]] = site.api(p.name[:5], p).status_code

    # 1. a run holds the lock; an upload arrives, is judged, and waits at the lock
    runs: list[RunResult] = []
    run = threading.Thread(target=lambda: runs.append(run_job(site.cfg, site.catalogue)))
    run.start()
    assert in_run.wait(60)
    first = threading.Thread(target=upload, args=(wards[0],))
    first.start()
    assert at_lock.wait(60)
    assert first.is_alive() and not (site.cfg.inbox / "portal").exists()  # not in the inbox while the run holds it
    let_run.set()
    run.join(60)
    first.join(60)
    assert [Path(f.path).name for f in runs[0].validated] == [p.name for p in sorted(HM.glob("*.xlsx"))[7:]]
    assert codes == {wards[0].name[:5]: 200}
    monkeypatch.setattr(run_module, "judge_arrivals", judge)

    # 2. the portal records an upload (under the lock) while a run starts: the run does nothing, and says so
    monkeypatch.setattr(intake_module, "record", intake_stops_while_recording)
    second = threading.Thread(target=upload, args=(wards[1],))
    second.start()
    assert in_intake.wait(60)
    with pytest.raises(UsageError, match="another ctstat run is working"):
        run_job(site.cfg, site.catalogue)
    let_intake.set()
    second.join(60)
    assert codes[wards[1].name[:5]] == 200
    monkeypatch.setattr(intake_module, "record", record)

    # 3. the other wards upload; the next run finds every file recorded, once
    for p in wards[2:]:
        upload(p)
    assert list(codes.values()) == [200] * 7
    assert run_job(site.cfg, site.catalogue).validated == []
    ledger = site.ledger()
    rows = ledger.rows()
    in_inbox = sorted(p.relative_to(site.cfg.inbox).as_posix() for p in inbox_files(site.cfg))
    assert sorted(r.path for r in rows) == in_inbox
    assert len({r.path for r in rows}) == len(rows) == 14  # every file once
    assert sum(r.path.startswith("portal/") for r in rows) == 7 and len(ledger.uploads()) == 7
    assert job_status(site.cfg, site.catalogue)["complete"] is True


# --- the pages ---------------------------------------------------------------------------------------------------


def test_sign_in_sets_a_strict_cookie_and_checks_the_origin(site: Site) -> None:
    c = TestClient(site.app, base_url="http://portal.test")
    r = c.post("/dang-nhap", data={"token": site.tokens[WARD]}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and site.tokens[WARD] not in cookie
    r = c.post("/dang-nhap", data={"token": site.tokens[WARD]}, headers={"Origin": "http://evil.test"})
    assert r.status_code == 403
    r = c.post("/dang-nhap", data={"token": "00301-aaaaa-bbbbb-ccccc-ddddd"})
    assert r.status_code == 401 and "không đúng" in r.text


def test_wrong_tokens_are_rate_limited(site: Site) -> None:
    codes = [site.client.post("/dang-nhap", data={"token": f"0030{i % 10}-x"}).status_code for i in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429


def test_a_ward_goes_from_a_blank_form_to_valid_in_the_browser(site: Site) -> None:
    c = site.sign_in(WARD)
    page = c.get("/xa")
    assert page.status_code == 200 and "Phường Thanh Trì" in page.text and "Chưa có báo cáo hợp lệ" in page.text
    blank = c.get("/xa/bieu-mau")
    assert blank.status_code == 200 and blank.content[:2] == b"PK"
    f = FAULTY / "01-so-am.xlsx"
    # without the page's CSRF value: refused, nothing kept
    r = c.post("/xa/nop", files={"file": (f.name, f.read_bytes())}, data={"csrf": "0" * 40})
    assert r.status_code == 403 and site.ledger().uploads() == []
    csrf = csrf_of(page.text)
    r = c.post("/xa/nop", files={"file": (f.name, f.read_bytes())}, data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    result = c.get(r.headers["location"])
    assert "Chưa đạt: 1 lỗi cần sửa" in result.text and "Biểu 1!E11" in result.text and "Số âm (-5)" in result.text
    assert "Tải bản đánh dấu lỗi" in result.text
    good = HM / "00301-thanh-tri.xlsx"
    r = c.post("/xa/nop", files={"file": (good.name, good.read_bytes())}, data={"csrf": csrf})
    assert r.status_code == 200 and "Hợp lệ: đã nhận báo cáo của 00301 Phường Thanh Trì" in r.text
    page = c.get("/xa")
    assert "Hợp lệ: huyện đã nhận" in page.text and page.text.count("/lan-nop/") == 2


def test_a_ward_sees_nothing_of_other_wards(site: Site) -> None:
    other = site.api(OTHER, FAULTY / "02-so-dang-chu.xlsx").json()
    assert other["outcome"] == "invalid"
    site.api(OTHER, HM / "00304-vinh-hung.xlsx")
    c = site.sign_in(WARD)
    page = c.get("/xa").text
    assert "00304" not in page and "Vĩnh Hưng" not in page
    assert c.get(f"/lan-nop/{other['upload']}").status_code == 404
    assert c.get(other["marked_up"]).status_code == 404
    r = c.get("/huyen", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/xa"
    assert c.get("/tai/tong-hop/0").status_code == 403
    (row,) = site.ledger().rows()
    assert c.get(f"/tai/tep/{row.id}").status_code == 404


def test_hostile_client_names_are_shown_as_text(site: Site) -> None:
    name = '<script>alert(1)</script>\x1b[31m".xlsx'
    site.api(WARD, FAULTY / "01-so-am.xlsx", name=name)
    page = site.sign_in(WARD).get("/xa").text
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "\x1b" not in page


def test_the_district_page_and_its_roll_up(site: Site) -> None:
    for p in sorted(HM.glob("*.xlsx")):
        assert site.api(p.name[:5], p).status_code == 200
    site.api(WARD, FAULTY / "01-so-am.xlsx")
    c = site.sign_in("008")
    page = c.get("/huyen")
    assert page.status_code == 200 and "Tình hình nộp báo cáo" in page.text
    assert "Không còn đơn vị nào cần đôn đốc" in page.text and "Chưa có bảng tổng hợp" in page.text
    r = c.post("/huyen/tong-hop", data={"csrf": "bad"})
    assert r.status_code == 403
    r = c.post("/huyen/tong-hop", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/huyen?tb=written"
    page = c.get("/huyen?tb=written").text
    assert "Đã tổng hợp" in page
    links = re.findall(r'href="(/tai/tong-hop/\d+)"', page)
    assert links
    book = c.get(links[0])
    assert book.status_code == 200 and len(book.content) > 1000
    # the district sees every upload, the faulty one included
    up = site.ledger().uploads()[0]
    assert up.outcome == "invalid" and c.get(f"/lan-nop/{up.id}").status_code == 200


def test_the_district_page_says_when_its_rollup_is_no_longer_current(site: Site, make_form: MakeForm) -> None:
    """A ward sends new figures after the rollup: the page still offers the old workbook, marked as no longer
    current with the reason, and the job's folder no longer holds it where current workbooks are."""
    for p in sorted(HM.glob("*.xlsx")):
        assert site.api(p.name[:5], p).status_code == 200
    c = site.sign_in("008")
    page = c.get("/huyen").text
    assert c.post("/huyen/tong-hop", data={"csrf": csrf_of(page)}).status_code == 200
    page = c.get("/huyen").text
    assert "KHÔNG CÒN HIỆN HÀNH" not in page and re.findall(r'href="(/tai/tong-hop/\d+)"', page)
    assert site.api(WARD, make_form(unit=WARD, seed=7)).json()["outcome"] == "accepted"  # new, valid figures
    page = c.get("/huyen").text
    assert "KHÔNG CÒN HIỆN HÀNH" in page and "00301 Phường Thanh Trì: đã có tệp hợp lệ mới" in page
    assert "(không còn hiện hành)" in page
    (link,) = re.findall(r'href="(/tai/tong-hop/\d+)"', page)
    assert c.get(link).status_code == 200  # still there to look at, under its mark
    folder = site.cfg.out / "tong-hop"
    assert not list(folder.glob("*.xlsx")) and list((folder / "khong-con-hien-hanh").glob("*.xlsx"))
    assert "(không còn hiện hành)" not in c.get(f"/huyen?tb={run_job(site.cfg, site.catalogue).rollup_state}").text


def test_the_district_page_lists_each_wards_resubmissions(site: Site, make_form: MakeForm) -> None:
    """A ward that sent the period more than once: the district sees each file, when, valid or not, and which one
    counts, as `ctstat status` lists them; a file name from the inbox is shown as text."""
    c = site.sign_in("008")
    assert 'id="nop-lai"' not in c.get("/huyen").text  # nobody has sent twice yet
    assert site.api(WARD, HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
    assert site.api(WARD, make_form(unit=WARD, seed=7)).json()["outcome"] == "accepted"
    hostile = site.cfg.inbox / os.fsdecode(b"00301 <i>m\xf4i.xlsx")  # markup, and not UTF-8
    shutil.copy(make_form(unit=WARD, seed=8), hostile)
    run_job(site.cfg, site.catalogue)
    page = c.get("/huyen").text
    part = page[page.index('id="nop-lai"') : page.index("</section>", page.index('id="nop-lai"'))]
    assert '<strong>00301 Phường Thanh Trì</strong>: nộp 3 lần; hiện hành: <span class="ok">hợp lệ</span>' in part
    assert OTHER not in part
    files = re.findall(r"<li( class=\"current\")?>(.*?)</li>", part)
    assert len(files) == 3 and [bool(cur) for cur, _ in files].count(True) == 1
    assert all("hợp lệ" in text for _, text in files) and "portal/00301/" in files[0][1]
    assert "00301 &lt;i&gt;m\\udcf4i.xlsx" in part and "<i>m" not in part
    status = job_status(site.cfg, site.catalogue)["resubmissions"][WARD]
    assert [f["current"] for f in status] == [bool(cur) for cur, _ in files]


def test_every_response_is_hardened_and_errors_show_no_traceback(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctstat.web.ward as web

    c = site.sign_in(WARD)

    def boom(*a: object, **k: object) -> dict[str, object]:
        raise RuntimeError("secret internals /srv/ctstat")

    monkeypatch.setattr(web, "_ward_state", boom)
    for r in (c.get("/"), c.get("/nowhere"), c.get("/static/ctstat.css"), c.get("/xa"), site.client.get("/api/v1/x")):
        for name, value in DOCUMENTED.items():  # the README's values, written out in test_access
            assert r.headers.get_list(name) == [value], (r.url, name)
    r = c.get("/xa")
    assert r.status_code == 500 and "mã tham chiếu" in r.text
    assert "Traceback" not in r.text and "secret internals" not in r.text and "RuntimeError" not in r.text
    assert "<script" not in site.client.get("/").text  # no page needs JavaScript


def test_the_ledger_of_the_portal_is_plain_sqlite(site: Site) -> None:
    site.api(WARD, HM / "00301-thanh-tri.xlsx")
    db = sqlite3.connect(site.cfg.ledger_path)
    (n,) = db.execute("SELECT count(*) FROM uploads WHERE outcome='accepted'").fetchone()
    assert n == 1
    db.close()


def test_the_api_s_errors_are_vietnamese_with_english_beside(site: Site) -> None:
    """Every error the JSON API answers says it in Vietnamese (`error`), like the rest of the portal; the English
    text a client may branch on stays, as `error_en`."""
    from ctstat.model.messages import API_ERRORS_VI

    c = site.client
    f = HM / "00301-thanh-tri.xlsx"
    answers = [
        c.post("/api/v1/submissions", files={"file": (f.name, f.read_bytes())}),  # no token
        c.get("/api/v1/status", headers={"Authorization": f"Bearer {site.tokens[WARD]}"}),  # a ward's token
        c.get("/api/v1/no-such-thing"),
        site.api(OTHER, f),  # another unit's file
    ]
    assert [r.status_code for r in answers] == [401, 403, 404, 403]
    for r in answers:
        body = r.json()
        assert body["error"] == API_ERRORS_VI[body["error_en"]], body
        assert re.search(r"[ơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđ]", body["error"]), body


def test_serve_puts_what_start_up_loaded_out_of_the_collectors_sight(
    cfg: JobConfig, catalogue: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the server loads at start (pandas, pandera, the catalogue's checks) lives as long as it does: frozen
    before it serves, so that a full collection, a few times a second under load, does not walk it all again."""
    import gc
    import logging

    import uvicorn

    from ctstat.web.app import serve

    issue_tokens(cfg, tmp_path / "tokens.csv")
    seen: list[int] = []

    class Server:
        def __init__(self, config: Any) -> None:
            self.config = config

        def run(self) -> None:
            seen.append(gc.get_freeze_count())
            self.config.app.state.portal.intake.close()

    monkeypatch.setattr(uvicorn, "Server", Server)
    loggers = [logging.getLogger(n) for n in ("ctstat.access", "ctstat.serve")]
    handlers = [list(lg.handlers) for lg in loggers]
    gc.unfreeze()
    try:
        serve(cfg, catalogue, port=0)
    finally:
        gc.unfreeze()
        for lg, hs in zip(loggers, handlers, strict=True):
            lg.handlers[:] = hs
    assert seen and seen[0] > 10_000, seen
