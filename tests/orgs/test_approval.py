"""The two-organisation rule cannot be met by the Centre alone: a new organisation that may
review indicators is approved by a second party first — and the log audit checks it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from vigil.indicators.log_audit import replay
from vigil.translog.audit import AuditReport


def test_a_partner_the_centre_creates_cannot_review_until_a_second_party_approves(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    r = client.post("/v1/orgs", headers=centre, json={"name": "Shadow", "kind": "partner_centre"})
    assert r.status_code == 201 and r.json()["approved"] is False
    shadow_id = r.json()["id"]
    token = client.post(f"/v1/orgs/{shadow_id}/keys", headers=centre, json={
        "holder": "x", "scopes": ["indicators:review", "indicators:read"]}).json()["token"]
    (ind,) = client.post("/v1/indicators", headers=centre, json={"items": [
        {"signal_type": "md5", "value": "ab" * 16, "list": "known-material",
         "legal_basis": "x"}]}).json()
    r = client.post(f"/v1/indicators/{ind['id']}/verify", headers=auth(token))
    assert r.status_code == 403  # not approved: the key cannot review yet
    # Neither the Centre that created it nor the organisation itself may approve it.
    assert client.post(f"/v1/orgs/{shadow_id}/approve", headers=centre).status_code == 403
    assert client.post(f"/v1/orgs/{shadow_id}/approve", headers=auth(token)).status_code == 403
    # An approved partner centre (or an auditor) may.
    r = client.post(f"/v1/orgs/{shadow_id}/approve", headers=auth(w.tokens["partner"]))
    assert r.status_code == 200 and r.json()["approved"] is True
    client.app.state.vigil.principals._entries.clear()  # type: ignore[attr-defined]
    r = client.post(f"/v1/indicators/{ind['id']}/verify", headers=auth(token))
    assert r.status_code == 200, r.text
    assert client.post(f"/v1/orgs/{shadow_id}/approve",
                       headers=auth(w.tokens["auditor"])).status_code == 409  # once is enough


def test_the_log_audit_refuses_a_verification_by_an_unapproved_organisation() -> None:
    leaves = [
        {"event": "org:created", "org": 1, "kind": "centre", "approved": True},
        {"event": "org:created", "org": 2, "kind": "partner_centre", "approved": False},
        {"event": "list:created", "list": "known-material", "kind": "block", "trust": "verified"},
        {"event": "indicator:proposed", "indicator": 1, "list": "known-material",
         "signal_type": "md5", "commitment": "c", "status": "pending", "org": 1},
        {"event": "indicator:verified", "indicator": 1, "list": "known-material",
         "signal_type": "md5", "commitment": "c", "status": "active", "org": 2},
        {"event": "org:approved", "org": 2, "by": 1},  # the Centre approving its own creation
    ]
    report = AuditReport()
    replay(leaves, report)
    assert any("before a second party approved it" in p for p in report.problems), report.problems
    assert any("may not approve it" in p for p in report.problems), report.problems
