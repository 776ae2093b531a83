"""Managing staff accounts: find and list them, disable and enable them, reset a password or
a second factor. The operator's ``vigil account`` commands (``actor`` None) and the Centre's
``orgs:manage`` routes call these; each writes its audit event in the caller's transaction,
and each that changes how an account signs in ends its open sessions at once.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, NotFound
from vigil.orgs import second_factor
from vigil.orgs.access import Principal
from vigil.orgs.accounts import NewAccount, check_password, hash_password
from vigil.orgs.models import ApiKey, StaffAccount, WebSession


def end_sessions(session: Session, account: StaffAccount) -> int:
    """End every open session of the account (complete or waiting) at once; how many."""
    t = now()
    webs = session.scalars(select(WebSession).where(WebSession.account_id == account.id,
                                                    WebSession.ended_at.is_(None))).all()
    for web in webs:
        web.ended_at = t
    return len(webs)


def find_account(session: Session, username: str, *, lock: bool = False) -> StaffAccount:
    """The account of ``username``; :class:`~vigil.errors.NotFound` naming it."""
    query = select(StaffAccount).where(StaffAccount.username == username.strip().lower())
    account = session.scalar(query.with_for_update(of=StaffAccount) if lock else query)
    if account is None:
        raise NotFound(f"no account named {username!r}")
    return account


def get_account(session: Session, account_id: int) -> StaffAccount:
    account = session.scalar(select(StaffAccount).where(StaffAccount.id == account_id)
                             .with_for_update(of=StaffAccount))
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


def list_accounts(session: Session, organisation_id: int | None = None) -> list[StaffAccount]:
    """Every account (of one organisation), by username."""
    query = select(StaffAccount).order_by(StaffAccount.username)
    if organisation_id is not None:
        query = query.join(StaffAccount.api_key).where(ApiKey.organisation_id == organisation_id)
    return list(session.scalars(query))


def disable_account(session: Session, actor: Principal | None,
                    account: StaffAccount) -> StaffAccount:
    """The account can no longer sign in, and its open sessions end now: every page checks
    the account on every request (nothing about a session is cached), and the account's
    credential has no secret anyone holds, so nothing else acts for it."""
    if account.disabled_at is not None:
        raise Conflict(f"the account {account.username!r} is disabled already")
    account.disabled_at = now()
    ended = end_sessions(session, account)
    record(session, actor, AuditAction.ACCOUNT_DISABLED, subject=str(account.id),
           details={"sessions_ended": ended})
    return account


def enable_account(session: Session, actor: Principal | None,
                   account: StaffAccount) -> StaffAccount:
    if account.disabled_at is None:
        raise Conflict(f"the account {account.username!r} is not disabled")
    if account.api_key.revoked_at is not None:
        raise Conflict(f"the credential of {account.username!r} was revoked; a revoked key "
                       "stays revoked: create a new account")
    account.disabled_at = None
    record(session, actor, AuditAction.ACCOUNT_ENABLED, subject=str(account.id))
    return account


def reset_password(session: Session, actor: Principal | None, account: StaffAccount,
                   password: str | None = None) -> NewAccount:
    """A new password (``password``, checked like any, or a generated one to show once); the
    account's open sessions end."""
    password = password or secrets.token_urlsafe(15)
    check_password(password, account.username)
    account.password_hash = hash_password(password)
    ended = end_sessions(session, account)
    record(session, actor, AuditAction.ACCOUNT_PASSWORD_RESET, subject=str(account.id),
           details={"sessions_ended": ended})
    return NewAccount(account, password)


def reset_second_factor(session: Session, actor: Principal | None,
                        account: StaffAccount) -> StaffAccount:
    """Forget the account's authenticator and recovery codes (a lost phone): its next sign-in
    enrols a new one if its role needs one. Its open sessions end."""
    second_factor.clear(session, account)
    ended = end_sessions(session, account)
    record(session, actor, AuditAction.ACCOUNT_SECOND_FACTOR_RESET, subject=str(account.id),
           details={"sessions_ended": ended})
    return account
