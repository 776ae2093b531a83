"""The victim's pages: hash on this device and open a case (``/help/remove``), and follow or
withdraw it with the case number and PIN (``/help/case``). No account; no image ever sent."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from vigil.db import transaction
from vigil.deps import client_address
from vigil.errors import DomainError, NotAuthenticated
from vigil.victims import helplines, service
from vigil.victims.helplines import lines_for
from vigil.web.channel import channel_context
from vigil.web.render import check_origin, csrf_message, render, tr_for

router = APIRouter(prefix="/help", include_in_schema=False)
CSRF_COOKIE = "vigil_case_csrf"


@router.post("/remove")
def remove_page_privately(request: Request, age: Annotated[str, Form()] = "adult") -> Response:
    """Public: :func:`remove_page` for the pages' own forms (the reporting channel's link, the
    age tabs): the age travels in the body, so the address the browser keeps says nothing."""
    return _remove(request, age, None)


@router.get("/remove")
def remove_page(request: Request, age: str = "adult", country: str | None = None) -> Response:
    return _remove(request, age, country)


def _remove(request: Request, age: str, country: str | None) -> Response:
    age = age if age in ("child", "adult") else "adult"
    return render(request, "victim_remove.html", {
        **channel_context(request), "post_state": {"age": age},
        "age": age, "country": (country or "")[:2].upper(), "lines": lines_for(country, age),
        "countries": helplines.countries()})


def _case_form(request: Request, context: dict[str, Any], status: int = 200) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "victim_case.html", {"form_token": token, **context}, status=status)
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/help")
    return response


@router.get("/case")
def case_page(request: Request) -> Response:
    return _case_form(request, {})


def _checked(request: Request, csrf: str) -> None:
    check_origin(request)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        raise NotAuthenticated(csrf_message(tr_for(request)))


@router.post("/case")
def case_status(request: Request, case_number: Annotated[str, Form(max_length=32)] = "",
                pin: Annotated[str, Form(max_length=32)] = "",
                csrf: Annotated[str, Form(max_length=200)] = "",
                withdraw: Annotated[str, Form(max_length=8)] = "") -> Response:

    state = request.app.state.vigil
    try:
        _checked(request, csrf)
        state.case_access.check(client_address(request), "case look-ups")
        failure = None
        with transaction(state.session) as s:
            try:
                case = service.open_case(s, case_number, pin)
            except NotAuthenticated as exc:
                failure = exc
            else:
                if withdraw:
                    service.withdraw(s, case)
                info = service.status(s, case)
                lines = lines_for(case.country, case.age_group or "adult")
        if failure is not None:
            raise failure
    except DomainError as exc:
        return _case_form(request, {"error": exc.message}, status=exc.status)
    if withdraw:
        state.matcher.sync(state.read_session)
    return _case_form(request, {"info": info, "lines": lines})
