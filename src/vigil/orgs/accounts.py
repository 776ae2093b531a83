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

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil import passwords
from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.config import Settings
from vigil.errors import Conflict, Invalid, NotFound, RateLimited
from vigil.orgs import second_factor
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind, Principal, Scope
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
    # A prevention practitioner: proposes entries for the prevention hub.
    "practitioner": frozenset({Scope.PREVENTION_PROPOSE}),
    # The Centre's editor of the prevention hub: publishes or rejects proposals.
    "editor": frozenset({Scope.PREVENTION_REVIEW, Scope.PREVENTION_PROPOSE}),
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
    "practitioner": frozenset({Scope.PREVENTION_PROPOSE}),
    "editor": frozenset({Scope.PREVENTION_REVIEW}),
    "admin": frozenset(Scope),
}
#: The languages an account may choose for its pages: those the pages ship complete
#: (vigil.web.i18n.COMPLETE, which a test keeps in step with this).
LOCALES = ("en", "de", "fr")
MIN_PASSWORD = 12



def hash_password(password: str) -> str:
    """The argon2id hash of a password (the only form it is stored in; vigil.passwords)."""
    return passwords.hash_secret(password)


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
                           locale=locale, password_hash=hash_password(password),
                           api_key_id=issued.key.id, failed_logins=0, created_at=now())
    session.add(account)
    session.flush()
    record(session, actor, AuditAction.ACCOUNT_CREATED, subject=str(account.id),
           details={"organisation": org.id, "role": role})
    return NewAccount(account, password)


def principal_of(account: StaffAccount) -> Principal:
    return orgs.principal_of_key(account.api_key, account.username)


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


@dataclass(frozen=True)
class PasswordCheck:
    """A password verified (argon2id, tens of milliseconds) before any write transaction, so
    that sign-ins hold no write lock while they hash: ``verified_hash`` is the stored hash the
    password matched, None when it matched none (or the account is unknown or unusable)."""

    username: str
    verified_hash: str | None


def _verify(account: StaffAccount | None, name: str, password: str) -> PasswordCheck:
    usable = account is not None and account.disabled_at is None and not account.api_key.revoked_at
    if not usable or account is None:
        passwords.verify_nothing(password)  # the same work as for a known name
        return PasswordCheck(name, None)
    stored = account.password_hash
    return PasswordCheck(name, stored if passwords.verify(stored, password) else None)


def check_password_of(session: Session, username: str, password: str) -> PasswordCheck:
    """The first half of :func:`sign_in`, in a read-only session: the same work whether the
    username exists or not."""
    name = username.strip().lower()
    account = session.scalar(select(StaffAccount).where(StaffAccount.username == name))
    return _verify(account, name, password)


def sign_in(session: Session, settings: Settings, username: str, password: str, *,
            source: str = "unknown", throttle: LoginThrottle | None = None,
            checked: PasswordCheck | None = None) -> SignIn:
    """Check a password; every failure — unknown user, disabled account, wrong password, a
    source blocked for this username — gives the same :class:`SignIn` after the same work.
    ``checked``: the password already verified by :func:`check_password_of` outside this
    (write) transaction; it counts only if the stored hash has not changed since.

    A right password opens a session that waits (``SignIn.session.pending``) when the account
    has a second factor (``second_factor``: :func:`complete_sign_in` takes the code) or needs
    one and has none yet (``enrol``: the authenticator's secret is made now, confirmed by a
    first code). The source's failure count is cleared only once the sign-in is complete, so
    that the password does not buy fresh guesses at the code."""
    t = now()
    name = username.strip().lower()
    if throttle is not None:
        throttle.check_source(source)
    account = session.scalar(select(StaffAccount).where(
        StaffAccount.username == name).with_for_update(of=StaffAccount))
    usable = account is not None and account.disabled_at is None and not account.api_key.revoked_at
    blocked = throttle is not None and throttle.blocked(source, name)
    if checked is None or checked.username != name:
        checked = _verify(account, name, password)
    ok = (usable and not blocked and account is not None
          and checked.verified_hash is not None
          and hmac.compare_digest(checked.verified_hash.encode(), account.password_hash.encode()))
    if not ok or account is None:
        if usable and account is not None:
            _failed(session, settings, account, AuditAction.ACCOUNT_SIGN_IN_FAILED, source,
                    throttle, blocked)
        elif throttle is not None:
            throttle.failed(source, name)
        return SignIn()
    if passwords.needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    pending = None
    if second_factor.enrolled(account):
        pending = PENDING_CODE
    elif second_factor.requires_second_factor(account):
        pending = PENDING_ENROL
        if account.totp_secret is None:
            account.totp_secret = second_factor.new_secret()
    elif throttle is not None:
        throttle.succeeded(source, name)
    token, web = _open_session(session, account, t, pending)
    if pending is None:
        record(session, principal_of(account), AuditAction.ACCOUNT_SIGNED_IN,
               subject=str(account.id))
    return SignIn(token, web, account)


def _open_session(session: Session, account: StaffAccount, t: datetime,
                  pending: str | None) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    web = WebSession(id=_digest(token), account_id=account.id, csrf_token=secrets.token_urlsafe(32),
                     created_at=t, last_seen_at=t, pending=pending)
    session.add(web)
    session.flush()
    return token, web


def _failed(session: Session, settings: Settings, account: StaffAccount, action: AuditAction,
            source: str, throttle: LoginThrottle | None, blocked: bool) -> bool:
    """Record a failed password or code and count it for the source; True when the source is
    now (or was already) blocked for this account."""
    actor = principal_of(account)
    record(session, actor, action, subject=str(account.id), details={"blocked_source": blocked})
    if throttle is None or blocked:
        return blocked
    if throttle.failed(source, account.username):
        record(session, actor, AuditAction.ACCOUNT_LOCKED, subject=str(account.id),
               details={"minutes": settings.login_lockout_minutes, "per_source": True})
        return True
    return False


#: What a waiting session waits for (:attr:`WebSession.pending`).
PENDING_CODE = "second_factor"
PENDING_ENROL = "enrol"
#: How long a session may wait for its second factor after the password.
PENDING_MINUTES = 10


@dataclass(frozen=True)
class SecondStep:
    """The outcome of :func:`complete_sign_in`: ``sign_in.ok`` when complete (a new session
    token replaces the waiting one), ``recovery_codes`` when this completed an enrolment (shown
    once), ``ended`` when the waiting session ended (too many wrong codes: start again)."""

    sign_in: SignIn
    recovery_codes: tuple[str, ...] = ()
    ended: bool = False


def complete_sign_in(session: Session, settings: Settings, token: str | None, code: str, *,
                     source: str = "unknown", throttle: LoginThrottle | None = None) -> SecondStep:
    """The second step of a sign-in: ``code`` is the authenticator's current code (or, for an
    enrolled account, one of its recovery codes). A wrong or reused code counts as a failed
    sign-in of the source (the same throttle as passwords); once the source is blocked the
    waiting session ends. Success ends the waiting session and opens a complete one."""
    web = _waiting(session, settings, token, lock=True)
    if web is None:
        return SecondStep(SignIn(), ended=True)
    if throttle is not None:
        throttle.check_source(source)
    account = session.scalar(select(StaffAccount).where(StaffAccount.id == web.account_id)
                             .with_for_update(of=StaffAccount))
    if account is None or account.disabled_at is not None or account.api_key.revoked_at:
        web.ended_at = now()
        return SecondStep(SignIn(), ended=True)
    blocked = throttle is not None and throttle.blocked(source, account.username)
    how = None
    if not blocked and web.pending == PENDING_ENROL:
        how = "enrolled" if second_factor.check_totp(account, code) else None
    elif not blocked:
        how = ("totp" if second_factor.check_totp(account, code)
               else "recovery_code" if second_factor.use_recovery_code(session, account, code)
               else None)
    if how is None:
        if _failed(session, settings, account, AuditAction.ACCOUNT_SECOND_FACTOR_FAILED, source,
                   throttle, blocked):
            web.ended_at = now()
            return SecondStep(SignIn(), ended=True)
        return SecondStep(SignIn())
    if throttle is not None:
        throttle.succeeded(source, account.username)
    t = now()
    web.ended_at = t
    actor = principal_of(account)
    codes: tuple[str, ...] = ()
    if how == "enrolled":
        account.totp_enrolled_at = t
        codes = tuple(second_factor.new_recovery_codes(session, account))
        record(session, actor, AuditAction.ACCOUNT_SECOND_FACTOR_ENROLLED, subject=str(account.id))
    elif how == "recovery_code":
        record(session, actor, AuditAction.ACCOUNT_RECOVERY_CODE_USED, subject=str(account.id),
               details={"left": second_factor.recovery_codes_left(session, account)})
    new_token, new_web = _open_session(session, account, t, None)
    record(session, actor, AuditAction.ACCOUNT_SIGNED_IN, subject=str(account.id),
           details={"second_factor": how})
    return SecondStep(SignIn(new_token, new_web, account), codes)


def _waiting(session: Session, settings: Settings, token: str | None, *,
             lock: bool = False) -> WebSession | None:
    if not token or len(token) > 200:
        return None
    web = session.get(WebSession, _digest(token), with_for_update=lock)
    if web is None or web.ended_at is not None or web.pending is None:
        return None
    if now() - _aware(web.created_at) > timedelta(minutes=PENDING_MINUTES):
        return None
    return web


@dataclass(frozen=True)
class Waiting:
    """A session that waits for its second factor: what the page that completes it shows."""

    account: StaffAccount
    web: WebSession
    #: For an enrolment: the secret as text, its otpauth URI, and the URI as an SVG QR code.
    secret: str | None = None
    uri: str | None = None


def waiting(session: Session, settings: Settings, token: str | None) -> Waiting | None:
    """The waiting session of a cookie, or None (none, complete, ended, or over
    :data:`PENDING_MINUTES` old)."""
    web = _waiting(session, settings, token)
    if web is None:
        return None
    account = session.get(StaffAccount, web.account_id)
    if account is None or account.disabled_at is not None or account.api_key.revoked_at:
        return None
    if web.pending == PENDING_ENROL and account.totp_secret:
        secret = account.totp_secret
        return Waiting(account, web, secret, second_factor.provisioning_uri(account, secret))
    return Waiting(account, web)


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
    if web is None or web.ended_at is not None or web.pending is not None:
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
    """End a session, complete or waiting for its second factor."""
    if not token or len(token) > 200:
        return
    web = session.get(WebSession, _digest(token))
    if web is None or web.ended_at is not None:
        return
    web.ended_at = now()
    account = session.get(StaffAccount, web.account_id)
    if account is not None and web.pending is None:
        record(session, principal_of(account), AuditAction.ACCOUNT_SIGNED_OUT,
               subject=str(account.id))
