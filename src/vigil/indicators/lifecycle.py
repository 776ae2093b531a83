"""The indicator lifecycle: its statuses, the one table of what may happen to an indicator, and
the one function that makes it happen.

Every change of an indicator's status — a proposal, the second organisation's verification, a
rejection, a retraction (by a reviewer, or because a complaint was upheld), a quarantine (false
positives reported by several organisations, or the flood guard), a reinstatement, a victim's
submission and withdrawal — is a row of :data:`TRANSITIONS` and goes through
:func:`transition`, which in the caller's transaction

1. checks the row (from which status, onto which kind of list, with which scope, whether the
   two-organisation rule applies, whether a reason is required),
2. sets the status and the fields that go with it,
3. appends the event to the transparency log (a salted commitment, never the hash),
4. writes the list-change feed that providers and every server's index follow (``add`` when
   the indicator starts matching, ``withdraw`` when it stops),
5. records the audit event.

``vigil audit verify`` replays the log with the same table (:mod:`vigil.indicators.log_audit`),
so the rules the service applies and the rules the auditor checks cannot drift apart.
``Indicator.status`` has no setter: nothing outside this module can assign it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid
from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.lifecycle import TransitionTable
from vigil.matching.policy import Trust
from vigil.orgs.access import Principal, Scope
from vigil.translog import repository as log


class IndicatorStatus(StrEnum):
    #: Proposed, waiting for a reviewer of a second organisation.
    PENDING = "pending"
    #: Matching: distributed in snapshots and feeds, in every server's index.
    ACTIVE = "active"
    #: Taken out of matching until a reviewer reinstates or retracts it.
    QUARANTINED = "quarantined"
    REJECTED = "rejected"
    RETRACTED = "retracted"


class IndicatorEvent(StrEnum):
    """What can happen to an indicator; the values are the log's event names."""

    PROPOSED = "indicator:proposed"
    VERIFIED = "indicator:verified"
    REJECTED = "indicator:rejected"
    RETRACTED = "indicator:retracted"
    QUARANTINED = "indicator:quarantined"
    REINSTATED = "indicator:reinstated"
    VICTIM_SUBMITTED = "indicator:victim_submitted"
    WITHDRAWN = "indicator:withdrawn"
    IMPORTED_VERIFIED = "indicator:imported_verified"


class FeedAction(StrEnum):
    ADD = "add"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Transition:
    event: IndicatorEvent
    #: The status it applies to; None: the indicator is created by it.
    source: IndicatorStatus | None
    target: IndicatorStatus
    #: What the list-change feed says (None: the indicator's matching does not change).
    feed: FeedAction | None
    audit: AuditAction
    #: The scope an acting key must hold (an action of the system itself has no key).
    scope: Scope
    #: The kinds of list it may happen on (None: any).
    lists: frozenset[Trust] | None = None
    reason_required: bool = False
    #: The verifier's organisation must differ from the proposer's.
    two_organisations: bool = False


_S, _E, _F, _A = IndicatorStatus, IndicatorEvent, FeedAction, AuditAction
_REVIEWED = frozenset({Trust.VERIFIED, Trust.ALLOW})
_VICTIMS = frozenset({Trust.UNVERIFIED})

#: Every allowed change: (event, from) → to, with its feed action, audit action and rules.
TRANSITIONS: TransitionTable[Transition] = TransitionTable((
    Transition(_E.PROPOSED, None, _S.PENDING, None, _A.INDICATOR_PROPOSED,
               Scope.INDICATORS_PROPOSE, lists=_REVIEWED),
    Transition(_E.VERIFIED, _S.PENDING, _S.ACTIVE, _F.ADD, _A.INDICATOR_VERIFIED,
               Scope.INDICATORS_REVIEW, two_organisations=True),
    Transition(_E.REJECTED, _S.PENDING, _S.REJECTED, None, _A.INDICATOR_REJECTED,
               Scope.INDICATORS_REVIEW, reason_required=True),
    Transition(_E.RETRACTED, _S.PENDING, _S.RETRACTED, None, _A.INDICATOR_RETRACTED,
               Scope.INDICATORS_REVIEW, reason_required=True),
    Transition(_E.RETRACTED, _S.ACTIVE, _S.RETRACTED, _F.WITHDRAW, _A.INDICATOR_RETRACTED,
               Scope.INDICATORS_REVIEW, reason_required=True),
    # A quarantined indicator left the lists already: nothing more to withdraw.
    Transition(_E.RETRACTED, _S.QUARANTINED, _S.RETRACTED, None, _A.INDICATOR_RETRACTED,
               Scope.INDICATORS_REVIEW, reason_required=True),
    # By false-positive feedback (the provider whose report tipped it) or the flood guard.
    Transition(_E.QUARANTINED, _S.ACTIVE, _S.QUARANTINED, _F.WITHDRAW, _A.INDICATOR_QUARANTINED,
               Scope.MATCH, reason_required=True),
    Transition(_E.REINSTATED, _S.QUARANTINED, _S.ACTIVE, _F.ADD, _A.INDICATOR_REINSTATED,
               Scope.INDICATORS_REVIEW, reason_required=True),
    # A victim's own hash: active at once, and only on an unverified list, whose hits are a
    # reason for review, never for action (vigil.matching.policy).
    Transition(_E.VICTIM_SUBMITTED, None, _S.ACTIVE, _F.ADD, _A.INDICATOR_VICTIM_SUBMITTED,
               Scope.INDICATORS_PROPOSE, lists=_VICTIMS),
    Transition(_E.WITHDRAWN, _S.ACTIVE, _S.RETRACTED, _F.WITHDRAW, _A.INDICATOR_WITHDRAWN,
               Scope.INDICATORS_PROPOSE, lists=_VICTIMS),
    # Imported from a partner centre whose registered agreement counts the origin's
    # verification: two organisations confirmed it there (the origin's signed list is a
    # verified one), so it is active at once, and only onto a verified list. The leaf names the
    # origin (vigil.federation, decision 0021); every other import is PROPOSED (pending) and
    # waits for a local reviewer of another organisation than the partner.
    Transition(_E.IMPORTED_VERIFIED, None, _S.ACTIVE, _F.ADD, _A.INDICATOR_IMPORTED_VERIFIED,
               Scope.INDICATORS_PROPOSE, lists=frozenset({Trust.VERIFIED})),
    # Withdrawn while quarantined: gone for good, so no reviewer can reinstate it.
    Transition(_E.WITHDRAWN, _S.QUARANTINED, _S.RETRACTED, None, _A.INDICATOR_WITHDRAWN,
               Scope.INDICATORS_PROPOSE, lists=_VICTIMS),
))


def commitment(salt: str, signal_type: str, value: str) -> str:
    """What the log holds instead of the hash: an auditor with the salt can open it."""
    data = b"\0".join([b"vigil-commitment-v1", bytes.fromhex(salt), signal_type.encode(),
                       value.encode()])
    return hashlib.sha256(data).hexdigest()


def label_commitment(salt: str, label: str | None) -> str:
    """What the log holds instead of the label, opened like :func:`commitment`. A label can
    name a series or a case, and the log is read more widely (``log:read``) than the lists that
    carry labels (``lists:download``) and can never forget: so the log commits to it instead
    of spelling it out. ``None`` (no label) is committed to as well, so that adding one shows."""
    data = b"\0".join([b"vigil-label-v1", bytes.fromhex(salt), json.dumps(label).encode()])
    return hashlib.sha256(data).hexdigest()


#: The statuses that record who decided (``decided_by_org``): the organisation whose event
#: made the indicator active or rejected it. The audit replays the same rule from the log.
DECIDING = frozenset({IndicatorStatus.ACTIVE, IndicatorStatus.REJECTED})


def leaf(event: str, ind: Indicator, actor: Principal | None, **extra: object) -> dict[str, Any]:
    """The log leaf of an indicator event. ``org`` is the acting organisation (the replay
    derives ``decided_by_org`` from it) and ``key`` the acting key (a reviewing key works only
    once a second party approved it, which the replay checks too); ``label_commitment`` and
    ``key`` were added later: leaves without them are not compared."""
    return {"event": event, "indicator": ind.id, "list": ind.hash_list.name,
            "signal_type": ind.signal_type,
            "commitment": commitment(ind.salt, ind.signal_type, ind.value),
            "label_commitment": label_commitment(ind.salt, ind.label),
            "status": ind.status, "org": actor.organisation_id if actor else None,
            "key": actor.key_id if actor else None, "at": now().isoformat(), **extra}


def create(session: Session, event: IndicatorEvent, actor: Principal, hash_list: HashList, *,
           signal_type: str, value: str, legal_basis: str, label: str | None = None,
           source: str | None = None, log_extra: dict[str, object] | None = None) -> Indicator:
    """A new indicator, by ``event`` (a proposal, a victim's submission, an import from a
    partner centre). ``value`` must be normalised already
    (:func:`vigil.indicators.service.normalise`); ``log_extra`` is added to its log leaf."""
    ind = Indicator(list_id=hash_list.id, hash_list=hash_list, signal_type=signal_type,
                    value=value, salt=secrets.token_hex(16), label=label,
                    legal_basis=legal_basis, source=source,
                    proposed_by_org=actor.organisation_id, proposed_by_key=actor.key_id,
                    proposer=actor.holder, proposed_at=now())
    return transition(session, ind, event, actor, new=True, log_extra=log_extra)


def transition(session: Session, ind: Indicator, event: IndicatorEvent, actor: Principal | None,
               *, reason: str | None = None, new: bool = False,
               log_extra: dict[str, object] | None = None,
               audit_details: dict[str, object] | None = None) -> Indicator:
    """Perform ``event`` on ``ind`` in the caller's transaction (the module's docstring has the
    steps). Raises :class:`~vigil.errors.Conflict` when the table does not allow it from the
    indicator's status or on its list, :class:`~vigil.errors.Forbidden` when the actor lacks
    the row's scope, :class:`~vigil.errors.Invalid` when a required reason is missing."""
    source = None if new else IndicatorStatus(ind.status)
    row = TRANSITIONS.require(event, source, f"indicator {ind.id}", indicator_id=ind.id)
    if actor is not None:
        actor.require(row.scope)
    trust = Trust(ind.hash_list.trust)
    if row.lists is not None and trust not in row.lists:
        article = "an" if trust.value[0] in "aeiou" else "a"
        raise Conflict(f"{event.value.split(':')[1]} is not possible on list "
                       f"{ind.hash_list.name!r} ({article} {trust.value} list)")
    text = (reason or "").strip()
    if row.reason_required and not text:
        raise Invalid(f"a reason is required to {_verb(event)} an indicator")
    if row.two_organisations and actor is not None and (
            ind.proposed_by_key == actor.key_id or ind.proposed_by_org == actor.organisation_id):
        raise Conflict("two-organisation rule: an indicator must be verified by a reviewer of a "
                       "different organisation than the one that proposed it",
                       indicator_id=ind.id)
    t = now()
    ind._status = row.target.value
    if row.target in DECIDING:
        ind.decided_by_org = actor.organisation_id if actor else None
        ind.decided_by_key = actor.key_id if actor else None
        ind.decided_at = t
    if row.target is IndicatorStatus.REJECTED:
        ind.retract_reason = text
    if row.target is IndicatorStatus.RETRACTED:
        ind.retracted_at, ind.retract_reason = t, text
    if new:
        session.add(ind)
    session.flush()
    log.append(session, leaf(event.value, ind, actor, **(log_extra or {})))
    if row.feed is not None:
        session.add(ListChange(list_id=ind.list_id, indicator_id=ind.id, action=row.feed.value,
                               at=t))
    details = dict(audit_details or {})
    if text and row.reason_required:
        details.setdefault("reason", text[:500])
    record(session, actor, row.audit, subject=str(ind.id), details=details or None)
    return ind


def _verb(event: IndicatorEvent) -> str:
    return {IndicatorEvent.REJECTED: "reject", IndicatorEvent.RETRACTED: "retract",
            IndicatorEvent.QUARANTINED: "quarantine",
            IndicatorEvent.REINSTATED: "reinstate"}.get(event, event.value.split(":")[1])
