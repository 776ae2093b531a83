"""The public landing page at ``/``: what this service is and where the public goes — report a
URL, ask for pictures of oneself to be removed, follow a case, complain about a removal — with a
small link for staff to sign in. Nobody is sent to a sign-in form they have no account for."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vigil.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def landing(request: Request) -> Response:
    return render(request, "home.html")
