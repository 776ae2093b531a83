"""HTTP routes for providers (``/v1/reports``) and authorities (``/v1/authority/reports``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from vigil.deps import DbId, ReportsReceiveKey, ReportsReviewKey, ReportsSubmitKey, unit_of_work
from vigil.errors import ERROR_RESPONSES, Invalid, TooLarge
from vigil.matching.content import hash_content
from vigil.reports import inbox, repository, review, service
from vigil.reports.downloads import attachment, download_name
from vigil.reports.lifecycle import ReportStatus
from vigil.reports.schemas import (
    AcknowledgementOut,
    AuthorityFileOut,
    AuthorityReportOut,
    FeedbackOut,
    FileAddedOut,
    FileMeta,
    QuestionOut,
    RelatedReportOut,
    ReportIn,
    ReportOut,
    ReviewDecisionOut,
    ReviewFileOut,
    ReviewHashOut,
    ReviewQueueItemOut,
    ReviewReportOut,
)
from vigil.reports.storage import FileStore

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

#: A file's original, for the API description (the body is the bytes, not JSON).
_ORIGINAL: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file's original bytes, with a Content-Disposition naming it (the "
                         "provider's name made safe, with the extension of the detected type).",
          "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


def _store(request: Request) -> FileStore:
    store: FileStore = request.app.state.vigil.file_store
    return store


@router.post("/reports", status_code=201, response_class=Response,
             responses={201: {"model": ReportOut, "description": "The report, filed."},
                        200: {"model": ReportOut, "description": "A retry with the same "
                              "Idempotency-Key: the report filed the first time."}})
def submit_report(body: ReportIn, request: Request, actor: ReportsSubmitKey,
                  idempotency_key: Annotated[str | None, Header()] = None) -> Response:
    """File a report. With an ``Idempotency-Key`` header a retry returns the first report
    (200) instead of creating another."""
    try:
        # The first try inserts at once: a repeated Idempotency-Key meets the unique
        # constraint and is answered below, with the look-up (one round trip less per report).
        with unit_of_work(request) as s:
            report, created = service.submit(s, actor, body, idempotency_key,
                                             look_up_first=False)
            # A new report has no files yet and the hashes it was sent with.
            out = (service.summary(s, report, files=0, hashes=len(body.hashes)) if created
                   else service.summary(s, report))
    except IntegrityError:
        # A repeat of an earlier Idempotency-Key, or the same key raced in on another
        # connection: return the report filed first.
        with unit_of_work(request) as s:
            report, created = service.submit(s, actor, body, idempotency_key)
            out = service.summary(s, report)
    # The intake hot path: the summary is built here, so it is serialised directly rather than
    # validated again against the response model (documented in the OpenAPI all the same).
    return Response(json.dumps(out, default=_iso), status_code=201 if created else 200,
                    media_type="application/json")


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot serialise {type(value).__name__}")


@router.post("/reports/multipart", response_model=ReportOut, status_code=201,
             responses={200: {"model": ReportOut, "description": "A retry with the same "
                              "Idempotency-Key: the report filed the first time."}})
async def submit_multipart(request: Request, response: Response, actor: ReportsSubmitKey,
                           report: Annotated[str, Form()],
                           files: Annotated[list[UploadFile], File()],
                           idempotency_key: Annotated[str | None, Header()] = None) -> Any:
    """A report and its files in one request (``report``: the JSON of ``POST /v1/reports``;
    ``files``: one part each). All or nothing; idempotent like ``POST /v1/reports``."""
    settings = request.app.state.vigil.settings
    try:
        body = ReportIn.model_validate_json(report)
    except ValidationError as exc:
        raise Invalid("the report is invalid", items=[
            {"location": ["report", *e["loc"]], "error": e["msg"]} for e in exc.errors()]) from None
    if len(files) > settings.max_files_per_report:
        raise TooLarge(f"a report holds at most {settings.max_files_per_report} files")
    blobs = []
    for f in files:
        data = await f.read(settings.max_file_bytes + 1)
        if len(data) > settings.max_file_bytes:
            raise TooLarge(f"file {f.filename!r} over the limit of {settings.max_file_bytes} bytes")
        blobs.append((f.filename or "upload", data))
    body = body.model_copy(update={"complete": False})

    def store_all() -> tuple[dict[str, Any], bool]:
        # Hashing first, outside the transaction (a video takes a while to decode); then the
        # database work and the encryption. All of it off the event loop.
        hashed = [hash_content(data) for _, data in blobs]
        with unit_of_work(request) as s:
            rep, created = service.submit(s, actor, body, idempotency_key)
            if created:
                for (name, data), content in zip(blobs, hashed, strict=True):
                    service.add_file(s, actor, rep.public_id, name, data, FileMeta(),
                                     _store(request), settings.max_file_bytes,
                                     settings.max_report_bytes, settings.max_files_per_report,
                                     content)
                service.finish(s, actor, rep.public_id)
            return service.summary(s, rep), created

    try:
        out, created = await run_in_threadpool(store_all)
    except IntegrityError:  # the same Idempotency-Key raced in: return the winner's report
        out, created = await run_in_threadpool(store_all)
    if not created:
        response.status_code = 200
    return out


@router.post("/reports/{report_id}/files", response_model=FileAddedOut, status_code=201)
async def add_file(report_id: str, request: Request, actor: ReportsSubmitKey,
                   file: Annotated[UploadFile, File()],
                   meta: Annotated[str, Form()] = "{}") -> FileAddedOut:
    settings = request.app.state.vigil.settings
    data = await file.read(settings.max_file_bytes + 1)
    if len(data) > settings.max_file_bytes:
        raise TooLarge(f"file over the limit of {settings.max_file_bytes} bytes")
    try:
        file_meta = FileMeta.model_validate_json(meta)
    except ValidationError as exc:
        raise Invalid("invalid file metadata", items=[
            {"location": list(e["loc"]), "error": e["msg"]} for e in exc.errors()]) from None

    def store_one() -> FileAddedOut:
        content = hash_content(data) if data else None  # outside the transaction
        with unit_of_work(request) as s:
            f = service.add_file(s, actor, report_id, file.filename or "upload", data, file_meta,
                                 _store(request), settings.max_file_bytes,
                                 settings.max_report_bytes, settings.max_files_per_report,
                                 content)
            return FileAddedOut(file_id=f.id, size=f.size, kind=f.kind, md5=f.md5, sha256=f.sha256,
                                pdq=f.pdq, pdq_quality=f.pdq_quality,
                                vpdq=content.vpdq if content else None, note=f.hash_error)

    return await run_in_threadpool(store_one)


@router.post("/reports/{report_id}/finish", response_model=ReportOut)
def finish(report_id: str, request: Request, actor: ReportsSubmitKey) -> Any:
    with unit_of_work(request) as s:
        return service.summary(s, service.finish(s, actor, report_id))


class RetractIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/reports/{report_id}/retract", response_model=ReportOut)
def retract(report_id: str, body: RetractIn, request: Request,
            actor: ReportsSubmitKey) -> Any:
    with unit_of_work(request) as s:
        return service.summary(s, service.retract(s, actor, report_id, body.reason))


@router.get("/reports", response_model=list[ReportOut])
def list_reports(request: Request, actor: ReportsSubmitKey,
                 status: ReportStatus | None = None, limit: int = Query(100, ge=1, le=1000)) -> Any:
    """The caller's own reports, newest first (a provider follows their status here);
    ``status`` one of the report statuses (422 for any other)."""
    with unit_of_work(request) as s:
        return [service.summary(s, r) for r in repository.own_reports(s, actor, status, limit)]


@router.get("/reports/{report_id}", response_model=ReportOut)
def get_report(report_id: str, request: Request, actor: ReportsSubmitKey) -> Any:
    with unit_of_work(request) as s:
        return service.summary(s, repository.get_own(s, actor, report_id))


# -- authorities and Europol ------------------------------------------------------------------

@router.get("/authority/reports", response_model=list[ReportOut])
def authority_reports(request: Request, actor: ReportsReceiveKey,
                      limit: int = Query(100, ge=1, le=1000)) -> list[ReportOut]:
    """Reports routed to the caller's member state (or to Europol), most urgent first."""
    with unit_of_work(request) as s:
        return [ReportOut.model_validate(service.summary(s, r)) for r, _ in inbox.inbox(s, actor, limit)]


@router.get("/authority/reports/{report_id}", response_model=AuthorityReportOut)
def authority_report(report_id: str, request: Request, actor: ReportsReceiveKey) -> AuthorityReportOut:
    with unit_of_work(request) as s:
        routed = inbox.open_report(s, actor, report_id)
        report = routed.report
        return AuthorityReportOut.model_validate({
            **service.summary(s, report), "incident_at": report.incident_at,
            "concerns": report.concerns, "urgent": report.urgent,
            "urgent_reason": report.urgent_reason, "legal_basis": report.legal_basis,
            "declared_country": report.declared_country,
            "content_removed": report.content_removed, "incident_type": report.incident_type,
            "details": routed.details,
            "related": [RelatedReportOut(id=pid, reason=reason) for pid, reason in routed.related],
            "files": [AuthorityFileOut(id=f.id, filename=f.filename, size=f.size, kind=f.kind,
                                       md5=f.md5, sha256=f.sha256, pdq=f.pdq,
                                       industry_classification=f.industry_classification,
                                       available=f.storage_key is not None)
                      for f in routed.files]})


@router.get("/authority/reports/{report_id}/files/{file_id}", response_class=Response,
            responses=_ORIGINAL)
def authority_file(report_id: str, file_id: DbId, request: Request, actor: ReportsReceiveKey) -> Response:
    """The original of a file of a report routed to the caller (the download is recorded)."""
    with unit_of_work(request) as s:
        f, data = inbox.open_file(s, actor, report_id, file_id, _store(request))
        name = download_name(report_id, f.id, f.filename, data)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": attachment(name)})


@router.post("/authority/reports/{report_id}/acknowledge", response_model=AcknowledgementOut)
def acknowledge(report_id: str, request: Request, actor: ReportsReceiveKey) -> AcknowledgementOut:
    with unit_of_work(request) as s:
        routing = inbox.acknowledge(s, actor, report_id)
        return AcknowledgementOut(id=report_id, acknowledged_at=routing.acknowledged_at)


class FeedbackIn(BaseModel):
    outcome: str = Field(min_length=1, max_length=4000)
    delay_user_notice_days: int | None = Field(default=None, ge=1, le=inbox.MAX_DELAY_DAYS)


@router.post("/authority/reports/{report_id}/feedback", response_model=FeedbackOut)
def feedback(report_id: str, body: FeedbackIn, request: Request, actor: ReportsReceiveKey) -> FeedbackOut:
    with unit_of_work(request) as s:
        routing = inbox.give_feedback(s, actor, report_id, body.outcome,
                                      body.delay_user_notice_days)
        return FeedbackOut(id=report_id, feedback=routing.feedback,
                           delay_user_notice_until=routing.delay_user_notice_until)


# -- review at the Centre, and questions --------------------------------------------------------

class DecisionIn(BaseModel):
    decision: str
    reason: str = Field(min_length=1, max_length=4000)
    list: str = "known-material"
    label: str | None = Field(default=None, max_length=64)


class QuestionIn(BaseModel):
    question: str = Field(min_length=1, max_length=4000)


class AnswerIn(BaseModel):
    answer: str = Field(min_length=1, max_length=20000)


def _q(q: Any) -> QuestionOut:
    return QuestionOut(id=q.id, question=q.question, asked_at=q.asked_at, answer=q.answer,
                       answered_at=q.answered_at)


@router.get("/review/queue", response_model=list[ReviewQueueItemOut])
def review_queue(request: Request, actor: ReportsReviewKey) -> list[ReviewQueueItemOut]:
    """Reports waiting for a Centre reviewer — new material, solicitation, and reports whose
    only hits are unverified (held: forwarded only when a reviewer confirms) — urgent first,
    with their age."""
    with unit_of_work(request) as s:
        t = datetime.now(UTC)
        return [ReviewQueueItemOut.model_validate({
            **service.summary(s, r), "urgent": r.urgent,
            "age_seconds": int((t - _aware(r.submitted_at or r.created_at)).total_seconds()),
            "review_decision": r.review_decision}) for r in review.queue(s, actor)]


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


@router.get("/review/{report_id}", response_model=ReviewReportOut)
def review_report(report_id: str, request: Request, actor: ReportsReviewKey) -> ReviewReportOut:
    """A report as the Centre's reviewer sees it: its contents, its files by their hashes
    (previews only in the workspace; originals never), its hits and questions. Audited."""
    with unit_of_work(request) as s:
        seen = review.open_report(s, actor, report_id)
        report = seen.report
        return ReviewReportOut.model_validate({
            **service.summary(s, report), "incident_at": report.incident_at,
            "concerns": report.concerns, "urgent": report.urgent,
            "urgent_reason": report.urgent_reason, "details": seen.details,
            "review_decision": report.review_decision,
            "related": [RelatedReportOut(id=pid, reason=reason) for pid, reason in seen.related],
            "files": [ReviewFileOut(id=f.id, filename=f.filename, size=f.size, kind=f.kind,
                                    md5=f.md5, sha256=f.sha256, pdq=f.pdq, note=f.hash_error)
                      for f in seen.files],
            "hashes": [ReviewHashOut(signal_type=h.signal_type, value=h.value, file_id=h.file_id,
                                     matched_indicator=h.matched_indicator) for h in seen.hashes]})


@router.post("/review/{report_id}/decision", response_model=ReviewDecisionOut)
def review_decision(report_id: str, body: DecisionIn, request: Request,
                    actor: ReportsReviewKey) -> ReviewDecisionOut:
    with unit_of_work(request) as s:
        report, created = review.decide(s, actor, report_id, body.decision, body.reason,
                                        body.list, body.label)
        return ReviewDecisionOut(id=report.public_id, review_decision=report.review_decision,
                                 pending_indicators=created)


@router.post("/authority/reports/{report_id}/questions", response_model=QuestionOut, status_code=201)
def authority_question(report_id: str, body: QuestionIn, request: Request,
                       actor: ReportsReceiveKey) -> QuestionOut:
    with unit_of_work(request) as s:
        return _q(inbox.ask(s, actor, report_id, body.question))


@router.get("/authority/reports/{report_id}/questions", response_model=list[QuestionOut])
def authority_questions(report_id: str, request: Request, actor: ReportsReceiveKey) -> list[QuestionOut]:
    """Questions on a report routed to the caller, with the provider's answers."""
    with unit_of_work(request) as s:
        return [_q(q) for q in inbox.questions(s, actor, report_id)]


@router.get("/reports/{report_id}/questions", response_model=list[QuestionOut])
def report_questions(report_id: str, request: Request, actor: ReportsSubmitKey) -> list[QuestionOut]:
    with unit_of_work(request) as s:
        # The provider's side: its own reports only.
        return [_q(q) for q in repository.questions(s, repository.get_own(s, actor, report_id))]


@router.post("/reports/{report_id}/questions/{question_id}/answer", response_model=QuestionOut)
def answer_question(report_id: str, question_id: DbId, body: AnswerIn, request: Request,
                    actor: ReportsSubmitKey) -> QuestionOut:
    with unit_of_work(request) as s:
        return _q(review.answer(s, actor, report_id, question_id, body.answer))
