"""A referral's lifecycle: its statuses, the one table of allowed changes, and the one function
that makes a change (status, timestamps, audit record, in the caller's transaction).

::

    (new) ──no_partner──► not_referred
    (new) ──created──► pending ──acknowledged──► acknowledged ──assessed──► assessed
                          │                        │ │ └──declined──► declined        │
                          │                        │ └────removed───► removed ◄───────┤
                          └──closed──► closed ◄────┴──────closed──────────────────────┘

*pending*: waiting for its delivery job (retried with back-off; the job's attempts and last
error show how it goes). *acknowledged*: the partner took it (a partner vigil answered with its
id; a webhook receiver answered 2xx). *assessed*: the partner's analyst confirmed it and its
notice to the host is out. *removed*: the partner reports the content gone. *declined*: the
partner found it not illegal under its law. *closed*: stopped otherwise (the partner's notice
was withdrawn, or the hotline was removed from the registry before delivery).
*not_referred*: no partner hotline for the hosting country (or the country is unknown, or the
URL came to us as a referral): recorded so that the analyst sees why.

``Referral.status`` has no setter: nothing outside this module can assign it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.lifecycle import TransitionTable
from vigil.orgs.access import Principal
from vigil.takedown.models import Notice
from vigil.takedown.referrals.models import Referral


class ReferralStatus(StrEnum):
    NOT_REFERRED = "not_referred"
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    ASSESSED = "assessed"
    REMOVED = "removed"
    DECLINED = "declined"
    CLOSED = "closed"


class ReferralEvent(StrEnum):
    NO_PARTNER = "no_partner"
    CREATED = "created"
    ACKNOWLEDGED = "acknowledged"
    ASSESSED = "assessed"
    REMOVED = "removed"
    DECLINED = "declined"
    CLOSED = "closed"


@dataclass(frozen=True)
class Transition:
    event: ReferralEvent
    source: ReferralStatus | None
    target: ReferralStatus
    audit: AuditAction


_S, _E, _A = ReferralStatus, ReferralEvent, AuditAction
TRANSITIONS: TransitionTable[Transition] = TransitionTable((
    Transition(_E.NO_PARTNER, None, _S.NOT_REFERRED, _A.REFERRAL_NOT_REFERRED),
    Transition(_E.CREATED, None, _S.PENDING, _A.REFERRAL_CREATED),
    Transition(_E.ACKNOWLEDGED, _S.PENDING, _S.ACKNOWLEDGED, _A.REFERRAL_ACKNOWLEDGED),
    Transition(_E.ASSESSED, _S.ACKNOWLEDGED, _S.ASSESSED, _A.REFERRAL_ASSESSED),
    Transition(_E.DECLINED, _S.ACKNOWLEDGED, _S.DECLINED, _A.REFERRAL_DECLINED),
    Transition(_E.REMOVED, _S.ACKNOWLEDGED, _S.REMOVED, _A.REFERRAL_REMOVED),
    Transition(_E.REMOVED, _S.ASSESSED, _S.REMOVED, _A.REFERRAL_REMOVED),
    Transition(_E.CLOSED, _S.PENDING, _S.CLOSED, _A.REFERRAL_CLOSED),
    Transition(_E.CLOSED, _S.ACKNOWLEDGED, _S.CLOSED, _A.REFERRAL_CLOSED),
    Transition(_E.CLOSED, _S.ASSESSED, _S.CLOSED, _A.REFERRAL_CLOSED),
))

#: Statuses after which nothing more happens (no delivery, no polling).
FINAL = frozenset({_S.NOT_REFERRED, _S.REMOVED, _S.DECLINED, _S.CLOSED})
#: Statuses in which the partner is asked (or tells) how the referral goes.
FOLLOWED = frozenset({_S.ACKNOWLEDGED, _S.ASSESSED})
#: Statuses in which the referral holds this Centre's own notice to the host (the partner
#: hotline of the host's country sends it): on its way, or in the partner's hands.
HOLDS_NOTICE = frozenset({_S.PENDING, *FOLLOWED})


def release_notice(session: Session, referral: Referral) -> None:
    """The referral no longer holds its notice (it left :data:`HOLDS_NOTICE`, or its hotline was
    removed): the notice is due now, so that the Centre's own notice goes out (or the re-check
    confirms a removal) at the worker's next look rather than at the next scheduled one."""
    if referral.notice_id is not None:
        session.execute(update(Notice).where(Notice.id == referral.notice_id,
                                             Notice.status == "open")
                        .values(next_action_at=now()))


def allowed(referral: Referral, event: ReferralEvent) -> bool:
    """Whether the table allows ``event`` from the referral's status."""
    return TRANSITIONS.find(event, ReferralStatus(referral.status)) is not None


def create(session: Session, event: ReferralEvent, actor: Principal | None, *,
           url_report_id: int, url: str, notice_id: int | None, country: str | None,
           hotline_id: int | None = None, hotline_name: str | None = None,
           kind: str | None = None, reason: str | None = None) -> Referral:
    """A new referral, by ``event`` (``created`` or ``no_partner``), added and flushed; its
    audit record in the same transaction."""
    row = TRANSITIONS.require(event, None, "a referral")
    t = now()
    referral = Referral(public_id=str(uuid.uuid4()), url_report_id=url_report_id, url=url,
                        notice_id=notice_id, country=country, hotline_id=hotline_id,
                        hotline_name=hotline_name, kind=kind, reason=reason,
                        _status=row.target.value, created_at=t, updated_at=t)
    session.add(referral)
    session.flush()
    record(session, actor, row.audit, subject=referral.public_id,
           details={"country": country, "hotline": hotline_name, "reason": reason})
    return referral


def transition(session: Session, referral: Referral, event: ReferralEvent,
               actor: Principal | None, *, reason: str | None = None,
               details: dict[str, object] | None = None) -> Referral:
    """Perform ``event`` (raises :class:`~vigil.errors.Conflict` when the table does not allow
    it from the referral's status); records the row's audit event in the same transaction."""
    source = ReferralStatus(referral.status)
    row = TRANSITIONS.require(event, source, f"referral {referral.public_id}")
    t = now()
    referral._status = row.target.value
    referral.updated_at = t
    if reason is not None:
        referral.reason = reason
    if row.target is ReferralStatus.ACKNOWLEDGED:
        referral.acknowledged_at = t
    elif row.target is ReferralStatus.REMOVED:
        referral.removed_at = t
    record(session, actor, row.audit, subject=referral.public_id,
           details={"from": source.value, **(details or {})})
    if source in HOLDS_NOTICE and row.target not in HOLDS_NOTICE:
        release_notice(session, referral)
    return referral
