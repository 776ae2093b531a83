"""The prevention hub's decisions: a practitioner proposes an entry (or a change to one), the
Centre publishes or rejects it, every published version is kept; the Centre's seed file of
public sources is loaded the same way. Never commits: the caller's transaction does.

Rules: only a proposal may change what the hub publishes (the seed is the Centre's own
proposal, reviewed like code); the person who proposed cannot publish their own proposal; an
entry always names its public source.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Sequence
from importlib import resources
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, control_character
from vigil.orgs.access import Principal, Scope
from vigil.prevention import repository
from vigil.prevention.models import PreventionEntry, PreventionProposal, PreventionRevision
from vigil.prevention.schemas import EntryIn, EntryOut, HistoryOut, ProposalOut

#: The seed file: real programmes, resources and working groups, each from a public page.
SEED_FILE = "seed.json"


#: Proposals one organisation may have waiting for a decision: a key that misbehaves cannot
#: bury the Centre's review queue.
MAX_OPEN_PROPOSALS = 100


def same_person(a: str, b: str, staff: Sequence[tuple[str, str]] = ()) -> bool:
    """Whether two holder names (a staff account's name, a key's holder) name one person, given
    the organisation's staff accounts (``(username, display name)``: :func:`_names_of`). Names
    are compared in compatibility form (NFKC: full-width letters are letters), case-folded,
    without invisible format characters (zero-width spaces, soft hyphens) or combining
    marks that show nothing alone, and with runs of spaces as one. Letters of other scripts
    that look alike (Cyrillic "ie", U+0435, for Latin "e") still differ: only the Centre issues keys."""
    return bool(_names_of(a, staff) & _names_of(b, staff))


def _names_of(name: str, staff: Sequence[tuple[str, str]]) -> set[str]:
    """The names one person goes by at an organisation: the name itself, and a staff account's
    username and display name together when either is that name — so that "edith" signed in
    to the workspace and a key held by "Edith Example" are one person."""
    names = {_person(name)}
    for username, display in staff:
        own = {_person(username), _person(display)}
        if names & own:
            names |= own
    return names


def _person(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).casefold()
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Mn", "Me"))
    return " ".join(text.split())


def _search_text(e: EntryIn) -> str:
    parts = [e.title, e.summary, e.country, " ".join(e.languages), " ".join(e.targets),
             e.contact or "", e.anonymous or "", e.licence or "", " ".join(e.members),
             " ".join(e.outputs)]
    if e.evaluation:
        parts += [e.evaluation.design, e.evaluation.outcome]
    return repository.fold("\n".join(p for p in parts if p))


def _details(e: EntryIn) -> str:
    return json.dumps({
        "url": e.url, "contact": e.contact, "anonymous": e.anonymous,
        "evaluation": e.evaluation.model_dump(mode="json") if e.evaluation else None,
        "licence": e.licence, "members": e.members, "outputs": e.outputs}, sort_keys=True)


def as_entry_in(row: PreventionEntry) -> EntryIn:
    details = json.loads(row.details)
    return EntryIn.model_validate({
        "kind": row.kind, "title": row.title, "summary": row.summary, "country": row.country,
        "languages": [c for c in row.languages.split(",") if c],
        "targets": [t for t in row.targets.split(",") if t], **details,
        "source": {"url": row.source_url, "read": row.source_read.isoformat(),
                   "how": row.source_how}})


def as_out(row: PreventionEntry) -> EntryOut:
    return EntryOut(**as_entry_in(row).model_dump(), id=row.public_id, version=row.version,
                    published_at=row.published_at, updated_at=row.updated_at)


def history_out(session: Session, row: PreventionEntry) -> list[HistoryOut]:
    return [HistoryOut(version=r.version, action=r.action, at=r.at)
            for r in repository.history(session, row.id)]


def _write(session: Session, row: PreventionEntry | None, e: EntryIn, public_id: str,
           action: str, proposal: PreventionProposal | None) -> PreventionEntry:
    t = now()
    if row is None:
        row = PreventionEntry(public_id=public_id, version=0, published_at=t)
        session.add(row)
    row.kind, row.title, row.summary, row.country = e.kind, e.title, e.summary, e.country
    row.languages = "," + ",".join(e.languages) + ","
    row.targets = "," + ",".join(e.targets) + ","
    row.details = _details(e)
    row.source_url, row.source_read, row.source_how = e.source.url, e.source.read, e.source.how
    row.version += 1
    row.updated_at = t
    row.search_text = _search_text(e)
    session.flush()
    session.add(PreventionRevision(entry_id=row.id, version=row.version, action=action,
                                   data=e.model_dump_json(), at=t,
                                   proposal_id=proposal.id if proposal else None))
    repository.index(session, row)
    return row


def propose(session: Session, principal: Principal, entry: EntryIn,
            replaces: str | None = None) -> PreventionProposal:
    """A proposal waiting for the Centre; ``replaces`` names the published entry it changes."""
    principal.require(Scope.PREVENTION_PROPOSE)
    # Counted under a lock on the organisation's row: proposals sent at once queue here, so
    # that they cannot all see room for one more.
    repository.lock_organisation(session, principal.organisation_id)
    if repository.open_proposals_of(session, principal.organisation_id) >= MAX_OPEN_PROPOSALS:
        raise RateLimited(f"your organisation has {MAX_OPEN_PROPOSALS} proposals waiting for the "
                          "Centre already: propose more once some are decided")
    target = None
    if replaces is not None:
        target = repository.entry(session, replaces)
        if target is None:
            raise NotFound(f"no published entry {replaces!r} to change")
        if target.kind != entry.kind:
            raise Invalid(f"a change keeps the entry's kind ({target.kind})")
    p = PreventionProposal(public_id=str(uuid.uuid4()), entry_id=target.id if target else None,
                           data=entry.model_dump_json(), status="proposed",
                           proposed_by_org=principal.organisation_id,
                           proposed_by_key=principal.key_id,
                           proposer=principal.holder, proposed_at=now())
    session.add(p)
    session.flush()
    record(session, principal, AuditAction.PREVENTION_PROPOSED, p.public_id,
           {"kind": entry.kind, "replaces": replaces})
    return p


def decide(session: Session, principal: Principal, proposal_id: str, decision: str,
           reason: str = "") -> tuple[PreventionProposal, PreventionEntry | None]:
    """Publish a proposal (a new entry, or a new version of the one it changes) or reject it
    (with a reason). Once only; never by the key that proposed it."""
    principal.require(Scope.PREVENTION_REVIEW)
    p = repository.proposal(session, principal, proposal_id, for_update=True)
    if p is None:
        raise NotFound("no such proposal")
    if p.status != "proposed":
        raise Conflict(f"this proposal was {p.status} already")
    if p.proposed_by_key == principal.key_id or (
            p.proposer is not None and p.proposed_by_org == principal.organisation_id
            and same_person(p.proposer, principal.holder,
                            repository.staff_names(session, principal.organisation_id))):
        raise Forbidden("a proposal is published or rejected by someone other than its author "
                        "(another person, not only another key)")
    found = control_character(reason, line_breaks=True)
    if found is not None:  # the workspace form comes here without DecisionIn
        raise Invalid(f"reason may not contain the control character {found} (only tab and "
                      "line breaks)")
    if decision == "reject" and not reason.strip():
        raise Invalid("say why the proposal is rejected: the practitioner reads the reason")
    p.decided_by_org, p.decided_by_key, p.decided_at = (principal.organisation_id,
                                                        principal.key_id, now())
    p.reason = reason.strip() or None
    row = None
    if decision == "publish":
        entry = EntryIn.model_validate_json(p.data)
        target = session.get(PreventionEntry, p.entry_id) if p.entry_id else None
        row = _write(session, target, entry, str(uuid.uuid4()), "approved", p)
        p.status = "approved"
        record(session, principal, AuditAction.PREVENTION_PUBLISHED, row.public_id,
               {"proposal": p.public_id, "version": row.version})
    elif decision == "reject":
        p.status = "rejected"
        record(session, principal, AuditAction.PREVENTION_REJECTED, p.public_id, {})
    else:
        raise Invalid("decision is publish or reject")
    return p, row


def proposal_out(session: Session, p: PreventionProposal) -> ProposalOut:
    published = None
    if p.status == "approved":
        published = repository.entry_public_id(session, p.entry_id) or _published_as(session, p)
    return ProposalOut(id=p.public_id, status=p.status,
                       replaces=repository.entry_public_id(session, p.entry_id),
                       entry=EntryIn.model_validate_json(p.data), proposed_at=p.proposed_at,
                       decided_at=p.decided_at, reason=p.reason, published_as=published)


def _published_as(session: Session, p: PreventionProposal) -> str | None:
    from sqlalchemy import select

    entry_id = session.scalar(select(PreventionRevision.entry_id)
                              .where(PreventionRevision.proposal_id == p.id))
    return repository.entry_public_id(session, entry_id)


# -- the seed: public sources only -------------------------------------------------------------

def read_seed(text: str | None = None) -> list[tuple[str, EntryIn]]:
    """The seed file's entries as (stable id, entry); :class:`~vigil.errors.Invalid` names
    the first entry that breaks the format (a missing source among them)."""
    if text is None:
        text = resources.files("vigil.prevention").joinpath(SEED_FILE).read_text("utf-8")
    data: Any = json.loads(text)
    out = []
    for i, item in enumerate(data.get("entries", [])):
        ident = item.pop("id", None) if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident:
            raise Invalid(f"seed entry {i}: needs a stable 'id'")
        try:
            out.append((ident, EntryIn.model_validate(item)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise Invalid(f"seed entry {ident!r}: {where}: {first['msg']}") from None
    return out


def seed(session: Session, principal: Principal | None = None) -> tuple[int, int]:
    """Publish the seed file's entries that are new or changed (by their stable id);
    returns (added, updated). Each is a revision of action ``seeded``."""
    added = updated = 0
    for ident, entry in read_seed():
        row = repository.entry(session, ident)
        if row is not None and as_entry_in(row) == entry:
            continue
        _write(session, row, entry, ident, "seeded", None)
        if row is None:
            added += 1
        else:
            updated += 1
    if added or updated:
        record(session, principal, AuditAction.PREVENTION_SEEDED, None,
               {"added": added, "updated": updated})
    return added, updated
