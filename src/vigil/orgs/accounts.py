"""Staff accounts and workspace sessions: create, sign in (argon2id, lockout), resolve, sign out.

An account's role names a set of scopes; the organisation's kind bounds them exactly as it
bounds an API key's (a provider's staff can never review indicators). Each account acts through
an API-key row of its own whose secret is discarded at once, so every existing rule that looks
at "the key" — the two-person rule, provenance, the audit trail — applies to people unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.config import Settings
from vigil.errors import Conflict, Invalid, NotFound, RateLimited
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind, Principal, Scope, effective_scopes
from vigil.orgs.models import Organisation, StaffAccount, WebSession
from vigil.ratelimit import LimitStore, digest

ROLE_SCOPES: dict[str, frozenset[Scope]] = {
    # Reviews new material and verifies other organisations' indicators.
    "reviewer": frozenset({Scope.REPORTS_REVIEW, Scope.INDICATORS_REVIEW, Scope.INDICATORS_READ,
                           Scope.INDICATORS_PROPOSE, Scope.LOG_READ, Scope.STATS_READ,
                           Scope.TAKEDOWN_MANAGE}),
    # Classifies reported URLs and follows notices (the Centre's or a hotline's analyst).
    "analyst": frozenset({Scope.TAKEDOWN_MANAGE, Scope.REPORTS_SUBMIT, Scope.STATS_READ,
                          Scope.LOG_READ}),
    # An authority's or Europol's officer: the inbox of routed reports.
    "officer": frozenset({Scope.REPORTS_RECEIVE, Scope.LOG_READ}),
    "auditor": frozenset({Scope.INDICATORS_READ, Scope.LOG_READ, Scope.AUDIT_READ,
                          Scope.STATS_READ}),
    # Everything the organisation's kind allows.
    "admin": frozenset(Scope),
}
#: What a role is for: an organisation whose kind allows none of these cannot have the role.
ROLE_PURPOSE: dict[str, frozenset[Scope]] = {
    "reviewer": frozenset({Scope.REPORTS_REVIEW, Scope.INDICATORS_REVIEW}),
    "officer": frozenset({Scope.REPORTS_RECEIVE}),
    "analyst": frozenset({Scope.TAKEDOWN_MANAGE}),
    "auditor": frozenset({Scope.AUDIT_READ}),
    "admin": frozenset(Scope),
}
LOCALES = ("en", "de")
MIN_PASSWORD = 12

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so that both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def role_scopes(role: str, kind: OrgKind) -> frozenset[Scope]:
    if role not in ROLE_SCOPES:
        raise Invalid(f"unknown role {role!r}; one of {', '.join(ROLE_SCOPES)}")
    scopes = ROLE_SCOPES[role] & KIND_SCOPES[kind]
    if not scopes & ROLE_PURPOSE[role]:
        raise Invalid(f"the role {role!r} has nothing to do in an organisation of kind "
                      f"{kind.value!r}")
    return scopes


def check_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"a password needs at least {MIN_PASSWORD} characters")
    if username.lower() in password.lower():
        raise Invalid("the password must not contain the username")


@dataclass(frozen=True)
class NewAccount:
    account: StaffAccount
    password: str  # shown once when generated, never stored


def create_account(session: Session, actor: Principal | None, organisation_id: int,
                   username: str, role: str, *, display_name: str | None = None,
                   password: str | None = None, locale: str = "en") -> NewAccount:
    username = username.strip().lower()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise Invalid("a username is 1-64 letters, digits, '.', '_' or '-'")
    if locale not in LOCALES:
        raise Invalid(f"locale must be one of {', '.join(LOCALES)}")
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"no organisation {organisation_id}")
    scopes = role_scopes(role, OrgKind(org.kind))
    if session.scalar(select(StaffAccount).where(StaffAccount.username == username)):
        raise Conflict(f"the username {username!r} is taken")
    password = password or secrets.token_urlsafe(15)
    check_password(password, username)
    issued = orgs.issue_key(session, actor, org.id, f"account:{username}", set(scopes))
    account = StaffAccount(username=username, display_name=display_name or username, role=role,
                           locale=locale, password_hash=_hasher.hash(password),
                           api_key_id=issued.key.id, failed_logins=0, created_at=now())
    session.add(account)
    session.flush()
    record(session, actor, AuditAction.ACCOUNT_CREATED, subject=str(account.id),
           details={"organisation": org.id, "role": role})
    return NewAccount(account, password)


def principal_of(account: StaffAccount) -> Principal:
    key = account.api_key
    org = key.organisation
    kind = OrgKind(org.kind)
    return Principal(org.id, org.name, kind, org.member_state, key.id, account.username,
                     effective_scopes(kind, org.approved_at is not None,
                                      key.approved_at is not None, key.scopes.split()))


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt; failures are returned, not raised, so that the caller
    commits the failure count."""

    token: str | None = None
    session: WebSession | None = None
    account: StaffAccount | None = None

    @property
    def ok(self) -> bool:
        return self.token is not None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """Failed sign-ins counted by *source* (the client's address), in the store every server
    worker shares (:class:`vigil.ratelimit.LimitStore`): after ``max_failures`` failures for
    one username from one address, that address's attempts for that username fail without a
    check for ``minutes``; after ten times as many from one address, for any username, its
    attempts get a 429 that says so. Nobody can lock another person out from elsewhere, and a
    blocked attempt answers exactly like a wrong password (the same message, status and
    argon2 time): sign-in tells nothing about which usernames exist or are being attacked.
    Usernames are kept as digests (bounded keys, no names in the store)."""

    def __init__(self, max_failures: int, minutes: int, *, store: LimitStore | None = None) -> None:
        store = store or LimitStore()
        self.max_failures = max_failures
        self.window = minutes * 60
        self._per_username = store.window("sign-in", max_failures, self.window)
        self._per_source = store.window("sign-in-source", 10 * max_failures, self.window)

    @staticmethod
    def _pair(source: str, username: str) -> str:
        return f"{source}|{digest(username)}"

    def check_source(self, source: str) -> None:
        """Raises :class:`~vigil.errors.RateLimited` for a source over its overall budget."""
        if self._per_source.full(source):
            raise RateLimited("too many failed sign-ins from your address; try again later",
                              retry_after=self._per_source.retry_after(source))

    def blocked(self, source: str, username: str) -> bool:
        return self._per_username.full(self._pair(source, username))

    def failed(self, source: str, username: str) -> bool:
        """Count a failure; True when this source is now blocked for this username."""
        self._per_source.hit(source)
        pair = self._pair(source, username)
        self._per_username.hit(pair)
        return self._per_username.full(pair)

    def succeeded(self, source: str, username: str) -> None:
        self._per_username.clear(self._pair(source, username))


def sign_in(session: Session, settings: Settings, username: str, password: str, *,
            source: str = "unknown", throttle: LoginThrottle | None = None) -> SignIn:
    """Check a password; every failure — unknown user, disabled account, wrong password, a
    source blocked for this username — gives the same :class:`SignIn` after the same work."""
    t = now()
    name = username.strip().lower()
    if throttle is not None:
        throttle.check_source(source)
    account = session.scalar(select(StaffAccount).where(
        StaffAccount.username == name).with_for_update(of=StaffAccount))
    usable = account is not None and account.disabled_at is None and not account.api_key.revoked_at
    blocked = throttle is not None and throttle.blocked(source, name)
    try:
        _hasher.verify(account.password_hash if usable and account else _DUMMY_HASH, password or "-")
        ok = usable and not blocked
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or account is None:
        if usable and account is not None:
            actor = principal_of(account)
            record(session, actor, AuditAction.ACCOUNT_SIGN_IN_FAILED, subject=str(account.id),
                   details={"blocked_source": blocked})
            if throttle is not None and not blocked and throttle.failed(source, name):
                record(session, actor, AuditAction.ACCOUNT_LOCKED, subject=str(account.id),
                       details={"minutes": settings.login_lockout_minutes, "per_source": True})
        elif throttle is not None:
            throttle.failed(source, name)
        return SignIn()
    if throttle is not None:
        throttle.succeeded(source, name)
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    token = secrets.token_urlsafe(32)
    web = WebSession(id=_digest(token), account_id=account.id, csrf_token=secrets.token_urlsafe(32),
                     created_at=t, last_seen_at=t)
    session.add(web)
    record(session, principal_of(account), AuditAction.ACCOUNT_SIGNED_IN, subject=str(account.id))
    return SignIn(token, web, account)


@dataclass(frozen=True)
class SignedIn:
    account: StaffAccount
    web: WebSession
    principal: Principal

    def csrf_ok(self, value: str | None) -> bool:
        # Bytes: compare_digest raises on non-ASCII str (a 500 instead of a refusal).
        return bool(value) and hmac.compare_digest(self.web.csrf_token.encode(),
                                                   (value or "").encode())


def resolve(session: Session, settings: Settings, token: str | None) -> SignedIn | None:
    """The signed-in account for a session cookie, or None (unknown, ended, idle too long,
    too old, account disabled or its credential revoked)."""
    if not token or len(token) > 200:
        return None
    web = session.get(WebSession, _digest(token))
    if web is None or web.ended_at is not None:
        return None
    t = now()
    if (t - _aware(web.last_seen_at) > timedelta(minutes=settings.session_idle_minutes)
            or t - _aware(web.created_at) > timedelta(hours=settings.session_max_hours)):
        return None
    account = session.get(StaffAccount, web.account_id)
    if account is None or account.disabled_at is not None or account.api_key.revoked_at:
        return None
    return SignedIn(account, web, principal_of(account))


def touch(session: Session, token: str) -> None:
    """Keep an active session alive (called at most once a minute per session)."""
    web = session.get(WebSession, _digest(token))
    if web is not None and web.ended_at is None:
        web.last_seen_at = now()


def sign_out(session: Session, token: str | None) -> None:
    if not token:
        return
    web = session.get(WebSession, _digest(token))
    if web is None or web.ended_at is not None:
        return
    web.ended_at = now()
    account = session.get(StaffAccount, web.account_id)
    if account is not None:
        record(session, principal_of(account), AuditAction.ACCOUNT_SIGNED_OUT,
               subject=str(account.id))
