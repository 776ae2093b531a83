"""Partner centres, the provenance of what was imported from them, and their quarantined
records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, UTCDateTime

_Id = BigInteger().with_variant(Integer, "sqlite")


class Partner(Base):
    """A partner vigil instance and the trust agreement with it: whose list is imported into
    which local list, and whether its verification counts here. Removed partners keep their
    row (``removed_at``): the provenance of what was imported from them refers to it."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The partner's name: its organisation's name here.
    name: Mapped[str] = mapped_column(String(200), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: Its vigil server (written by the Centre; the egress policy still applies).
    url: Mapped[str] = mapped_column(String(2000))
    remote_list: Mapped[str] = mapped_column(String(64))
    local_list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id"))
    #: The agreement: the origin's verification (two organisations there, as its signed
    #: verified list says) counts here, so its indicators enter active (decision 0021).
    origin_verification_counts: Mapped[bool] = mapped_column(Boolean, default=False,
                                                             server_default=false())
    #: The key that imports are attributed to (its secret was discarded at creation).
    import_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    #: What the Centre trusts about the partner's log: its key chain and last tree head
    #: (vigil.exchange.client.LogTrust, JSON).
    log_trust: Mapped[str] = mapped_column(Text)
    #: The partner's feed position imported up to (None: no snapshot taken yet), and the
    #: position of its list's last change applied (a snapshot older than it is a rollback).
    seq: Mapped[int | None] = mapped_column(BigInteger)
    list_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PartnerIndicator(Base):
    """Where an imported indicator came from: its origin centre, its id there and the
    position in the origin's feed and log that brought it."""

    __tablename__ = "partner_indicators"
    __table_args__ = (Index("ix_partner_indicators_origin", "partner_id", "origin_id"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), unique=True)
    origin_id: Mapped[int] = mapped_column(BigInteger)
    #: The origin's feed position of the change (its snapshot's ``seq`` for a snapshot entry).
    origin_seq: Mapped[int] = mapped_column(BigInteger)
    #: The size of the origin's signed log head that covered it.
    origin_log_size: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuarantinedRecord(Base):
    """A partner's record that was not imported — malformed, or in an answer that failed its
    checks (unsigned, tampered) — kept for the Centre to look at."""

    __tablename__ = "partner_quarantine"

    id: Mapped[int] = mapped_column(_Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    #: The feed position (a page's ``since`` when a whole answer was refused).
    origin_seq: Mapped[int | None] = mapped_column(BigInteger)
    origin_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    #: The record as received (at most 2,000 characters).
    record: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
