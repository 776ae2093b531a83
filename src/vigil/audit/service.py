from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.models import AuditEvent

if TYPE_CHECKING:
    from vigil.orgs.access import Principal


def record(session: Session, actor: Principal | None, action: AuditAction,
           subject: str | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """Add an audit event to the caller's transaction (committed with the action or not at
    all)."""
    event = AuditEvent(
        at=datetime.now(UTC), action=action.value,
        organisation_id=actor.organisation_id if actor else None,
        api_key_id=actor.key_id if actor else None,
        subject=subject, details=json.dumps(details or {}, sort_keys=True),
    )
    session.add(event)
    return event


def events(session: Session, *, action: str | None = None, subject: str | None = None,
           organisation: int | None = None, since: datetime | None = None,
           until: datetime | None = None, after_id: int = 0, limit: int = 500) -> list[AuditEvent]:
    """Audit events in order (by id), filtered; page with ``after_id``."""
    q = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id).limit(limit)
    if action:
        q = q.where(AuditEvent.action == action)
    if subject:
        q = q.where(AuditEvent.subject == subject)
    if organisation:
        q = q.where(AuditEvent.organisation_id == organisation)
    if since:
        q = q.where(AuditEvent.at >= since)
    if until:
        q = q.where(AuditEvent.at < until)
    return list(session.scalars(q))
