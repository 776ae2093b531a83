"""Forwarding a report to Europol and the member states likely to have jurisdiction (CSA
proposal: every report that is not manifestly unfounded), one hand-off job per recipient.

Jurisdiction comes from the reported IP addresses (offline IP-to-country), the declared country
of the report and of each user; none found → ``unknown`` (Europol still receives it).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import iptocc
from sqlalchemy.orm import Session

from vigil.clock import now
from vigil.jobs.queue import enqueue
from vigil.orgs.access import Principal, member_state_of
from vigil.reports.handoff import Notice
from vigil.reports.lifecycle import ReportEvent, transition
from vigil.reports.models import Report, Routing


def _state(code: str | None) -> str | None:
    return member_state_of(code)


def jurisdictions(report: Report) -> list[str]:
    found: set[str] = set()
    if s := _state(report.declared_country):
        found.add(s)
    details = json.loads(report.details or "{}")
    for user in details.get("users", []):
        if s := _state(user.get("declared_country")):
            found.add(s)
        for ev in user.get("ips", []):
            try:
                cc = iptocc.country_code(ev["ip"])
            except Exception:
                cc = None
            if s := _state(cc):
                found.add(s)
    return sorted(found)


def forward(session: Session, report: Report, actor: Principal | None = None) -> list[str]:
    """Route ``report`` to Europol and its member states (``report.jurisdictions``, set by the
    assessment) and queue one hand-off per recipient, delivered after the commit. Returns the
    recipients."""
    states = [s for s in (report.jurisdictions or "").split() if s != "unknown"]
    recipients = ["europol", *states]
    for recipient in recipients:
        session.add(Routing(report_id=report.id, recipient=recipient, handed_off_at=now()))
    session.flush()
    for recipient in recipients:
        # One job per notice: delivered after this commits, retried on its own if it fails.
        enqueue(session, "deliver_notice", asdict(
            Notice(report.public_id, recipient, report.priority, report.urgent)))
    transition(session, report, ReportEvent.FORWARDED, actor, details={"recipients": recipients})
    return recipients
