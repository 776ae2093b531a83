"""Proactive search on a benign loopback site: finds the media that match active lists,
keeps nothing else, stays polite and inside its domains, resumes after a stop, detects
re-uploads, and runs the same on a local process pool and on a Dask cluster."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.site import Site
from tests.fixtures.world import World, build_world, victim_indicators
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.egress import EgressPolicy
from vigil.indicators import service as indicators
from vigil.indicators.matcher import LiveMatcher
from vigil.jobs import queue, registry
from vigil.jobs.models import Job
from vigil.jobs.queue import enqueue
from vigil.jobs.registry import JobContext
from vigil.matching.hashing import hash_image_bytes
from vigil.samples import encode, pattern_image
from vigil.takedown.crawler.crawl import CrawlOptions, create_crawl, run_crawl
from vigil.takedown.crawler.executors import crawl_executor
from vigil.takedown.models import Crawl, CrawlUrl, Notice, UrlReport
from vigil.takedown.tasks import crawl_job
from vigil.worker import Worker

KNOWN = encode(pattern_image(77))
VICTIM = encode(pattern_image(78), "PNG")


def _activate(factory: sessionmaker[Session], w: World, data: bytes, lst: str) -> None:
    h = hash_image_bytes(data)
    if lst == "victim-submitted":  # a victim's own hash: through a case, never proposed
        victim_indicators(factory, md5=h.md5, pdq=h.pdq)
        return
    with transaction(factory) as s:
        (ind,) = indicators.propose(s, w.principals["centre"], [
            indicators.Proposal("pdq", h.pdq, lst, "test")])
        indicators.verify(s, w.principals["partner"], ind.id)


def build_site(site: Site) -> None:
    a = "hosting-a.test"
    site.put(a, "/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.put(a, "/", f"""<html><body>
      <a href="/page/1">one</a> <a href="/page/2">two</a> <a href="/private/secret">no</a>
      <a href="{site.url('elsewhere.test', '/outside')}">outside</a>
      <img src="/img/1.jpg" alt=""></body></html>""")
    site.put(a, "/page/1", """<html><img src="/img/1.jpg"><img src="/img/2.jpg"
      srcset="/img/2.jpg 1x, /img/known.jpg 2x"><a href="/">home</a><a href="/page/2#top">2</a></html>""")
    site.put(a, "/page/2", """<html><a href="/img/victim.png">v</a><img src="img/3.png">
      <a href="/page/3">deeper</a></html>""")
    site.put(a, "/page/3", """<html><img src="/img/deep.jpg"></html>""")
    site.put(a, "/private/secret", "<html><img src='/img/private.jpg'></html>")
    for name, seed in (("1.jpg", 1), ("2.jpg", 2), ("deep.jpg", 4), ("private.jpg", 5)):
        site.put(a, f"/img/{name}", encode(pattern_image(seed)), "image/jpeg")
    site.put(a, "/img/3.png", encode(pattern_image(3), "PNG"), "image/png")
    site.put(a, "/img/known.jpg", KNOWN, "image/jpeg")
    site.put(a, "/img/victim.png", VICTIM, "image/png")
    site.put("elsewhere.test", "/outside", "<html>never visited</html>")


def _settings(site: Site, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, environment="test", resolver_overrides=site.overrides)


def test_crawl_through_the_api_and_the_worker(db_url: str, data_dir: Path,
                                              factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    _activate(factory, w, KNOWN, "known-material")
    _activate(factory, w, VICTIM, "victim-submitted")
    build_site(site)
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        r = client.post("/v1/crawls", headers=auth(w.tokens["centre"]), json={
            "seeds": [site.url("hosting-a.test", "/")], "allowed_domains": ["hosting-a.test"],
            "max_depth": 1, "per_host_delay": 0.05, "workers": 2})
        assert r.status_code == 202, r.text
        crawl_id = r.json()["id"]
        bad = client.post("/v1/crawls", headers=auth(w.tokens["centre"]), json={
            "seeds": ["http://elsewhere.test/"], "allowed_domains": ["hosting-a.test"]})
        assert bad.status_code == 422 and "outside the allowed domains" in bad.text
        assert client.post("/v1/crawls", headers=auth(w.tokens["provider"]), json={
            "seeds": ["http://hosting-a.test/"], "allowed_domains": ["hosting-a.test"]}
        ).status_code == 403
        Worker(factory, factory, settings=_settings(site, data_dir)).run_long_once()
        status = client.get(f"/v1/crawls/{crawl_id}", headers=auth(w.tokens["centre"])).json()
    assert status["status"] == "done" and status["matched"] == 2
    # A verified hit became a classified URL report and a notice; a hit on a victim's own
    # (unverified) hash waits for an analyst: no notice goes out before a person looked.
    with factory() as s:
        notices = {n.url.rsplit("/", 1)[-1]: n for n in s.scalars(select(Notice))}
        assert set(notices) == {"known.jpg"}
        reports = {r.url.rsplit("/", 1)[-1]: r for r in s.scalars(
            select(UrlReport).where(UrlReport.source == "crawler"))}
        assert reports["known.jpg"].classification == "illegal_international"
        held = reports["victim.png"]
        assert (held.classification, held.list_name, held.list_trust) == (
            None, "victim-submitted", "unverified")
        # Nothing but a SHA-256 is kept of media that did not match; no file is written.
        media = list(s.scalars(select(CrawlUrl).where(CrawlUrl.kind == "media")))
        assert all(m.sha256 and len(m.sha256) == 64 for m in media if m.state == "done")
    assert not (data_dir / "files").exists() or not any((data_dir / "files").rglob("*"))
    # Polite and in scope: robots.txt read and obeyed, no other domain, every URL once.
    assert site.requests("hosting-a.test", "/robots.txt")
    assert not site.requests("hosting-a.test", "/private/secret")
    assert not site.requests("elsewhere.test")
    gets = [r[2] for r in site.requests("hosting-a.test") if r[2] != "/robots.txt"]
    assert len(gets) == len(set(gets))
    assert "/page/3" not in gets and "/img/deep.jpg" not in gets  # deeper than max_depth 1
    times = sorted(r[0] for r in site.requests("hosting-a.test"))
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.04


def test_crawl_resumes_where_it_stopped(factory: sessionmaker[Session], site: Site) -> None:
    w = build_world(factory)
    _activate(factory, w, KNOWN, "known-material")
    build_site(site)
    with transaction(factory) as s:
        crawl = create_crawl(s, w.principals["centre"], [site.url("hosting-a.test", "/")],
                             ["hosting-a.test"], CrawlOptions(max_depth=3, per_host_delay=0,
                                                              in_flight=2))
        crawl_id = crawl.id
    matcher = LiveMatcher()
    matcher.sync(factory)
    policy = EgressPolicy.of(site.overrides)
    with crawl_executor(workers=2) as pool:
        first = run_crawl(factory, crawl_id, executor=pool, matcher=matcher, policy=policy,
                          stop_after=3)
        assert not first.finished
        with factory() as s:
            assert s.get(Crawl, crawl_id).status == "running"  # type: ignore[union-attr]
            queued = s.scalar(select(func.count()).where(CrawlUrl.state == "queued"))
        assert queued and queued > 0
        second = run_crawl(factory, crawl_id, executor=pool, matcher=matcher, policy=policy)
    assert second.finished and second.hits == 1
    with factory() as s:
        rows = list(s.scalars(select(CrawlUrl).where(CrawlUrl.crawl_id == crawl_id)))
    urls = [r.url for r in rows]
    assert len(urls) == len(set(urls)) and all(r.state != "queued" for r in rows)
    assert any(u.endswith("/img/deep.jpg") for u in urls)
    # What was in flight at the stop may be fetched again, nothing more.
    for path in {r[2] for r in site.requests("hosting-a.test")}:
        assert len(site.requests("hosting-a.test", path)) <= 2, path


def _crawl(factory: sessionmaker[Session], w: World, site: Site, seeds: list[str],
           domains: list[str], **executor: object) -> int:
    with transaction(factory) as s:
        crawl_id = create_crawl(s, w.principals["centre"], seeds, domains,
                                CrawlOptions(per_host_delay=0)).id
    # The tests' Dask cluster listens on loopback: pinned, as a deployment pins its own.
    settings = Settings(environment="test", resolver_overrides=site.overrides,
                        egress_allow=["127.0.0.1/32"])
    crawl_job(factory, factory, settings, crawl_id, **executor)  # type: ignore[arg-type]
    return crawl_id


def test_reupload_at_a_new_url_opens_a_new_notice(factory: sessionmaker[Session],
                                                  site: Site) -> None:
    w = build_world(factory)
    _activate(factory, w, KNOWN, "known-material")
    build_site(site)
    _crawl(factory, w, site, [site.url("hosting-a.test", "/")], ["hosting-a.test"])
    site.put("hosting-b.test", "/", "<html><img src='/copy.jpg'><img src='/again.jpg'></html>")
    site.put("hosting-b.test", "/copy.jpg", KNOWN, "image/jpeg")
    site.put("hosting-b.test", "/again.jpg", KNOWN, "image/jpeg")  # same bytes, second URL
    _crawl(factory, w, site, [site.url("hosting-b.test", "/")], ["hosting-b.test"])
    with factory() as s:
        notices = list(s.scalars(select(Notice).order_by(Notice.id)))
    assert [n.url.rsplit("/", 1)[-1] for n in notices] == ["known.jpg", "copy.jpg", "again.jpg"] or \
        [n.url.rsplit("/", 1)[-1] for n in notices] == ["known.jpg", "again.jpg", "copy.jpg"]
    assert notices[0].reupload_of is None
    assert notices[1].reupload_of == notices[2].reupload_of == notices[0].id
    from vigil.takedown.stats import takedown_stats

    with factory() as s:
        assert takedown_stats(s)["by_host"]["hosting-b.test"]["reuploads"] == 2


@pytest.mark.slow
def test_dask_cluster_runs_the_same_crawl(factory: sessionmaker[Session], site: Site) -> None:
    from distributed import LocalCluster

    w = build_world(factory)
    _activate(factory, w, KNOWN, "known-material")
    build_site(site)
    local = _crawl(factory, w, site, [site.url("hosting-a.test", "/")], ["hosting-a.test"])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask = _crawl(factory, w, site, [site.url("hosting-a.test", "/")], ["hosting-a.test"],
                      scheduler=cluster.scheduler_address)

    def outcome(crawl_id: int) -> set[tuple[str, str, bool]]:
        with factory() as s:
            return {(r.url, r.state, r.matched) for r in s.scalars(
                select(CrawlUrl).where(CrawlUrl.crawl_id == crawl_id))}

    assert outcome(dask) == outcome(local)
    assert any(matched for _, _, matched in outcome(dask))
    assert json.loads("[]") == []


def test_crawl_from_the_command_line(tmp_path: Path, site: Site) -> None:
    import os
    import subprocess
    import sys

    build_site(site)
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path / "data"),
           "VIGIL_RESOLVER_OVERRIDES": json.dumps(site.overrides)}
    env.pop("VIGIL_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "vigil", "crawl", "start", site.url("hosting-a.test", "/"),
           "--domain", "hosting-a.test", "--delay", "0", "--depth", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert stats["finished"] and stats["pages"] == 3 and stats["hits"] == 0  # no lists active
    assert stats["media"] >= 5
    outside = subprocess.run([*cmd[:5], "http://elsewhere.test/", "--domain", "hosting-a.test"],
                             capture_output=True, text=True, env=env, timeout=300, check=False)
    assert outside.returncode == 2 and "outside the allowed domains" in outside.stderr


def test_a_long_crawl_never_holds_up_reports_and_can_be_cancelled(
        db_url: str, data_dir: Path, factory: sessionmaker[Session], site: Site) -> None:
    """Crawls have a queue of their own: a crawl waiting an hour between requests does not keep
    an urgent report unassessed. A crawl stops at its time limit (resumable) or when cancelled."""
    from tests.reports.test_reports import report_body

    w = build_world(factory)
    build_site(site)
    with make_client(db_url, data_dir, resolver_overrides=site.overrides) as client:
        slow = client.post("/v1/crawls", headers=auth(w.tokens["centre"]), json={
            "seeds": [site.url("hosting-a.test", "/")], "allowed_domains": ["hosting-a.test"],
            "per_host_delay": 3600}).json()
        rep = client.post("/v1/reports", headers=auth(w.tokens["provider"]), json=report_body(
            urgent=True, urgent_reason="a child at risk now")).json()
        worker = Worker(factory, factory, settings=_settings(site, data_dir))
        assert worker.run_once() >= 1  # the short queue: the report, not the crawl
        got = client.get(f"/v1/reports/{rep['id']}", headers=auth(w.tokens["provider"])).json()
        assert got["status"] == "forwarded"
        assert client.get(f"/v1/crawls/{slow['id']}", headers=auth(w.tokens["centre"])).json()["status"] == "queued"
        r = client.post(f"/v1/crawls/{slow['id']}/cancel", headers=auth(w.tokens["centre"]))
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert worker.run_long_once() == 1  # taken, and it stops at once
        status = client.get(f"/v1/crawls/{slow['id']}", headers=auth(w.tokens["centre"])).json()
        assert status["status"] == "cancelled" and status["urls"] == {"page:queued": 1}
    # A time limit stops a crawl, resumable.
    with transaction(factory) as s:
        crawl_id = create_crawl(s, w.principals["centre"], [site.url("hosting-a.test", "/")],
                                ["hosting-a.test"], CrawlOptions(per_host_delay=0.2, max_seconds=0.3)).id
    stats = crawl_job(factory, factory, _settings(site, data_dir), crawl_id, workers=1)
    assert not stats.finished
    with factory() as s:
        crawl = s.get(Crawl, crawl_id)
        assert crawl is not None and crawl.status == "stopped"


def test_a_long_job_keeps_a_short_lease_and_is_resumed_after_its_worker_dies(
        factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease of a running crawl is renewed while it runs, so a worker that is killed holds
    it for minutes, not a day: another worker then resumes it."""
    monkeypatch.setattr(queue, "LEASE", timedelta(seconds=0.6))
    seen: list[datetime] = []

    def slow_job(ctx: JobContext) -> None:
        for _ in range(4):
            time.sleep(0.3)
            with factory() as s:
                locked = s.scalar(select(Job.locked_until).where(Job.id == ctx.job_id))
                assert locked is not None
                seen.append(locked)

    registry.register("test_slow_crawl", slow_job, long=True)
    try:
        with transaction(factory) as s:
            enqueue(s, "test_slow_crawl", {"crawl_id": 1})
        assert Worker(factory, factory).run_long_once() == 1
        assert max(seen) > min(seen)  # renewed while it ran
        assert all(t - now() < timedelta(seconds=5) for t in seen)  # never a long lease
        # A worker killed mid-job leaves it running with its lease: once that runs out, it
        # resumes.
        with transaction(factory) as s:
            enqueue(s, "test_slow_crawl", {"crawl_id": 2})
        with transaction(factory) as s:
            job = s.scalars(select(Job).where(Job.status == "queued")).one()
            job.status, job.locked_until = "running", now() - timedelta(seconds=1)
        assert Worker(factory, factory).run_long_once() == 1
    finally:
        registry.unregister("test_slow_crawl")


def test_a_robust_crawl_finds_a_mirrored_copy_on_a_list_opted_in(
        factory: sessionmaker[Session], site: Site) -> None:
    """The crawler's setting: with ``robust``, a mirrored copy of a listed picture is found
    (through the variant that undoes the mirror), on a list the Centre opted in; without it,
    or on a list that was not opted in, it is not."""
    from PIL import Image

    w = build_world(factory)
    _activate(factory, w, KNOWN, "known-material")
    mirrored = pattern_image(77).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    site.put("hosting-b.test", "/", "<html><img src='/m.jpg'></html>")
    site.put("hosting-b.test", "/m.jpg", encode(mirrored), "image/jpeg")
    policy = EgressPolicy.of(site.overrides)

    def crawl(robust: bool) -> int:
        with transaction(factory) as s:
            crawl_id = create_crawl(s, w.principals["centre"], [site.url("hosting-b.test", "/")],
                                    ["hosting-b.test"], CrawlOptions(per_host_delay=0,
                                                                  robust=robust)).id
        matcher = LiveMatcher()
        matcher.sync(factory)
        with crawl_executor(workers=1) as pool:
            return run_crawl(factory, crawl_id, executor=pool, matcher=matcher,
                             policy=policy).hits

    assert crawl(robust=False) == 0
    assert crawl(robust=True) == 0  # known-material takes no robust hits yet
    with transaction(factory) as s:
        indicators.update_list(s, w.principals["centre"], "known-material", robust=True)
    assert crawl(robust=True) == 1
