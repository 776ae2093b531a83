"""The law-enforcement inbox: only the reports routed to the officer's own authority (or to
Europol), decided by :func:`vigil.orgs.access.visible_reports` through the inbox service.
Acknowledge, ask the provider for information, give feedback, ask to delay the user's
notification; every read and download is audited."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy import select

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.db import transaction
from vigil.deps import DbId
from vigil.errors import DomainError, NotFound
from vigil.orgs.access import Scope, visible_reports
from vigil.reports import inbox, review, service
from vigil.reports.models import RelatedReport, Report, ReportFile
from vigil.web.accounts import SignedIn
from vigil.web.i18n import translate
from vigil.web.render import PREFIX, SECURITY_HEADERS, check_csrf, language, page, redirect, render

router = APIRouter(prefix=f"{PREFIX}/inbox", include_in_schema=False)
ReportId = Annotated[str, Path(min_length=1, max_length=36)]
Officer = Annotated[SignedIn, page(Scope.REPORTS_RECEIVE)]


@router.get("")
def inbox_page(request: Request, signed: Officer) -> Response:
    with transaction(request.app.state.vigil.session) as s:
        rows = inbox.inbox(s, signed.principal, limit=500)
        record(s, signed.principal, AuditAction.REPORT_READ, details={"listed": len(rows)})
    return render(request, "inbox.html", {"rows": rows})


@router.get("/{report_id}")
def inbox_report(report_id: ReportId, request: Request, signed: Officer) -> Response:
    with transaction(request.app.state.vigil.session) as s:
        report = service.get_visible(s, signed.principal, report_id)
        routing = inbox.routing_of(s, signed.principal, report)
        files = list(s.scalars(select(ReportFile).where(ReportFile.report_id == report.id)
                               .order_by(ReportFile.id)))
        related = s.execute(
            select(Report.public_id, RelatedReport.reason)
            .join(RelatedReport, RelatedReport.related_id == Report.id)
            .where(RelatedReport.report_id == report.id, visible_reports(signed.principal))).all()
        questions = review.questions(s, signed.principal, report_id)
        record(s, signed.principal, AuditAction.REPORT_READ, subject=report.public_id)
    details = json.loads(report.details) if report.details else None
    return render(request, "inbox_report.html", {
        "report": report, "routing": routing, "files": files, "related": related,
        "questions": questions, "details": details, "max_delay": inbox.MAX_DELAY_DAYS})


@router.get("/{report_id}/files/{file_id}")
def download(report_id: ReportId, file_id: DbId, request: Request, signed: Officer) -> Response:
    state = request.app.state.vigil
    with transaction(state.session) as s:
        report = service.get_visible(s, signed.principal, report_id)
        inbox.routing_of(s, signed.principal, report)  # only reports routed to the caller
        f = s.get(ReportFile, file_id)
        if f is None or f.report_id != report.id or f.storage_key is None or f.nonce is None:
            raise NotFound("no such file (or deleted at the end of its retention period)")
        data = state.file_store.get(f.storage_key, f.nonce, service.aad(report.public_id, f.id))
        record(s, signed.principal, AuditAction.REPORT_FILE_DOWNLOADED, subject=report.public_id,
               details={"file": f.id})
    return Response(data, media_type="application/octet-stream",
                    headers={**SECURITY_HEADERS, "Content-Disposition": "attachment"})


def _done(request: Request, signed: SignedIn, report_id: str, key: str) -> Response:
    return redirect(f"{PREFIX}/inbox/{report_id}",
                    flash=("ok", translate(language(request, signed), key)))


@router.post("/{report_id}/acknowledge")
def acknowledge(report_id: ReportId, request: Request, signed: Officer,
                csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    with transaction(request.app.state.vigil.session) as s:
        inbox.acknowledge(s, signed.principal, report_id)
    return _done(request, signed, report_id, "inbox.ack_done")


@router.post("/{report_id}/question")
def ask(report_id: ReportId, request: Request, signed: Officer,
        question: Annotated[str, Form(max_length=4000)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    try:
        with transaction(request.app.state.vigil.session) as s:
            report = service.get_visible(s, signed.principal, report_id)
            review.ask(s, signed.principal, report, question)
    except DomainError as exc:
        if exc.status == 404:
            raise
        return redirect(f"{PREFIX}/inbox/{report_id}", flash=("error", exc.message))
    return _done(request, signed, report_id, "inbox.question_done")


@router.post("/{report_id}/feedback")
def feedback(report_id: ReportId, request: Request, signed: Officer,
             outcome: Annotated[str, Form(max_length=4000)] = "",
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
    return _done(request, signed, report_id, "inbox.feedback_done")
