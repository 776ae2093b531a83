"""The known-material database: lists and indicators.

Rules this module enforces (and nothing else may bypass):

* a list's trust (verified, unverified, allow) is fixed when it is created;
* an indicator enters as *pending*, with its provenance, and becomes *active* only when a
  reviewer of a **different organisation** verifies it; reject, retract (reason required);
* every status change goes through :mod:`vigil.indicators.lifecycle` — one table, one function
  that writes the status, the log leaf (a salted commitment, never the hash), the list-change
  feed and the audit record in the caller's transaction. Services never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid, NotFound
from vigil.indicators.lifecycle import IndicatorEvent, IndicatorStatus, commitment, create, transition
from vigil.indicators.models import HashList, Indicator
from vigil.matching.errors import InvalidSignal
from vigil.matching.policy import Trust
from vigil.matching.signals import PDQ_DEFAULT_THRESHOLD, PDQ_MAX_LIST_THRESHOLD, SignalType, VpdqHash, parse_signal
from vigil.orgs.access import Principal, Scope
from vigil.translog import repository as log

__all__ = ["Proposal", "all_lists", "commitment", "create_list", "get_indicator", "get_list",
           "list_indicators", "normalise", "propose", "reject", "retract", "update_list",
           "verify"]

#: Statuses an indicator is "on the list" in (a second proposal of the same hash is refused).
LISTED = (IndicatorStatus.PENDING, IndicatorStatus.ACTIVE, IndicatorStatus.QUARANTINED)


# -- lists ------------------------------------------------------------------------------------

def create_list(session: Session, actor: Principal | None, name: str,
                trust: Trust | str = Trust.VERIFIED, pdq_threshold: int = PDQ_DEFAULT_THRESHOLD,
                description: str = "", *, robust: bool = False) -> HashList:
    """A new list. ``trust``: verified (entries need two organisations), unverified (victims'
    own hashes: hits are reviewed before any action), allow (benign look-alikes). ``robust``:
    whether a query's robust variants may hit it (opt-in)."""
    if actor is not None:
        actor.require(Scope.LISTS_MANAGE)
    try:
        level = Trust.parse(str(trust))
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    _check_threshold(pdq_threshold)
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise Invalid("list name: 1-64 letters, digits, '-' or '_'")
    same = session.scalar(select(HashList).where(func.lower(HashList.name) == name.lower()))
    if same is not None:  # names differing only in case would be look-alikes
        raise Conflict(f"a list named {same.name!r} exists already")
    hl = HashList(name=name, trust=level.value, pdq_threshold=pdq_threshold, robust=robust,
                  description=description, created_at=now())
    session.add(hl)
    session.flush()
    # The threshold decides what matches (on an allow list: what is suppressed), so it is in
    # the log like the trust; ``org`` (None: the operator) lets the audit check who may.
    log.append(session, {"event": "list:created", "list": name, "kind": hl.kind,
                         "trust": level.value, "pdq_threshold": pdq_threshold,
                         "robust": robust, "org": actor.organisation_id if actor else None,
                         "at": hl.created_at.isoformat()})
    record(session, actor, AuditAction.LIST_CREATED, subject=name)
    return hl


def _check_threshold(pdq_threshold: int) -> None:
    if not 0 <= pdq_threshold <= PDQ_MAX_LIST_THRESHOLD:
        raise Invalid(f"pdq_threshold must be between 0 and {PDQ_MAX_LIST_THRESHOLD} (beyond, "
                      "distinct pictures match)")


def update_list(session: Session, actor: Principal, name: str, pdq_threshold: int | None = None,
                *, robust: bool | None = None) -> HashList:
    """A list's threshold and whether robust variants may hit it (None: unchanged); logged
    with both, as they stand after the change."""
    actor.require(Scope.LISTS_MANAGE)
    hl = get_list(session, name)
    if pdq_threshold is None and robust is None:
        raise Invalid("nothing to change: give pdq_threshold or robust")
    if pdq_threshold is not None:
        _check_threshold(pdq_threshold)
        hl.pdq_threshold = pdq_threshold
    if robust is not None:
        hl.robust = robust
    log.append(session, {"event": "list:updated", "list": name, "pdq_threshold": hl.pdq_threshold,
                         "robust": hl.robust, "org": actor.organisation_id,
                         "at": now().isoformat()})
    record(session, actor, AuditAction.LIST_UPDATED, subject=name,
           details={"pdq_threshold": hl.pdq_threshold, "robust": hl.robust})
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
        existing = listed(session, hl, st, value)
        if existing is not None:
            raise Conflict(f"this {st} hash is already {existing.status} on list {hl.name!r} "
                           f"(indicator {existing.id})", indicator_id=existing.id)
        out.append(create(session, IndicatorEvent.PROPOSED, actor, hl, signal_type=st,
                          value=value, legal_basis=p.legal_basis.strip(), label=p.label,
                          source=p.source))
    return out


def listed(session: Session, hl: HashList, signal_type: str, value: str) -> Indicator | None:
    """The indicator holding this hash on this list (pending, active or quarantined), if any."""
    return session.scalar(select(Indicator).where(
        Indicator.list_id == hl.id, Indicator.signal_type == signal_type,
        Indicator.value == value, Indicator.status.in_(LISTED)))


def get_indicator(session: Session, indicator_id: int, *, for_update: bool = False) -> Indicator:
    ind = session.get(Indicator, indicator_id, with_for_update=for_update)
    if ind is None:
        raise NotFound(f"no indicator {indicator_id}")
    return ind


def verify(session: Session, actor: Principal, indicator_id: int) -> Indicator:
    """A reviewer of another organisation confirms a pending indicator: it starts matching."""
    actor.require(Scope.INDICATORS_REVIEW)
    return transition(session, get_indicator(session, indicator_id, for_update=True),
                      IndicatorEvent.VERIFIED, actor)


def reject(session: Session, actor: Principal, indicator_id: int, reason: str) -> Indicator:
    actor.require(Scope.INDICATORS_REVIEW)
    return transition(session, get_indicator(session, indicator_id, for_update=True),
                      IndicatorEvent.REJECTED, actor, reason=reason)


def retract(session: Session, actor: Principal, indicator_id: int, reason: str) -> Indicator:
    """Take an indicator off its list for good (pending, active or quarantined)."""
    actor.require(Scope.INDICATORS_REVIEW)
    return transition(session, get_indicator(session, indicator_id, for_update=True),
                      IndicatorEvent.RETRACTED, actor, reason=reason)


def list_indicators(session: Session, actor: Principal, status: str | None = None,
                    list_name: str | None = None, limit: int = 100,
                    after_id: int = 0) -> list[Indicator]:
    actor.require(Scope.INDICATORS_READ)
    q = select(Indicator).where(Indicator.id > after_id).order_by(Indicator.id).limit(limit)
    if status:
        try:
            q = q.where(Indicator.status == IndicatorStatus(status).value)
        except ValueError:
            known = ", ".join(s.value for s in IndicatorStatus)
            raise Invalid(f"unknown status {status!r} (known: {known})") from None
    if list_name:
        q = q.where(Indicator.list_id == get_list(session, list_name).id)
    return list(session.scalars(q))



def figures(session: Session) -> dict[str, Any]:
    """Aggregates for the dashboard: active indicators by list, indicators by status."""
    by_list = session.execute(
        select(HashList.name, func.count(Indicator.id))
        .join(Indicator, (Indicator.list_id == HashList.id)
              & (Indicator.status == IndicatorStatus.ACTIVE), isouter=True)
        .group_by(HashList.name).order_by(HashList.name)).all()
    by_status = session.execute(select(Indicator.status, func.count())
                                .group_by(Indicator.status).order_by(Indicator.status)).all()
    return {"by_list": [(n, c) for n, c in by_list],
            "by_indicator_status": [(s, c) for s, c in by_status],
            "pending": dict(by_status).get(IndicatorStatus.PENDING.value, 0)}
