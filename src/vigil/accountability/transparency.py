"""The transparency report: what the Centre did in a period, in figures and charts, with no
personal data — counts and medians only, organisations by name (they are not persons).

``figures(session, start, end)`` computes everything from the database; the page with its
charts is drawn by :mod:`vigil.web.transparency` (``vigil transparency-report``).
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.accountability.models import Complaint
from vigil.errors import Invalid
from vigil.indicators.lifecycle import IndicatorEvent
from vigil.orgs.models import Organisation
from vigil.reports.lifecycle import Assessment, ReportStatus
from vigil.reports.models import Report
from vigil.takedown.models import Notice
from vigil.translog.models import LogEntry
from vigil.victims.models import VictimCase

#: Which lifecycle events each figure counts, by list.
_INDICATOR_FIGURES = {
    IndicatorEvent.VERIFIED: "added", IndicatorEvent.VICTIM_SUBMITTED: "added",
    IndicatorEvent.RETRACTED: "withdrawn", IndicatorEvent.WITHDRAWN: "withdrawn",
    IndicatorEvent.QUARANTINED: "quarantined", IndicatorEvent.REINSTATED: "reinstated",
}


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """``2026-Q3``, ``2026-07`` or ``2026`` → [start, end) in UTC."""
    m = re.fullmatch(r"(\d{4})(?:-Q([1-4])|-(\d{2}))?", period.strip())
    if not m or (m.group(3) and not 1 <= int(m.group(3)) <= 12):
        raise Invalid(f"period must look like 2026-Q3, 2026-07 or 2026, not {period!r}")
    year = int(m.group(1))
    if m.group(2):
        first = 3 * (int(m.group(2)) - 1) + 1
        months = 3
    elif m.group(3):
        first, months = int(m.group(3)), 1
    else:
        first, months = 1, 12
    end_month = first + months
    start = datetime(year, first, 1, tzinfo=UTC)
    end = datetime(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _median_hours(pairs: list[tuple[datetime, datetime]]) -> float | None:
    hours = [(_aware(b) - _aware(a)).total_seconds() / 3600 for a, b in pairs]
    return round(statistics.median(hours), 2) if hours else None


def figures(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    def within(col: Any) -> Any:
        return (col >= start) & (col < end)

    names = dict(session.execute(select(Organisation.id, Organisation.name)).all())
    received = session.execute(select(Report.provider_org, Report.jurisdictions, Report.assessment)
                               .where(within(Report.submitted_at))).all()
    by_provider = Counter(names.get(p, "?") for p, _, _ in received)
    by_state: Counter[str] = Counter()
    for _, jur, _ in received:
        for state in (jur or "").split() or ["unknown"]:
            by_state[state] += 1
    assessed = Counter(a for (a,) in session.execute(
        select(Report.assessment).where(within(Report.assessed_at))).all())
    reviews = [(a, b) for a, b in session.execute(select(Report.submitted_at, Report.reviewed_at).where(
        within(Report.reviewed_at), Report.submitted_at.is_not(None))) if a and b]
    confirmed = Counter(a for (a,) in session.execute(select(Report.assessment).where(
        within(Report.reviewed_at), Report.review_decision == "material")).all())
    # What happened to indicators, from the log's own events (a reinstatement is not a new
    # indicator, nor a quarantine a retraction).
    events: dict[str, Counter[str]] = {k: Counter() for k in _INDICATOR_FIGURES.values()}
    for leaf in session.scalars(select(LogEntry.leaf).where(within(LogEntry.created_at),
                                                            LogEntry.subject.like("indicator:%"))):
        body = json.loads(leaf)
        key = _INDICATOR_FIGURES.get(body.get("event", ""))
        if key:
            events[key][body.get("list", "?")] += 1
    complaints = Counter(s for (s,) in session.execute(
        select(Complaint.status).where(within(Complaint.created_at))).all())
    removed = [(a, b) for a, b in session.execute(select(Notice.opened_at, Notice.removed_at)
                                                  .where(within(Notice.removed_at))) if b]
    return {
        "period": {"start": start.date().isoformat(), "end": end.date().isoformat()},
        "reports": {
            "received": len(received),
            "by_provider": dict(sorted(by_provider.items())),
            "by_member_state": dict(sorted(by_state.items())),
            "forwarded": session.scalar(select(func.count()).where(within(Report.forwarded_at))) or 0,
            "manifestly_unfounded": session.scalar(select(func.count()).where(
                within(Report.assessed_at), Report.status == ReportStatus.UNFOUNDED)) or 0,
            # Matches of verified indicators (two organisations saw the material), of unverified
            # ones only (victims' own hashes: held for review), and what reviewers confirmed.
            "known_material": assessed.get(Assessment.KNOWN_MATERIAL, 0),
            "unverified_match": assessed.get(Assessment.UNVERIFIED_MATCH, 0),
            "confirmed_by_review": sum(confirmed.values()),
            "unverified_confirmed_by_review": confirmed.get(Assessment.UNVERIFIED_MATCH, 0),
            "new_material": assessed.get(Assessment.NEW_MATERIAL, 0)
            + assessed.get(Assessment.SOLICITATION, 0),
            "reviewed": len(reviews),
            "median_hours_to_review": _median_hours(reviews),
        },
        "indicators": {k: dict(sorted(v.items())) for k, v in events.items()},
        "complaints": {"received": sum(complaints.values()),
                       "by_outcome": dict(sorted(complaints.items()))},
        "takedown": {
            "notices_opened": session.scalar(select(func.count()).where(within(Notice.opened_at))) or 0,
            "removed": len(removed),
            "median_hours_to_removal": _median_hours(removed),
            "removed_within_60h": len([1 for a, b in removed
                                       if (_aware(b) - _aware(a)).total_seconds() <= 60 * 3600]),
            "escalations": session.scalar(select(func.count()).where(within(Notice.escalated_at))) or 0,
            "reuploads": session.scalar(select(func.count()).where(
                within(Notice.opened_at), Notice.reupload_of.is_not(None))) or 0,
        },
        "victims": {"cases_opened": session.scalar(select(func.count()).where(
            within(VictimCase.created_at))) or 0},
    }
