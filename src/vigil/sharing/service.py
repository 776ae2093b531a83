"""Importing a programme's records into a list, a page at a time, in the caller's transaction.

Every imported hash becomes a **proposed** indicator through
:func:`vigil.indicators.service.propose` — pending on the list until a reviewer of a second
organisation verifies it (a programme's own verification does not count: the two-organisation
rule is the Centre's), with its provenance (``source``: programme, collection and the record's
key; the record's other data in :class:`~vigil.sharing.models.ExchangeRecord`). The Centre
proposes through a key of its own per programme (holder ``exchange-<programme>``), made on
first use, so that the log, the audit trail and the two-organisation rule see who proposed.

A record the programme withdraws (NCMEC's deleted entries, ThreatExchange's ``should_delete``,
StopNCII's withdrawn and deleted hashes) retracts what it brought in. A hash already on the list
(from anywhere) is counted and left alone; one that an earlier import of the same source brought
is not proposed again, even after a reviewer rejected it. A record that cannot be used (an
invalid hash, an unknown type, a malformed record) is skipped and written down
(:class:`~vigil.sharing.models.ExchangeProblem`), never the page — the first
:data:`MAX_PROBLEMS_PER_RUN` of a run; the rest are counted, and one row says how many were not
kept, so that a file of bad records cannot fill the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.clock import now
from vigil.errors import Conflict, Invalid
from vigil.exchange.programmes import Fetched, Page
from vigil.indicators import service as indicators
from vigil.indicators.models import HashList, Indicator
from vigil.matching.policy import Trust
from vigil.orgs import service as orgs
from vigil.orgs.access import OrgKind, Principal, Scope
from vigil.orgs.models import ApiKey, Organisation
from vigil.sharing.models import ExchangeProblem, ExchangeRecord, ExchangeSource

#: What an import key may do: propose, and retract what a programme withdrew.
IMPORT_SCOPES = frozenset({Scope.INDICATORS_PROPOSE, Scope.INDICATORS_REVIEW, Scope.INDICATORS_READ})
#: The most skipped records one import run writes down (a row each, and in its tally); every
#: one is counted (``skipped``), those after the first this many only counted.
MAX_PROBLEMS_PER_RUN = 1000


@dataclass
class Tally:
    """What one import did."""

    proposed: int = 0
    already_listed: int = 0
    skipped: int = 0
    withdrawn: int = 0
    pages: int = 0
    #: (where, why) of the skipped records written down (at most
    #: :data:`MAX_PROBLEMS_PER_RUN`), and of the page a run stopped at.
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: Skipped records counted but not written down (over :data:`MAX_PROBLEMS_PER_RUN`).
    problems_not_kept: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"proposed": self.proposed, "already_listed": self.already_listed,
                "skipped": self.skipped, "withdrawn": self.withdrawn, "pages": self.pages,
                "problems": [{"where": w, "error": e} for w, e in self.problems],
                "problems_not_kept": self.problems_not_kept}


def import_principal(session: Session, programme: str,
                     scopes: frozenset[Scope] = IMPORT_SCOPES) -> Principal:
    """The Centre's key that proposes a programme's hashes (or, ``export``, reads a list for
    an export): made by the operator on first use, so approved like the Centre's other
    operator-issued keys."""
    centre = session.scalar(select(Organisation).where(Organisation.kind == OrgKind.CENTRE.value)
                            .order_by(Organisation.id).limit(1))
    if centre is None:
        raise Invalid("this database has no Centre organisation yet (vigil init)")
    holder = f"exchange-{programme}"
    key = session.scalar(select(ApiKey).where(
        ApiKey.organisation_id == centre.id, ApiKey.holder == holder,
        ApiKey.revoked_at.is_(None)).order_by(ApiKey.id).limit(1))
    if key is None:
        key = orgs.issue_key(session, None, centre.id, holder, set(scopes)).key
    return orgs.principal_of_key(key)


def importable_list(session: Session, list_name: str) -> HashList:
    """The list an import proposes to: proposals go to verified (or allow) lists; an
    unverified list takes a victim's own hashes only."""
    hl = indicators.get_list(session, list_name)
    if hl.trust == Trust.UNVERIFIED.value:
        raise Invalid(f"list {list_name!r} is an unverified list (victims' own hashes); "
                      "imported hashes are proposed to a verified list, where a second "
                      "organisation verifies them")
    return hl


def source_for(session: Session, programme: str, collection: str, hl: HashList) -> ExchangeSource:
    src = session.scalar(select(ExchangeSource).where(
        ExchangeSource.programme == programme, ExchangeSource.name == collection,
        ExchangeSource.list_id == hl.id))
    if src is None:
        t = now()
        src = ExchangeSource(programme=programme, name=collection, list_id=hl.id,
                             checkpoint=None, proposed=0, already_listed=0, skipped=0,
                             withdrawn=0, pages=0, unreadable_at=None, unreadable_runs=0,
                             steps_in_row=0, created_at=t, updated_at=t)
        session.add(src)
        session.flush()
    return src


def checkpoint_of(src: ExchangeSource) -> dict[str, Any] | None:
    return json.loads(src.checkpoint) if src.checkpoint else None


def apply_page(session: Session, actor: Principal, src: ExchangeSource, hl: HashList,
               page: Page, legal_basis: str, tally: Tally) -> None:
    """Apply one page (its records, its problems, then its checkpoint) in the caller's
    transaction, counting into ``tally``."""
    for record in page.records:
        if record.deleted:
            _withdraw(session, actor, src, record, tally)
        else:
            _propose(session, actor, src, hl, record, legal_basis, tally)
    for where, error in page.problems:
        problem(session, src, where, error, tally)
    src.checkpoint = json.dumps(page.checkpoint, sort_keys=True) if page.checkpoint else None
    src.unreadable_at, src.unreadable_runs, src.steps_in_row = None, 0, 0  # a page read
    src.pages += 1
    tally.pages += 1
    src.updated_at = now()


def problem(session: Session, src: ExchangeSource, where: str, error: str, tally: Tally,
            *, count: bool = True) -> None:
    """Write down a skipped record (``count``: counted always, written down while the run has
    written fewer than :data:`MAX_PROBLEMS_PER_RUN`) or the page a run stopped at (always)."""
    if count:
        tally.skipped += 1
        src.skipped += 1
        if tally.skipped > MAX_PROBLEMS_PER_RUN:
            tally.problems_not_kept += 1
            return
    session.add(ExchangeProblem(source_id=src.id, at=now(), place=where[:200], error=error[:1000]))
    tally.problems.append((where[:200], error[:1000]))


def note_problems_not_kept(session: Session, src: ExchangeSource, tally: Tally) -> None:
    """At the end of a run that skipped more records than it wrote down: one row saying how
    many more there were (``vigil exchange status`` shows it with the latest problems)."""
    if tally.problems_not_kept:
        session.add(ExchangeProblem(
            source_id=src.id, at=now(), place="this run",
            error=f"{tally.problems_not_kept} more skipped record(s) counted but not written "
                  f"down (at most {MAX_PROBLEMS_PER_RUN} a run)"))


def _propose(session: Session, actor: Principal, src: ExchangeSource, hl: HashList,
             record: Fetched, legal_basis: str, tally: Tally) -> None:
    if not record.signals:
        problem(session, src, record.key, "no hash vigil matches in this record", tally)
        return
    for signal_type, value in record.signals:
        try:
            st, normalised = indicators.normalise(signal_type, value)
        except Invalid as exc:
            problem(session, src, record.key, exc.message, tally)
            continue
        if _imported_before(session, src, record.key, st, normalised):
            continue
        if indicators.listed(session, hl, st, normalised) is not None:
            tally.already_listed += 1
            src.already_listed += 1
            continue
        proposal = indicators.Proposal(st, normalised, hl.name, legal_basis, record.label,
                                       f"{src.programme}:{src.name}:{record.key}"[:200])
        try:
            (ind,) = indicators.propose(session, actor, [proposal])
        except (Invalid, Conflict) as exc:
            problem(session, src, record.key, exc.message, tally)
            continue
        session.add(ExchangeRecord(source_id=src.id, key=record.key[:200], indicator_id=ind.id,
                                   meta=json.dumps(record.meta, sort_keys=True, default=str),
                                   created_at=now()))
        tally.proposed += 1
        src.proposed += 1


def _imported_before(session: Session, src: ExchangeSource, key: str, signal_type: str,
                     value: str) -> bool:
    return session.scalar(select(ExchangeRecord.id).join(
        Indicator, Indicator.id == ExchangeRecord.indicator_id).where(
        ExchangeRecord.source_id == src.id, ExchangeRecord.key == key[:200],
        Indicator.signal_type == signal_type, Indicator.value == value).limit(1)) is not None


def _withdraw(session: Session, actor: Principal, src: ExchangeSource, record: Fetched,
              tally: Tally) -> None:
    ids = list(session.scalars(select(ExchangeRecord.indicator_id).where(
        ExchangeRecord.source_id == src.id, ExchangeRecord.key == record.key[:200])))
    for ind_id in ids:
        ind = indicators.get_indicator(session, ind_id, for_update=True)
        if ind.status not in indicators.LISTED:
            continue
        indicators.retract(session, actor, ind_id,
                           f"withdrawn by {src.programme} ({src.name}): record {record.key}"[:500])
        tally.withdrawn += 1
        src.withdrawn += 1


def imported_records(session: Session, actor: Principal, indicator_ids: list[int]
                     ) -> dict[int, tuple[str, str, dict[str, Any]]]:
    """For indicators an import brought: id → (programme, record key, the record's data)."""
    actor.require(Scope.INDICATORS_READ)
    if not indicator_ids:
        return {}
    rows = session.execute(select(ExchangeRecord.indicator_id, ExchangeSource.programme,
                                  ExchangeRecord.key, ExchangeRecord.meta)
                           .join(ExchangeSource, ExchangeSource.id == ExchangeRecord.source_id)
                           .where(ExchangeRecord.indicator_id.in_(indicator_ids)))
    return {i: (p, k, json.loads(m)) for i, p, k, m in rows}


def sources(session: Session) -> list[tuple[ExchangeSource, str]]:
    """Every source with its list's name, for ``vigil exchange status``."""
    rows = session.execute(select(ExchangeSource, HashList.name).join(
        HashList, HashList.id == ExchangeSource.list_id).order_by(ExchangeSource.id))
    return [(src, name) for src, name in rows]


def recent_problems(session: Session, source_id: int, limit: int = 20) -> list[ExchangeProblem]:
    return list(session.scalars(select(ExchangeProblem).where(
        ExchangeProblem.source_id == source_id).order_by(ExchangeProblem.id.desc()).limit(limit)))


__all__ = ["IMPORT_SCOPES", "MAX_PROBLEMS_PER_RUN", "Tally", "apply_page", "checkpoint_of",
           "import_principal", "importable_list", "imported_records", "note_problems_not_kept",
           "problem",
           "recent_problems", "source_for", "sources"]
