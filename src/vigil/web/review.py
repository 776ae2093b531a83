"""The review queue and a report's review page, built for the reviewers' wellbeing: small
previews, blurred and greyscale until revealed one at a time, a session timer with break
reminders, keyboard shortcuts, and a decision that always carries a reason."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import func, select

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.db import transaction
from vigil.deps import DbId
from vigil.errors import DomainError, NotFound
from vigil.indicators.service import all_lists
from vigil.orgs.access import Scope
from vigil.reports import review, service
from vigil.reports.models import ReportFile, ReportHash
from vigil.web.accounts import SignedIn
from vigil.web.i18n import translate
from vigil.web.previews import preview
from vigil.web.render import PREFIX, SECURITY_HEADERS, check_csrf, language, page, redirect, render

router = APIRouter(prefix=f"{PREFIX}/review", include_in_schema=False)
ReportId = Annotated[str, Path(min_length=1, max_length=36)]
Reviewer = Annotated[SignedIn, page(Scope.REPORTS_REVIEW)]


@router.get("")
def queue_page(request: Request, signed: Reviewer) -> Response:
    with request.app.state.vigil.read_session() as s:
        reports = review.queue(s, signed.principal, limit=500)
        files = dict(s.execute(select(ReportFile.report_id, func.count())
                               .where(ReportFile.report_id.in_([r.id for r in reports]))
                               .group_by(ReportFile.report_id)).all())
    return render(request, "review_queue.html", {"reports": reports, "files": files})


@router.get("/{report_id}")
def report_page(report_id: ReportId, request: Request, signed: Reviewer) -> Response:
    state = request.app.state.vigil
    with transaction(state.session) as s:
        report = service.get_visible(s, signed.principal, report_id)
        files = list(s.scalars(select(ReportFile).where(ReportFile.report_id == report.id)
                               .order_by(ReportFile.id)))
        hashes = list(s.scalars(select(ReportHash).where(ReportHash.report_id == report.id)
                                .order_by(ReportHash.id)))
        questions = review.questions(s, signed.principal, report_id)
        lists = [hl.name for hl in all_lists(s) if hl.kind == "block"]
        queue = [r.public_id for r in review.queue(s, signed.principal, limit=500)]
        record(s, signed.principal, AuditAction.REPORT_READ, subject=report.public_id)
        details = json.loads(report.details) if report.details else {}
    position = queue.index(report_id) if report_id in queue else None
    return render(request, "review_item.html", {
        "report": report, "files": files, "hashes": hashes, "questions": questions,
        "lists": lists, "decisions": review.DECISIONS, "position": position,
        "queue_size": len(queue), "incident": details.get("incident_type"),
        "break_minutes": state.settings.review_break_minutes,
        "preview_edge": state.settings.preview_max_pixels,
        "reviewable": report.assessment in review.REVIEW_ASSESSMENTS
        and report.review_decision in (None, "needs_information")})


@router.get("/{report_id}/files/{file_id}/preview")
async def file_preview(report_id: ReportId, file_id: DbId, request: Request,
                       signed: Reviewer) -> Response:
    """A reduced JPEG of one file (never the original); every preview shown is audited."""
    state = request.app.state.vigil

    def load() -> bytes | None:
        with transaction(state.session) as s:
            report = service.get_visible(s, signed.principal, report_id)
            f = s.get(ReportFile, file_id)
            if f is None or f.report_id != report.id:
                raise NotFound("no such file")
            record(s, signed.principal, AuditAction.REPORT_FILE_PREVIEWED,
                   subject=report.public_id, details={"file": f.id})
            if f.storage_key is None or f.nonce is None:
                return None
            data = state.file_store.get(f.storage_key, f.nonce, service.aad(report.public_id, f.id))
        return preview(data, state.settings.preview_max_pixels)

    image = await run_in_threadpool(load)
    if image is None:
        raise NotFound("no preview for this file")
    return Response(image, media_type="image/jpeg",
                    headers={**SECURITY_HEADERS, "Cache-Control": "no-store, private"})


@router.post("/{report_id}/decision")
def decide(report_id: ReportId, request: Request, signed: Reviewer,
           decision: Annotated[str, Form(max_length=32)],
           reason: Annotated[str, Form(max_length=4000)] = "",
           list_name: Annotated[str, Form(alias="list", max_length=64)] = "known-material",
           label: Annotated[str, Form(max_length=64)] = "",
           csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    state = request.app.state.vigil
    lang = language(request, signed)
    try:
        with transaction(state.session) as s:
            review.decide(s, signed.principal, report_id, decision, reason, list_name,
                          label.strip() or None)
            upcoming = [r.public_id for r in review.queue(s, signed.principal, limit=2)
                        if r.public_id != report_id]
    except DomainError as exc:
        return redirect(f"{PREFIX}/review/{report_id}", flash=("error", exc.message))
    text = translate(lang, "review.decided", id=report_id[:8],
                     decision=translate(lang, f"decision.{decision}"))
    target = f"{PREFIX}/review/{upcoming[0]}" if upcoming else f"{PREFIX}/review"
    return redirect(target, flash=("ok", text))
