from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from vigil.orgs import accounts, second_factor

if TYPE_CHECKING:
    from vigil.orgs.models import ApiKey, Organisation, StaffAccount


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
        "false for a new organisation that may review indicators or approve others (partner "
        "centre, auditor, a second centre) until a second party — an approved partner centre "
        "or auditor — approves it: POST /v1/orgs/{id}/approve"))

    @classmethod
    def of(cls, org: Organisation) -> OrgOut:
        return cls(id=org.id, name=org.name, kind=org.kind, member_state=org.member_state,
                   approved=org.approved_at is not None)


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
    approved: bool = Field(default=True, description=(
        "false for a key that the Centre issued to another organisation with a scope that "
        "needs a second party's word (indicators:review, orgs:approve, indicators:propose, "
        "series:link): it works without those scopes until a second party confirms it "
        "(POST /v1/keys/{id}/approve; for an organisation whose kind needs approval, "
        "approving the organisation confirms its keys too)"))

    @classmethod
    def of(cls, key: ApiKey, token: str | None = None) -> KeyOut:
        return cls(id=key.id, organisation_id=key.organisation_id, holder=key.holder,
                   scopes=key.scopes.split(), token=token, revoked=key.revoked_at is not None,
                   approved=key.approved_at is not None)


class AccountOut(BaseModel):
    id: int
    username: str
    role: str
    organisation_id: int
    scopes: list[str]
    password: str | None = Field(default=None, description="Generated, shown once; never again.")
    disabled: bool = False
    second_factor: str = Field(default="none", description=(
        "'enrolled' (an authenticator is set up), 'required' (the role needs one: it is set "
        "up at the next sign-in) or 'none'"))

    @classmethod
    def of(cls, account: StaffAccount, password: str | None = None) -> AccountOut:
        return cls(id=account.id, username=account.username, role=account.role,
                   organisation_id=account.api_key.organisation_id,
                   scopes=sorted(s.value for s in accounts.principal_of(account).scopes),
                   password=password, disabled=account.disabled_at is not None,
                   second_factor=("enrolled" if second_factor.enrolled(account) else
                                  "required" if second_factor.requires_second_factor(account)
                                  else "none"))
