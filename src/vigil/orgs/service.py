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
from vigil.errors import Conflict, Forbidden, Invalid, NotAuthenticated, NotFound, control_character
from vigil.orgs.access import (
    APPROVED_KINDS,
    APPROVER_KINDS,
    VOUCHED_SCOPES,
    OrgKind,
    Principal,
    Scope,
    check_grant,
    effective_scopes,
    member_state_of,
)
from vigil.orgs.models import ApiKey, Organisation
from vigil.translog import repository as translog

TOKEN_PREFIX = "vgl"  # noqa: S105 - a label, not a secret


def _check_label(text: str, what: str) -> None:
    """A name people read in lists and logs: 1-200 characters, no line breaks or other control
    characters (one would split a row of `vigil org list` or forge a line of a log)."""
    if "\x00" in text:
        raise Invalid(f"{what} may not contain the NUL character (U+0000)")
    if not text.strip() or len(text) > 200 or control_character(text) is not None:
        raise Invalid(f"{what} is 1-200 characters, without line breaks or other control "
                      "characters")


def create_organisation(session: Session, actor: Principal | None, name: str, kind: OrgKind,
                        member_state: str | None = None) -> Organisation:
    """A new organisation. One whose kind may review or approve (:data:`APPROVED_KINDS`) is
    approved from the start only when the operator sets it up on the server (``actor`` None:
    a founding organisation); created through the API, it waits for a second party. The
    Centre itself is only ever set up by the operator."""
    if actor is not None and kind is OrgKind.CENTRE:
        # A second "centre" would hold the Centre's powers (organisations, lists, the
        # hosting directory) the moment it had a key, approved by nobody.
        raise Forbidden("there is one Centre, set up by the operator on the server; an "
                        "organisation of kind 'centre' cannot be created through the API")
    if kind is OrgKind.CENTRE and session.scalar(
            select(Organisation.id).where(Organisation.kind == OrgKind.CENTRE.value).limit(1)):
        raise Conflict("there is one Centre, and it exists already (vigil init made it)")
    _check_label(name, "an organisation's name")
    if kind is OrgKind.AUTHORITY and not member_state:
        raise Invalid("an authority needs its member-state code (e.g. 'DE')")
    if member_state and (len(member_state) != 2 or not member_state.isalpha()):
        raise Invalid(f"a country (member_state) is a two-letter code such as 'DE', got "
                      f"{member_state!r}")
    if kind is OrgKind.AUTHORITY and member_state_of(member_state) is None:
        # Reports are routed to an authority by its member state: any other code would
        # silently never receive one.
        raise Invalid(f"an authority's member state is one of the EU's ({member_state!r} is "
                      "not)")
    if session.scalar(select(Organisation).where(Organisation.name == name)):
        raise Conflict(f"an organisation named {name!r} exists already")
    org = Organisation(name=name, kind=kind.value,
                       member_state=member_state.upper() if member_state else None,
                       created_at=now())
    if actor is None or kind not in APPROVED_KINDS:
        org.approved_at = org.created_at
    session.add(org)
    session.flush()
    # Who may verify indicators depends on organisations and keys: they are in the log too,
    # so that an auditor can see every organisation that ever took part in verification, and
    # which were founding ones (approved with no approver).
    translog.append(session, {"event": "org:created", "org": org.id, "kind": kind.value,
                              "member_state": org.member_state,
                              "approved": org.approved_at is not None,
                              "by": actor.organisation_id if actor else None,
                              "at": org.created_at.isoformat()})
    record(session, actor, AuditAction.ORG_CREATED, subject=str(org.id),
           details={"kind": kind.value})
    return org


def organisation_named(session: Session, name: str) -> Organisation:
    """The organisation of that exact name; :class:`~vigil.errors.NotFound` naming it."""
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise NotFound(f"no organisation named {name!r}")
    return org


def list_organisations(session: Session) -> list[Organisation]:
    """Every organisation, by name (organisations are not persons: the Centre sees them all)."""
    return list(session.scalars(select(Organisation).order_by(Organisation.name)))


def list_keys(session: Session, organisation_id: int | None = None) -> list[ApiKey]:
    """Every key (of one organisation), oldest first; secrets are never stored, so never
    listed. Staff accounts' own keys are among them (holder ``account:<username>``)."""
    query = select(ApiKey).order_by(ApiKey.id)
    if organisation_id is not None:
        query = query.where(ApiKey.organisation_id == organisation_id)
    return list(session.scalars(query))


def _second_party(session: Session, actor: Principal, subject_org: int, what: str) -> Organisation:
    """The approving organisation, if it may approve ``what`` of ``subject_org``: an approved
    partner centre or auditor other than the subject — never the Centre."""
    actor.require(Scope.ORGS_APPROVE)
    approver = session.get(Organisation, actor.organisation_id)
    assert approver is not None
    if (actor.kind not in APPROVER_KINDS or approver.approved_at is None
            or approver.id == subject_org):
        raise Forbidden(f"{what} is approved by a second party: an approved partner centre or "
                        "auditor other than the organisation itself, not the Centre")
    return approver


def approve_organisation(session: Session, actor: Principal, organisation_id: int) -> Organisation:
    """A second party approves a new organisation that may review or approve — and with it the
    keys it holds now. Recorded in the log (``org:approved``, with the keys) and the audit
    trail."""
    actor.require(Scope.ORGS_APPROVE)
    org = session.get(Organisation, organisation_id, with_for_update=True)
    if org is None:
        raise NotFound(f"no organisation {organisation_id}")
    if OrgKind(org.kind) not in APPROVED_KINDS:
        raise Conflict(f"organisation {org.id} is a {org.kind}: it reviews and approves nothing "
                       "and needs no approval")
    if org.approved_at is not None:
        raise Conflict(f"organisation {org.id} was approved already")
    approver = _second_party(session, actor, org.id, "a new reviewing or approving organisation")
    org.approved_at, org.approved_by_org = now(), approver.id
    keys = session.scalars(select(ApiKey).where(ApiKey.organisation_id == org.id,
                                                ApiKey.approved_at.is_(None),
                                                ApiKey.revoked_at.is_(None))).all()
    for key in keys:
        key.approved_at, key.approved_by_org = org.approved_at, approver.id
    translog.append(session, {"event": "org:approved", "org": org.id, "by": approver.id,
                              "keys": [k.id for k in keys], "at": org.approved_at.isoformat()})
    record(session, actor, AuditAction.ORG_APPROVED, subject=str(org.id),
           details={"keys": [k.id for k in keys]})
    return org


def approve_key(session: Session, actor: Principal, key_id: int) -> ApiKey:
    """A second party confirms a key that another organisation (the Centre) issued to an
    organisation with proposing, reviewing or approving scopes (:data:`VOUCHED_SCOPES`):
    until then the key works without them."""
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id)
                         .with_for_update(of=ApiKey))
    if key is None:
        raise NotFound(f"no key {key_id}")
    if key.approved_at is not None:
        raise Conflict(f"key {key.id} needs no approval or was approved already")
    if key.revoked_at is not None:
        raise Conflict(f"key {key.id} was revoked")
    approver = _second_party(session, actor, key.organisation_id,
                             "a key that proposes, reviews, approves or links series")
    key.approved_at, key.approved_by_org = now(), approver.id
    translog.append(session, {"event": "key:approved", "org": key.organisation_id,
                              "key": key.id, "by": approver.id,
                              "at": key.approved_at.isoformat()})
    record(session, actor, AuditAction.KEY_APPROVED, subject=str(key.id),
           details={"organisation": key.organisation_id})
    return key


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
    _check_label(holder, "a key's holder")
    check_grant(OrgKind(org.kind), scopes)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    issuer = actor.organisation_id if actor is not None else None
    t = now()
    # A key that would propose or act as a second party, issued by another organisation,
    # waits for a second party to confirm it (approving a new organisation confirms the keys
    # it holds): :data:`VOUCHED_SCOPES`.
    pending = (issuer is not None and issuer != org.id and bool(scopes & VOUCHED_SCOPES))
    key = ApiKey(organisation_id=org.id, holder=holder, prefix=prefix,
                 secret_hash=_hash_secret(secret),
                 scopes=" ".join(sorted(s.value for s in scopes)), created_at=t,
                 issued_by_org=issuer, approved_at=None if pending else t)
    session.add(key)
    session.flush()
    translog.append(session, {"event": "key:issued", "org": org.id, "key": key.id,
                              "scopes": key.scopes, "by": issuer, "approved": not pending,
                              "at": key.created_at.isoformat()})
    record(session, actor, AuditAction.KEY_ISSUED, subject=str(key.id),
           details={"organisation": org.id, "scopes": key.scopes})
    return IssuedKey(key, f"{TOKEN_PREFIX}_{prefix}_{secret}")


def revoke_key(session: Session, actor: Principal | None, key_id: int) -> ApiKey:
    """Revoke a key at once (idempotent: a revoked key stays as it was). ``actor`` None: the
    operator, on the server."""
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
    return principal_of_key(key)


def principal_of_key(key: ApiKey, holder: str | None = None) -> Principal:
    """The principal a key acts as (what it may do now: :func:`effective_scopes`); for a key
    used on the server itself (a staff account's, an import's) without its secret."""
    org = key.organisation
    kind = OrgKind(org.kind)
    return Principal(org.id, org.name, kind, org.member_state, key.id, holder or key.holder,
                     effective_scopes(kind, org.approved_at is not None,
                                      key.approved_at is not None, key.scopes.split()))

