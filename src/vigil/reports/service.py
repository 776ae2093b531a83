"""Report intake: submit (idempotent), add files, finish, retract; what a provider sees.

Reads go through :mod:`vigil.reports.repository` (what a caller may see is decided there);
status changes through :mod:`vigil.reports.lifecycle`. The assessment job is enqueued in the
same transaction that completes the report, so it exists exactly when the report does.

Uploaded files are typed by their bytes and hashed by the Centre (:mod:`vigil.matching.content`):
images get PDQ, videos vPDQ, every file MD5 and SHA-256. A file that cannot be decoded (broken,
truncated, a decompression bomb) is kept, with its digests and the reason in ``hash_error``:
one bad file never loses a report.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid, TooLarge
from vigil.indicators.service import normalise
from vigil.jobs.queue import enqueue
from vigil.matching.content import ContentHashes, hash_content
from vigil.orgs.access import Principal, Scope
from vigil.reports import repository
from vigil.reports.lifecycle import FINISHED, ReportEvent, ReportStatus, transition
from vigil.reports.models import Report, ReportFile, ReportHash
from vigil.reports.schemas import FileMeta, ReportIn
from vigil.reports.storage import FileStore


def request_fingerprint(body: ReportIn) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def submit(session: Session, actor: Principal, body: ReportIn,
           idempotency_key: str | None, *, look_up_first: bool = True) -> tuple[Report, bool]:
    """Create a report; with an idempotency key, a repeat returns the first report.

    ``look_up_first=False`` skips the look-up of an earlier report with the same key and lets
    the database's unique constraint on (organisation, key) find a repeat: the insert then
    raises ``IntegrityError`` and the caller calls again with the look-up. The intake's hot path
    saves a round trip per report that way; a repeat costs one more transaction."""
    actor.require(Scope.REPORTS_SUBMIT)
    fingerprint = request_fingerprint(body)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise Invalid("Idempotency-Key must be 1-200 characters")
    if idempotency_key is not None and look_up_first:
        existing = session.scalar(select(Report).where(
            repository.own(actor), Report.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise Conflict("this Idempotency-Key was used for a different report")
            return existing, False
    errors = []
    hashes = []
    for i, h in enumerate(body.hashes):
        try:
            hashes.append((*normalise(h.signal_type, h.value), h.file))
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
        created_at=now(), incident_at=body.incident_at,
        concerns=body.concerns.value, urgent=body.urgent, urgent_reason=body.urgent_reason,
        legal_basis=body.legal_basis, declared_country=(body.declared_country or "").upper() or None,
        content_removed=body.content_removed, incident_type=body.incident_type,
        details=json.dumps(details), priority=0, jurisdictions="")
    transition(session, report, ReportEvent.SUBMITTED if body.complete else ReportEvent.OPENED,
               actor, details={"hashes": len(hashes), "urgent": body.urgent}, new=True)
    if hashes:
        session.execute(insert(ReportHash), [
            {"report_id": report.id, "signal_type": st, "value": value, "file_ref": ref}
            for st, value, ref in hashes])
    if body.complete:
        enqueue(session, "assess_report", {"report_id": report.id})
    return report, True


def add_file(session: Session, actor: Principal, public_id: str, filename: str, data: bytes,
             meta: FileMeta, store: FileStore, max_file: int, max_report: int,
             max_files: int, content: ContentHashes | None = None) -> ReportFile:
    """Store one file of an open report, encrypted, with the hashes the Centre computed.
    ``content``: those hashes if the caller computed them already (outside the transaction:
    decoding a video takes a while); otherwise they are computed here."""
    actor.require(Scope.REPORTS_SUBMIT)
    if not data:
        raise Invalid("the file is empty")
    if len(data) > max_file:
        raise TooLarge(f"file over the limit of {max_file} bytes")
    report = repository.get_own(session, actor, public_id, for_update=True)
    if report.status != ReportStatus.OPEN:
        raise Conflict(f"report {public_id} is {report.status}; files can be added only while "
                       "it is open")
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(ReportFile.size), 0))
                                   .where(ReportFile.report_id == report.id)).one()
    if count >= max_files:
        raise TooLarge(f"a report holds at most {max_files} files")
    if total + len(data) > max_report:
        raise TooLarge(f"the report's files would exceed {max_report} bytes")
    h = content or hash_content(data)
    file = ReportFile(report_id=report.id, filename=filename[:255] or "upload", size=len(data),
                      kind=h.kind, md5=h.md5, sha256=h.sha256, pdq=h.pdq, pdq_quality=h.quality,
                      hash_error=h.error, annotations=json.dumps(meta.annotations),
                      industry_classification=meta.industry_classification,
                      viewed_by_provider=meta.viewed_by_provider,
                      publicly_available=meta.publicly_available, created_at=now())
    session.add(file)
    session.flush()
    file.storage_key, file.nonce, file.key_id = store.put(data, aad(report.public_id, file.id))
    # If this transaction fails, the ciphertext must not outlive it as an orphan.
    key = file.storage_key
    session.info.setdefault("on_rollback", []).append(lambda: store.delete(key))
    signals = [("md5", h.md5), ("sha256", h.sha256), ("sha1", h.sha1), ("pdq", h.usable_pdq),
               ("vpdq", h.vpdq)]
    for st, value in signals:
        if value is not None:
            session.add(ReportHash(report_id=report.id, signal_type=st, value=value,
                                   file_id=file.id))
    record(session, actor, AuditAction.REPORT_FILE_ADDED, subject=public_id,
           details={"file": file.id, "bytes": len(data), "kind": h.kind})
    return file


def aad(public_id: str, file_id: int) -> bytes:
    return f"vigil-report-file-v1:{public_id}:{file_id}".encode()


def finish(session: Session, actor: Principal, public_id: str) -> Report:
    actor.require(Scope.REPORTS_SUBMIT)
    report = repository.get_own(session, actor, public_id, for_update=True)
    if report.status in FINISHED:
        return report  # finishing twice is harmless (client retries)
    transition(session, report, ReportEvent.SUBMITTED, actor)
    enqueue(session, "assess_report", {"report_id": report.id})
    return report


def retract(session: Session, actor: Principal, public_id: str, reason: str) -> Report:
    actor.require(Scope.REPORTS_SUBMIT)
    if not reason.strip():
        raise Invalid("a reason is required to retract a report")
    report = repository.get_own(session, actor, public_id, for_update=True)
    if report.status == ReportStatus.RETRACTED:
        return report
    transition(session, report, ReportEvent.RETRACTED, actor)
    report.assessment_reason = f"retracted by the provider: {reason.strip()}"
    return report


def summary(session: Session, report: Report, *, files: int | None = None,
            hashes: int | None = None) -> dict[str, Any]:
    """The report as its provider (and everyone who may read it) sees it."""
    if files is None or hashes is None:
        files, hashes = repository.counts(session, report)
    # Only a forwarded report has authorities that can ask the provider to wait.
    hold: datetime | None = (repository.hold_user_notice_until(session, report)
                             if report.forwarded_at is not None else None)
    return {"id": report.public_id, "status": report.status, "created_at": report.created_at,
            "submitted_at": report.submitted_at, "assessment": report.assessment,
            "assessment_reason": report.assessment_reason, "priority": report.priority,
            "jurisdictions": report.jurisdictions.split() if report.jurisdictions else [],
            "forwarded": report.forwarded_at is not None, "files": files, "hashes": hashes,
            "hold_user_notice_until": hold}
