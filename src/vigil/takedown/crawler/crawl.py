"""The crawl coordinator: frontier, politeness, matching, hits.

* The frontier is the ``crawl_urls`` table: every URL once (unique per crawl), queued until a
  task's result is written. A crawl that stops (crash, ``stop_after``, Ctrl-C) resumes from
  the rows still queued; whatever was in flight is simply fetched again.
* Never leaves the allowed domains (links, redirects), honours robots.txt unless told not to
  (including its Crawl-delay), and waits ``per_host_delay`` seconds between requests to a host.
* Media are fetched and hashed inside the task; the coordinator sees hashes only, matches them
  through the match policy (:mod:`vigil.matching.policy`: per-list thresholds, allow lists
  suppress, every hit with its list's trust), and remembers each content's SHA-256 so that
  identical content at many URLs is matched once. A verified hit becomes a URL report (source
  ``crawler``, classified by the indicator) and a notice; a known indicator at a new URL is
  counted as a re-upload. A hit on an unverified list (a victim's own hash) becomes a URL
  report that waits for an analyst's classification: no notice goes out before it.
"""

from __future__ import annotations

import json
import time
import urllib.robotparser
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.db import transaction
from vigil.egress import EgressPolicy
from vigil.errors import Conflict, Invalid, NotFound
from vigil.indicators.matcher import LiveMatcher
from vigil.matching.policy import Outcome, Verdict, match_items
from vigil.orgs.access import Principal, Scope
from vigil.takedown import service
from vigil.takedown.crawler.tasks import MediaResult, PageResult, TaskOptions, fetch_batch
from vigil.takedown.fetch import fetch, make_client
from vigil.takedown.models import Crawl, CrawlUrl
from vigil.takedown.repository import readable_crawls
from vigil.takedown.urls import host_of, in_domains, normalise, url_key

ROBOTS_AGENT = "vigil-takedown"
#: Media files per task for hosts crawled without a delay.
MEDIA_BATCH = 8
#: A frontier row: (id, url, kind, depth).
Row = tuple[int, str, str, int]


@dataclass(frozen=True)
class CrawlOptions:
    max_depth: int = 3
    max_pages: int = 10_000
    max_media: int = 1_000_000
    per_host_delay: float = 1.0
    obey_robots: bool = True
    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 15.0
    in_flight: int = 16
    #: A crawl stops (resumable) after this long, whatever is left.
    max_seconds: float = 6 * 3600.0
    #: Match images robustly too (vigil.matching.robust), on the lists opted in.
    robust: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.max_depth <= 50:
            raise Invalid("max_depth must be 0-50")
        if not 0 < self.max_seconds <= 7 * 86400:
            raise Invalid("max_seconds must be more than 0 and at most a week")
        if self.per_host_delay < 0 or self.in_flight < 1 or self.max_bytes < 1 or self.timeout <= 0:
            raise Invalid("per_host_delay >= 0, in_flight >= 1, max_bytes >= 1, timeout > 0")

    @classmethod
    def from_json(cls, text: str) -> CrawlOptions:
        return cls(**json.loads(text or "{}"))


@dataclass
class CrawlStats:
    crawl_id: int
    pages: int = 0
    media: int = 0
    bytes: int = 0
    hits: int = 0
    #: Hits on unverified lists, waiting for an analyst before any notice.
    held_for_review: int = 0
    notices: int = 0
    reuploads: int = 0
    duplicates: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def create_crawl(session: Session, actor: Principal | None, seeds: list[str],
                 allowed_domains: list[str], options: CrawlOptions | None = None) -> Crawl:
    """``actor`` None: the operator at the command line (``vigil crawl``)."""
    if actor is not None:
        actor.require(Scope.TAKEDOWN_MANAGE)
    domains = sorted({d.strip().lower().strip(".") for d in allowed_domains if d.strip()})
    if not domains:
        raise Invalid("a crawl needs at least one allowed domain")
    clean = []
    for s in seeds:
        url = normalise(s)
        if not in_domains(host_of(url), domains):
            raise Invalid(f"seed {url} is outside the allowed domains ({', '.join(domains)})")
        clean.append(url)
    if not clean:
        raise Invalid("a crawl needs at least one seed")
    opts = options or CrawlOptions()
    crawl = Crawl(seeds=json.dumps(clean), allowed_domains=json.dumps(domains),
                  options=json.dumps(asdict(opts)), status="queued", created_at=now(),
                  created_by_org=actor.organisation_id if actor is not None else None)
    session.add(crawl)
    session.flush()
    for url in dict.fromkeys(clean):
        session.add(CrawlUrl(crawl_id=crawl.id, url_key=url_key(url), url=url, kind="page",
                             depth=0, state="queued"))
    record(session, actor, AuditAction.CRAWL_STARTED, subject=str(crawl.id),
           details={"domains": domains, "seeds": len(clean)})
    return crawl


def cancel_crawl(session: Session, actor: Principal, crawl_id: int) -> Crawl:
    """Stop a crawl (queued or running) for good; the one who started it, or the Centre."""
    actor.require(Scope.TAKEDOWN_MANAGE)
    crawl = session.scalar(select(Crawl).where(Crawl.id == crawl_id, readable_crawls(actor))
                           .with_for_update())
    if crawl is None:
        raise NotFound(f"no crawl {crawl_id}")
    if crawl.status in ("done", "cancelled"):
        raise Conflict(f"crawl {crawl_id} is {crawl.status} already")
    crawl.status = "cancelled"
    crawl.finished_at = now()
    record(session, actor, AuditAction.CRAWL_CANCELLED, subject=str(crawl.id))
    return crawl


@dataclass
class _Frontier:
    seen: set[str] = field(default_factory=set)
    #: SHA-256 of content already matched in this crawl → its outcome (identical bytes at
    #: another URL are not matched again, but that URL still gets its own notice).
    content: dict[str, Outcome] = field(default_factory=dict)
    sightings: set[str] = field(default_factory=set)


class Crawler:
    def __init__(self, factory: sessionmaker[Session], crawl_id: int, *, executor: Executor,
                 matcher: LiveMatcher, policy: EgressPolicy,
                 progress: Callable[[CrawlStats], None] | None = None) -> None:
        self.factory = factory
        self.executor = executor
        self.matcher = matcher
        self.policy = policy
        self.progress = progress
        with factory() as s:
            crawl = s.get(Crawl, crawl_id)
            if crawl is None:
                raise NotFound(f"no crawl {crawl_id}")
            self.crawl_id = crawl.id
            self.domains = tuple(json.loads(crawl.allowed_domains))
            self.opts = CrawlOptions.from_json(crawl.options)
            self.mem = _Frontier(
                set(s.scalars(select(CrawlUrl.url_key).where(CrawlUrl.crawl_id == crawl_id))))
            counts = dict(s.execute(select(CrawlUrl.kind, func.count()).where(
                CrawlUrl.crawl_id == crawl_id, CrawlUrl.state != "queued")
                .group_by(CrawlUrl.kind)).all())
        self.task_opts = TaskOptions(self.domains, self.opts.max_bytes, self.opts.timeout, policy,
                                     robust=self.opts.robust)
        self.stats = CrawlStats(crawl_id, pages=counts.get("page", 0), media=counts.get("media", 0))
        self.robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self.delay: dict[str, float] = {}
        self.next_ok: dict[str, float] = {}
        self.busy: dict[str, int] = {}
        self._client = make_client()

    # -- politeness ----------------------------------------------------------------------------
    def _robots(self, url: str) -> urllib.robotparser.RobotFileParser | None:
        host = host_of(url)
        if host not in self.robots:
            base = url.split("/", 3)
            got = fetch(f"{base[0]}//{base[2]}/robots.txt", self._client, policy=self.policy,
                        max_bytes=512 * 1024, timeout=self.opts.timeout)
            parser = None
            if got.status == 200 and got.body is not None:
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(got.body.decode("utf-8", "replace").splitlines())
            self.robots[host] = parser
            crawl_delay = parser.crawl_delay(ROBOTS_AGENT) if parser else None
            self.delay[host] = max(self.opts.per_host_delay, float(crawl_delay or 0))
            self.next_ok[host] = time.monotonic() + self.delay[host]  # robots.txt was a request too
        return self.robots[host]

    def _allowed_by_robots(self, url: str) -> bool:
        parser = self._robots(url)
        return not self.opts.obey_robots or parser is None or parser.can_fetch(ROBOTS_AGENT, url)

    # -- the loop ------------------------------------------------------------------------------
    def _queued(self, exclude: set[int]) -> deque[Row]:
        with self.factory() as s:
            rows = s.execute(select(CrawlUrl.id, CrawlUrl.url, CrawlUrl.kind, CrawlUrl.depth)
                             .where(CrawlUrl.crawl_id == self.crawl_id, CrawlUrl.state == "queued")
                             .order_by(CrawlUrl.id).limit(5000)).all()
        return deque((r.id, r.url, r.kind, r.depth) for r in rows if r.id not in exclude)

    def _cancelled(self) -> bool:
        with self.factory() as s:
            return s.scalar(select(Crawl.status).where(Crawl.id == self.crawl_id)) == "cancelled"

    def run(self, stop_after: int | None = None) -> CrawlStats:
        """Crawl until the frontier is empty, ``stop_after`` URLs were processed, the time
        limit passed (status ``stopped``: ``vigil crawl resume`` continues) or someone cancelled
        it (``POST /v1/crawls/{id}/cancel``; checked with every batch of results)."""
        start = time.monotonic()
        if self._cancelled():
            self.stats.finished = True
            self._client.close()
            return self.stats
        with transaction(self.factory) as s:
            s.execute(update(Crawl).where(Crawl.id == self.crawl_id).values(status="running"))
        inflight: dict[Future[Any], list[Row]] = {}
        buffer: list[tuple[Row, Any]] = []
        pending = self._queued(set())
        processed = 0
        last_flush = time.monotonic()
        stopped = False
        outcome = "done"
        while True:
            if not pending and not inflight:
                self._flush(buffer)
                pending = self._queued(set())
                if not pending:
                    break
            self._submit(pending, inflight, buffer)
            if inflight:
                done, _ = wait(list(inflight), timeout=0.25, return_when=FIRST_COMPLETED)
                for f in done:
                    rows = inflight.pop(f)
                    host = host_of(rows[0][1])
                    self.busy[host] -= 1
                    self.next_ok[host] = time.monotonic() + self.delay.get(host, self.opts.per_host_delay)
                    try:
                        buffer.extend(zip(rows, f.result(), strict=True))
                    except Exception as exc:  # a task that crashed: its URLs fail, none is lost
                        buffer.extend((r, f"task failed: {type(exc).__name__}: {exc}"[:300]) for r in rows)
                    processed += len(rows)
            elif pending:
                time.sleep(min(0.25, max(0.0, min(self.next_ok.values(), default=0) - time.monotonic())))
            if buffer and (len(buffer) >= 200 or time.monotonic() - last_flush > 0.5 or not inflight):
                busy_ids = {r[0] for rows in inflight.values() for r in rows}
                pending.extend(r for r in self._flush(buffer) if r[0] not in busy_ids)
                last_flush = time.monotonic()
                if self._cancelled():
                    outcome = "cancelled"
                    break
            if stop_after is not None and processed >= stop_after:
                stopped = True
                break
            if time.monotonic() - start > self.opts.max_seconds:
                outcome = "stopped"
                break
        for f in inflight:  # what is still running is fetched again on resume
            f.cancel()
        self._flush(buffer)
        self.stats.seconds += time.monotonic() - start
        if not stopped:
            with transaction(self.factory) as s:
                s.execute(update(Crawl).where(Crawl.id == self.crawl_id, Crawl.status != "cancelled")
                          .values(status=outcome, finished_at=now()))
                record(s, None, AuditAction.CRAWL_FINISHED, subject=str(self.crawl_id),
                       details={"outcome": outcome, **{k: v for k, v in self.stats.to_json().items()
                                                       if k != "seconds"}})
            self.stats.finished = outcome == "done"
        self._client.close()
        return self.stats

    def _submit(self, pending: deque[Row], inflight: dict[Future[Any], list[Row]],
                buffer: list[tuple[Row, Any]]) -> None:
        """Hand out work while there is room. Media of hosts without a delay go in batches (less
        overhead per file); with a delay, one request per host at a time, the next ``delay``
        seconds after the previous one finished: the host sees the spacing, whatever the pool's
        queue does."""
        t = time.monotonic()
        deferred: list[Row] = []
        batch: list[Row] = []
        counts = {"page": self.stats.pages, "media": self.stats.media}
        for rows in inflight.values():
            for r in rows:
                counts[r[2]] += 1

        def send(rows: list[Row]) -> None:
            host = host_of(rows[0][1])
            self.busy[host] = self.busy.get(host, 0) + 1
            inflight[self.executor.submit(fetch_batch, rows[0][2], [r[1] for r in rows],
                                          self.task_opts)] = rows

        while pending and len(inflight) < self.opts.in_flight:
            row = pending.popleft()
            _, url, kind, _ = row
            if not self._allowed_by_robots(url):
                buffer.append((row, "robots"))
                continue
            if counts[kind] >= (self.opts.max_pages if kind == "page" else self.opts.max_media):
                buffer.append((row, "limit"))
                continue
            host = host_of(url)
            delay = self.delay.get(host, self.opts.per_host_delay)
            if self.next_ok.get(host, 0.0) > t or (delay > 0 and self.busy.get(host)):
                deferred.append(row)
                if len(deferred) > 2000:
                    break
                continue
            counts[kind] += 1
            if kind == "media" and delay == 0:
                if batch and host_of(batch[0][1]) != host:
                    send(batch)
                    batch = []
                batch.append(row)
                if len(batch) >= MEDIA_BATCH:
                    send(batch)
                    batch = []
                continue
            send([row])
        if batch:
            send(batch)
        pending.extendleft(reversed(deferred))

    # -- results -------------------------------------------------------------------------------
    def _flush(self, buffer: list[tuple[Row, Any]]) -> list[Row]:
        """Write a batch of results in one transaction; returns the newly queued URLs."""
        if not buffer:
            return []
        new_rows: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        fresh = {r.content.sha256: r.content for _, r in buffer
                 if isinstance(r, MediaResult) and r.content is not None
                 and r.content.sha256 not in self.mem.content}
        if fresh:  # match the batch's new contents with one index query
            outcomes = match_items(self.matcher, [c.item() for c in fresh.values()])
            for sha, outcome in zip(fresh, outcomes, strict=True):
                self.mem.content[sha] = outcome
        with transaction(self.factory) as s:
            for (row_id, url, _kind, depth), result in buffer:
                values: dict[str, Any] = {"state": "done", "error": None}
                if isinstance(result, str):
                    values = {"state": "skipped" if result in ("robots", "limit") else "failed",
                              "error": "disallowed by robots.txt" if result == "robots"
                              else "crawl limit reached" if result == "limit" else result}
                    self.stats.skipped += result in ("robots", "limit")
                    self.stats.failed += result not in ("robots", "limit")
                elif isinstance(result, PageResult):
                    self.stats.pages += 1
                    if result.error:
                        values = {"state": "failed", "error": result.error}
                        self.stats.failed += 1
                    else:
                        if depth < self.opts.max_depth:
                            new_rows += self._links(result.pages, "page", depth + 1)
                        new_rows += self._links(result.media, "media", depth + 1)
                elif isinstance(result, MediaResult):
                    self.stats.media += 1
                    if result.error or result.content is None:
                        values = {"state": "failed", "error": result.error}
                        self.stats.failed += 1
                    else:
                        self.stats.bytes += result.size
                        values["sha256"] = result.content.sha256
                        values["matched"] = self._match(s, url, result)
                updates.append({"id": row_id, "sha256": None, "matched": False, **values})
            # One executemany for the batch (by primary key), not a statement per row.
            s.execute(update(CrawlUrl), updates)
            if new_rows:
                s.execute(insert(CrawlUrl), new_rows)
                s.flush()
            ids: list[Any] = []
            if new_rows:
                keys = [r["url_key"] for r in new_rows]
                ids = list(s.execute(select(CrawlUrl.id, CrawlUrl.url, CrawlUrl.kind, CrawlUrl.depth)
                                     .where(CrawlUrl.crawl_id == self.crawl_id,
                                            CrawlUrl.url_key.in_(keys))).all())
        buffer.clear()
        if self.progress:
            self.progress(self.stats)
        return [(r.id, r.url, r.kind, r.depth) for r in ids]

    def _links(self, urls: list[str], kind: str, depth: int) -> list[dict[str, Any]]:
        rows = []
        for url in urls:
            if not in_domains(host_of(url), list(self.domains)):
                continue  # never leaves the allowed domains (tasks filter too)
            key = url_key(url)
            if key in self.mem.seen:
                continue
            self.mem.seen.add(key)
            rows.append({"crawl_id": self.crawl_id, "url_key": key, "url": url, "kind": kind,
                         "depth": depth, "state": "queued", "matched": False})
        return rows

    def _match(self, s: Session, url: str, result: MediaResult) -> bool:
        content = result.content
        assert content is not None
        outcome = self.mem.content.get(content.sha256)
        if outcome is None:
            outcome = self.mem.content[content.sha256] = match_items(self.matcher, [content.item()])[0]
        if content.sha256 in self.mem.sightings:
            self.stats.duplicates += 1  # the same bytes at another URL of this crawl
        self.mem.sightings.add(content.sha256)
        if outcome.verdict not in (Verdict.VERIFIED, Verdict.UNVERIFIED):
            return False  # nothing of the media is kept: only its SHA-256, for de-duplication
        self.stats.hits += 1
        _, notice, created = service.crawler_hit(s, url, outcome, self.policy, content)
        if notice is None:
            self.stats.held_for_review += outcome.requires_review
            return True
        if created:
            self.stats.notices += 1
            self.stats.reuploads += notice.reupload_of is not None
        return True


def run_crawl(factory: sessionmaker[Session], crawl_id: int, *, executor: Executor,
              matcher: LiveMatcher, policy: EgressPolicy, stop_after: int | None = None,
              progress: Callable[[CrawlStats], None] | None = None) -> CrawlStats:
    return Crawler(factory, crawl_id, executor=executor, matcher=matcher, policy=policy,
                   progress=progress).run(stop_after)
