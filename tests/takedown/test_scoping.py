"""What one organisation reported or started is its own; and a notice stops when what it was
based on no longer stands. (Both databases.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.site import Site
from tests.fixtures.world import active_indicator, build_world, victim_indicators
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.indicators import service as indicators
from vigil.indicators.matcher import LiveMatcher
from vigil.matching.hashing import hash_image_bytes
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind
from vigil.samples import encode, pattern_image
from vigil.takedown.crawler.crawl import CrawlOptions, create_crawl
from vigil.takedown.models import Notice
from vigil.takedown.notify import NullNotifier
from vigil.takedown.tasks import check_notices, crawl_job


def test_a_report_of_the_same_url_tells_nothing_about_others(
        db_url: str, data_dir: Path, factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    picture = encode(pattern_image(81))
    victim_indicators(factory, md5=hash_image_bytes(picture).md5)
    site.put("hosting-a.test", "/", "<html><img src='/a.jpg'></html>")
    url = site.put("hosting-a.test", "/a.jpg", picture, "image/jpeg")
    with transaction(factory) as s:
        crawl_id = create_crawl(s, w.principals["centre"], [site.url("hosting-a.test", "/")],
                                ["hosting-a.test"], CrawlOptions(per_host_delay=0)).id
    crawl_job(factory, factory, Settings(environment="test", resolver_overrides=site.overrides),
              crawl_id, workers=1)
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        for who in ("provider", "centre"):
            r = client.post("/v1/url-reports", headers=auth(w.tokens[who]), json={"url": url})
            assert r.status_code == 201, r.text
            got = r.json()
            assert got["created"] and got["source"] == "hotline" and got["list"] is None, got
        # Nobody but the Centre reads the crawl.
        assert client.get(f"/v1/crawls/{crawl_id}", headers=auth(w.tokens["centre"])).status_code == 200
        assert client.get(f"/v1/crawls/{crawl_id}", headers=auth(w.tokens["provider"])).status_code == 403
        # A hotline's classification settles its own report only: never the public's, a
        # provider's or the crawler's (one of which waits for an analyst: a victim's hash).
        with transaction(factory) as s:
            org = orgs.create_organisation(s, None, "Hotline", OrgKind.HOTLINE)
            hotline = auth(orgs.issue_key(s, None, org.id, "k", set(KIND_SCOPES[OrgKind.HOTLINE])).token)
        mine = client.post("/v1/url-reports", headers=hotline, json={"url": url}).json()["id"]
        r = client.post(f"/v1/url-reports/{mine}/classification", headers=hotline,
                        json={"classification": "not_illegal"})
        assert r.status_code == 200, r.text
        # One classification by the Centre decides every waiting report of the URL.
        waiting = client.get("/v1/url-reports", headers=auth(w.tokens["centre"]),
                             params={"classified": False}).json()
        assert len(waiting) == 3
        r = client.post(f"/v1/url-reports/{waiting[0]['id']}/classification",
                        headers=auth(w.tokens["centre"]), json={"classification": "not_illegal"})
        assert r.status_code == 200
        assert client.get("/v1/url-reports", headers=auth(w.tokens["centre"]),
                          params={"classified": False}).json() == []


def test_a_notice_stops_when_its_indicator_no_longer_stands(
        data_dir: Path, factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    settings = Settings(data_dir=data_dir, environment="test", resolver_overrides=site.overrides)
    pictures = {n: encode(pattern_image(90 + n)) for n in (1, 2)}
    ids = {n: active_indicator(factory, w, "md5", hash_image_bytes(p).md5) for n, p in pictures.items()}
    site.put("hosting-a.test", "/", "<html><img src='/1.jpg'><img src='/2.jpg'></html>")
    urls = {n: site.put("hosting-a.test", f"/{n}.jpg", p, "image/jpeg") for n, p in pictures.items()}
    with transaction(factory) as s:
        crawl_id = create_crawl(s, w.principals["centre"], [site.url("hosting-a.test", "/")],
                                ["hosting-a.test"], CrawlOptions(per_host_delay=0)).id
    crawl_job(factory, factory, settings, crawl_id, workers=1)
    with transaction(factory) as s:  # the first retracted; the second's picture allow-listed
        indicators.retract(s, w.principals["centre"], ids[1], "listed by mistake")
        (allow,) = indicators.propose(s, w.principals["centre"], [indicators.Proposal(
            "pdq", hash_image_bytes(pictures[2]).pdq, "non-material", "benign look-alike")])
        indicators.verify(s, w.principals["partner"], allow.id)
    matcher = LiveMatcher()
    matcher.sync(factory)
    notifier = NullNotifier()
    check_notices(factory, settings, notifier, at=now() + timedelta(hours=1), matcher=matcher)
    assert notifier.sent == []  # nothing more goes out for either
    with factory() as s:
        status = {n.url: n.status for n in s.scalars(select(Notice))}
    assert status == {urls[1]: "closed", urls[2]: "closed"}
