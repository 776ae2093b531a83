"""The public complaint page (``/help/complaint``): a person whose upload a service removed
asks for it to be looked at again, and later follows the outcome with the complaint's number
and token. No account; the same service functions as ``POST /v1/public/complaints`` and
``…/status``, limited per address like them."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from vigil.accountability import complaints
from vigil.db import transaction
from vigil.deps import client_address
from vigil.errors import DomainError
from vigil.web.render import FormText, check_origin, csrf_message, render, tr_for

router = APIRouter(prefix="/help", include_in_schema=False)
CSRF_COOKIE = "vigil_complaint_csrf"


def _page(request: Request, context: dict[str, Any], status: int = 200) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "complaint.html", {"form_token": token, **context}, status=status)
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/help")
    return response


def _forged(request: Request, csrf: str) -> bool:
    check_origin(request)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return not cookie or not hmac.compare_digest(cookie.encode(), csrf.encode())


@router.get("/complaint")
def complaint_page(request: Request) -> Response:
    return _page(request, {})


@router.post("/complaint")
def file_complaint(request: Request, provider: Annotated[str, Form(max_length=200)] = "",
                   reference: Annotated[str, Form(max_length=200)] = "",
                   statement: FormText = "",
                   csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    if _forged(request, csrf):
        return _page(request, {"error": csrf_message(tr_for(request))}, status=403)
    state = request.app.state.vigil
    state.public_reports.check(client_address(request), "public submissions")
    try:
        with transaction(state.session) as s:
            c, token = complaints.file(s, statement=statement, via="direct",
                                       provider_name=provider.strip() or None,
                                       reference=reference.strip() or None)
            filed = {"id": c.public_id, "token": token}
    except DomainError as exc:
        return _page(request, {"error": exc.message, "provider": provider, "reference": reference,
                               "statement": statement}, status=exc.status)
    return _page(request, {"filed": filed})


@router.post("/complaint/status")
def complaint_status(request: Request, complaint_id: Annotated[str, Form(max_length=64)] = "",
                     token: Annotated[str, Form(max_length=200)] = "",
                     csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    if _forged(request, csrf):
        return _page(request, {"error": csrf_message(tr_for(request))}, status=403)
    state = request.app.state.vigil
    state.case_access.check(client_address(request), "look-ups")
    try:
        with state.read_session() as s:
            c = complaints.status_for_complainant(s, complaint_id.strip(), token.strip())
            found = {"status": c.status, "decided_at": c.decided_at}
    except DomainError as exc:
        return _page(request, {"status_error": exc.message}, status=exc.status)
    return _page(request, {"found": found})
