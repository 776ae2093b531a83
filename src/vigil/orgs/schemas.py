from __future__ import annotations

from pydantic import BaseModel, Field


class OrgIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str
    member_state: str | None = None


class OrgOut(BaseModel):
    id: int
    name: str
    kind: str
    member_state: str | None
    approved: bool = Field(default=True, description=(
        "false for a new organisation that may review indicators until a second party (an "
        "approved partner centre, or an auditor) approves it: POST /v1/orgs/{id}/approve"))


class KeyIn(BaseModel):
    holder: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)


class KeyOut(BaseModel):
    id: int
    organisation_id: int
    holder: str
    scopes: list[str]
    token: str | None = Field(default=None, description="Shown once, at issue; never again.")
    revoked: bool = False
