from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ListIn(BaseModel):
    name: str = Field(max_length=64)
    kind: str = "block"
    pdq_threshold: int = 31
    description: str = ""


class ListUpdate(BaseModel):
    pdq_threshold: int


class ListOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    kind: str
    pdq_threshold: int
    description: str


class ProposalIn(BaseModel):
    signal_type: str = Field(max_length=16)
    value: str = Field(max_length=4_000_000)
    list: str = Field(max_length=64)
    legal_basis: str = Field(max_length=200)
    label: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=200)


class ProposeIn(BaseModel):
    items: list[ProposalIn] = Field(min_length=1, max_length=1000)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class IndicatorOut(BaseModel):
    id: int
    list: str
    signal_type: str
    value: str
    status: str
    label: str | None
    legal_basis: str
    source: str | None
    proposed_by_org: int
    proposer: str
    proposed_at: datetime
    decided_by_org: int | None
    decided_at: datetime | None
    retracted_at: datetime | None
    retract_reason: str | None
    salt: str
    commitment: str


class MatchItem(BaseModel):
    signal_type: str
    value: Any


class MatchIn(BaseModel):
    items: list[MatchItem]


class HitOut(BaseModel):
    indicator_id: int
    list: str
    signal_type: str
    distance: int | None
    label: str | None


class MatchResult(BaseModel):
    index: int
    matches: list[HitOut]
    suppressed_by_allow_list: bool = False


class MatchOut(BaseModel):
    results: list[MatchResult]
