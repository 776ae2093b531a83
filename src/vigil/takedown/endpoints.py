"""HTTP routes of notice and takedown: URL reports (public and hotline), classification, the
hosting directory, notices, crawls, figures, and the authorities' view of escalations."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from vigil.deps import DbId, principal_of, unit_of_work
from vigil.errors import Invalid, NotFound
from vigil.orgs.access import Scope, visible_notices, visible_url_reports
from vigil.reports.service import enqueue
from vigil.takedown import service
from vigil.takedown.crawler.crawl import CrawlOptions, create_crawl
from vigil.takedown.fetch import Resolver
from vigil.takedown.models import Crawl, CrawlUrl, HostingContact, Notice, UrlReport
from vigil.takedown.stats import takedown_stats

router = APIRouter(prefix="/v1")


class UrlIn(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    description: str | None = Field(default=None, max_length=4000)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def url_report_json(r: UrlReport) -> dict[str, Any]:
    return {"id": r.public_id, "url": r.url, "host": r.host, "source": r.source,
            "created_at": r.created_at, "classification": r.classification,
            "classification_country": r.classification_country, "list": r.list_name}


@router.post("/public/url-reports", status_code=202)
def public_url_report(body: UrlIn, request: Request) -> dict[str, Any]:
    """Anyone may report a URL (no account). Limited per address; the answer says only that
    the report was received."""
    request.app.state.vigil.public_reports.check(client_address(request), "URL reports")
    with unit_of_work(request) as s:
        report, _ = service.submit_url(s, body.url, source="public", description=body.description)
        return {"id": report.public_id, "status": "received"}


@router.post("/url-reports", status_code=201)
def hotline_url_report(body: UrlIn, request: Request,
                       actor: principal_of(Scope.REPORTS_SUBMIT)) -> dict[str, Any]:  # type: ignore[valid-type]
    with unit_of_work(request) as s:
        report, created = service.submit_url(s, body.url, source="hotline", reporter=actor,
                                             description=body.description)
        return {**url_report_json(report), "created": created}


@router.get("/url-reports")
def list_url_reports(request: Request, actor: principal_of(Scope.TAKEDOWN_MANAGE),  # type: ignore[valid-type]
                     classified: bool | None = None,
                     limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with unit_of_work(request) as s:
        q = select(UrlReport).where(visible_url_reports(actor)).order_by(UrlReport.created_at).limit(limit)
        if classified is not None:
            q = q.where(UrlReport.classification.is_not(None) if classified
                        else UrlReport.classification.is_(None))
        return [url_report_json(r) for r in s.scalars(q)]


class ClassificationIn(BaseModel):
    classification: str
    country: str | None = Field(default=None, min_length=2, max_length=2)


@router.post("/url-reports/{report_id}/classification")
def classify(report_id: str, body: ClassificationIn, request: Request,
             actor: principal_of(Scope.TAKEDOWN_MANAGE)) -> dict[str, Any]:  # type: ignore[valid-type]
    settings = request.app.state.vigil.settings
    with unit_of_work(request) as s:
        report, notice = service.classify(s, actor, report_id, body.classification, body.country,
                                          Resolver(settings.resolver_overrides))
        return {**url_report_json(report), "notice": service.as_json(notice) if notice else None}


class ContactIn(BaseModel):
    match: str = Field(min_length=1, max_length=255,
                       description="a domain (covers its subdomains) or an address range")
    provider: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    webhook: str | None = Field(default=None, max_length=2048)
    country: str | None = Field(default=None, min_length=2, max_length=2)


@router.put("/hosting-contacts")
def set_contact(body: ContactIn, request: Request,
                actor: principal_of(Scope.TAKEDOWN_MANAGE)) -> dict[str, Any]:  # type: ignore[valid-type]
    """Add or replace a hosting directory entry."""
    from vigil.audit.events import AuditAction
    from vigil.audit.service import record

    if not body.email and not body.webhook:
        raise Invalid("a hosting contact needs an e-mail address or a webhook")
    if body.email and "@" not in body.email:
        raise Invalid(f"not an e-mail address: {body.email!r}")
    if body.webhook and not body.webhook.startswith(("https://", "http://")):
        raise Invalid("the webhook must be an http(s) URL")
    match = body.match.strip().lower()
    with unit_of_work(request) as s:
        c = s.scalar(select(HostingContact).where(HostingContact.match == match))
        if c is None:
            c = HostingContact(match=match, provider=body.provider)
            s.add(c)
        c.provider, c.email, c.webhook = body.provider, body.email, body.webhook
        c.country = body.country.upper() if body.country else None
        s.flush()
        record(s, actor, AuditAction.HOSTING_CONTACT_SET, subject=match)
        return {"id": c.id, "match": c.match, "provider": c.provider, "email": c.email,
                "webhook": c.webhook, "country": c.country}


@router.get("/notices")
def list_notices(request: Request, actor: principal_of(Scope.TAKEDOWN_MANAGE),  # type: ignore[valid-type]
                 status: str | None = Query(None, pattern="^(open|removed|closed)$"),
                 limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    with unit_of_work(request) as s:
        q = select(Notice).where(visible_notices(actor)).order_by(Notice.id.desc()).limit(limit)
        if status:
            q = q.where(Notice.status == status)
        return [service.as_json(n) for n in s.scalars(q)]


@router.get("/notices/{notice_id}")
def get_notice(notice_id: DbId, request: Request,
               actor: principal_of(Scope.TAKEDOWN_MANAGE)) -> dict[str, Any]:  # type: ignore[valid-type]
    with unit_of_work(request) as s:
        n = s.scalar(select(Notice).where(Notice.id == notice_id, visible_notices(actor)))
        if n is None:
            raise NotFound(f"no notice {notice_id}")
        return {**service.as_json(n), "events": [
            {"at": e.at, "kind": e.kind, "detail": e.detail}
            for e in service.notice_events(s, n.id)]}


@router.get("/authority/notices")
def authority_notices(request: Request, actor: principal_of(Scope.REPORTS_RECEIVE),  # type: ignore[valid-type]
                      limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """Notices escalated to the caller's member state: material hosted there that its provider
    has not removed in time."""
    with unit_of_work(request) as s:
        return [service.as_json(n) for n in s.scalars(
            select(Notice).where(visible_notices(actor)).order_by(Notice.id.desc()).limit(limit))]


class CrawlIn(BaseModel):
    seeds: list[str] = Field(min_length=1, max_length=1000)
    allowed_domains: list[str] = Field(min_length=1, max_length=100)
    max_depth: int = Field(default=3, ge=0, le=50)
    max_pages: int = Field(default=10_000, ge=1)
    per_host_delay: float = Field(default=1.0, ge=0, le=3600)
    obey_robots: bool = True
    workers: int = Field(default=2, ge=1, le=64)
    scheduler: str | None = Field(default=None, max_length=200,
                                  description="a Dask scheduler address; default: a local pool")


@router.post("/crawls", status_code=202)
def start_crawl(body: CrawlIn, request: Request,
                actor: principal_of(Scope.TAKEDOWN_MANAGE)) -> dict[str, Any]:  # type: ignore[valid-type]
    """Queue a proactive search; ``vigil worker`` runs it."""
    opts = CrawlOptions(max_depth=body.max_depth, max_pages=body.max_pages,
                        per_host_delay=body.per_host_delay, obey_robots=body.obey_robots)
    with unit_of_work(request) as s:
        crawl = create_crawl(s, actor, body.seeds, body.allowed_domains, opts)
        enqueue(s, "crawl", {"crawl_id": crawl.id, "workers": body.workers,
                             "scheduler": body.scheduler})
        return {"id": crawl.id, "status": crawl.status}


@router.get("/crawls/{crawl_id}")
def crawl_status(crawl_id: DbId, request: Request,
                 actor: principal_of(Scope.TAKEDOWN_MANAGE)) -> dict[str, Any]:  # type: ignore[valid-type]
    with unit_of_work(request) as s:
        crawl = s.get(Crawl, crawl_id)
        if crawl is None:
            raise NotFound(f"no crawl {crawl_id}")
        counts = s.execute(select(CrawlUrl.kind, CrawlUrl.state, func.count())
                           .where(CrawlUrl.crawl_id == crawl_id)
                           .group_by(CrawlUrl.kind, CrawlUrl.state)).all()
        matched = s.scalar(select(func.count()).where(CrawlUrl.crawl_id == crawl_id,
                                                      CrawlUrl.matched.is_(True)))
        return {"id": crawl.id, "status": crawl.status, "seeds": json.loads(crawl.seeds),
                "allowed_domains": json.loads(crawl.allowed_domains),
                "urls": {f"{k}:{st}": n for k, st, n in counts}, "matched": matched,
                "created_at": crawl.created_at, "finished_at": crawl.finished_at}


@router.get("/takedown/stats")
def stats(request: Request, actor: principal_of(Scope.STATS_READ)) -> dict[str, Any]:  # type: ignore[valid-type]
    """Time to removal per host and per country, notices sent, escalations, re-uploads."""
    with unit_of_work(request) as s:
        return takedown_stats(s)
