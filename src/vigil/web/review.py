"""The review queue and a report's review page, built for the reviewers' wellbeing: small
previews, blurred and greyscale until revealed one at a time, a session timer with break
reminders, keyboard shortcuts, and a decision that always carries a reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from vigil.db import transaction
from vigil.deps import DbId
from vigil.errors import DomainError, NotFound
from vigil.indicators.service import all_lists
from vigil.matching.policy import Trust
from vigil.orgs.access import Scope
from vigil.orgs.accounts import SignedIn
from vigil.reports import repository, review
from vigil.web.previews import preview
from vigil.web.render import PREFIX, SECURITY_HEADERS, FormText, check_csrf, page, redirect, render, tr_for

router = APIRouter(prefix=f"{PREFIX}/review", include_in_schema=False)
ReportId = Annotated[str, Path(min_length=1, max_length=36)]
Reviewer = Annotated[SignedIn, page(Scope.REPORTS_REVIEW)]


@router.get("")
def queue_page(request: Request, signed: Reviewer) -> Response:
    with request.app.state.vigil.read_session() as s:
        reports = review.queue(s, signed.principal, limit=500)
        files = repository.file_counts(s, [r.id for r in reports])
    return render(request, "review_queue.html", {"reports": reports, "files": files})


@router.get("/{report_id}")
def report_page(report_id: ReportId, request: Request, signed: Reviewer) -> Response:
    state = request.app.state.vigil
    with transaction(state.session) as s:
        seen = review.open_report(s, signed.principal, report_id)
        lists = [hl.name for hl in all_lists(s) if hl.trust == Trust.VERIFIED]
        queue = [r.public_id for r in review.queue(s, signed.principal, limit=500)]
    position = queue.index(report_id) if report_id in queue else None
    return render(request, "review_item.html", {
        "report": seen.report, "files": seen.files, "hashes": seen.hashes,
        "questions": seen.questions, "lists": lists, "decisions": review.DECISIONS,
        "position": position, "queue_size": len(queue),
        "incident": seen.details.get("incident_type"),
        "break_minutes": state.settings.review_break_minutes,
        "preview_edge": state.settings.preview_max_pixels,
        "reviewable": review.reviewable(seen.report)})


@router.get("/{report_id}/files/{file_id}/preview")
async def file_preview(report_id: ReportId, file_id: DbId, request: Request,
                       signed: Reviewer) -> Response:
    """A reduced JPEG of one file (never the original); every preview shown is audited."""
    state = request.app.state.vigil

    def load() -> bytes | None:
        with transaction(state.session) as s:
            data = review.preview_source(s, signed.principal, report_id, file_id,
                                         state.file_store)
        return None if data is None else preview(data, state.settings.preview_max_pixels)

    image = await run_in_threadpool(load)
    if image is None:
        raise NotFound("no preview for this file")
    return Response(image, media_type="image/jpeg",
                    headers={**SECURITY_HEADERS, "Cache-Control": "no-store, private"})


@router.post("/{report_id}/decision")
def decide(report_id: ReportId, request: Request, signed: Reviewer,
           decision: Annotated[str, Form(max_length=32)],
           reason: FormText = "",
           list_name: Annotated[str, Form(alias="list", max_length=64)] = "known-material",
           label: Annotated[str, Form(max_length=64)] = "",
           csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    state = request.app.state.vigil
    tr = tr_for(request, signed)
    try:
        with transaction(state.session) as s:
            review.decide(s, signed.principal, report_id, decision, reason, list_name,
                          label.strip() or None)
            upcoming = [r.public_id for r in review.queue(s, signed.principal, limit=2)
                        if r.public_id != report_id]
    except DomainError as exc:
        return redirect(f"{PREFIX}/review/{report_id}", flash=("error", exc.message))
    text = tr.gettext("Decision recorded for report %(id)s: %(decision)s.", id=report_id[:8],
                      decision=tr.label("decision", decision))
    target = f"{PREFIX}/review/{upcoming[0]}" if upcoming else f"{PREFIX}/review"
    return redirect(target, flash=("ok", text))
