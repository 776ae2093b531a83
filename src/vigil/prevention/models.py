"""The prevention hub's tables: published entries (with a search text kept for full-text
search), proposals waiting for the Centre, and every published version (the history).

Full-text search lives outside these models, in the migration: on SQLite an FTS5 table
(``prevention_search``, rowid = entry id, kept by :mod:`vigil.prevention.repository`), on
PostgreSQL a GIN index over ``to_tsvector('simple', search_text)``. :data:`SEARCH_OBJECTS`
names them, so that the schema comparison knows they are not missing from the models."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")

#: Schema objects of full-text search that the migration creates and no model describes.
SEARCH_OBJECTS = ("prevention_search", "ix_prevention_entries_fulltext")


class PreventionEntry(Base):
    """A published programme, resource or working group (its current version)."""

    __tablename__ = "prevention_entries"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # programme | resource | working_group
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    #: ISO 3166 code, or EU (across the Union) or INT (international).
    country: Mapped[str] = mapped_column(String(3), index=True)
    #: ",de,en," — ISO 639-1 codes between commas, so a filter is one LIKE.
    languages: Mapped[str] = mapped_column(String(200))
    #: ",may_offend,parents," — the target groups, the same way.
    targets: Mapped[str] = mapped_column(String(200))
    #: Everything else (contact, anonymity, evaluation, licence, members, outputs), as JSON.
    details: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str] = mapped_column(String(500))
    source_read: Mapped[date] = mapped_column(Date)
    source_how: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Title, summary and the details' words in one text, for full-text search.
    search_text: Mapped[str] = mapped_column(Text)


class PreventionProposal(Base):
    """A practitioner's proposed new entry, or a change to one, until the Centre decides."""

    __tablename__ = "prevention_proposals"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    #: The entry a change is for (None: a new entry).
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("prevention_entries.id"), index=True)
    data: Mapped[str] = mapped_column(Text)  # the proposed entry, as JSON
    status: Mapped[str] = mapped_column(String(16), index=True)  # proposed | approved | rejected
    proposed_by_org: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    proposed_by_key: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    #: The person who proposed it: a staff account's name or the key's holder (None before
    #: migration 0021). Nobody decides on a proposal of their own, whichever key they use.
    proposer: Mapped[str | None] = mapped_column(String(200))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    decided_by_key: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)


class PreventionRevision(Base):
    """One published version of an entry: what it said, when, and through which proposal."""

    __tablename__ = "prevention_revisions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("prevention_entries.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)
    #: seeded (from the Centre's file of public sources) | approved (a reviewed proposal)
    action: Mapped[str] = mapped_column(String(16))
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("prevention_proposals.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
