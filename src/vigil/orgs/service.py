"""Organisations and API keys: create, issue (the secret is returned once), revoke,
authenticate."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.errors import Conflict, Forbidden, Invalid, NotAuthenticated, NotFound
from vigil.orgs.access import REVIEWING_KINDS, OrgKind, Principal, Scope, check_grant, effective_scopes
from vigil.orgs.models import ApiKey, Organisation
from vigil.translog import repository as translog

TOKEN_PREFIX = "vgl"  # noqa: S105 - a label, not a secret


def create_organisation(session: Session, actor: Principal | None, name: str, kind: OrgKind,
                        member_state: str | None = None) -> Organisation:
    if kind is OrgKind.AUTHORITY and not member_state:
        raise Invalid("an authority needs its member-state code (e.g. 'DE')")
    if member_state and (len(member_state) != 2 or not member_state.isalpha()):
        raise Invalid(f"member_state must be a two-letter code, got {member_state!r}")
    if session.scalar(select(Organisation).where(Organisation.name == name)):
        raise Conflict(f"an organisation named {name!r} exists already")
    org = Organisation(name=name, kind=kind.value,
                       member_state=member_state.upper() if member_state else None,
                       created_at=now())
    if kind in REVIEWING_KINDS and not session.scalar(select(Organisation.id).where(
            Organisation.kind.in_([k.value for k in REVIEWING_KINDS]),
            Organisation.approved_at.is_not(None)).limit(1)):
        org.approved_at = org.created_at  # the first reviewing organisation: nobody to ask
    session.add(org)
    session.flush()
    # Who may verify indicators depends on organisations and keys: they are in the log too,
    # so that an auditor can see every organisation that ever took part in verification.
    translog.append(session, {"event": "org:created", "org": org.id, "kind": kind.value,
                              "member_state": org.member_state,
                              "approved": org.approved_at is not None or kind not in REVIEWING_KINDS,
                              "at": org.created_at.isoformat()})
    record(session, actor, AuditAction.ORG_CREATED, subject=str(org.id),
           details={"kind": kind.value})
    return org


def approve_organisation(session: Session, actor: Principal, organisation_id: int) -> Organisation:
    """A second party approves a new reviewing organisation: an approved partner centre or an
    auditor — never the Centre, which creates organisations, and never the organisation
    itself. Recorded in the log (``org:approved``) and the audit trail."""
    actor.require(Scope.ORGS_APPROVE)
    org = session.get(Organisation, organisation_id, with_for_update=True)
    if org is None:
        raise NotFound(f"no organisation {organisation_id}")
    if OrgKind(org.kind) not in REVIEWING_KINDS:
        raise Conflict(f"organisation {org.id} is a {org.kind}: it reviews no indicators and "
                       "needs no approval")
    if org.approved_at is not None:
        raise Conflict(f"organisation {org.id} was approved already")
    approver = session.get(Organisation, actor.organisation_id)
    assert approver is not None
    allowed = actor.kind is OrgKind.AUDITOR or (
        actor.kind is OrgKind.PARTNER_CENTRE and approver.approved_at is not None)
    if not allowed or approver.id == org.id:
        raise Forbidden("a reviewing organisation is approved by a second party: an approved "
                        "partner centre or an auditor, not the Centre that created it")
    org.approved_at, org.approved_by_org = now(), approver.id
    translog.append(session, {"event": "org:approved", "org": org.id, "by": approver.id,
                              "at": org.approved_at.isoformat()})
    record(session, actor, AuditAction.ORG_APPROVED, subject=str(org.id))
    return org


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str  # shown once, never stored


def names(session: Session) -> dict[int, str]:
    """Every organisation's name by id (organisations are not persons: shown to staff)."""
    return {i: n for i, n in session.execute(select(Organisation.id, Organisation.name))}


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(session: Session, actor: Principal | None, organisation_id: int, holder: str,
              scopes: set[Scope]) -> IssuedKey:
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"no organisation {organisation_id}")
    if not scopes:
        raise Invalid("a key needs at least one scope")
    check_grant(OrgKind(org.kind), scopes)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(organisation_id=org.id, holder=holder, prefix=prefix,
                 secret_hash=_hash_secret(secret),
                 scopes=" ".join(sorted(s.value for s in scopes)), created_at=now())
    session.add(key)
    session.flush()
    translog.append(session, {"event": "key:issued", "org": org.id, "key": key.id,
                              "scopes": key.scopes, "at": key.created_at.isoformat()})
    record(session, actor, AuditAction.KEY_ISSUED, subject=str(key.id),
           details={"organisation": org.id, "scopes": key.scopes})
    return IssuedKey(key, f"{TOKEN_PREFIX}_{prefix}_{secret}")


def revoke_key(session: Session, actor: Principal, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = now()
        translog.append(session, {"event": "key:revoked", "org": key.organisation_id,
                                  "key": key.id, "at": key.revoked_at.isoformat()})
        record(session, actor, AuditAction.KEY_REVOKED, subject=str(key.id))
    return key


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal for a bearer token; the same error for every kind of bad token, so that
    a caller learns nothing about which keys exist."""
    if not token:
        raise NotAuthenticated("missing API key (Authorization: Bearer <key>)")
    parts = token.split("_", 2)
    bad = NotAuthenticated("invalid or revoked API key")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise bad
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or key.revoked_at is not None:
        raise bad
    if not hmac.compare_digest(key.secret_hash, _hash_secret(parts[2])):
        raise bad
    org = key.organisation
    kind = OrgKind(org.kind)
    return Principal(org.id, org.name, kind, org.member_state, key.id, key.holder,
                     effective_scopes(kind, org.approved_at is not None, key.scopes.split()))

