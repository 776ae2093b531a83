"""Assessment of a submitted report (run by ``vigil worker``).

1. Every file (all its hashes together) and every hash the provider gave is an item for the
   match policy (:func:`vigil.matching.policy.match_items`), the same one ``POST /v1/match``
   and the crawler use — so a hash on an allow list is suppressed here exactly as there.
2. *Manifestly unfounded*, with the reason stated: no content at all, or every item matches
   only the allow list (benign look-alikes) and nothing else was reported.
3. A verified hit → *known material*: forwarded at once. Hits on unverified lists only (victims'
   own hashes, never seen by the Centre) → *unverified match*: held in the review queue, placed
   by its urgency, and forwarded only when a reviewer confirms. No hit → *new material* (or
   solicitation): forwarded, and queued for a reviewer who may propose new indicators.
4. Priority: urgent first, then new material, solicitation and unverified matches, then known
   material. Jurisdiction: :mod:`vigil.reports.forwarding`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.matching.policy import CandidateSource, Item, Outcome, Signal, Verdict, match_items
from vigil.matching.signals import SignalType, VpdqHash
from vigil.reports import repository
from vigil.reports.forwarding import forward, jurisdictions
from vigil.reports.handoff import Handoff
from vigil.reports.lifecycle import Assessment, ReportEvent, ReportStatus, transition
from vigil.reports.models import RelatedReport, Report, ReportHash, ReportMatch, ReportSubject

PRIORITY_URGENT, PRIORITY_NEW, PRIORITY_KNOWN = 300, 200, 100


def items_of(hashes: list[ReportHash]) -> list[tuple[Item, list[ReportHash]]]:
    """One item per uploaded file (its MD5, SHA-256, PDQ and vPDQ together, so that an allow
    hit on one of them suppresses the others), one per file reference the provider gave with
    its hashes, and one per other hash the provider gave."""
    groups: dict[object, list[ReportHash]] = {}
    for h in hashes:
        key = (("file", h.file_id) if h.file_id is not None
               else ("ref", h.file_ref) if h.file_ref is not None else ("hash", h.id))
        groups.setdefault(key, []).append(h)
    out = []
    for rows in groups.values():
        signals = tuple(Signal(SignalType(h.signal_type),
                               VpdqHash.parse(h.value) if h.signal_type == SignalType.VPDQ else h.value)
                        for h in rows)
        out.append((Item(signals), rows))
    return out


def subject_digest(kind: str, value: str, key: bytes = b"") -> str:
    """Keyed digest of a reported user's identifier (kind-separated, case-folded): without the
    key, nobody can confirm a guessed address against the table."""
    data = f"vigil-subject-v1\0{kind}\0{value.strip().casefold()}".encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def subject_digests(details: dict[str, Any], key: bytes = b"") -> set[str]:
    """The keyed digests of every reported user's identifiers in a report's details."""
    return {subject_digest(kind, v, key) for user in details.get("users", [])
            for kind in ("user_ids", "screen_names", "emails", "device_ids")
            for v in user.get(kind, [])}


def link_related(session: Session, report: Report, hashes: list[ReportHash],
                 subject_key: bytes = b"") -> int:
    """Record links to earlier reports with the same hash or the same reported user."""
    digests = subject_digests(json.loads(report.details or "{}"), subject_key)
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


def assess(session: Session, report_id: int, matcher: CandidateSource, handoff: Handoff,
           subject_key: bytes = b"") -> Report | None:
    report = session.get(Report, report_id, with_for_update=True)
    if report is None or report.status != ReportStatus.SUBMITTED:
        return report  # retracted meanwhile, or already assessed (a retried job)
    hashes = repository.hashes(session, report)
    details = json.loads(report.details or "{}")
    urls = details.get("urls", [])
    link_related(session, report, hashes, subject_key)
    grouped = items_of(hashes)
    outcomes: list[Outcome] = match_items(matcher, [item for item, _ in grouped])
    matched: dict[int, str] = {}
    for outcome, (_, rows) in zip(outcomes, grouped, strict=True):
        if outcome.hits:
            for h in rows:  # the best hit, shown to reviewers beside each hash
                h.matched_indicator = int(outcome.hits[0].key)
        for hit in outcome.hits:  # every hit: a victim follows what matched their hashes
            matched.setdefault(int(hit.key), hit.trust.value)
    for ind_id, trust in sorted(matched.items()):
        session.add(ReportMatch(report_id=report.id, indicator_id=ind_id, trust=trust))
    verdicts = {o.verdict for o in outcomes}
    report.assessed_at = now()
    report.jurisdictions = " ".join(jurisdictions(report)) or "unknown"
    unfounded = None
    if report.concerns != "solicitation" and not urls:
        if not hashes:
            unfounded = "no content: the report carries no files, hashes or URLs"
        elif verdicts == {Verdict.ALLOWED}:
            unfounded = "all reported content matches the non-material list (benign look-alikes)"
    if unfounded:
        report.assessment, report.assessment_reason = Assessment.UNFOUNDED, unfounded
        report.priority = 0
        record(session, None, AuditAction.REPORT_ASSESSED, subject=report.public_id,
               details={"assessment": report.assessment})
        transition(session, report, ReportEvent.FOUND_UNFOUNDED, None)
        return report
    if Verdict.VERIFIED in verdicts:
        report.assessment = Assessment.KNOWN_MATERIAL
        report.assessment_reason = "matches verified indicators"
    elif Verdict.UNVERIFIED in verdicts:
        report.assessment = Assessment.UNVERIFIED_MATCH
        report.assessment_reason = ("matches only unverified (victim-submitted) indicators: held "
                                    "for a Centre reviewer before forwarding")
    else:
        report.assessment = (Assessment.SOLICITATION if report.concerns == "solicitation"
                             else Assessment.NEW_MATERIAL)
        report.assessment_reason = "no match: forwarded, and queued for human review"
    report.priority = (PRIORITY_URGENT if report.urgent
                       else PRIORITY_KNOWN if report.assessment == Assessment.KNOWN_MATERIAL
                       else PRIORITY_NEW)
    record(session, None, AuditAction.REPORT_ASSESSED, subject=report.public_id,
           details={"assessment": report.assessment, "priority": report.priority})
    if report.assessment == Assessment.UNVERIFIED_MATCH:
        transition(session, report, ReportEvent.HELD_FOR_REVIEW, None)
    else:
        forward(session, report)
    return report
