"""The district approves and reopens its own rollup from its portal page (issue 29), through `job.review.act`:
the same records and refusals as `ctstat review approve-rollup|reopen-rollup`, signed with the portal's key."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ctstat.job.config import JobConfig
from ctstat.job.run import run_job
from ctstat.model.catalogue import Catalogue
from ctstat.web.tokens import issue_tokens

from .test_portal import HM, Site, csrf_of
from .test_portal_review import records
from .test_review import WHEN, arrive_all, make_job

WARDS = sorted(p.name[:5] for p in HM.glob("*.xlsx"))
LATE = datetime(2025, 7, 20, 9, 0).astimezone()  #: past the job's deadline (15/07/2025)


def portal(cfg: JobConfig, tmp_path: Path, catalogue: Catalogue) -> Site:
    """The portal signing with Trần Thị B's key (listed in review_keys)."""
    cfg, _, _ = make_job(replace(cfg, upload_limit_mb=1, uploads_per_minute=20), tmp_path)
    cfg = replace(cfg, portal_key=tmp_path / "keys" / "b.key")
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    return Site(cfg, catalogue, {i.unit: i.token for i in issued})


@pytest.fixture
def site(cfg: JobConfig, catalogue: Catalogue, tmp_path: Path) -> Iterator[Site]:
    s = portal(cfg, tmp_path, catalogue)
    yield s
    s.portal.intake.close()


def rollup_part(page: str) -> str:
    """The page's rollup approval card, its text unescaped."""
    start = page.index('id="duyet-tong-hop"')
    return html.unescape(page[start : page.index("</section>", start)])


def poster(c: TestClient) -> Any:
    csrf = csrf_of(c.get("/huyen").text)

    def post(**form: str) -> Any:
        return c.post("/huyen/duyet", data={"csrf": csrf, **form}, follow_redirects=False)

    return post


def test_the_district_approves_and_reopens_its_rollup_from_its_page(site: Site, catalogue: Catalogue) -> None:
    arrive_all(site.cfg)
    run_job(site.cfg, catalogue, now=WHEN)
    c = site.sign_in("008")
    post = poster(c)
    for w in WARDS[:-1]:
        assert post(action="approve", unit=w).status_code == 303
    part = rollup_part(c.get("/huyen").text)
    # the page says which ward blocks the approval, and offers to excuse it with a reason
    assert "Còn 1 xã, phường chưa được duyệt" in part and WARDS[-1] in part and WARDS[0] not in part
    assert f'name="mien-{WARDS[-1]}"' in part and "Duyệt báo cáo tổng hợp" in part
    n = len(records(site))
    # refusals, each said, nothing recorded
    r = post(action="approve-rollup", unit="008")
    assert r.status_code == 409 and f"còn 1 xã chưa được duyệt: {WARDS[-1]}" in html.unescape(r.text)
    r = post(action="approve-rollup", unit="008", **{f"mien-{WARDS[-1]}": "   "})  # an empty excuse excuses nothing
    assert r.status_code == 409 and "chưa được duyệt" in r.text
    r = post(action="approve-rollup", unit="008", **{f"mien-{w}": "" for w in WARDS})  # a field for every ward
    assert r.status_code == 409 and "chưa được duyệt" in r.text
    r = post(action="approve-rollup", unit="008", **{"mien-99999": "Sáp nhập"})
    assert r.status_code == 409 and "không phải xã, phường thuộc đơn vị" in html.unescape(r.text)
    # excused, but its unapproved numbers are in the workbook: the approval would cover them
    r = post(action="approve-rollup", unit="008", **{f"mien-{WARDS[-1]}": "Sáp nhập"})
    assert r.status_code == 409 and "cũ hơn các lần duyệt" in html.unescape(r.text)
    assert post(action="approve-rollup", unit=WARDS[0]).status_code == 409  # not this district's rollup
    r = post(action="reopen-rollup", unit="008", why="Sửa số liệu")
    assert r.status_code == 409 and "chưa được duyệt" in html.unescape(r.text)
    bad_csrf = c.post("/huyen/duyet", data={"csrf": "0" * 40, "action": "approve-rollup", "unit": "008"})
    assert bad_csrf.status_code == 403
    evil = {"Origin": "http://evil.test"}
    form = {"csrf": csrf_of(c.get("/huyen").text), "action": "approve-rollup", "unit": "008"}
    assert c.post("/huyen/duyet", data=form, headers=evil).status_code == 403
    w = site.sign_in(WARDS[0])
    r = w.post("/huyen/duyet", data={"csrf": csrf_of(w.get("/xa").text), "action": "approve-rollup", "unit": "008"})
    assert r.status_code == 403
    assert len(records(site)) == n
    # the last ward approved: the rollup is approved, signed by the portal's official
    assert post(action="approve", unit=WARDS[-1]).status_code == 303
    r = post(action="approve-rollup", unit="008")
    assert r.status_code == 303 and r.headers["location"] == "/huyen?tb=approve-rollup#duyet-tong-hop"
    top = records(site)[-1]
    assert (top.kind, top.unit, top.who) == ("approve-rollup", "008", "Trần Thị B")
    assert sorted(top.covers.inputs) == WARDS and len(top.covers.data_sheet) == 64
    page = c.get("/huyen?tb=approve-rollup").text
    part = rollup_part(page)
    assert "Đã duyệt báo cáo tổng hợp." in part and "✓ Đã được Trần Thị B duyệt lúc" in part
    assert "Mở lại báo cáo tổng hợp" in part and 'value="approve-rollup"' not in part
    assert 'value="approve"' not in page  # a ward's approval cannot change while the rollup stands approved
    # the same refusals as the CLI: a ward's reopen, a second approval
    r = post(action="reopen", unit=WARDS[0], why="Phường sửa số liệu")
    assert r.status_code == 409 and "phải mở lại" in html.unescape(r.text)
    r = post(action="approve-rollup", unit="008")
    assert r.status_code == 409 and "đã được Trần Thị B duyệt" in r.text
    r = post(action="reopen-rollup", unit="008", why="  ")
    assert r.status_code == 409 and "Phải ghi lý do" in r.text
    n = len(records(site))
    r = post(action="reopen-rollup", unit="008", why="Phường gửi lại số liệu")
    assert r.status_code == 303 and len(records(site)) == n + 1
    assert (records(site)[-1].kind, records(site)[-1].why) == ("reopen-rollup", "Phường gửi lại số liệu")
    part = rollup_part(c.get("/huyen?tb=reopen-rollup").text)
    assert "Đã mở lại báo cáo tổng hợp." in part and "Mọi xã, phường đã được duyệt." in part
    assert 'value="approve-rollup"' in part
    assert post(action="reopen", unit=WARDS[0], why="Phường sửa số liệu").status_code == 303


def test_a_ward_without_numbers_is_excused_with_its_reason_and_listed(
    cfg: JobConfig, catalogue: Catalogue, tmp_path: Path
) -> None:
    site = portal(replace(cfg, allow_partial=True), tmp_path, catalogue)
    try:
        missing = WARDS[-1]
        arrive_all(site.cfg, but=missing)
        assert run_job(site.cfg, catalogue, now=LATE).rollup_state == "written"  # past the deadline: partial
        c = site.sign_in("008")
        post = poster(c)
        for w in WARDS[:-1]:
            assert post(action="approve", unit=w).status_code == 303
        part = rollup_part(c.get("/huyen").text)
        assert f"{missing} " in part and "Chưa có báo cáo" in part
        r = post(action="approve-rollup", unit="008", **{f"mien-{missing}": "Phường đã sáp nhập <b>"})
        assert r.status_code == 303
        top = records(site)[-1]
        assert top.kind == "approve-rollup" and dict(top.covers.excused) == {missing: "Phường đã sáp nhập <b>"}
        page = c.get("/huyen").text
        assert "Phường đã sáp nhập &lt;b&gt;" in page and "<b>" not in page  # listed, as text
        assert "Không tính trong lần duyệt (được miễn)" in rollup_part(page)
    finally:
        site.portal.intake.close()


def test_without_a_portal_key_the_rollup_state_is_shown_and_no_action_taken(
    cfg: JobConfig, catalogue: Catalogue, tmp_path: Path
) -> None:
    cfg, _, _ = make_job(cfg, tmp_path)
    issued = issue_tokens(cfg, tmp_path / "tokens.csv")
    site = Site(cfg, catalogue, {i.unit: i.token for i in issued})
    try:
        assert site.api(WARDS[0], HM / "00301-thanh-tri.xlsx").json()["outcome"] == "accepted"
        c = site.sign_in("008")
        page = c.get("/huyen").text
        part = rollup_part(page)
        assert f"Còn {len(WARDS)} xã, phường chưa được duyệt" in part and "00301 Phường Thanh Trì" in part
        assert 'action="/huyen/duyet"' not in page and "mien-" not in part
        r = c.post("/huyen/duyet", data={"csrf": csrf_of(page), "action": "approve-rollup", "unit": "008"})
        assert r.status_code == 403 and "portal_key" in r.text and records(site) == []
    finally:
        site.portal.intake.close()
