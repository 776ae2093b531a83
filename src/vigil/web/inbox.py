"""The law-enforcement inbox: only the reports routed to the officer's own authority (or to
Europol). Every page calls the same functions of :mod:`vigil.reports.inbox` as the API: open a
report, download a file, acknowledge, ask the provider for information, give feedback, ask to
delay the user's notification — the routing is checked there, once, and every read and
download is audited there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from vigil.db import transaction
from vigil.deps import DbId
from vigil.errors import DomainError
from vigil.orgs.access import Scope
from vigil.orgs.accounts import SignedIn
from vigil.reports import inbox
from vigil.reports.downloads import attachment, download_name
from vigil.web.render import PREFIX, SECURITY_HEADERS, FormText, check_csrf, page, redirect, render, tr_for

router = APIRouter(prefix=f"{PREFIX}/inbox", include_in_schema=False)
ReportId = Annotated[str, Path(min_length=1, max_length=36)]
Officer = Annotated[SignedIn, page(Scope.REPORTS_RECEIVE)]


@router.get("")
def inbox_page(request: Request, signed: Officer) -> Response:
    with transaction(request.app.state.vigil.session) as s:
        rows = inbox.inbox(s, signed.principal, limit=500)
    return render(request, "inbox.html", {"rows": rows})


@router.get("/{report_id}")
def inbox_report(report_id: ReportId, request: Request, signed: Officer) -> Response:
    with transaction(request.app.state.vigil.session) as s:
        routed = inbox.open_report(s, signed.principal, report_id)
    return render(request, "inbox_report.html", {
        "report": routed.report, "routing": routed.routing, "files": routed.files,
        "related": routed.related, "questions": routed.questions, "details": routed.details,
        "max_delay": inbox.MAX_DELAY_DAYS})


@router.get("/{report_id}/files/{file_id}")
def download(report_id: ReportId, file_id: DbId, request: Request, signed: Officer) -> Response:
    state = request.app.state.vigil
    with transaction(state.session) as s:
        f, data = inbox.open_file(s, signed.principal, report_id, file_id, state.file_store)
        name = download_name(report_id, f.id, f.filename, data)
    return Response(data, media_type="application/octet-stream",
                    headers={**SECURITY_HEADERS, "Content-Disposition": attachment(name)})


def _done(request: Request, signed: SignedIn, report_id: str, text: str) -> Response:
    return redirect(f"{PREFIX}/inbox/{report_id}", flash=("ok", text))


@router.post("/{report_id}/acknowledge")
def acknowledge(report_id: ReportId, request: Request, signed: Officer,
                csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    with transaction(request.app.state.vigil.session) as s:
        inbox.acknowledge(s, signed.principal, report_id)
    return _done(request, signed, report_id,
                 tr_for(request, signed).gettext("Receipt acknowledged."))


@router.post("/{report_id}/question")
def ask(report_id: ReportId, request: Request, signed: Officer,
        question: FormText = "",
        csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    try:
        with transaction(request.app.state.vigil.session) as s:
            inbox.ask(s, signed.principal, report_id, question)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return redirect(f"{PREFIX}/inbox/{report_id}", flash=("error", exc.message))
    return _done(request, signed, report_id,
                 tr_for(request, signed).gettext("Question sent to the provider."))


@router.post("/{report_id}/feedback")
def feedback(report_id: ReportId, request: Request, signed: Officer,
             outcome: FormText = "",
             delay_days: Annotated[str, Form(max_length=8)] = "",
             csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    try:
        days = int(delay_days) if delay_days.strip() else None
    except ValueError:
        return redirect(f"{PREFIX}/inbox/{report_id}",
                        flash=("error", f"the delay must be a number of days, got {delay_days!r}"))
    try:
        with transaction(request.app.state.vigil.session) as s:
            inbox.give_feedback(s, signed.principal, report_id, outcome, days)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return redirect(f"{PREFIX}/inbox/{report_id}", flash=("error", exc.message))
    return _done(request, signed, report_id, tr_for(request, signed).gettext("Feedback saved."))
