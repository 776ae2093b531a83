"""The workspace pages over HTTP (both databases): who may open what, the authority's scope,
previews that are never the original, the two-organisation rule, figures, languages."""

from __future__ import annotations

import io
import re
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.workspace import build_workspace, sign_in
from tests.orgs.test_access import _scopes, api_routes
from vigil.audit.models import AuditEvent
from vigil.deps import PUBLIC_PATHS
from vigil.indicators.models import HashList, Indicator
from vigil.reports.models import Report
from vigil.web.render import SECURITY_HEADERS


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_page_declares_a_scope_and_sends_strangers_to_sign_in(
        client: TestClient, factory: sessionmaker[Session], data_dir: Path) -> None:
    pages = [r for r in api_routes(client.app) if r.path.startswith("/app")]
    assert len(pages) >= 12
    for route in pages:
        if route.path in PUBLIC_PATHS:
            continue
        (_scope,) = _scopes(route)
        method = sorted(route.methods)[0]
        r = client.request(method, _concrete(route.path), follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/app/login"), route.path
    # A signed-in account without the scope gets a 403 page, never the content.
    build_workspace(factory, data_dir)
    sign_in(client, "otto")  # auditor: no review, no inbox
    for path in ("/app/review", "/app/inbox", "/app/review/x/files/1/preview"):
        r = client.get(path)
        assert r.status_code == 403 and "may not open this page" in r.text, path


def test_pages_carry_security_headers(client: TestClient, factory: sessionmaker[Session],
                                      data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    sign_in(client, "rita")
    r = client.get("/app/")
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_authority_sees_only_its_own_reports(client: TestClient, factory: sessionmaker[Session],
                                             data_dir: Path) -> None:
    ws = build_workspace(factory, data_dir, reports=2)  # routed to DE (by IP) and Europol
    token = sign_in(client, "dieter")
    inbox = client.get("/app/inbox").text
    assert all(pid[:8] in inbox for pid in ws.reports)
    pid = ws.reports[0]
    page = client.get(f"/app/inbox/{pid}")
    assert page.status_code == 200
    # The report's details read as labelled facts (Dieter works in German), not a JSON dump.
    details = page.text.split('id="report-details"')[1].split("</section>")[0]
    assert "<pre>" not in details and "{" not in details
    assert re.search(r"<dt>Beteiligte Nutzer</dt><dd><dl class=\"details\"><dt>Nutzerkennungen</dt>"
                     r"<dd>demo-user-0</dd><dt>IP-Adressen</dt><dd><dl class=\"details\">"
                     r"<dt>Adresse</dt><dd>193\.99\.144\.80</dd><dt>Zeitpunkt</dt><dd>2026-11-01", details)
    assert "<dt>Kind als Opfer</dt><dd>nein</dd>" in details
    sign_in(client, "francoise")  # the French authority
    assert "No reports have been routed to you." in client.get("/app/inbox").text
    assert client.get(f"/app/inbox/{pid}").status_code == 404
    assert client.get(f"/app/inbox/{pid}/files/1").status_code == 404
    token = sign_in(client, "francoise")
    r = client.post(f"/app/inbox/{pid}/acknowledge", data={"csrf": token})
    assert r.status_code == 404
    # The German officer acknowledges, asks, and gives feedback with a delay.
    token = sign_in(client, "dieter")
    client.post(f"/app/inbox/{pid}/acknowledge", data={"csrf": token})
    client.post(f"/app/inbox/{pid}/question", data={"csrf": token, "question": "Which service?"})
    r = client.post(f"/app/inbox/{pid}/feedback",
                    data={"csrf": token, "outcome": "investigation opened", "delay_days": "90"})
    # Dieter works in German (his account's language).
    assert "Rückmeldung gespeichert." in r.text and "investigation opened" in r.text
    assert "Which service?" in r.text and "noch nicht beantwortet" in r.text
    r = client.post(f"/app/inbox/{pid}/feedback",
                    data={"csrf": token, "outcome": "x", "delay_days": "9999"})
    assert "1 to 548 days" in r.text


def test_previews_are_small_fresh_and_audited(db_url: str, data_dir: Path, client: TestClient,
                                             factory: sessionmaker[Session]) -> None:
    ws = build_workspace(factory, data_dir, reports=1)
    sign_in(client, "rita")
    page = client.get(f"/app/review/{ws.reports[0]}").text
    urls = re.findall(r'src="(/app/review/[^"]+/preview)"', page)
    assert len(urls) == 2
    r = client.get(urls[0])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "no-store" in r.headers["cache-control"]
    image = Image.open(io.BytesIO(r.content))
    assert max(image.size) <= 224 and image.size != (480, 360)  # never the original
    with factory() as s:
        assert s.scalar(select(func.count()).where(
            AuditEvent.action == "report:file_previewed")) == 1
    sign_in(client, "dieter")  # an authority may not preview through the review pages
    assert client.get(urls[0]).status_code == 403


def test_review_decision_and_the_two_organisation_rule(client: TestClient,
                                                       factory: sessionmaker[Session],
                                                       data_dir: Path) -> None:
    ws = build_workspace(factory, data_dir, reports=2)
    token = sign_in(client, "rita")
    queue = client.get("/app/review").text
    first = re.findall(r'/app/review/([0-9a-f-]{36})"', queue)[0]
    assert first == ws.reports[0]  # the urgent one leads
    r = client.post(f"/app/review/{first}/decision",
                    data={"csrf": token, "decision": "material", "reason": "", "label": "A1"})
    assert "a reason is required" in r.text
    r = client.post(f"/app/review/{first}/decision",
                    data={"csrf": token, "decision": "material", "reason": "confirmed",
                          "label": "A1"})
    assert r.status_code == 200 and "Decision recorded" in r.text
    assert f"/app/review/{ws.reports[1]}/decision" in r.text  # moved on to the next report
    with factory() as s:
        pending = list(s.scalars(select(Indicator.id).where(Indicator.status == "pending")))
    assert pending
    page = client.get(f"/app/indicators/{pending[0]}").text
    assert re.search(r'id="verify" disabled', page)
    assert "Your organisation proposed this indicator" in page
    r = client.post(f"/app/indicators/{pending[0]}/verify", data={"csrf": token})
    assert "two-organisation rule" in r.text
    sign_in(client, "carl")  # same organisation, another person: still not allowed
    assert re.search(r'id="verify" disabled', client.get(f"/app/indicators/{pending[0]}").text)
    token = sign_in(client, "paula")  # the partner centre
    page = client.get(f"/app/indicators/{pending[0]}").text
    assert 'id="verify" disabled' not in page
    r = client.post(f"/app/indicators/{pending[0]}/verify", data={"csrf": token})
    assert "is now Active" in r.text
    assert r.text.count("included: the proof checks out") == 2  # proposed, verified


def test_dashboard_figures_match_the_database(client: TestClient, factory: sessionmaker[Session],
                                              data_dir: Path) -> None:
    build_workspace(factory, data_dir, reports=3)
    sign_in(client, "rita")
    page = client.get("/app/").text
    with factory() as s:
        waiting = s.scalar(select(func.count()).where(Report.assessment == "new_material"))
        lists = s.scalar(select(func.count()).select_from(HashList))
    assert waiting == 3
    assert re.search(rf'id="tile-waiting">{waiting}<', page)
    assert re.search(r'id="tile-urgent">1<', page)
    # No indicators yet: three charts and one "nothing yet" in place of the fourth.
    assert page.count("<svg") == 3 and page.count('role="img"') == 3
    assert page.count("Nothing to show yet.") == 1
    assert re.search(r'<th scope="row">forwarded</th><td>3</td>', page)
    assert page.count("<tr><th scope=\"row\">") >= lists


def test_german_and_english(client: TestClient, factory: sessionmaker[Session],
                            data_dir: Path) -> None:
    build_workspace(factory, data_dir)
    sign_in(client, "rita")
    assert '<html lang="en">' in client.get("/app/").text
    page = client.get("/app/?lang=de").text
    assert '<html lang="de">' in page and "Prüfwarteschlange" in page
    assert "Übersicht" in client.get("/app/indicators").text  # the choice is remembered
    page = client.get("/app/?lang=fr").text
    assert '<html lang="fr">' in page and "File d&#39;examen" in page
    client.cookies.clear()
    page = client.get("/app/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).text
    assert "Anmelden" in page and "Passwort" in page


def test_the_public_landing_page(client: TestClient) -> None:
    """``/`` tells the public what the service is and where to go — never a staff sign-in form."""
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 200 and "Reporting and removing child sexual abuse material" in r.text
    links = dict(re.findall(r'<a href="([^"]+)" id="([a-z-]+)"', r.text))
    assert links == {"/report": "go-report", "/help/remove": "go-remove", "/help/case": "go-case",
                     "/help/complaint": "go-complaint", "/prevention": "go-prevention",
                     "/app/login": "staff-sign-in"}
    assert "Transparency" in r.text
    assert 'name="password"' not in r.text
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    for target in links:  # every link leads somewhere
        assert client.get(target).status_code == 200, target
    de = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"}).text
    assert '<html lang="de">' in de and "Etwas melden oder jetzt Hilfe finden" in de
    assert "Anmeldung für Mitarbeitende" in de
    fr = client.get("/?lang=fr").text  # a chosen language stays in the public links
    assert '<html lang="fr">' in fr and 'href="/report?lang=fr"' in fr
    assert "set-cookie" not in client.get("/?lang=fr").headers  # never a cookie in public
