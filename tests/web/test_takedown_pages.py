"""Takedown in the workspace and the public report page (both databases)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import make_client
from tests.fixtures.site import Site
from tests.fixtures.workspace import build_workspace, form_token, sign_in
from vigil.db import transaction
from vigil.orgs import accounts
from vigil.samples import encode, pattern_image
from vigil.takedown.models import Notice, UrlReport


def _public_report(client: TestClient, url: str) -> str:
    page = client.get("/report/url")  # the channel's web-address choice
    assert page.status_code == 200 and "You do not need an account" in page.text
    r = client.post("/report", data={"url": url, "description": "a forum post",
                                     "csrf": form_token(page.text)})
    return r.text


def test_public_page_then_classification_and_figures(db_url: str, data_dir: Path,
                                                     factory: sessionmaker[Session],
                                                     site: Site) -> None:
    url = site.put("hosting-a.test", "/a.jpg", encode(pattern_image(5)), "image/jpeg")
    build_workspace(factory, data_dir)
    with make_client(db_url, data_dir, resolver_overrides=site.overrides,
                     public_reports_per_hour=2) as client:
        assert "Your report was received" in _public_report(client, url)
        bad = _public_report(client, "javascript:alert(1)")
        assert "only http and https" in bad
        client.cookies.clear()
        r = client.post("/report", data={"url": url, "csrf": "forged"})
        assert r.status_code == 403
        page = client.get("/report/url")
        r = client.post("/report", data={"url": url, "csrf": form_token(page.text)})
        assert r.status_code == 429 and "too many URL reports" in r.text
        token = sign_in(client, "rita")
        page = client.get("/app/takedown").text
        assert url in page
        (rid,) = re.findall(r'/app/takedown/([0-9a-f-]{36})/classify', page)
        # Nothing is chosen in advance: the analyst must pick a classification.
        (options,) = re.findall(r'<select id="c-1" name="classification" required>(.*?)</select>', page)
        assert options.startswith('<option value="" selected>— choose —</option>')
        assert options.count("selected") == 1
        r = client.post(f"/app/takedown/{rid}/classify", data={"classification": "", "csrf": token})
        assert "Choose a classification first" in r.text
        r = client.post(f"/app/takedown/{rid}/classify",
                        data={"classification": "illegal_national", "csrf": token})
        assert "two-letter code" in r.text
        # Illegal sends a notice at once: the page asks once more, and nothing happens yet.
        r = client.post(f"/app/takedown/{rid}/classify",
                        data={"classification": "illegal_international", "csrf": token})
        assert "Confirm the classification" in r.text and url in r.text
        assert "Classify this URL as illegal (international baseline)?" in r.text
        assert 'name="confirm" value="yes"' in r.text
        with factory() as s:
            assert s.scalars(select(Notice)).all() == []
            assert s.scalar(select(UrlReport.classification).where(UrlReport.public_id == rid)) is None
        r = client.post(f"/app/takedown/{rid}/classify",
                        data={"classification": "illegal_international", "confirm": "yes", "csrf": token})
        assert "classified as illegal (international baseline)" in r.text
        assert "A notice to hosting-a.test is open." in r.text  # abuse@ of the domain
        figures = client.get("/app/takedown/figures").text
        assert re.search(r'id="tile-notices">1<', figures)
        assert figures.count('role="img"') >= 2
    with factory() as s:
        (n,) = s.scalars(select(Notice))
        assert n.url == url and n.status == "open"


def test_hotline_analysts_see_only_their_own_urls(client: TestClient, data_dir: Path,
                                                  factory: sessionmaker[Session]) -> None:
    from tests.fixtures.api import auth
    from vigil.orgs import service as orgs
    from vigil.orgs.access import KIND_SCOPES, OrgKind

    ws = build_workspace(factory, data_dir)
    with transaction(factory) as s:
        hotline = orgs.create_organisation(s, None, "Hotline", OrgKind.HOTLINE)
        key = orgs.issue_key(s, None, hotline.id, "api", set(KIND_SCOPES[OrgKind.HOTLINE])).token
        accounts.create_account(s, None, hotline.id, "hana", "analyst",
                                password="correct horse battery staple")
    client.post("/v1/url-reports", headers=auth(key), json={"url": "http://mine.test/1"})
    client.post("/v1/public/url-reports", json={"url": "http://public.test/2"})
    sign_in(client, "hana")
    page = client.get("/app/takedown").text
    assert "http://mine.test/1" in page and "http://public.test/2" not in page
    assert client.get("/app/review").status_code == 403
    sign_in(client, "rita")  # the Centre sees both
    page = client.get("/app/takedown").text
    assert "http://mine.test/1" in page and "http://public.test/2" in page
    with factory() as s:
        assert len(list(s.scalars(select(UrlReport)))) == 2
    assert ws.passwords


def test_failed_notice_deliveries_are_shown_in_the_workspace(db_url: str, data_dir: Path,
                                                             factory: sessionmaker[Session],
                                                             site: Site) -> None:
    from tests.takedown.test_notices import SECRET, _settings
    from vigil.clock import now
    from vigil.takedown.notify import Sender
    from vigil.takedown.tasks import check_notices

    url = site.put("hosting-a.test", "/b.jpg", encode(pattern_image(6)), "image/jpeg")
    build_workspace(factory, data_dir)
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        assert "received" in _public_report(client, url)
        token = sign_in(client, "rita")
        (rid,) = re.findall(r'/app/takedown/([0-9a-f-]{36})/classify', client.get("/app/takedown").text)
        client.post(f"/app/takedown/{rid}/classify",
                    data={"classification": "illegal_international", "confirm": "yes", "csrf": token})
        with factory() as s:
            (n,) = s.scalars(select(Notice))
        assert "sending failed" not in client.get("/app/takedown").text
        # No SMTP server is configured: the e-mail to abuse@hosting-a.test cannot go out.
        check_notices(factory, _settings(site, data_dir), Sender(None, 25, "x", SECRET.encode()),
                      at=now())
        page = client.get("/app/takedown").text
        assert re.search(rf'<a class="bad send-failed" href="/app/takedown/notices/{n.id}">'
                         r"sending failed</a>: email: ", page)
        detail = client.get(f"/app/takedown/notices/{n.id}").text
        alert = detail.split('id="delivery-failed"')[1].split("</div>")[0]
        assert "tried again automatically at the next attempt" in alert and "<code>email: " in alert
        assert "abuse@hosting-a.test" in detail and "Next attempt" in detail
        assert re.search(r'<tr class="bad"><td>[^<]+</td><td>sending failed</td>', detail)
        assert client.get("/app/takedown/notices/99999").status_code == 404
