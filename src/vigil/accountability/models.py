from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, PersonalText, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class MatchFeedback(Base):
    """A provider's verdict on a match: true_positive or false_positive."""

    __tablename__ = "match_feedback"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    verdict: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Alert(Base):
    """Something reviewers must look at: an indicator quarantined by feedback or by the flood
    guard. ``acknowledged_at`` once a reviewer has seen it."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"))
    message: Mapped[str] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IndicatorHits(Base):
    """How often an indicator matched through the API, per hour: the flood guard's baseline."""

    __tablename__ = "indicator_hits"

    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class Complaint(Base):
    """A user of a service says their content was wrongly removed — directly (naming the
    service and its reference) or through the service. ``status``: open → disputed (two
    reviewers disagreed) → upheld | rejected. Only a hash of the complainant's token is kept."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))  # direct | provider
    provider_name: Mapped[str | None] = mapped_column(String(200))
    provider_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    reference: Mapped[str | None] = mapped_column(String(200))
    statement: Mapped[str] = mapped_column(PersonalText("complaints.statement"))
    indicator_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ComplaintAssessment(Base):
    """One reviewer's re-assessment of a complaint (each reviewer once)."""

    __tablename__ = "complaint_assessments"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    decision: Mapped[str] = mapped_column(String(16))  # upheld | rejected
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
