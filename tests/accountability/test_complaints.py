"""Complaints about wrongful removal (both databases): two reviewers re-assess; upheld
retracts the indicator (providers see the withdrawal), and the complainant sees the outcome."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import active_indicator, build_world

MD5 = "c4" * 16


def test_upheld_complaint_retracts_the_indicator(client: TestClient,
                                                 factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    ind_id = active_indicator(factory, w, "md5", MD5)
    # Directly, by the user, and through the provider.
    bad = client.post("/v1/public/complaints", json={"provider": "", "reference": "x",
                                                     "statement": "mine"})
    assert bad.status_code == 422
    direct = client.post("/v1/public/complaints", json={
        "provider": "Provider", "reference": "removal-881", "statement": "a holiday photo"}).json()
    via = client.post("/v1/complaints", headers=auth(w.tokens["provider"]), json={
        "reference": "removal-882", "statement": "user says it is a painting",
        "indicator_ids": [ind_id]}).json()
    centre, centre2, partner = (auth(w.tokens[k]) for k in ("centre", "centre2", "partner"))
    assert len(client.get("/v1/complaints", headers=centre).json()) == 2
    assert client.get("/v1/complaints", headers=auth(w.tokens["provider"])).status_code == 403
    # Two reviewers agree: upheld, and the indicator leaves the lists.
    r = client.post(f"/v1/complaints/{via['id']}/assessment", headers=centre,
                    json={"decision": "upheld", "reason": "a painting, not material"})
    assert r.json()["status"] == "open"
    again = client.post(f"/v1/complaints/{via['id']}/assessment", headers=centre,
                        json={"decision": "upheld", "reason": "again"})
    assert again.status_code == 409 and "another reviewer" in again.text
    r = client.post(f"/v1/complaints/{via['id']}/assessment", headers=partner,
                    json={"decision": "upheld", "reason": "agreed"})
    assert r.json()["status"] == "upheld"
    got = client.get(f"/v1/indicators/{ind_id}", headers=centre).json()
    assert got["status"] == "retracted" and via["id"] in got["retract_reason"]
    feed = client.get("/v1/lists/known-material/changes", headers=auth(w.tokens["provider"])).json()
    assert [c["action"] for c in feed["changes"]] == ["add", "withdraw"]
    status = client.post("/v1/public/complaints/status", json={"id": via["id"], "token": via["token"]})
    assert status.json()["status"] == "upheld"
    wrong = client.post("/v1/public/complaints/status", json={"id": via["id"], "token": direct["token"]})
    assert wrong.status_code == 401
    # Two reviewers disagree on the direct one: disputed until a third decides.
    client.post(f"/v1/complaints/{direct['id']}/assessment", headers=centre,
                json={"decision": "rejected", "reason": "matches known material"})
    r = client.post(f"/v1/complaints/{direct['id']}/assessment", headers=partner,
                    json={"decision": "upheld", "reason": "not sure", "indicator_ids": [ind_id]})
    assert r.json()["status"] == "disputed"
    r = client.post(f"/v1/complaints/{direct['id']}/assessment", headers=centre2,
                    json={"decision": "rejected", "reason": "it is the listed material"})
    assert r.json()["status"] == "rejected"
    stats = client.get("/v1/complaints/stats", headers=auth(w.tokens["auditor"])).json()
    assert stats == {"upheld": 1, "rejected": 1}


def test_providers_hear_of_an_upheld_complaint_by_webhook(
        client: TestClient, factory: sessionmaker[Session], site: object) -> None:
    import json as _json

    from vigil.config import Settings
    from vigil.reports.handoff import verify_signature
    from vigil.worker import Worker

    w = build_world(factory)
    ind_id = active_indicator(factory, w, "md5", MD5)
    c = client.post("/v1/complaints", headers=auth(w.tokens["provider"]), json={
        "statement": "not material", "indicator_ids": [ind_id]}).json()
    for who in ("centre", "partner"):
        client.post(f"/v1/complaints/{c['id']}/assessment", headers=auth(w.tokens[who]),
                    json={"decision": "upheld", "reason": "agreed"})
    hook = site.url("hosting-b.test", "/provider-hook")  # type: ignore[attr-defined]
    settings = Settings(environment="test", webhook_secret="s3cret",
                        provider_webhooks={"Provider": hook},
                        resolver_overrides=site.overrides)  # type: ignore[attr-defined]
    Worker(factory, factory, settings=settings).run_once()
    (req,) = site.requests("hosting-b.test", "/provider-hook")  # type: ignore[attr-defined]
    body = _json.loads(req[4])
    assert body == {"event": "complaint:upheld", "complaint": c["id"], "indicators": [ind_id]}
    assert verify_signature(b"s3cret", req[5], req[4])
