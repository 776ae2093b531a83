"""What the notice-and-takedown API answers: URL reports, notices and their history, hosting
directory entries, crawls and figures. The shapes of :func:`vigil.takedown.service.as_json`,
:func:`~vigil.takedown.service.url_report_json`, :func:`vigil.takedown.repository.crawl_status`
and :func:`vigil.takedown.stats.takedown_stats`, field for field."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from vigil.takedown.referrals.schemas import ReferralOut


class UrlReportReceivedOut(BaseModel):
    """All a member of the public learns about their report: that it arrived."""

    id: str
    status: str


class UrlReportOut(BaseModel):
    id: str
    url: str
    host: str
    source: str = Field(description="public, hotline, crawler or referral (referred to us by "
                                    "a partner hotline)")
    created_at: datetime
    classification: str | None
    classification_country: str | None
    list: str | None = Field(description="the list whose indicator matched the URL's content")
    list_trust: str | None
    description: str | None = Field(default=None, description="what the reporter wrote")
    referral: ReferralOut | None = Field(default=None, description=(
        "once classified illegal: the referral of this URL to the partner hotline of its "
        "hosting country, or why it was not referred"))


class HotlineUrlReportOut(UrlReportOut):
    created: bool = Field(description="false: the URL was already reported; this is that report")


class NoticeOut(BaseModel):
    """A notice to a hosting provider about one URL, and how far it got."""

    id: int
    url: str
    host: str
    hosting_country: str | None
    provider: str
    status: str = Field(description="open, removed or closed")
    opened_at: datetime
    sends: int
    last_sent_at: datetime | None
    escalated_at: datetime | None
    authority_informed_at: datetime | None = Field(default=None, description=(
        "when the hosting country's authority was told (at classification, for victim "
        "identification)"))
    removed_at: datetime | None
    removal_evidence: str | None
    reupload_of: int | None
    victim_submitted: bool


class ClassifiedUrlReportOut(UrlReportOut):
    notice: NoticeOut | None = Field(description="the notice the classification opened, if any")


class NoticeEventOut(BaseModel):
    at: datetime
    kind: str
    detail: str | None


class NoticeDetailOut(NoticeOut):
    events: list[NoticeEventOut]


class HostingContactOut(BaseModel):
    id: int
    match: str
    provider: str
    email: str | None
    webhook: str | None
    country: str | None


class HostingProposalOut(BaseModel):
    id: int
    match: str
    provider: str
    email: str | None
    webhook: str | None
    country: str | None
    status: str = Field(description="proposed, approved or rejected")
    proposed_at: datetime
    decided_at: datetime | None


class CrawlQueuedOut(BaseModel):
    id: int
    status: str


class CrawlStatusOut(BaseModel):
    """A crawl's progress: URLs by kind and state, and how many media matched."""

    id: int
    status: str
    seeds: list[str]
    allowed_domains: list[str]
    urls: dict[str, int] = Field(description='URLs by "kind:state", e.g. "media:done"')
    matched: int
    created_at: datetime
    finished_at: datetime | None


class TakedownFiguresOut(BaseModel):
    notices: int
    removed: int
    median_hours_to_removal: float | None
    removed_within_60h: int
    notices_sent: int
    escalations: int
    reuploads: int


class TakedownStatsOut(BaseModel):
    """Time to removal per host and per country, notices sent, escalations, re-uploads."""

    total: TakedownFiguresOut
    by_host: dict[str, TakedownFiguresOut]
    by_country: dict[str, TakedownFiguresOut]
    url_reports_by_source: dict[str, int]
    url_reports_by_classification: dict[str, int]
