"""Every read of the prevention hub, and the one full-text search.

Published entries are public: :func:`readable_proposals` is the only access rule (a
practitioner's organisation reads its own proposals, the Centre's editors read all).
:func:`search` is the hub's one search function: PostgreSQL's full-text search on
PostgreSQL, SQLite's FTS5 on SQLite, chosen by the session's dialect, the same filters and
the same order (best match, then title) on both.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table, text, true
from sqlalchemy.orm import Session

from vigil.orgs.access import Principal, Scope
from vigil.orgs.models import ApiKey, Organisation, StaffAccount
from vigil.prevention.models import PreventionEntry, PreventionProposal, PreventionRevision

#: At most this many words of a query are searched (each a prefix), each at most 40 letters.
MAX_WORDS = 8


@dataclass(frozen=True)
class Found:
    entries: list[PreventionEntry]
    total: int
    #: postgresql | fts5 | none (no words to search)
    search: str


_PUNCTUATION = re.compile(r"[^\w\s]+")


def fold(text: str) -> str:
    """Text as full-text search compares it on both databases: case-folded, without
    diacritics ("Évaluation" → "evaluation", "Straße" → "strasse"). PostgreSQL's 'simple'
    configuration keeps accents and FTS5's tokenizer drops them, and they split words at
    different punctuation; folding the stored text and the query alike (punctuation becomes a
    space) makes the two engines find the same entries."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Punctuation between letters as a space: PostgreSQL's parser keeps "childline.org.uk",
    # "a@b.org" and "1.5" as one word where FTS5 splits them; split alike for both.
    return _PUNCTUATION.sub(" ", bare)


def words(query: str | None) -> list[str]:
    """The words a query searches: letters and digits only (no search syntax reaches the
    database), folded (:func:`fold`), at most :data:`MAX_WORDS`."""
    return [w[:40] for w in re.findall(r"\w+", fold(query or ""))][:MAX_WORDS]


_FTS = table("prevention_search", column("rowid"), column("search_text"))


def _with_text(session: Session, q: Select[Any], terms: list[str]) -> tuple[Select[Any], Any, str]:
    """The query restricted to entries whose text holds every word (as a word prefix), the
    rank to order by (best first), and which engine searched."""
    if session.get_bind().dialect.name == "postgresql":
        config: Any = literal_column("'simple'::regconfig")
        vector = func.to_tsvector(config, PreventionEntry.search_text)
        tsquery = func.to_tsquery(config, " & ".join(f"{w}:*" for w in terms))
        return q.where(vector.op("@@")(tsquery)), func.ts_rank(vector, tsquery).desc(), "postgresql"
    # FTS5: each word a quoted prefix term, so no input is read as query syntax.
    match = " ".join(f'"{w}"*' for w in terms)
    q = q.join(_FTS, _FTS.c.rowid == PreventionEntry.id).where(
        literal_column("prevention_search").op("MATCH")(match))
    return q, literal_column("bm25(prevention_search)").asc(), "fts5"


def search(session: Session, *, kind: str | None = None, query: str | None = None,
           country: str | None = None, target: str | None = None, language: str | None = None,
           limit: int = 50, offset: int = 0) -> Found:
    """Published entries matching every given filter; ``query``'s words must all occur (as
    word prefixes) in the entry's text. ``country`` also finds entries for the whole EU and
    international ones."""
    q = select(PreventionEntry)
    if kind:
        q = q.where(PreventionEntry.kind == kind)
    if country:
        q = q.where(PreventionEntry.country.in_([country.upper(), "EU", "INT"]))
    if target:
        q = q.where(PreventionEntry.targets.contains(f",{target},"))
    if language:
        q = q.where(PreventionEntry.languages.contains(f",{language.lower()},"))
    terms = words(query)
    order: list[Any] = []
    engine = "none"
    if terms:
        q, rank, engine = _with_text(session, q, terms)
        order.append(rank)
    order.append(PreventionEntry.title)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = list(session.scalars(q.order_by(*order).limit(limit).offset(offset)))
    return Found(rows, total, engine)


def index(session: Session, entry: PreventionEntry) -> None:
    """Keep the full-text index of one entry current (SQLite's FTS5 table; PostgreSQL's GIN
    index follows the column by itself). Called in the entry's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        return
    session.flush()
    session.execute(text("DELETE FROM prevention_search WHERE rowid = :id"), {"id": entry.id})
    session.execute(text("INSERT INTO prevention_search(rowid, search_text) VALUES (:id, :t)"),
                    {"id": entry.id, "t": entry.search_text})


def entry(session: Session, public_id: str) -> PreventionEntry | None:
    return session.scalar(select(PreventionEntry).where(PreventionEntry.public_id == public_id))


def history(session: Session, entry_id: int) -> list[PreventionRevision]:
    return list(session.scalars(select(PreventionRevision)
                                .where(PreventionRevision.entry_id == entry_id)
                                .order_by(PreventionRevision.version)))


def newest(session: Session, limit: int = 50) -> list[PreventionEntry]:
    """The most recently published or changed entries (the Atom feed)."""
    return list(session.scalars(select(PreventionEntry)
                                .order_by(PreventionEntry.updated_at.desc(), PreventionEntry.id.desc())
                                .limit(limit)))


def readable_proposals(principal: Principal) -> ColumnElement[bool]:
    """The Centre's editors read every proposal; a practitioner its organisation's own."""
    if Scope.PREVENTION_REVIEW in principal.scopes:
        return true()
    return PreventionProposal.proposed_by_org == principal.organisation_id


def proposals(session: Session, principal: Principal, status: str | None = None,
              limit: int = 200) -> list[PreventionProposal]:
    q = select(PreventionProposal).where(readable_proposals(principal))
    if status:
        q = q.where(PreventionProposal.status == status)
    return list(session.scalars(q.order_by(PreventionProposal.id.desc()).limit(limit)))


def lock_organisation(session: Session, organisation_id: int) -> None:
    """Hold the organisation's row until the transaction ends (PostgreSQL; SQLite's writers
    are one at a time already)."""
    session.execute(select(Organisation.id).where(Organisation.id == organisation_id)
                    .with_for_update())


def staff_names(session: Session, organisation_id: int) -> list[tuple[str, str]]:
    """``(username, display name)`` of every staff account of an organisation."""
    rows = session.execute(
        select(StaffAccount.username, StaffAccount.display_name)
        .join(ApiKey, StaffAccount.api_key_id == ApiKey.id)
        .where(ApiKey.organisation_id == organisation_id)).all()
    return [(r[0], r[1]) for r in rows]


def open_proposals_of(session: Session, organisation_id: int) -> int:
    """How many of an organisation's proposals wait for a decision."""
    return session.scalar(select(func.count()).select_from(PreventionProposal).where(
        PreventionProposal.proposed_by_org == organisation_id,
        PreventionProposal.status == "proposed")) or 0


def proposal(session: Session, principal: Principal, public_id: str,
             *, for_update: bool = False) -> PreventionProposal | None:
    q = select(PreventionProposal).where(PreventionProposal.public_id == public_id,
                                         readable_proposals(principal))
    return session.scalar(q.with_for_update() if for_update else q)


def entry_public_id(session: Session, entry_id: int | None) -> str | None:
    if entry_id is None:
        return None
    return session.scalar(select(PreventionEntry.public_id).where(PreventionEntry.id == entry_id))
