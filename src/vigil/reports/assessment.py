"""Assessment of a submitted report (run by ``vigil worker``).

1. Match every hash (given by the provider or computed from its files) against the active
   indicators: any block-list hit → *known material*; otherwise → *new material* (for human
   review).
2. *Manifestly unfounded*, with the reason stated: no content at all, or every hash matches
   the ``non-material`` allow list and nothing else was reported.
3. Priority: urgent first, then new material and solicitation, then known material.
4. Jurisdiction: EU member states from the reported IP addresses (offline IP-to-country), the
   declared country of the report and of each user; none found → ``unknown``.
5. Unless manifestly unfounded: routed to Europol and to each member state found, and handed
   off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict

import iptocc
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.indicators.matcher import LiveMatcher
from vigil.matching.signals import SignalType, VpdqHash
from vigil.reports.handoff import Handoff, Notice
from vigil.reports.models import RelatedReport, Report, ReportHash, ReportSubject, Routing
from vigil.reports.service import enqueue

EU_MEMBER_STATES = frozenset([
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"])
_ALIASES = {"EL": "GR"}  # the EU's code for Greece

PRIORITY_URGENT, PRIORITY_NEW, PRIORITY_KNOWN = 300, 200, 100


def _state(code: str | None) -> str | None:
    if not code:
        return None
    c = _ALIASES.get(code.upper(), code.upper())
    return c if c in EU_MEMBER_STATES else None


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


def _matches(matcher: LiveMatcher, h: ReportHash) -> list[tuple[int, str]]:
    st = SignalType(h.signal_type)
    if st is SignalType.PDQ:
        hits = matcher.match_pdq([h.value])[0]
    elif st is SignalType.VPDQ:
        hits = matcher.match_vpdq(VpdqHash.parse(h.value))
    else:
        hits = matcher.match_digest(st, h.value)
    return [(hit.indicator_id, hit.list_kind) for hit in hits]


def subject_digest(kind: str, value: str, key: bytes = b"") -> str:
    """Keyed digest of a reported user's identifier (kind-separated, case-folded): without the
    key, nobody can confirm a guessed address against the table."""
    data = f"vigil-subject-v1\0{kind}\0{value.strip().casefold()}".encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def link_related(session: Session, report: Report, hashes: list[ReportHash],
                 subject_key: bytes = b"") -> int:
    """Record links to earlier reports with the same hash or the same reported user."""
    details = json.loads(report.details or "{}")
    digests = {subject_digest(kind, v, subject_key) for user in details.get("users", [])
               for kind in ("user_ids", "screen_names", "emails", "device_ids")
               for v in user.get(kind, [])}
    for d in digests:
        session.add(ReportSubject(report_id=report.id, digest=d))
    links: set[tuple[int, str]] = set()
    if hashes:
        pairs = {(h.signal_type, h.value) for h in hashes}
        for other_id, st, value in session.execute(
                select(ReportHash.report_id, ReportHash.signal_type, ReportHash.value)
                .where(ReportHash.report_id != report.id,
                       ReportHash.value.in_([v for _, v in pairs]))):
            if (st, value) in pairs:
                links.add((other_id, "same_hash"))
    if digests:
        for (other_id,) in session.execute(
                select(ReportSubject.report_id).where(ReportSubject.report_id != report.id,
                                                      ReportSubject.digest.in_(digests))):
            links.add((other_id, "same_user"))
    existing = {(int(r[0]), str(r[1])) for r in session.execute(
        select(RelatedReport.related_id, RelatedReport.reason)
        .where(RelatedReport.report_id == report.id))}
    for other_id, reason in sorted(links - existing):
        session.add(RelatedReport(report_id=report.id, related_id=other_id, reason=reason))
        session.add(RelatedReport(report_id=other_id, related_id=report.id, reason=reason))
    return len(links)


def assess(session: Session, report_id: int, matcher: LiveMatcher, handoff: Handoff,
           subject_key: bytes = b"") -> Report | None:
    report = session.get(Report, report_id, with_for_update=True)
    if report is None or report.status not in ("submitted",):
        return report  # retracted meanwhile, or already assessed (a retried job)
    hashes = list(session.scalars(select(ReportHash).where(ReportHash.report_id == report.id)))
    details = json.loads(report.details or "{}")
    urls = details.get("urls", [])
    link_related(session, report, hashes, subject_key)
    known = False
    allowed_only = bool(hashes)
    for h in hashes:
        hits = _matches(matcher, h)
        block = [i for i, kind in hits if kind == "block"]
        if block:
            known = True
            h.matched_indicator = block[0]
        if not any(kind == "allow" for _, kind in hits) or block:
            allowed_only = False
    unfounded = None
    if not hashes and not urls and report.concerns != "solicitation":
        unfounded = "no content: the report carries no files, hashes or URLs"
    elif allowed_only and not urls and report.concerns != "solicitation":
        unfounded = "all reported content matches the non-material list (benign look-alikes)"
    report.assessed_at = now()
    if unfounded:
        report.status = report.assessment = "manifestly_unfounded"
        report.assessment_reason = unfounded
        report.priority = 0
        record(session, None, AuditAction.REPORT_ASSESSED, subject=report.public_id,
               details={"assessment": report.assessment})
        return report
    report.assessment = "known_material" if known else (
        "solicitation" if report.concerns == "solicitation" else "new_material")
    report.assessment_reason = ("matches verified indicators" if known
                                else "no match: queued for human review")
    report.priority = (PRIORITY_URGENT if report.urgent
                       else PRIORITY_KNOWN if known else PRIORITY_NEW)
    states = jurisdictions(report)
    report.jurisdictions = " ".join(states) if states else "unknown"
    for recipient in ["europol", *states]:
        session.add(Routing(report_id=report.id, recipient=recipient, handed_off_at=now()))
    session.flush()
    for recipient in ["europol", *states]:
        # One job per notice: delivered after this commits, retried on its own if it fails.
        enqueue(session, "deliver_notice", asdict(
            Notice(report.public_id, recipient, report.priority, report.urgent)))
    report.status = "forwarded"
    report.forwarded_at = now()
    record(session, None, AuditAction.REPORT_ASSESSED, subject=report.public_id,
           details={"assessment": report.assessment, "priority": report.priority})
    record(session, None, AuditAction.REPORT_FORWARDED, subject=report.public_id,
           details={"recipients": ["europol", *states]})
    return report
