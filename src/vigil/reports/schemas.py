"""The report format. Field names follow the CSA proposal's Art. 13 list, with the NCMEC
CyberTipline API's extra detail where it helps the authority act. Unknown fields are refused
(a typo must not silently drop data)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Concerns(StrEnum):
    KNOWN_MATERIAL = "known_material"
    NEW_MATERIAL = "new_material"
    SOLICITATION = "solicitation"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IpEvent(Strict):
    ip: str
    at: datetime
    port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        try:
            return str(ipaddress.ip_address(v.strip()))
        except ValueError:
            raise ValueError(f"not an IP address: {v!r}") from None


class ReportedUser(Strict):
    user_ids: list[str] = Field(default_factory=list, max_length=50)
    screen_names: list[str] = Field(default_factory=list, max_length=50)
    emails: list[str] = Field(default_factory=list, max_length=50)
    ips: list[IpEvent] = Field(default_factory=list, max_length=500)
    device_ids: list[str] = Field(default_factory=list, max_length=50)
    declared_country: str | None = Field(default=None, min_length=2, max_length=2)
    is_child_victim: bool = False


class HashIn(Strict):
    signal_type: str
    value: str = Field(max_length=4_000_000)
    #: Your reference for the file this hash was taken of: hashes with the same reference are
    #: matched together (an allow-list hit on one suppresses the others), as an uploaded file's
    #: are; without it each hash is matched alone, as ``POST /v1/match`` does.
    file: str | None = Field(default=None, min_length=1, max_length=200)


class ElsewhereReport(Strict):
    authority: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2)
    reference: str | None = Field(default=None, max_length=200)


class ReportIn(Strict):
    incident_at: datetime
    concerns: Concerns
    legal_basis: str = Field(min_length=1, max_length=200)
    urgent: bool = False
    urgent_reason: str | None = Field(default=None, max_length=4000)
    content_removed: bool
    declared_country: str | None = Field(default=None, min_length=2, max_length=2)
    incident_type: str | None = Field(default=None, max_length=64)
    hashes: list[HashIn] = Field(default_factory=list, max_length=1000)
    urls: list[str] = Field(default_factory=list, max_length=1000)
    users: list[ReportedUser] = Field(default_factory=list, max_length=100)
    reported_elsewhere: list[ElsewhereReport] = Field(default_factory=list, max_length=20)
    other_data: dict[str, str] = Field(default_factory=dict, max_length=100)
    #: False: more files will be added, then POST .../finish. True: the report is complete.
    complete: bool = True

    @model_validator(mode="after")
    def _urgent_needs_reason(self) -> ReportIn:
        if self.urgent and not (self.urgent_reason and self.urgent_reason.strip()):
            raise ValueError("urgent reports need urgent_reason (the imminent danger)")
        return self


class FileMeta(Strict):
    annotations: list[str] = Field(default_factory=list, max_length=50)
    industry_classification: str | None = Field(default=None, pattern=r"^(A1|A2|B1|B2)$")
    viewed_by_provider: bool | None = None
    publicly_available: bool | None = None


class ReportSummaryBase(BaseModel):
    """The fields every view of a report starts with."""

    id: str
    status: str
    created_at: datetime
    submitted_at: datetime | None
    assessment: str | None
    assessment_reason: str | None
    priority: int
    jurisdictions: list[str]
    forwarded: bool


class ReportOut(ReportSummaryBase):
    """A report as its provider (and everyone who may read it) sees it."""

    files: int
    hashes: int
    hold_user_notice_until: datetime | None = Field(description=(
        "set while an authority has asked the provider to delay notifying its user"))


class FileAddedOut(BaseModel):
    """A file added to a report, with the hashes the Centre computed from it."""

    file_id: int
    size: int
    kind: str | None
    md5: str
    sha256: str
    pdq: str | None
    pdq_quality: int | None
    vpdq: str | None
    note: str | None = Field(description="why the file could not be hashed perceptually")


class RelatedReportOut(BaseModel):
    id: str
    reason: str = Field(description="same_hash or same_user")


class AuthorityFileOut(BaseModel):
    id: int
    filename: str
    size: int
    kind: str | None
    md5: str
    sha256: str
    pdq: str | None
    industry_classification: str | None
    available: bool = Field(description="false once the original was deleted at the end of "
                                        "its retention period")


class AuthorityReportOut(ReportSummaryBase):
    """A report as the authority (or Europol) it was routed to sees it."""

    files: list[AuthorityFileOut]
    hashes: int
    hold_user_notice_until: datetime | None
    incident_at: datetime
    concerns: str
    urgent: bool
    urgent_reason: str | None
    legal_basis: str
    declared_country: str | None
    content_removed: bool
    incident_type: str | None
    details: dict[str, Any] | None
    related: list[RelatedReportOut]


class AcknowledgementOut(BaseModel):
    id: str
    acknowledged_at: datetime | None


class FeedbackOut(BaseModel):
    id: str
    feedback: str | None
    delay_user_notice_until: datetime | None


class QuestionOut(BaseModel):
    """A request for more information about a report, and the provider's answer."""

    id: int
    question: str
    asked_at: datetime
    answer: str | None
    answered_at: datetime | None


class ReviewQueueItemOut(ReportOut):
    urgent: bool
    age_seconds: int
    review_decision: str | None


class ReviewFileOut(BaseModel):
    id: int
    filename: str
    size: int
    kind: str | None
    md5: str
    sha256: str
    pdq: str | None
    note: str | None


class ReviewHashOut(BaseModel):
    signal_type: str
    value: str
    file_id: int | None
    matched_indicator: int | None


class ReviewReportOut(ReportSummaryBase):
    """A report as the Centre's reviewer sees it: files by their hashes, never originals."""

    files: list[ReviewFileOut]
    hashes: list[ReviewHashOut]
    hold_user_notice_until: datetime | None
    incident_at: datetime
    concerns: str
    urgent: bool
    urgent_reason: str | None
    details: dict[str, Any]
    review_decision: str | None
    related: list[RelatedReportOut]


class ReviewDecisionOut(BaseModel):
    id: str
    review_decision: str | None
    pending_indicators: list[int] = Field(description="indicators proposed from the report's "
                                                      "hashes, awaiting a second organisation")
