"""The tables of hotline referral: the registry of partner hotlines (one per country), the
referrals this instance made, and the referrals it received from partners."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, PersonalText, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class PartnerHotline(Base):
    """A partner hotline: where URLs hosted in ``country`` are referred. ``kind``: ``vigil`` (a
    partner vigil: ``url`` is its base URL, ``secret`` the API key it issued to this Centre,
    with the scope ``referrals:submit``) or ``webhook`` (``url`` receives signed webhooks,
    ``secret`` signs them and verifies the partner's status updates). Written by the Centre
    only; the secret is sealed at rest and never shown again."""

    __tablename__ = "partner_hotlines"

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(PersonalText("partner_hotlines.secret"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))


class Referral(Base):
    """A URL this instance classified illegal, referred (or, with ``not_referred``, not) to the
    partner hotline of its hosting country. ``status`` has no setter: only
    :func:`vigil.takedown.referrals.lifecycle.transition` changes it. ``job_id``: the delivery
    job, whose attempts and last error say how delivery goes while the referral is pending."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    url_report_id: Mapped[int] = mapped_column(ForeignKey("url_reports.id"), index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"))
    url: Mapped[str] = mapped_column(Text)
    #: The hosting country when the referral was decided (None: unknown).
    country: Mapped[str | None] = mapped_column(String(2))
    #: The hotline it went to (None: not referred, or the hotline was removed since).
    hotline_id: Mapped[int | None] = mapped_column(ForeignKey("partner_hotlines.id"), index=True)
    hotline_name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(16))
    _status: Mapped[str] = mapped_column("status", String(16), index=True)
    #: Why it was not referred, or what the partner said last.
    reason: Mapped[str | None] = mapped_column(Text)
    #: The partner's id of the referral (a partner vigil's inbound referral id).
    remote_id: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(_ID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last status poll's failure (None after a poll that worked).
    poll_error: Mapped[str | None] = mapped_column(Text)

    @hybrid_property
    def status(self) -> str:
        return self._status


class InboundReferral(Base):
    """A referral received from a partner (authenticated by its key): the URL report it
    became here (``source`` ``referral``), and the partner's own reference, so that the same
    referral sent twice is one."""

    __tablename__ = "inbound_referrals"
    __table_args__ = (UniqueConstraint("from_org", "reference"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    url_report_id: Mapped[int] = mapped_column(ForeignKey("url_reports.id"), index=True)
    from_org: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    #: What the referring hotline decided (its classification and the hosting country it saw).
    classification: Mapped[str] = mapped_column(String(24))
    hosting_country: Mapped[str | None] = mapped_column(String(2))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
