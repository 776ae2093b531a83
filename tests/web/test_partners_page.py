"""The partners page (both databases): the Centre's administrator sees partner centres (with a
failing pull's error, escaped), partner hotlines and the programmes' imports (with a page that
keeps failing) in one place; other roles get a 403 page, strangers the sign-in page."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import make_client
from tests.fixtures.workspace import PASSWORD, build_workspace, sign_in
from vigil.db import transaction
from vigil.federation import repository, service
from vigil.indicators import service as indicators
from vigil.orgs import accounts
from vigil.sharing import service as sharing
from vigil.takedown.referrals import hotlines


def test_an_administrator_sees_every_partner_and_what_fails(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    ws = build_workspace(factory, data_dir)
    centre = ws.world.principals["centre"]
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with transaction(factory) as s:
        accounts.create_account(s, None, centre.organisation_id, "ada", "admin",
                                password=PASSWORD, display_name="Ada")
        p = service.register(s, None, "Origin Centre", url="https://origin.example",
                             log_key=key, remote_list="known-material")
        pid = p.id
        hotlines.add(s, centre, hotlines.HotlineIn("BE", "Child Focus", "webhook",
                                                   "https://hook.example/referrals", "whsec"))
        src = sharing.source_for(s, "ncmec", "Industry", indicators.get_list(s, "known-material"))
        src.unreadable_runs = 2
        sharing.problem(s, src, "page 4", "page 4: ParseError: no element found",
                        sharing.Tally(), count=False)
    with transaction(factory) as s:
        p = repository.partner(s, pid)
        p.last_error, p.failures = "the partner's answer is not signed <script>", 2

    with make_client(db_url, data_dir) as client:
        r = client.get("/app/partners", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/app/login")
        sign_in(client, "rita")  # a reviewer: not an administrator
        r = client.get("/app/partners")
        assert r.status_code == 403 and "may not open this page" in r.text
        assert 'href="/app/partners"' not in client.get("/app/review").text
        sign_in(client, "ada")
        page = client.get("/app/partners").text
    assert 'href="/app/partners" aria-current="page"' in page  # in the menu
    row = re.search(r'<tr class="partner-failing">.*?</tr>', page, re.S)
    assert row is not None and "Origin Centre" in row.group(0)
    assert "not signed &lt;script&gt;" in row.group(0) and "2 failed in a row" in row.group(0)
    assert "never" in row.group(0) and "no: verified here" in row.group(0)
    hotline = re.search(r'<table class="partner-hotlines">.*?</table>', page, re.S)
    assert hotline is not None and "Child Focus" in hotline.group(0) and "<td>BE</td>" in hotline.group(0)
    assert "whsec" not in page  # the secret is never shown
    stuck = re.search(r'<tr class="import-stuck">.*?</tr>', page, re.S)
    assert stuck is not None and "ncmec" in stuck.group(0)
    assert "A page could not be read in 2 run(s) in a row." in stuck.group(0)
    assert "page 4: ParseError: no element found" in stuck.group(0)


def test_an_empty_centre_says_so(db_url: str, data_dir: Path,
                                 factory: sessionmaker[Session]) -> None:
    ws = build_workspace(factory, data_dir)
    with transaction(factory) as s:
        accounts.create_account(s, None, ws.world.principals["centre"].organisation_id, "ada",
                                "admin", password=PASSWORD, display_name="Ada", locale="de")
    with make_client(db_url, data_dir) as client:
        sign_in(client, "ada")
        page = client.get("/app/partners").text
    assert "Kein Partnerzentrum ist eingetragen." in page
    assert "Keine Partner-Hotline ist eingetragen" in page
    assert "Aus keinem Hash-Austauschprogramm wurde etwas importiert." in page
