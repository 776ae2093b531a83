from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, PersonalText, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class Report(Base):
    """A provider's report (CSA proposal Art. 13 contents, with NCMEC CyberTipline detail).

    ``status`` (:class:`vigil.reports.lifecycle.ReportStatus`) can be read and queried but not
    assigned: only :func:`vigil.reports.lifecycle.transition` changes it."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("provider_org", "idempotency_key"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    provider_org: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    provider_key: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    _status: Mapped[str] = mapped_column("status", String(24), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    incident_at: Mapped[datetime] = mapped_column(UTCDateTime())
    concerns: Mapped[str] = mapped_column(String(24))  # known_material | new_material | solicitation
    urgent: Mapped[bool] = mapped_column(Boolean)
    urgent_reason: Mapped[str | None] = mapped_column(PersonalText("reports.urgent_reason"))
    legal_basis: Mapped[str] = mapped_column(String(200))
    declared_country: Mapped[str | None] = mapped_column(String(2))
    content_removed: Mapped[bool] = mapped_column(Boolean)
    incident_type: Mapped[str | None] = mapped_column(String(64))
    #: Personal data and the rest of the report (users, IPs, URLs, ...), as JSON. Deleted at
    #: the end of the retention period (anonymous counts stay).
    details: Mapped[str | None] = mapped_column(PersonalText("reports.details"))
    priority: Mapped[int] = mapped_column(Integer, default=0, index=True)
    assessment: Mapped[str | None] = mapped_column(String(32))
    assessment_reason: Mapped[str | None] = mapped_column(Text)
    jurisdictions: Mapped[str] = mapped_column(String(200), default="")  # "DE FR" or "unknown"
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    personal_data_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Human review of new material: material | not_material | needs_information
    review_decision: Mapped[str | None] = mapped_column(String(24))
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @hybrid_property
    def status(self) -> str:
        return self._status


class ReportFile(Base):
    """An uploaded file: stored encrypted (AES-GCM) under ``storage_key``; hashes computed by
    the Centre, not taken from the provider."""

    __tablename__ = "report_files"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str | None] = mapped_column(String(64))
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary(12))
    #: The id of the file key it is encrypted with (:func:`vigil.reports.storage.key_id`);
    #: None: stored before files carried one (any key of the ring may open it).
    key_id: Mapped[str | None] = mapped_column(String(16), index=True)
    #: What the bytes are (typed by content, never by name): image | video | other.
    kind: Mapped[str | None] = mapped_column(String(8))
    md5: Mapped[str] = mapped_column(String(32), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    #: Why the file could not be hashed perceptually (broken, a bomb, not an image or video).
    hash_error: Mapped[str | None] = mapped_column(Text)
    annotations: Mapped[str | None] = mapped_column(Text)  # JSON: NCMEC file annotations
    industry_classification: Mapped[str | None] = mapped_column(String(8))
    viewed_by_provider: Mapped[bool | None] = mapped_column(Boolean)
    publicly_available: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReportHash(Base):
    """A hash in a report: given by the provider, or computed from an uploaded file."""

    __tablename__ = "report_hashes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    signal_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(Text)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("report_files.id"))
    #: The provider's own reference for the file a given hash was taken of: hashes with the
    #: same reference are matched together, like the hashes of an uploaded file.
    file_ref: Mapped[str | None] = mapped_column(String(200))
    #: The best hit (verified first) of this hash's file or item; every hit: ``ReportMatch``.
    matched_indicator: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"))


class ReportMatch(Base):
    """Every indicator a report's content matched at its assessment (the hits that stood after
    the match policy), with the list's trust."""

    __tablename__ = "report_matches"
    __table_args__ = (UniqueConstraint("report_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), index=True)
    trust: Mapped[str] = mapped_column(String(16))


class Routing(Base):
    """Who a report went to: a member state's authority or Europol. The one table that
    decides what an authority may see (see ``orgs/access.py``)."""

    __tablename__ = "report_routings"
    __table_args__ = (UniqueConstraint("report_id", "recipient"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    #: a member-state code ("DE") or "europol"
    recipient: Mapped[str] = mapped_column(String(16), index=True)
    handed_off_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    feedback: Mapped[str | None] = mapped_column(Text)
    delay_user_notice_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Question(Base):
    """A request for more information about a report, from the Centre or an authority, and
    the provider's answer."""

    __tablename__ = "report_questions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    asked_by_org: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))


class ReportSubject(Base):
    """A reported user's identifier, kept as a keyed digest (not in clear) so that reports
    about the same account can be linked without another copy of the identifier."""

    __tablename__ = "report_subjects"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)


class RelatedReport(Base):
    """A link between two reports: the same file, the same hash or the same reported user."""

    __tablename__ = "related_reports"
    __table_args__ = (UniqueConstraint("report_id", "related_id", "reason"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    related_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))  # same_hash | same_user
