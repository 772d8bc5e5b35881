"""Security controls tested where they take effect.

- The portal's headers, on real responses of every route and every error page, against the values the README
  documents (written out here, not taken from `ctstat.web.app`).
- Each access check with a row that *would* be served to its owner: the owner gets it, another ward does not.
  Without the check, the other ward would get it too, and the test fails.
- `ctstat export`: text fields that a spreadsheet would run are neutralised in the file the command writes.
"""

from __future__ import annotations

import csv
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from ctstat.cli.commands import app as cli_app
from ctstat.job.config import JobConfig
from ctstat.job.ledger import Ledger
from ctstat.job.run import job_lock, run_job
from ctstat.model.catalogue import Catalogue
from ctstat.model.period import Period
from ctstat.web.app import create_app
from ctstat.web.tokens import issue_tokens

from .conftest import SAMPLES

HM = SAMPLES / "wards" / "2025-H1-hoang-mai"
FAULTY = SAMPLES / "faulty"
WARD, OTHER, DISTRICT = "00301", "00304", "008"

#: README, "Walls": every response carries these, whatever its route or status
DOCUMENTED = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
NO_STORE = "no-store"  #: every response but the stylesheet (max-age=3600)


@dataclass
class World:
    cfg: JobConfig
    app: Any
    tokens: dict[str, str]
    copy_row: int  #: a submission of OTHER recorded by a run, with a marked-up copy
    upload: int  #: an upload of OTHER, invalid, with a marked-up copy

    def client(self, unit: str | None = None) -> TestClient:
        c = TestClient(self.app, raise_server_exceptions=False, base_url="http://portal.test")
        if unit is not None:
            r = c.post("/dang-nhap", data={"token": self.tokens[unit]}, follow_redirects=False)
            assert r.status_code == 303
        return c

    def bearer(self, unit: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[unit]}"}


@pytest.fixture(scope="module")
def world(catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("portal")
    (base / "inbox").mkdir()
    cfg = JobConfig(
        period=Period.parse("2025-H1"),
        unit=DISTRICT,
        inbox=base / "inbox",
        out=base / "out",
        deadline=None,
        log=base / "out" / "ctstat.log",
        allow_partial=False,
    )
    cfg = replace(cfg, upload_limit_mb=1)
    tokens = {i.unit: i.token for i in issue_tokens(cfg, base / "tokens.csv")}
    # OTHER's faulty file arrives in the inbox; the run records it with a marked-up copy
    shutil.copy(FAULTY / "02-so-dang-chu.xlsx", cfg.inbox / "02-so-dang-chu.xlsx")
    run_job(cfg, catalogue)
    ledger = Ledger(cfg.ledger_path, readonly=True)
    (row,) = [r for r in ledger.rows() if r.unit == OTHER]
    ledger.close()
    assert row.annotated and not row.valid
    application = create_app(cfg, catalogue)
    w = World(cfg, application, tokens, row.id, 0)
    api = w.client()
    r = api.post(
        "/api/v1/submissions",
        files={"file": ("x.xlsx", (FAULTY / "02-so-dang-chu.xlsx").read_bytes())},
        headers=w.bearer(OTHER),
    )
    assert r.json()["outcome"] == "invalid" and r.json()["marked_up"]
    w.upload = r.json()["upload"]
    for f in sorted(HM.glob("*.xlsx")):  # then every ward sends its valid form, and the district rolls up
        r = api.post("/api/v1/submissions", files={"file": (f.name, f.read_bytes())}, headers=w.bearer(f.name[:5]))
        assert r.json()["outcome"] == "accepted", r.text
    assert run_job(cfg, catalogue).rollup_state == "written"
    yield w
    application.state.portal.intake.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


# --- headers -------------------------------------------------------------------------------------------------------


def assert_hardened(r: Any, cache: str = NO_STORE) -> None:
    where = (r.request.method, r.request.url.path, r.status_code)
    for name, value in DOCUMENTED.items():
        assert r.headers.get_list(name) == [value], (*where, name, r.headers.get_list(name))
    assert r.headers.get_list("cache-control") == [cache], where
    assert "server" not in r.headers or "uvicorn" not in r.headers["server"].lower(), where


def test_every_route_and_every_error_page_carries_the_documented_headers(world: World) -> None:
    ward, district, anon = world.client(WARD), world.client(DISTRICT), world.client()
    csrf = csrf_of(ward.get("/xa").text)
    form = (HM / "00301-thanh-tri.xlsx").read_bytes()
    seen: dict[str, set[int]] = {}

    def check(r: Any, status: int, cache: str = NO_STORE) -> None:
        assert r.status_code == status, (r.request.method, r.request.url.path, r.status_code, r.text[:200])
        assert_hardened(r, cache)
        seen.setdefault(r.request.url.path.rstrip("0123456789"), set()).add(status)

    no = {"follow_redirects": False}
    check(anon.get("/"), 200)
    check(ward.get("/", **no), 303)
    check(anon.post("/dang-nhap", data={"token": "00301-aaaaa-bbbbb-ccccc-ddddd"}), 401)
    check(world.client().post("/dang-nhap", data={"token": world.tokens[WARD]}, **no), 303)
    check(anon.post("/dang-nhap", data={"token": "x"}, headers={"Origin": "http://evil.test"}), 403)
    check(ward.get("/xa"), 200)
    check(district.get("/xa", **no), 303)
    check(anon.get("/xa", **no), 303)
    check(ward.get("/xa/bieu-mau"), 200)
    check(district.get("/xa/bieu-mau"), 404)
    check(ward.post("/xa/nop", files={"file": ("a.xlsx", form)}, data={"csrf": "0" * 40}), 403)
    check(ward.post("/xa/nop", files={"file": ("a.xlsx", form)}, data={"csrf": csrf}, **no), 303)
    check(ward.get(f"/lan-nop/{world.upload}"), 404)
    check(world.client(OTHER).get(f"/lan-nop/{world.upload}"), 200)
    check(ward.get(f"/tai/lan-nop/{world.upload}"), 404)
    check(world.client(OTHER).get(f"/tai/lan-nop/{world.upload}"), 200)
    check(ward.get(f"/tai/tep/{world.copy_row}"), 404)
    check(district.get(f"/tai/tep/{world.copy_row}"), 200)
    check(district.get("/huyen"), 200)
    check(ward.get("/huyen", **no), 303)
    check(ward.post("/huyen/tong-hop", data={"csrf": csrf}), 403)
    check(district.post("/huyen/tong-hop", data={"csrf": "bad"}), 403)
    check(ward.post("/huyen/duyet", data={"csrf": csrf, "action": "approve", "unit": OTHER}), 403)
    check(district.post("/huyen/duyet", data={"csrf": "bad", "action": "approve", "unit": WARD}), 403)
    check(district.get("/tai/tong-hop/0"), 200)
    check(district.get("/tai/tong-hop/99"), 404)
    check(ward.get("/tai/tong-hop/0"), 403)
    check(anon.post("/api/v1/submissions", files={"file": ("a.xlsx", form)}), 401)
    check(anon.post("/api/v1/submissions", files={"file": ("a.xlsx", form)}, headers=world.bearer(OTHER)), 403)
    check(
        anon.post("/api/v1/submissions", content=b"x", headers={**world.bearer(WARD), "Content-Type": "text/plain"}),
        400,
    )
    big = {"file": ("big.xlsx", b"PK\x03\x04" + b"\0" * (2 * 2**20))}
    check(anon.post("/api/v1/submissions", files=big, headers=world.bearer(WARD)), 413)
    check(anon.get("/api/v1/status", headers=world.bearer(DISTRICT)), 200)
    check(anon.get("/api/v1/status", headers=world.bearer(WARD)), 403)
    check(anon.get("/api/v1/status"), 401)
    # the report typed on the page (web/entry.py)
    check(ward.get("/xa/nhap"), 200)
    check(district.get("/xa/nhap"), 404)
    check(ward.post("/xa/nhap/bat-dau", data={"csrf": "0" * 40, "version": "0"}), 403)
    check(ward.post("/xa/nhap/bat-dau", data={"csrf": csrf, "version": "0", "tu": "trong"}, **no), 303)
    check(ward.get("/xa/nhap/1"), 200)
    check(ward.get("/xa/nhap/9"), 404)
    check(ward.post("/xa/nhap/1", data={"csrf": csrf, "version": "1", "XX99/*/*": "1"}), 400)
    check(ward.post("/xa/nhap/1", data={"csrf": csrf, "version": "1", "TE01/0-2/sex:nam": "1.234"}), 422)
    check(ward.post("/xa/nhap/1", data={"csrf": csrf, "version": "1", "TE01/0-2/sex:nam": "5"}, **no), 303)
    check(ward.post("/xa/nhap/1", data={"csrf": csrf, "version": "1", "TE01/0-2/sex:nam": "6"}), 409)
    check(ward.post("/xa/nhap/kiem-tra", data={"csrf": "bad"}), 403)
    check(ward.post("/xa/nhap/nop", data={"csrf": "bad"}), 403)
    check(ward.post("/xa/nhap/bia", data={"csrf": "bad"}), 403)
    check(ward.get("/xa/nhap/tep"), 404)
    check(district.get(f"/huyen/nhap/{WARD}"), 200)
    check(ward.get(f"/huyen/nhap/{WARD}"), 403)
    check(anon.get("/static/ctstat.css"), 200, cache="max-age=3600")
    check(anon.get("/static/entry.js"), 200, cache="max-age=3600")
    check(anon.get("/healthz"), 200)
    check(anon.get("/nowhere"), 404)
    check(anon.get("/api/v1/nowhere"), 404)
    check(anon.get("/dang-nhap", **no), 303)  # a form's answer opened by its address: to the form's page
    check(anon.put("/dang-nhap"), 405)  # sign-in is POST only
    check(anon.delete("/api/v1/submissions"), 405)
    check(district.post("/dang-xuat", data={"csrf": "bad"}), 403)
    check(ward.post("/dang-xuat", data={"csrf": csrf}, **no), 303)
    # every route the portal has was requested above
    routes = {r.path.split("{")[0] for r in world.app.app.routes}
    assert routes <= set(seen), routes - set(seen)


def test_a_server_error_and_too_many_attempts_carry_the_headers(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctstat.web.ward as web

    def boom(*a: object, **k: object) -> dict[str, object]:
        raise RuntimeError("secret internals")

    c = world.client(WARD)
    monkeypatch.setattr(web, "_ward_state", boom)
    r = c.get("/xa")
    assert r.status_code == 500 and "secret internals" not in r.text
    assert_hardened(r)
    monkeypatch.undo()
    # a long run holding the job lock: 503, on the API and on the page
    intake = world.app.app.state.portal.intake
    monkeypatch.setattr(intake, "lock_wait", 0.1)
    form = {"file": ("a.xlsx", (HM / "00301-thanh-tri.xlsx").read_bytes())}
    with job_lock(world.cfg.out):
        r = world.client().post("/api/v1/submissions", files=form, headers=world.bearer(WARD))
        assert r.status_code == 503 and r.headers["retry-after"] == "60"
        assert_hardened(r)
        r = c.post("/xa/nop", files=form, data={"csrf": csrf_of(c.get("/xa").text)})
        assert r.status_code == 503 and r.headers["retry-after"] == "60"
        assert_hardened(r)
    monkeypatch.undo()
    fresh = create_app(world.cfg, world.app.app.state.portal.catalogue)
    anon = TestClient(fresh, raise_server_exceptions=False, base_url="http://portal.test")
    codes = [anon.post("/dang-nhap", data={"token": f"0030{i}-x"}) for i in range(11)]
    assert [r.status_code for r in codes] == [401] * 10 + [429]
    assert_hardened(codes[-1])
    fresh.app.state.portal.intake.close()


# --- access checks: the owner gets it, another ward does not -----------------------------------------------------


def test_a_wards_result_page_is_its_own(world: World) -> None:
    path = f"/lan-nop/{world.upload}"
    mine = world.client(OTHER).get(path)
    assert mine.status_code == 200 and "Biểu 1!F12" in mine.text
    assert world.client(DISTRICT).get(path).status_code == 200
    theirs = world.client(WARD).get(path)
    assert theirs.status_code == 404 and "F12" not in theirs.text and "Không có lần nộp này." in theirs.text


def test_a_wards_marked_up_copy_is_its_own(world: World) -> None:
    path = f"/tai/lan-nop/{world.upload}"
    mine = world.client(OTHER).get(path)
    assert mine.status_code == 200 and mine.content[:2] == b"PK"
    assert world.client(DISTRICT).get(path).content[:2] == b"PK"
    theirs = world.client(WARD).get(path)
    assert theirs.status_code == 404 and theirs.content[:2] != b"PK"


def test_a_submission_copy_is_its_wards_own(world: World) -> None:
    path = f"/tai/tep/{world.copy_row}"
    mine = world.client(OTHER).get(path)
    assert mine.status_code == 200 and mine.content[:2] == b"PK"
    assert world.client(DISTRICT).get(path).content[:2] == b"PK"
    theirs = world.client(WARD).get(path)
    assert theirs.status_code == 404 and theirs.content[:2] != b"PK"


def test_a_recorded_copy_outside_the_output_folder_is_not_served_even_to_its_owner(
    world: World, tmp_path: Path
) -> None:
    """The ledger says where a copy is; a path that leaves the output folder (written there by another tool, or a
    link put in the folder) is not served, and an upload without a copy has none to serve."""
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the portal", encoding="utf-8")
    link = world.cfg.out / "portal" / "link.xlsx"
    link.symlink_to(outside)
    db = sqlite3.connect(world.cfg.ledger_path)
    (was,) = db.execute("SELECT annotated FROM uploads WHERE id=?", (world.upload,)).fetchone()
    owner = world.client(OTHER)
    try:
        for where in (str(outside), str(link), str(world.cfg.out / "portal" / "nowhere.xlsx")):
            db.execute("UPDATE uploads SET annotated=? WHERE id=?", (where, world.upload))
            db.commit()
            r = owner.get(f"/tai/lan-nop/{world.upload}")
            assert r.status_code == 404 and "Không có tệp này." in r.text and "not for the portal" not in r.text, where
    finally:
        db.execute("UPDATE uploads SET annotated=? WHERE id=?", (was, world.upload))
        db.commit()
        db.close()
        link.unlink()
    assert owner.get(f"/tai/lan-nop/{world.upload}").status_code == 200  # the real copy, inside: served
    # a valid upload has no marked-up copy
    valid = world.client().post(
        "/api/v1/submissions",
        files={"file": ("v.xlsx", (HM / "00301-thanh-tri.xlsx").read_bytes())},
        headers=world.bearer(WARD),
    )
    assert valid.json()["marked_up"] is None
    r = world.client(WARD).get(f"/tai/lan-nop/{valid.json()['upload']}")
    assert r.status_code == 404 and "Không có tệp này." in r.text


def test_a_csrf_value_needs_the_session_it_was_made_for(world: World) -> None:
    keys = world.app.app.state.portal.keys
    cookie = keys.session(WARD)
    assert keys.csrf_ok(cookie, keys.csrf(cookie))
    assert not keys.csrf_ok(None, keys.csrf(""))  # no session: no value is right
    assert not keys.csrf_ok("", keys.csrf(""))
    assert not keys.csrf_ok(cookie, None) and not keys.csrf_ok(cookie, "")
    assert not keys.csrf_ok(keys.session(OTHER), keys.csrf(cookie))  # another session's value


def test_the_district_pages_are_the_districts(world: World) -> None:
    district, ward = world.client(DISTRICT), world.client(WARD)
    assert district.get("/huyen").status_code == 200
    r = ward.get("/huyen", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/xa"
    book = district.get("/tai/tong-hop/0")
    assert book.status_code == 200 and book.content[:2] == b"PK"
    r = ward.get("/tai/tong-hop/0")
    assert r.status_code == 403 and r.content[:2] != b"PK"
    # the roll-up button: the district's, not a ward's (each with a valid CSRF value of its own page)
    r = ward.post("/huyen/tong-hop", data={"csrf": csrf_of(ward.get("/xa").text)}, follow_redirects=False)
    assert r.status_code == 403
    r = district.post("/huyen/tong-hop", data={"csrf": csrf_of(district.get("/huyen").text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/huyen?tb=")


def test_the_api_status_is_the_districts_and_a_file_its_wards(world: World) -> None:
    c = world.client()
    r = c.get("/api/v1/status", headers=world.bearer(DISTRICT))
    assert r.status_code == 200 and r.json()["complete"] is True
    r = c.get("/api/v1/status", headers=world.bearer(WARD))
    assert r.status_code == 403 and "by_parent" not in r.text
    f = HM / "00304-vinh-hung.xlsx"
    r = c.post("/api/v1/submissions", files={"file": (f.name, f.read_bytes())}, headers=world.bearer(WARD))
    assert r.status_code == 403 and r.json()["outcome"] == "refused"
    r = c.post("/api/v1/submissions", files={"file": (f.name, f.read_bytes())}, headers=world.bearer(OTHER))
    assert r.status_code == 200 and r.json()["outcome"] == "accepted"


def test_a_wards_blank_form_is_its_own_and_the_district_has_none(world: World) -> None:
    r = world.client(WARD).get("/xa/bieu-mau")
    assert r.status_code == 200 and f"bieu-mau-{WARD}-" in r.headers["content-disposition"]
    assert world.client(DISTRICT).get("/xa/bieu-mau").status_code == 404


# --- the export ----------------------------------------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://evil.test","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_the_export_csv_neutralises_formula_like_fields(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(HM, inbox)
    cfg = tmp_path / "ctstat.toml"
    cfg.write_text(f'period = "2025-H1"\nunit = "008"\ninbox = "{inbox}"\nout = "{tmp_path / "out"}"\n', "utf-8")
    runner = CliRunner()
    assert runner.invoke(cli_app, ["run", "--config", str(cfg)]).exit_code == 0
    # The ledger keeps each submission's unit name; a ledger written by another tool (or tampered with) may hold
    # any text there, and the export must still be inert.
    db = sqlite3.connect(tmp_path / "out" / "ledger.sqlite")
    units = [u for (u,) in db.execute("SELECT unit FROM submissions ORDER BY unit")][: len(HOSTILE)]
    for unit, name in zip(units, HOSTILE, strict=True):
        db.execute("UPDATE submissions SET unit_name=? WHERE unit=?", (name, unit))
    db.commit()
    db.close()
    out = tmp_path / "x.csv"
    result = runner.invoke(cli_app, ["export", "--config", str(cfg), "--to", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    names = {r["unit_code"]: r["unit_name"] for r in rows}
    assert [names[u] for u in units] == [
        '\'=HYPERLINK("http://evil.test","x")',
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\\x09x",
        "'\\x0dx",
    ]
    # nothing else in the file starts like a formula, and the numbers are still numbers
    for r in rows:
        for k, v in r.items():
            assert not v.startswith(("=", "+", "@", "\t", "\r")) and not re.match(r"-\D", v), (k, v)
    assert any(r["value"] == "0" for r in rows) and all(re.fullmatch(r"-?\d+|", r["value"]) for r in rows)
