"""The audit trail for auditors: who did what (and who read which report or file), when; and
whether the sealed part of the trail is intact."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, Query, Request

from vigil.audit import seal, service
from vigil.audit.schemas import AuditEventOut, AuditEventsOut, AuditVerificationOut
from vigil.deps import MAX_DB_ID, AuditReadKey, unit_of_work
from vigil.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/audit", responses=ERROR_RESPONSES)


@router.get("/events", response_model=AuditEventsOut)
def events(request: Request, actor: AuditReadKey,
           action: str | None = Query(None, max_length=64,
                                      description="e.g. report:read, report:file_downloaded"),
           subject: str | None = Query(None, max_length=64),
           organisation: int | None = Query(None, ge=1, le=MAX_DB_ID),
           since: datetime | None = None, until: datetime | None = None,
           after_id: int = Query(0, ge=0, le=MAX_DB_ID), limit: int = Query(500, ge=1, le=5000)) -> AuditEventsOut:
    """Audit events in order, filtered; page with ``after_id``. Never hashes or secrets."""
    with unit_of_work(request) as s:
        rows = service.events(s, action=action, subject=subject, organisation=organisation,
                              since=since, until=until, after_id=after_id, limit=limit)
        return AuditEventsOut(
            events=[AuditEventOut(id=e.id, at=e.at, action=e.action, organisation=e.organisation_id,
                                  key=e.api_key_id, subject=e.subject,
                                  details=json.loads(e.details or "{}"))
                    for e in rows],
            next_after_id=rows[-1].id if len(rows) == limit else None)


@router.get("/verify", response_model=AuditVerificationOut)
def verify(request: Request, actor: AuditReadKey) -> AuditVerificationOut:
    """Re-chain every sealed range of the audit trail against its seal in the log."""
    with unit_of_work(request) as s:
        problems = seal.verify(s)
        return AuditVerificationOut(intact=not problems, problems=problems)
