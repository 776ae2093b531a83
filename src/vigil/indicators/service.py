"""The known-material database: lists and indicators.

Rules this module enforces (and nothing else may bypass):

* an indicator enters as *pending*, with its provenance;
* it becomes *active* only when a reviewer of a **different organisation** verifies it — the
  proposer's own organisation cannot, and neither can the proposer;
* reject (pending → rejected) and retract (active or pending → retracted, reason required);
* every event is a leaf of the transparency log, appended in the same transaction as the
  change, holding a salted commitment to the hash — never the hash itself;
* activations and withdrawals are written to the list-change feed that providers and every
  server worker follow. Services never commit: the caller's transaction does, once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid, NotFound
from vigil.indicators.models import HashList, Indicator, ListChange
from vigil.matching.errors import InvalidSignal
from vigil.matching.index import MAX_THRESHOLD
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, SignalType, VpdqHash, parse_signal
from vigil.orgs.access import Principal, Scope
from vigil.translog import repository as log

PENDING, ACTIVE, REJECTED, RETRACTED = "pending", "active", "rejected", "retracted"
LIST_KINDS = ("block", "allow")


def commitment(salt: str, signal_type: str, value: str) -> str:
    """What the log holds instead of the hash: an auditor with the salt can open it."""
    data = b"\0".join([b"vigil-commitment-v1", bytes.fromhex(salt), signal_type.encode(),
                       value.encode()])
    return hashlib.sha256(data).hexdigest()


# -- lists ------------------------------------------------------------------------------------

def create_list(session: Session, actor: Principal | None, name: str, kind: str = "block",
                pdq_threshold: int = PDQ_DEFAULT_THRESHOLD, description: str = "") -> HashList:
    if actor is not None:
        actor.require(Scope.LISTS_MANAGE)
    if kind not in LIST_KINDS:
        raise Invalid(f"list kind must be one of {', '.join(LIST_KINDS)}, got {kind!r}")
    if not 0 <= pdq_threshold <= MAX_THRESHOLD:
        raise Invalid(f"pdq_threshold must be between 0 and {MAX_THRESHOLD}")
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise Invalid("list name: 1-64 letters, digits, '-' or '_'")
    if session.scalar(select(HashList).where(HashList.name == name)):
        raise Conflict(f"a list named {name!r} exists already")
    hl = HashList(name=name, kind=kind, pdq_threshold=pdq_threshold, description=description,
                  created_at=now())
    session.add(hl)
    session.flush()
    log.append(session, {"event": "list:created", "list": name, "kind": kind,
                         "pdq_threshold": pdq_threshold, "at": hl.created_at.isoformat()})
    record(session, actor, AuditAction.LIST_CREATED, subject=name)
    return hl


def update_list(session: Session, actor: Principal, name: str, pdq_threshold: int) -> HashList:
    actor.require(Scope.LISTS_MANAGE)
    hl = get_list(session, name)
    if not 0 <= pdq_threshold <= MAX_THRESHOLD:
        raise Invalid(f"pdq_threshold must be between 0 and {MAX_THRESHOLD}")
    hl.pdq_threshold = pdq_threshold
    log.append(session, {"event": "list:updated", "list": name, "pdq_threshold": pdq_threshold,
                         "at": now().isoformat()})
    record(session, actor, AuditAction.LIST_UPDATED, subject=name,
           details={"pdq_threshold": pdq_threshold})
    return hl


def get_list(session: Session, name: str) -> HashList:
    hl = session.scalar(select(HashList).where(HashList.name == name))
    if hl is None:
        raise NotFound(f"no list named {name!r}")
    return hl


def all_lists(session: Session) -> list[HashList]:
    return list(session.scalars(select(HashList).order_by(HashList.id)))


# -- indicators -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Proposal:
    signal_type: str
    value: str
    list: str
    legal_basis: str
    label: str | None = None
    source: str | None = None


def normalise(signal_type: str, value: str) -> tuple[str, str]:
    """Validate and normalise a hash; raises :class:`Invalid` naming the problem."""
    try:
        signal = parse_signal(signal_type, value)
    except InvalidSignal as exc:
        raise Invalid(exc.message) from None
    st = SignalType.parse(signal_type)
    text = signal.to_str() if isinstance(signal, VpdqHash) else signal.hex
    return st.value, text


def _leaf(event: str, ind: Indicator, actor: Principal, **extra: object) -> dict[str, object]:
    return {"event": event, "indicator": ind.id, "list": ind.hash_list.name,
            "signal_type": ind.signal_type,
            "commitment": commitment(ind.salt, ind.signal_type, ind.value),
            "status": ind.status, "org": actor.organisation_id, "at": now().isoformat(),
            **extra}


def propose(session: Session, actor: Principal, proposals: list[Proposal]) -> list[Indicator]:
    """Propose indicators (all or none): each enters as pending."""
    actor.require(Scope.INDICATORS_PROPOSE)
    errors = []
    prepared = []
    lists: dict[str, HashList] = {}
    for i, p in enumerate(proposals):
        try:
            st, value = normalise(p.signal_type, p.value)
            if p.list not in lists:
                lists[p.list] = get_list(session, p.list)
            if not p.legal_basis or not p.legal_basis.strip():
                raise Invalid("legal_basis is required")
            prepared.append((st, value, lists[p.list], p))
        except (Invalid, NotFound) as exc:
            errors.append({"index": i, "error": exc.message})
    if errors:
        raise Invalid(f"{len(errors)} of {len(proposals)} proposals are invalid", items=errors)
    out = []
    for st, value, hl, p in prepared:
        existing = session.scalar(select(Indicator).where(
            Indicator.list_id == hl.id, Indicator.signal_type == st, Indicator.value == value,
            Indicator.status.in_([PENDING, ACTIVE])))
        if existing is not None:
            raise Conflict(f"this {st} hash is already {existing.status} on list {hl.name!r} "
                           f"(indicator {existing.id})", indicator_id=existing.id)
        ind = Indicator(list_id=hl.id, hash_list=hl, signal_type=st, value=value,
                        salt=secrets.token_hex(16), status=PENDING, label=p.label,
                        legal_basis=p.legal_basis.strip(), source=p.source,
                        proposed_by_org=actor.organisation_id, proposed_by_key=actor.key_id,
                        proposer=actor.holder, proposed_at=now())
        session.add(ind)
        session.flush()
        log.append(session, _leaf("indicator:proposed", ind, actor))
        record(session, actor, AuditAction.INDICATOR_PROPOSED, subject=str(ind.id),
               details={"list": hl.name, "signal_type": st})
        out.append(ind)
    return out


def get_indicator(session: Session, indicator_id: int, *, for_update: bool = False) -> Indicator:
    ind = session.get(Indicator, indicator_id, with_for_update=for_update)
    if ind is None:
        raise NotFound(f"no indicator {indicator_id}")
    return ind


def verify(session: Session, actor: Principal, indicator_id: int) -> Indicator:
    actor.require(Scope.INDICATORS_REVIEW)
    ind = get_indicator(session, indicator_id, for_update=True)
    if ind.status != PENDING:
        raise Conflict(f"indicator {ind.id} is {ind.status}, not pending")
    if ind.proposed_by_key == actor.key_id or ind.proposed_by_org == actor.organisation_id:
        raise Conflict(
            "two-organisation rule: an indicator must be verified by a reviewer of a "
            "different organisation than the one that proposed it", indicator_id=ind.id)
    ind.status = ACTIVE
    ind.decided_by_org, ind.decided_by_key, ind.decided_at = actor.organisation_id, actor.key_id, now()
    log.append(session, _leaf("indicator:verified", ind, actor))
    session.add(ListChange(list_id=ind.list_id, indicator_id=ind.id, action="add", at=now()))
    record(session, actor, AuditAction.INDICATOR_VERIFIED, subject=str(ind.id))
    return ind


def reject(session: Session, actor: Principal, indicator_id: int, reason: str) -> Indicator:
    actor.require(Scope.INDICATORS_REVIEW)
    ind = get_indicator(session, indicator_id, for_update=True)
    if ind.status != PENDING:
        raise Conflict(f"indicator {ind.id} is {ind.status}, not pending")
    if not reason or not reason.strip():
        raise Invalid("a reason is required to reject")
    ind.status = REJECTED
    ind.decided_by_org, ind.decided_by_key, ind.decided_at = actor.organisation_id, actor.key_id, now()
    ind.retract_reason = reason.strip()
    log.append(session, _leaf("indicator:rejected", ind, actor))
    record(session, actor, AuditAction.INDICATOR_REJECTED, subject=str(ind.id))
    return ind


def retract(session: Session, actor: Principal, indicator_id: int, reason: str) -> Indicator:
    actor.require(Scope.INDICATORS_REVIEW)
    if not reason or not reason.strip():
        raise Invalid("a reason is required to retract an indicator")
    ind = get_indicator(session, indicator_id, for_update=True)
    if ind.status not in (PENDING, ACTIVE, "quarantined"):
        raise Conflict(f"indicator {ind.id} is {ind.status}; only pending, active or "
                       "quarantined ones can be retracted")
    was_active = ind.status == ACTIVE  # a quarantined one has left the lists already
    ind.status = RETRACTED
    ind.retracted_at = now()
    ind.retract_reason = reason.strip()
    log.append(session, _leaf("indicator:retracted", ind, actor))
    if was_active:
        session.add(ListChange(list_id=ind.list_id, indicator_id=ind.id, action="withdraw",
                               at=now()))
    record(session, actor, AuditAction.INDICATOR_RETRACTED, subject=str(ind.id))
    return ind


def list_indicators(session: Session, actor: Principal, status: str | None = None,
                    list_name: str | None = None, limit: int = 100,
                    after_id: int = 0) -> list[Indicator]:
    actor.require(Scope.INDICATORS_READ)
    q = select(Indicator).where(Indicator.id > after_id).order_by(Indicator.id).limit(limit)
    if status:
        q = q.where(Indicator.status == status)
    if list_name:
        q = q.where(Indicator.list_id == get_list(session, list_name).id)
    return list(session.scalars(q))

