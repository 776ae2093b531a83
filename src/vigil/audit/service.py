from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
