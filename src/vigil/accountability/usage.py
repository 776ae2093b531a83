"""Alerts on unusual use: an organisation that suddenly queries the match API, reads reports or
downloads lists far more than its own baseline — lists used for something else, a leaked key,
an authority browsing beyond its cases. Read from the audit trail, so nothing new is recorded
on the request path. One alert per organisation, action and hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.accountability.models import Alert
from vigil.audit.models import AuditEvent
from vigil.orgs.models import Organisation

WATCHED = ("match:queried", "report:read", "report:file_downloaded", "list:snapshot_downloaded",
           "list:changes_downloaded")
BASELINE_HOURS = 7 * 24


def check(session: Session, *, factor: float, min_events: int,
          at: datetime | None = None) -> list[Alert]:
    t = at or datetime.now(UTC)
    hour_start = t - timedelta(hours=1)
    current = session.execute(
        select(AuditEvent.organisation_id, AuditEvent.action, func.count())
        .where(AuditEvent.at >= hour_start, AuditEvent.at < t,
               AuditEvent.action.in_(WATCHED), AuditEvent.organisation_id.is_not(None))
        .group_by(AuditEvent.organisation_id, AuditEvent.action)).all()
    alerts = []
    for org_id, action, count in current:
        if count < min_events:
            continue
        past = session.scalar(select(func.count()).where(
            AuditEvent.organisation_id == org_id, AuditEvent.action == action,
            AuditEvent.at >= hour_start - timedelta(hours=BASELINE_HOURS),
            AuditEvent.at < hour_start)) or 0
        baseline = past / BASELINE_HOURS
        if count <= factor * baseline:
            continue
        name = session.get(Organisation, org_id)
        message = (f"unusual use: {name.name if name else org_id} made {count} {action} in the "
                   f"last hour against a baseline of {baseline:.1f} an hour")
        already = session.scalar(select(Alert.id).where(
            Alert.kind == "unusual_use", Alert.message.startswith(message.split(" made ")[0]),
            Alert.message.contains(f" {action} "), Alert.at >= hour_start))
        if already is not None:
            continue
        alert = Alert(at=t, kind="unusual_use", indicator_id=None, message=message)
        session.add(alert)
        alerts.append(alert)
    return alerts
