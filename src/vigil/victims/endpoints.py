"""Public routes of victim-led removal: no account; the case number and PIN are the only key.
Case creation and case access are limited per address; wrong PINs lock a case."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vigil.db import transaction
from vigil.deps import client_address
from vigil.errors import ERROR_RESPONSES, NotAuthenticated
from vigil.victims import service
from vigil.victims.schemas import CaseCreatedOut, CaseStatusOut, CaseWithdrawnOut, HashesAddedOut

router = APIRouter(prefix="/v1/public/victim-cases", responses=ERROR_RESPONSES)

#: What an action on an opened case returns.
T = TypeVar("T")


class HashItem(BaseModel):
    kind: str = Field(pattern="^(image|video)$")
    md5: str = Field(min_length=32, max_length=32)
    sha256: str | None = Field(default=None, min_length=64, max_length=64)
    pdq: str | None = Field(default=None, min_length=64, max_length=64)
    quality: int | None = Field(default=None, ge=0, le=100)


class CaseIn(BaseModel):
    hashes: list[HashItem] = Field(min_length=1, max_length=service.MAX_HASHES)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    age_group: str | None = Field(default=None, pattern="^(child|adult)$")


class CaseKey(BaseModel):
    case_number: str = Field(min_length=1, max_length=32)
    pin: str = Field(min_length=1, max_length=32)


class AddIn(CaseKey):
    hashes: list[HashItem] = Field(min_length=1, max_length=service.MAX_HASHES)


def _items(items: list[HashItem]) -> list[service.CaseHashIn]:
    return [service.CaseHashIn(h.kind, h.md5, h.sha256, h.pdq, h.quality) for h in items]


def _open(request: Request, body: CaseKey, action: Callable[[Session, Any], T]) -> T:
    """Open the case in one transaction and act on it; a wrong PIN is counted even though the
    request fails."""
    state = request.app.state.vigil
    state.case_access.check(client_address(request), "case look-ups")
    failure: NotAuthenticated | None = None
    with transaction(state.session) as s:
        try:
            case = service.open_case(s, body.case_number, body.pin)
        except NotAuthenticated as exc:
            failure = exc  # commit the failure count, then answer
        else:
            return action(s, case)
    raise failure


@router.post("", response_model=CaseCreatedOut, status_code=201)
def create(body: CaseIn, request: Request) -> CaseCreatedOut:
    """Open a case with hashes made on the person's own device. The PIN is shown only here."""
    state = request.app.state.vigil
    state.case_creation.check(client_address(request), "new cases")
    with transaction(state.session) as s:
        case, pin = service.create_case(s, _items(body.hashes), body.country, body.age_group)
        number = case.case_number
    state.matcher.sync(state.read_session)
    return CaseCreatedOut(case_number=number, pin=pin,
                          note="Keep the case number and PIN safe: the PIN cannot be shown again.")


@router.post("/status", response_model=CaseStatusOut)
def case_status(body: CaseKey, request: Request) -> CaseStatusOut:
    return _open(request, body, lambda s, case: CaseStatusOut.model_validate(service.status(s, case)))


@router.post("/hashes", response_model=HashesAddedOut)
def add(body: AddIn, request: Request) -> HashesAddedOut:
    state = request.app.state.vigil
    result = _open(request, body, lambda s, case: HashesAddedOut(
        added=service.add_hashes(s, case, _items(body.hashes))))
    state.matcher.sync(state.read_session)
    return result


@router.post("/withdraw", response_model=CaseWithdrawnOut)
def withdraw(body: CaseKey, request: Request) -> CaseWithdrawnOut:
    state = request.app.state.vigil
    result = _open(request, body, lambda s, case: CaseWithdrawnOut(
        withdrawn=True, retracted=service.withdraw(s, case)))
    state.matcher.sync(state.read_session)
    return result
