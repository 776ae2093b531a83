"""Hotline referral, end to end: two vigil instances on loopback (the referring Centre and a
partner hotline's vigil), a webhook partner whose receiver checks the signature, a country
without a partner, a partner that is down, bad input at the receiving endpoint, and the
hosting country's authority told at classification. Every connection goes through the egress
policy: the tests pin their host names to 127.0.0.1 in the settings."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.loopback import loopback
from tests.fixtures.site import Mailbox, Site
from tests.fixtures.workspace import PASSWORD, enrol, sign_in
from tests.fixtures.world import World, build_world
from vigil.app import create_app
from vigil.clock import now
from vigil.config import Settings
from vigil.db import make_engine, session_factory, transaction
from vigil.egress import EgressPolicy
from vigil.jobs.models import Job
from vigil.migrations import upgrade
from vigil.orgs import accounts, second_factor
from vigil.orgs import service as orgs
from vigil.orgs.access import OrgKind, Scope
from vigil.samples import encode, pattern_image
from vigil.takedown.models import Notice
from vigil.takedown.notify import NullNotifier
from vigil.takedown.referrals import tasks as referral_tasks
from vigil.takedown.referrals.models import Referral
from vigil.takedown.referrals.partners import (
    Endpoint,
    HttpPartners,
    NullPartners,
    PartnerFailed,
    ReferralMessage,
)
from vigil.takedown.tasks import check_notices
from vigil.webhooks import standard_signature
from vigil.worker import Worker

PARTNER_HOST = "partner-hotline.test"
HOOK_HOST = "hook-hotline.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Partner:
    """A partner hotline's own vigil, served on 127.0.0.1 by uvicorn, with its own database."""

    base: str
    client: TestClient
    factory: sessionmaker[Session]
    settings: Settings
    world: World
    #: The key it issued to the referring Centre (scope referrals:submit only).
    key_for_centre: str


@pytest.fixture
def partner(tmp_path: Path, site: Site) -> Iterator[Partner]:
    data = tmp_path / "partner"
    url = f"sqlite:///{tmp_path / 'partner.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    settings = Settings(data_dir=data, database_url=url, environment="test",
                        index_poll_interval=0.1, resolver_overrides=site.overrides)
    app = create_app(settings)
    w = build_world(factory)
    with transaction(factory) as s:
        org = orgs.create_organisation(s, None, "EU Centre (referring)", OrgKind.HOTLINE)
        key = orgs.issue_key(s, None, org.id, "referrals", {Scope.REFERRALS_SUBMIT}).token
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the partner did not start"
        time.sleep(0.05)
    # Ready as a deployment's health check sees it (its index loaded): on a busy machine the
    # loading thread would otherwise slow its first answers.
    deadline = time.monotonic() + 180
    while httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the partner never became ready"
        time.sleep(0.1)
    try:
        with TestClient(app) as client:
            yield Partner(f"http://{PARTNER_HOST}:{port}", client, factory, settings, w, key)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@dataclass
class HookReceiver:
    """A webhook partner on 127.0.0.1 that checks each delivery's Standard Webhooks signature
    with its secret and answers 401 when it does not verify."""

    port: int
    secret: str
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    @property
    def url(self) -> str:
        return f"http://{HOOK_HOST}:{self.port}/referrals"


@pytest.fixture
def hook() -> Iterator[HookReceiver]:
    from vigil.webhooks import verify_standard

    receiver = HookReceiver(0, "whsec-partner-secret")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            ok = verify_standard(receiver.secret.encode(), headers, body)
            if ok:
                receiver.received.append(json.loads(body))
            else:
                receiver.refused += 1
            self.send_response(202 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with loopback(Handler) as receiver.port:
        yield receiver


def _overrides(site: Site) -> dict[str, str]:
    return {**site.overrides, PARTNER_HOST: "127.0.0.1", HOOK_HOST: "127.0.0.1"}


def _classify_hosted(client: TestClient, w: World, site: Site, host: str, path: str,
                     country: str) -> dict[str, Any]:
    """A benign image served at ``host``, its host in ``country`` (the hosting directory), a
    hotline's report of it, classified illegal by the Centre's analyst."""
    url = site.put(host, path, encode(pattern_image(len(path))), "image/jpeg")
    r = client.put("/v1/hosting-contacts", headers=auth(w.tokens["centre"]),
                   json={"match": host, "provider": f"Host {country}", "email": f"abuse@{host}",
                         "country": country})
    assert r.status_code == 200, r.text
    r = client.post("/v1/public/url-reports", json={"url": url})
    assert r.status_code == 202, r.text
    r = client.post(f"/v1/url-reports/{r.json()['id']}/classification",
                    headers=auth(w.tokens["centre"]), json={"classification": "illegal_international"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _worker(factory: sessionmaker[Session], settings: Settings) -> Worker:
    worker = Worker(factory, factory, settings=settings)
    worker.services.notifier = NullNotifier()
    # The real client, with room for a machine busy with other tests.
    worker.services.partners = HttpPartners(settings.egress(), timeout=60)
    return worker


def _report(client: TestClient, w: World, report_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/url-reports/{report_id}", headers=auth(w.tokens["centre"]))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _analyst(client: TestClient, factory: sessionmaker[Session], w: World) -> None:
    """The Centre's analyst, signed in to the workspace (one account, not the whole staff)."""
    with transaction(factory) as s:
        made = accounts.create_account(s, None, w.principals["centre"].organisation_id, "rita",
                                       "reviewer", password=PASSWORD, locale="en",
                                       display_name="Rita")
        if second_factor.requires_second_factor(made.account):
            enrol(made.account)
    sign_in(client, "rita")


def _due_now(factory: sessionmaker[Session]) -> None:
    """Skip the back-off: every queued job is due (as if its wait had passed)."""
    with transaction(factory) as s:
        s.execute(update(Job).where(Job.status == "queued")
                  .values(run_after=now() - timedelta(seconds=1)))


# -- two vigils ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_referral_to_a_partner_vigil_until_removed(db_url: str, data_dir: Path,
                                                   factory: sessionmaker[Session], site: Site,
                                                   partner: Partner) -> None:
    w = build_world(factory)
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides=_overrides(site),
                        authority_contacts={"NL": "mailto:meldpunt@politie.test"})
    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        r = client.post("/v1/hotlines", headers=auth(w.tokens["centre"]), json={
            "country": "nl", "name": "Meldpunt NL", "kind": "vigil", "url": partner.base + "/",
            "secret": partner.key_for_centre})
        assert r.status_code == 201, r.text
        assert "secret" not in r.text and partner.key_for_centre not in r.text
        classified = _classify_hosted(client, w, site, "hosting-a.test", "/nl.jpg", "NL")
        ref = classified["referral"]
        assert ref["status"] == "pending" and ref["country"] == "NL"
        assert ref["hotline"] == "Meldpunt NL" and ref["delivery"]["state"] == "queued"

        worker = _worker(factory, settings)
        assert worker.run_once() == 2  # the referral, and the authority's identification
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["status"] == "acknowledged" and ref["remote_id"] and ref["delivery"] is None

        # The partner's side: a URL report of its own, marked as referred, for its analyst.
        waiting = partner.client.get("/v1/url-reports?classified=false",
                                     headers=auth(partner.world.tokens["centre"])).json()
        (theirs,) = waiting
        assert theirs["url"] == classified["url"] and theirs["source"] == "referral"
        assert "EU Centre (referring)" in theirs["description"]
        # The referring key can read its referral's status, and nothing else there.
        mine = auth(partner.key_for_centre)
        st = partner.client.get(f"/v1/referrals/in/{ref['remote_id']}", headers=mine).json()
        assert st["status"] == "received" and st["reference"] == ref["id"]
        assert partner.client.get("/v1/url-reports", headers=mine).status_code == 403
        r = partner.client.post(f"/v1/url-reports/{theirs['id']}/classification", headers=mine,
                                json={"classification": "not_illegal"})
        assert r.status_code == 403

        # The partner's analyst confirms it: its notice to the host is out.
        r = partner.client.post(f"/v1/url-reports/{theirs['id']}/classification",
                                headers=auth(partner.world.tokens["centre"]),
                                json={"classification": "illegal_national", "country": "NL"})
        assert r.status_code == 200, r.text
        (polled,) = referral_tasks.service.poll(factory, HttpPartners(settings.egress(), timeout=60))
        assert polled.changed and polled.status == "assessed"
        assert _report(client, w, classified["id"])["referral"]["status"] == "assessed"

        # The host takes it down; the partner's re-check confirms; the referrer sees it.
        site.remove("hosting-a.test", "/nl.jpg", status=410)
        (o,) = check_notices(partner.factory, partner.settings, NullNotifier())
        assert o.removed
        assert referral_tasks.follow_referrals(worker.services) == 1
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["status"] == "removed" and ref["removed_at"]
        # Removed is final: nothing more is asked.
        assert referral_tasks.follow_referrals(worker.services) == 0
        listed = client.get("/v1/referrals", headers=auth(w.tokens["centre"])).json()
        assert [x["status"] for x in listed] == ["removed"]

        # The audit trail has each step, named subject:action.
        with factory() as s:
            actions = set(s.scalars(text("SELECT action FROM audit_events")))
        assert {"hotline:added", "referral:created", "referral:acknowledged",
                "referral:assessed", "referral:removed"} <= actions

        # The workspace's takedown page shows it too.
        _analyst(client, factory, w)
        page = client.get("/app/takedown").text
        assert "Referrals to partner hotlines" in page and "Meldpunt NL" in page
        assert 'class="referral-removed"' in page


@pytest.mark.slow
def test_same_referral_twice_is_one_and_a_partner_decline_is_final(
        db_url: str, data_dir: Path, factory: sessionmaker[Session], site: Site,
        partner: Partner) -> None:
    w = build_world(factory)
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides=_overrides(site))
    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        assert client.post("/v1/hotlines", headers=auth(w.tokens["centre"]), json={
            "country": "NL", "name": "Meldpunt NL", "kind": "vigil", "url": partner.base,
            "secret": partner.key_for_centre}).status_code == 201
        classified = _classify_hosted(client, w, site, "hosting-a.test", "/twice.jpg", "NL")
        worker = _worker(factory, settings)
        worker.run_once()
        ref = _report(client, w, classified["id"])["referral"]
        # A delivery repeated (a worker that died after sending): the partner answers the same.
        again = partner.client.post("/v1/referrals/in", headers=auth(partner.key_for_centre), json={
            "reference": ref["id"], "url": classified["url"],
            "classification": "illegal_international"})
        assert again.status_code == 201 and again.json()["created"] is False
        assert again.json()["id"] == ref["remote_id"]
        assert len(partner.client.get("/v1/url-reports", headers=auth(
            partner.world.tokens["centre"])).json()) == 1
        (theirs,) = partner.client.get("/v1/url-reports", headers=auth(
            partner.world.tokens["centre"])).json()
        partner.client.post(f"/v1/url-reports/{theirs['id']}/classification",
                            headers=auth(partner.world.tokens["centre"]),
                            json={"classification": "not_illegal"})
        referral_tasks.follow_referrals(worker.services)
        assert _report(client, w, classified["id"])["referral"]["status"] == "declined"
        assert referral_tasks.follow_referrals(worker.services) == 0


# -- a webhook partner ---------------------------------------------------------------------------

def _signed(secret: str, body: bytes, msg_id: str = "msg_1", at: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if at is None else at
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": standard_signature(secret.encode(), msg_id, ts, body),
            "Content-Type": "application/json"}


def test_webhook_partner_signed_both_ways(db_url: str, data_dir: Path,
                                          factory: sessionmaker[Session], site: Site,
                                          hook: HookReceiver) -> None:
    w = build_world(factory)
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides=_overrides(site))
    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        # Registered with the wrong secret first: the receiver refuses the signature.
        assert client.post("/v1/hotlines", headers=auth(w.tokens["centre"]), json={
            "country": "BE", "name": "Child Focus", "kind": "webhook", "url": hook.url,
            "secret": "not-the-partners-secret"}).status_code == 201
        classified = _classify_hosted(client, w, site, "hosting-b.test", "/be.jpg", "BE")
        worker = _worker(factory, settings)
        worker.run_once()
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["status"] == "pending" and hook.refused == 1 and hook.received == []
        assert ref["delivery"]["attempts"] == 1 and ref["delivery"]["state"] == "queued"
        assert f"{HOOK_HOST} answered 401" in ref["delivery"]["last_error"]
        # The Centre registers the right secret; the next attempt is acknowledged.
        assert client.delete("/v1/hotlines/BE", headers=auth(w.tokens["centre"])).status_code == 200
        assert client.post("/v1/hotlines", headers=auth(w.tokens["centre"]), json={
            "country": "BE", "name": "Child Focus", "kind": "webhook", "url": hook.url,
            "secret": hook.secret}).status_code == 201
        _due_now(factory)
        worker.run_once()
        # Removed from the registry before delivery: closed, never sent with a stale entry.
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["status"] == "closed" and "removed before delivery" in ref["reason"]

        # A fresh URL, with the registry right: delivered, signed, acknowledged.
        classified = _classify_hosted(client, w, site, "hosting-b.test", "/be2.jpg", "BE")
        worker.run_once()
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["status"] == "acknowledged" and ref["remote_id"] is None
        (payload,) = hook.received
        assert payload["event"] == "referral:new" and payload["url"] == classified["url"]
        assert payload["reference"] == ref["id"] and payload["hosting_country"] == "BE"
        assert set(payload) == {"event", "reference", "url", "classification",
                                "classification_country", "hosting_country", "classified_at"}

        # The partner reports back, signed with its secret, naming the referral in the body.
        path = f"/v1/referrals/{ref['id']}/status"
        body = json.dumps({"id": ref["id"], "status": "assessed"}).encode()
        r = client.post(path, content=body, headers=_signed(hook.secret, body))
        assert r.status_code == 200 and r.json()["status"] == "assessed", r.text
        # Bad input: wrong secret, stale timestamp, unknown referral, malformed, oversized.
        body = json.dumps({"id": ref["id"], "status": "removed"}).encode()
        r = client.post(path, content=body, headers=_signed("guess", body))
        assert r.status_code == 401 and "signature does not verify" in r.text
        r = client.post(path, content=body, headers=_signed(hook.secret, body,
                                                              at=int(time.time()) - 3600))
        assert r.status_code == 401
        r = client.post("/v1/referrals/00000000-0000-0000-0000-000000000000/status",
                        content=body, headers=_signed(hook.secret, body))
        assert r.status_code == 404 and "no referral" in r.text
        bad = json.dumps({"id": ref["id"], "status": "gone"}).encode()
        r = client.post(path, content=bad, headers=_signed(hook.secret, bad))
        assert r.status_code == 422 and "status must be one of" in r.text
        bad = b"[not json"
        r = client.post(path, content=bad, headers=_signed(hook.secret, bad))
        assert r.status_code == 422 and "JSON object" in r.text
        # Without the referral's id in the signed body (the signature does not cover the path).
        bad = b'{"status": "removed"}'
        r = client.post(path, content=bad, headers=_signed(hook.secret, bad))
        assert r.status_code == 422
        assert r.json()["error"]["message"].endswith(f'"id" ({ref["id"]}) is missing')
        big = json.dumps({"id": ref["id"], "status": "removed", "detail": "x" * 20_000}).encode()
        r = client.post(path, content=big, headers=_signed(hook.secret, big))
        assert r.status_code == 413
        assert _report(client, w, classified["id"])["referral"]["status"] == "assessed"
        # And the real one.
        r = client.post(path, content=body, headers=_signed(hook.secret, body))
        assert r.status_code == 200 and r.json()["status"] == "removed"
        assert _report(client, w, classified["id"])["referral"]["status"] == "removed"

        # Replay: the partner's signed "removed" for that referral, posted (within the five
        # minutes) to another referral the same partner received, is refused and changes
        # nothing there.
        other = _classify_hosted(client, w, site, "hosting-b.test", "/be3.jpg", "BE")
        worker.run_once()
        other_ref = _report(client, w, other["id"])["referral"]
        assert other_ref["status"] == "acknowledged"
        r = client.post(f"/v1/referrals/{other_ref['id']}/status", content=body,
                        headers=_signed(hook.secret, body))
        assert r.status_code == 422, r.text
        assert f"is not the referral in the path ({other_ref['id']})" in r.json()["error"]["message"]
        assert _report(client, w, other["id"])["referral"]["status"] == "acknowledged"


# -- no partner, partner down --------------------------------------------------------------------

def test_no_partner_for_the_country_is_shown(db_url: str, data_dir: Path,
                                             factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        classified = _classify_hosted(client, w, site, "hosting-a.test", "/us.jpg", "US")
        ref = classified["referral"]
        assert ref["status"] == "not_referred" and ref["reason"] == "no partner hotline for US"
        with factory() as s:
            assert s.scalar(select(Job.id).where(Job.kind == "refer_url")) is None
        _analyst(client, factory, w)
        page = client.get("/app/takedown").text
        assert "not referred" in page and "no partner hotline for US" in page


def test_partner_down_retries_then_gives_up_visibly(db_url: str, data_dir: Path,
                                                    factory: sessionmaker[Session],
                                                    site: Site) -> None:
    w = build_world(factory)
    closed = _free_port()  # nobody listens there
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides=_overrides(site))
    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        assert client.post("/v1/hotlines", headers=auth(w.tokens["centre"]), json={
            "country": "NL", "name": "Meldpunt NL", "kind": "vigil",
            "url": f"http://{PARTNER_HOST}:{closed}", "secret": "vgl_x_y"}).status_code == 201
        classified = _classify_hosted(client, w, site, "hosting-a.test", "/down.jpg", "NL")
        worker = _worker(factory, settings)
        worker.run_once()
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["status"] == "pending"
        delivery = ref["delivery"]
        assert delivery["state"] == "queued" and delivery["attempts"] == 1
        assert "PartnerFailed" in delivery["last_error"] and PARTNER_HOST in delivery["last_error"]
        assert "vgl_x_y" not in json.dumps(ref)  # the secret is in no error
        assert delivery["next_attempt_at"] > classified["created_at"]
        with factory() as s:
            job = s.get(Job, delivery["job"])
            assert job is not None and job.updated_at is not None
            # Tried again after the task's back-off (30 s, doubling), not at once.
            wait = (job.run_after - job.updated_at).total_seconds()
            assert 29 <= wait <= 31, wait
        worker.run_once()  # not due: nothing is sent
        assert _report(client, w, classified["id"])["referral"]["delivery"]["attempts"] == 1
        # Still down at its last attempt (the ones between skipped): a dead letter, shown.
        with transaction(factory) as s:
            s.execute(update(Job).where(Job.id == delivery["job"])
                      .values(attempts=referral_tasks.ATTEMPTS - 1))
        _due_now(factory)
        worker.run_once()
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["delivery"]["state"] == "dead"
        assert ref["delivery"]["attempts"] == referral_tasks.ATTEMPTS
        _analyst(client, factory, w)
        page = client.get("/app/takedown").text
        assert re.search(r'class="bad delivery-failed">delivery gave up after 14 attempts: '
                         r"[\w.]*PartnerFailed: " + re.escape(PARTNER_HOST) + ": ConnectError",
                         page), page[-3000:]


def test_a_partner_back_up_gets_the_referral(db_url: str, data_dir: Path,
                                             factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides=_overrides(site))
    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        client.post("/v1/hotlines", headers=auth(w.tokens["centre"]), json={
            "country": "NL", "name": "Meldpunt NL", "kind": "vigil", "url": "http://x.test",
            "secret": "k"})
        classified = _classify_hosted(client, w, site, "hosting-a.test", "/back.jpg", "NL")
        worker = _worker(factory, settings)
        worker.services.partners = partners = NullPartners(down=True)
        worker.run_once()
        assert _report(client, w, classified["id"])["referral"]["delivery"]["attempts"] == 1
        worker.run_once()  # not due yet: the back-off holds it
        assert _report(client, w, classified["id"])["referral"]["delivery"]["attempts"] == 1
        partners.down = False
        _due_now(factory)
        worker.run_once()
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["status"] == "acknowledged" and ref["delivery"] is None
        (_endpoint, message), = partners.sent
        assert message.reference == ref["id"] and message.hosting_country == "NL"
        # A poll that fails is shown with the referral and tried again next time.
        partners.down = True
        (p,) = referral_tasks.service.poll(factory, partners)
        assert p.error and not p.changed
        assert "is down" in _report(client, w, classified["id"])["referral"]["poll_error"]
        partners.down = False
        partners.statuses[ref["remote_id"]] = "removed"
        referral_tasks.service.poll(factory, partners)
        ref = _report(client, w, classified["id"])["referral"]
        assert ref["status"] == "removed" and ref["poll_error"] is None


def test_partner_clients_ask_the_egress_policy() -> None:
    """A partner at a non-public address that the settings do not pin is refused before any
    connection, for a partner vigil and a webhook partner alike; a pinned one is reached."""
    port = _free_port()
    message = ReferralMessage("ref", "http://example.test/a", "illegal_international", None,
                              "NL", None)
    for kind in ("vigil", "webhook"):
        endpoint = Endpoint(kind, f"http://{PARTNER_HOST}:{port}", "secret")
        with pytest.raises(PartnerFailed, match=r"cannot resolve|non-public"):
            HttpPartners(EgressPolicy()).refer(endpoint, message)
        with pytest.raises(PartnerFailed, match="non-public"):
            HttpPartners(EgressPolicy()).refer(Endpoint(kind, f"http://127.0.0.1:{port}", "s"),
                                               message)
        # Pinned: the policy lets it through, and the connection itself fails (nobody there).
        with pytest.raises(PartnerFailed, match="ConnectError"):
            HttpPartners(EgressPolicy.of({PARTNER_HOST: "127.0.0.1"})).refer(endpoint, message)
    with pytest.raises(PartnerFailed, match="not asked"):
        HttpPartners().status(Endpoint("webhook", "http://x.test", "s"), "id")


# -- the receiving endpoint: bad input -----------------------------------------------------------

def test_receiving_endpoint_refuses_bad_input_and_keeps_what_it_has(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    with transaction(factory) as s:
        org = orgs.create_organisation(s, None, "Referring hotline", OrgKind.HOTLINE)
        key = orgs.issue_key(s, None, org.id, "refer", {Scope.REFERRALS_SUBMIT}).token
        other = orgs.create_organisation(s, None, "Another hotline", OrgKind.HOTLINE)
        other_key = orgs.issue_key(s, None, other.id, "refer", {Scope.REFERRALS_SUBMIT}).token
    good = {"reference": "ref-1", "url": "http://example.test/a.jpg",
            "classification": "illegal_international", "hosting_country": "NL"}
    r = client.post("/v1/referrals/in", headers=auth(key), json=good)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "received" and first["created"] is True
    cases: list[tuple[dict[str, str], object, int, str]] = [
        (auth("vgl_wrong_key"), good, 401, "not_authenticated"),
        ({}, good, 401, "not_authenticated"),
        (auth(w.tokens["provider"]), good, 403, "referrals:submit"),
        (auth(key), {**good, "reference": "ref-2", "url": "ftp://example.test/x"}, 422,
         "only http and https"),
        (auth(key), {**good, "reference": "ref-2", "classification": "not_illegal"}, 422,
         "only URLs classified illegal"),
        (auth(key), {**good, "reference": "has space"}, 422, "reference"),
        (auth(key), {**good, "reference": "ref-2", "hosting_country": "N1"}, 422,
         "two-letter country code"),
        (auth(key), {"reference": "ref-2"}, 422, "url"),
    ]
    for headers, body, status, problem in cases:
        r = client.post("/v1/referrals/in", headers=headers, json=body)
        assert r.status_code == status and problem in r.text, (body, r.text)
    r = client.post("/v1/referrals/in", headers={**auth(key), "Content-Type": "application/json"},
                    content=b'{"reference": "ref-3", "url": ')
    assert r.status_code == 422
    huge = json.dumps({**good, "reference": "ref-4", "pad": "x" * 20_000}).encode()
    r = client.post("/v1/referrals/in", headers={**auth(key), "Content-Type": "application/json"},
                    content=huge)
    assert r.status_code == 413 and "over 16384 bytes" in r.text
    # Status: its own referral only; an unknown id and another's id are the same 404.
    assert client.get(f"/v1/referrals/in/{first['id']}", headers=auth(key)).status_code == 200
    for headers, rid in ((auth(key), "00000000-0000-0000-0000-000000000000"),
                         (auth(other_key), first["id"])):
        r = client.get(f"/v1/referrals/in/{rid}", headers=headers)
        assert r.status_code == 404 and "no referral" in r.text
    # Nothing of the refused ones was stored; the good one is intact.
    listed = client.get("/v1/url-reports", headers=auth(w.tokens["centre"])).json()
    assert [(u["url"], u["source"]) for u in listed] == [("http://example.test/a.jpg", "referral")]


# -- the registry --------------------------------------------------------------------------------

def test_hotline_registry_is_the_centres_and_checks_its_input(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    centre = auth(w.tokens["centre"])
    entry = {"country": "NL", "name": "Meldpunt", "kind": "vigil",
             "url": "https://meldpunt.test", "secret": "vgl_secret_value"}
    assert client.post("/v1/hotlines", headers=centre, json=entry).status_code == 201
    for bad, status, problem in (
            ({**entry, "country": "DE", "kind": "email"}, 422, "kind"),
            ({**entry, "country": "DE", "url": "ftp://x.test"}, 422, "http(s) URL"),
            ({**entry, "country": "1E"}, 422, "two-letter code"),
            ({**entry, "country": "DE", "secret": ""}, 422, "secret"),
            ({**entry, "country": "DE", "name": "a\nb"}, 422, "control characters"),
            (entry, 409, "NL has a partner hotline already")):
        r = client.post("/v1/hotlines", headers=centre, json=bad)
        assert r.status_code == status and problem in r.text, (bad, r.text)
    for actor in ("partner", "provider", "authority_de"):
        r = client.post("/v1/hotlines", headers=auth(w.tokens[actor]), json={**entry, "country": "FR"})
        assert r.status_code == 403, actor
    listed = client.get("/v1/hotlines", headers=centre)
    assert [h["country"] for h in listed.json()] == ["NL"]
    assert "vgl_secret_value" not in listed.text
    with factory() as s:  # sealed at rest
        (stored,) = s.scalars(text("SELECT secret FROM partner_hotlines"))
        assert stored.startswith("pd1:") and "vgl_secret_value" not in stored
    assert client.delete("/v1/hotlines/nl", headers=centre).status_code == 200
    r = client.delete("/v1/hotlines/NL", headers=centre)
    assert r.status_code == 404 and "no partner hotline for NL" in r.text
    assert client.get("/v1/hotlines", headers=centre).json() == []


# -- law enforcement at classification -----------------------------------------------------------

def test_authority_is_told_at_classification(db_url: str, data_dir: Path,
                                             factory: sessionmaker[Session], site: Site,
                                             smtp: Mailbox) -> None:
    w = build_world(factory)
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides=site.overrides, smtp_host=smtp.host,
                        smtp_port=smtp.port, egress_allow=[smtp.host],
                        authority_contacts={"DE": "mailto:lka@authority.test"})
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        classified = _classify_hosted(client, w, site, "hosting-a.test", "/de.jpg", "DE")
        nid = classified["notice"]["id"]
        assert classified["referral"]["reason"] == "no partner hotline for DE"
        # Not yet passed: the authority's view waits for the job.
        assert client.get("/v1/authority/notices", headers=auth(w.tokens["authority_de"])).json() == []
        worker = Worker(factory, factory, settings=settings)  # the real sender: SMTP
        worker.run_once()
        (rcpts, mail), = smtp.messages
        assert rcpts == ["lka@authority.test"]
        assert "victim identification" in mail["Subject"] and f"vigil-notice-{nid}" in mail["Subject"]
        assert classified["url"] in mail.get_payload()
        # Passed at classification, long before any escalation (60 h).
        de = client.get("/v1/authority/notices", headers=auth(w.tokens["authority_de"])).json()
        assert [n["id"] for n in de] == [nid] and de[0]["authority_informed_at"]
        assert de[0]["escalated_at"] is None
        assert client.get("/v1/authority/notices", headers=auth(w.tokens["authority_fr"])).json() == []
        events = client.get(f"/v1/notices/{nid}", headers=auth(w.tokens["centre"])).json()["events"]
        assert ("authority_informed", "DE: mailto:lka@authority.test") in [
            (e["kind"], e["detail"]) for e in events]
        worker.run_once()
        assert len(smtp.messages) == 1  # told once
        # The escalation goes through the same home, 60 hours on.
        t0 = now()
        check_notices(factory, settings, worker.services.notifier or NullNotifier(), at=t0)
        check_notices(factory, settings, worker.services.notifier or NullNotifier(),
                      at=t0 + timedelta(hours=61))
        assert [m["Subject"].split("] ")[1][:10] for _, m in smtp.messages[1:]
                if "Escalation" in m["Subject"]] == ["Escalation"]


def test_authority_failure_is_retried_and_shown(db_url: str, data_dir: Path,
                                               factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    closed = _free_port()
    hook_url = f"http://{HOOK_HOST}:{closed}/lka"
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides=_overrides(site), webhook_secret="s",
                        authority_contacts={"DE": hook_url})
    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        classified = _classify_hosted(client, w, site, "hosting-a.test", "/lka.jpg", "DE")
        Worker(factory, factory, settings=settings).run_once()
        with factory() as s:
            job = s.scalar(select(Job).where(Job.kind == "inform_authority"))
            assert job is not None and job.status == "queued" and job.attempts == 1
            assert "WebhookFailed" in (job.last_error or "")
        _analyst(client, factory, w)
        page = client.get(f"/app/takedown/notices/{classified['notice']['id']}").text
        assert "informing it failed (1 attempts)" in page


def test_a_referred_in_url_is_never_referred_on(client: TestClient,
                                                factory: sessionmaker[Session]) -> None:
    """No loops between hotlines: what a partner referred to us, we do not refer back."""
    w = build_world(factory)
    with transaction(factory) as s:
        org = orgs.create_organisation(s, None, "Referring hotline", OrgKind.HOTLINE)
        key = orgs.issue_key(s, None, org.id, "refer", {Scope.REFERRALS_SUBMIT}).token
    r = client.post("/v1/referrals/in", headers=auth(key), json={
        "reference": "r1", "url": "http://192.0.2.7/x.jpg", "classification": "illegal_national",
        "classification_country": "NL"})
    assert r.status_code == 201
    inbound_id = r.json()["id"]
    (rep,) = client.get("/v1/url-reports", headers=auth(w.tokens["centre"])).json()
    r = client.post(f"/v1/url-reports/{rep['id']}/classification", headers=auth(w.tokens["centre"]),
                    json={"classification": "illegal_international"})
    assert r.status_code == 200, r.text
    assert r.json()["referral"]["status"] == "not_referred"
    assert "not referred on" in r.json()["referral"]["reason"]
    st = client.get(f"/v1/referrals/in/{inbound_id}", headers=auth(key)).json()
    assert st["status"] == "assessed"  # the partner that referred it sees our decision
    with factory() as s:
        assert s.scalar(select(Referral.id).where(Referral.kind.is_not(None))) is None


def test_a_hotline_reads_only_the_referrals_of_its_own_reports(db_url: str, data_dir: Path,
                                                               factory: sessionmaker[Session],
                                                               site: Site) -> None:
    """A hotline follows the referrals made from its own URL reports and learns nothing of the
    Centre's decision on someone else's report of the same URL: every read path — the API's
    list and one referral, the URL report (one and listed) with its referral, the answer to
    its own classification, the workspace's takedown page — answers it the same whether or
    not the public reported the URL and the Centre classified it first."""
    from vigil.orgs.access import KIND_SCOPES

    w = build_world(factory)
    with transaction(factory) as s:
        org = orgs.create_organisation(s, None, "Some Hotline", OrgKind.HOTLINE)
        token = orgs.issue_key(s, None, org.id, "api", set(KIND_SCOPES[OrgKind.HOTLINE])).token
        made = accounts.create_account(s, None, org.id, "hana", "analyst", password=PASSWORD)
        if second_factor.requires_second_factor(made.account):
            enrol(made.account)
    hl = auth(token)
    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        # The public reported one URL; the Centre classified it illegal (hosted in the US).
        centres = _classify_hosted(client, w, site, "hosting-a.test", "/others.jpg", "US")
        assert centres["referral"]["status"] == "not_referred" and centres["notice"]
        fresh = site.put("hosting-a.test", "/fresh.jpg", encode(pattern_image(3)), "image/jpeg")
        # Afterwards the hotline reports that URL, and another nobody else reported.
        mine = {}
        for name, url in (("others", centres["url"]), ("fresh", fresh)):
            r = client.post("/v1/url-reports", headers=hl, json={"url": url})
            assert r.status_code == 201, r.text
            assert r.json()["referral"] is None and r.json()["classification"] is None
            mine[name] = r.json()["id"]

        def shape(report: dict[str, Any]) -> dict[str, Any]:
            ref = report["referral"]
            return {"classification": report["classification"],
                    "referral": ref and {k: ref[k] for k in ("status", "country", "reason")}}

        listed = {r["id"]: r for r in client.get("/v1/url-reports", headers=hl).json()}
        assert set(listed) == set(mine.values())
        views = {name: (shape(client.get(f"/v1/url-reports/{rid}", headers=hl).json()),
                        shape(listed[rid])) for name, rid in mine.items()}
        assert views["others"] == views["fresh"] == (
            {"classification": None, "referral": None},) * 2
        assert client.get("/v1/referrals", headers=hl).json() == []
        # The Centre's referral answers exactly as an id that does not exist.
        theirs = client.get(f"/v1/referrals/{centres['referral']['id']}", headers=hl)
        nobody = "00000000-0000-4000-8000-000000000000"
        unknown = client.get(f"/v1/referrals/{nobody}", headers=hl)
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.text.replace(centres["referral"]["id"], nobody) == unknown.text
        sign_in(client, "hana")
        page = client.get("/app/takedown").text
        assert "No URL classified illegal yet." in page and 'class="referral-' not in page
        assert "no partner hotline for US" not in page

        # The hotline classifies both of its reports: each answer carries the referral made
        # from its own report; the Centre's notice already open for the URL is not shown.
        answers = {}
        for name, rid in mine.items():
            r = client.post(f"/v1/url-reports/{rid}/classification", headers=hl,
                            json={"classification": "illegal_international"})
            assert r.status_code == 200, r.text
            answers[name] = r.json()
        assert shape(answers["others"]) == shape(answers["fresh"]) == {
            "classification": "illegal_international",
            "referral": {"status": "not_referred", "country": "US",
                         "reason": "no partner hotline for US"}}
        assert answers["others"]["referral"]["id"] != centres["referral"]["id"]
        assert answers["others"]["notice"] is None  # the Centre's, opened from the public's
        assert answers["fresh"]["notice"]["url"] == fresh  # its own
        seen = {r["id"] for r in client.get("/v1/referrals", headers=hl).json()}
        assert seen == {answers["others"]["referral"]["id"], answers["fresh"]["referral"]["id"]}
        page = client.get("/app/takedown").text
        assert page.count('class="referral-not_referred"') == 2
        # The Centre reads all three.
        assert len(client.get("/v1/referrals", headers=auth(w.tokens["centre"])).json()) == 3

        # A hotline's report settled by the Centre's decision on someone else's report of the
        # same URL shows that classification, not the referral made from the other report.
        both = site.put("hosting-a.test", "/both.jpg", encode(pattern_image(4)), "image/jpeg")
        r = client.post("/v1/url-reports", headers=hl, json={"url": both})
        assert r.status_code == 201, r.text
        r = client.post("/v1/public/url-reports", json={"url": both})
        r = client.post(f"/v1/url-reports/{r.json()['id']}/classification",
                        headers=auth(w.tokens["centre"]), json={"classification": "illegal_international"})
        assert r.status_code == 200, r.text
        settled = [x for x in client.get("/v1/url-reports", headers=hl).json() if x["url"] == both]
        assert [shape(x) for x in settled] == [{"classification": "illegal_international",
                                                "referral": None}]
        assert r.json()["referral"]["id"] not in {
            x["id"] for x in client.get("/v1/referrals", headers=hl).json()}


# -- one notice to the host ------------------------------------------------------------------

def test_the_centres_own_notice_waits_while_the_partner_hotline_handles_it(
        db_url: str, data_dir: Path, factory: sessionmaker[Session], site: Site,
        hook: HookReceiver) -> None:
    """The host gets one notice, from the hotline of its own country: while the referral is
    on its way or in the partner's hands the Centre's own notice is held (the re-check and
    the authority go on), for at most VIGIL_REFERRAL_HOLD_HOURS; a decline ends the hold at
    once, and a URL with no partner hotline gets the Centre's notice at once."""
    w = build_world(factory)
    settings = Settings(data_dir=data_dir, database_url=db_url, environment="test",
                        resolver_overrides=_overrides(site), referral_hold_hours=48)
    notifier = NullNotifier()

    def own_notices(url: str) -> int:
        return sum(1 for _, _, m in notifier.sent if m.url == url and m.kind == "removal")

    def events(url: str) -> list[str]:
        with factory() as s:
            return list(s.scalars(text(
                "SELECT e.kind FROM notice_events e JOIN notices n ON n.id = e.notice_id "
                "WHERE n.url = :u ORDER BY e.id"), {"u": url}))

    with make_client(db_url, data_dir, resolver_overrides=_overrides(site)) as client:
        assert client.post("/v1/hotlines", headers=auth(w.tokens["centre"]), json={
            "country": "BE", "name": "Child Focus", "kind": "webhook", "url": hook.url,
            "secret": hook.secret}).status_code == 201
        held = _classify_hosted(client, w, site, "hosting-b.test", "/held.jpg", "BE")
        alone = _classify_hosted(client, w, site, "hosting-c.test", "/alone.jpg", "SE")
        # Pending (not delivered yet): held. No partner hotline for SE: sent at once.
        check_notices(factory, settings, notifier)
        assert own_notices(held["url"]) == 0 and "held_for_referral" in events(held["url"])
        assert "baseline" in events(held["url"])  # the re-check went on
        assert own_notices(alone["url"]) == 1 and "held_for_referral" not in events(alone["url"])
        # Delivered and acknowledged: still held, the next look at the hold's end at the latest.
        _worker(factory, settings).run_once()
        assert _report(client, w, held["id"])["referral"]["status"] == "acknowledged"
        later = now() + timedelta(hours=30)
        check_notices(factory, settings, notifier, at=later)
        assert own_notices(held["url"]) == 0
        with factory() as s:
            due = s.scalar(select(Notice.next_action_at).where(Notice.url == held["url"]))
        assert due is not None and due <= now() + timedelta(hours=48)
        # The hold is over and the content still there: the Centre's own notice goes out.
        check_notices(factory, settings, notifier, at=now() + timedelta(hours=49))
        assert own_notices(held["url"]) == 1

        # Another URL: the partner declines (not illegal under its law): sent at once.
        declined = _classify_hosted(client, w, site, "hosting-b.test", "/declined.jpg", "BE")
        _worker(factory, settings).run_once()
        ref = _report(client, w, declined["id"])["referral"]
        check_notices(factory, settings, notifier)
        assert own_notices(declined["url"]) == 0
        body = json.dumps({"id": ref["id"], "status": "declined"}).encode()
        r = client.post(f"/v1/referrals/{ref['id']}/status", content=body,
                        headers=_signed(hook.secret, body, msg_id="msg_decline"))
        assert r.status_code == 200, r.text
        # At once: the decline makes the notice due (not at the next scheduled look, a day on).
        check_notices(factory, settings, notifier)
        assert own_notices(declined["url"]) == 1

        # Another: the hotline is removed from the registry while it holds the notice.
        dropped = _classify_hosted(client, w, site, "hosting-b.test", "/dropped.jpg", "BE")
        _worker(factory, settings).run_once()
        check_notices(factory, settings, notifier)
        assert own_notices(dropped["url"]) == 0
        assert client.delete("/v1/hotlines/BE", headers=auth(w.tokens["centre"])).status_code == 200
        check_notices(factory, settings, notifier)
        assert own_notices(dropped["url"]) == 1
