from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vigil.db import Base, UTCDateTime


class HashList(Base):
    __tablename__ = "hash_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: How far its entries may be relied on (:class:`vigil.matching.policy.Trust`): verified
    #: (two organisations confirmed the material), unverified (victim-submitted), allow (benign
    #: look-alikes that suppress matches). Fixed when the list is created.
    trust: Mapped[str] = mapped_column(String(16))
    pdq_threshold: Mapped[int] = mapped_column(Integer)
    #: Whether a query's robust variants (mirrors, trims, turns: vigil.matching.robust) may
    #: hit this list; off unless the Centre opts the list in.
    robust: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def kind(self) -> str:
        """"allow" or "block": what older clients read (derived from ``trust``)."""
        return "allow" if self.trust == "allow" else "block"


class Indicator(Base):
    """A hash on a list, with its provenance. ``salt`` opens the commitment that the
    transparency log holds instead of the value.

    ``status`` (:class:`vigil.indicators.lifecycle.IndicatorStatus`) can be read and queried but
    not assigned: only :func:`vigil.indicators.lifecycle.transition` changes it, together with
    its log leaf, its list-feed entry and its audit record."""

    __tablename__ = "indicators"
    __table_args__ = (Index("ix_indicators_list_value", "list_id", "signal_type", "value"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id"))
    signal_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    salt: Mapped[str] = mapped_column(String(32))
    _status: Mapped[str] = mapped_column("status", String(16), index=True)
    label: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(200))
    proposed_by_org: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    proposed_by_key: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    proposer: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    decided_by_key: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retract_reason: Mapped[str | None] = mapped_column(Text)

    hash_list: Mapped[HashList] = relationship(lazy="selectin")

    @hybrid_property
    def status(self) -> str:
        return self._status


class ListChange(Base):
    """The feed of additions and withdrawals, in commit order: providers' deltas and every
    server worker's index follow it."""

    __tablename__ = "list_changes"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    action: Mapped[str] = mapped_column(String(16))  # "add" | "withdraw"
    at: Mapped[datetime] = mapped_column(UTCDateTime())
