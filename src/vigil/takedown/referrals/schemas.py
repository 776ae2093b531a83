"""What the referral API answers and takes: a referral as the referring side sees it (with how
its delivery goes), partner hotlines of the registry (never their secret), and the receiving
side's inbound referral and its status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DeliveryOut(BaseModel):
    """How delivery of a pending referral goes: its job's state and attempts, the first line of
    the last error, and when it is tried next."""

    job: int
    state: str = Field(description="queued (waiting, or waiting to be tried again), running, "
                                   "done, or dead (gave up: an administrator may run it again)")
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None


class ReferralOut(BaseModel):
    id: str
    url: str
    status: str = Field(description="not_referred, pending, acknowledged, assessed, removed, "
                                    "declined or closed")
    country: str | None = Field(description="the hosting country")
    hotline: str | None = Field(description="the partner hotline it went to")
    kind: str | None = Field(description="vigil or webhook")
    reason: str | None = Field(description="why it was not referred, or what the partner said")
    remote_id: str | None = Field(description="the partner's id for it")
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    removed_at: datetime | None
    last_polled_at: datetime | None
    poll_error: str | None = Field(description="the last status poll's failure, if it failed")
    delivery: DeliveryOut | None = Field(description="while pending: how delivery goes")


class HotlineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["vigil", "webhook"]
    url: str = Field(min_length=1, max_length=2048, description=(
        "a partner vigil's base URL, or the webhook's URL"))
    secret: str = Field(min_length=1, max_length=512, description=(
        "the API key the partner vigil issued to this Centre (scope referrals:submit), or the "
        "webhook's shared secret; sealed at rest and never shown again"))


class HotlineOut(BaseModel):
    id: int
    country: str
    name: str
    kind: str
    url: str
    created_at: datetime


class InboundReferralIn(BaseModel):
    """A referral from a partner hotline (what its vigil sends)."""

    model_config = ConfigDict(extra="ignore")

    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                           description="the referring hotline's id for it")
    url: str = Field(min_length=1, max_length=2048)
    classification: str = Field(min_length=1, max_length=32, description=(
        "illegal_international or illegal_national"))
    classification_country: str | None = Field(default=None, max_length=2)
    hosting_country: str | None = Field(default=None, max_length=2)
    classified_at: str | None = Field(default=None, max_length=64)


class InboundReferralOut(BaseModel):
    id: str = Field(description="this instance's id for the referral: poll it with GET "
                                "/v1/referrals/in/{id}")
    reference: str
    status: str = Field(description="received, assessed (confirmed; a notice to the host is "
                                    "out), removed, declined (not illegal here) or closed")
    received_at: datetime
    changed_at: datetime | None
    created: bool = Field(default=False, description="false: this referral was received before")


class StatusUpdateOut(BaseModel):
    id: str
    status: str
