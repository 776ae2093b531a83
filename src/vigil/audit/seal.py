"""Tamper evidence for the audit trail, with the same log as the indicators.

Every so often (``vigil worker``) the events not yet sealed — and older than a minute, so that
no transaction still in flight can commit into a sealed range — are chained
(``h = SHA-256(h || canonical event)``) and the final digest goes into the transparency log as
an ``audit:sealed`` leaf. The log's signed heads and consistency proofs then vouch for the
audit trail: an event changed, removed or slipped in later no longer gives the sealed digest.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.models import AuditEvent
from vigil.translog import repository as log
from vigil.translog.models import LogEntry

SEAL_SUBJECT = "audit:seal"


def _canonical(e: AuditEvent) -> bytes:
    at = e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC)
    return json.dumps({"id": e.id, "at": at.isoformat(), "action": e.action,
                       "org": e.organisation_id, "key": e.api_key_id, "subject": e.subject,
                       "details": json.loads(e.details or "{}")},
                      sort_keys=True, separators=(",", ":")).encode()


def chain(events: list[AuditEvent]) -> str:
    h = b"\x00" * 32
    for e in events:
        h = hashlib.sha256(h + _canonical(e)).digest()
    return h.hex()


def _seals(session: Session) -> list[dict[str, Any]]:
    return [json.loads(e.leaf) for e in session.scalars(
        select(LogEntry).where(LogEntry.subject == SEAL_SUBJECT).order_by(LogEntry.index))]


def seal(session: Session, *, older_than: timedelta = timedelta(minutes=1),
         at: datetime | None = None) -> dict[str, Any] | None:
    """Seal the events after the last seal; returns the leaf, or None if there was nothing."""
    seals = _seals(session)
    after = seals[-1]["last_id"] if seals else 0
    cutoff = (at or datetime.now(UTC)) - older_than
    events = list(session.scalars(select(AuditEvent).where(
        AuditEvent.id > after, AuditEvent.at <= cutoff).order_by(AuditEvent.id)))
    if not events:
        return None
    leaf = {"event": "audit:sealed", "first_id": events[0].id, "last_id": events[-1].id,
            "count": len(events), "digest": chain(events), "at": datetime.now(UTC).isoformat()}
    index = log.append(session, leaf)
    session.flush()
    entry = session.get(LogEntry, index)
    if entry is not None:
        entry.subject = SEAL_SUBJECT
    return leaf


def verify(session: Session) -> list[str]:
    """Re-chain every sealed range; returns the problems (none: the sealed trail is intact)."""
    problems = []
    previous = 0
    for s in _seals(session):
        events = list(session.scalars(select(AuditEvent).where(
            AuditEvent.id > previous, AuditEvent.id <= s["last_id"]).order_by(AuditEvent.id)))
        if len(events) != s["count"] or chain(events) != s["digest"]:
            problems.append(f"audit events {previous + 1}-{s['last_id']} differ from the seal in "
                            f"log entry {s['index']} ({len(events)} events now, {s['count']} sealed)")
        previous = s["last_id"]
    return problems
