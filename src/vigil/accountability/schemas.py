"""What the accountability API answers: match feedback, reinstated indicators, reviewers'
alerts and complaints about wrongful removal."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, RootModel


class MatchFeedbackOut(BaseModel):
    id: int
    indicator_id: int
    verdict: str
    quarantined: bool = Field(description="this verdict quarantined the indicator: it no "
                                          "longer matches until a reviewer reinstates it")


class ReinstatedOut(BaseModel):
    id: int
    status: str


class AlertOut(BaseModel):
    """Something a reviewer should look at (a quarantine, a flood of hits)."""

    id: int
    at: datetime
    kind: str
    indicator_id: int | None
    message: str
    acknowledged_at: datetime | None


class AlertAcknowledgedOut(BaseModel):
    id: int
    acknowledged_at: datetime | None


class ComplaintFiledOut(BaseModel):
    id: str
    token: str = Field(description="Shown once, here: with the id, the key to the complaint's "
                                   "status.")
    status: str


class ComplaintStatusOut(BaseModel):
    """What the complainant may know: the complaint's status, nothing else."""

    id: str
    status: str
    decided_at: datetime | None


class ComplaintOut(BaseModel):
    id: str
    via: str = Field(description="direct (from the user) or provider (passed on by a service)")
    provider: str | None
    reference: str | None
    statement: str
    indicator_ids: list[int]
    status: str
    created_at: datetime
    decided_at: datetime | None


class ComplaintCountsOut(RootModel[dict[str, int]]):
    """Complaints by status (a status with none is left out)."""
