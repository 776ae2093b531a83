"""Background work of the takedown flow, registered with the job registry: the periodic pass
over due notices (once per interval across all workers), and crawl jobs (long: they run on a
queue of their own and open their own transactions)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings
from vigil.indicators.matcher import LiveMatcher
from vigil.jobs.registry import JobContext, Services, periodic, register
from vigil.matching.policy import CandidateSource
from vigil.takedown import authority, service
from vigil.takedown.crawler.crawl import CrawlStats, run_crawl
from vigil.takedown.crawler.executors import crawl_executor
from vigil.takedown.fetch import Fetched, fetch, make_client
from vigil.takedown.notify import Notifier, NullNotifier, Sender

log = logging.getLogger("vigil.takedown")


def notifier_for(settings: Settings | None) -> Notifier:
    if settings is None:
        return NullNotifier()
    secret = (settings.webhook_secret or "").encode()
    return Sender(settings.smtp_host, settings.smtp_port, settings.smtp_sender, secret,
                  smtp_starttls=settings.smtp_starttls,
                  policy=settings.egress())


def check_notices(factory: sessionmaker[Session], settings: Settings, notifier: Notifier,
                  at: datetime | None = None, limit: int = 100,
                  matcher: CandidateSource | None = None) -> list[service.Outcome]:
    """Process every notice that is due: re-check, send or confirm removal, escalate; stop
    those whose indicator no longer stands (and, with ``matcher``, those whose content is now
    allow-listed)."""
    policy = settings.egress()
    with factory() as s:
        due = service.due_notices(s, at, limit)
    if not due:
        return []
    outcomes = []
    with make_client() as client:
        def get(url: str) -> Fetched:
            return fetch(url, client, policy=policy, max_bytes=settings.fetch_max_bytes,
                         timeout=settings.fetch_timeout)

        for notice_id in due:
            outcomes.append(service.process_notice(factory, notice_id, fetch=get,
                                                   notifier=notifier, settings=settings, at=at,
                                                   matcher=matcher))
    log.info("takedown: %d notice(s) processed, %d removed", len(outcomes),
             sum(o.removed for o in outcomes))
    return outcomes


def crawl_job(factory: sessionmaker[Session], read_factory: sessionmaker[Session],
              settings: Settings, crawl_id: int, workers: int = 2,
              scheduler: str | None = None) -> CrawlStats:
    """Run a crawl: on a local pool, or on ``scheduler`` (default: the settings' Dask
    scheduler), which the egress policy must allow."""
    matcher = LiveMatcher()
    matcher.sync(read_factory)
    with crawl_executor(workers, scheduler or settings.dask_scheduler, settings.egress()) as executor:
        return run_crawl(factory, crawl_id, executor=executor, matcher=matcher,
                         policy=settings.egress())


@register(authority.INFORM)
def inform_authority(ctx: JobContext) -> None:
    """Payload ``{"notice_id": int}``: pass a notice confirmed at classification to its
    hosting country's authority (for victim identification). A failed send raises and is
    retried with back-off; the notice's page shows the attempts and the error."""
    if ctx.services.notifier is None:
        ctx.services.notifier = notifier_for(ctx.settings)
    service.inform_authority(ctx.session, int(ctx.payload["notice_id"]), ctx.services.notifier,
                             ctx.settings)


@register("crawl", long=True)
def crawl(ctx: JobContext) -> None:
    """Payload ``{"crawl_id": int, "workers": int}``: run the crawl (it resumes where a crawl
    whose worker died stopped)."""
    crawl_job(ctx.services.factory, ctx.services.read_factory, ctx.settings,
              int(ctx.payload["crawl_id"]), workers=int(ctx.payload.get("workers", 2)))


@periodic("takedown:notices", every=lambda settings: settings.takedown_check_seconds,
          lease=timedelta(minutes=30))
def notices(services: Services) -> int:
    """Process the takedown notices that are due; returns how many."""
    if services.settings is None:
        return 0
    if services.notifier is None:
        services.notifier = notifier_for(services.settings)
    services.matcher.sync(services.read_factory)
    return len(check_notices(services.factory, services.settings, services.notifier,
                             matcher=services.matcher))
