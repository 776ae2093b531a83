from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vigil.db import Base, PersonalText, UTCDateTime


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    member_state: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: For organisations whose kind may review or approve: when a second party (an approved
    #: partner centre, or an auditor) approved it — or, for the founding organisations the
    #: operator set up, when they were created; until then its keys cannot review or approve.
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))


class ApiKey(Base):
    """A credential. Only the SHA-256 of its secret is stored; the secret is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    holder: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The organisation that issued it (None: the operator, on the server).
    issued_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    #: A key with second-party scopes that another organisation issued works as such only
    #: once a second party confirmed it (or approved its organisation); else set at issue.
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_org: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))

    organisation: Mapped[Organisation] = relationship(lazy="joined",
                                                      foreign_keys=[organisation_id])




class StaffAccount(Base):
    """A person who signs in to the workspace with a password (argon2id hash only).

    Each account acts through a credential of its own (``api_key``, whose secret nobody holds):
    its scopes are the account's role, bounded by the organisation's kind, and every action is
    attributed to it exactly as to an API key — the two-person rule and the audit trail need
    nothing new."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(8), default="en")
    password_hash: Mapped[str] = mapped_column(String(200))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), unique=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The TOTP secret (RFC 6238), sealed like other personal data and loaded only when a
    #: code is checked; set at the first sign-in that needs it, confirmed by a first code.
    totp_secret: Mapped[str | None] = mapped_column(
        PersonalText("staff_accounts.totp_secret"), deferred=True)
    #: When the first code confirmed the secret (None: not enrolled, or reset by an admin).
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last 30-second step whose code was accepted: a code is good once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    api_key: Mapped[ApiKey] = relationship(lazy="joined")


class RecoveryCode(Base):
    """A one-time code that stands in for the authenticator (SHA-256 of it only; shown once,
    at enrolment)."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(token)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: What the session still waits for after the password: ``second_factor`` (a code) or
    #: ``enrol`` (the account must set up its authenticator first); None: signed in. A
    #: waiting session opens no page but the one that completes it.
    pending: Mapped[str | None] = mapped_column(String(16))
