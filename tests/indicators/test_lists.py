"""A list's trust is set once and stated plainly; no request can make a list look like another
or quietly become something else. (Both databases.)"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world


def test_trust_is_set_once_and_unknown_fields_are_refused(client: TestClient,
                                                          factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    # An older client's "kind": "allow" must not quietly create a verified block list.
    r = client.post("/v1/lists", headers=centre, json={"name": "benign-2", "kind": "allow"})
    assert r.status_code == 422 and "kind" in r.text
    r = client.patch("/v1/lists/victim-submitted", headers=centre,
                     json={"trust": "verified", "pdq_threshold": 20})
    assert r.status_code == 422 and "trust" in r.text
    got = {x["name"]: x["trust"] for x in client.get("/v1/lists", headers=centre).json()}
    assert got["victim-submitted"] == "unverified"
    # A look-alike name is refused.
    r = client.post("/v1/lists", headers=centre, json={"name": "Victim-Submitted", "trust": "verified"})
    assert r.status_code == 409 and "victim-submitted" in r.text
    # Proposals never reach an unverified list, and the refusal reads well.
    r = client.post("/v1/indicators", headers=centre, json={"items": [
        {"signal_type": "md5", "value": "ab" * 16, "list": "victim-submitted", "legal_basis": "x"}]})
    assert r.status_code == 409 and "an unverified list" in r.text


def test_no_list_takes_a_threshold_at_which_distinct_pictures_match(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """Found by an attempt to break the service: one Centre key set a verified list's
    threshold to 64, at which every picture is a verified match (and an allow list's, at
    which every hit is suppressed). A list's threshold stops at PDQ's 31 bits, on every path."""
    from vigil.db import transaction
    from vigil.errors import Invalid
    from vigil.indicators import service

    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    for name in ("known-material", "non-material"):
        r = client.patch(f"/v1/lists/{name}", headers=centre, json={"pdq_threshold": 64})
        assert r.status_code == 422 and "pdq_threshold" in r.text, r.text
    r = client.post("/v1/lists", headers=centre, json={"name": "wide", "pdq_threshold": 32})
    assert r.status_code == 422, r.text
    for call in (lambda s: service.update_list(s, w.principals["centre"], "known-material", 40),
                 lambda s: service.create_list(s, None, "wide", "allow", 40)):
        try:
            with transaction(factory) as s:
                call(s)
        except Invalid as exc:
            assert "between 0 and 31" in exc.message
        else:
            raise AssertionError("a threshold over 31 was taken")
    got = {x["name"]: x["pdq_threshold"] for x in client.get("/v1/lists", headers=centre).json()}
    assert got == {"known-material": 31, "victim-submitted": 20, "non-material": 10}


def test_an_auditor_checks_the_feed_and_the_trust_too(client: TestClient,
                                                      factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    r = client.get("/v1/lists", headers=auth(w.tokens["auditor"]))
    assert r.status_code == 200 and {x["trust"] for x in r.json()} == {"verified", "unverified", "allow"}
