"""The workspace page of the prevention hub's proposals (``/app/prevention``): practitioners
follow their organisation's proposals and the Centre's answer; the Centre's editors publish or
reject them (with a reason the practitioner reads). The same service functions as the API
(``vigil.prevention.endpoints``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from vigil.db import transaction
from vigil.errors import DomainError
from vigil.orgs.access import Scope
from vigil.orgs.accounts import SignedIn
from vigil.prevention import repository, service
from vigil.web.render import PREFIX, check_csrf, page, redirect, render, tr_for

router = APIRouter(include_in_schema=False)
Practitioner = Annotated[SignedIn, page(Scope.PREVENTION_PROPOSE)]
Editor = Annotated[SignedIn, page(Scope.PREVENTION_REVIEW)]


@router.get(f"{PREFIX}/prevention")
def proposals_page(request: Request, signed: Practitioner) -> Response:
    with request.app.state.vigil.read_session() as s:
        rows = [service.proposal_out(s, p) for p in repository.proposals(s, signed.principal)]
    return render(request, "proposals.html", {
        "proposals": rows, "editor": Scope.PREVENTION_REVIEW in signed.principal.scopes})


@router.post(f"{PREFIX}/prevention/{{proposal_id}}/decision")
def decide(request: Request, signed: Editor, proposal_id: Annotated[str, Path(max_length=36)],
           decision: Annotated[str, Form(max_length=8)] = "",
           reason: Annotated[str, Form(max_length=2000)] = "",
           csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    tr = tr_for(request, signed)
    try:
        with transaction(request.app.state.vigil.session) as s:
            p, row = service.decide(s, signed.principal, proposal_id, decision, reason)
            title = service.proposal_out(s, p).entry.title
    except DomainError as exc:
        if exc.status == 404:
            raise
        return redirect(f"{PREFIX}/prevention", flash=("error", exc.message))
    text = (tr.gettext("“%(title)s” is published.", title=title) if row is not None
            else tr.gettext("“%(title)s” is rejected; the practitioner reads your reason.",
                            title=title))
    return redirect(f"{PREFIX}/prevention", flash=("ok", text))
