"""Match feedback and quarantine (both databases): false positives from enough organisations
take an indicator out of matching at once; a reviewer reinstates or retracts it; the log audit
follows every step."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.world import build_world
from vigil.db import transaction
from vigil.indicators import service as indicators
from vigil.indicators.log_audit import verify_database
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind

MD5 = "a1" * 16


def _match(client: TestClient, token: str) -> list[dict[str, object]]:
    r = client.post("/v1/match", headers=auth(token),
                    json={"items": [{"signal_type": "md5", "value": MD5}]})
    return r.json()["results"][0]["matches"]  # type: ignore[no-any-return]


def _receipt(client: TestClient, token: str) -> str:
    (hit,) = _match(client, token)
    return str(hit["match_id"])


def test_false_positives_quarantine_then_review(client: TestClient,
                                                factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with transaction(factory) as s:
        (ind,) = indicators.propose(s, w.principals["centre"], [
            indicators.Proposal("md5", MD5, "known-material", "test")])
        indicators.verify(s, w.principals["partner"], ind.id)
        other = orgs.create_organisation(s, None, "Second Provider", OrgKind.PROVIDER)
        second = orgs.issue_key(s, None, other.id, "p2", set(KIND_SCOPES[OrgKind.PROVIDER])).token
        ind_id = ind.id
    provider = w.tokens["provider"]
    state = client.app.state.vigil  # type: ignore[attr-defined]
    state.matcher.sync(state.read_session)  # made in the database directly: load it now
    body = {"match_id": _receipt(client, provider), "verdict": "false_positive",
            "reference": "item-17"}
    r = client.post("/v1/match/feedback", headers=auth(provider), json=body)
    assert r.status_code == 201 and r.json()["quarantined"] is False
    # The same organisation again does not count twice.
    assert client.post("/v1/match/feedback", headers=auth(provider), json=body).json()["quarantined"] is False
    assert _match(client, provider)
    # Another organisation's receipt is no receipt: only what one matched counts.
    r = client.post("/v1/match/feedback", headers=auth(second), json=body)
    assert r.status_code == 404
    r = client.post("/v1/match/feedback", headers=auth(second),
                    json={**body, "match_id": _receipt(client, second)})
    assert r.json()["quarantined"] is True
    assert _match(client, provider) == []  # out of matching at once
    feed = client.get("/v1/lists/known-material/changes", headers=auth(provider)).json()
    assert [c["action"] for c in feed["changes"]] == ["add", "withdraw"]
    centre = auth(w.tokens["centre"])
    (alert,) = client.get("/v1/alerts", headers=centre).json()
    assert alert["kind"] == "false_positives" and alert["indicator_id"] == ind_id
    assert client.get("/v1/alerts", headers=auth(provider)).status_code == 403
    bad = client.post("/v1/match/feedback", headers=auth(provider),
                      json={"match_id": body["match_id"], "verdict": "maybe"})
    assert bad.status_code == 422
    # A reviewer looks again and reinstates it; it matches again.
    r = client.post(f"/v1/indicators/{ind_id}/reinstate", headers=centre, json={"reason": "checked"})
    assert r.json() == {"id": ind_id, "status": "active"}
    assert _match(client, provider)
    client.post(f"/v1/alerts/{alert['id']}/acknowledge", headers=centre)
    assert client.get("/v1/alerts", headers=centre).json() == []
    key = client.app.state.vigil.signer.public_key  # type: ignore[attr-defined]
    with factory() as s:
        report = verify_database(s, key)
    assert report.ok, report.problems


def test_feedback_is_no_oracle_and_needs_a_real_match(client: TestClient,
                                                      factory: sessionmaker[Session]) -> None:
    """Guessing ids quarantines nothing, and every kind of bad receipt — made up, another
    organisation's, for a pending or retracted indicator — gets the same answer."""
    w = build_world(factory)
    provider = auth(w.tokens["provider"])
    with transaction(factory) as s:
        pending = indicators.propose(s, w.principals["centre"], [
            indicators.Proposal("md5", "b2" * 16, "known-material", "test")])[0].id
    answers = set()
    for receipt in ("m_made-up", f"{pending}", "m_" + "A" * 38, ""):
        r = client.post("/v1/match/feedback", headers=provider,
                        json={"match_id": receipt or "x", "verdict": "false_positive"})
        answers.add((r.status_code, r.json()["error"]["message"]))
    assert len(answers) == 1 and next(iter(answers))[0] == 404
    r = client.post("/v1/match/feedback", headers=provider,
                    json={"indicator_id": pending, "verdict": "false_positive"})
    assert r.status_code == 422  # the old form, by id, is refused


def test_two_organisations_cannot_quarantine_a_whole_list(
        db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> None:
    """A provider holds the lists, so it can get a receipt for every listed hash by matching
    it. Past its daily budget, its false positives wait for reviewers, who get one alert."""
    w = build_world(factory)
    values = [f"{i:02x}" * 16 for i in range(0x30, 0x35)]
    with transaction(factory) as s:
        for v in values:
            (ind,) = indicators.propose(s, w.principals["centre"], [
                indicators.Proposal("md5", v, "known-material", "test")])
            indicators.verify(s, w.principals["partner"], ind.id)
        other = orgs.create_organisation(s, None, "Second Provider", OrgKind.PROVIDER)
        second = orgs.issue_key(s, None, other.id, "p2", set(KIND_SCOPES[OrgKind.PROVIDER])).token
    with make_client(db_url, data_dir, quarantine_feedback_per_day=2) as client:
        state = client.app.state.vigil  # type: ignore[attr-defined]
        state.matcher.sync(state.read_session)
        quarantined = []
        for token in (w.tokens["provider"], second):
            hits = client.post("/v1/match", headers=auth(token), json={"items": [
                {"signal_type": "md5", "value": v} for v in values]}).json()["results"]
            for result in hits:
                r = client.post("/v1/match/feedback", headers=auth(token), json={
                    "match_id": result["matches"][0]["match_id"], "verdict": "false_positive"})
                assert r.status_code == 201
                quarantined.append(r.json()["quarantined"])
        assert quarantined.count(True) == 2  # the budget, not the list
        alerts = client.get("/v1/alerts", headers=auth(w.tokens["centre"])).json()
        assert [a["kind"] for a in alerts].count("feedback_volume") == 2  # one per organisation
