"""Victim cases: create (case number and PIN, shown once), open with the PIN (attempts
limited), add hashes, withdraw, and what happened.

A case's hashes become *active* indicators on the ``victim-submitted`` list at once — nobody at
the Centre has seen the content, so there is nothing for a second organisation to verify. That
list's trust is *unverified*: every path that matches (the match policy) treats a hit on it as
a reason for review, never for action — a provider's report whose only hits are victims' hashes
waits for a Centre reviewer before it is forwarded, and the crawler's hits wait for an
analyst before any notice. The hashes enter under the Centre's own "victim intake" credential
and are logged like every other indicator (``indicator:victim_submitted``). Withdrawing a case
withdraws them (``indicator:withdrawn``): they leave every server's index within a second and
appear as withdrawals in the list's change feed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil import passwords
from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Invalid, NotAuthenticated
from vigil.indicators import lifecycle
from vigil.indicators import service as indicators
from vigil.indicators.lifecycle import IndicatorEvent, IndicatorStatus
from vigil.indicators.models import Indicator
from vigil.orgs import service as orgs
from vigil.orgs.access import OrgKind, Principal, Scope
from vigil.orgs.models import ApiKey, Organisation
from vigil.reports.lifecycle import ReportStatus
from vigil.victims import repository
from vigil.victims.models import CaseHash, VictimCase

LIST = "victim-submitted"
MAX_HASHES = 100
MAX_PIN_FAILURES = 5
LOCK = timedelta(hours=1)
INTAKE_HOLDER = "victim-intake"
# Case numbers: 16 characters of a 31-letter alphabet without look-alikes (~79 bits).
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _case_number() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def _intake(session: Session) -> Principal:
    """The Centre's credential that victim hashes are proposed under (its secret unused)."""
    centre = session.scalar(select(Organisation).where(Organisation.kind == OrgKind.CENTRE.value)
                            .order_by(Organisation.id))
    if centre is None:
        raise Conflict("no Centre organisation is set up to receive victim cases")
    key = session.scalar(select(ApiKey).where(ApiKey.organisation_id == centre.id,
                                              ApiKey.holder == INTAKE_HOLDER,
                                              ApiKey.revoked_at.is_(None)))
    if key is None:
        key = orgs.issue_key(session, None, centre.id, INTAKE_HOLDER, {Scope.INDICATORS_PROPOSE}).key
    return Principal(centre.id, centre.name, OrgKind.CENTRE, None, key.id, INTAKE_HOLDER,
                     frozenset({Scope.INDICATORS_PROPOSE}))


@dataclass(frozen=True)
class CaseHashIn:
    kind: str  # image | video
    md5: str
    sha256: str | None = None
    pdq: str | None = None
    quality: int | None = None


def _add(session: Session, case: VictimCase, items: list[CaseHashIn]) -> int:
    if not items:
        raise Invalid("a case needs at least one hash")
    if len(items) > MAX_HASHES:
        raise Invalid(f"at most {MAX_HASHES} hashes at a time")
    actor = _intake(session)
    hl = indicators.get_list(session, LIST)
    values: list[tuple[str, str, str]] = []
    errors = []
    for i, item in enumerate(items):
        if item.kind not in ("image", "video"):
            errors.append({"index": i, "error": "kind must be image or video"})
            continue
        pairs = [("md5", item.md5), ("sha256", item.sha256)]
        # PDQ only from images good enough to match on (PDQ's own rule: quality 50).
        if item.kind == "image" and item.pdq and (item.quality or 0) >= 50:
            pairs.append(("pdq", item.pdq))
        for st, value in pairs:
            if not value:
                continue
            try:
                st2, v2 = indicators.normalise(st, value)
            except Invalid as exc:
                errors.append({"index": i, "error": exc.message})
                continue
            values.append((item.kind, st2, v2))
    if errors:
        raise Invalid(f"{len(errors)} hashes are invalid", items=errors)
    for kind, st, value in dict.fromkeys(values):
        # The same hash from another case (active, or quarantined pending review) is shared.
        ind = indicators.listed(session, hl, st, value)
        if ind is None:
            ind = lifecycle.create(session, IndicatorEvent.VICTIM_SUBMITTED, actor, hl,
                                   signal_type=st, value=value, source="victim case",
                                   legal_basis="request of the person depicted (victim-led removal)")
        session.add(CaseHash(case_id=case.id, indicator_id=ind.id, kind=kind, added_at=now()))
    session.flush()
    # How many of the person's hashes were taken, not how many were new: that another person
    # had submitted the same hash is theirs to know, not this case's.
    return len(dict.fromkeys(values))


def create_case(session: Session, items: list[CaseHashIn], country: str | None = None,
                age_group: str | None = None) -> tuple[VictimCase, str]:
    """A new case; returns it and its PIN (shown once, stored only as a hash)."""
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise Invalid("country must be a two-letter code")
    if age_group not in (None, "child", "adult"):
        raise Invalid("age_group must be child or adult")
    pin = "".join(secrets.choice("0123456789") for _ in range(8))
    case = VictimCase(case_number=_case_number(), pin_hash=passwords.hash_secret(pin),
                      country=country.upper() if country else None, age_group=age_group,
                      created_at=now(), failed_pins=0)
    session.add(case)
    session.flush()
    _add(session, case, items)
    record(session, None, AuditAction.VICTIM_CASE_CREATED, subject=str(case.id))
    return case, pin


def open_case(session: Session, case_number: str, pin: str) -> VictimCase:
    """The case for a number and PIN. Any failure gives the same answer; five wrong PINs lock
    the case for an hour (the failures are written by the caller's transaction)."""
    bad = NotAuthenticated("unknown case number or wrong PIN")
    number = case_number.strip().upper()
    case = repository.by_number(session, number)
    if case is None:
        passwords.verify_nothing(pin)  # the same work as for a case that exists
        raise bad
    if case.locked_until is not None and _aware(case.locked_until) > now():
        raise NotAuthenticated("too many wrong PINs: this case is locked for an hour")
    if not passwords.verify(case.pin_hash, pin):
        case.failed_pins += 1
        if case.failed_pins >= MAX_PIN_FAILURES:
            case.locked_until, case.failed_pins = now() + LOCK, 0
        raise bad
    case.failed_pins, case.locked_until = 0, None
    return case


def add_hashes(session: Session, case: VictimCase, items: list[CaseHashIn]) -> int:
    if case.withdrawn_at is not None:
        raise Conflict("this case was withdrawn")
    added = _add(session, case, items)
    record(session, None, AuditAction.VICTIM_CASE_UPDATED, subject=str(case.id),
           details={"added": added})
    return added


def withdraw(session: Session, case: VictimCase) -> int:
    """Withdraw the case: its hashes leave distribution at once and for good — quarantined ones
    too, so that no reviewer can reinstate them — unless another open case holds the same
    hash. Returns how many of the case's hashes were withdrawn *for this case* (all of them:
    whether another person's case keeps the same hash listed is not told)."""
    if case.withdrawn_at is not None:
        return 0
    case.withdrawn_at = now()
    actor = _intake(session)
    retracted = 0
    ids = repository.indicator_ids(session, case)
    for ind_id in ids:
        others = repository.other_open_cases_holding(session, case, ind_id)
        ind = session.get(Indicator, ind_id, with_for_update=True)
        if others or ind is None or ind.status not in (IndicatorStatus.ACTIVE,
                                                       IndicatorStatus.QUARANTINED):
            continue
        lifecycle.transition(session, ind, IndicatorEvent.WITHDRAWN, actor,
                             reason="withdrawn by the victim")
        retracted += 1
    record(session, None, AuditAction.VICTIM_CASE_WITHDRAWN, subject=str(case.id),
           details={"retracted": retracted})
    return len(ids)


def status(session: Session, case: VictimCase) -> dict[str, Any]:
    """What happened — about this case only: reports from services that matched its hashes
    (forwarded, or waiting for a Centre reviewer: a victim's hash alone is never acted on
    unseen), URLs found by proactive search (with a notice, or waiting for an analyst), notices
    sent and removals."""
    ids = repository.indicator_ids(session, case)
    reports = repository.matching_reports(session, case)
    notices = repository.notices_for(session, case)
    waiting_urls = repository.urls_waiting_for_review(session, case)
    providers: dict[str, dict[str, int]] = {}
    for name, report_status, forwarded in reports:
        p = providers.setdefault(name, {"reports": 0, "forwarded": 0, "waiting_for_review": 0})
        p["reports"] += 1
        p["forwarded"] += forwarded is not None
        p["waiting_for_review"] += report_status == ReportStatus.AWAITING_REVIEW
    return {"case_number": case.case_number, "created_at": case.created_at,
            "withdrawn": case.withdrawn_at is not None, "hashes": len(ids),
            "pictures": repository.picture_count(session, case),
            "matches_found": len(reports) + len(notices) + waiting_urls,
            "waiting_for_review": waiting_urls + sum(p["waiting_for_review"] for p in providers.values()),
            "notices_sent": sum(n.sends for n in notices),
            "urls_found": len(notices) + waiting_urls,
            "removed": sum(1 for n in notices if n.status == "removed"),
            "providers": [{"provider": k, **v} for k, v in sorted(providers.items())]}
