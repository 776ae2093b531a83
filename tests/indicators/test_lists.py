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


def test_an_auditor_checks_the_feed_and_the_trust_too(client: TestClient,
                                                      factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    r = client.get("/v1/lists", headers=auth(w.tokens["auditor"]))
    assert r.status_code == 200 and {x["trust"] for x in r.json()} == {"verified", "unverified", "allow"}
