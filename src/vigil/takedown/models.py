from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.db import Base, PersonalText, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class UrlReport(Base):
    """A URL reported by the public, a hotline or the crawler. ``classification``: None until an
    analyst decides — illegal_international (the international baseline), illegal_national,
    not_illegal."""

    __tablename__ = "url_reports"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    url: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255), index=True)
    source: Mapped[str] = mapped_column(String(16))  # public | hotline | crawler
    reporter_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    description: Mapped[str | None] = mapped_column(PersonalText("url_reports.description"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    classification: Mapped[str | None] = mapped_column(String(24))
    classification_country: Mapped[str | None] = mapped_column(String(2))
    classified_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    classified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: For crawler hits: the indicator and list that matched (never the media itself).
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"))
    list_name: Mapped[str | None] = mapped_column(String(64))
    #: That list's trust: "unverified" hits wait here for an analyst before any notice.
    list_trust: Mapped[str | None] = mapped_column(String(16))


class Notice(Base):
    """A removal notice for one URL at its hosting provider, repeated until the content is gone.
    ``status``: open → removed (confirmed by a re-check) or closed (withdrawn)."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    url_report_id: Mapped[int] = mapped_column(ForeignKey("url_reports.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    hosting_country: Mapped[str | None] = mapped_column(String(2), index=True)
    provider: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    webhook: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: The indicator a crawler hit matched (a re-upload is the same indicator at a new URL).
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id"), index=True)
    victim_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_action_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    sends: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the hosting country's law-enforcement authority was told (at classification, for
    #: victim identification), and the job that tells it (its attempts and last error).
    authority_informed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    authority_job_id: Mapped[int | None] = mapped_column(_ID)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removal_evidence: Mapped[str | None] = mapped_column(String(32))
    #: A known hash reappearing at a new URL: the earlier notice it repeats.
    reupload_of: Mapped[int | None] = mapped_column(ForeignKey("notices.id"))


class NoticeEvent(Base):
    """What happened to a notice: opened, baseline, sent_email / sent_webhook, send_failed,
    recheck_present / recheck_failed, held_for_referral (the partner hotline in the host's
    country sends the notice), removed, escalated, authority_informed / authority_unknown,
    closed."""

    __tablename__ = "notice_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class HostingContact(Base):
    """Where notices for a host go: a domain (and its subdomains) or an address range, with the
    provider's name, abuse e-mail and/or signed-webhook URL."""

    __tablename__ = "hosting_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    match: Mapped[str] = mapped_column(String(255), unique=True)  # "example.org" or "192.0.2.0/24"
    provider: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    webhook: Mapped[str | None] = mapped_column(Text)
    #: The provider's country when known from the directory; otherwise the address decides.
    country: Mapped[str | None] = mapped_column(String(2))


class HostingContactProposal(Base):
    """An entry for the hosting directory proposed by another organisation (a hotline): the
    directory decides where every organisation's notices and escalations go, so only the
    Centre writes it, approving proposals or not."""

    __tablename__ = "hosting_contact_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    match: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    webhook: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    proposed_by_org: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), index=True)  # proposed | approved | rejected
    decided_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NoticeHash(Base):
    """A digest of what a notice's URL served, to recognise the same content at a new URL
    (re-upload) and to see whether a re-check still finds it."""

    __tablename__ = "notice_hashes"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    signal_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64), index=True)


class Crawl(Base):
    """A proactive search: seeds, the domains it may visit, its limits, and its progress."""

    __tablename__ = "crawls"

    id: Mapped[int] = mapped_column(primary_key=True)
    seeds: Mapped[str] = mapped_column(Text)  # JSON list
    allowed_domains: Mapped[str] = mapped_column(Text)  # JSON list
    options: Mapped[str] = mapped_column(Text, default="{}")  # JSON: limits, robots, rate
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | stopped
    #: Who started it (None: the operator at the command line); others cannot read it.
    created_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CrawlUrl(Base):
    """The crawl's frontier and memory: every URL seen once (deduplicated), its state, and for
    media the SHA-256 of what was served (so identical content is hashed and matched once)."""

    __tablename__ = "crawl_urls"
    __table_args__ = (UniqueConstraint("crawl_id", "url_key"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    crawl_id: Mapped[int] = mapped_column(ForeignKey("crawls.id"), index=True)
    url_key: Mapped[str] = mapped_column(String(64))  # sha256 of the normalised URL
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))  # page | media
    depth: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), index=True)  # queued | done | failed | skipped
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
