"""Report intake: submit (idempotent), add files, finish, retract; what a provider sees.

Every query for reports goes through :func:`visible` (``orgs.access.visible_reports``): no
route can read a report its caller may not see. The assessment job is enqueued in the same
transaction that completes the report, so it exists exactly when the report does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid, NotFound, TooLarge
from vigil.indicators.service import normalise
from vigil.matching.errors import HashingError
from vigil.matching.hashing import HashOptions, hash_image_bytes
from vigil.orgs.access import Principal, Scope, own_reports, visible_reports
from vigil.reports.models import Job, Report, ReportFile, ReportHash
from vigil.reports.schemas import FileMeta, ReportIn
from vigil.reports.storage import FileStore


def visible(principal: Principal) -> Select[Report]:
    return select(Report).where(visible_reports(principal))


def get_visible(session: Session, principal: Principal, public_id: str) -> Report:
    report = session.scalar(visible(principal).where(Report.public_id == public_id))
    if report is None:  # not found, or not yours: the same answer
        raise NotFound(f"no report {public_id}")
    return report


def get_own(session: Session, principal: Principal, public_id: str, *,
            for_update: bool = False) -> Report:
    """A report the caller filed (locked for the rest of the transaction if ``for_update``)."""
    q = select(Report).where(own_reports(principal), Report.public_id == public_id)
    if for_update:
        q = q.with_for_update()
    report = session.scalar(q)
    if report is None:
        raise NotFound(f"no report {public_id}")
    return report


def enqueue(session: Session, kind: str, payload: dict[str, Any]) -> None:
    session.add(Job(kind=kind, payload=json.dumps(payload), status="queued", attempts=0,
                    run_after=now()))


def request_fingerprint(body: ReportIn) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def submit(session: Session, actor: Principal, body: ReportIn,
           idempotency_key: str | None) -> tuple[Report, bool]:
    """Create a report; with an idempotency key, a repeat returns the first report."""
    actor.require(Scope.REPORTS_SUBMIT)
    fingerprint = request_fingerprint(body)
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 200:
            raise Invalid("Idempotency-Key must be 1-200 characters")
        existing = session.scalar(select(Report).where(
            Report.provider_org == actor.organisation_id,
            Report.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise Conflict("this Idempotency-Key was used for a different report")
            return existing, False
    errors = []
    hashes = []
    for i, h in enumerate(body.hashes):
        try:
            hashes.append(normalise(h.signal_type, h.value))
        except Invalid as exc:
            errors.append({"location": ["body", "hashes", i], "error": exc.message})
    if errors:
        raise Invalid(f"{len(errors)} hashes are invalid", items=errors)
    details = {"urls": body.urls, "users": [u.model_dump(mode="json") for u in body.users],
               "reported_elsewhere": [r.model_dump() for r in body.reported_elsewhere],
               "other_data": body.other_data}
    report = Report(
        public_id=str(uuid.uuid4()), provider_org=actor.organisation_id,
        provider_key=actor.key_id, idempotency_key=idempotency_key, request_hash=fingerprint,
        status="submitted" if body.complete else "open", created_at=now(),
        submitted_at=now() if body.complete else None, incident_at=body.incident_at,
        concerns=body.concerns.value, urgent=body.urgent, urgent_reason=body.urgent_reason,
        legal_basis=body.legal_basis, declared_country=(body.declared_country or "").upper() or None,
        content_removed=body.content_removed, incident_type=body.incident_type,
        details=json.dumps(details), priority=0, jurisdictions="")
    session.add(report)
    session.flush()
    if hashes:
        session.execute(insert(ReportHash), [
            {"report_id": report.id, "signal_type": st, "value": value} for st, value in hashes])
    record(session, actor, AuditAction.REPORT_SUBMITTED if body.complete else AuditAction.REPORT_OPENED,
           subject=report.public_id, details={"hashes": len(hashes), "urgent": body.urgent})
    if body.complete:
        enqueue(session, "assess_report", {"report_id": report.id})
    return report, True


def add_file(session: Session, actor: Principal, public_id: str, filename: str, data: bytes,
             meta: FileMeta, store: FileStore, max_file: int, max_report: int,
             max_files: int) -> ReportFile:
    actor.require(Scope.REPORTS_SUBMIT)
    report = get_own(session, actor, public_id, for_update=True)
    if report.status != "open":
        raise Conflict(f"report {public_id} is {report.status}; files can be added only while "
                       "it is open")
    if not data:
        raise Invalid("the file is empty")
    if len(data) > max_file:
        raise TooLarge(f"file over the limit of {max_file} bytes")
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(ReportFile.size), 0))
                                   .where(ReportFile.report_id == report.id)).one()
    if count >= max_files:
        raise TooLarge(f"a report holds at most {max_files} files")
    if total + len(data) > max_report:
        raise TooLarge(f"the report's files would exceed {max_report} bytes")
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    pdq = quality = error = None
    try:
        h = hash_image_bytes(data, HashOptions())
        pdq, quality = h.pdq, h.quality
    except HashingError as exc:
        error = exc.message  # not an image vigil can hash perceptually: digests still count
    file = ReportFile(report_id=report.id, filename=filename[:255] or "upload", size=len(data),
                      md5=md5, sha256=sha256, pdq=pdq, pdq_quality=quality, hash_error=error,
                      annotations=json.dumps(meta.annotations),
                      industry_classification=meta.industry_classification,
                      viewed_by_provider=meta.viewed_by_provider,
                      publicly_available=meta.publicly_available, created_at=now())
    session.add(file)
    session.flush()
    file.storage_key, file.nonce = store.put(data, aad(report.public_id, file.id))
    # If this transaction fails, the ciphertext must not outlive it as an orphan.
    key = file.storage_key
    session.info.setdefault("on_rollback", []).append(lambda: store.delete(key))
    for st, value in (("md5", md5), ("sha256", sha256), ("pdq", pdq)):
        if value is not None and (st != "pdq" or (quality or 0) >= 50):
            session.add(ReportHash(report_id=report.id, signal_type=st, value=value,
                                   file_id=file.id))
    record(session, actor, AuditAction.REPORT_FILE_ADDED, subject=public_id,
           details={"file": file.id, "bytes": len(data)})
    return file


def aad(public_id: str, file_id: int) -> bytes:
    return f"vigil-report-file-v1:{public_id}:{file_id}".encode()


def finish(session: Session, actor: Principal, public_id: str) -> Report:
    actor.require(Scope.REPORTS_SUBMIT)
    report = get_own(session, actor, public_id, for_update=True)
    if report.status != "open":
        if report.status in ("submitted", "known", "new", "forwarded", "manifestly_unfounded"):
            return report  # finishing twice is harmless (client retries)
        raise Conflict(f"report {public_id} is {report.status}")
    report.status = "submitted"
    report.submitted_at = now()
    enqueue(session, "assess_report", {"report_id": report.id})
    record(session, actor, AuditAction.REPORT_SUBMITTED, subject=public_id)
    return report


def retract(session: Session, actor: Principal, public_id: str, reason: str) -> Report:
    actor.require(Scope.REPORTS_SUBMIT)
    if not reason.strip():
        raise Invalid("a reason is required to retract a report")
    report = get_own(session, actor, public_id, for_update=True)
    if report.status == "retracted":
        return report
    report.status = "retracted"
    report.retracted_at = now()
    report.assessment_reason = f"retracted by the provider: {reason.strip()}"
    record(session, actor, AuditAction.REPORT_RETRACTED, subject=public_id)
    return report


def summary(session: Session, report: Report, *, files: int | None = None,
            hashes: int | None = None) -> dict[str, Any]:
    if files is None:
        files = session.scalar(select(func.count()).where(ReportFile.report_id == report.id)) or 0
    if hashes is None:
        hashes = session.scalar(select(func.count()).where(ReportHash.report_id == report.id)) or 0
    return {"id": report.public_id, "status": report.status, "created_at": report.created_at,
            "submitted_at": report.submitted_at, "assessment": report.assessment,
            "assessment_reason": report.assessment_reason, "priority": report.priority,
            "jurisdictions": report.jurisdictions.split() if report.jurisdictions else [],
            "forwarded": report.forwarded_at is not None, "files": files, "hashes": hashes}
