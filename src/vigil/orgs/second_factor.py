"""The second factor of staff sign-in: TOTP codes (RFC 6238: six digits, 30-second steps,
HMAC-SHA1, as every authenticator app makes them) and one-time recovery codes.

Who needs one is decided from the account's granted scopes (:data:`SECOND_FACTOR_SCOPES` in
``access.py``), never from a list of roles. The secret is sealed like other personal data;
a code is accepted once (its step is remembered), one step early or late for clocks that
drift; recovery codes are stored as SHA-256 digests (they are random, 50 bits each) and each
works once. Checking a code here only answers yes or no: the sign-in flow in ``accounts.py``
counts failures in the same throttle as wrong passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.clock import now
from vigil.orgs.access import SECOND_FACTOR_SCOPES, Scope
from vigil.orgs.models import RecoveryCode, StaffAccount

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODES = 10
#: Issuer shown in authenticator apps.
ISSUER = "vigil"
#: Steps either side of now whose code is still accepted (a phone's clock a little off).
DRIFT_STEPS = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def requires_second_factor(account: StaffAccount) -> bool:
    """Whether the account's role, in its organisation, holds a scope that needs a second
    factor (:data:`~vigil.orgs.access.SECOND_FACTOR_SCOPES`)."""
    granted = {Scope(s) for s in account.api_key.scopes.split()}
    return bool(granted & SECOND_FACTOR_SCOPES)


def enrolled(account: StaffAccount) -> bool:
    return account.totp_enrolled_at is not None


def new_secret() -> str:
    """A fresh TOTP secret: 160 random bits in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(account: StaffAccount, secret: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads (as text or as a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account.username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no image request: the pages' CSP allows none)."""
    import segno

    return str(segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff",
                                                     title="vigil"))


def _step(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def code_at(secret: str, at: datetime) -> str:
    """The code an authenticator shows at ``at`` (tests and the demo use it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(_step(at))


def _normalise(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def check_totp(account: StaffAccount, code: str, secret: str | None = None) -> bool:
    """Whether ``code`` is the account's current TOTP code and not one used before (the code
    of a step at or before the last accepted one is refused, so a code overheard or replayed
    within its 30 seconds does not work). On success the step is remembered. ``secret``: the
    one to check against (default the account's)."""
    secret = secret or account.totp_secret
    code = _normalise(code)
    if not secret or len(code) != DIGITS or not code.isdigit():
        return False
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = _step(now())
    last = account.totp_last_step if account.totp_last_step is not None else -1
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            if step <= last:
                return False
            account.totp_last_step = step
            return True
    return False


def _digest(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def new_recovery_codes(session: Session, account: StaffAccount) -> list[str]:
    """Replace the account's recovery codes by :data:`RECOVERY_CODES` new ones, returned to be
    shown once (``xxxxx-xxxxx``, 10 letters and digits, about 50 bits each)."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    t = now()
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(account_id=account.id, code_hash=_digest(raw), created_at=t))
    session.flush()
    return codes


def use_recovery_code(session: Session, account: StaffAccount, code: str) -> bool:
    """Whether ``code`` is one of the account's unused recovery codes; if so it is used up."""
    if len(_normalise(code)) != 10:
        return False
    row = session.scalar(select(RecoveryCode).where(
        RecoveryCode.account_id == account.id, RecoveryCode.code_hash == _digest(code),
        RecoveryCode.used_at.is_(None)).with_for_update())
    if row is None:
        return False
    row.used_at = now()
    return True


def recovery_codes_left(session: Session, account: StaffAccount) -> int:
    return len(session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))).all())


def clear(session: Session, account: StaffAccount) -> None:
    """Forget the account's authenticator and recovery codes (an administrator's reset)."""
    account.totp_secret = None
    account.totp_enrolled_at = None
    account.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
