"""Background work of the takedown flow, run by ``vigil worker``: the periodic pass over due
notices, and crawl jobs."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from vigil.config import Settings
from vigil.indicators.matcher import LiveMatcher
from vigil.takedown import service
from vigil.takedown.crawler.crawl import CrawlStats, run_crawl
from vigil.takedown.crawler.executors import crawl_executor
from vigil.takedown.fetch import Fetched, Resolver, fetch, make_client
from vigil.takedown.notify import Notifier, NullNotifier, Sender

log = logging.getLogger("vigil.takedown")


def notifier_for(settings: Settings | None) -> Notifier:
    if settings is None:
        return NullNotifier()
    secret = (settings.webhook_secret or "").encode()
    return Sender(settings.smtp_host, settings.smtp_port, settings.smtp_sender, secret,
                  smtp_starttls=settings.smtp_starttls,
                  resolver=Resolver(settings.resolver_overrides))


def check_notices(factory: sessionmaker[Session], settings: Settings, notifier: Notifier,
                  at: datetime | None = None, limit: int = 100) -> list[service.Outcome]:
    """Process every notice that is due: re-check, send or confirm removal, escalate."""
    resolver = Resolver(settings.resolver_overrides)
    with factory() as s:
        due = service.due_notices(s, at, limit)
    if not due:
        return []
    outcomes = []
    with make_client() as client:
        def get(url: str) -> Fetched:
            return fetch(url, client, resolver=resolver, max_bytes=settings.fetch_max_bytes,
                         timeout=settings.fetch_timeout)

        for notice_id in due:
            outcomes.append(service.process_notice(factory, notice_id, fetch=get,
                                                   notifier=notifier, settings=settings, at=at))
    log.info("takedown: %d notice(s) processed, %d removed", len(outcomes),
             sum(o.removed for o in outcomes))
    return outcomes


def crawl_job(factory: sessionmaker[Session], read_factory: sessionmaker[Session],
              settings: Settings, crawl_id: int, workers: int = 2,
              scheduler: str | None = None) -> CrawlStats:
    matcher = LiveMatcher()
    matcher.sync(read_factory)
    with crawl_executor(workers, scheduler) as executor:
        return run_crawl(factory, crawl_id, executor=executor, matcher=matcher,
                         resolver=Resolver(settings.resolver_overrides))
