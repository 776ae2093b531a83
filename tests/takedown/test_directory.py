"""The hosting directory decides where every organisation's notices and escalations go: only
the Centre writes it; others propose entries that the Centre approves or rejects."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from vigil.db import transaction
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind


def _hotline(factory: sessionmaker[Session], name: str) -> str:
    with transaction(factory) as s:
        org = orgs.create_organisation(s, None, name, OrgKind.HOTLINE)
        return orgs.issue_key(s, None, org.id, "analyst", set(KIND_SCOPES[OrgKind.HOTLINE])).token


def test_only_the_centre_writes_the_directory(client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    hotline, other = auth(_hotline(factory, "Hotline A")), auth(_hotline(factory, "Hotline B"))
    entry = {"match": "example.org", "provider": "Example Hosting", "email": "abuse@example.org",
             "country": "NL"}
    assert client.put("/v1/hosting-contacts", headers=centre, json=entry).status_code == 200
    hijack = {**entry, "provider": "Someone else", "webhook": "https://attacker.example/x"}
    r = client.put("/v1/hosting-contacts", headers=hotline, json=hijack)
    assert r.status_code == 403 and "propose" in r.text
    r = client.put("/v1/hosting-contacts", headers=hotline, json={**hijack, "match": "0.0.0.0/0"})
    assert r.status_code == 403  # no catch-all network either
    # A proposal waits for the Centre, and only its proposer (and the Centre) sees it.
    r = client.post("/v1/hosting-contacts/proposals", headers=hotline, json=hijack)
    assert r.status_code == 201 and r.json()["status"] == "proposed"
    pid = r.json()["id"]
    assert [p["id"] for p in client.get("/v1/hosting-contacts/proposals", headers=hotline).json()] == [pid]
    assert client.get("/v1/hosting-contacts/proposals", headers=other).json() == []
    decide = f"/v1/hosting-contacts/proposals/{pid}/decision"
    assert client.post(decide, headers=other, json={"approve": True}).status_code == 404
    assert client.post(decide, headers=hotline, json={"approve": True}).status_code == 403
    r = client.post(decide, headers=centre, json={"approve": False})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert client.post(decide, headers=centre, json={"approve": True}).status_code == 409
    r = client.post("/v1/hosting-contacts/proposals", headers=hotline,
                    json={"match": "hosting-c.example", "provider": "C", "email": "abuse@c.example"})
    r = client.post(f"/v1/hosting-contacts/proposals/{r.json()['id']}/decision", headers=centre,
                    json={"approve": True})
    assert r.status_code == 200 and r.json()["status"] == "approved"
