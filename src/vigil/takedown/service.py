"""Notice and takedown decisions: URL reports, classification, notices, their repetition,
escalation and the re-checks that confirm removal.

A notice is processed when due: the URL is re-checked first (gone: 404/410, or what it serves
no longer matches what it served when the notice opened); if the content is still there the
notice is sent again (e-mail and/or signed webhook), and once it has been open longer than the
escalation time it goes to the authority of the hosting country. Network work happens outside
any database transaction; its outcome is written in one transaction per notice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.config import Settings
from vigil.db import transaction
from vigil.egress import EgressPolicy
from vigil.errors import Invalid
from vigil.indicators.lifecycle import IndicatorStatus
from vigil.indicators.models import Indicator
from vigil.matching.content import ContentHashes, hash_content
from vigil.matching.policy import CandidateSource, Trust, Verdict, match_items
from vigil.matching.policy import Outcome as MatchOutcome
from vigil.matching.signals import PdqHash
from vigil.orgs.access import Principal, Scope
from vigil.takedown import authority, hosting, repository
from vigil.takedown.fetch import Fetched
from vigil.takedown.models import Notice, NoticeEvent, NoticeHash, UrlReport
from vigil.takedown.notify import NoticeMessage, Notifier
from vigil.takedown.referrals import repository as referral_repository
from vigil.takedown.referrals import service as referrals
from vigil.takedown.urls import host_of, normalise

CLASSIFICATIONS = ("illegal_international", "illegal_national", "not_illegal")
ILLEGAL = ("illegal_international", "illegal_national")
PDQ_SAME = 31


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


# -- URL reports -------------------------------------------------------------------------------

def submit_url(session: Session, url: str, *, source: str, reporter: Principal | None = None,
               description: str | None = None) -> tuple[UrlReport, bool]:
    """Record a reported URL. The same reporter's URL already waiting for classification is
    not queued twice (returns the waiting report, ``False``). Another reporter's waiting report
    of the same URL is never returned — it would tell the caller what others (the crawler, the
    public, another hotline) reported; the analyst's one decision covers them all
    (:func:`classify`)."""
    clean = normalise(url)
    if description is not None and len(description) > 4000:
        raise Invalid("the description is longer than 4000 characters")
    same_reporter = (UrlReport.reporter_org == reporter.organisation_id if reporter is not None
                     else UrlReport.reporter_org.is_(None))
    waiting = session.scalar(select(UrlReport).where(
        UrlReport.url == clean, UrlReport.classification.is_(None),
        UrlReport.source == source, same_reporter))
    if waiting is not None:
        return waiting, False
    report = UrlReport(public_id=str(uuid.uuid4()), url=clean, host=host_of(clean), source=source,
                       reporter_org=reporter.organisation_id if reporter else None,
                       description=(description or "").strip() or None, created_at=now())
    session.add(report)
    session.flush()
    record(session, reporter, AuditAction.URL_REPORTED, subject=report.public_id,
           details={"source": source})
    return report, True


def check_classification(classification: str, country: str | None) -> None:
    """Raises :class:`Invalid` unless ``classification`` is one of :data:`CLASSIFICATIONS`
    (with the country whose law it breaks, for ``illegal_national``)."""
    if classification not in CLASSIFICATIONS:
        raise Invalid(f"classification must be one of {', '.join(CLASSIFICATIONS)}")
    if classification == "illegal_national" and not (country and len(country) == 2 and country.isalpha()):
        raise Invalid("illegal_national needs the two-letter code of the country whose law it breaks")


def classify(session: Session, actor: Principal, public_id: str, classification: str,
             country: str | None, policy: EgressPolicy) -> tuple[UrlReport, Notice | None]:
    """An analyst's decision. Illegal content gets a notice to its host, is passed to the
    hosting country's authority (a job) and is referred to that country's partner hotline (a
    job), or the referral records why not — all in this transaction (:func:`confirmed_illegal`)."""
    actor.require(Scope.TAKEDOWN_MANAGE)
    check_classification(classification, country)
    report = repository.url_report(session, actor, public_id)
    if report.classification is not None:
        raise Invalid(f"URL report {public_id} is already classified as {report.classification}")
    # One decision for every report of this URL still waiting that the caller may decide (the
    # Centre's analyst: the public's, hotlines', the crawler's): not classified twice.
    others = repository.waiting_of_url(session, actor, report)
    for r in (report, *others):
        r.classification = classification
        r.classification_country = (country.upper() if country and classification == "illegal_national"
                                    else None)
        r.classified_by_org, r.classified_at = actor.organisation_id, now()
        record(session, actor, AuditAction.URL_CLASSIFIED, subject=r.public_id,
               details={"classification": classification})
    if report.indicator_id is None:  # a crawler hit among the others brings its indicator
        hit = next((r for r in others if r.indicator_id is not None), None)
        if hit is not None:
            report.indicator_id, report.list_name, report.list_trust = (
                hit.indicator_id, hit.list_name, hit.list_trust)
    notice = None
    if classification in ILLEGAL:
        # A crawler hit on a victim's own hash waited for this decision: its notice opens now.
        notice = open_notice(session, report, policy, indicator_id=report.indicator_id,
                             victim_submitted=report.list_trust == Trust.UNVERIFIED)[0]
        confirmed_illegal(session, report, notice, actor)
    return report, notice


def confirmed_illegal(session: Session, report: UrlReport, notice: Notice,
                      actor: Principal | None) -> None:
    """What follows a URL confirmed illegal, in the confirmation's transaction: the hosting
    country's law-enforcement authority is told at once, for victim identification (not only
    on escalation), and the URL is referred to the country's partner hotline."""
    authority.queue_identification(session, notice)
    referrals.refer(session, report, notice, actor)


def crawler_hit(session: Session, url: str, outcome: MatchOutcome, policy: EgressPolicy,
                content: ContentHashes) -> tuple[UrlReport, Notice | None, bool]:
    """What the crawler does with a matching URL — the match policy decides: a verified hit is
    classified by its indicator and gets a notice at once; a hit on an unverified list (a
    victim's own hash) becomes a URL report that waits for an analyst's classification, and no
    notice goes out before it. Returns the report, the notice (None while waiting) and whether
    the notice is new."""
    hit = outcome.hits[0]
    report = repository.crawler_report(session, url)
    if report is None:
        report, _ = submit_url(session, url, source="crawler")
    if report.classification is None:
        report.indicator_id, report.list_name = int(hit.key), hit.list.name
        report.list_trust = hit.trust.value
    if not outcome.may_act:
        return report, None, False
    if report.classification is None:
        report.classification = "illegal_international"  # decided by the verified indicator
        report.classified_at = now()
        record(session, None, AuditAction.URL_CLASSIFIED, subject=report.public_id,
               details={"classification": report.classification, "by": "verified indicator",
                        "indicator": int(hit.key)})
    if report.classification not in ILLEGAL:
        return report, None, False  # an analyst decided otherwise; that decision stands
    notice, created = open_notice(session, report, policy, content=content,
                                  indicator_id=int(hit.key))
    if created:
        confirmed_illegal(session, report, notice, None)
    return report, notice, created


# -- notices -----------------------------------------------------------------------------------

def _hash_rows(content: ContentHashes) -> list[tuple[str, str]]:
    rows = [("sha256", content.sha256), ("md5", content.md5)]
    if content.sha1:
        rows.append(("sha1", content.sha1))
    if content.pdq and (content.quality or 0) >= 50:
        rows.append(("pdq", content.pdq))
    return rows


def _store_hashes(session: Session, notice: Notice, content: ContentHashes) -> None:
    for st, value in _hash_rows(content):
        session.add(NoticeHash(notice_id=notice.id, signal_type=st, value=value))


def open_notice(session: Session, report: UrlReport, policy: EgressPolicy, *,
                content: ContentHashes | None = None, indicator_id: int | None = None,
                victim_submitted: bool = False) -> tuple[Notice, bool]:
    """Open a notice for a report's URL (or return the one already open for it, ``False``). A
    known indicator or known content at a new URL is a re-upload of the earliest earlier
    notice."""
    existing = session.scalar(select(Notice).where(Notice.url == report.url,
                                                   Notice.status == "open"))
    if existing is not None:
        return existing, False
    where = hosting.resolve(session, report.host, policy)
    earlier = None
    if indicator_id is not None:
        earlier = session.scalar(select(func.min(Notice.id)).where(
            Notice.indicator_id == indicator_id, Notice.url != report.url))
    if earlier is None and content is not None:
        earlier = session.scalar(select(func.min(NoticeHash.notice_id)).join(
            Notice, Notice.id == NoticeHash.notice_id).where(
            NoticeHash.signal_type == "sha256", NoticeHash.value == content.sha256,
            Notice.url != report.url))
    t = now()
    notice = Notice(url_report_id=report.id, url=report.url, host=report.host,
                    address=where.address, hosting_country=where.country,
                    provider=where.provider, email=where.email, webhook=where.webhook,
                    status="open", indicator_id=indicator_id, victim_submitted=victim_submitted,
                    opened_at=t, next_action_at=t, sends=0, reupload_of=earlier)
    session.add(notice)
    session.flush()
    if content is not None:
        _store_hashes(session, notice, content)
    session.add(NoticeEvent(notice_id=notice.id, at=t, kind="opened",
                            detail=f"re-upload of notice {earlier}" if earlier else None))
    record(session, None, AuditAction.NOTICE_OPENED, subject=str(notice.id),
           details={"host": notice.host, "country": notice.hosting_country,
                    "reupload_of": earlier})
    return notice, True


def due_notices(session: Session, at: datetime | None = None, limit: int = 100) -> list[int]:
    at = at or now()
    return list(session.scalars(select(Notice.id).where(
        Notice.status == "open", Notice.next_action_at <= at).order_by(Notice.next_action_at)
        .limit(limit)))


def still_matches(stored: list[tuple[str, str]], content: ContentHashes) -> bool:
    for st, value in stored:
        if st in ("sha256", "md5", "sha1") and value in (content.sha256, content.md5, content.sha1):
            return True
        if st == "pdq" and content.pdq and (content.quality or 0) >= 50 and \
                PdqHash.parse(value).distance(PdqHash.parse(content.pdq)) <= PDQ_SAME:
            return True
    return False


@dataclass(frozen=True)
class Outcome:
    notice_id: int
    removed: bool
    sent: int
    escalated: bool


def _message(n: Notice, kind: str = "removal") -> NoticeMessage:
    first = _aware(n.opened_at).isoformat() if n.sends else None
    return NoticeMessage(f"vigil-notice-{n.id}", n.url, n.provider, first, n.sends,
                         n.victim_submitted, kind,
                         verified_indicator=n.indicator_id is not None and not n.victim_submitted)


def inform_authority(session: Session, notice_id: int, notifier: Notifier,
                     settings: Settings) -> str | None:
    """Pass a notice to its hosting country's authority at classification, for victim
    identification (the ``inform_authority`` job, in its transaction): by its push contact,
    or for its pull API. Idempotent; a notice whose hosting country is unknown is recorded as
    such (nobody to inform). Returns what happened; raises what sending raises (retried)."""
    n = session.get(Notice, notice_id, with_for_update=True)
    if n is None or n.authority_informed_at is not None:
        return None
    t = now()
    if n.hosting_country is None:
        detail = "hosting country unknown: no authority to inform"
        session.add(NoticeEvent(notice_id=n.id, at=t, kind="authority_unknown", detail=detail))
        return detail
    detail = authority.send(notifier, settings, n.hosting_country, _message(n, "identification"))
    n.authority_informed_at = t
    session.add(NoticeEvent(notice_id=n.id, at=t, kind="authority_informed", detail=detail))
    record(session, None, AuditAction.NOTICE_AUTHORITY_INFORMED, subject=str(n.id),
           details={"country": n.hosting_country, "how": detail})
    return detail


def _close(factory: sessionmaker[Session], notice_id: int, at: datetime, why: str) -> Outcome:
    """Stop a notice for good: what it was based on no longer stands."""
    with transaction(factory) as s:
        n = s.get(Notice, notice_id, with_for_update=True)
        if n is not None and n.status == "open":
            n.status = "closed"
            s.add(NoticeEvent(notice_id=n.id, at=at, kind="closed", detail=why))
            record(s, None, AuditAction.NOTICE_CLOSED, subject=str(n.id), details={"why": why})
    return Outcome(notice_id, False, 0, False)


def process_notice(factory: sessionmaker[Session], notice_id: int, *,
                   fetch: Callable[[str], Fetched], notifier: Notifier, settings: Settings,
                   at: datetime | None = None, matcher: CandidateSource | None = None) -> Outcome:
    """Re-check, then send (or confirm removal), then escalate if it is time.

    While the URL's referral to the partner hotline of the hosting country holds it
    (:func:`vigil.takedown.referrals.service.holding_notice`), the re-check runs and the
    escalation may, but the Centre's own notice is not sent.

    A notice that an indicator opened stops (``closed``) when the indicator no longer stands —
    retracted, quarantined, withdrawn by the victim — or when, through the match policy
    (``matcher``), what the URL serves now matches an allow list."""
    at = at or now()
    with factory() as s:
        n = s.get(Notice, notice_id)
        if n is None or n.status != "open":
            return Outcome(notice_id, False, 0, False)
        stored = [(h.signal_type, h.value) for h in s.scalars(
            select(NoticeHash).where(NoticeHash.notice_id == n.id))]
        basis = (s.scalar(select(Indicator.status).where(Indicator.id == n.indicator_id))
                 if n.indicator_id is not None else None)
        hold = referrals.holding_notice(s, n.id, at, settings.referral_hold_hours)
        s.expunge(n)
    if n.indicator_id is not None and basis != IndicatorStatus.ACTIVE:
        return _close(factory, notice_id, at, f"indicator {n.indicator_id} is {basis}: the "
                                              "notice no longer stands")
    events: list[tuple[str, str | None]] = []
    fetched = fetch(n.url)
    removed_by: str | None = None
    baseline: ContentHashes | None = None
    if fetched.gone:
        removed_by = f"gone_{fetched.status}"
    elif fetched.body is not None and fetched.status == 200:
        content = hash_content(fetched.body)
        if matcher is not None and match_items(matcher, [content.item()])[0].verdict is Verdict.ALLOWED:
            return _close(factory, notice_id, at, "what the URL serves matches an allow list "
                                                  "(a benign look-alike)")
        if not stored:
            baseline = content  # first look: this is what the notice is about
            events.append(("baseline", content.kind))
        elif not still_matches(stored, content):
            removed_by = "no_longer_matches"
        else:
            events.append(("recheck_present", None))
    else:
        events.append(("recheck_failed", fetched.error or f"HTTP {fetched.status}"))
    sent = 0
    escalate = False
    if removed_by is None:
        message = _message(n)
        if hold is not None:
            events.append(("held_for_referral",
                           f"{hold.hotline} ({hold.status}) sends the notice in the host's "
                           f"country; this Centre's own follows at "
                           f"{hold.until.isoformat(timespec='minutes')} unless removed"))
        # Held: nobody is written to (the partner hotline of the host's country is).
        channels = () if hold is not None else (("email", n.email), ("webhook", n.webhook))
        for channel, target in channels:
            if not target:
                continue
            try:
                notifier.email(target, message) if channel == "email" else notifier.webhook(target, message)
                events.append((f"sent_{channel}", target))
                sent += 1
            except Exception as exc:  # a failed channel is recorded and retried next time
                events.append(("send_failed", f"{channel}: {type(exc).__name__}: {exc}"[:500]))
        escalate = (n.escalated_at is None and
                    at - _aware(n.opened_at) >= timedelta(hours=settings.notice_escalate_hours))
        if escalate:
            try:
                events.append(("escalated", authority.send(notifier, settings, n.hosting_country,
                                                           _message(n, "escalation"))))
            except Exception as exc:
                escalate = False
                events.append(("send_failed", f"escalation: {type(exc).__name__}: {exc}"[:500]))
    with transaction(factory) as s:
        n2 = s.get(Notice, notice_id, with_for_update=True)
        if n2 is None or n2.status != "open":
            return Outcome(notice_id, False, 0, False)
        if baseline is not None:
            _store_hashes(s, n2, baseline)
        for kind, detail in events:
            s.add(NoticeEvent(notice_id=n2.id, at=at, kind=kind, detail=detail))
        if removed_by is not None:
            n2.status, n2.removed_at, n2.removal_evidence = "removed", at, removed_by
            s.add(NoticeEvent(notice_id=n2.id, at=at, kind="removed", detail=removed_by))
            record(s, None, AuditAction.NOTICE_REMOVED, subject=str(n2.id),
                   details={"evidence": removed_by})
        else:
            if sent:
                n2.sends += 1
                n2.last_sent_at = at
                record(s, None, AuditAction.NOTICE_SENT, subject=str(n2.id),
                       details={"channels": sent, "sends": n2.sends})
            if escalate:
                n2.escalated_at = at
                record(s, None, AuditAction.NOTICE_ESCALATED, subject=str(n2.id),
                       details={"country": n2.hosting_country})
            n2.next_action_at = at + timedelta(hours=settings.notice_resend_hours)
            if hold is not None:  # the Centre's own notice goes out when the hold ends
                n2.next_action_at = min(n2.next_action_at, hold.until)
    return Outcome(notice_id, removed_by is not None, sent, escalate)


def as_json(n: Notice) -> dict[str, object]:
    return {"id": n.id, "url": n.url, "host": n.host, "hosting_country": n.hosting_country,
            "provider": n.provider, "status": n.status, "opened_at": n.opened_at,
            "sends": n.sends, "last_sent_at": n.last_sent_at, "escalated_at": n.escalated_at,
            "authority_informed_at": n.authority_informed_at,
            "removed_at": n.removed_at, "removal_evidence": n.removal_evidence,
            "reupload_of": n.reupload_of, "victim_submitted": n.victim_submitted}


def url_report_json(r: UrlReport) -> dict[str, object]:
    return {"id": r.public_id, "url": r.url, "host": r.host, "source": r.source,
            "created_at": r.created_at, "classification": r.classification,
            "classification_country": r.classification_country, "list": r.list_name,
            "list_trust": r.list_trust, "description": r.description}


def with_referrals(session: Session, actor: Principal,
                   reports: list[UrlReport]) -> list[dict[str, object]]:
    """URL reports as the API shows them (:func:`url_report_json`), each with its URL's
    referral — its status, or why it was not referred — once classified."""
    refs = referral_repository.of_urls(session, actor, [r.url for r in reports if r.classification])
    jobs = referral_repository.delivery_jobs(session, list(refs.values()))
    out = []
    for r in reports:
        ref = refs.get(r.url) if r.classification else None
        out.append({**url_report_json(r), "referral": referrals.as_json(
            ref, jobs.get(ref.job_id or 0)) if ref is not None else None})
    return out


def hashes_json(content: ContentHashes) -> str:
    return json.dumps(content.to_json())
