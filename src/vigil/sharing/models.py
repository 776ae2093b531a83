"""What an import from a hash-sharing programme keeps: where each source stands (its
checkpoint), which indicator came from which of the source's records, and every record or page
that was skipped and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class ExchangeSource(Base):
    """One programme's collection imported into one list (``ncmec`` / ``Industry`` into
    ``known-material``), with the programme's own checkpoint: the next import resumes there."""

    __tablename__ = "exchange_sources"
    __table_args__ = (UniqueConstraint("programme", "name", "list_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    #: ncmec | stopncii | threatexchange | file | vics
    programme: Mapped[str] = mapped_column(String(32))
    #: The collection within the programme: NCMEC's environment, a privacy group, a file name.
    name: Mapped[str] = mapped_column(String(200))
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id"))
    #: The programme's checkpoint as JSON (threatexchange's checkpoint dataclass, as a dict);
    #: None before the first page.
    checkpoint: Mapped[str | None] = mapped_column(Text)
    #: Running totals over every import of this source.
    proposed: Mapped[int] = mapped_column(Integer, default=0)
    already_listed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    #: The checkpoint (as stored, "" before the first page) at which the last runs found a
    #: page they could not read, and how many runs in a row did; None / 0 once a page reads.
    unreadable_at: Mapped[str | None] = mapped_column(Text, default=None)
    unreadable_runs: Mapped[int] = mapped_column(Integer, default=0)
    #: Steps past an unreadable page in a row (each doubles the window skipped).
    steps_in_row: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExchangeRecord(Base):
    """An indicator an import proposed, and the record of the programme it came from: its key
    there (NCMEC's member and entry id, StopNCII's type and hash, a VICS MediaID) and what the
    programme said about it (JSON: classification, uploader, VICS flags, PhotoDNA as opaque
    text). A withdrawal of the key at the programme retracts the indicator."""

    __tablename__ = "exchange_records"
    __table_args__ = (Index("ix_exchange_records_source_key", "source_id", "key"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("exchange_sources.id"))
    key: Mapped[str] = mapped_column(String(200))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), index=True)
    meta: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExchangeProblem(Base):
    """A record or a page an import skipped (malformed, an unknown signal type, an invalid
    hash), or the page a run stopped at; what was wrong, never a credential."""

    __tablename__ = "exchange_problems"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("exchange_sources.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Where: the record's key, or "page N".
    place: Mapped[str] = mapped_column(String(200))
    error: Mapped[str] = mapped_column(Text)
