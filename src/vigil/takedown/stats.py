"""Takedown figures: time to removal per host and per country, notices sent, escalations,
re-uploads. Computed from the notices themselves, so every figure can be checked against them."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.takedown.models import Notice, UrlReport

#: INHOPE's reference point: share removed within 2.5 days.
WITHIN_HOURS = 60.0


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _summary(rows: list[Any]) -> dict[str, Any]:
    hours = [(_aware(r.removed_at) - _aware(r.opened_at)).total_seconds() / 3600
             for r in rows if r.removed_at is not None]
    return {"notices": len(rows), "removed": len(hours),
            "median_hours_to_removal": round(statistics.median(hours), 2) if hours else None,
            "removed_within_60h": sum(1 for h in hours if h <= WITHIN_HOURS),
            "notices_sent": sum(r.sends for r in rows),
            "escalations": sum(1 for r in rows if r.escalated_at is not None),
            "reuploads": sum(1 for r in rows if r.reupload_of is not None)}


def takedown_stats(session: Session) -> dict[str, Any]:
    rows = session.execute(select(Notice.host, Notice.hosting_country, Notice.opened_at,
                                  Notice.removed_at, Notice.sends, Notice.escalated_at,
                                  Notice.reupload_of)).all()
    by_host: dict[str, list[Any]] = defaultdict(list)
    by_country: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_host[r.host].append(r)
        by_country[r.hosting_country or "unknown"].append(r)
    reports = session.execute(select(UrlReport.source, func.count()).group_by(UrlReport.source)).all()
    classified = session.execute(select(UrlReport.classification, func.count())
                                 .group_by(UrlReport.classification)).all()
    return {"total": _summary(list(rows)),
            "by_host": {k: _summary(v) for k, v in sorted(by_host.items())},
            "by_country": {k: _summary(v) for k, v in sorted(by_country.items())},
            "url_reports_by_source": {k: n for k, n in reports},
            "url_reports_by_classification": {(k or "unclassified"): n for k, n in classified}}
