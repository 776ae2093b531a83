"""HTTP routes of notice and takedown: URL reports (public and hotline), classification, the
hosting directory, notices, crawls, figures, and the authorities' view of escalations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from vigil.deps import (
    DbId,
    ReportsReceiveKey,
    ReportsSubmitKey,
    StatsReadKey,
    TakedownManageKey,
    client_address,
    unit_of_work,
)
from vigil.errors import ERROR_RESPONSES
from vigil.jobs.queue import enqueue
from vigil.takedown import hosting, repository, service
from vigil.takedown.crawler import crawl as crawler
from vigil.takedown.crawler.crawl import CrawlOptions, create_crawl
from vigil.takedown.schemas import (
    ClassifiedUrlReportOut,
    CrawlQueuedOut,
    CrawlStatusOut,
    HostingContactOut,
    HostingProposalOut,
    HotlineUrlReportOut,
    NoticeDetailOut,
    NoticeEventOut,
    NoticeOut,
    TakedownStatsOut,
    UrlReportOut,
    UrlReportReceivedOut,
)
from vigil.takedown.stats import takedown_stats

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)



class UrlIn(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    description: str | None = Field(default=None, max_length=4000)


@router.post("/public/url-reports", response_model=UrlReportReceivedOut, status_code=202)
def public_url_report(body: UrlIn, request: Request) -> UrlReportReceivedOut:
    """Anyone may report a URL (no account). Limited per address; the answer says only that
    the report was received."""
    request.app.state.vigil.public_reports.check(client_address(request), "URL reports")
    with unit_of_work(request) as s:
        report, _ = service.submit_url(s, body.url, source="public", description=body.description)
        return UrlReportReceivedOut(id=report.public_id, status="received")


@router.post("/url-reports", response_model=HotlineUrlReportOut, status_code=201)
def hotline_url_report(body: UrlIn, request: Request, actor: ReportsSubmitKey) -> HotlineUrlReportOut:
    with unit_of_work(request) as s:
        report, created = service.submit_url(s, body.url, source="hotline", reporter=actor,
                                             description=body.description)
        return HotlineUrlReportOut.model_validate({**service.url_report_json(report), "created": created})


@router.get("/url-reports", response_model=list[UrlReportOut])
def list_url_reports(request: Request, actor: TakedownManageKey,
                     classified: bool | None = None,
                     limit: int = Query(100, ge=1, le=1000)) -> list[UrlReportOut]:
    with unit_of_work(request) as s:
        return [UrlReportOut.model_validate(r) for r in service.with_referrals(
            s, actor, repository.url_reports(s, actor, classified, limit))]


@router.get("/url-reports/{report_id}", response_model=UrlReportOut)
def get_url_report(request: Request, actor: TakedownManageKey,
                   report_id: str = Path(max_length=36)) -> UrlReportOut:
    """One URL report, with its referral to the partner hotline of the hosting country (its
    status as the partner reports it, or why it was not referred) once classified."""
    with unit_of_work(request) as s:
        (out,) = service.with_referrals(s, actor, [repository.url_report(s, actor, report_id)])
        return UrlReportOut.model_validate(out)


class ClassificationIn(BaseModel):
    classification: str
    country: str | None = Field(default=None, min_length=2, max_length=2)


@router.post("/url-reports/{report_id}/classification", response_model=ClassifiedUrlReportOut)
def classify(report_id: str, body: ClassificationIn, request: Request,
             actor: TakedownManageKey) -> ClassifiedUrlReportOut:
    settings = request.app.state.vigil.settings
    with unit_of_work(request) as s:
        report, notice = service.classify(s, actor, report_id, body.classification, body.country,
                                          settings.egress())
        (out,) = service.with_referrals(s, actor, [report])
        shown = repository.readable_notice(s, actor, notice)
        return ClassifiedUrlReportOut.model_validate(
            {**out, "notice": service.as_json(shown) if shown else None})


class ContactIn(BaseModel):
    match: str = Field(min_length=1, max_length=255,
                       description="a domain (covers its subdomains) or an address range")
    provider: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    webhook: str | None = Field(default=None, max_length=2048)
    country: str | None = Field(default=None, min_length=2, max_length=2)


@router.put("/hosting-contacts", response_model=HostingContactOut)
def set_contact(body: ContactIn, request: Request, actor: TakedownManageKey) -> HostingContactOut:
    """Add or replace a hosting directory entry — the Centre only (it decides where every
    organisation's notices go); others propose entries."""
    with unit_of_work(request) as s:
        c = hosting.set_contact(s, actor, body.match, body.provider, body.email, body.webhook,
                                body.country)
        return HostingContactOut(id=c.id, match=c.match, provider=c.provider, email=c.email,
                                 webhook=c.webhook, country=c.country)


def _proposal(p: Any) -> HostingProposalOut:
    return HostingProposalOut(id=p.id, match=p.match, provider=p.provider, email=p.email,
                              webhook=p.webhook, country=p.country, status=p.status,
                              proposed_at=p.proposed_at, decided_at=p.decided_at)


@router.post("/hosting-contacts/proposals", response_model=HostingProposalOut, status_code=201)
def propose_contact(body: ContactIn, request: Request, actor: TakedownManageKey) -> HostingProposalOut:
    """Propose an entry for the hosting directory (the Centre approves or rejects it)."""
    with unit_of_work(request) as s:
        return _proposal(hosting.propose(s, actor, body.match, body.provider, body.email,
                                         body.webhook, body.country))


@router.get("/hosting-contacts/proposals", response_model=list[HostingProposalOut])
def list_proposals(request: Request, actor: TakedownManageKey,
                   status: str | None = Query(None, pattern="^(proposed|approved|rejected)$"),
                   ) -> list[HostingProposalOut]:
    """Proposals: all of them for the Centre, one's own for anyone else."""
    with unit_of_work(request) as s:
        return [_proposal(p) for p in hosting.proposals(s, actor, status)]


class ProposalDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool


@router.post("/hosting-contacts/proposals/{proposal_id}/decision", response_model=HostingProposalOut)
def decide_proposal(proposal_id: DbId, body: ProposalDecisionIn, request: Request,
                    actor: TakedownManageKey) -> HostingProposalOut:
    """The Centre approves (the entry is written) or rejects a proposal."""
    with unit_of_work(request) as s:
        return _proposal(hosting.decide_proposal(s, actor, proposal_id, body.approve))


@router.get("/notices", response_model=list[NoticeOut])
def list_notices(request: Request, actor: TakedownManageKey,
                 status: str | None = Query(None, pattern="^(open|removed|closed)$"),
                 limit: int = Query(100, ge=1, le=1000)) -> list[NoticeOut]:
    with unit_of_work(request) as s:
        return [NoticeOut.model_validate(service.as_json(n))
                for n in repository.notices(s, actor, status, limit)]


@router.get("/notices/{notice_id}", response_model=NoticeDetailOut)
def get_notice(notice_id: DbId, request: Request, actor: TakedownManageKey) -> NoticeDetailOut:
    with unit_of_work(request) as s:
        n = repository.notice(s, actor, notice_id)
        return NoticeDetailOut.model_validate({**service.as_json(n), "events": [
            NoticeEventOut(at=e.at, kind=e.kind, detail=e.detail)
            for e in repository.notice_events(s, n.id)]})


@router.get("/authority/notices", response_model=list[NoticeOut])
def authority_notices(request: Request, actor: ReportsReceiveKey,
                      limit: int = Query(100, ge=1, le=1000)) -> list[NoticeOut]:
    """Notices passed to the caller's member state: material hosted there, confirmed illegal
    (passed at classification, for victim identification) or not removed in time by its
    provider (escalated)."""
    with unit_of_work(request) as s:
        return [NoticeOut.model_validate(service.as_json(n))
                for n in repository.notices(s, actor, limit=limit)]


class CrawlIn(BaseModel):
    """Where to search and how politely. Where the crawl's tasks run (a local pool, or the
    Dask scheduler of ``VIGIL_DASK_SCHEDULER``) is the Centre's setting, never a caller's."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[str] = Field(min_length=1, max_length=1000)
    allowed_domains: list[str] = Field(min_length=1, max_length=100)
    max_depth: int = Field(default=3, ge=0, le=50)
    max_pages: int = Field(default=10_000, ge=1, le=100_000)
    per_host_delay: float = Field(default=1.0, ge=0, le=3600)
    obey_robots: bool = True
    workers: int = Field(default=2, ge=1, le=8, description="local worker processes")
    max_minutes: int = Field(default=360, ge=1, le=7 * 24 * 60,
                             description="stop (resumable) after this long")
    robust: bool = Field(default=False, description=(
        "match every image robustly too (mirrors, trims, turns), on the lists opted in"))


@router.post("/crawls", response_model=CrawlQueuedOut, status_code=202)
def start_crawl(body: CrawlIn, request: Request, actor: TakedownManageKey) -> CrawlQueuedOut:
    """Queue a proactive search; ``vigil worker`` runs it."""
    opts = CrawlOptions(max_depth=body.max_depth, max_pages=body.max_pages,
                        per_host_delay=body.per_host_delay, obey_robots=body.obey_robots,
                        max_seconds=body.max_minutes * 60.0, robust=body.robust)
    with unit_of_work(request) as s:
        crawl = create_crawl(s, actor, body.seeds, body.allowed_domains, opts)
        enqueue(s, "crawl", {"crawl_id": crawl.id, "workers": body.workers})
        return CrawlQueuedOut(id=crawl.id, status=crawl.status)


@router.get("/crawls/{crawl_id}", response_model=CrawlStatusOut)
def crawl_status(crawl_id: DbId, request: Request, actor: TakedownManageKey) -> CrawlStatusOut:
    with unit_of_work(request) as s:
        return CrawlStatusOut.model_validate(repository.crawl_status(s, actor, crawl_id))


@router.post("/crawls/{crawl_id}/cancel", response_model=CrawlQueuedOut)
def cancel_crawl(crawl_id: DbId, request: Request, actor: TakedownManageKey) -> CrawlQueuedOut:
    """Stop a crawl for good (the one who started it, or the Centre); a running crawl stops
    with its next batch of results."""
    with unit_of_work(request) as s:
        crawl = crawler.cancel_crawl(s, actor, crawl_id)
        return CrawlQueuedOut(id=crawl.id, status=crawl.status)


@router.get("/takedown/stats", response_model=TakedownStatsOut)
def stats(request: Request, actor: StatsReadKey) -> TakedownStatsOut:
    """Time to removal per host and per country, notices sent, escalations, re-uploads."""
    with unit_of_work(request) as s:
        return TakedownStatsOut.model_validate(takedown_stats(s))
