"""What the audit API answers: events of the trail, a page at a time, and the check of its
sealed part."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEventOut(BaseModel):
    """Who did what, when (never hashes or secrets)."""

    id: int
    at: datetime
    action: str = Field(description="subject:action, e.g. report:read")
    organisation: int | None
    key: int | None = Field(description="the API key that acted, if any")
    subject: str | None
    details: dict[str, Any]


class AuditEventsOut(BaseModel):
    events: list[AuditEventOut]
    next_after_id: int | None = Field(description="pass as after_id for the next page; null: "
                                                  "this was the last")


class AuditVerificationOut(BaseModel):
    intact: bool
    problems: list[str]
