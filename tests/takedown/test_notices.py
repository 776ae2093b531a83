"""URL reports, classification, notices by e-mail and signed webhook, repetition until removal,
escalation to the hosting country's authority, removal confirmed by re-checks, figures."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.site import Mailbox, Site
from tests.fixtures.world import World, build_world
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.egress import EgressPolicy
from vigil.reports.handoff import verify_signature
from vigil.samples import encode, pattern_image
from vigil.takedown.models import Notice, NoticeEvent
from vigil.takedown.notify import NullNotifier, Sender
from vigil.takedown.tasks import check_notices

SECRET = "test-webhook-secret"


def _settings(site: Site, data_dir: Path, smtp: Mailbox | None = None, **kw: object) -> Settings:
    return Settings(data_dir=data_dir, environment="test", resolver_overrides=site.overrides,
                    smtp_host=smtp.host if smtp else None, smtp_port=smtp.port if smtp else 25,
                    webhook_secret=SECRET, notice_resend_hours=24, notice_escalate_hours=60,
                    authority_contacts={"DE": "mailto:lka@authority.test"},
                    # The tests' SMTP relay listens on loopback: pinned, as a deployment pins its own.
                    egress_allow=[smtp.host] if smtp else [], **kw)  # type: ignore[arg-type]


def _report_and_classify(client: TestClient, w: World, url: str) -> dict[str, object]:
    r = client.post("/v1/public/url-reports", json={"url": url, "description": "seen on a forum"})
    assert r.status_code == 202, r.text
    rid = r.json()["id"]
    waiting = client.get("/v1/url-reports?classified=false", headers=auth(w.tokens["centre"])).json()
    assert [x["id"] for x in waiting] == [rid]
    r = client.post(f"/v1/url-reports/{rid}/classification", headers=auth(w.tokens["centre"]),
                    json={"classification": "illegal_international"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_public_reports_are_checked_and_rate_limited(db_url: str, data_dir: Path,
                                                     factory: sessionmaker[Session]) -> None:
    with make_client(db_url, data_dir, public_reports_per_hour=4) as client:  # bad ones count
        for bad, problem in (("ftp://x.test/a", "only http and https"),
                             ("http:///nohost", "no host"),
                             ("https://x.test/" + "a" * 3000, "at most 2048 characters")):
            r = client.post("/v1/public/url-reports", json={"url": bad})
            assert r.status_code == 422 and problem in r.text, (bad, r.text)
        ok = client.post("/v1/public/url-reports", json={"url": "HTTP://Example.TEST:80/a#frag"})
        assert ok.status_code == 202
        again = client.post("/v1/public/url-reports", json={"url": "http://example.test/a"})
        assert again.json()["id"] == ok.json()["id"]  # the same URL is not queued twice
        limited = client.post("/v1/public/url-reports", json={"url": "http://example.test/b"})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert limited.json()["error"]["code"] == "rate_limited"
    w = build_world(factory)
    with make_client(db_url, data_dir) as client:
        rows = client.get("/v1/url-reports", headers=auth(w.tokens["centre"])).json()
        assert [r["url"] for r in rows] == ["http://example.test/a"]
        # Only analysts classify; a provider cannot.
        r = client.post(f"/v1/url-reports/{rows[0]['id']}/classification",
                        headers=auth(w.tokens["provider"]), json={"classification": "not_illegal"})
        assert r.status_code == 403
        r = client.post(f"/v1/url-reports/{rows[0]['id']}/classification",
                        headers=auth(w.tokens["centre"]), json={"classification": "illegal_national"})
        assert r.status_code == 422 and "two-letter code" in r.text


def test_notice_lifecycle_until_removal(db_url: str, data_dir: Path, factory: sessionmaker[Session],
                                        site: Site, smtp: Mailbox) -> None:
    w = build_world(factory)
    settings = _settings(site, data_dir, smtp)
    image = encode(pattern_image(42))
    url = site.put("hosting-a.test", "/img/42.jpg", image, "image/jpeg")
    hook = site.url("hosting-a.test", "/abuse-hook")
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        r = client.put("/v1/hosting-contacts", headers=auth(w.tokens["centre"]),
                       json={"match": "hosting-a.test", "provider": "Hosting A GmbH",
                             "email": "abuse@hosting-a.test", "webhook": hook, "country": "DE"})
        assert r.status_code == 200, r.text
        notice = _report_and_classify(client, w, url)["notice"]
        assert isinstance(notice, dict)
        assert notice["provider"] == "Hosting A GmbH" and notice["hosting_country"] == "DE"
        nid = notice["id"]
        sender = Sender(smtp.host, smtp.port, "notices@vigil.test", SECRET.encode(),
                        policy=settings.egress())
        t0 = now()
        # First pass: baseline hashes of what is served, and the first notice.
        (o,) = check_notices(factory, settings, sender, at=t0)
        assert (o.removed, o.sent, o.escalated) == (False, 2, False)
        (rcpts, mail), = smtp.messages
        assert rcpts == ["abuse@hosting-a.test"] and f"vigil-notice-{nid}" in mail["Subject"]
        body = mail.get_payload()
        assert url in body and image.hex()[:16] not in body
        (post,) = site.requests("hosting-a.test", "/abuse-hook")
        payload = json.loads(post[4])
        assert payload["event"] == "notice:removal" and payload["url"] == url
        assert check_notices(factory, settings, sender, at=t0 + timedelta(hours=1)) == []  # not due
        # Still online a day later: sent again; after 60 hours: escalated to DE's authority.
        (o,) = check_notices(factory, settings, sender, at=t0 + timedelta(hours=25))
        assert o.sent == 2 and not o.escalated
        (o,) = check_notices(factory, settings, sender, at=t0 + timedelta(hours=61))
        assert o.escalated
        assert any(rcpts == ["lka@authority.test"] and "Escalation" in m["Subject"]
                   for rcpts, m in smtp.messages)
        de = client.get("/v1/authority/notices", headers=auth(w.tokens["authority_de"])).json()
        fr = client.get("/v1/authority/notices", headers=auth(w.tokens["authority_fr"])).json()
        assert [n["id"] for n in de] == [nid] and fr == []
        # Taken down: the next re-check confirms the removal and nothing more is sent.
        site.remove("hosting-a.test", "/img/42.jpg", status=410)
        sent_before = len(smtp.messages)
        (o,) = check_notices(factory, settings, sender, at=t0 + timedelta(hours=85))
        assert o.removed and len(smtp.messages) == sent_before
        got = client.get(f"/v1/notices/{nid}", headers=auth(w.tokens["centre"])).json()
        assert got["status"] == "removed" and got["removal_evidence"] == "gone_410"
        assert got["sends"] == 3
        kinds = [e["kind"] for e in got["events"]]
        assert kinds[0] == "opened" and "escalated" in kinds and kinds[-1] == "removed"
        stats = client.get("/v1/takedown/stats", headers=auth(w.tokens["centre"])).json()
        host = stats["by_host"]["hosting-a.test"]
        assert host == {"notices": 1, "removed": 1, "median_hours_to_removal": 85.0,
                        "removed_within_60h": 0, "notices_sent": 3, "escalations": 1,
                        "reuploads": 0}
        assert stats["by_country"]["DE"]["removed"] == 1
        assert client.get("/v1/takedown/stats", headers=auth(w.tokens["provider"])).status_code == 403


def test_content_replaced_counts_as_removed_and_webhooks_are_signed(
        db_url: str, data_dir: Path, factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    settings = _settings(site, data_dir)
    url = site.put("hosting-b.test", "/p/1.png", encode(pattern_image(7), "PNG"), "image/png")
    notifier = NullNotifier()
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        client.put("/v1/hosting-contacts", headers=auth(w.tokens["centre"]),
                   json={"match": "hosting-b.test", "provider": "B", "webhook": site.url(
                       "hosting-b.test", "/hook")})
        nid = _report_and_classify(client, w, url)["notice"]["id"]  # type: ignore[index]
    t0 = now()
    check_notices(factory, settings, notifier, at=t0)
    assert [(c, t) for c, t, _ in notifier.sent] == [("webhook", site.url("hosting-b.test", "/hook"))]
    # The page now serves something else entirely: no longer the reported content.
    site.put("hosting-b.test", "/p/1.png", encode(pattern_image(999), "PNG"), "image/png")
    (o,) = check_notices(factory, settings, notifier, at=t0 + timedelta(hours=24))
    assert o.removed
    with factory() as s:
        n = s.get(Notice, nid)
        assert n is not None and n.removal_evidence == "no_longer_matches"
    # A real webhook delivery carries a signature the receiver can check.
    sender = Sender(None, 25, "x", SECRET.encode(), policy=EgressPolicy.of(site.overrides))
    from vigil.takedown.notify import NoticeMessage

    sender.webhook(site.url("hosting-b.test", "/hook2"),
                   NoticeMessage("vigil-notice-1", url, "B", None, 0, False))
    (req,) = site.requests("hosting-b.test", "/hook2")
    assert json.loads(req[4])["reference"] == "vigil-notice-1"
    assert verify_signature(SECRET.encode(), req[5], req[4])


def test_failed_sends_are_recorded_and_retried(db_url: str, data_dir: Path,
                                               factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    settings = _settings(site, data_dir)  # no SMTP server configured: e-mail cannot go out
    url = site.put("hosting-a.test", "/x.jpg", encode(pattern_image(3)), "image/jpeg")
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        nid = _report_and_classify(client, w, url)["notice"]["id"]  # type: ignore[index]
    sender = Sender(None, 25, "x", SECRET.encode())
    (o,) = check_notices(factory, settings, sender, at=now())
    assert o.sent == 0 and not o.removed
    with factory() as s:
        events = list(s.scalars(select(NoticeEvent.kind).where(NoticeEvent.notice_id == nid)))
        n = s.get(Notice, nid)
        assert n is not None and n.email == "abuse@hosting-a.test"  # RFC 2142 default
    assert "send_failed" in events and n.status == "open" and n.sends == 0
    with transaction(factory):
        pass


def test_fetches_never_reach_the_centres_own_network(site: Site) -> None:
    from vigil.takedown.fetch import fetch, make_client

    with make_client() as client:
        for url in ("http://127.0.0.1:5432/", "http://10.0.0.1/x", "http://[::1]/",
                    "http://169.254.169.254/latest/meta-data/"):
            got = fetch(url, client, policy=EgressPolicy(), max_bytes=1000, timeout=2)
            assert got.body is None and "non-public address" in (got.error or ""), url
        # Hosts pinned in the overrides (the tests' loopback sites) are fetched.
        site.put("hosting-a.test", "/ok", "fine", "text/plain")
        got = fetch(site.url("hosting-a.test", "/ok"), client, policy=EgressPolicy.of(site.overrides),
                    max_bytes=1000, timeout=2)
        assert got.body == b"fine"
