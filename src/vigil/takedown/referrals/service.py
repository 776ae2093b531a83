"""The referring side: a URL classified illegal is referred to its hosting country's partner
hotline (or recorded as not referred, with the reason), delivered by a job, and followed until
the partner reports it removed, declined or closed.

* **Created** in the classification's transaction (:func:`refer`), with its delivery job (the
  outbox): it exists exactly when the classification does.
* **Delivered** by the worker (``refer_url``, :func:`deliver`): a partner vigil answers with its
  id, a webhook receiver with 2xx; either is the acknowledgement. A failure raises, and the job
  is retried with back-off; its attempts and last error are shown with the referral.
* **Followed**: a partner vigil is *polled* (:func:`poll`, periodic ``takedown:referrals``);
  a webhook partner *posts* its status changes back, signed with its secret
  (:func:`webhook_update`). Decision 0022 says why.

Each change of status goes through :mod:`.lifecycle`. Network work happens outside any
transaction except the delivery job's own, which commits the acknowledgement with the job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.clock import now
from vigil.db import transaction
from vigil.errors import Invalid, NotAuthenticated, NotFound
from vigil.jobs.models import Job
from vigil.jobs.queue import enqueue, error_summary
from vigil.orgs.access import Principal
from vigil.takedown.models import Notice, UrlReport
from vigil.takedown.referrals import lifecycle
from vigil.takedown.referrals.hotlines import for_country
from vigil.takedown.referrals.lifecycle import (
    FINAL,
    FOLLOWED,
    HOLDS_NOTICE,
    ReferralEvent,
    ReferralStatus,
)
from vigil.takedown.referrals.models import PartnerHotline, Referral
from vigil.takedown.referrals.partners import (
    WIRE_STATUSES,
    Endpoint,
    PartnerFailed,
    Partners,
    ReferralMessage,
)
from vigil.webhooks import key_bytes, verify_standard

#: The job that delivers a referral.
DELIVER = "refer_url"
#: A partner's word → the event it means here ("received" is the acknowledgement itself).
_EVENTS = {"assessed": ReferralEvent.ASSESSED, "removed": ReferralEvent.REMOVED,
           "declined": ReferralEvent.DECLINED, "closed": ReferralEvent.CLOSED}


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Hold:
    """A referral holding this Centre's own notice: to whom, in which status, until when."""

    hotline: str
    status: str
    until: datetime


def holding_notice(session: Session, notice_id: int, at: datetime, hours: float) -> Hold | None:
    """The referral that holds the Centre's own notice ``notice_id`` to the host at ``at``: one
    to the hosting country's partner hotline still on its way or in the partner's hands
    (pending, acknowledged, assessed), made less than ``hours`` ago — the hotline in the
    host's country sends the notice there. None: the Centre sends its own (no referral, the
    partner declined, it closed or reports the content removed — the re-check decides —, or
    the hold is over)."""
    if hours <= 0:
        return None
    ref = session.scalar(select(Referral).where(
        Referral.notice_id == notice_id, Referral.hotline_id.is_not(None),
        Referral.status.in_([s.value for s in HOLDS_NOTICE]))
        .order_by(Referral.id.desc()).limit(1))
    if ref is None:
        return None
    until = _aware(ref.created_at) + timedelta(hours=hours)
    if _aware(at) >= until:
        return None
    return Hold(ref.hotline_name or "the partner hotline", ref.status, until)


def refer(session: Session, report: UrlReport, notice: Notice | None,
          actor: Principal | None) -> Referral:
    """In the classification's transaction: refer ``report``'s URL (classified illegal) to the
    partner hotline of its hosting country (``notice.hosting_country``), queueing the delivery;
    or record why not — no partner hotline for the country, the country unknown, or the URL
    came to us as a referral (never referred on: no loops between hotlines). A URL with a
    referral still under way keeps that one."""
    held = session.scalar(select(Referral).where(
        Referral.url == report.url,
        Referral.status.not_in([s.value for s in FINAL])).order_by(Referral.id.desc()).limit(1))
    if held is not None:
        return held
    country = notice.hosting_country if notice is not None else None
    notice_id = notice.id if notice is not None else None

    def unreferred(reason: str) -> Referral:
        return lifecycle.create(session, ReferralEvent.NO_PARTNER, actor,
                                url_report_id=report.id, url=report.url, notice_id=notice_id,
                                country=country, reason=reason)

    if report.source == "referral":
        return unreferred("referred to us by a partner hotline: not referred on")
    if country is None:
        return unreferred("hosting country unknown")
    hotline = for_country(session, country)
    if hotline is None:
        return unreferred(f"no partner hotline for {country}")
    referral = lifecycle.create(session, ReferralEvent.CREATED, actor, url_report_id=report.id,
                                url=report.url, notice_id=notice_id, country=country,
                                hotline_id=hotline.id, hotline_name=hotline.name,
                                kind=hotline.kind)
    job = enqueue(session, DELIVER, {"referral_id": referral.id})
    session.flush()
    referral.job_id = job.id
    return referral


def _endpoint(h: PartnerHotline) -> Endpoint:
    return Endpoint(h.kind, h.url, h.secret, h.name)


def deliver(session: Session, referral_id: int, partners: Partners) -> Referral | None:
    """The delivery job's work, in its transaction: send a pending referral; on the partner's
    acknowledgement, ``acknowledged`` (with the partner's id). Idempotent: a referral no
    longer pending is left alone. A referral whose hotline was removed meanwhile is closed.
    Raises :class:`PartnerFailed` (the job retries)."""
    referral = session.get(Referral, referral_id, with_for_update=True)
    if referral is None or referral.status != ReferralStatus.PENDING:
        return referral
    hotline = session.get(PartnerHotline, referral.hotline_id) if referral.hotline_id else None
    if hotline is None:
        return lifecycle.transition(session, referral, ReferralEvent.CLOSED, None,
                                    reason="the partner hotline was removed before delivery")
    report = session.get(UrlReport, referral.url_report_id)
    assert report is not None
    message = ReferralMessage(
        reference=referral.public_id, url=referral.url,
        classification=report.classification or "illegal_international",
        classification_country=report.classification_country,
        hosting_country=referral.country,
        classified_at=_aware(report.classified_at).isoformat() if report.classified_at else None)
    receipt = partners.refer(_endpoint(hotline), message)
    referral.remote_id = receipt.remote_id
    lifecycle.transition(session, referral, ReferralEvent.ACKNOWLEDGED, None,
                         details={"remote_id": receipt.remote_id})
    _apply(session, referral, receipt.status)
    return referral


def _apply(session: Session, referral: Referral, word: str, detail: str | None = None) -> bool:
    """Move ``referral`` as the partner's status ``word`` says; a repeat, or a step back the
    table does not allow, changes nothing. Returns whether it changed."""
    event = _EVENTS.get(word)
    if event is None or not lifecycle.allowed(referral, event):
        return False
    lifecycle.transition(session, referral, event, None, reason=detail,
                         details={"partner_status": word})
    return True


@dataclass(frozen=True)
class Polled:
    referral_id: int
    status: str
    changed: bool
    error: str | None = None


def poll(factory: sessionmaker[Session], partners: Partners, *, limit: int = 200,
         at: datetime | None = None) -> list[Polled]:
    """Ask the partner vigils how their referrals go (those acknowledged or assessed, least
    recently asked first); each answer is written in a transaction of its own, a failure as the
    referral's ``poll_error`` (shown with it, asked again next time)."""
    at = at or now()
    with factory() as s:
        rows = s.execute(select(Referral.id, Referral.remote_id, PartnerHotline).join(
            PartnerHotline, PartnerHotline.id == Referral.hotline_id).where(
            Referral.status.in_([st.value for st in FOLLOWED]), Referral.kind == "vigil",
            Referral.remote_id.is_not(None))
            .order_by(Referral.last_polled_at.is_not(None), Referral.last_polled_at, Referral.id)
            .limit(limit)).all()
        work = [(rid, remote, _endpoint(h)) for rid, remote, h in rows]
    out = []
    for referral_id, remote_id, endpoint in work:
        word: str | None = None
        error: str | None = None
        try:
            word = partners.status(endpoint, str(remote_id))
        except PartnerFailed as exc:
            error = exc.message
        with transaction(factory) as s:
            referral = s.get(Referral, referral_id, with_for_update=True)
            if referral is None:
                continue
            referral.last_polled_at, referral.poll_error = at, error
            changed = word is not None and _apply(s, referral, word)
            out.append(Polled(referral_id, referral.status, changed, error))
    return out


#: The largest status update a webhook partner may post (bytes; checked before parsing, by
#: the app's body limit as well).
MAX_UPDATE_BYTES = 16 * 1024


def webhook_update(session: Session, public_id: str, headers: Mapping[str, str],
                   body: bytes) -> Referral:
    """A webhook partner's status update for referral ``public_id``: ``{"id": public_id (the
    ``reference`` of the ``referral:new`` it received), "status": one of received, assessed,
    removed, declined, closed, "detail": optional text}``, signed with the Standard Webhooks
    headers and the hotline's own secret (as this Centre signs what it sends it). The
    signature covers the body, not the path: the ``id`` inside it is what binds the update
    to this referral, so that an update signed for one referral cannot be replayed against
    another of the same hotline. Raises NotFound (no such referral to a webhook partner),
    NotAuthenticated (the signature does not verify, or is older than five minutes), Invalid
    (not that JSON, or its ``id`` is missing or another referral's)."""
    if len(body) > MAX_UPDATE_BYTES:
        raise Invalid(f"a status update is at most {MAX_UPDATE_BYTES} bytes")
    referral = session.scalar(select(Referral).where(Referral.public_id == public_id)
                              .with_for_update())
    hotline = (session.get(PartnerHotline, referral.hotline_id)
               if referral is not None and referral.hotline_id is not None else None)
    if referral is None or hotline is None or referral.kind != "webhook":
        raise NotFound(f"no referral {public_id} to a webhook partner")
    lowered = {k.lower(): v for k, v in headers.items()}
    if not verify_standard(key_bytes(hotline.secret), lowered, body):
        raise NotAuthenticated("the status update's signature does not verify with this "
                               "hotline's secret (or is older than five minutes)")
    try:
        update = json.loads(body)
    except ValueError:
        raise Invalid("a status update is a JSON object") from None
    if not isinstance(update, dict):
        raise Invalid("a status update is a JSON object")
    if "id" not in update:
        raise Invalid(f'a status update names its referral in the signed body: "id" '
                      f"({public_id}) is missing")
    if update["id"] != public_id:
        raise Invalid(f'the status update\'s "id" {str(update["id"])[:64]!r} is not the '
                      f"referral in the path ({public_id}): an update signed for one "
                      "referral is not applied to another")
    word, detail = update.get("status"), update.get("detail")
    if word not in WIRE_STATUSES:
        raise Invalid(f"status must be one of {', '.join(WIRE_STATUSES)}")
    if detail is not None and (not isinstance(detail, str) or len(detail) > 1000):
        raise Invalid("detail is text of at most 1000 characters")
    if referral.status in FOLLOWED:
        _apply(session, referral, str(word), detail)
    return referral


def as_json(r: Referral, job: Job | None = None) -> dict[str, object]:
    """A referral as the API shows it; ``job``: its delivery job (while pending)."""
    delivery = None
    if job is not None and r.status == ReferralStatus.PENDING:
        delivery = {"job": job.id, "state": job.status, "attempts": job.attempts,
                    "last_error": error_summary(job.last_error) or None,
                    "next_attempt_at": job.run_after if job.status == "queued" else None}
    return {"id": r.public_id, "url": r.url, "status": r.status, "country": r.country,
            "hotline": r.hotline_name, "kind": r.kind, "reason": r.reason,
            "remote_id": r.remote_id, "created_at": r.created_at, "updated_at": r.updated_at,
            "acknowledged_at": r.acknowledged_at, "removed_at": r.removed_at,
            "last_polled_at": r.last_polled_at, "poll_error": r.poll_error,
            "delivery": delivery}
