"""One egress policy for every outbound connection: fetches and their redirects, notice,
hand-off, escalation and provider webhooks, SMTP and a Dask scheduler all refuse the Centre's
own network unless the host is pinned in the settings — and the same paths work when it is.
Nothing a caller sends chooses where vigil connects."""

from __future__ import annotations

import ast
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.site import Site
from tests.fixtures.world import build_world
from tests.reports.test_reports import report_body
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.egress import EgressPolicy, EgressRefused
from vigil.jobs.models import Job
from vigil.jobs.queue import enqueue
from vigil.reports.handoff import WebhookHandoff
from vigil.samples import encode, pattern_image
from vigil.takedown.crawler.executors import crawl_executor
from vigil.takedown.fetch import fetch
from vigil.takedown.fetch import make_client as http_client
from vigil.takedown.models import NoticeEvent
from vigil.takedown.notify import NoticeMessage, Sender
from vigil.takedown.tasks import check_notices
from vigil.webhooks import WebhookFailed, WebhookSender, verify_signature, verify_standard
from vigil.worker import Worker

SRC = Path(__file__).resolve().parents[1] / "src" / "vigil"


def _internal(site: Site, path: str) -> str:
    """The test site by a name the settings do not pin: it resolves to loopback."""
    return f"http://localhost:{site.port}{path}"


def test_the_policy_checks_every_address_and_connects_to_the_checked_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"public.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.0.0.7"]}

    def fake(host: str, *_: Any, **__: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers.get(host, [])]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    policy = EgressPolicy()
    t = policy.target("https://public.example:8443/hook?x=1")
    # The connection goes to the address that was checked; the name stays in Host and SNI.
    assert t.url == "https://93.184.216.34:8443/hook?x=1"
    assert t.headers == {"Host": "public.example:8443"} and t.extensions == {"sni_hostname": "public.example"}
    for url, why in (("http://mixed.example/", r"non-public address \(10\.0\.0\.7\)"),
                     ("http://unknown.example/", "cannot resolve"),
                     ("ftp://public.example/", "only http and https"),
                     ("http://[::1]/", "non-public"), ("http://169.254.169.254/", "non-public"),
                     ("http://127.0.0.1:5432/", "non-public")):
        with pytest.raises(EgressRefused, match=why):
            policy.target(url)
    # Pinned in the settings: by a fixed address, or by name or network in the allow list.
    assert EgressPolicy.of({"relay.internal": "10.0.0.9"}).target("http://relay.internal/").address == "10.0.0.9"
    assert EgressPolicy.of(allow=["mixed.example"]).target("http://mixed.example/").address == "93.184.216.34"
    assert EgressPolicy.of(allow=["10.0.0.0/8"]).check_endpoint("tcp://10.1.2.3:8786") == "10.1.2.3"


def test_fetches_and_every_redirect(site: Site) -> None:
    """A reported URL, or a redirect from a pinned host, never reaches an internal address."""
    site.put("localhost", "/secret", "internal", "text/plain")
    site.redirect("hosting-a.test", "/go", _internal(site, "/secret"))
    pinned = EgressPolicy.of(site.overrides)
    with http_client() as client:
        for url in (_internal(site, "/secret"), site.url("hosting-a.test", "/go")):
            got = fetch(url, client, policy=pinned, max_bytes=1000, timeout=2)
            assert got.body is None and "non-public" in (got.error or ""), (url, got)
    assert site.requests("hosting-a.test", "/go") and not site.requests("localhost")


def test_webhooks_email_and_dask_refuse_unpinned_internal_addresses(
        db_url: str, data_dir: Path, factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    hook = _internal(site, "/hook")
    # Notice webhook (the hosting directory's entry), escalation webhook, SMTP relay.
    settings = Settings(data_dir=data_dir, environment="test", resolver_overrides=site.overrides,
                        smtp_host="127.0.0.1", smtp_port=2525, webhook_secret="s",
                        authority_contacts={"DE": _internal(site, "/escalate")},
                        notice_escalate_hours=1, webhooks={"DE": _internal(site, "/handoff")},
                        provider_webhooks={"Provider": _internal(site, "/provider")})
    url = site.put("hosting-a.test", "/img.jpg", encode(pattern_image(3)), "image/jpeg")
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        client.put("/v1/hosting-contacts", headers=auth(w.tokens["centre"]),
                   json={"match": "hosting-a.test", "provider": "A", "email": "abuse@hosting-a.test",
                         "webhook": hook, "country": "DE"})
        r = client.post("/v1/public/url-reports", json={"url": url})
        rid = r.json()["id"]
        client.post(f"/v1/url-reports/{rid}/classification", headers=auth(w.tokens["centre"]),
                    json={"classification": "illegal_international"})
        # A report handed off to DE (webhook) and a delay that goes to the provider's webhook.
        rep = client.post("/v1/reports", headers=auth(w.tokens["provider"]), json=report_body()).json()
        handoff = WebhookHandoff(settings.webhooks, b"s", sender=WebhookSender(settings.egress()))
        worker = Worker(factory, factory, handoff, settings=settings)
        worker.run_once()
        client.post(f"/v1/authority/reports/{rep['id']}/feedback", headers=auth(w.tokens["authority_de"]),
                    json={"outcome": "x", "delay_user_notice_days": 30})
        worker.run_once()
        # A crawl cannot name a scheduler any more.
        r = client.post("/v1/crawls", headers=auth(w.tokens["centre"]), json={
            "seeds": [site.url("hosting-a.test", "/")], "allowed_domains": ["hosting-a.test"],
            "scheduler": "tcp://127.0.0.1:8786"})
        assert r.status_code == 422 and "scheduler" in r.text
    sender = Sender(settings.smtp_host, settings.smtp_port, "n@vigil.test", b"s",
                    policy=settings.egress())
    check_notices(factory, settings, sender, at=now() + timedelta(hours=2))
    with factory() as s:
        failures = [e.detail or "" for e in s.scalars(select(NoticeEvent).where(
            NoticeEvent.kind == "send_failed"))]
        jobs = {j.kind: j.last_error or "" for j in s.scalars(select(Job).where(Job.last_error.is_not(None)))}
    assert any("email" in f and "non-public" in f for f in failures), failures
    assert any("webhook" in f and "non-public" in f for f in failures), failures
    assert any("escalation" in f and "non-public" in f for f in failures), failures
    assert "non-public" in jobs["deliver_notice"] and "non-public" in jobs["notify_provider"], jobs
    assert not site.requests("localhost")  # nothing reached the internal address
    with pytest.raises(EgressRefused, match="non-public"), crawl_executor(1, "tcp://127.0.0.1:8786",
                                                                         settings.egress()):
        pass


def test_pinned_destinations_are_reached(site: Site) -> None:
    """The positive control: the same sender reaches a host the settings pin."""
    site.put("hosting-b.test", "/hook", "ok", "text/plain")
    sender = WebhookSender(EgressPolicy.of(site.overrides))
    sender.send(site.url("hosting-b.test", "/hook"), {"event": "x"}, "secret")
    (req,) = site.requests("hosting-b.test", "/hook")
    assert req[3] == "POST"
    with pytest.raises(WebhookFailed, match="non-public"):  # the same host, unpinned
        WebhookSender(EgressPolicy()).send(_internal(site, "/hook"), {"event": "x"}, "s")
    Sender(None, 25, "x", b"s", policy=EgressPolicy.of(site.overrides)).webhook(
        site.url("hosting-b.test", "/hook"), NoticeMessage("vigil-notice-1", "u", "B", None, 0, False))
    assert len(site.requests("hosting-b.test", "/hook")) == 2


#: The modules that may open network connections, each through the egress policy (or, for the
#: command-line tools and benchmarks, where the operator points them).
NETWORK_CLIENTS = {"httpx", "urllib.request", "smtplib", "socket", "http.client", "distributed",
                   "requests", "aiohttp"}
MAY_CONNECT = {"egress.py", "webhooks.py", "executors.py", "takedown/fetch.py", "takedown/crawler/tasks.py",
               "takedown/notify.py", "takedown/crawler/executors.py",
               # the client of other vigil servers: providers' sync and partner centres
               "exchange/client.py",
               "takedown/referrals/partners.py",
               # the auditor's own client: it connects to the server the auditor names
               "indicators/log_audit.py",
               # threatexchange's programme clients, given sessions from exchange/http.py only
               # (tests/exchange/test_programmes.py: refused when unpinned, other hosts refused)
               "exchange/http.py", "exchange/programmes.py"}


def test_only_modules_behind_the_policy_open_connections() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        name = str(path.relative_to(SRC))
        if name in MAY_CONNECT or name.startswith(("cli/", "bench/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{name}:{node.lineno}: imports {m}" for m in mods
                      if m in NETWORK_CLIENTS or m.split(".")[0] in {"httpx", "smtplib", "distributed"}]
    assert not found, "\n".join(found)


def test_the_api_never_takes_a_destination(client: TestClient) -> None:
    """No request body of the API names a Dask scheduler, and the crawl request refuses fields
    it does not know."""
    spec = client.get("/openapi.json").json()
    crawl = spec["components"]["schemas"]["CrawlIn"]
    assert "scheduler" not in crawl["properties"] and crawl.get("additionalProperties") is False


def test_no_webhook_is_sent_unsigned(site: Site) -> None:
    site.put("hosting-b.test", "/hook", "ok", "text/plain")
    with pytest.raises(WebhookFailed, match="never sent unsigned"):
        WebhookSender(EgressPolicy.of(site.overrides)).send(site.url("hosting-b.test", "/hook"),
                                                            {"event": "x"}, "")
    assert not site.requests("hosting-b.test")


def test_each_provider_has_its_own_webhook_secret(data_dir: Path, factory: sessionmaker[Session],
                                                   site: Site) -> None:
    """One provider's secret cannot forge another's events."""
    build_world(factory)
    settings = Settings(data_dir=data_dir, environment="test", resolver_overrides=site.overrides,
                        provider_webhooks={"Provider": site.url("hosting-b.test", "/p")},
                        provider_webhook_secrets={"Provider": "provider-own"},
                        webhook_secret="shared")
    with transaction(factory) as s:
        enqueue(s, "notify_providers", {"event": "complaint:upheld", "complaint": "c-1"})
    Worker(factory, factory, settings=settings).run_once()
    (req,) = site.requests("hosting-b.test", "/p")
    body, headers = req[4], req[6]
    assert verify_signature(b"provider-own", req[5], body)
    assert not verify_signature(b"shared", req[5], body)
    assert verify_standard(b"provider-own", headers, body)  # the Standard Webhooks headers
    assert not verify_standard(b"shared", headers, body)
