"""What the victims' public API answers: the new case's number and PIN (once), and what
happened about the case's hashes (:func:`vigil.victims.service.status`, field for field)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CaseCreatedOut(BaseModel):
    case_number: str
    pin: str = Field(description="Shown once, here; never again.")
    note: str


class ProviderFiguresOut(BaseModel):
    """Reports from one service that matched the case's hashes."""

    provider: str
    reports: int
    forwarded: int
    waiting_for_review: int


class CaseStatusOut(BaseModel):
    """What happened about this case only: matches, notices sent, removals."""

    case_number: str
    created_at: datetime
    withdrawn: bool
    #: Hashes in distribution (each picture gives up to three: MD5, SHA-256, PDQ).
    hashes: int
    #: Pictures and videos in the case (what the person chose), counted once each.
    pictures: int
    matches_found: int
    waiting_for_review: int
    notices_sent: int
    urls_found: int
    removed: int
    providers: list[ProviderFiguresOut]


class HashesAddedOut(BaseModel):
    added: int


class CaseWithdrawnOut(BaseModel):
    withdrawn: bool
    retracted: int = Field(description="indicators that left distribution (a hash another case "
                                       "also holds stays)")
