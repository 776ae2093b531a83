"""The two-organisation rule cannot be met by the Centre alone: a new organisation that may
review indicators is approved by a second party first — and the log audit checks it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth
from tests.fixtures.world import build_world
from vigil.indicators.log_audit import replay
from vigil.orgs import accounts
from vigil.orgs.access import Scope
from vigil.orgs.models import StaffAccount
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


def _propose(client: TestClient, token: str, value: str) -> int:
    r = client.post("/v1/indicators", headers=auth(token), json={"items": [
        {"signal_type": "md5", "value": value, "list": "known-material", "legal_basis": "x"}]})
    assert r.status_code == 201, r.text
    return int(r.json()[0]["id"])


def test_a_key_the_centre_issues_to_an_approved_partner_cannot_review_until_confirmed(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """The Centre issues keys; a key that would act as another organisation (review, approve)
    works as such only once a second party confirms it — or the Centre could verify its own
    proposals with a key it minted for the partner."""
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    partner_org = w.principals["partner"].organisation_id
    r = client.post(f"/v1/orgs/{partner_org}/keys", headers=centre, json={
        "holder": "minted", "scopes": ["indicators:review", "indicators:read"]})
    assert r.status_code == 201 and r.json()["approved"] is False
    minted, minted_id = r.json()["token"], r.json()["id"]
    ind = _propose(client, w.tokens["centre"], "cd" * 16)
    assert client.post(f"/v1/indicators/{ind}/verify", headers=auth(minted)).status_code == 403
    # Not the Centre, not the key's own organisation: another second party confirms it.
    assert client.post(f"/v1/keys/{minted_id}/approve", headers=centre).status_code == 403
    assert client.post(f"/v1/keys/{minted_id}/approve",
                       headers=auth(w.tokens["partner"])).status_code == 403
    r = client.post(f"/v1/keys/{minted_id}/approve", headers=auth(w.tokens["auditor"]))
    assert r.status_code == 200 and r.json()["approved"] is True
    client.app.state.vigil.principals._entries.clear()  # type: ignore[attr-defined]
    assert client.post(f"/v1/indicators/{ind}/verify", headers=auth(minted)).status_code == 200
    # The same for a workspace account the Centre makes for the partner.
    r = client.post(f"/v1/orgs/{partner_org}/accounts", headers=centre,
                    json={"username": "minted.reviewer", "role": "reviewer"})
    assert r.status_code == 201
    with factory() as s:
        account = s.scalars(select(StaffAccount).where(
            StaffAccount.username == "minted.reviewer")).one()
        assert Scope.INDICATORS_REVIEW not in accounts.principal_of(account).scopes
    # Keys that act as no second party, and the Centre's own keys, need nobody.
    r = client.post(f"/v1/orgs/{partner_org}/keys", headers=centre,
                    json={"holder": "matcher", "scopes": ["match"]})
    assert r.json()["approved"] is True
    r = client.post(f"/v1/orgs/{w.principals['centre'].organisation_id}/keys", headers=centre,
                    json={"holder": "own reviewer", "scopes": ["indicators:review"]})
    assert r.json()["approved"] is True


def test_an_auditor_the_centre_creates_cannot_approve_until_approved(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """Otherwise the Centre creates an auditor, has it approve a partner it also created, and
    verifies its own proposals with the partner's key."""
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    r = client.post("/v1/orgs", headers=centre, json={"name": "Puppet office", "kind": "auditor"})
    assert r.status_code == 201 and r.json()["approved"] is False
    puppet = r.json()["id"]
    token = client.post(f"/v1/orgs/{puppet}/keys", headers=centre, json={
        "holder": "x", "scopes": ["orgs:approve", "audit:read"]}).json()["token"]
    shadow = client.post("/v1/orgs", headers=centre,
                         json={"name": "Shadow two", "kind": "partner_centre"}).json()["id"]
    assert client.post(f"/v1/orgs/{shadow}/approve", headers=auth(token)).status_code == 403
    # The founding auditor approves the new one; then it may approve others.
    assert client.post(f"/v1/orgs/{puppet}/approve",
                       headers=auth(w.tokens["auditor"])).status_code == 200
    client.app.state.vigil.principals._entries.clear()  # type: ignore[attr-defined]
    assert client.post(f"/v1/orgs/{shadow}/approve", headers=auth(token)).status_code == 200


def test_the_centre_cannot_propose_through_a_key_it_minted_and_verify_alone(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """Found by an attempt to break approvals: the Centre minted a proposing key for another
    organisation (a hotline),
    proposed with it, and verified as the Centre — two organisations on paper, one in fact,
    and the hash went into the verified list with an OK audit. A proposing key the Centre
    issues now waits for a second party like a reviewing one, and the audit says so if it
    was used before."""
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    authority_org = w.principals["authority_de"].organisation_id  # any proposing kind
    r = client.post(f"/v1/orgs/{authority_org}/keys", headers=centre, json={
        "holder": "puppet", "scopes": ["indicators:propose"]})
    assert r.status_code == 201 and r.json()["approved"] is False
    puppet, puppet_id = r.json()["token"], r.json()["id"]
    r = client.post("/v1/indicators", headers=auth(puppet), json={"items": [
        {"signal_type": "md5", "value": "ce" * 16, "list": "known-material",
         "legal_basis": "test"}]})
    assert r.status_code == 403 and "indicators:propose" in r.text
    # Confirmed by a second party, the key is the authority's word, and the Centre may verify.
    assert client.post(f"/v1/keys/{puppet_id}/approve",
                       headers=auth(w.tokens["auditor"])).status_code == 200
    client.app.state.vigil.principals._entries.clear()  # type: ignore[attr-defined]
    ind = _propose(client, puppet, "ce" * 16)
    assert client.post(f"/v1/indicators/{ind}/verify", headers=centre).status_code == 200
    # Nor can the Centre make a second centre of its own: it would hold the Centre's powers.
    r = client.post("/v1/orgs", headers=centre, json={"name": "Centre 2", "kind": "centre"})
    assert r.status_code == 403 and "one Centre" in r.text
    # The audit judges a proposal by a key the log shows pending.
    leaves = [
        {"event": "org:created", "org": 1, "kind": "centre", "approved": True},
        {"event": "org:created", "org": 5, "kind": "hotline", "approved": True, "by": 1},
        {"event": "key:issued", "org": 5, "key": 9, "scopes": "indicators:propose", "by": 1,
         "approved": False},
        {"event": "list:created", "list": "known-material", "trust": "verified",
         "pdq_threshold": 31},
        {"event": "indicator:proposed", "indicator": 1, "list": "known-material",
         "signal_type": "md5", "commitment": "00" * 32, "status": "pending", "org": 5, "key": 9},
    ]
    report = AuditReport()
    replay(leaves, report)
    assert report.problems == ["log: indicator 1 proposed by key 9 before a second party "
                               "approved it (indicators:propose)"]


def test_names_and_authorities_that_would_mislead_are_refused(factory: sessionmaker[Session]) -> None:
    """A name with a line break would split a row of `vigil org list` (or a log line); an
    authority of a non-member state would silently never receive a routed report."""
    from vigil.db import transaction
    from vigil.errors import Invalid
    from vigil.orgs import service as orgs
    from vigil.orgs.access import OrgKind

    with transaction(factory) as s:
        for name in ("Evil\nName", "tab\there", "", "   ", "x" * 201):
            with pytest.raises(Invalid, match="1-200 characters"):
                orgs.create_organisation(s, None, name, OrgKind.PROVIDER)
        with pytest.raises(Invalid, match="one of the EU's"):
            orgs.create_organisation(s, None, "Police of Nowhere", OrgKind.AUTHORITY, "XX")
        greek = orgs.create_organisation(s, None, "Hellenic Police", OrgKind.AUTHORITY, "EL")
        provider = orgs.create_organisation(s, None, "A Provider", OrgKind.PROVIDER, "US")
        with pytest.raises(Invalid, match="holder is 1-200"):
            orgs.issue_key(s, None, provider.id, "ops\nadmin", {Scope.MATCH})
        assert greek.member_state == "EL" and provider.member_state == "US"
