"""Who hosts a URL and where: host → address (the egress policy's resolution) → the hosting directory
(``hosting_contacts``: a domain and its subdomains, or an address range) → provider, abuse
contact, country. Without a directory entry the country comes from the address (offline
IP-to-country) and notices go to ``abuse@<host's domain>`` (RFC 2142)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import iptocc
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from vigil.audit.events import AuditAction
from vigil.audit.service import record
from vigil.clock import now
from vigil.egress import EgressPolicy
from vigil.errors import Conflict, Forbidden, Invalid, NotFound
from vigil.orgs.access import OrgKind, Principal, Scope
from vigil.takedown.models import HostingContact, HostingContactProposal
from vigil.takedown.urls import in_domains


@dataclass(frozen=True)
class Hosting:
    address: str | None
    country: str | None
    provider: str
    email: str | None
    webhook: str | None


def _country(address: str | None) -> str | None:
    if not address:
        return None
    try:
        code = iptocc.country_code(address)
    except Exception:
        return None
    return str(code) if code else None


def _domain(host: str) -> str:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host  # an address has no domain to write to
    except ValueError:
        pass
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else host


def resolve(session: Session, host: str, policy: EgressPolicy) -> Hosting:
    found = policy.addresses(host)
    address = found[0] if found else None
    contacts = list(session.scalars(select(HostingContact)))
    best: HostingContact | None = None
    for c in contacts:  # the most specific domain wins; an address range otherwise
        if "/" in c.match:
            try:
                if address and ipaddress.ip_address(address) in ipaddress.ip_network(c.match, strict=False):
                    best = best or c
            except ValueError:
                continue
        elif in_domains(host, [c.match]) and (best is None or "/" in best.match
                                              or len(c.match) > len(best.match)):
            best = c
    if best is not None:
        return Hosting(address, (best.country or _country(address)), best.provider, best.email,
                       best.webhook)
    return Hosting(address, _country(address), _domain(host), f"abuse@{_domain(host)}", None)


def _check_entry(email: str | None, webhook: str | None) -> None:
    if not email and not webhook:
        raise Invalid("a hosting contact needs an e-mail address or a webhook")
    if email and "@" not in email:
        raise Invalid(f"not an e-mail address: {email!r}")
    if webhook and not webhook.startswith(("https://", "http://")):
        raise Invalid("the webhook must be an http(s) URL")


def set_contact(session: Session, actor: Principal, match: str, provider: str,
                email: str | None, webhook: str | None, country: str | None) -> HostingContact:
    """Add or replace the directory entry for a domain (and its subdomains) or an address
    range; audited. Only the Centre writes the directory: it decides where every
    organisation's notices and escalations go (others propose, :func:`propose`)."""
    actor.require(Scope.TAKEDOWN_MANAGE)
    if actor.kind is not OrgKind.CENTRE:
        raise Forbidden("only the Centre writes the hosting directory; propose an entry with "
                        "POST /v1/hosting-contacts/proposals")
    _check_entry(email, webhook)
    key = match.strip().lower()
    c = session.scalar(select(HostingContact).where(HostingContact.match == key))
    if c is None:
        c = HostingContact(match=key, provider=provider)
        session.add(c)
    c.provider, c.email, c.webhook = provider, email, webhook
    c.country = country.upper() if country else None
    session.flush()
    record(session, actor, AuditAction.HOSTING_CONTACT_SET, subject=key)
    return c


def propose(session: Session, actor: Principal, match: str, provider: str, email: str | None,
            webhook: str | None, country: str | None) -> HostingContactProposal:
    """Propose a directory entry (a hotline that knows a host's abuse contact); the Centre
    approves or rejects it."""
    actor.require(Scope.TAKEDOWN_MANAGE)
    _check_entry(email, webhook)
    p = HostingContactProposal(match=match.strip().lower(), provider=provider, email=email,
                               webhook=webhook, country=country.upper() if country else None,
                               proposed_by_org=actor.organisation_id, proposed_at=now(),
                               status="proposed")
    session.add(p)
    session.flush()
    record(session, actor, AuditAction.HOSTING_CONTACT_PROPOSED, subject=p.match,
           details={"proposal": p.id})
    return p


def readable_proposals(principal: Principal) -> ColumnElement[bool]:
    """The Centre reads every proposal; an organisation its own."""
    if principal.kind is OrgKind.CENTRE:
        return true()
    return HostingContactProposal.proposed_by_org == principal.organisation_id


def proposals(session: Session, actor: Principal, status: str | None = None) -> list[HostingContactProposal]:
    actor.require(Scope.TAKEDOWN_MANAGE)
    q = select(HostingContactProposal).where(readable_proposals(actor)).order_by(HostingContactProposal.id)
    if status:
        q = q.where(HostingContactProposal.status == status)
    return list(session.scalars(q))


def decide_proposal(session: Session, actor: Principal, proposal_id: int,
                    approve: bool) -> HostingContactProposal:
    """The Centre approves (the entry is written) or rejects a proposal."""
    actor.require(Scope.TAKEDOWN_MANAGE)
    p = session.scalar(select(HostingContactProposal).where(
        HostingContactProposal.id == proposal_id, readable_proposals(actor)).with_for_update())
    if p is None:
        raise NotFound(f"no proposal {proposal_id}")
    if actor.kind is not OrgKind.CENTRE:
        raise Forbidden("only the Centre decides on entries of the hosting directory")
    if p.status != "proposed":
        raise Conflict(f"proposal {proposal_id} was {p.status} already")
    if approve:
        set_contact(session, actor, p.match, p.provider, p.email, p.webhook, p.country)
    p.status = "approved" if approve else "rejected"
    p.decided_by_org, p.decided_at = actor.organisation_id, now()
    record(session, actor, AuditAction.HOSTING_CONTACT_DECIDED, subject=p.match,
           details={"proposal": p.id, "approved": approve})
    return p
